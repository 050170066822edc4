"""One store interface over every place an Arrow table lives.

A :class:`Store` knows one format (Parquet, Arrow IPC, an in-memory table,
Lance) on one filesystem (local, or any ``pyarrow.fs`` filesystem: S3, GCS,
HTTP, fsspec through ``PyFileSystem(FSSpecHandler(...))``). It offers the few
things everything above needs: the schema and metadata, the row counts of
its groups (row groups, record batches, Lance rows), reading some columns of
one group or of every row, and a cache token. Caches, laziness, projection of
nested fields and errors live above it, once, in
:class:`~arrowscope.core.images.sources.TableSource`.

The format is chosen as ``pyarrow.dataset`` chooses: by magic bytes (Parquet
``PAR1``, IPC ``ARROW1``, Vortex ``VTXF``) and, for folders, by what they hold
(a Lance dataset's ``_versions/``), never by trying readers in turn.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs

from ..errors import (
    AccessError,
    CorruptFileError,
    MissingFileError,
    SchemaError,
    UnsupportedError,
)
from .formats import (
    IMAGE_FORMATS,
    LANCE,
    TABLE_FORMATS,
    TEXT_FORMATS,
    by_magic,
    by_name,
)
from .locations import check_regular, is_remote_text, special_kind
from .parquet import parquet_file

LANCE_VERSIONS = LANCE.folder or "_versions"
PathLike = str | os.PathLike[str]


def is_uri(source: Any) -> bool:
    """Whether ``source`` is a URI of a remote filesystem (``s3://``, ``gs://``…)."""
    return is_remote_text(source)


def filesystem_of(
    source: PathLike, filesystem: pafs.FileSystem | None = None
) -> tuple[pafs.FileSystem | None, str]:
    """``(filesystem, path)``: None and a local path for local files.

    URIs go through ``pyarrow.fs.FileSystem.from_uri`` (credentials and
    endpoints from each filesystem's usual environment and config; for S3,
    ``?endpoint_override=…&scheme=http`` or ``?anonymous=true`` in the URI).
    """
    if filesystem is not None:
        return filesystem, str(source)
    text = os.fspath(source)
    if text.startswith("file://"):
        return None, urlparse(text).path
    if is_uri(text) and urlparse(text).scheme in ("http", "https"):
        return _http(), text.split("#", 1)[0]
    if is_uri(text):
        try:
            anonymous = _anonymous(text)
            if anonymous is not None:
                return anonymous
            fs, path = pafs.FileSystem.from_uri(text)
        except (pa.ArrowInvalid, OSError) as exc:
            raise CorruptFileError(
                f"cannot open this location: {exc}",
                path=text,
                hint="check the URI, the endpoint and the credentials",
            ) from exc
        return fs, path
    return None, text


_S3_OPTIONS = ("region", "endpoint_override", "scheme")
_HTTP: pafs.FileSystem | None = None


def _http() -> pafs.FileSystem:
    """``http(s)://`` locations through fsspec's HTTP filesystem (pyarrow has
    none): every read a ranged request, no read-ahead cache of its own (the
    layers above fetch what they need in one request)."""
    global _HTTP
    if _HTTP is None:
        try:
            import fsspec
        except ImportError as exc:
            raise UnsupportedError(
                "reading http(s):// locations needs fsspec and aiohttp",
                hint="pip install 'arrowscope[http]'",
            ) from exc
        handler = pafs.FSSpecHandler(fsspec.filesystem("http", cache_type="none"))
        _HTTP = pafs.PyFileSystem(handler)
    return _HTTP


def _anonymous(uri: str) -> tuple[pafs.FileSystem, str] | None:
    """``s3://`` / ``gs://`` URIs with ``anonymous=true`` (public buckets).

    pyarrow's ``from_uri`` has no such option, so the filesystem is built here
    from the URI's other S3 options; None when the URI does not ask for it.
    """
    from urllib.parse import parse_qs

    parsed = urlparse(uri)
    query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
    if query.pop("anonymous", "").lower() not in ("true", "1", "yes"):
        return None
    path = f"{parsed.netloc}{parsed.path}"
    if parsed.scheme == "s3":
        unknown = set(query) - set(_S3_OPTIONS)
        if unknown:
            raise pa.ArrowInvalid(f"unsupported S3 URI options {sorted(unknown)}")
        return pafs.S3FileSystem(anonymous=True, **query), path
    if parsed.scheme in ("gs", "gcs"):
        return pafs.GcsFileSystem(anonymous=True), path
    raise pa.ArrowInvalid(f"anonymous access is for s3:// and gs:// URIs, not {uri}")


def sniff(
    fs: pafs.FileSystem | None, path: str, info: pafs.FileInfo | None = None
) -> str | None:
    """``"parquet"``, ``"ipc"``, ``"vortex"``, ``"lance"`` or None (not a table).

    ``info`` is the path's ``FileInfo`` when already known (remote: it saves
    a request). A file that exists but cannot be read raises
    :class:`AccessError`.
    """
    try:
        if fs is None:
            check_regular(path)
            if os.path.isdir(path):
                lance = os.path.isdir(os.path.join(path, LANCE_VERSIONS))
                return "lance" if lance else None
            with open(path, "rb") as fh:
                head = fh.read(8)
        else:
            info = info or fs.get_file_info(path)
            if info.type == pafs.FileType.Directory:
                versions = fs.get_file_info(f"{path.rstrip('/')}/{LANCE_VERSIONS}")
                return "lance" if versions.type == pafs.FileType.Directory else None
            if info.type != pafs.FileType.File:
                return None
            with open_remote(fs, info) as fh:
                head = fh.read(8)
    except PermissionError as exc:
        raise denied(path) from exc
    except (OSError, pa.ArrowInvalid):
        return None
    fmt = by_magic(head, TABLE_FORMATS)
    return None if fmt is None else fmt.name


def open_remote(fs: pafs.FileSystem, info: pafs.FileInfo) -> Any:
    """Open a remote file from its ``FileInfo``: its known size spares S3 a HEAD
    request (filesystems that take only paths get the path)."""
    try:
        return fs.open_input_file(info)
    except TypeError:
        return fs.open_input_file(info.path)


def denied(path: Any) -> AccessError:
    """The one error for a file that exists but may not be read."""
    return AccessError(
        "cannot be read: permission denied",
        path=path,
        hint="check the file's permissions",
    )


class Store:
    """What every format offers the layers above (see the module docstring)."""

    format = "?"
    #: Whether :meth:`read_group` takes Parquet leaf paths (``col.f.list.element.x``)
    #: and reads only those leaves; other stores read whole top-level columns.
    nested_projection = False

    def __init__(self, location: str) -> None:
        self.location = location
        self.schema: pa.Schema = pa.schema([])
        self.group_rows: list[int] = [0]
        self.token: tuple[Any, ...] = (location,)
        self._lock = threading.Lock()

    def read_group(self, group: int, columns: Sequence[str] | None) -> pa.Table:
        raise NotImplementedError

    def read(self, columns: Sequence[str]) -> pa.Table:
        """Some columns of every row."""
        parts = [self.read_group(g, columns) for g in range(len(self.group_rows))]
        return pa.concat_tables(parts) if parts else self.schema.empty_table()

    def leaves(self) -> list[str] | None:
        """Parquet leaf column paths (None for other formats)."""
        return None

    def leaf_value_counts(self, leaf: int) -> list[int] | None:
        """Per group, the value count of one leaf column, from the footer."""
        return None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_lock"] = None
        state["_handle"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()


class _FileStore(Store):
    """A store backed by one file, opened lazily and reopened after pickling."""

    def __init__(
        self,
        fs: pafs.FileSystem | None,
        path: str,
        location: str,
        info: pafs.FileInfo | None = None,
    ) -> None:
        super().__init__(location)
        self.fs = fs
        self.path = path
        self._handle: Any = None
        if fs is None:
            stat = os.stat(path)
            self.token = (str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size)
            self.info = None
        else:
            self.info = info or fs.get_file_info(path)
            self.token = (fs.type_name, path, self.info.mtime_ns, self.info.size)
        self._read_footer(self.handle())

    def _read_footer(self, handle: Any) -> None:
        """Set ``schema`` and ``group_rows`` from the opened file."""
        raise NotImplementedError

    def _input(self) -> Any:
        return self.path if self.fs is None else open_remote(self.fs, self.info)

    def handle(self) -> Any:
        if self._handle is None:
            self._handle = self._open()
        return self._handle

    def _open(self) -> Any:
        raise NotImplementedError


#: Row groups larger than this (uncompressed) are read in pieces of about it.
PIECE_BYTES = 64 * 2**20
_CURSORS = 2  # open sequential readers kept per file
#: a wide table's huge row group is read this many columns at a time
WIDE_COLUMNS = 16
#: the read buffer of a piece's column streams (bytes)
PIECE_BUFFER = 1 << 18


class ParquetStore(_FileStore):
    """A Parquet file; its groups are row groups, or pieces of huge ones.

    CytoDataFrame and ome-arrow put every crop of a table in ONE row group:
    decoding it whole to show one crop costs the whole group's memory. Such
    groups are split into pieces of about :data:`PIECE_BYTES`, read with
    ``iter_batches`` over the one row group, so memory stays near one piece;
    a sequential reader is kept, so paging forward (what napari's row slider
    does) continues where the last read stopped instead of starting over.
    """

    format = "parquet"
    nested_projection = True

    def _read_footer(self, handle: Any) -> None:
        self.schema = handle.schema_arrow
        meta = handle.metadata
        #: (row group, first row in it, rows, rows per piece of that group)
        self._pieces: list[tuple[int, int, int, int]] = []
        for g in range(meta.num_row_groups):
            rg = meta.row_group(g)
            rows, size = rg.num_rows, rg.total_byte_size
            per = max(rows, 1)  # an empty row group is one empty piece
            if rows > 1 and size > PIECE_BYTES:
                per = max(1, int(rows * PIECE_BYTES / size))
            self._pieces += [
                (g, start, min(per, rows - start), per) for start in range(0, rows, per)
            ] or [(g, 0, 0, 1)]
        self.group_rows = [p[2] for p in self._pieces] or [0]
        self._leaves: list[str] | None = None
        self._cursors: dict[tuple[Any, ...], list[Any]] = {}
        #: the last narrow read of a huge row group, sliced into its pieces
        self._narrow: tuple[tuple[Any, ...], pa.Table] | None = None

    def _open(self) -> Any:
        # Remote: coalesce the column chunks of a read into few range requests.
        return parquet_file(self._input(), pre_buffer=self.fs is not None)

    def __getstate__(self) -> dict[str, Any]:
        return {**super().__getstate__(), "_cursors": {}, "_narrow": None}

    def read_group(self, group: int, columns: Sequence[str] | None) -> pa.Table:
        rg, start, rows, per = self._pieces[group]
        cols = None if columns is None else list(columns)
        with self._lock:
            if per >= self.handle().metadata.row_group(rg).num_rows:
                return self.handle().read_row_group(rg, columns=cols)
            if cols is not None and self._bytes(rg, cols) <= PIECE_BYTES // 4:
                # a few narrow columns of a huge group (a table view's page):
                # their whole group is small, read once for all its pieces
                key = (rg, tuple(cols))
                if self._narrow is None or self._narrow[0] != key:
                    self._narrow = None  # the last group goes first
                    self._narrow = (key, self.handle().read_row_group(rg, columns=cols))
                return self._narrow[1].slice(start, rows)
            if cols is not None and len(cols) > WIDE_COLUMNS:
                return self._wide_piece(rg, start, rows, cols)
            return self._piece(rg, start // per, per, cols)

    def _bytes(self, rg: int, cols: list[str]) -> int:
        """Uncompressed bytes of ``cols`` (top-level names) in row group ``rg``."""
        group = self.handle().metadata.row_group(rg)
        wanted = set(cols)
        return sum(
            group.column(i).total_uncompressed_size
            for i, leaf in enumerate(self.leaves())
            if leaf in wanted or leaf.split(".", 1)[0] in wanted
        )

    def _wide_piece(self, rg: int, start: int, rows: int, cols: list[str]) -> pa.Table:
        """Rows ``start:start + rows`` of many columns of a huge row group,
        read :data:`WIDE_COLUMNS` columns at a time and copied out: memory is
        one column batch of the group plus the piece, whatever the table's
        width (pyarrow's batch reader holds the whole row group of every
        column it reads)."""
        index = pa.array(np.arange(start, start + rows, dtype=np.int64))
        parts = []
        for i in range(0, len(cols), WIDE_COLUMNS):
            batch = self.handle().read_row_group(rg, columns=cols[i : i + WIDE_COLUMNS])
            parts.append(batch.take(index))  # a copy: the batch can go
            del batch
        out = parts[0]
        for part in parts[1:]:
            for name, column in zip(part.column_names, part.columns, strict=True):
                out = out.append_column(part.schema.field(name), column)
        return out

    def _piece(self, rg: int, k: int, per: int, cols: list[str] | None) -> pa.Table:
        key = (rg, per, None if cols is None else tuple(cols))
        cursor = self._cursors.pop(key, None)
        if cursor is None or cursor[0] > k:
            # a buffered stream: pages are read as they are decoded, so a
            # piece costs its own bytes, not its whole row group's column chunks
            reader = parquet_file(
                self._input(),
                metadata=self.handle().metadata,
                buffer_size=PIECE_BUFFER,
                pre_buffer=False,
            )
            batches = reader.iter_batches(batch_size=per, row_groups=[rg], columns=cols)
            cursor = [0, batches]
        while cursor[0] < k:  # decode and drop what lies before: memory stays bounded
            next(cursor[1])
            cursor[0] += 1
        batch = next(cursor[1])
        cursor[0] += 1
        rows = self.handle().metadata.row_group(rg).num_rows
        if cursor[0] * per >= rows:  # the row group's last piece: let it go
            return pa.Table.from_batches([batch])
        self._cursors[key] = cursor
        while len(self._cursors) > _CURSORS:
            self._cursors.pop(next(iter(self._cursors)))
        return pa.Table.from_batches([batch])

    def read(self, columns: Sequence[str]) -> pa.Table:
        with self._lock:
            return self.handle().read(columns=list(columns))

    def leaves(self) -> list[str]:
        if self._leaves is None:
            schema = self.handle().schema
            self._leaves = [schema.column(i).path for i in range(len(schema))]
        return self._leaves

    def leaf_value_counts(self, leaf: int) -> list[int]:
        """Per group (piece), the value count of its whole row group: a bound."""
        meta = self.handle().metadata
        return [meta.row_group(p[0]).column(leaf).num_values for p in self._pieces]


class IpcStore(_FileStore):
    format = "ipc"

    def _read_footer(self, handle: Any) -> None:
        self.schema = handle.schema
        self.group_rows = [
            handle.get_batch(i).num_rows for i in range(handle.num_record_batches)
        ] or [0]

    def _open(self) -> Any:
        source = pa.memory_map(self.path, "r") if self.fs is None else self._input()
        try:
            return pa.ipc.open_file(source)
        except pa.ArrowInvalid:
            # A stream, not a file: no random access, so materialise batches.
            source.seek(0)
            return _BatchList(pa.ipc.open_stream(source).read_all())

    def read_group(self, group: int, columns: Sequence[str] | None) -> pa.Table:
        with self._lock:
            batch = self.handle().get_batch(group)
        if columns is not None:
            batch = batch.select(list(columns))
        return pa.Table.from_batches([batch])


class MemoryStore(Store):
    format = "memory"

    def __init__(self, table: pa.Table) -> None:
        super().__init__("<table>")
        self.table = table
        self.schema = table.schema
        self._batches = table.to_batches()
        self.group_rows = [b.num_rows for b in self._batches] or [0]
        self.token = ("memory", id(table))

    def read_group(self, group: int, columns: Sequence[str] | None) -> pa.Table:
        batch = self._batches[group]
        if columns is not None:
            batch = batch.select(list(columns))
        return pa.Table.from_batches([batch])

    def read(self, columns: Sequence[str]) -> pa.Table:
        return self.table.select(list(columns))


class LanceStore(Store):
    """A Lance dataset: every row is its own group, read with a ``take``."""

    format = "lance"

    def __init__(self, uri: str, location: str) -> None:
        super().__init__(location)
        self.uri = uri
        self._handle: Any = None
        ds = self.handle()
        self.schema = ds.schema
        n = ds.count_rows()
        self.group_rows = [1] * n or [0]
        self.token = ("lance", uri, ds.version)

    def handle(self) -> Any:
        if self._handle is None:
            lance = _import_extra("lance", "lance")
            self._handle = lance.dataset(self.uri)
        return self._handle

    def read_group(self, group: int, columns: Sequence[str] | None) -> pa.Table:
        with self._lock:
            return self.handle().take(
                [group], columns=None if columns is None else list(columns)
            )

    def read(self, columns: Sequence[str]) -> pa.Table:
        with self._lock:
            return self.handle().to_table(columns=list(columns))


class MultiStore(Store):
    """Several files of one table (a warehouse table's data files) as one store.

    Groups are the parts' groups in file order. Every part must have the
    same columns and types: a file that differs is named, never cast silently.
    """

    def __init__(self, parts: Sequence[Store], location: str) -> None:
        super().__init__(location)
        if not parts:
            raise CorruptFileError("holds no data files", path=location)
        first = parts[0]
        for part in parts[1:]:
            if not part.schema.remove_metadata().equals(first.schema.remove_metadata()):
                diff = sorted(set(part.schema.names) ^ set(first.schema.names))
                raise SchemaError(
                    "its data files do not share one schema"
                    + (f" (columns {diff[:5]})" if diff else " (column types differ)"),
                    path=part.location,
                    hint=f"compare it with {first.location}",
                )
        self.parts = list(parts)
        self.format = first.format
        self.nested_projection = all(p.nested_projection for p in parts)
        self.schema = first.schema
        self.token = ("multi", *(p.token for p in parts))
        self._where = [
            (k, g) for k, p in enumerate(parts) for g in range(len(p.group_rows))
        ]
        self.group_rows = [n for p in parts for n in p.group_rows]

    def read_group(self, group: int, columns: Sequence[str] | None) -> pa.Table:
        k, g = self._where[group]
        return self.parts[k].read_group(g, columns)

    def read(self, columns: Sequence[str]) -> pa.Table:
        return pa.concat_tables([p.read(columns) for p in self.parts])

    def leaves(self) -> list[str] | None:
        return self.parts[0].leaves()

    def leaf_value_counts(self, leaf: int) -> list[int] | None:
        counts = [p.leaf_value_counts(leaf) for p in self.parts]
        if any(c is None for c in counts):
            return None
        return [n for c in counts for n in c or []]


class VortexStore(Store):
    """A Vortex file: every row is its own group, read with an indexed scan.

    Vortex returns ``string_view`` (and drops schema metadata): values are
    cast back to the plain Arrow types of the OME-Arrow schema.
    """

    format = "vortex"

    def __init__(self, path: str, location: str) -> None:
        super().__init__(location)
        self.path = path
        self._handle: Any = None
        f = self.handle()
        self.schema = pa.schema(
            [pa.field(fl.name, plain_type(fl.type)) for fl in f.dtype.to_arrow_schema()]
        )
        self.group_rows = [1] * int(f.footer.row_count) or [0]
        stat = os.stat(path)
        self.token = ("vortex", str(Path(path).resolve()), stat.st_mtime_ns)

    def handle(self) -> Any:
        if self._handle is None:
            self._handle = _import_extra("vortex", "vortex").open(self.path)
        return self._handle

    def _scan(self, columns: Sequence[str] | None, rows: list[int] | None) -> pa.Table:
        vx = _import_extra("vortex", "vortex")
        names = list(columns) if columns is not None else self.schema.names
        indices = None if rows is None else vx.array(pa.array(rows, pa.uint64()))
        with self._lock:
            got = self.handle().scan(projection=names, indices=indices).read_all()
        arr = got.to_arrow_array()
        table = pa.Table.from_struct_array(arr) if len(arr) else None
        target = pa.schema([self.schema.field(n) for n in names])
        if table is None:
            return target.empty_table()
        return table.select(names).cast(target)

    def read_group(self, group: int, columns: Sequence[str] | None) -> pa.Table:
        return self._scan(columns, [group])

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


def _import_extra(module: str, extra: str) -> Any:
    try:
        return __import__(module)
    except ImportError as exc:
        raise UnsupportedError(
            f"reading this format needs the {module!r} package",
            hint=f"pip install 'arrowscope[{extra}]'",
        ) from exc


def open_store(
    source: PathLike | pa.Table | Sequence[PathLike],
    filesystem: pafs.FileSystem | None = None,
    *,
    info: pafs.FileInfo | None = None,
) -> Store:
    """Open the store that holds ``source`` (a path, a URI or a table).

    ``info``: the remote path's ``FileInfo`` when the caller has it already.
    """
    if isinstance(source, pa.Table):
        return MemoryStore(source)
    if isinstance(source, Store):  # a store of another layer (an Iceberg table)
        return source
    if isinstance(source, (list, tuple)):  # the data files of one table
        if len(source) == 1:
            return open_store(source[0], filesystem)
        parts = [open_store(s, filesystem) for s in source]
        return MultiStore(parts, os.path.dirname(os.fspath(source[0])))
    location = os.fspath(source)
    fs, path = filesystem_of(source, filesystem)
    try:
        if fs is not None and info is None:
            info = fs.get_file_info(path)
    except PermissionError as exc:
        raise denied(location) from exc
    except (OSError, pa.ArrowInvalid) as exc:
        raise CorruptFileError(
            f"cannot reach this location: {exc}",
            path=location,
            hint="check the URI, the endpoint and the credentials",
        ) from exc
    fmt = _by_suffix(path) if fs is not None else None
    # Remote files named for their format skip the magic-bytes read (one request
    # less); Parquet's trailing magic and footer are checked when it opens.
    fmt = fmt or sniff(fs, path, info)
    try:
        if fmt == "parquet":
            return ParquetStore(fs, path, location, info)
        if fmt == "ipc":
            return IpcStore(fs, path, location, info)
        if fmt == "lance":
            if fs is not None and filesystem is not None:
                raise UnsupportedError(
                    "Lance datasets are opened by URI, not through a filesystem object",
                    path=location,
                )
            return LanceStore(location if fs is not None else path, location)
        if fmt == "vortex":
            if fs is not None:
                raise UnsupportedError(
                    "Vortex files are read from local paths only", path=location
                )
            return VortexStore(path, location)
    except (pa.ArrowException, OSError) as exc:  # IndexError too: bad offsets
        if isinstance(exc, PermissionError):
            raise denied(location) from exc
        raise CorruptFileError(
            f"cannot read the {fmt} footer: {exc}",
            path=location,
            hint="the file may be truncated or still being written",
        ) from exc
    raise _not_a_table(fs, path, location)


def _by_suffix(path: str) -> str | None:
    """A remote file's format by its name, where the name says it for sure
    (Parquet and IPC check their magic when they open)."""
    fmt = by_name(path, TABLE_FORMATS)
    return fmt.name if fmt is not None and fmt.magic and not fmt.extra else None


_CONVERT_HINT = "convert it first: arrowscope convert {name} {stem}.ome.parquet"


def describe_foreign(path: Path) -> tuple[str, str | None]:
    """What a path that is not a Parquet/IPC table is, and what to do about it."""
    name, stem = path.name, path.name.split(".")[0] or "image"
    convert = _CONVERT_HINT.format(name=str(path), stem=stem)
    if not os.path.lexists(path):
        return "no such file or folder", None
    kind = special_kind(path)
    if kind is not None:
        return (
            f"is a {kind}, not a file (reading it could wait forever); "
            "nothing was opened",
            "copy the data into a file and open that",
        )
    if path.is_dir():
        from .formats import hcs_plate_field, is_zarr_folder

        field = hcs_plate_field(path)
        if field is not None:
            well = field.replace("/", "")
            return (
                "is an OME-Zarr HCS plate, not an OME-Arrow table",
                f"open it as the images of a profile table (arrowscope view "
                f"--profiles TABLE --image-table {path}), or convert one field: "
                f"arrowscope convert {path}/{field} {well}.ome.parquet",
            )
        if is_zarr_folder(path):
            return "is a Zarr folder, not an OME-Arrow table", _CONVERT_HINT.format(
                name=str(path), stem=stem if path.name != stem else path.name
            )
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
        raise denied(str(path)) from exc
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}", None
    if size == 0:
        return "is an empty file", "was it still being written?"
    image = by_magic(head, IMAGE_FORMATS)
    if image is not None:
        title = "TIFF" if image.title.endswith("TIFF") else image.title
        article = "an" if title[0] in "AEIOU" else "a"
        return f"is {article} {title} image, not an OME-Arrow table", convert
    if by_name(name, TEXT_FORMATS) is not None:
        return "is a CSV/TSV table, not an OME-Arrow table", None
    return (
        "is not a Parquet or Arrow IPC file (bad magic bytes)",
        "is the file truncated or of another format?",
    )


def _not_a_table(fs: pafs.FileSystem | None, path: str, location: str) -> Exception:
    if fs is not None:
        info = fs.get_file_info(path)
        if info.type == pafs.FileType.NotFound:
            return MissingFileError("no such file or folder", path=location)
        return CorruptFileError(
            "is not a Parquet, Arrow IPC or Lance table", path=location
        )
    what, hint = describe_foreign(Path(path))
    return CorruptFileError(what, path=location, hint=hint)
