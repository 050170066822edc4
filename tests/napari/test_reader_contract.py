"""The reader contract, over a corpus of broken and hostile inputs.

``get_reader`` returns None or a reader and never raises; the reader returns
layers, or napari's null-layer sentinel after one notification naming the
file; adding what it returns to a viewer raises nothing.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import arrowscope
from arrowscope._napari.reader import get_reader
from arrowscope.core.images import cache
from tests.conftest import run_as_nobody
from tests.records import ome_record


def _record(**pm):
    scaled = {"physical_size_x": 0.5, "physical_size_y": 0.5, "physical_size_z": 1.0}
    channels = [{"name": "DNA", "color_rgba": 0x0000FFFF}]
    return ome_record(**{"channels": channels, **scaled, **pm})


def _table_file(path, record, **schema_metadata):
    table = pa.table({"ome_arrow": pa.array([record])})
    if schema_metadata:
        table = table.replace_schema_metadata(schema_metadata)
    pq.write_table(table, path)


def _corpus(tmp_path):
    """(name, path) of every broken input; each file written fresh."""
    cases = {
        "size_string": {"size_x": "four"},
        "size_nan": {"size_y": math.nan},
        "size_null": {"size_c": None},
        "size_negative": {"size_z": -1},
        "size_t_billion": {"size_t": 10**9},
        "size_x_billion": {"size_x": 10**9},
        "channel_null": {"channels": [None]},
        "channels_not_a_list": {"channels": "DNA"},
        "scale_negative": {"physical_size_x": -0.5},
        "scale_zero": {"physical_size_y": 0.0},
        "scale_inf": {"physical_size_x": math.inf},
        "scale_nan": {"physical_size_z": math.nan},
        "type_unknown": {"type": "complex128"},
    }
    out = []
    for name, pm in cases.items():
        path = tmp_path / f"{name}.ome.parquet"
        _table_file(path, _record(**pm))
        out.append((name, path))
    dup = _record()
    dup["planes"] = dup["planes"] * 2
    _table_file(tmp_path / "plane_twice.ome.parquet", dup)
    out.append(("plane_twice", tmp_path / "plane_twice.ome.parquet"))
    exact = tmp_path / "exact_json.ome.parquet"
    _table_file(exact, _record(), **{"arrowscope.exact": "{not json"})
    out.append(("exact_json", exact))
    # a profile table whose image link is not JSON
    profiles = pa.table(
        {
            "Metadata_ImageNumber": [1, 2],
            "Metadata_ObjectNumber": [1, 1],
            "Nuclei_AreaShape_Area": [10.0, 20.0],
        }
    ).replace_schema_metadata({"arrowscope.images": "{oops"})
    pq.write_table(profiles, tmp_path / "profiles.parquet")
    out.append(("link_json", tmp_path / "profiles.parquet"))
    # datasets: negative sizes; a missing chunk
    ds = arrowscope.write_ome_parquet(
        tmp_path / "neg.ome.parquet",
        np.ones((2, 8, 8), np.uint8),
        dims="ZYX",
        layout="dataset",
    )
    images = pq.read_table(ds / "images.parquet")
    i = images.schema.get_field_index("size_y")
    pq.write_table(
        images.set_column(i, "size_y", pa.array([-8], pa.int32())),
        ds / "images.parquet",
    )
    out.append(("dataset_negative", ds))
    truncated = tmp_path / "truncated.ome.parquet"
    arrowscope.write_ome_parquet(truncated, np.ones((8, 8), np.uint16), dims="YX")
    truncated.write_bytes(truncated.read_bytes()[:-40])
    out.append(("truncated", truncated))
    empty = tmp_path / "empty.ome.parquet"
    empty.write_bytes(b"")
    out.append(("empty", empty))
    tiff = tmp_path / "really_a_tiff.ome.parquet"
    tiff.write_bytes(b"II*\x00" + b"\x00" * 64)
    out.append(("tiff_named_parquet", tiff))
    return out


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.ROW_GROUP_CACHE.clear()


def test_every_broken_input_honours_the_contract(tmp_path, monkeypatch):
    from napari.components import ViewerModel

    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(
        "arrowscope._napari.reader._notify",
        lambda msg, level: shown.append((msg, level)),
    )
    for name, path in _corpus(tmp_path):
        shown.clear()
        reader = get_reader(str(path))  # must not raise
        if reader is None:
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            layers = reader(str(path))
            assert isinstance(layers, list) and layers, name
            if layers[0][0] is None:
                assert len(shown) == 1, (name, shown)
                assert str(path) in shown[0][0], (name, shown)
                continue
            viewer = ViewerModel()
            for data in layers:
                viewer._add_layer_from_data(*data)  # must not raise
            for layer in viewer.layers:
                np.asarray(layer.data[(0,) * (layer.data.ndim - 2)])
        texts = [m for m, _ in shown] + [str(w.message) for w in caught]
        if name.startswith("scale_"):
            # the pixels are kept, the scale is dropped with one warning
            assert sum("physical sizes" in t for t in texts) == 1, (name, texts)
            assert all(s > 0 and np.isfinite(s) for s in viewer.layers[0].scale)
            assert np.array_equal(
                np.asarray(viewer.layers[0].data).ravel(), np.arange(16)
            )


def test_get_reader_never_raises_on_odd_paths(tmp_path, monkeypatch):
    assert get_reader(str(tmp_path / "missing.txt")) is None
    for odd in (
        [],
        [str(tmp_path)],
        str(tmp_path / ("x" * 300 + ".ome.parquet")),
        "\x00bad",
    ):
        get_reader(odd)  # returns None or a reader, never raises


_READ_AS_NOBODY = """
import sys
import arrowscope._napari.reader as reader
shown = []
reader._notify = lambda message, level: shown.append((level, message))
path = sys.argv[1]
read = reader.get_reader(path)
print("claimed" if read is not None else "not claimed")
print(read(path) if read is not None else None)
for level, message in shown:
    print(level, message)
"""


@pytest.mark.parametrize("kind", ["file", "dataset folder"])
def test_unreadable_files_are_reported_as_such(shared_tmp, kind):
    """Real permissions, as user nobody (as root, chmod does not bite)."""
    path = shared_tmp / "perm.ome.parquet"
    layout = "dataset" if kind == "dataset folder" else "nested"
    arrowscope.write_ome_parquet(
        path, np.ones((2, 8, 8), np.uint8), dims="ZYX", layout=layout
    )
    path.chmod(0o700 if path.is_dir() else 0o600)  # root's only
    done = run_as_nobody(_READ_AS_NOBODY.replace("sys.argv[1]", repr(str(path))))
    lines = done.stdout.splitlines()
    assert lines[:2] == ["claimed", "[(None,)]"], done.stdout + done.stderr
    (note,) = lines[2:]  # one notification
    assert note.startswith(f"error {path}: ")
    assert "permission denied" in note  # what is wrong, not only the name
    assert "permissions" in note or "read access" in note  # and what to do


def test_napari_yaml_offers_the_reader_exactly_the_kinds_it_claims():
    """napari.yaml's reader patterns are the registry's: a kind added to the
    registry cannot be left out of napari's drop menu, nor a pattern linger
    for a kind that is gone."""
    from pathlib import Path

    from npe2 import PluginManifest

    import arrowscope
    from arrowscope.core.profiles.kinds import reader_patterns

    manifest = PluginManifest.from_file(
        Path(arrowscope.__file__).parent / "napari.yaml"
    )
    (reader,) = manifest.contributions.readers
    assert sorted(reader.filename_patterns) == reader_patterns()
    assert reader.accepts_directories  # folder kinds: datasets, warehouses, CSV
