"""Every dtype and shape round-trips exactly through every layout."""

from __future__ import annotations

import numpy as np
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import arrowscope

DTYPES = [
    "bool",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "int8",
    "int16",
    "int32",
    "int64",
    "float32",
    "float64",
]
DIMS_BY_NDIM = {2: "YX", 3: "ZYX", 4: "CZYX", 5: "TCZYX"}


def arrays():
    return st.sampled_from(DTYPES).flatmap(
        lambda dt: hnp.arrays(
            dtype=np.dtype(dt),
            shape=hnp.array_shapes(min_dims=2, max_dims=5, min_side=1, max_side=7),
            elements=hnp.from_dtype(np.dtype(dt), allow_nan=True, allow_infinity=True)
            if np.dtype(dt).kind == "f"
            else None,
        )
    )


def _expand(a: np.ndarray) -> np.ndarray:
    return a.reshape((1,) * (5 - a.ndim) + a.shape) if a.ndim < 5 else a


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    data=arrays(), layout=st.sampled_from(["nested", "dataset"]), tile=st.integers(1, 5)
)
def test_any_dtype_and_shape_round_trips(tmp_path_factory, data, layout, tile):
    path = tmp_path_factory.mktemp("rt") / "img.ome.parquet"
    dims = DIMS_BY_NDIM[data.ndim]
    # 4-D arrays here are CZYX: the C axis must become channels.
    arrowscope.write_ome_parquet(path, data, dims=dims, layout=layout, tile=tile)
    img = arrowscope.open_image(path)
    expected = _expand(data) if dims != "CZYX" else data[None]
    assert img.dims == "TCZYX"
    assert img.shape == expected.shape
    assert _same(img.to_numpy(), expected)
    assert _same(img.to_dask().compute(), expected)


@pytest.mark.parametrize("dtype", DTYPES)
def test_table_and_ipc_round_trip(tmp_path, dtype):
    rng = np.random.default_rng(0)
    crops = [(rng.random((2, 5 + i, 4 + i)) * 100).astype(dtype) for i in range(4)]
    path = tmp_path / "crops.parquet"
    arrowscope.write_ome_table(
        path,
        {
            "crop": [
                {"data": c, "dims": "CYX", "name": f"cell{i}"}
                for i, c in enumerate(crops)
            ]
        },
        extra_columns={"cell_id": [10, 11, 12, 13]},
    )
    assert pq.ParquetFile(path).num_row_groups == 1  # four small rows: one group
    ipc = tmp_path / "crops.arrow"
    feather.write_feather(pq.read_table(path), ipc, compression="uncompressed")
    for source in (path, ipc):
        infos = arrowscope.list_images(source)
        assert [(i.column, i.row) for i in infos] == [("crop", r) for r in range(4)]
        for i, c in enumerate(crops):
            img = arrowscope.open_image(source, "crop", i)
            assert img.name == f"cell{i}"
            assert _same(img.to_numpy()[0, :, 0], c)


def test_metadata_round_trips_exactly(tmp_path):
    data = np.arange(2 * 3 * 16 * 16, dtype=np.uint16).reshape(2, 3, 16, 16)
    path = arrowscope.write_ome_parquet(
        tmp_path / "m.ome.parquet",
        data,
        dims="ZCYX",
        name="plate1-A01",
        image_id="img-1",
        channel_names=["DNA", "ER", "Mito"],
        channel_colors=["blue", (0, 1, 0), "#FF000080"],
        physical_size=(0.7, 0.1, 0.1),
        units=("µm", "nm", "nm"),
    )
    img = arrowscope.open_image(path)
    assert img.shape == (1, 3, 2, 16, 16)
    assert img.name == "plate1-A01" and img.meta.id == "img-1"
    assert img.channel_names == ["DNA", "ER", "Mito"]
    assert img.channel_colors == [(0, 0, 1, 1), (0, 1, 0, 1), (1, 0, 0, 128 / 255)]
    # 0.1 and 0.7 are not float32 values; they must still come back exactly.
    assert img.physical_size == (0.7, 0.1, 0.1)
    assert img.units == ("µm", "nm", "nm")
    assert np.array_equal(img.to_numpy()[0], data.transpose(1, 0, 2, 3))


def test_dataset_layout_keeps_scale_and_channels(tmp_path):
    data = np.random.default_rng(1).random((2, 3, 40, 30)).astype(np.float32)
    path = arrowscope.write_ome_parquet(
        tmp_path / "big.ome.parquet",
        data,
        dims="CZYX",
        channel_names=["a", "b"],
        physical_size=(2.0, 0.25, 0.25),
        units="µm",
        large_threshold=1000,
        tile=16,
    )
    assert path.is_dir() and (path / "chunks.parquet").is_file()
    img = arrowscope.open_image(path)
    assert img.channel_names == ["a", "b"]
    assert img.physical_size == (2.0, 0.25, 0.25) and img.units == ("µm",) * 3
    assert img.to_dask().chunks[3:] == ((16, 16, 8), (16, 14))
    assert _same(img.to_numpy()[0], data)


def test_dask_input_streams_plane_by_plane(tmp_path):
    da = pytest.importorskip("dask.array")
    calls = []

    def make(block_id=None):
        if isinstance(block_id, tuple):
            calls.append(block_id)
        return np.full((1, 1, 1, 64, 64), block_id[2], dtype=np.uint16)

    lazy = da.map_blocks(
        make,
        chunks=((1,), (1,), (1,) * 6, (64,), (64,)),
        dtype=np.uint16,
        meta=np.empty((0,) * 5, np.uint16),
    )
    path = arrowscope.write_ome_parquet(
        tmp_path / "d.ome.parquet", lazy, layout="dataset", tile=32
    )
    assert len(calls) == 6  # each block computed once
    img = arrowscope.open_image(path)
    assert [int(img.to_numpy()[0, 0, z, 0, 0]) for z in range(6)] == list(range(6))


def test_table_rows_are_grouped_by_pixel_bytes(tmp_path, monkeypatch):
    from arrowscope.core.images import writer

    monkeypatch.setattr(writer, "ROW_GROUP_BYTES", 10_000)
    small = np.ones((50, 50), np.uint8)  # 2,500 bytes: four to a group
    big = np.ones((120, 100), np.uint8)  # 12,000 bytes: a group of its own
    rows = [small] * 5 + [big] + [small] * 2 + [None]
    path = arrowscope.write_ome_table(
        tmp_path / "t.parquet",
        {"img": rows},
        dims="YX",
        extra_columns={"n": list(range(len(rows)))},
    )
    meta = pq.ParquetFile(path).metadata
    sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    assert sizes == [4, 2, 3]  # 4 small | small + big | 2 small + empty row
    src = arrowscope.open_source(path)
    assert pq.read_table(path, columns=["n"])["n"].to_pylist() == list(range(9))
    for row, expected in enumerate(rows[:-1]):
        assert np.array_equal(src.image("img", row).to_numpy()[0, 0, 0], expected)
