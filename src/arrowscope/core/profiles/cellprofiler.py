"""CellProfiler's own outputs as profile tables, joined the way CytoTable's
``cellprofiler_sqlite`` / ``cellprofiler_csv`` presets join them.

- **ExportToDatabase (SQLite)**, one table per object (``Per_Image``,
  ``Per_Cells``, ``Per_Cytoplasm``, ``Per_Nuclei`` …, columns prefixed by
  compartment) or one ``Per_Object`` table for all compartments; any table
  name prefix (``MyExpt_Per_Image``). Read with Python's ``sqlite3``,
  read-only: opening reads the schema and the object count per image (an
  index scan); rows are read a range of images at a time, as Arrow.
- **ExportToSpreadsheet (CSV folder)**: ``Image.csv`` and one CSV per object
  without compartment prefixes; columns are renamed as CytoTable renames them
  (``AreaShape_Area`` → ``Cells_AreaShape_Area``, ``Parent_Nuclei`` →
  ``Metadata_Cells_Parent_Nuclei``, ``ImageNumber`` → ``Metadata_ImageNumber``).

Rows are the Cytoplasm objects, joined to their parent Cells and Nuclei by
image number and the ``Parent_*`` columns (without a Cytoplasm table: Cells
joined to Nuclei; else one compartment). Every image's file, path, URL and
metadata columns come along (``Image_FileName_*``, ``Image_PathName_*``,
``Image_Metadata_*``), so the rows link to their images.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..errors import CorruptFileError, SchemaError
from ..images.locations import check_regular, special_kind
from ..images.stores import MemoryStore, Store
from .cp_join import (
    _BASES,
    _IMAGE_LINKS,
    IMAGE_NUMBER,
    cytotable_name,
    join_tables,
    plan_join,
)
from .cpa import output_column

SQLITE_MAGIC = b"SQLite format 3\x00"
SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db")
#: schema metadata key: where the table came from (layout, tables, versions)
SOURCE_METADATA_KEY = b"arrowscope.cellprofiler"
#: rows per group read at once (whole images: a group may be larger), and
#: the values a group holds at most (wide tables read fewer rows a group)
GROUP_ROWS = 20_000
#: the longest one query of a database may run before it is stopped
QUERY_SECONDS = 120.0
GROUP_VALUES = 4_000_000


def is_sqlite(path: Path) -> bool:
    """Whether ``path`` is an SQLite database (by its header, not its name)."""
    if special_kind(path) is not None:  # a pipe named *.sqlite: never opened
        return False
    try:
        with open(path, "rb") as fh:
            return fh.read(16) == SQLITE_MAGIC
    except OSError:
        return False


def image_csv(folder: Path) -> Path | None:
    """A CSV export folder's image table (``Image.csv``, or ``<prefix>Image.csv``)."""
    try:
        found = sorted(folder.glob("*Image.csv"))
    except OSError:
        return None
    found = [p for p in found if special_kind(p) is None]
    exact = folder / "Image.csv"
    return exact if exact in found else (found[0] if found else None)


def is_csv_export(folder: Path) -> bool:
    """Whether ``folder`` is what ExportToSpreadsheet writes: an image CSV and
    object CSVs keyed by ``ImageNumber`` and ``ObjectNumber``."""
    if not folder.is_dir() or image_csv(folder) is None:
        return False
    return bool(_object_csvs(folder))


def _csv_header(path: Path) -> list[str]:
    """A CSV file's column names (a UTF-8 byte-order mark, quotes and Windows
    line ends as CellProfiler on Windows writes them)."""
    import csv

    with open(path, encoding="utf-8-sig", errors="replace", newline="") as fh:
        return next(csv.reader(fh), [])


def _object_csvs(folder: Path) -> dict[str, Path]:
    """Object CSVs by object name: a header with ImageNumber and ObjectNumber."""
    found: dict[str, Path] = {}
    for path in sorted(folder.glob("*.csv")):
        if special_kind(path) is not None:
            continue
        try:
            header = _csv_header(path)
        except OSError:
            continue
        if "ImageNumber" in header and "ObjectNumber" in header:
            found[path.stem] = path
    return found


# -- SQLite ----------------------------------------------------------------------
def _arrow_type(declared: str) -> pa.DataType:
    """SQLite's type affinity rules, as Arrow types."""
    text = (declared or "").upper()
    if "INT" in text:
        return pa.int64()
    if any(k in text for k in ("CHAR", "CLOB", "TEXT")):
        return pa.string()
    if "BLOB" in text or not text:
        return pa.binary()
    return pa.float64()  # REAL, FLOAT, DOUBLE, NUMERIC


