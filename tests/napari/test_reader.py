"""The npe2 reader: what it claims, the layers it makes, and that it is lazy."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

import arrowscope
from arrowscope._napari.reader import get_reader, read_paths
from arrowscope.core.images import cache, codec


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.ROW_GROUP_CACHE.clear()


@pytest.fixture
def three_channel(tmp_path):
    data = (np.random.default_rng(0).random((3, 4, 32, 40)) * 4000).astype(np.uint16)
    path = arrowscope.write_ome_parquet(
        tmp_path / "cells.ome.parquet",
        data,
        dims="CZYX",
        name="cells",
        channel_names=["DNA", "ER", "Mito"],
        channel_colors=["blue", "#00FF00", (1.0, 0.5, 0.0)],
        physical_size=(2.0, 0.5, 0.5),
        units="µm",
    )
    return path, data


def test_foreign_files_are_not_claimed(tmp_path):
    pq.write_table(
        pa.table({"Cells_AreaShape_Area": [1.0, 2.0]}), tmp_path / "profiles.parquet"
    )
    (tmp_path / "junk.parquet").write_bytes(b"not parquet at all")
    (tmp_path / "image.tif").write_bytes(b"II*\x00")
    (tmp_path / "folder").mkdir()
    for name in ("profiles.parquet", "junk.parquet", "image.tif", "folder"):
        assert get_reader(str(tmp_path / name)) is None


def test_single_image_layers(three_channel):
    path, data = three_channel
    reader = get_reader(str(path))
    assert reader is not None
    (layer,) = reader(str(path))
    array, kwargs, layer_type = layer
    assert layer_type == "image"
    assert kwargs["channel_axis"] == 0
    assert kwargs["name"] == ["DNA", "ER", "Mito"]
    assert kwargs["colormap"][:2] == ["blue", "green"]
    assert kwargs["colormap"][2]["colors"][-1][:3] == pytest.approx(
        [1.0, 128 / 255, 0.0]
    )
    assert kwargs["scale"] == [2.0, 0.5, 0.5]
    assert kwargs["units"] == ["µm"] * 3 and kwargs["axis_labels"] == ["z", "y", "x"]
    assert array.shape == (3, 4, 32, 40)
    assert np.array_equal(np.asarray(array), data)


def test_reader_reads_no_pixels(tmp_path, monkeypatch):
    calls = []
    original = codec.RecordPixels.read
    monkeypatch.setattr(
        codec.RecordPixels, "read", lambda self, r: calls.append(r) or original(self, r)
    )
    crops = [np.full((2, 20 + i, 30), i, np.uint16) for i in range(50)]
    path = tmp_path / "crops.parquet"
    arrowscope.write_ome_table(
        path,
        {"crop_OMEArrow_ORIG": [{"data": c, "dims": "CYX"} for c in crops]},
        extra_columns={"ObjectNumber": list(range(50))},
    )
    (layer,) = read_paths(str(path))
    assert calls == []
    array, kwargs, _ = layer
    assert array.shape == (50, 2, 69, 30)  # rows, channels, padded Y, X
    assert kwargs["axis_labels"] == ["row", "y", "x"]
    ns = kwargs["metadata"]["arrowscope"]
    assert ns["features"]["ObjectNumber"].tolist() == list(range(50))
    assert ns["true_shapes"][7] == [1, 2, 1, 27, 30]
    assert np.array_equal(np.asarray(array[7, 1, :27]), crops[7][1])
    assert len(calls) == 1  # one row, one channel block
    assert not np.asarray(array[7, 1, 27:]).any()  # padding


def test_corrupt_file_is_reported_not_raised(tmp_path, monkeypatch):
    bad = tmp_path / "broken.ome.parquet"
    bad.write_bytes(b"PAR1 truncated")
    shown = []
    monkeypatch.setattr(
        "arrowscope._napari.reader._notify",
        lambda msg, level: shown.append((level, msg)),
    )
    reader = get_reader(str(bad))
    assert reader is not None  # ours by name: we explain the problem
    assert reader(str(bad)) == [(None,)]
    assert shown and shown[0][0] == "error" and "broken.ome.parquet" in shown[0][1]


def test_ipc_and_dataset_are_read(tmp_path):
    data = np.arange(2 * 3 * 50 * 60, dtype=np.float32).reshape(2, 3, 50, 60)
    nested = arrowscope.write_ome_parquet(tmp_path / "a.ome.parquet", data, dims="ZCYX")
    feather.write_feather(pq.read_table(nested), tmp_path / "a.arrow")
    folder = arrowscope.write_ome_parquet(
        tmp_path / "big.parquet", data, dims="ZCYX", layout="dataset", tile=32
    )
    for p in (tmp_path / "a.arrow", folder):
        reader = get_reader(str(p))
        assert reader is not None, p
        (layer,) = reader(str(p))
        assert np.array_equal(np.asarray(layer[0]), data.transpose(1, 0, 2, 3))
    (layer,) = get_reader(str(folder))(str(folder))
    assert layer[0].chunksize == (1, 1, 32, 32)


def test_labels_columns_become_labels_layers(tmp_path):
    labels = np.zeros((2, 16, 16), np.int32)
    labels[0, 2:5, 2:5] = 7
    labels[1, 8:12, 8:12] = 300000  # above uint16: must survive
    path = arrowscope.write_ome_parquet(
        tmp_path / "l.ome.parquet", labels, dims="CYX", image_type="label"
    )
    layers = read_paths(str(path))
    assert [t for _, _, t in layers] == ["labels", "labels"]
    assert np.asarray(layers[1][0]).max() == 300000


@pytest.mark.realdata
def test_cytodataframe_file_opens_as_stacked_layers(cytodataframe_file, monkeypatch):
    shown = []
    monkeypatch.setattr(
        "arrowscope._napari.reader._notify", lambda msg, level: shown.append(msg)
    )
    layers = read_paths(str(cytodataframe_file))
    by_name = {
        kw["metadata"]["arrowscope"]["column"]: (data, kw, t) for data, kw, t in layers
    }
    assert set(by_name) == {
        "Image_FileName_OrigAGP_OMEArrow_ORIG",
        "Image_FileName_OrigAGP_OMEArrow_COMP",
        "Image_FileName_OrigDNA_OMEArrow_ORIG",
        "Image_FileName_OrigDNA_OMEArrow_LABL",
        "Image_FileName_OrigDNA_OMEArrow_COMP",
        "Image_FileName_OrigRNA_OMEArrow_ORIG",
        "Image_FileName_OrigRNA_OMEArrow_LABL",
        "Image_FileName_OrigRNA_OMEArrow_COMP",
    }
    assert any("Image_FileName_OrigAGP_OMEArrow_LABL" in m for m in shown)
    data, kw, t = by_name["Image_FileName_OrigDNA_OMEArrow_COMP"]
    assert t == "image" and kw["rgb"] and data.shape == (3, 73, 97, 3)
    data, kw, t = by_name["Image_FileName_OrigDNA_OMEArrow_LABL"]
    assert t == "labels" and data.shape == (3, 73, 97)
    feats = kw["metadata"]["arrowscope"]["features"]
    assert (
        feats["Metadata_ImageNumber"].tolist()
        == pq.read_table(cytodataframe_file)["Metadata_ImageNumber"].to_pylist()
    )


def test_very_large_planes_open_as_multiscale(
    tmp_path, monkeypatch, make_napari_viewer
):
    from arrowscope._napari import layers as layers_mod

    monkeypatch.setattr(layers_mod, "MULTISCALE_MIN_PX", 256)
    monkeypatch.setattr(layers_mod, "MULTISCALE_TOP_PX", 128)
    data = np.random.default_rng(0).integers(0, 4000, (2, 1024, 768), dtype=np.uint16)
    path = arrowscope.write_ome_parquet(
        tmp_path / "big.ome.parquet", data, dims="CYX", layout="dataset", tile=256
    )
    ((levels, kwargs, kind),) = get_reader(str(path))(str(path))
    assert kwargs["multiscale"] is True
    assert [lvl.shape[-2:] for lvl in levels] == [
        (1024, 768),
        (512, 384),
        (256, 192),
        (128, 96),
    ]
    np.testing.assert_array_equal(np.asarray(levels[2][1]), data[1, ::4, ::4])
    viewer = make_napari_viewer()
    added = viewer.add_image(levels, **kwargs)
    assert all(layer.multiscale for layer in added)
    # writing a multiscale layer back saves full resolution
    from arrowscope._napari.writer import write_layers

    out = tmp_path / "back.ome.parquet"
    write_layers(str(out), [layer.as_layer_data_tuple() for layer in added])
    np.testing.assert_array_equal(arrowscope.open_image(out).to_numpy()[0, :, 0], data)


def test_stored_pyramid_gives_multiscale_layers(tmp_path, monkeypatch):
    from arrowscope.core.images import dataset

    monkeypatch.setattr(dataset, "PYRAMID_TOP_PX", 64)
    data = np.random.default_rng(5).integers(0, 4000, (2, 300, 200), dtype=np.uint16)
    path = arrowscope.write_ome_parquet(
        tmp_path / "p.ome.parquet",
        data,
        dims="CYX",
        layout="dataset",
        tile=64,
        pyramid=True,
        channel_names=["DNA", "ER"],
        physical_size=(1.0, 0.5, 0.5),
        units="µm",
    )
    read_from = []
    original = dataset.DatasetPixels.read
    monkeypatch.setattr(
        dataset.DatasetPixels,
        "read",
        lambda self, region: (
            read_from.append(self.dataset.path) or original(self, region)
        ),
    )
    ((levels, kwargs, kind),) = get_reader(str(path))(str(path))
    assert kind == "image" and kwargs["multiscale"] is True
    assert kwargs["name"] == ["DNA", "ER"] and kwargs["scale"] == [0.5, 0.5]
    assert [lvl.shape for lvl in levels] == [
        (2, 300, 200),
        (2, 150, 100),
        (2, 75, 50),
        (2, 38, 25),
    ]
    assert read_from == []  # opening reads no pixels
    overview = np.asarray(levels[-1][1])
    assert set(read_from) == {path / "pyramid" / "level-3"}  # only the coarsest
    stored = arrowscope.open_image(path).levels[-1].to_numpy()[0, 1, 0]
    np.testing.assert_array_equal(overview, stored)


def test_single_image_layer_names(tmp_path):
    """Own name first, then the only channel's name, then the file name."""
    plane = np.ones((8, 8), np.uint16)
    cases = [
        ({"name": "cells", "channel_names": ["DNA"]}, "nested", "cells"),
        ({"channel_names": ["DNA"]}, "dataset", "DNA"),
        ({}, "dataset", "plain.ome.parquet"),
    ]
    for n, (kw, layout, expected) in enumerate(cases):
        folder = tmp_path / str(n)
        folder.mkdir()
        path = arrowscope.write_ome_parquet(
            folder / "plain.ome.parquet", plane, dims="YX", layout=layout, **kw
        )
        ((_, kwargs, _),) = read_paths(str(path))
        assert kwargs["name"] == expected, kw


