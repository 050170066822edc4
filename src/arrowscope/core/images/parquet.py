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
    pq.write_table(
        table, path, write_page_checksum=True, **_options(table.schema, kwargs)
    )


def parquet_writer(
    path: PathLike, schema: pa.Schema, **kwargs: Any
) -> pq.ParquetWriter:
    """A streaming Parquet writer that writes page checksums."""
    return pq.ParquetWriter(
        path, schema, write_page_checksum=True, **_options(schema, kwargs)
    )


def leaf_paths(schema: pa.Schema) -> list[tuple[str, pa.DataType]]:
    """Every Parquet leaf column of ``schema``: its dotted path (as Parquet
    names it, lists as ``name.list.element``) and its Arrow type."""
    out: list[tuple[str, pa.DataType]] = []

    def walk(prefix: str, field: pa.Field) -> None:
        path, t = f"{prefix}{field.name}", field.type
        if pa.types.is_struct(t):
            for i in range(t.num_fields):
                walk(path + ".", t.field(i))
        elif pa.types.is_map(t):
            walk(path + ".key_value.", t.key_field)
            walk(path + ".key_value.", t.item_field)
        elif isinstance(t, pa.ListType | pa.LargeListType | pa.FixedSizeListType):
            walk(path + ".list.", t.value_field.with_name("element"))
        else:
            out.append((path, t))

    for field in schema:
        walk("", field)
    return out


def pixel_leaves(
    schema: pa.Schema, leaves: list[tuple[str, pa.DataType]] | None = None
) -> list[str]:
    """The leaf columns that hold pixels as numbers: the items of a list
    field named ``pixels`` (the list form's planes and chunks)."""
    return [
        path
        for path, t in (leaf_paths(schema) if leaves is None else leaves)
        if path.endswith(".pixels.list.element")
        and (pa.types.is_integer(t) or pa.types.is_floating(t))
    ]


def _options(schema: pa.Schema, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Writer options with BYTE_STREAM_SPLIT for the pixel leaves (which may
    not be dictionary encoded too) unless the caller chose encodings."""
    if "column_encoding" in kwargs:
        return kwargs
    leaves = leaf_paths(schema)
    pixels = pixel_leaves(schema, leaves)
    if not pixels:
        return kwargs
    chosen = kwargs.get("use_dictionary", True)
    if chosen is True:
        chosen = [p for p, _ in leaves if p not in pixels]
    elif chosen is not False:
        chosen = [c for c in chosen if c not in pixels]
    return {
        **kwargs,
        "use_dictionary": chosen or False,
        "column_encoding": dict.fromkeys(pixels, "BYTE_STREAM_SPLIT"),
    }
