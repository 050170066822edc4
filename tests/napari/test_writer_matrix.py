"""napari layer → OME-Parquet → arrowscope and ome-arrow, for every dtype and rank."""

from __future__ import annotations

import numpy as np
import pytest

from arrowscope._napari.reader import get_reader
from arrowscope._napari.writer import write_layers

DTYPES = [
    "bool",
    "uint8",
    "int8",
    "uint16",
    "int16",
    "uint32",
    "int32",
    "uint64",
    "int64",
    "float32",
    "float64",
]
SHAPES = {  # napari layer axes → arrays; a layer may hold all five
    "yx": (20, 30),
    "zyx": (3, 20, 30),
    "tzyx": (2, 3, 20, 30),
    "czyx": (2, 3, 20, 30),
    "tczyx": (2, 2, 3, 20, 30),
}
#: napari colour names → the RGBA integers OME stores
RGBA = {"green": 0x00FF00FF, "blue": 0x0000FFFF, "magenta": 0xFF00FFFF}


def make(dtype: str, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    data = rng.standard_normal(shape) * 1000
    if np.dtype(dtype).kind == "b":
        return data > 0
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    if info is not None:
        data = np.clip(data, info.min, info.max)
    return data.astype(dtype)


def layer_meta(name: str, axes: str, **kw) -> dict:
    labels = tuple(axes)
    scale = tuple(2.0 if a == "z" else 0.5 if a in "yx" else 1.0 for a in labels)
    units = tuple("µm" if a in "zyx" else "pixel" for a in labels)
    return {
        "name": name,
        "scale": scale,
        "units": units,
        "axis_labels": labels,
        "colormap": "green",
        "metadata": {},
        **kw,
    }


def reference_meta(path):
    """What the reference ome-arrow reader sees: channel names and colours,
    physical sizes (z, y, x) and their units."""
    from ome_arrow.ingest import from_ome_parquet

    record = from_ome_parquet(path)
    meta = (record.as_py() if hasattr(record, "as_py") else record)["pixels_meta"]
    return (
        [c["name"] for c in meta["channels"]],
        [c["color_rgba"] for c in meta["channels"]],
        [meta[f"physical_size_{a}"] for a in "zyx"],
        [meta[f"physical_size_{a}_unit"] for a in "zyx"],
    )


def read_back(path):
    reader = get_reader(str(path))
    assert reader is not None
    return reader(str(path))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axes", list(SHAPES))
def test_image_layer_round_trip(tmp_path, dtype, axes):
    """Every rank a napari Image layer holds, all five axes included: a ``c``
    axis label makes that axis the image's channels."""
    data = make(dtype, SHAPES[axes])
    meta = layer_meta("img", axes)
    path = tmp_path / "out.ome.parquet"
    write_layers(str(path), [(data, meta, "image")])
    ((got, kw, kind),) = read_back(path)
    assert kind == "image"
    np.testing.assert_array_equal(np.asarray(got), data)
    assert np.asarray(got).dtype == data.dtype
    layer_axes = [a for a in axes if a != "c"]  # the channel axis is split off
    if "c" in axes:
        assert kw["channel_axis"] == axes.index("c")
        assert kw["name"] == ["img C0", "img C1"]
    else:
        assert kw.get("channel_axis") is None
    spatial = [s for a, s in zip(layer_axes, kw["scale"], strict=True) if a in "zyx"]
    assert spatial == [2.0, 0.5, 0.5][-len(spatial) :]
    units = [u for a, u in zip(layer_axes, kw["units"], strict=True) if a in "zyx"]
    assert units == ["µm"] * len(spatial)
    # the reference reader sees the same names, colours, sizes and units
    names, colors, sizes, size_units = reference_meta(path)
    n_channels = SHAPES[axes][axes.index("c")] if "c" in axes else 1
    assert len(names) == n_channels
    if "c" not in axes:
        assert names == ["img"] and colors == [RGBA["green"]]
    assert sizes[-len(spatial) :] == [2.0, 0.5, 0.5][-len(spatial) :]
    assert size_units[-len(spatial) :] == ["µm"] * len(spatial)

    import ome_arrow
    from ome_arrow.export import to_numpy
    from ome_arrow.ingest import from_ome_parquet

    record = from_ome_parquet(path)
    ref = (
        to_numpy(record, dtype=np.dtype(dtype))
        if dtype != "uint16"
        else ome_arrow.OMEArrow(str(path)).export("numpy")
    )
    np.testing.assert_array_equal(np.squeeze(ref), np.squeeze(data))


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32", "int32"])
def test_split_channels_merge_back(tmp_path, dtype):
    data = make(dtype, (3, 4, 20, 30))  # C, Z, Y, X
    meta = {
        "arrowscope": {
            "origin": "src::img",
            "channel_names": ["DNA", "ER", "Mito"],
            "column": "img",
        }
    }
    layers = [
        (data[c], layer_meta(name, "zyx", colormap=cmap, metadata=meta), "image")
        for c, (name, cmap) in enumerate(
            zip(["DNA", "ER", "Mito"], ["blue", "green", "magenta"], strict=True)
        )
    ]
    path = tmp_path / "split.ome.parquet"
    write_layers(str(path), layers)
    ((got, kw, kind),) = read_back(path)
    assert kw["name"] == ["DNA", "ER", "Mito"]
    assert kw["colormap"] == ["blue", "green", "magenta"]
    np.testing.assert_array_equal(
        np.moveaxis(np.asarray(got), kw["channel_axis"], 0), data
    )
    names, colors, sizes, units = reference_meta(path)
    assert names == ["DNA", "ER", "Mito"]
    assert colors == [RGBA["blue"], RGBA["green"], RGBA["magenta"]]
    assert sizes == [2.0, 0.5, 0.5] and units == ["µm"] * 3


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int32", "uint32"])
def test_labels_round_trip(tmp_path, dtype):
    data = make(dtype, (3, 20, 30)) % 7
    path = tmp_path / "labels.ome.parquet"
    write_layers(str(path), [(data, layer_meta("nuclei", "zyx"), "labels")])
    ((got, kw, kind),) = read_back(path)
    assert kind == "labels"
    np.testing.assert_array_equal(np.asarray(got), data)


def test_failures_leave_the_old_file(tmp_path, monkeypatch):
    from arrowscope.core.errors import WriteError

    data = make("uint16", (20, 30))
    path = tmp_path / "keep.ome.parquet"
    write_layers(str(path), [(data, layer_meta("a", "yx"), "image")])
    before = path.read_bytes()
    import pyarrow.parquet as pq

    real = pq.ParquetWriter.write_table

    def boom(self, *a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pq.ParquetWriter, "write_table", boom)
    with pytest.raises(WriteError, match="space"):
        write_layers(str(path), [(data + 1, layer_meta("a", "yx"), "image")])
    monkeypatch.setattr(pq.ParquetWriter, "write_table", real)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.ome.parquet"]
    with pytest.raises(WriteError, match="does not exist"):
        write_layers(
            str(tmp_path / "no" / "x.ome.parquet"),
            [(data, layer_meta("a", "yx"), "image")],
        )