def _quote(name: str) -> str:
    """An SQLite identifier, quoted (names come from the database itself)."""
    return '"' + name.replace('"', '""') + '"'


class SqliteStore(Store):
    """A CellProfiler SQLite database as one profile table, read lazily."""

    format = "cellprofiler-sqlite"

    def __init__(
        self,
        path: Path,
        *,
        image_table: str | None = None,
        object_table: str | None = None,
        group_rows: int | None = None,
        keep: Sequence[str] = (),
    ) -> None:
        super().__init__(str(path))
        self.path = Path(path)
        self._local = threading.local()
        #: image-table columns kept beside the link columns (a CPA properties
        #: file's plate and well columns, whatever their names)
        self.keep = set(keep)
        listed = self._query(
            "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view')"
        )
        names = [r[0] for r in listed]
        self._names = set(names)
        #: views are read through sqlite3 only, whose queries have a time limit
        self._views = {r[0] for r in listed if r[1] == "view"}
        self.image_table = image_table or _pick(names, "Per_Image", self.path)
        prefix = (
            self.image_table[: -len("Per_Image")]
            if self.image_table.endswith("Per_Image")
            else ""
        )
        #: the table name prefix ExportToDatabase was given (``MyExpt_``)
        self.prefix = prefix
        if object_table is None and f"{prefix}Per_Object" in names:
            object_table = f"{prefix}Per_Object"
        #: what the reader decided that the user should know
        self.notes: list[str] = []
        if object_table is not None and object_table not in names:
            self.notes.append(
                f"the object table {object_table} is not in the database; its "
                "Per_<object> tables are joined instead"
            )
            object_table = None
        self.layout = "single object table" if object_table else "one table per object"
        if object_table is not None:
            self.tables = {"Object": object_table}
        else:
            skip = {
                "Image",
                "Experiment",
                "Object",
                "Relationships",
                "RelationshipTypes",
            }
            self.tables = {
                n[len(prefix) + 4 :]: n
                for n in names
                if n.startswith(f"{prefix}Per_") and n[len(prefix) + 4 :] not in skip
            }
        if not self.tables:
            raise SchemaError(
                "has a Per_Image table but no object tables (Per_Cells, "
                "Per_Nuclei… or Per_Object)",
                path=self.path,
                hint="was 'Export measurements for all objects' off in "
                "ExportToDatabase?",
            )
        self._build_schema()
        # about four million values a group, whole images: a wide table reads
        # fewer rows at a time, so memory stays bounded whatever its width
        self._build_groups(
            group_rows or max(1000, min(GROUP_ROWS, GROUP_VALUES // len(self.schema)))
        )

    def __getstate__(self) -> dict[str, Any]:  # to a dask worker: no connection
        state = super().__getstate__()
        state.pop("_local", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._local = threading.local()

    # sqlite3 connections belong to their thread: one per thread, read-only
    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(
                    f"{self.path.resolve().as_uri()}?mode=ro", uri=True
                )
                conn.execute("PRAGMA query_only = 1")
            except sqlite3.Error as exc:
                raise CorruptFileError(
                    f"cannot open the SQLite database: {exc}", path=self.path
                ) from exc
            self._local.conn = conn
        return conn

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        conn = self._connection()
        deadline = time.monotonic() + QUERY_SECONDS
        # SQLite calls this every 100,000 steps: past the limit it interrupts
        conn.set_progress_handler(lambda: time.monotonic() > deadline, 100_000)
        try:
            return conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            if "interrupted" not in str(exc):
                raise CorruptFileError(
                    f"cannot read the SQLite database: {exc}", path=self.path
                ) from exc
            raise CorruptFileError(
                f"a query ran longer than {QUERY_SECONDS:g} s and was stopped "
                "(a view or table that never finishes?)",
                path=self.path,
                hint="check the database's views (sqlite3 DB '.schema'), or "
                "export the tables to Parquet with CytoTable",
            ) from exc
        except sqlite3.DatabaseError as exc:
            raise CorruptFileError(
                f"cannot read the SQLite database: {exc}",
                path=self.path,
                hint="is it complete? CellProfiler may still be writing it",
            ) from exc
        finally:
            conn.set_progress_handler(None, 0)

    def image_measures(self) -> pa.Table:
        """The image table's numeric measures (``Image_Count_*``,
        ``Image_ImageQuality_*``…) by ``Metadata_ImageNumber``: what field QC
        judges. One query of a few hundred rows."""
        cols = [
            (n, t)
            for n, t in self._columns(self.image_table)
            if n == "ImageNumber" or pa.types.is_integer(t) or pa.types.is_floating(t)
        ]
        rows = self._query(
            f"SELECT {', '.join(_quote(n) for n, _ in cols)} "
            f"FROM {_quote(self.image_table)} ORDER BY ImageNumber"
        )
        values = list(zip(*rows, strict=True)) if rows else [()] * len(cols)
        return pa.table(
            {
                IMAGE_NUMBER if n == "ImageNumber" else n: _as_arrow(
                    v, t, self.path, self.image_table, n
                )
                for (n, t), v in zip(cols, values, strict=True)
            }
        )

    def _columns(self, table: str) -> list[tuple[str, pa.DataType]]:
        rows = self._query(f"PRAGMA table_info({_quote(table)})")
        return [(r[1], _arrow_type(r[2])) for r in rows]

    def _build_schema(self) -> None:
        image_cols = self._columns(self.image_table)
        if "ImageNumber" not in [n for n, _ in image_cols]:
            raise SchemaError(
                "has no ImageNumber column", path=self.path, column="ImageNumber"
            )
        #: output column → (source table, source column), per compartment
        self._sources: dict[str, dict[str, str]] = {}
        columns: dict[str, list[str]] = {}
        objects: dict[str, str] = {}
        fields: dict[str, pa.Field] = {IMAGE_NUMBER: pa.field(IMAGE_NUMBER, pa.int64())}
        for comp, table in self.tables.items():
            cols = self._columns(table)
            names = [n for n, _ in cols]
            if "ImageNumber" not in names:
                raise SchemaError(
                    f"table {table} has no ImageNumber column",
                    path=self.path,
                    column="ImageNumber",
                )
            mapping: dict[str, str] = {}
            for name, dtype in cols:
                out = output_column(name)  # ImageNumber → Metadata_ImageNumber…
                mapping[out] = name
                fields.setdefault(out, pa.field(out, dtype))
            self._sources[comp] = mapping
            columns[comp] = list(mapping)
            obj = f"{comp}_Number_Object_Number"
            if obj in mapping:
                objects[comp] = obj
        self.join = plan_join(columns, objects)
        image_map = {
            IMAGE_NUMBER: "ImageNumber",
            **{
                n: n
                for n, _ in image_cols
                if n in self.keep
                or (n.startswith("Image_") and _IMAGE_LINKS.match(n[len("Image_") :]))
            },
        }
        self._sources["Image"] = image_map
        for name, dtype in image_cols:
            if name in image_map and name != "ImageNumber":
                fields.setdefault(name, pa.field(name, dtype))
        kept = [self.join.base, *self.join.parents]
        order = [IMAGE_NUMBER, *(c for c in image_map if c != IMAGE_NUMBER)]
        for comp in kept:
            order += [c for c in self._sources[comp] if c != IMAGE_NUMBER]
        order = list(dict.fromkeys(order))
        self.schema = pa.schema(
            [fields[c] for c in order], metadata={SOURCE_METADATA_KEY: self._about()}
        )

    def _about(self) -> bytes:
        facts: dict[str, Any] = {
            "format": "CellProfiler SQLite",
            "layout": self.layout,
            "image_table": self.image_table,
            "object_tables": self.tables,
            "rows": self.join.base,
            "joined": {c: list(v) for c, v in self.join.parents.items()},
            "left_out": self.join.left_out,
        }
        names = self._names
        experiment = f"{self.prefix}Per_Experiment"  # versions, run time
        cols = (
            [n for n, t in self._columns(experiment) if t != pa.binary()]
            if experiment in names
            else []
        )
        if cols:  # the pipeline itself (a blob) is left out
            row = self._query(
                f"SELECT {', '.join(map(_quote, cols))} FROM {_quote(experiment)} "
                "LIMIT 1"
            )
            if row:
                facts["experiment"] = dict(zip(cols, row[0], strict=True))
        if "Experiment_Properties" in names:
            rows = self._query(
                "SELECT object_name, field, value FROM Experiment_Properties LIMIT 1000"
            )
            facts["properties"] = [list(r) for r in rows]
        return json.dumps(facts, default=str).encode()

    def _build_groups(self, target: int) -> None:
        base = self.tables[self.join.base]
        counts = self._query(
            f"SELECT ImageNumber, COUNT(*) FROM {_quote(base)} "
            "GROUP BY ImageNumber ORDER BY ImageNumber"
        )
        #: (first image, last image) of each group, whole images per group
        self._ranges: list[tuple[int, int]] = []
        self.group_rows = []
        start, rows = None, 0
        for image, n in counts:
            if start is None:
                start = image
            rows += n
            if rows >= target:
                self._ranges.append((start, image))
                self.group_rows.append(rows)
                start, rows = None, 0
        if start is not None:
            self._ranges.append((start, counts[-1][0]))
            self.group_rows.append(rows)
        if not self.group_rows:
            self.group_rows = [0]
            self._ranges = [(0, -1)]
        self.token = (
            "cellprofiler-sqlite",
            str(self.path),
            self.path.stat().st_mtime_ns,
        )

    def _read(self, comp: str, columns: list[str], lo: int, hi: int) -> pa.Table:
        """Some output columns of one compartment (or the image table) for a
        range of images, in (image, object) order."""
        mapping = self._sources[comp]
        table = self.image_table if comp == "Image" else self.tables[comp]
        wanted = list(dict.fromkeys([IMAGE_NUMBER, *columns]))
        sql = (
            f"SELECT {', '.join(_quote(mapping[c]) for c in wanted)} "
            f"FROM {_quote(table)} WHERE ImageNumber BETWEEN ? AND ? "
            "ORDER BY ImageNumber"
        )
        if comp != "Image":
            obj = self.join.parents.get(comp, (None, None))[1] or next(
                (c for c in mapping if c.endswith("_Number_Object_Number")), None
            )
            if obj is not None:
                sql += f", {_quote(mapping[obj])}"
        schema = pa.schema([self.schema.field(c) for c in wanted]).remove_metadata()
        fast = self._read_arrow(sql, (lo, hi), schema)
        if fast is not None:
            return fast
        rows = self._query(sql, (lo, hi))
        values = list(zip(*rows, strict=True)) if rows else [()] * len(wanted)
        arrays = {}
        for name, column in zip(wanted, values, strict=True):
            dtype = self.schema.field(name).type
            arrays[name] = _as_arrow(column, dtype, self.path, table, mapping[name])
        return pa.table(arrays)

    def _read_arrow(
        self, sql: str, params: tuple[int, int], schema: pa.Schema
    ) -> pa.Table | None:
        """The query's rows straight into Arrow through the ADBC SQLite driver
        (when installed; several times faster than Python's sqlite3), cast to
        the declared types. None when the driver is absent or the values do
        not fit its inferred or the declared types (text in a number column,
        a column whose first values are integers and later ones not): the
        sqlite3 path reads those and names what is wrong."""
        used = {self.image_table, *self.tables.values()}
        conn = None if used & self._views else self._adbc()
        if conn is None:
            return None
        try:
            cursor = conn.cursor()
            try:
                cursor.execute(sql, params)
                table = cursor.fetch_arrow_table()
            finally:
                cursor.close()
            table = table.rename_columns(schema.names)
            return table.cast(schema)
        except Exception:  # noqa: BLE001 - any mismatch: the checked path
            return None

    def _adbc(self) -> Any:
        if getattr(self._local, "adbc", False) is None:
            return None  # tried: not installed
        conn = getattr(self._local, "adbc", None)
        if conn is None:
            try:
                import adbc_driver_sqlite.dbapi as dbapi

                conn = dbapi.connect(f"{self.path.resolve().as_uri()}?mode=ro")
            except Exception:  # noqa: BLE001 - absent or unusable: sqlite3
                conn = None
            self._local.adbc = conn
        return conn

    def read_group(self, group: int, columns: Sequence[str] | None) -> pa.Table:
        lo, hi = self._ranges[group]
        names = list(self.schema.names if columns is None else columns)
        parts = {}
        for comp in [self.join.base, *self.join.parents]:
            mine = [c for c in names if c in self._sources[comp]]
            link = self.join.parents.get(comp)
            if comp == self.join.base:
                mine += [p for p, _ in self.join.parents.values()]
            elif link is not None:
                mine.append(link[1])
            parts[comp] = self._read(comp, mine, lo, hi)
        image_cols = [
            c for c in names if c in self._sources["Image"] and c != IMAGE_NUMBER
        ]
        image = self._read("Image", image_cols, lo, hi) if image_cols else pa.table({})
        schema = pa.schema([self.schema.field(c) for c in names])
        return join_tables(image, parts, self.join, schema)


@dataclass
class CellProfilerOutput:
    """A CellProfiler output opened as one table, and where its images are."""

    store: Store
    #: a file in the folder its images are looked up from (table_path of links)
    beside: Path
    properties: Any = None  # cpa.Properties
    #: every file and folder opening it reads (never a write target): the
    #: database, the CSV folder, the properties file and its training set
    inputs: list[Path] = field(default_factory=list)

    @property
    def notes(self) -> list[str]:
        left = json.loads(self.store.schema.metadata[SOURCE_METADATA_KEY])["left_out"]
        notes = [f"{name} objects not joined: {why}" for name, why in left.items()]
        return [*getattr(self.store, "notes", []), *notes]


def open_properties(path: Path) -> CellProfilerOutput:
    """A CPA properties file's database, with what the properties say."""
    from .cpa import read_properties

    props = read_properties(path)
    db = props.database
    check_regular(db)
    if not is_sqlite(db):
        raise CorruptFileError(
            f"is not an SQLite database (named by db_sqlite_file in {path.name})",
            path=db,
        )
    store = SqliteStore(
        db,
        image_table=props.get("image_table"),
        object_table=props.get("object_table"),
        keep=props.named_columns,
    )
    read = [path, db, *([props.training_set] if props.training_set else [])]
    return CellProfilerOutput(store, db, props, read)


def open_sqlite(path: Path) -> CellProfilerOutput:
    """An ExportToDatabase SQLite file, objects joined to their image rows."""
    return CellProfilerOutput(SqliteStore(path), path, inputs=[path])


def open_csv_folder(path: Path) -> CellProfilerOutput:
    """An ExportToSpreadsheet folder, objects joined to their image rows."""
    image = image_csv(path)
    if image is None:
        raise SchemaError(
            "has no Image.csv: not a CellProfiler ExportToSpreadsheet folder",
            path=path,
        )
    return CellProfilerOutput(read_csv_export(path), image, inputs=[path])


def _pick(names: list[str], suffix: str, path: Path) -> str:
    found = [n for n in names if n.endswith(suffix)]
    if not found:
        raise SchemaError(
            f"has no {suffix} table: not a CellProfiler ExportToDatabase output",
            path=path,
            hint=f"tables: {', '.join(names[:8]) or 'none'}",
        )
    return min(found, key=len)


def _as_arrow(
    values: Sequence[Any], dtype: pa.DataType, path: Path, table: str, column: str
) -> pa.Array:
    """SQLite values as an Arrow array of the column's declared type.

    SQLite stores any value in any column: text in a number column is named
    (table, column, the value), never silently turned into a null.
    """
    try:
        return pa.array(values, type=dtype)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
        if pa.types.is_floating(dtype):  # ints and "nan"/"inf" spellings are fine
            try:
                return pa.array([_number(v) for v in values], type=dtype)
            except ValueError:
                pass
        if pa.types.is_string(dtype):
            return pa.array([None if v is None else str(v) for v in values], dtype)
        bad = next((v for v in values if _fails(v, dtype)), None)
        raise SchemaError(
            f"table {table} holds {bad!r} in a {dtype} column ({exc})",
            path=path,
            column=column,
            hint="CellProfiler writes numbers there; the database may be damaged",
        ) from exc


def _number(value: Any) -> float | None:
    if value is None:
        return None
    return float(value)  # raises ValueError on text that is no number


def _fails(value: Any, dtype: pa.DataType) -> bool:
    try:
        pa.array([value], type=dtype)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return True
    return False


# -- CSV folders -------------------------------------------------------------------
def read_csv_export(folder: Path) -> Store:
    """A CSV export folder as one profile table (read whole: CSV has no index)."""
    import pyarrow.csv as pcsv

    def read(path: Path, group: str) -> pa.Table:
        check_regular(path)
        header = _csv_header(path)
        doubled = sorted({c for c in header if header.count(c) > 1})
        if doubled:
            raise SchemaError(
                "names a column twice in its header",
                path=path,
                column=doubled[0],
                hint="CellProfiler writes each measurement once; was the file "
                "edited or two exports pasted together?",
            )
        ids = {c: pa.int64() for c in ("ImageNumber", "ObjectNumber") if c in header}
        try:
            table = pcsv.read_csv(
                path, convert_options=pcsv.ConvertOptions(column_types=ids)
            )
        except pa.ArrowInvalid as exc:
            if "conversion error" in str(exc):  # text in a number column
                at = re.search(r"column #(\d+)", str(exc))
                column = header[int(at.group(1))] if at else None
                value = re.search(r"invalid value (.*)$", str(exc))
                raise SchemaError(
                    "holds a value that is not a whole number"
                    + (f": {value.group(1)}" if value else ""),
                    path=path,
                    column=column,
                    hint="ImageNumber and ObjectNumber are whole numbers",
                ) from exc
            raise CorruptFileError(f"cannot parse the CSV: {exc}", path=path) from exc
        except OSError as exc:
            raise CorruptFileError(f"cannot parse the CSV: {exc}", path=path) from exc
        # a column empty in every row has no type: text in the image table,
        # a missing measurement in an object table
        empty = pa.string() if group == "Image" else pa.float64()
        for i, f in enumerate(table.schema):
            if pa.types.is_null(f.type):
                table = table.set_column(i, f.name, table.column(i).cast(empty))
        return table.rename_columns(
            [cytotable_name(c, group) for c in table.column_names]
        )

    image_path = image_csv(folder)
    assert image_path is not None
    image = read(image_path, "Image")
    measures = image  # every image column: what field QC judges
    image = image.select(
        [
            c
            for c in image.column_names
            if c == IMAGE_NUMBER
            or c in ("Metadata_Plate", "Metadata_Well")
            or (c.startswith("Image_") and _IMAGE_LINKS.match(c[len("Image_") :]))
        ]
    )
    objects = _object_csvs(folder)
    parts = {name: read(path, name) for name, path in objects.items()}
    known = {c: t for c, t in parts.items() if c in _BASES} or parts
    columns = {c: t.column_names for c, t in known.items()}
    join = plan_join(columns, {c: "Metadata_ObjectNumber" for c in known})
    kept = [join.base, *join.parents]
    base = parts[join.base]
    order = [IMAGE_NUMBER, *(c for c in image.column_names if c != IMAGE_NUMBER)]
    order += [c for c in base.column_names if c != IMAGE_NUMBER]
    for comp in join.parents:  # CytoTable: parents' object numbers are the join
        order += [
            c
            for c in parts[comp].column_names
            if c not in (IMAGE_NUMBER, "Metadata_ObjectNumber")
        ]
    order = list(dict.fromkeys(order))
    fields = {IMAGE_NUMBER: pa.field(IMAGE_NUMBER, pa.int64())}
    for table in [image, *(parts[c] for c in kept)]:
        for f in table.schema:
            fields.setdefault(f.name, f)
    left_out = {
        c: "not one of CytoTable's compartments" for c in parts if c not in known
    }
    left_out.update(join.left_out)
    about = {
        "format": "CellProfiler CSV export",
        "image_table": image_path.name,
        "object_tables": {name: path.name for name, path in objects.items()},
        "rows": join.base,
        "joined": {c: list(v) for c, v in join.parents.items()},
        "left_out": left_out,
    }
    schema = pa.schema(
        [fields[c] for c in order],
        metadata={SOURCE_METADATA_KEY: json.dumps(about).encode()},
    )
    table = join_tables(image, {c: parts[c] for c in kept}, join, schema)
    store = MemoryStore(table)
    store.location = str(folder)
    store.format = "cellprofiler-csv"
    store.image_measures = lambda: measures  # type: ignore[attr-defined]
    return store


def write_profile_table(
    output: CellProfilerOutput,
    dst: Path,
    *,
    compression: str | None = "zstd",
    progress: Any = None,
) -> Path:
    """Write the joined table to Parquet, a group of images at a time (bounded
    memory), atomically: a failure (a full disk) leaves no partial file.
    ``progress(done, total)`` is called after each group."""
    import pyarrow.parquet as pq

    from ..errors import WriteError
    from ..images.atomic import atomic_target

    if not str(dst).lower().endswith(".parquet"):
        raise WriteError(
            "a profile table is written as Parquet", path=dst, hint="name it .parquet"
        )
    store = output.store
    groups = len(store.group_rows)
    with (
        atomic_target(dst) as tmp,
        pq.ParquetWriter(tmp, store.schema, compression=compression) as writer,
    ):
        for g in range(groups):
            part = store.read_group(g, None)
            if part.num_rows:
                writer.write_table(part, row_group_size=GROUP_ROWS)
            if progress is not None:
                progress(g + 1, groups)
    return dst
