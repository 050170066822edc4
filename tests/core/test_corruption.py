"""Corrupt or inconsistent pixels raise (or are reported), never decode silently wrong."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

import arrowscope
from arrowscope.core import CorruptFileError


def _flip_byte_in(path, column_prefix):
    md = pq.read_metadata(path)
    for i in range(md.num_columns):
        col = md.row_group(0).column(i)
        if col.path_in_schema.startswith(column_prefix):
            offset = col.data_page_offset + col.total_compressed_size - 100
            break
    else:  # pragma: no cover - the fixture always has the column
        raise AssertionError(column_prefix)
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 0xFF
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("layout", ["nested", "dataset"])
def test_corrupted_page_raises_instead_of_wrong_pixels(tmp_path, layout):
    data = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64)
    path = arrowscope.write_ome_parquet(
        tmp_path / "x.ome.parquet", data, dims="YX", compression="none", layout=layout
    )
    target = path / "chunks.parquet" if layout == "dataset" else path
    prefix = (
        "pixel_bytes" if layout == "dataset" else "ome_arrow.planes.list.element.pixels"
    )
    _flip_byte_in(target, prefix)
    with pytest.raises(CorruptFileError, match="(?i)checksum|crc"):
        arrowscope.open_image(path).to_numpy()
