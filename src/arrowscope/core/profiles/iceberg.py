"""CytoTable's Iceberg warehouses, read (and written to) through ``pyiceberg``.

A CytoTable warehouse root holds ``warehouse/catalog.json``: a small registry
``{"namespaces": [...], "tables": {"<ns>.<table>": "<metadata location>"},
"views": {...}}`` whose metadata locations are absolute ``file://`` URIs of
the machine that wrote it. Each table is read as a pyiceberg
:class:`~pyiceberg.table.StaticTable` from that metadata file, so the current
snapshot decides which data files hold the table: files left behind by an
overwrite or a delete are never read (globbing ``data/*.parquet`` would).

A warehouse that was moved or copied still opens: a recorded location that is
not under the root is looked up under it by its trailing path, and the
table's own recorded location is mapped onto the folder it now lives in for
every file pyiceberg reads (manifest lists, manifests, data and delete files)
through a file IO whose local filesystem rewrites that prefix.

When the current snapshot has no delete files and the table one schema, the
table is exactly the union of its data files: those are handed to the store
layer and read lazily, column by column. Otherwise :class:`IcebergStore`, a
store of the same interface, reads through pyiceberg (deletes applied,
columns of older schemas mapped), one scan task or a few columns at a time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlparse

import pyarrow as pa
import pyarrow.fs as pafs

from ..errors import AccessError, CorruptFileError, UnsupportedError

REGISTRY = "catalog.json"
_REROOT = "arrowscope.reroot"


def _pyiceberg() -> Any:
    try:
        import pyiceberg.table
    except ImportError as exc:  # pragma: no cover - the extra is in the test set
        raise UnsupportedError(
            "reading an Iceberg warehouse needs the 'pyiceberg' package",
            hint="pip install 'arrowscope[iceberg]'",
        ) from exc
    return pyiceberg


def local_path(location: str) -> Path:
    """The local path of a ``file://`` URI or a plain path."""
    parsed = urlparse(location)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path) if parsed.scheme else location)
    raise UnsupportedError(
        f"names a table in {parsed.scheme}:// storage; warehouses are read from "
        "local folders",
        path=location,
    )


