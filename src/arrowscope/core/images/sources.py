"""Row-group-aware access to tables holding OME-Arrow columns.

A :class:`TableSource` hides where and how rows are stored (a Parquet or Arrow
IPC file on any filesystem, a Lance dataset, an in-memory table: see
:mod:`~arrowscope.core.images.stores`). It reads the footer at open, projects
nested columns onto just the fields asked for, and caches decoded row groups.
Sources are picklable (file handles are reopened on demand), so dask tasks
built on them run on distributed workers too.
"""

from __future__ import annotations

import bisect
import contextlib
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..errors import ArrowscopeError, CorruptFileError, NotOmeArrowError
from .cache import ROW_GROUP_CACHE
from .formats import denied
from .stores import Store, filesystem_of, is_uri, open_store, sniff

PathLike = str | os.PathLike[str]


def sniff_format(path: PathLike) -> str | None:
    """``"parquet"``, ``"ipc"``, ``"vortex"``, ``"lance"`` or None, by magic bytes.

    Local paths or URIs; a file that cannot be read raises :class:`AccessError`.
    """
    fs, where = filesystem_of(path)
    return sniff(fs, where)


class TableSource:
    """A table of rows in groups (row groups, record batches, runs of rows).

    Parameters
    ----------
    source
        A path or URI of a Parquet or Arrow IPC file or a Lance dataset, or a
        :class:`pyarrow.Table`.
    filesystem
        A ``pyarrow.fs`` filesystem to read ``source`` from (by default the
        local one, or the one the URI names).

    Caching, nested projection and errors live here, above the
    :mod:`~arrowscope.core.images.stores` that read each format.
    """

    def __init__(
        self,
        source: str | os.PathLike[str] | pa.Table | Sequence[Any],
        filesystem: Any = None,
        *,
        info: Any = None,
    ) -> None:
        self._lock = threading.Lock()
        self._plane_values: dict[str, list[int] | None] = {}
        self.store: Store = open_store(source, filesystem, info=info)
        self.format = self.store.format
        if isinstance(source, (list, tuple)):  # several data files: their folder
            source = self.store.location if len(source) > 1 else source[0]
        elif isinstance(source, Store):  # a store of another layer: its location
            source = source.location
        self.path: Path | str | None = (
            None
            if isinstance(source, pa.Table)
            else (os.fspath(source) if is_uri(source) else Path(source))
        )
        self.schema = self.store.schema
        self._group_rows = self.store.group_rows
        self._token: tuple[Any, ...] = self.store.token
        self._starts = np.concatenate([[0], np.cumsum(self._group_rows)]).tolist()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_lock"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # -- shape ---------------------------------------------------------------
    @property
    def num_rows(self) -> int:
        """Number of rows in the table."""
        return int(self._starts[-1])

    @property
    def num_groups(self) -> int:
        """Number of row groups (Parquet) or record batches (IPC)."""
        return len(self._group_rows)

    def locate(self, row: int) -> tuple[int, int]:
        """Return ``(group, offset_in_group)`` of a table row."""
        if not 0 <= row < self.num_rows:
            raise IndexError(row)
        group = bisect.bisect_right(self._starts, row) - 1
        return group, row - self._starts[group]

    def group_span(self, group: int) -> tuple[int, int]:
        """``(first row, number of rows)`` of a group."""
        return int(self._starts[group]), int(self._group_rows[group])

    @property
    def metadata(self) -> dict[bytes, bytes]:
        """File-level (schema) key-value metadata."""
        return dict(self.schema.metadata or {})

    # -- reading -------------------------------------------------------------
    def _projection(self, column: str, fields: Sequence[str] | None) -> list[str]:
        """Columns to ask the store for: Parquet leaf paths where it can prune
        nested fields (``"planes.t"`` names the child ``t`` of the list of
        structs ``planes``), else the whole column (projected in memory)."""
        ftype = self.schema.field(column).type
        if (
            fields is None
            or not self.store.nested_projection
            or not pa.types.is_struct(ftype)
            or "." in column
        ):
            return [column]
        leaves = self.store.leaves() or []
        out = []
        for f in fields:
            top, _, child = f.partition(".")
            if ftype.get_field_index(top) < 0:
                continue
            if not child:
                out.append(f"{column}.{top}")
                continue
            prefix, suffix = f"{column}.{top}.", f".{child}"
            sub = ftype.field(top).type
            if not (pa.types.is_list(sub) or pa.types.is_large_list(sub)):
                out.append(f"{column}.{top}")  # the wrong type: read it to say so
                continue
            out += [
                leaf
                for leaf in leaves
                if leaf.startswith(prefix)
                and leaf.endswith(suffix)
                and leaf[len(prefix) : -len(suffix)].count(".") == 1
            ]
        return out or [column]

    def stored_plane_values(self, column: str) -> list[int] | None:
        """Per row group, the most plane pixel values the file can hold.

        Read from the Parquet footer (the value count of the plane pixels leaf,
        which counts every stored value plus one per empty list), so declared
        sizes can be checked against what is stored before any pixel is read.
        None for other formats and for columns without plane pixels.
        """
        leaves = self.store.leaves()
        if leaves is None:
            return None
        if column not in self._plane_values:
            prefix = f"{column}.planes."
            hits = [
                i
                for i, leaf in enumerate(leaves)
                if leaf.startswith(prefix) and ".pixels." in leaf[len(prefix) :]
            ]
            self._plane_values[column] = (
                self.store.leaf_value_counts(hits[0]) if len(hits) == 1 else None
            )
        return self._plane_values[column]

    def read_group(
        self, group: int, column: str, fields: Sequence[str] | None = None
    ) -> pa.Array:
        """Read one column of one row group, projected onto ``fields``.

        The result (a struct array restricted to the fields present) is cached
        in the process-wide LRU, so later reads of the same group are free.
        """
        if not self.store.nested_projection:
            # Stores that read whole columns anyway (IPC, Lance, Vortex): one
            # read and one cache entry per group and column, projected here.
            whole_key = (self._token, group, column, None)
            whole = ROW_GROUP_CACHE.get_or_load(
                whole_key, lambda: self._load_group(group, column, None)
            )
            return select_fields(whole, fields)
        key: tuple[Any, ...] = (
            self._token,
            group,
            column,
            tuple(fields) if fields else None,
        )
        return ROW_GROUP_CACHE.get_or_load(
            key, lambda: self._load_group(group, column, fields)
        )

    def _load_group(
        self, group: int, column: str, fields: Sequence[str] | None
    ) -> pa.Array:
        with self._lock, self._errors(f"cannot decode row group {group}", column):
            table = self.store.read_group(group, self._projection(column, fields))
        return select_fields(table.column(0), fields)

    @contextlib.contextmanager
    def _errors(self, what: str, column: str | None = None) -> Iterator[None]:
        """One error path for every store: a typed error naming the file."""
        try:
            yield
        except ArrowscopeError:
            raise
        except PermissionError as exc:
            raise denied(self.path) from exc
        except (pa.ArrowException, OSError) as exc:
            # a corrupt IPC record batch shows as offsets out of range
            raise CorruptFileError(
                f"{what}: {exc}",
                path=self.path,
                column=column,
                hint="the file may be truncated or corrupt",
            ) from exc

    def read_whole_group(self, group: int) -> pa.Table:
        """Every column of one row group (for copying a table as it is)."""
        with self._lock, self._errors(f"cannot decode row group {group}"):
            return self.store.read_group(group, None)

    def read_column(self, column: str, fields: Sequence[str] | None = None) -> pa.Array:
        """Read a whole column (all groups), projected onto ``fields``.

        Used for metadata only: never ask for pixel fields here.
        """
        with self._lock, self._errors("cannot read column metadata", column):
            table = self.store.read(self._projection(column, fields))
            # memory-mapped IPC buffers are only checked when sliced here
            return select_fields(table.column(0), fields)

    def read_table(self, columns: Sequence[str]) -> pa.Table:
        """Read plain (non-image) columns of every row."""
        with self._lock, self._errors("cannot read the table"):
            return self.store.read(list(columns))

    def require_column(self, column: str) -> None:
        """Raise a clear error when ``column`` is not in the table."""
        if column not in self.schema.names:
            raise NotOmeArrowError(
                f"no column {column!r}; the table has {self.schema.names[:12]}",
                path=self.path,
            )


