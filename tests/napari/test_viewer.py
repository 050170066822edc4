"""End to end in a real viewer (under Xvfb): open, save, sample data."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

import arrowscope


@pytest.fixture
def plate(tmp_path):
    from arrowscope.core.profiles.synthetic import write_demo_plate

    return write_demo_plate(tmp_path / "demo", n_fields=3, size=(96, 96))


def test_manifest_is_registered():
    from npe2 import PluginManager

    pm = PluginManager.instance()
    pm.discover()
    manifest = pm.get_manifest("arrowscope")
    assert {r.command for r in manifest.contributions.readers} == {
        "arrowscope.get_reader"
    }
    assert len(manifest.contributions.writers) == 3


@pytest.fixture
def only_arrowscope_reader():
    """Hide other OME-Arrow readers (napari-ome-arrow, used by the benchmarks)."""
    from npe2 import PluginManager

    pm = PluginManager.instance()
    others = [m.name for m in pm.iter_manifests() if m.name == "napari-ome-arrow"]
    for name in others:
        pm.disable(name)
    from arrowscope._napari.preferences import ensure_reader_preferences

    ensure_reader_preferences()  # what the arrowscope app / first plugin use does
    yield
    for name in others:
        # napari's command registry may still hold the peer's commands from an
        # earlier viewer; re-enabling then only re-registers what is there
        with contextlib.suppress(Exception):
            pm.enable(name)


def test_viewer_open_picks_arrowscope_without_dialog(
    make_napari_viewer, plate, tmp_path, only_arrowscope_reader
):
    viewer = make_napari_viewer()
    layers = viewer.open(
        str(plate["plate"]), plugin=None
    )  # as drag and drop: no choice given
    names = [layer.name for layer in layers]
    assert names == ["DNA", "ER", "Mito", "nuclei mask"]
    dna = viewer.layers["DNA"]
    assert dna.data.shape == (3, 96, 96)
    assert tuple(dna.scale) == (1.0, 0.65, 0.65)
    assert str(dna.units[1]) == "micrometer"
    assert dna.colormap.name == "blue"
    assert type(viewer.layers["nuclei mask"]).__name__ == "Labels"
    viewer.dims.set_point(0, 2)  # page to the third field of view
    fields = arrowscope.open_source(plate["plate"])
    assert np.array_equal(
        np.asarray(dna._slice.image.raw), fields.image("image", 2).to_numpy()[0, 0, 0]
    )

    folder = arrowscope.write_ome_parquet(
        tmp_path / "big.ome.parquet",
        np.ones((2, 64, 64), np.uint16),
        dims="ZYX",
        layout="dataset",
        tile=32,
    )
    (layer,) = viewer.open(str(folder), plugin=None)
    assert layer.data.shape == (2, 64, 64)


def test_corrupt_file_keeps_viewer_working(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    bad = tmp_path / "bad.ome.parquet"
    bad.write_bytes(b"PAR1garbage")
    assert viewer.open(str(bad), plugin="arrowscope") == []
    viewer.add_image(np.zeros((4, 4)))
    assert len(viewer.layers) == 1


def test_save_layers_round_trip(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    data = (np.random.default_rng(2).random((2, 5, 30, 40)) * 1000).astype(np.float32)
    src = arrowscope.write_ome_parquet(
        tmp_path / "src.ome.parquet",
        data,
        dims="CZYX",
        name="stack",
        channel_names=["a", "b"],
        channel_colors=["magenta", "green"],
        physical_size=(1.5, 0.2, 0.2),
        units="µm",
    )
    viewer.open(str(src), plugin="arrowscope")
    out = tmp_path / "saved.ome.parquet"
    viewer.layers.select_all()
    viewer.layers.save(str(out), plugin="arrowscope", selected=True)
    img = arrowscope.open_image(out)
    assert img.shape == (1, 2, 5, 30, 40) and img.dtype == np.float32
    assert img.channel_names == ["a", "b"]
    assert img.channel_colors == [(1.0, 0.0, 1.0, 1.0), (0.0, 1.0, 0.0, 1.0)]
    assert (
        img.physical_size == pytest.approx((1.5, 0.2, 0.2)) and img.units == ("µm",) * 3
    )
    assert np.array_equal(img.to_numpy()[0], data)

    labels = np.zeros((30, 40), np.uint32)
    labels[3:9, 4:12] = 70000
    viewer.add_labels(labels, name="cells", scale=(0.2, 0.2))
    lab_out = tmp_path / "labels.ome.parquet"
    viewer.layers.selection = {viewer.layers["cells"]}
    viewer.layers.save(str(lab_out), selected=True, plugin="arrowscope")
    lab = arrowscope.open_image(lab_out)
    assert lab.image_type == "label" and lab.dtype == np.uint32
    assert np.array_equal(lab.to_numpy()[0, 0, 0], labels)


def test_sample_data(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample("arrowscope", "crops")
    assert viewer.layers["DNA"].data.shape[0] == 48
    assert "Metadata_Well" in viewer.layers["DNA"].metadata["arrowscope"]["features"]


def test_slider_reads_only_the_chunks_under_the_plane(
    make_napari_viewer, tmp_path, monkeypatch
):
    import pyarrow.parquet as pq

    from arrowscope.core.images import cache

    data = np.random.default_rng(4).integers(0, 4000, (2, 6, 64, 64), dtype=np.uint16)
    folder = arrowscope.write_ome_parquet(
        tmp_path / "d.ome.parquet", data, dims="CZYX", layout="dataset", tile=32
    )
    cache.ROW_GROUP_CACHE.clear()
    reads = []
    original = pq.ParquetFile.read_row_group
    monkeypatch.setattr(
        pq.ParquetFile,
        "read_row_group",
        lambda self, i, *a, **k: reads.append(i) or original(self, i, *a, **k),
    )
    viewer = make_napari_viewer()
    viewer.open(str(folder), plugin="arrowscope")
    # one chunk per row group here: 2 channels x 6 z x 2 x 2 tiles = 48 stored.
    # Opening reads the tiles of two planes (napari slices a new layer at z=0
    # before the viewer centres it on z=2): 16 of 48.
    assert len(reads) == len(set(reads)) == 2 * 2 * 4
    first = len(reads)
    viewer.dims.set_point(0, 5)
    assert len(reads) - first == 2 * 4  # one plane: 2 channels x 4 tiles
    for c, layer in enumerate(viewer.layers):
        assert np.array_equal(np.asarray(layer._slice.image.raw), data[c, 5])


def _break_pixels(path, column, row):
    """Rewrite ``path`` with one record's first plane three values short."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    records = table[column].to_pylist()
    records[row]["planes"][0]["pixels"] = records[row]["planes"][0]["pixels"][:-3]
    index = table.schema.get_field_index(column)
    table = table.set_column(
        index, table.schema.field(index), pa.array(records, table[column].type)
    )
    pq.write_table(table, path)