def read_registry(path: Path) -> dict[str, Any]:
    """The registry's JSON, checked for the shape CytoTable writes."""
    try:
        text = path.read_text()
    except PermissionError as exc:
        raise AccessError("cannot be read: permission denied", path=path) from exc
    except OSError as exc:
        raise CorruptFileError(f"cannot be read: {exc}", path=path) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CorruptFileError(
            f"is not valid JSON ({exc.msg}, line {exc.lineno})",
            path=path,
            hint="the warehouse registry may have been cut short; restore it "
            "from a copy of the warehouse",
        ) from exc
    tables = data.get("tables") if isinstance(data, dict) else None
    if not isinstance(tables, dict) or not all(
        isinstance(k, str) and "." in k and isinstance(v, str)
        for k, v in tables.items()
    ):
        raise CorruptFileError(
            'is not a warehouse registry: no "tables" mapping of '
            '"<namespace>.<table>" to metadata locations',
            path=path,
        )
    return data


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Replace a registry or manifest atomically (arrowscope's one atomic
    writer): a reader sees the old file or the new one, never half of it."""
    from ..images.atomic import atomic_target

    with atomic_target(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True))


def find_under(base: Path, location: str) -> Path | None:
    """``location`` itself when under ``base``, else the longest trailing part
    of it that exists under ``base`` (a moved or copied warehouse)."""
    recorded = local_path(location)
    try:
        if recorded.resolve().is_relative_to(base.resolve()) and recorded.is_file():
            return recorded
    except OSError:
        pass
    parts = PurePosixPath(recorded.as_posix()).parts
    for i in range(1, len(parts)):
        candidate = base.joinpath(*parts[i:])
        if candidate.is_file():
            return candidate
    return None


class _RerootHandler(pafs.FileSystemHandler):  # type: ignore[misc]
    """The local filesystem, with recorded folder prefixes mapped to new ones."""

    def __init__(self, mapping: Mapping[str, str]) -> None:
        self.fs = pafs.LocalFileSystem()
        self.mapping = sorted(mapping.items(), key=lambda kv: -len(kv[0]))

    def map(self, path: str) -> str:
        for old, new in self.mapping:
            if path == old or path.startswith(old.rstrip("/") + "/"):
                return new + path[len(old) :]
        return path

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _RerootHandler) and other.mapping == self.mapping

    def __ne__(self, other: object) -> bool:
        return not self == other

    def get_type_name(self) -> str:
        return "arrowscope-reroot"

    def normalize_path(self, path: str) -> str:
        return path

    def get_file_info(self, paths: list[str]) -> list[pafs.FileInfo]:
        return self.fs.get_file_info([self.map(p) for p in paths])  # type: ignore[no-any-return]

    def get_file_info_selector(
        self, selector: pafs.FileSelector
    ) -> list[pafs.FileInfo]:
        return self.fs.get_file_info(  # type: ignore[no-any-return]
            pafs.FileSelector(
                self.map(selector.base_dir),
                selector.allow_not_found,
                selector.recursive,
            )
        )

    def create_dir(self, path: str, recursive: bool) -> None:
        self.fs.create_dir(self.map(path), recursive=recursive)

    def delete_dir(self, path: str) -> None:
        self.fs.delete_dir(self.map(path))

    def delete_dir_contents(self, path: str, missing_dir_ok: bool = False) -> None:
        self.fs.delete_dir_contents(self.map(path), missing_dir_ok=missing_dir_ok)

    def delete_root_dir_contents(self) -> None:
        raise OSError("refused: would delete everything")

    def delete_file(self, path: str) -> None:
        self.fs.delete_file(self.map(path))

    def move(self, src: str, dest: str) -> None:
        self.fs.move(self.map(src), self.map(dest))

    def copy_file(self, src: str, dest: str) -> None:
        self.fs.copy_file(self.map(src), self.map(dest))

    def open_input_stream(self, path: str) -> Any:
        return self.fs.open_input_stream(self.map(path))

    def open_input_file(self, path: str) -> Any:
        return self.fs.open_input_file(self.map(path))

    def open_output_stream(self, path: str, metadata: Any) -> Any:
        return self.fs.open_output_stream(self.map(path), metadata=metadata)

    def open_append_stream(self, path: str, metadata: Any) -> Any:
        return self.fs.open_append_stream(self.map(path), metadata=metadata)


def _file_io_class() -> type:
    from pyiceberg.io.pyarrow import PyArrowFileIO

    class RerootedFileIO(PyArrowFileIO):  # type: ignore[misc]
        """pyiceberg's pyarrow file IO on a re-rooted local filesystem."""

        def _initialize_local_fs(self) -> Any:
            mapping = json.loads(self.properties.get(_REROOT, "{}"))
            return pafs.PyFileSystem(_RerootHandler(mapping))

    return RerootedFileIO


_IO_CLASS: list[type] = []


def __getattr__(name: str) -> Any:
    """``RerootedFileIO``: where pyiceberg finds the re-rooting file IO
    (``py-io-impl``), built on first use so importing this needs no pyiceberg."""
    if name == "RerootedFileIO":
        if not _IO_CLASS:
            _IO_CLASS.append(_file_io_class())
        return _IO_CLASS[0]
    raise AttributeError(name)


def _recorded_location(metadata_file: Path) -> str | None:
    try:
        with open(metadata_file) as f:
            location = json.load(f).get("location")
    except (OSError, ValueError) as exc:
        raise CorruptFileError(
            f"is not a readable Iceberg metadata file: {exc}", path=metadata_file
        ) from exc
    return location if isinstance(location, str) else None


