"""Files from the reference ome-arrow library read exactly, and ours read there."""

from __future__ import annotations

import warnings

import numpy as np
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