def one_array(array: pa.ChunkedArray) -> pa.Array:
    """A chunked array as one array: its only chunk as it is (combining copies
    every value, tens of megabytes for a cell of pixels), else combined."""
    return array.chunk(0) if array.num_chunks == 1 else array.combine_chunks()


def select_fields(
    array: pa.Array | pa.ChunkedArray, fields: Sequence[str] | None
) -> pa.Array:
    """Project a struct array onto ``fields`` (``"planes.t"``: a list child)."""
    if isinstance(array, pa.ChunkedArray):
        array = one_array(array)
    if fields is None or not pa.types.is_struct(array.type):
        return array
    wanted: dict[str, list[str] | None] = {}
    for f in fields:
        top, _, child = f.partition(".")
        if array.type.get_field_index(top) < 0:
            continue
        if not child:
            wanted[top] = None
        elif top not in wanted or wanted[top] is not None:
            wanted.setdefault(top, [])
            wanted[top].append(child)  # type: ignore[union-attr]
    names, children = [], []
    for top, sub in wanted.items():
        child = array.field(top)
        if sub is not None and _is_list_of_structs(child.type):
            projected = _select_list_children(child, sub)
            if projected is None:
                continue
            child = projected
        names.append(top)
        children.append(child)
    if not children:  # nothing asked for is there: empty records, same length
        return pa.array([{}] * len(array), pa.struct([]))
    return pa.StructArray.from_arrays(
        children,
        names=names,
        mask=array.is_null() if array.null_count else None,
    )


def _is_list_of_structs(dtype: pa.DataType) -> bool:
    return bool(
        (pa.types.is_list(dtype) or pa.types.is_large_list(dtype))
        and pa.types.is_struct(dtype.value_type)
    )


def _select_list_children(array: pa.Array, fields: list[str]) -> pa.Array | None:
    """Project a list-of-struct array onto some fields of its items."""
    if not (pa.types.is_list(array.type) or pa.types.is_large_list(array.type)):
        return None
    values = array.values
    if not pa.types.is_struct(values.type):
        return None
    present = [f for f in fields if values.type.get_field_index(f) >= 0]
    if not present:
        return None
    items = pa.StructArray.from_arrays(
        [values.field(f) for f in present], names=present
    )
    cls = pa.LargeListArray if pa.types.is_large_list(array.type) else pa.ListArray
    return cls.from_arrays(
        array.offsets, items, mask=array.is_null() if array.null_count else None
    )
