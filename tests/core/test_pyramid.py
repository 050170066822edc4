"""Stored pyramids in typed chunk datasets: exact levels, lazy, ignored by others."""

from __future__ import annotations

import numpy as np
import pytest

import arrowscope
from arrowscope.core.images import dataset
from arrowscope.core.images.dataset import downsample, pyramid_levels


def _mean2x2(plane: np.ndarray) -> np.ndarray:
    """The reference: edge-pad to even, round-half-up mean of each 2x2 block."""
    Y, X = plane.shape
    p = np.pad(plane.astype(np.int64), ((0, Y % 2), (0, X % 2)), mode="edge")
    s = p[0::2, 0::2] + p[1::2, 0::2] + p[0::2, 1::2] + p[1::2, 1::2]
    return ((s + 2) // 4).astype(plane.dtype)


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int16", "int32", "uint32"])
def test_downsample_integers_is_the_rounded_block_mean(dtype):
    info = np.iinfo(dtype)
    plane = np.random.default_rng(0).integers(
        info.min, info.max, (37, 52), dtype=dtype, endpoint=True
    )
    half = downsample(plane, labels=False)
    assert half.dtype == plane.dtype and half.shape == (19, 26)
    np.testing.assert_array_equal(half, _mean2x2(plane))


def test_downsample_floats_and_labels():
    plane = np.random.default_rng(1).random((9, 8)).astype(np.float32)
    half = downsample(plane, labels=False)
    assert half.dtype == np.float32 and half.shape == (5, 4)
    assert half[0, 0] == pytest.approx(plane[:2, :2].mean())
    assert half[4, 0] == pytest.approx(plane[8, :2].mean())  # odd edge repeated
    labels = np.zeros((8, 8), np.uint32)
    labels[0:4, 0:4], labels[4:8, 4:8] = 7, 90000
    # labels keep real values: no averages of 7 and 90000, no new labels
    assert set(np.unique(downsample(labels, labels=True))) == {0, 7, 90000}


def test_level_count():
    assert pyramid_levels((1, 1, 1, 1024, 1000)) == 0
    assert pyramid_levels((1, 1, 1, 1025, 10)) == 1
    assert pyramid_levels((1, 1, 1, 20000, 9000)) == 5  # 20000 → 625


def test_dataset_stores_exact_levels_read_lazily(tmp_path, monkeypatch):
    monkeypatch.setattr(dataset, "PYRAMID_TOP_PX", 100)
    data = np.random.default_rng(2).integers(0, 4000, (2, 3, 301, 410), np.uint16)
    path = arrowscope.write_ome_parquet(
        tmp_path / "p.ome.parquet",
        data,
        dims="CZYX",
        layout="dataset",
        tile=128,
        pyramid=True,
        physical_size=(2.0, 0.5, 0.25),
        units="µm",
        channel_names=["DNA", "ER"],
    )
    img = arrowscope.open_image(path)
    assert np.array_equal(img.to_numpy()[0], data)  # full resolution untouched
    # halved until no side is above 100 px
    assert [lvl.shape for lvl in img.levels] == [
        (1, 2, 3, 151, 205),
        (1, 2, 3, 76, 103),
        (1, 2, 3, 38, 52),
    ]
    assert img.levels[1].physical_size == pytest.approx((2.0, 2.0, 1.0))
    assert img.levels[0].channel_names == ["DNA", "ER"]
    expected = data[1, 2]
    for lvl in img.levels:
        expected = _mean2x2(expected)
        np.testing.assert_array_equal(lvl.to_dask()[0, 1, 2].compute(), expected)


def test_auto_pyramid_only_for_huge_planes(tmp_path, monkeypatch):
    small = np.zeros((300, 200), np.uint8)
    path = arrowscope.write_ome_parquet(
        tmp_path / "s.ome.parquet", small, dims="YX", layout="dataset"
    )
    assert not (path / dataset.PYRAMID_DIR).exists()
    from arrowscope.core.images import writer

    monkeypatch.setattr(writer, "PYRAMID_MIN_PX", 256)
    monkeypatch.setattr(dataset, "PYRAMID_TOP_PX", 64)
    path = arrowscope.write_ome_parquet(
        tmp_path / "b.ome.parquet", small, dims="YX", layout="dataset", tile=64
    )
    assert [lvl.shape[3:] for lvl in arrowscope.open_image(path).levels] == [
        (150, 100),
        (75, 50),
        (38, 25),
    ]
    with pytest.raises(arrowscope.core.UnsupportedError, match="pyramid='yes'"):
        arrowscope.write_ome_parquet(
            tmp_path / "x.ome.parquet",
            small,
            dims="YX",
            layout="dataset",
            pyramid="yes",
        )


def test_broken_level_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setattr(dataset, "PYRAMID_TOP_PX", 32)
    data = np.arange(128 * 96, dtype=np.uint16).reshape(128, 96)
    path = arrowscope.write_ome_parquet(
        tmp_path / "p.ome.parquet", data, dims="YX", layout="dataset", pyramid=True
    )
    (path / "pyramid" / "level-2" / "images.parquet").write_bytes(b"garbage")
    img = arrowscope.open_image(path)
    assert [lvl.shape[3:] for lvl in img.levels] == [(64, 48)]  # level 2, 3 dropped
    assert np.array_equal(img.to_numpy()[0, 0, 0], data)


def test_reference_reader_ignores_the_pyramid(tmp_path, monkeypatch):
    pytest.importorskip("ome_arrow")
    from ome_arrow.dataset import OMEArrowDataset

    monkeypatch.setattr(dataset, "PYRAMID_TOP_PX", 32)
    data = np.random.default_rng(3).integers(0, 999, (2, 100, 70), np.uint16)
    path = arrowscope.write_ome_parquet(
        tmp_path / "p.ome.parquet", data, dims="CYX", layout="dataset", pyramid=True
    )
    ref = OMEArrowDataset(path)
    assert len(ref.image_ids) == 1
    np.testing.assert_array_equal(
        np.asarray(ref.read_image(ref.image_ids[0])).reshape(data.shape), data
    )
