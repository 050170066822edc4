"""The one place that opens and writes Parquet files, with page checksums.

Every Parquet file arrowscope writes carries a CRC32 checksum per data page,
and every Parquet file it reads is verified against them where present, so a
corrupted page raises (:class:`~arrowscope.core.errors.CorruptFileError` at
the callers) instead of showing wrong pixels or values. Files written by
other tools without checksums read as before.
"""

from __future__ import annotations

import os
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

PathLike = str | os.PathLike[str]


def parquet_file(path: PathLike, **kwargs: Any) -> pq.ParquetFile:
    """Open a Parquet file for reading, verifying page checksums."""
    return pq.ParquetFile(path, page_checksum_verification=True, **kwargs)


def read_parquet(path: PathLike, **kwargs: Any) -> pa.Table:
    """Read a Parquet file (or some of its columns), verifying page checksums."""
    return parquet_file(path).read(**kwargs)


def write_parquet(table: pa.Table, path: PathLike, **kwargs: Any) -> None:
    """Write a Parquet file with page checksums."""
    pq.write_table(table, path, write_page_checksum=True, **kwargs)


def parquet_writer(
    path: PathLike, schema: pa.Schema, **kwargs: Any
) -> pq.ParquetWriter:
    """A streaming Parquet writer that writes page checksums."""
    return pq.ParquetWriter(path, schema, write_page_checksum=True, **kwargs)
