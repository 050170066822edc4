"""Files from the reference ome-arrow library read exactly, and ours read there."""

from __future__ import annotations

import warnings

import numpy as np
import pyarrow.parquet as pq
import pytest

import arrowscope

ome_arrow = pytest.importorskip("ome_arrow")
from ome_arrow.export import to_numpy, to_ome_parquet  # noqa: E402
from ome_arrow.ingest import from_numpy, from_ome_parquet  # noqa: E402


@pytest.fixture
def image():
    return (np.random.default_rng(3).random((1, 2, 3, 40, 50)) * 65535).astype(
        np.uint16
    )


@pytest.mark.parametrize(
    ("encoding", "compression"),
    [("list", None), ("bytes", None), ("bytes", "zstd"), ("bytes", "lz4")],
)
def test_reference_inline_files_read_exactly(tmp_path, image, encoding, compression):
    if encoding == "list":
        record = from_numpy(image, dim_order="TCZYX")
    else:
        record = from_numpy(
            image,
            dim_order="TCZYX",
            clamp_to_uint16=False,
            chunk_encoding="bytes",
            chunk_compression=compression,
            build_chunks=True,
        )
    path = tmp_path / "ref.ome.parquet"
    to_ome_parquet(
        record,
        str(path),
        inline_chunk_encoding=encoding,
        inline_chunk_compression=compression,
    )
    img = arrowscope.open_image(path)
    assert img.dtype == np.uint16
    assert np.array_equal(img.to_numpy(), image)


def test_reference_dataset_reads_exactly(tmp_path):
    data = (
        np.random.default_rng(4).standard_normal((1, 2, 3, 33, 47)).astype(np.float64)
    )
    ome_arrow.write_ome_arrow_dataset(
        [data], tmp_path / "ds", chunk_shape=(1, 1, 1, 16, 16)
    )
    img = arrowscope.open_image(tmp_path / "ds")
    assert img.dtype == np.float64 and img.shape == data.shape
    assert np.array_equal(img.to_numpy(), data)


def test_our_uint16_reads_with_reference_default_reader(tmp_path, image):
    path = arrowscope.write_ome_parquet(
        tmp_path / "ours.ome.parquet",
        image,
        channel_names=["a", "b"],
        channel_colors=[0x0000FFFF, 0xFF00FFFF],
        physical_size=(2.0, 0.5, 0.25),
        units=("µm", "µm", "nm"),
        name="field01",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # exact schema: no normalisation warning
        record = from_ome_parquet(path)
    assert np.array_equal(to_numpy(record), image)
    assert np.array_equal(ome_arrow.OMEArrow(str(path)).export("numpy"), image)
    # and the metadata the reference reader sees is what was written
    rec = record.as_py() if hasattr(record, "as_py") else record
    meta = rec["pixels_meta"]
    assert rec["name"] == "field01"
    assert [c["name"] for c in meta["channels"]] == ["a", "b"]
    assert [c["color_rgba"] for c in meta["channels"]] == [0x0000FFFF, 0xFF00FFFF]
    assert [meta[f"physical_size_{a}"] for a in "zyx"] == [2.0, 0.5, 0.25]
    assert [meta[f"physical_size_{a}_unit"] for a in "zyx"] == ["µm", "µm", "nm"]


@pytest.mark.parametrize(
    "dtype", ["uint8", "int16", "uint32", "int64", "float32", "float64", "bool"]
)
def test_our_other_dtypes_read_with_reference_byte_path(tmp_path, dtype):
    data = (np.random.default_rng(5).standard_normal((1, 2, 2, 20, 30)) * 1000).astype(
        dtype
    )
    nested = arrowscope.write_ome_parquet(tmp_path / "n.ome.parquet", data)
    record = from_ome_parquet(nested)
    assert np.array_equal(to_numpy(record, dtype=np.dtype(dtype)), data)
    folder = arrowscope.write_ome_parquet(
        tmp_path / "d.ome.parquet", data, layout="dataset", tile=16
    )
    assert np.array_equal(ome_arrow.OMEArrowDataset(folder).read_image(), data)


def _encodings(path):
    md = pq.read_metadata(path).row_group(0)
    return {
        md.column(i).path_in_schema: set(md.column(i).encodings)
        for i in range(md.num_columns)
    }


def test_list_form_pixels_are_byte_stream_split_and_read_everywhere(tmp_path, image):
    """Pixels as lists are written BYTE_STREAM_SPLIT (a third smaller, a fifth
    faster to decode); profile columns keep their dictionaries; the reference
    reader, pyarrow and DuckDB read the same pixels."""
    path = arrowscope.write_ome_table(
        tmp_path / "cells.parquet",
        {"crop": [image[:, :, 0:1], image[:, :, 1:2]]},
        extra_columns={"Metadata_Well": ["A01", "B02"], "area": [1.5, 2.5]},
    )
    enc = _encodings(path)
    leaf = "crop.planes.list.element.pixels.list.element"
    assert "BYTE_STREAM_SPLIT" in enc[leaf] and "RLE_DICTIONARY" not in enc[leaf]
    assert "RLE_DICTIONARY" in enc["Metadata_Well"]
    assert arrowscope.open_image(path, column="crop", row=1).to_numpy().tobytes() == (
        image[:, :, 1:2].tobytes()
    )
    import duckdb

    ((first,),) = duckdb.sql(
        f"select crop.planes[2].pixels from read_parquet('{path}') limit 1"
    ).fetchall()
    assert first == image[0, 1, 0].reshape(-1).tolist()  # plane 2 is c=1

    single = arrowscope.write_ome_parquet(tmp_path / "one.ome.parquet", image)
    assert (
        "BYTE_STREAM_SPLIT"
        in _encodings(single)["ome_arrow.planes.list.element.pixels.list.element"]
    )
    assert np.array_equal(to_numpy(from_ome_parquet(single)), image)


def test_leaf_paths_name_columns_as_parquet_does(tmp_path):
    import pyarrow as pa

    from arrowscope.core.images.parquet import leaf_paths, pixel_leaves, write_parquet

    table = pa.table(
        {
            "a": pa.array([{"pixels": [1, 2], "n": "x"}]),
            "m": pa.array([[("k", 1.0)]], pa.map_(pa.string(), pa.float64())),
            "f": pa.array([[1.0, 2.0]], pa.list_(pa.float32(), 2)),
            "pixels": pa.array([["not", "numbers"]]),
        }
    )
    path = tmp_path / "t.parquet"
    write_parquet(table, path)
    assert [p for p, _ in leaf_paths(table.schema)] == list(_encodings(path))
    assert pixel_leaves(table.schema) == ["a.pixels.list.element"]
    assert "BYTE_STREAM_SPLIT" in _encodings(path)["a.pixels.list.element"]
    assert pq.read_table(path).equals(table)