def test_bad_crop_is_shown_blank_and_reported_once(make_napari_viewer, tmp_path):
    crops = [np.full((12, 10), i + 1, np.uint16) for i in range(5)]
    path = tmp_path / "crops.ome.parquet"
    arrowscope.write_ome_table(
        path, {"crop": [{"data": c, "dims": "YX"} for c in crops]}
    )
    _break_pixels(path, "crop", 3)
    viewer = make_napari_viewer()
    (layer,) = viewer.open(str(path), plugin="arrowscope")  # metadata is fine
    with pytest.warns(UserWarning, match=r"crops.ome.parquet.*'crop'.*row 3") as seen:
        viewer.dims.set_point(0, 3)
        plane = np.asarray(layer._slice.image.raw)
        viewer.dims.set_point(0, 1)
        viewer.dims.set_point(0, 3)
    assert len([w for w in seen if "row 3" in str(w.message)]) == 1
    assert not plane.any()  # blank, never someone else's pixels
    viewer.dims.set_point(0, 4)  # and the viewer keeps paging
    assert np.array_equal(np.asarray(layer._slice.image.raw), crops[4])


def test_empty_image_column_is_reported(make_napari_viewer, tmp_path, monkeypatch):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "mixed.ome.parquet"
    arrowscope.write_ome_table(
        path, {"dna": [{"data": np.ones((8, 8), np.uint16), "dims": "YX"}] * 2}
    )
    table = pq.read_table(path)
    table = table.append_column(
        pa.field("mask_LABL", table["dna"].type), pa.nulls(2, table["dna"].type)
    )
    pq.write_table(table, path)
    shown = []
    monkeypatch.setattr(
        "arrowscope._napari.reader._notify", lambda msg, level: shown.append(msg)
    )
    viewer = make_napari_viewer()
    layers = viewer.open(str(path), plugin="arrowscope")
    assert [layer.name for layer in layers] == ["dna"]
    assert len(shown) == 1
    assert (
        "mixed.ome.parquet" in shown[0]
        and "column 'mask_LABL': this column holds no images" in shown[0]
    )
