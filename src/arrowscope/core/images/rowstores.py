"""Stores whose rows are read by position: Lance datasets and Vortex files.

Both read any set of rows directly (a Lance ``take`` or range scan, a
Vortex indexed scan), so their groups are made here rather than found in the
file. A table of images (any nested or binary column: an OME-Arrow struct, a
blob) is read a row at a time, so showing one image reads that image only; a
flat table (profiles: numbers and text) about :data:`GROUP_BYTES` of the
stored table at a time, since its rows are a kilobyte each and one row a
group would make a table of a million cells a million reads. Whole tables
are read in spans of many groups either way
(:meth:`~arrowscope.core.images.storebase.Store.spans`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..errors import UnsupportedError
from .storebase import Store, holds_images

#: a flat table's rows are read together up to about this many stored bytes
GROUP_BYTES = 16 * 2**20


def even_groups(rows: int, stored_bytes: int | None) -> list[int]:
    """Row counts of consecutive groups of about :data:`GROUP_BYTES` of a
    table of ``rows`` rows stored in ``stored_bytes`` (unknown: a row a
    group, which is never wrong, only slow for small rows)."""
    if rows <= 0:
        return [0]
    per_row = max(stored_bytes / rows, 1) if stored_bytes else GROUP_BYTES
    per = min(max(1, int(GROUP_BYTES // per_row)), rows)
    return [min(per, rows - start) for start in range(0, rows, per)]


class _RowStore(Store):
    """Groups of consecutive rows, each read by its positions."""

    def _set_groups(self, rows: int, stored_bytes: int | None) -> None:
        if holds_images(self.schema):
            stored_bytes = None  # a row a group: an image is read alone
        self.group_rows = even_groups(rows, stored_bytes)
        self._per = self.group_rows[0] or 1

    def read_group(self, group: int, columns: Sequence[str] | None) -> pa.Table:
        return self.read_span(range(group, group + 1), columns)

    def read_span(self, span: range, columns: Sequence[str] | None) -> pa.Table:
        if not len(span):
            return self._take(np.empty(0, np.int64), columns)
        first = span.start * self._per
        stop = span.stop - 1
        return self._range(first, stop * self._per + self.group_rows[stop], columns)

    def take(self, rows: np.ndarray, columns: Sequence[str]) -> pa.Table:
        return self._take(np.asarray(rows, np.int64), columns)

    def _range(self, start: int, stop: int, columns: Sequence[str] | None) -> pa.Table:
        """Rows ``start:stop``."""
        return self._take(np.arange(start, stop, dtype=np.int64), columns)

    def _take(self, rows: np.ndarray, columns: Sequence[str] | None) -> pa.Table:
        raise NotImplementedError


class LanceStore(_RowStore):
    """A Lance dataset: a range of rows read with a scan, given rows with a
    ``take`` of their positions."""

    format = "lance"

    def __init__(self, uri: str, location: str) -> None:
        super().__init__(location)
        self.uri = uri
        ds = self.handle()
        self.schema = ds.schema
        self._set_groups(ds.count_rows(), _lance_bytes(ds))
        self.token = ("lance", uri, ds.version)

    def _open(self) -> Any:
        return import_extra("lance", "lance").dataset(self.uri)

    def _take(self, rows: np.ndarray, columns: Sequence[str] | None) -> pa.Table:
        with self._lock:
            return self.handle().take(
                rows, columns=None if columns is None else list(columns)
            )

    def _range(self, start: int, stop: int, columns: Sequence[str] | None) -> pa.Table:
        # a scan of the range: a third less memory and time than a take of
        # its rows (three spans of 69,000 rows × 200 features: +101 MB and
        # 0.24 s against +142 MB and 0.41 s)
        with self._lock:
            return self.handle().to_table(
                columns=None if columns is None else list(columns),
                offset=start,
                limit=stop - start,
            )

    def read(self, columns: Sequence[str]) -> pa.Table:
        with self._lock:
            return self.handle().to_table(columns=list(columns))


def _lance_bytes(ds: Any) -> int | None:
    """The dataset's data files' bytes, from its manifest (no file is read)."""
    total = 0
    for fragment in ds.get_fragments():
        for data in fragment.metadata.files:
            size = getattr(data, "file_size_bytes", None)
            if not size:
                return None
            total += int(size)
    return total


class VortexStore(_RowStore):
    """A Vortex file: its rows read with an indexed scan.

    Vortex returns ``string_view`` (and drops schema metadata): values are
    cast back to the plain Arrow types of the OME-Arrow schema.
    """

    format = "vortex"

    def __init__(self, path: str, location: str) -> None:
        super().__init__(location)
        self.path = path
        f = self.handle()
        self.schema = pa.schema(
            [pa.field(fl.name, plain_type(fl.type)) for fl in f.dtype.to_arrow_schema()]
        )
        stat = os.stat(path)
        self._set_groups(int(f.footer.row_count), stat.st_size)
        self.token = ("vortex", str(Path(path).resolve()), stat.st_mtime_ns)

    def _open(self) -> Any:
        return import_extra("vortex", "vortex").open(self.path)

    def _scan(self, columns: Sequence[str] | None, rows: np.ndarray | None) -> pa.Table:
        vx = import_extra("vortex", "vortex")
        names = list(columns) if columns is not None else self.schema.names
        target = pa.schema([self.schema.field(n) for n in names])
        if rows is not None and not len(rows):
            return target.empty_table()
        indices = None if rows is None else vx.array(pa.array(rows, pa.uint64()))
        with self._lock:
            got = self.handle().scan(projection=names, indices=indices).read_all()
        arr = got.to_arrow_array()
        table = pa.Table.from_struct_array(arr) if len(arr) else None
        if table is None:
            return target.empty_table()
        table = table.select(names).cast(target)
        if rows is not None:
            # Vortex hands back slices of all it decoded (a nested column's
            # whole split for one row): copied out, a row holds only itself
            # (50 crops read and kept in the group cache held 9.7 GB, not 5 MB)
            table = table.take(pa.array(np.arange(table.num_rows)))
        return table

    def _take(self, rows: np.ndarray, columns: Sequence[str] | None) -> pa.Table:
        return self._scan(columns, rows)

    def read(self, columns: Sequence[str]) -> pa.Table:
        return self._scan(columns, None)


def plain_type(dtype: pa.DataType) -> pa.DataType:
    """``dtype`` with view and large variants replaced by plain Arrow types."""
    if pa.types.is_string_view(dtype) or pa.types.is_large_string(dtype):
        return pa.string()
    if pa.types.is_binary_view(dtype):
        return pa.large_binary()
    if pa.types.is_struct(dtype):
        return pa.struct(
            [
                pa.field(f.name, plain_type(f.type), f.nullable)
                for f in (dtype.field(i) for i in range(dtype.num_fields))
            ]
        )
    if pa.types.is_list(dtype) or pa.types.is_list_view(dtype):
        return pa.list_(plain_type(dtype.value_type))
    if pa.types.is_large_list(dtype) or pa.types.is_large_list_view(dtype):
        return pa.large_list(plain_type(dtype.value_type))
    return dtype


def import_extra(module: str, extra: str) -> Any:
    """``module``, or an error naming the extra that installs it."""
    try:
        return __import__(module)
    except ImportError as exc:
        raise UnsupportedError(
            f"reading this format needs the {module!r} package",
            hint=f"pip install 'arrowscope[{extra}]'",
        ) from exc