def test_crop_table_layers_are_named_by_what_differs(cytodataframe_file, monkeypatch):
    monkeypatch.setattr("arrowscope._napari.reader._notify", lambda m, level: None)
    names = []
    for layer in read_paths(str(cytodataframe_file)):
        name = layer[1]["name"]
        names += name if isinstance(name, list) else [name]
    assert "OrigDNA mask" in names and "OrigAGP RGB" in names and "OrigAGP" in names
    assert not any(n.startswith("Image_FileName_") for n in names)
    assert len(set(names)) == len(names)


def test_vortex_file_written_by_ome_arrow_opens_as_layers(tmp_path):
    pytest.importorskip("vortex")
    pytest.importorskip("ome_arrow")
    from ome_arrow.export import to_ome_vortex
    from ome_arrow.ingest import from_numpy

    data = np.arange(2 * 20 * 30, dtype=np.uint16).reshape(1, 2, 1, 20, 30)
    to_ome_vortex(from_numpy(data, dim_order="TCZYX"), str(tmp_path / "x.vortex"))
    reader = get_reader(str(tmp_path / "x.vortex"))
    assert reader is not None
    (layer,) = reader(str(tmp_path / "x.vortex"))
    array, kwargs, kind = layer
    assert kind == "image" and kwargs["channel_axis"] == 0
    assert np.array_equal(np.asarray(array), data[0, :, 0])