class IcebergTable:
    """One table of the registry, opened as a pyiceberg ``StaticTable``."""

    def __init__(self, base: Path, name: str, location: str, registry: Path) -> None:
        _pyiceberg()
        self.name = name
        self.recorded = location
        found = find_under(base, location)
        if found is None:
            raise CorruptFileError(
                f"names metadata for table {name} that is not in the warehouse: "
                f"{location}",
                path=registry,
                hint="the table's metadata folder is missing; copy the whole "
                "warehouse root",
            )
        self.metadata_file = found
        self._mapping: dict[str, str] = {}
        old = _recorded_location(found)
        new_dir = found.parent.parent  # <table>/metadata/<file>
        if old is not None:
            old_dir = str(local_path(old)).rstrip("/")
            if Path(old_dir) != new_dir:
                self._mapping[old_dir] = str(new_dir)
        self._table: Any = None
        self._tasks: list[Any] | None = None

    @property
    def moved(self) -> bool:
        """Whether the table was read from another folder than it records."""
        return bool(self._mapping)

    def reroot(self, path: str) -> Path:
        """The local path of a file the table's metadata names."""
        return Path(_RerootHandler(self._mapping).map(str(local_path(path))))

    @property
    def table(self) -> Any:
        if self._table is None:
            from pyiceberg.table import StaticTable

            props: dict[str, str] = {}
            if self._mapping:
                props = {
                    "py-io-impl": f"{__name__}.RerootedFileIO",
                    _REROOT: json.dumps(self._mapping),
                }
            try:
                self._table = StaticTable.from_metadata(
                    self.metadata_file.as_uri(), properties=props
                )
            except (OSError, ValueError) as exc:
                raise CorruptFileError(
                    f"cannot be read as Iceberg table metadata: {exc}",
                    path=self.metadata_file,
                ) from exc
        return self._table

    def tasks(self) -> list[Any]:
        """The current snapshot's file scan tasks (manifests read once)."""
        if self._tasks is None:
            try:
                self._tasks = list(self.table.scan().plan_files())
            except (OSError, ValueError) as exc:
                raise CorruptFileError(
                    f"table {self.name}: cannot read its manifests: {exc}",
                    path=self.metadata_file,
                    hint="a manifest or manifest list of the current snapshot "
                    "is missing or damaged",
                ) from exc
        return self._tasks

    @property
    def direct(self) -> bool:
        """Whether the data files alone are the table (no deletes, one schema)."""
        from pyiceberg.manifest import FileFormat

        return len(self.table.metadata.schemas) == 1 and all(
            not t.delete_files and t.file.file_format == FileFormat.PARQUET
            for t in self.tasks()
        )

    def files(self) -> list[Path]:
        """The current snapshot's data files, local, in manifest order."""
        files = [self.reroot(t.file.file_path) for t in self.tasks()]
        missing = [f for f in files if not f.is_file()]
        if missing:
            raise CorruptFileError(
                f"table {self.name}: {len(missing)} data file(s) of the current "
                "snapshot are missing",
                path=missing[0],
                hint="copy the whole warehouse root",
            )
        return files

    @property
    def rows(self) -> int:
        if self.direct:
            return sum(int(t.file.record_count) for t in self.tasks())
        return int(sum(self.source().group_rows))

    def source(self) -> list[Path] | Any:
        """What the store layer opens: the data files themselves, or an
        :class:`IcebergStore` reading through pyiceberg (deletes applied)."""
        if self.direct:
            return self.files()
        if getattr(self, "_store", None) is None:
            self._store = IcebergStore(self)
        return self._store

    @property
    def properties(self) -> dict[str, str]:
        return dict(self.table.metadata.properties)


def _store_base() -> type:
    from ..images.stores import Store

    return Store


