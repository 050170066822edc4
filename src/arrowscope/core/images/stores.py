"""One store interface over every place an Arrow table lives.

A :class:`~arrowscope.core.images.storebase.Store` knows one format (Parquet,
Arrow IPC, an in-memory table here; Lance and Vortex, read by row position,
in :mod:`~arrowscope.core.images.rowstores`) on one filesystem (local, or any
``pyarrow.fs`` filesystem: S3, GCS, HTTP, fsspec through
``PyFileSystem(FSSpecHandler(...))``). It offers the few things everything
above needs: the schema and metadata, the row counts of its groups (row
groups or pieces of huge ones, record batches, runs of Lance rows), reading
some columns of one group, of a span of groups, of given rows or of every
row, and a cache token. Caches, laziness, projection of nested fields and
errors live above it, once, in
:class:`~arrowscope.core.images.sources.TableSource`.

The format is chosen as ``pyarrow.dataset`` chooses: by magic bytes (Parquet
``PAR1``, IPC ``ARROW1``, Vortex ``VTXF``) and, for folders, by what they hold
(a Lance dataset's ``_versions/``), never by trying readers in turn.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs

from ..errors import (
    CorruptFileError,
    MissingFileError,
    SchemaError,
    UnsupportedError,
)
from .formats import LANCE, TABLE_FORMATS, by_magic, by_name, denied, describe_foreign
from .locations import check_regular, is_remote_text
from .parquet import parquet_file
from .storebase import Store, decoded_row_bytes, holds_images, split_rows

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


#: Row groups larger than this (uncompressed) are read in pieces of about it.
PIECE_BYTES = 64 * 2**20
_CURSORS = 2  # open sequential readers kept per file
#: a wide table's huge row group is read this many columns at a time
WIDE_COLUMNS = 16
#: the read buffer of a piece's column streams (bytes)
PIECE_BUFFER = 1 << 18
#: bytes a decoded value of a Parquet physical type takes at least
_PHYSICAL_BYTES = {"INT32": 4, "FLOAT": 4, "INT64": 8, "DOUBLE": 8, "INT96": 12}


def _decoded_bytes(group: Any, leaves: Sequence[int]) -> int:
    """What leaf columns ``leaves`` of row group ``group`` decode to, at
    least: a chunk's stored (uncompressed) size says little of it (a mask of
    zeros encodes to almost nothing), so fixed-width values count their
    number times their width."""
    total = 0
    for i in leaves:
        chunk = group.column(i)
        width = _PHYSICAL_BYTES.get(chunk.physical_type, 0)
        total += max(chunk.total_uncompressed_size, chunk.num_values * width)
    return total


def _under(paths: Sequence[str], columns: Sequence[str]) -> list[int]:
    """The leaves (by position in ``paths``) that ``columns`` name, each a
    top-level column (``crop``), a field inside one (``crop.planes``) or a
    leaf itself."""
    prefixes = tuple(f"{c}." for c in columns)
    return [
        i
        for i, path in enumerate(paths)
        if path in columns or (prefixes and path.startswith(prefixes))
    ]


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
        # What a group decodes to, at least: its flat columns by their widths
        # (a row's bytes from the schema), its nested ones (images, masks:
        # a few leaves) by their values (their stored size says little).
        flat = [f.name for f in self.schema if not pa.types.is_nested(f.type)]
        row_bytes = decoded_row_bytes(self.schema, flat) if flat else 0
        paths = [meta.schema.column(i).path for i in range(len(meta.schema))]
        nested = _under(paths, [f.name for f in self.schema if f.name not in flat])
        for g in range(meta.num_row_groups):
            rg = meta.row_group(g)
            rows = rg.num_rows
            size = max(
                rg.total_byte_size, rows * row_bytes + _decoded_bytes(rg, nested)
            )
            per = max(rows, 1)  # an empty row group is one empty piece
            if rows > 1 and size > PIECE_BYTES:
                per = max(1, int(rows * PIECE_BYTES / size))
            self._pieces += [
                (g, start, min(per, rows - start), per) for start in range(0, rows, per)
            ] or [(g, 0, 0, 1)]
        self.group_rows = [p[2] for p in self._pieces] or [0]
        self._leaves: list[str] | None = paths
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
                return self._wide_rows(rg, np.arange(start, start + rows), cols)
            return self._piece(rg, start // per, per, cols)

    def _bytes(self, rg: int, cols: list[str]) -> int:
        """Decoded bytes of ``cols`` in row group ``rg`` (at least)."""
        group = self.handle().metadata.row_group(rg)
        return _decoded_bytes(group, _under(self.leaves(), cols))

    def spans(self, columns: Sequence[str], budget: int) -> list[range]:
        """The pieces of one huge row group together up to ``budget`` bytes
        of ``columns`` (each read of part of a row group decodes its pages
        whole: fewer, larger spans decode them fewer times); whole row groups
        together only while small (a quarter of ``budget``): reading them
        apart decodes nothing twice, and memory stays near one group."""
        meta = self.handle().metadata
        row_bytes = decoded_row_bytes(self.schema, columns)
        out: list[range] = []
        held, last = 0, None  # bytes in the last span; its row group, if pieces
        for g, (rg, _start, rows, per) in enumerate(self._pieces):
            size = rows * row_bytes
            whole = per >= meta.row_group(rg).num_rows
            if out and (
                (not whole and last == rg and held + size <= budget)
                or (whole and last is None and held + size <= budget // 4)
            ):
                out[-1] = range(out[-1].start, g + 1)
                held += size
                continue
            out.append(range(g, g + 1))
            held, last = size, None if whole else rg
        return out

    def read_span(self, span: range, columns: Sequence[str] | None) -> pa.Table:
        if len(span) < 2 or columns is None or len(columns) <= WIDE_COLUMNS:
            return super().read_span(span, columns)
        rg, first = self._pieces[span.start][:2]
        last, start, rows, _ = self._pieces[span.stop - 1]
        if last != rg:  # not pieces of one row group
            return super().read_span(span, columns)
        with self._lock:  # one pass over the group's columns for every piece
            return self._wide_rows(rg, np.arange(first, start + rows), list(columns))

    def take(self, rows: np.ndarray, columns: Sequence[str]) -> pa.Table:
        """Rows of a huge row group are taken in one pass over its columns
        (a piece at a time would decode its pages once per piece)."""
        meta = self.handle().metadata
        sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
        cols = list(columns)
        parts = []
        per = {p[0]: p[3] for p in self._pieces}  # rows a piece, by row group
        for rg, mine, first in split_rows(rows, sizes):
            if per[rg] < sizes[rg] and len(cols) > WIDE_COLUMNS:
                with self._lock:
                    parts.append(self._wide_rows(rg, mine - first, cols))
            else:  # a whole row group, or a few columns of the pieces holding them
                parts.append(super().take(mine, cols))
        return self._joined(parts, cols)

    def _wide_rows(self, rg: int, rows: np.ndarray, cols: list[str]) -> pa.Table:
        """Rows ``rows`` (positions in row group ``rg``) of many columns,
        read :data:`WIDE_COLUMNS` columns of the whole group at a time and
        copied out: memory is one column batch of the group plus the rows,
        whatever the table's width (pyarrow's batch reader holds the whole
        row group of every column it reads)."""
        index = pa.array(np.asarray(rows, np.int64))
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
    """An Arrow IPC file (or stream). A compressed file's batch is
    decompressed whole when read, so reads of some columns go through a
    reader of those columns only, and the batches' rows are counted by
    reading one narrow column (counting them whole decompressed the file).
    A local table of images is memory-mapped (no copy; an image's pages are
    touched when it is shown); a flat table is read into memory, so reading
    all of it a span at a time holds one span (a mapping keeps every page it
    touched resident: 599 MiB against 397 MiB to classify 200,000 cells)."""

    format = "ipc"
    _mapped = True  # until the schema is known

    def _read_footer(self, handle: Any) -> None:
        self.schema = handle.schema
        self._mapped = holds_images(self.schema)
        self._readers: dict[tuple[int, ...], Any] = {}
        counter = handle
        if not isinstance(handle, _BatchList) and len(self.schema):
            counter = self._reader([_narrowest(self.schema)])
        self.group_rows = [
            counter.get_batch(i).num_rows for i in range(counter.num_record_batches)
        ] or [0]

    def _open(self) -> Any:
        return self._reader(None)

    def _reader(self, fields: list[int] | None) -> Any:
        if self.fs is not None:
            source = self._input()
        elif self._mapped:  # images: showing one touches its own pages only
            source = pa.memory_map(self.path, "r")
        else:  # profiles: read, so a span's pages are let go after it
            source = pa.OSFile(self.path, "rb")
        options = (
            None if fields is None else pa.ipc.IpcReadOptions(included_fields=fields)
        )
        try:
            return pa.ipc.open_file(source, options=options)
        except pa.ArrowInvalid:
            # A stream, not a file: no random access, so materialise batches.
            source.seek(0)
            return _BatchList(pa.ipc.open_stream(source).read_all())

    def __getstate__(self) -> dict[str, Any]:
        return {**super().__getstate__(), "_readers": {}}

    def read_group(self, group: int, columns: Sequence[str] | None) -> pa.Table:
        with self._lock:
            handle = self.handle()
            if columns is not None and not isinstance(handle, _BatchList):
                handle = self._projected(columns)
            batch = handle.get_batch(group)
        if columns is not None:
            batch = batch.select(list(columns))
        return pa.Table.from_batches([batch])

    def _projected(self, columns: Sequence[str]) -> Any:
        """A reader of ``columns`` only (the last two kept)."""
        key = tuple(sorted({self.schema.get_field_index(c) for c in columns}))
        if key and key[0] < 0:  # not a column: the whole batch says which
            return self.handle()
        if key not in self._readers:
            while len(self._readers) >= 2:
                self._readers.pop(next(iter(self._readers)))
            self._readers[key] = self._reader(list(key))
        return self._readers[key]


def _narrowest(schema: pa.Schema) -> int:
    """The first fixed-width column (cheap to decompress), else the first."""
    for i, field in enumerate(schema):
        try:
            field.type.bit_width  # noqa: B018 - raises for variable width
        except ValueError:
            continue
        return i
    return 0


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

    def _first_groups(self) -> list[int]:
        return np.cumsum([0, *(len(p.group_rows) for p in self.parts)]).tolist()

    def spans(self, columns: Sequence[str], budget: int) -> list[range]:
        """Each file's own spans (a span never crosses files)."""
        return [
            range(first + s.start, first + s.stop)
            for part, first in zip(self.parts, self._first_groups(), strict=False)
            for s in part.spans(columns, budget)
        ]

    def read_span(self, span: range, columns: Sequence[str] | None) -> pa.Table:
        k, g = self._where[span.start]
        if self._where[span.stop - 1][0] != k:
            return super().read_span(span, columns)
        return self.parts[k].read_span(range(g, g + len(span)), columns)

    def take(self, rows: np.ndarray, columns: Sequence[str]) -> pa.Table:
        sizes = [sum(p.group_rows) for p in self.parts]
        parts = [
            self.parts[k].take(mine - first, columns)
            for k, mine, first in split_rows(rows, sizes)
        ]
        return self._joined(parts, columns)

    def leaves(self) -> list[str] | None:
        return self.parts[0].leaves()

    def leaf_value_counts(self, leaf: int) -> list[int] | None:
        counts = [p.leaf_value_counts(leaf) for p in self.parts]
        if any(c is None for c in counts):
            return None
        return [n for c in counts for n in c or []]


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
        if fmt in ("lance", "vortex"):
            from .rowstores import LanceStore, VortexStore
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