def test_warehouse_root_opens_as_a_profile_workspace(monkeypatch):
    from tests.conftest import shared_file

    root = shared_file("examplehuman_warehouse")
    monkeypatch.setattr("arrowscope._napari.reader._notify", lambda m, level: None)
    reader = get_reader(str(root))
    assert reader is not None
    layers = reader(str(root))
    names = [kw["name"] for _, kw, _ in layers]
    assert names[:3] == ["DNA", "PH3", "cellbody"] and names[-1] == "cells"
    data, kw, kind = layers[-1]
    assert kind == "points" and len(data) == 289


def test_a_dropped_path_is_decided_once(tmp_path, monkeypatch):
    """napari asks get_reader, then the reader reads: the front door decides
    what the path is once, not again in the reader."""
    import arrowscope.core.profiles.kinds as resolve_module
    from arrowscope.core.profiles.synthetic import write_demo_plate

    files = write_demo_plate(tmp_path / "demo", n_fields=1, size=(64, 64))
    calls = []
    real = resolve_module.resolve

    def counting(location, **kwargs):
        calls.append(str(location))
        return real(location, **kwargs)

    monkeypatch.setattr(resolve_module, "resolve", counting)
    path = str(files["profiles"])
    reader = get_reader(path)
    assert reader is not None
    layers = reader(path)
    assert any(kind == "points" for _, _, kind in layers)
    assert calls.count(path) == 1, calls
