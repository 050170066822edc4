"""Row-group-aware access to tables holding OME-Arrow columns.

A :class:`TableSource` hides whether rows live in a Parquet file, an Arrow IPC
(Feather v2) file or an in-memory table. It reads the footer at open, projects
nested columns onto just the fields asked for, and caches decoded row groups.
Sources are picklable (file handles are reopened on demand), so dask tasks
built on them run on distributed workers too.
"""

from __future__ import annotations

import bisect
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from .cache import ROW_GROUP_CACHE
from .errors import AccessError, CorruptFileError, NotOmeArrowError
from .parquet import parquet_file

PARQUET_MAGIC = b"PAR1"
ARROW_MAGIC = b"ARROW1"
IPC_SUFFIXES = (".arrow", ".feather", ".ipc", ".arrows")


def sniff_format(path: Path) -> str | None:
    """Return ``"parquet"``, ``"ipc"`` or None from a file's magic bytes.

    A file that exists but cannot be read raises :class:`AccessError`.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except PermissionError as exc:
        raise AccessError(
            "cannot be read: permission denied",
            path=path,
            hint="check the file's permissions",
        ) from exc
    except OSError:
        return None
    if head[:4] == PARQUET_MAGIC:
        return "parquet"
    if head[:6] == ARROW_MAGIC:
        return "ipc"
    # An IPC *stream* starts with a continuation marker and a schema.
    if head[:4] == b"\xff\xff\xff\xff":
        return "ipc"
    return None


_CONVERT_HINT = "convert it first: arrowscope convert {name} {stem}.ome.parquet"


def describe_foreign(path: Path) -> tuple[str, str | None]:
    """What a path that is not a Parquet/IPC table is, and what to do about it."""
    name, stem = path.name, path.name.split(".")[0] or "image"
    convert = _CONVERT_HINT.format(name=name, stem=stem)
    if not os.path.lexists(path):
        return "no such file or folder", None
    if path.is_dir():
        if (
            (path / ".zattrs").exists()
            or (path / "zarr.json").exists()
            or (path / ".zgroup").exists()
        ):
            return "is a Zarr folder, not an OME-Arrow table", convert
        return (
            "is a folder, not an OME-Arrow chunk dataset "
            "(it has no images.parquet and chunks.parquet)",
            "open a file inside it, or a chunk dataset folder",
        )
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
        size = path.stat().st_size
    except PermissionError as exc:
        raise AccessError(
            "cannot be read: permission denied",
            path=path,
            hint="check the file's permissions",
        ) from exc
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}", None
    if size == 0:
        return "is an empty file", "was it still being written?"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "is a TIFF file, not an OME-Arrow table", convert
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "is a PNG image, not an OME-Arrow table", convert
    if name.lower().endswith((".csv", ".tsv", ".csv.gz")):
        return "is a CSV/TSV table, not an OME-Arrow table", None
    return (
        "is not a Parquet or Arrow IPC file (bad magic bytes)",
        "is the file truncated or of another format?",
    )


class TableSource:
    """A table of rows grouped in row groups (Parquet) or record batches (IPC).

    Parameters
    ----------
    source
        A path to a Parquet or Arrow IPC file, or a :class:`pyarrow.Table`.
    """

    def __init__(self, source: str | os.PathLike[str] | pa.Table) -> None:
        self._lock = threading.Lock()
        self._handle: Any = None
        self._leaf_paths: list[str] | None = None
        self._plane_values: dict[str, list[int] | None] = {}
        if isinstance(source, pa.Table):
            self.path: Path | None = None
            self.format = "memory"
            self._table = source
            self.schema = source.schema
            batches = source.to_batches()
            self._group_rows = [b.num_rows for b in batches] or [0]
            self._batches = batches
            self._token: tuple[Any, ...] = ("memory", id(source))
        else:
            self.path = Path(source)
            fmt = sniff_format(self.path)
            if fmt is None:
                what, hint = describe_foreign(self.path)
                raise CorruptFileError(what, path=self.path, hint=hint)
            self.format = fmt
            stat = self.path.stat()
            self._token = (str(self.path.resolve()), stat.st_mtime_ns, stat.st_size)
            self._open_footer()
        self._starts = np.concatenate([[0], np.cumsum(self._group_rows)]).tolist()

    # -- opening -----------------------------------------------------------
    def _open_footer(self) -> None:
        try:
            if self.format == "parquet":
                handle = parquet_file(self.path)
                self.schema = handle.schema_arrow
                meta = handle.metadata
                self._group_rows = [
                    meta.row_group(i).num_rows for i in range(meta.num_row_groups)
                ] or [0]
            else:
                handle = self._open_ipc()
                self.schema = handle.schema
                self._group_rows = [
                    handle.get_batch(i).num_rows
                    for i in range(handle.num_record_batches)
                ] or [0]
        except (pa.ArrowInvalid, OSError) as exc:
            raise CorruptFileError(
                f"cannot read the {self.format} footer: {exc}",
                path=self.path,
                hint="the file may be truncated or still being written",
            ) from exc
        self._handle = handle

    def _open_ipc(self) -> Any:
        mm = pa.memory_map(str(self.path), "r")
        try:
            return pa.ipc.open_file(mm)
        except pa.ArrowInvalid:
            # A stream, not a file: no random access, so materialise batches.
            mm.seek(0)
            table = pa.ipc.open_stream(mm).read_all()
            return _BatchList(table)

    def _reader(self) -> Any:
        if self._handle is None:
            self._open_footer()
        return self._handle

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_handle"] = None
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

    @property
    def metadata(self) -> dict[bytes, bytes]:
        """File-level (schema) key-value metadata."""
        return dict(self.schema.metadata or {})

    # -- reading -------------------------------------------------------------
    def _projection(self, column: str, fields: Sequence[str] | None) -> list[str]:
        """Parquet column paths for ``fields`` of a struct column.

        A field ``"planes.t"`` names the child ``t`` of the list-of-struct
        field ``planes``; it maps to the leaf path the file really uses.
        """
        ftype = self.schema.field(column).type
        if fields is None or not pa.types.is_struct(ftype) or "." in column:
            return [column]
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
                for leaf in self._leaves()
                if leaf.startswith(prefix)
                and leaf.endswith(suffix)
                and leaf[len(prefix) : -len(suffix)].count(".") == 1
            ]
        return out or [column]

    def _leaves(self) -> list[str]:
        if self._leaf_paths is None:
            schema = self._reader().schema
            self._leaf_paths = [schema.column(i).path for i in range(len(schema))]
        return self._leaf_paths

    def stored_plane_values(self, column: str) -> list[int] | None:
        """Per row group, the most plane pixel values the file can hold.

        Read from the Parquet footer (the value count of the plane pixels leaf,
        which counts every stored value plus one per empty list), so declared
        sizes can be checked against what is stored before any pixel is read.
        None for other formats and for columns without plane pixels.
        """
        if self.format != "parquet":
            return None
        if column not in self._plane_values:
            prefix = f"{column}.planes."
            leaves = [
                i
                for i, leaf in enumerate(self._leaves())
                if leaf.startswith(prefix) and ".pixels." in leaf[len(prefix) :]
            ]
            meta = self._reader().metadata
            self._plane_values[column] = (
                [
                    meta.row_group(g).column(leaves[0]).num_values
                    for g in range(meta.num_row_groups)
                ]
                if len(leaves) == 1
                else None
            )
        return self._plane_values[column]

    def read_group(
        self, group: int, column: str, fields: Sequence[str] | None = None
    ) -> pa.Array:
        """Read one column of one row group, projected onto ``fields``.

        The result (a struct array restricted to the fields present) is cached
        in the process-wide LRU, so later reads of the same group are free.
        """
        key = (self._token, group, column, tuple(fields) if fields else None)
        return ROW_GROUP_CACHE.get_or_load(
            key, lambda: self._load_group(group, column, fields)
        )

    def _load_group(
        self, group: int, column: str, fields: Sequence[str] | None
    ) -> pa.Array:
        if self.format == "memory":
            return select_fields(self._batches[group].column(column), fields)
        with self._lock:
            try:
                if self.format == "parquet":
                    table = self._reader().read_row_group(
                        group, columns=self._projection(column, fields)
                    )
                    array = table.column(0).combine_chunks()
                else:
                    batch = self._reader().get_batch(group)
                    array = select_fields(batch.column(column), fields)
            except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as exc:
                raise CorruptFileError(
                    f"cannot decode row group {group}: {exc}",
                    path=self.path,
                    column=column,
                    hint="the file may be truncated or corrupt",
                ) from exc
        return array

    def read_whole_group(self, group: int) -> pa.Table:
        """Every column of one row group (for copying a table as it is)."""
        if self.format == "memory":
            return pa.Table.from_batches([self._batches[group]], schema=self.schema)
        with self._lock:
            try:
                if self.format == "parquet":
                    return self._reader().read_row_group(group)
                batch = self._reader().get_batch(group)
            except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as exc:
                raise CorruptFileError(
                    f"cannot decode row group {group}: {exc}", path=self.path
                ) from exc
        return pa.Table.from_batches([batch], schema=self.schema)

    def read_column(self, column: str, fields: Sequence[str] | None = None) -> pa.Array:
        """Read a whole column (all groups), projected onto ``fields``.

        Used for metadata only: never ask for pixel fields here.
        """
        if self.format == "memory":
            return select_fields(self._table.column(column).combine_chunks(), fields)
        with self._lock:
            try:
                if self.format == "parquet":
                    table = self._reader().read(
                        columns=self._projection(column, fields)
                    )
                    return table.column(0).combine_chunks()
                reader = self._reader()
                parts = [
                    select_fields(reader.get_batch(i).column(column), fields)
                    for i in range(reader.num_record_batches)
                ]
            except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as exc:
                raise CorruptFileError(
                    f"cannot read column metadata: {exc}", path=self.path, column=column
                ) from exc
        return (
            pa.concat_arrays(parts)
            if parts
            else pa.array([], self.schema.field(column).type)
        )

    def read_table(self, columns: Sequence[str]) -> pa.Table:
        """Read plain (non-image) columns of every row."""
        if self.format == "memory":
            return self._table.select(list(columns))
        with self._lock:
            if self.format == "parquet":
                return self._reader().read(columns=list(columns))
            reader = self._reader()
            batches = [
                reader.get_batch(i).select(list(columns))
                for i in range(reader.num_record_batches)
            ]
        return pa.Table.from_batches(
            batches, schema=pa.schema([self.schema.field(c) for c in columns])
        )

    def require_column(self, column: str) -> None:
        """Raise a clear error when ``column`` is not in the table."""
        if column not in self.schema.names:
            raise NotOmeArrowError(
                f"no column {column!r}; the table has {self.schema.names[:12]}",
                path=self.path,
            )


class _BatchList:
    """Random access over the batches of an in-memory table (IPC streams)."""

    def __init__(self, table: pa.Table) -> None:
        self.schema = table.schema
        self._batches = table.to_batches() or [
            pa.RecordBatch.from_pylist([], table.schema)
        ]
        self.num_record_batches = len(self._batches)

    def get_batch(self, i: int) -> pa.RecordBatch:
        return self._batches[i]


def select_fields(
    array: pa.Array | pa.ChunkedArray, fields: Sequence[str] | None
) -> pa.Array:
    """Project a struct array onto ``fields`` (``"planes.t"``: a list child)."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
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
            child = _select_list_children(child, sub)
            if child is None:
                continue
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
    return (pa.types.is_list(dtype) or pa.types.is_large_list(dtype)) and (
        pa.types.is_struct(dtype.value_type)
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
