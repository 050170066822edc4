"""Opening reads metadata only; a plane read decodes only what holds it."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

import arrowscope
from arrowscope.core.images import cache, codec, dataset


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.ROW_GROUP_CACHE.clear()
    yield
    cache.ROW_GROUP_CACHE.clear()


def _spy(monkeypatch, cls, name):
    calls = []
    original = getattr(cls, name)

    def spy(self, *args, **kwargs):
        calls.append(args + tuple(kwargs.values()))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, name, spy)
    return calls


def test_open_nested_reads_no_pixels(tmp_path, monkeypatch):
    data = (
        np.random.default_rng(0).integers(0, 999, (1, 2, 5, 64, 64)).astype(np.uint16)
    )
    path = arrowscope.write_ome_parquet(tmp_path / "a.ome.parquet", data)
    decodes = _spy(monkeypatch, codec.RecordPixels, "read")
    groups = _spy(monkeypatch, pq.ParquetFile, "read_row_group")
    img = arrowscope.open_image(path)
    lazy = img.to_dask()
    assert decodes == []
    # Only metadata leaves were projected at open: never planes or chunks.
    assert groups and all(
        not any(c.endswith((".planes", ".chunks")) for c in call[-1]) for call in groups
    )
    assert lazy.numblocks == (1, 2, 5, 1, 1)
    plane = lazy[0, 1, 3].compute()
    assert np.array_equal(plane, data[0, 1, 3])
    assert len(decodes) == 1


def test_nested_row_group_decoded_once_for_many_planes(tmp_path, monkeypatch):
    data = np.arange(1 * 3 * 4 * 16 * 16, dtype=np.uint16).reshape(1, 3, 4, 16, 16)
    path = arrowscope.write_ome_parquet(tmp_path / "a.ome.parquet", data)
    loads = _spy(monkeypatch, arrowscope.core.images.sources.TableSource, "_load_group")
    img = arrowscope.open_image(path)
    assert np.array_equal(img.to_dask().compute(), data)  # 12 plane blocks
    pixel_loads = [a for a in loads if a[2] == ("planes", "chunks")]
    assert len(pixel_loads) == 1


def test_cache_is_bounded(tmp_path):
    data = np.zeros((1, 1, 1, 256, 256), np.uint16)  # 128 KiB per row
    path = tmp_path / "t.parquet"
    arrowscope.write_ome_table(path, {"img": [data] * 6})
    cache.set_cache_size(300 * 1024)
    try:
        for row in range(6):
            arrowscope.open_image(path, row=row).to_numpy()
        assert cache.ROW_GROUP_CACHE.current_bytes <= 300 * 1024
    finally:
        cache.set_cache_size(cache.DEFAULT_CACHE_BYTES)


def test_dataset_plane_reads_only_its_chunks(tmp_path, monkeypatch):
    data = np.random.default_rng(1).random((1, 3, 8, 64, 64)).astype(np.float32)
    path = arrowscope.write_ome_parquet(
        tmp_path / "d.ome.parquet", data, layout="dataset", tile=32
    )
    reads = _spy(monkeypatch, pq.ParquetFile, "read_row_group")
    img = arrowscope.open_image(path)
    assert reads == []  # open: images/index tables only
    lazy = img.to_dask()
    assert lazy.numblocks == (1, 3, 8, 2, 2)
    assert np.array_equal(lazy[0, 2, 5].compute(), data[0, 2, 5])
    assert len(reads) == 4  # the 2 x 2 tiles of that plane, out of 96 chunks
    # dask reads whole tiles and does not keep them in arrowscope's cache
    # (dask, and napari's dask cache, hold the results): a re-read reads again
    assert np.array_equal(lazy[0, 2, 5, :10, 40:].compute(), data[0, 2, 5, :10, 40:])
    assert len(reads) == 5
    # a direct read of part of a tile keeps the tile for the next part
    part = img.read(((0, 1), (2, 3), (5, 6), (0, 10), (40, 64)))
    assert np.array_equal(part[0, 0, 0], data[0, 2, 5, :10, 40:]) and len(reads) == 6
    part = img.read(((0, 1), (2, 3), (5, 6), (10, 20), (33, 64)))
    assert np.array_equal(part[0, 0, 0], data[0, 2, 5, 10:20, 33:]) and len(reads) == 6


def test_list_images_reads_metadata_only(tmp_path, monkeypatch):
    crops = [np.full((1, 1, 1, 20, 20), i, np.uint16) for i in range(5)]
    path = tmp_path / "crops.parquet"
    arrowscope.write_ome_table(path, {"a": crops, "b": crops})
    decodes = _spy(monkeypatch, codec.RecordPixels, "read")
    infos = arrowscope.list_images(path)
    assert len(infos) == 10 and decodes == []


def test_dask_array_pickles(tmp_path):
    import pickle

    data = np.arange(2 * 32 * 32, dtype=np.int32).reshape(2, 32, 32)
    for layout in ("nested", "dataset"):
        path = arrowscope.write_ome_parquet(
            tmp_path / f"{layout}.ome.parquet", data, dims="ZYX", layout=layout
        )
        lazy = pickle.loads(pickle.dumps(arrowscope.open_image(path).to_dask()))
        assert np.array_equal(lazy.compute()[0, 0], data)


def test_dataset_without_index(tmp_path):
    data = np.arange(3 * 20 * 20, dtype=np.uint16).reshape(3, 20, 20)
    path = arrowscope.write_ome_parquet(
        tmp_path / "d.ome.parquet", data, dims="CYX", layout="dataset", tile=8
    )
    (path / dataset.INDEX_FILE).unlink()
    assert np.array_equal(arrowscope.open_image(path).to_numpy()[0, :, 0], data)