class IcebergStore(_store_base()):  # type: ignore[misc]
    """An Iceberg table with deletes or several schemas, as one store.

    Its groups are the current snapshot's file scan tasks; a group or a
    column read goes through pyiceberg's ``ArrowScan`` (positional and
    equality deletes applied, columns of older schemas mapped), reading only
    the columns asked for. Row counts come from each task's record count, or,
    where deletes apply, from a scan of one column.
    """

    format = "iceberg"

    def __init__(self, table: IcebergTable) -> None:
        import pyarrow.parquet as pq

        super().__init__(str(table.metadata_file))
        self.iceberg = table
        self.tasks = table.tasks()
        meta = table.table.metadata
        self.token = ("iceberg", str(table.metadata_file), meta.current_snapshot_id)
        logical = table.table.schema().as_arrow()
        stored: dict[str, pa.Field] = {}
        if self.tasks:  # the data files' own types where they have the column
            first = table.reroot(self.tasks[0].file.file_path)
            stored = {f.name: f for f in pq.read_schema(first)}
        self.schema = pa.schema(
            [
                pa.field(f.name, stored[f.name].type if f.name in stored else f.type)
                for f in logical
            ]
        )
        first_column = self.schema.names[:1]
        self.group_rows = [
            int(t.file.record_count)
            if not t.delete_files
            else self._scan([t], first_column).num_rows
            for t in self.tasks
        ] or [0]

    def _scan(self, tasks: list[Any], columns: Sequence[str] | None) -> pa.Table:
        from pyiceberg.expressions import AlwaysTrue
        from pyiceberg.io.pyarrow import ArrowScan

        t = self.iceberg.table
        schema = t.schema() if columns is None else t.schema().select(*columns)
        try:
            got = ArrowScan(t.metadata, t.io, schema, AlwaysTrue()).to_table(tasks)
        except (OSError, ValueError) as exc:
            raise CorruptFileError(
                f"table {self.iceberg.name} cannot be read: {exc}",
                path=self.iceberg.metadata_file,
            ) from exc
        want = (
            self.schema
            if columns is None
            else pa.schema([self.schema.field(c) for c in columns])
        )
        return got.select(want.names).cast(want)

    def read_group(self, group: int, columns: Sequence[str] | None) -> pa.Table:
        if not self.tasks:
            return self.schema.empty_table()
        return self._scan([self.tasks[group]], columns)

    def read(self, columns: Sequence[str]) -> pa.Table:
        return (
            self._scan(self.tasks, columns)
            if self.tasks
            else (self.schema.empty_table().select(list(columns)))
        )


def write_table(
    base: Path,
    registry_path: Path,
    identifier: str,
    table: pa.Table,
    properties: Mapping[str, str],
) -> str:
    """Write ``table`` as Iceberg table ``identifier`` (``ns.name``) under ``base``
    and register it; returns the metadata location.

    The data and metadata files are written first (by pyiceberg, through a
    throw-away in-memory SQL catalog), the registry is replaced last and
    atomically: a failure before leaves the registry as it was.
    """
    _pyiceberg()
    from pyiceberg.catalog.sql import SqlCatalog

    read_registry(registry_path)  # refuse a damaged registry before writing
    namespace, _, name = identifier.partition(".")
    location = base / namespace / name
    catalog = SqlCatalog(
        "arrowscope", uri="sqlite:///:memory:", warehouse=base.resolve().as_uri()
    )
    catalog.create_namespace(namespace)
    # A new table each time (its own metadata file, fresh data files): a run
    # with other conditions has other columns; the registry then points here.
    current = catalog.create_table(
        (namespace, name),
        schema=table.schema,
        location=location.resolve().as_uri(),
        properties=dict(properties),
    )
    # The data file is arrowscope's own (page checksums, as every Parquet
    # file it writes; pyiceberg's writer has no such option), then added to
    # the table's snapshot by pyiceberg, which reads its footer for the stats.
    import uuid

    from ..images.parquet import write_parquet

    data = location / "data"
    data.mkdir(parents=True, exist_ok=True)
    part = data / f"00000-0-{uuid.uuid4()}.parquet"
    write_parquet(table, part, compression="zstd")
    current.add_files([part.resolve().as_uri()])
    registry = read_registry(registry_path)  # re-read: keep others' entries
    registry.setdefault("namespaces", [])
    if namespace not in registry["namespaces"]:
        registry["namespaces"] = sorted([*registry["namespaces"], namespace])
    registry["tables"][identifier] = current.metadata_location
    write_json(registry_path, registry)
    return str(current.metadata_location)
