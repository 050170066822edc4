"""CellProfiler Analyst's files: the properties file and training sets.

A properties file (``key = value`` lines) names the database, its tables and
keys, the channels and their colours, the columns the classifier ignores and
the training set; :func:`read_properties` reads it and arrowscope honours
all of that. A training set (CPA's Classifier "Save training set") is a text
file: a ``label`` line naming the classes, then one line per cell — its class,
its object key (image number, object number; with a table number first when
the properties give ``table_id``) and its x, y position.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..errors import CorruptFileError, SchemaError, UnsupportedError
from ..images.locations import check_regular, special_kind
from .keys import KeyRoles

CLASS_COLUMN = "Metadata_class"
PROPERTIES_SUFFIX = ".properties"
_LINE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


def output_column(name: str) -> str:
    """A CellProfiler column as the profile table names it (CytoTable style)."""
    return {
        "ImageNumber": "Metadata_ImageNumber",
        "ObjectNumber": "Metadata_ObjectNumber",
        "TableNumber": "Metadata_TableNumber",
    }.get(name, name)


def _list(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


@dataclass
class Properties:
    """A CellProfiler Analyst properties file, read."""

    path: Path
    values: dict[str, str]

    def get(self, key: str) -> str | None:
        value = self.values.get(key)
        return value if value else None

    @property
    def database(self) -> Path:
        """The SQLite file it names, relative to the properties file."""
        kind = (self.get("db_type") or "").lower()
        if kind != "sqlite":
            raise UnsupportedError(
                f"db_type = {kind or '(none)'}: only SQLite databases are read",
                path=self.path,
                hint="export the MySQL tables to SQLite or Parquet (CytoTable), "
                "or point a copy of the properties at an SQLite file",
            )
        name = self.get("db_sqlite_file")
        if name is None:
            raise SchemaError(
                "names no db_sqlite_file", path=self.path, column="db_sqlite_file"
            )
        db = Path(name)
        return db if db.is_absolute() else self.path.parent / db

    @property
    def channels(self) -> list[str]:
        return _list(self.get("image_names"))

    @property
    def channel_colors(self) -> dict[str, str]:
        colors = _list(self.get("image_channel_colors"))
        return dict(zip(self.channels, colors, strict=False))

    @property
    def ignore(self) -> list[str]:
        """``classifier_ignore_columns``: regular expressions of column names."""
        return [output_column(c) for c in _list(self.get("classifier_ignore_columns"))]

    @property
    def training_set(self) -> Path | None:
        name = self.get("training_set")
        if name is None:
            return None
        path = Path(name)
        return path if path.is_absolute() else self.path.parent / path

    @property
    def named_columns(self) -> list[str]:
        """Every column the properties name (kept whatever its name)."""
        single = ("plate_id", "well_id", "cell_x_loc", "cell_y_loc")
        out = [v for k in single if (v := self.get(k))]
        for k in ("image_file_cols", "image_path_cols"):
            out += _list(self.get(k))
        return out

    def plate_keys(self, columns: list[str]) -> tuple[str | None, str] | None:
        """The plate and well columns ``plate_id`` and ``well_id`` name (None
        when the properties name no well column the table has)."""
        well = self.get("well_id")
        if well is None or well not in columns:
            return None
        plate = self.get("plate_id")
        return (plate if plate in columns else None), well

    @property
    def object_key(self) -> list[str]:
        """The table's columns that key an object: table, image and object ids."""
        ids = [self.get("table_id"), self.get("image_id") or "ImageNumber"]
        ids.append(self.get("object_id") or "ObjectNumber")
        return [output_column(c) for c in ids if c]

    def keys(self, detected: KeyRoles, columns: list[str]) -> KeyRoles:
        """Key roles from the properties, over what was detected."""
        keys = KeyRoles(**detected.to_dict())
        missing = [c for c in self.object_key if c not in columns]
        if missing:
            raise SchemaError(
                "its key column is not in the object table",
                path=self.path,
                column=missing[0],
            )
        *image, obj = self.object_key
        keys.image = image
        x, y = self.get("cell_x_loc"), self.get("cell_y_loc")
        compartment = (x or "").split("_", 1)[0] if x and "_" in x else None
        compartment = compartment or detected.compartment or "Object"
        keys.objects = {**keys.objects, compartment: obj}
        keys.compartment = compartment
        if x and y:
            for c in (x, y):
                if c not in columns:
                    raise SchemaError(
                        "cell_x_loc / cell_y_loc name a column the table lacks",
                        path=self.path,
                        column=c,
                    )
            keys.center = (x, y)
            if keys.bbox and not keys.bbox[0].startswith(compartment):
                keys.bbox = None
        files = _list(self.get("image_file_cols"))
        paths = _list(self.get("image_path_cols"))
        names = self.channels or [f.removeprefix("Image_FileName_") for f in files]
        if files:
            if len(names) != len(files):
                raise SchemaError(
                    f"image_names lists {len(names)} channels, image_file_cols "
                    f"{len(files)} columns",
                    path=self.path,
                    column="image_names",
                )
            keys.files = dict(zip(names, files, strict=True))
            keys.paths = dict(zip(names, paths, strict=False))
        return keys


def read_properties(path: str | Path) -> Properties:
    """Read a properties file (``key = value``; ``#`` comments)."""
    path = Path(path)
    check_regular(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise CorruptFileError(f"cannot read: {exc}", path=path) from exc
    values: dict[str, str] = {}
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        match = _LINE.match(line)
        if match:
            values[match.group(1)] = match.group(2)
    if "db_type" not in values:
        raise CorruptFileError(
            "is not a CellProfiler Analyst properties file (no db_type)", path=path
        )
    return Properties(path, values)


def is_properties(path: Path) -> bool:
    return path.suffix.lower() == PROPERTIES_SUFFIX and path.is_file()


def is_training_set(path: Path) -> bool:
    """Whether ``path`` is a CPA training set (text: comments, a ``label`` line)."""
    if path.suffix.lower() in (".parquet", ".csv", ".tsv", ".arrow", ".feather"):
        return False
    if special_kind(path) is not None:
        return False
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.strip() and not line.lstrip().startswith("#"):
                    return line.split()[0] == "label"
    except OSError:
        return False
    return False


def read_training_set(path: str | Path, key: list[str]) -> pa.Table:
    """A CPA training set as a labels table: the ``key`` columns (the object
    key the properties give, e.g. Metadata_ImageNumber, Metadata_ObjectNumber)
    and ``Metadata_class``."""
    path = Path(path)
    check_regular(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CorruptFileError(
            f"cannot read the training set: {exc}", path=path
        ) from exc
    classes: list[str] | None = None
    columns: dict[str, list[Any]] = {c: [] for c in [*key, CLASS_COLUMN]}
    for number, line in enumerate(lines, start=1):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        if parts[0] == "label":
            classes = parts[1:]
            continue
        if classes is None:
            raise CorruptFileError(
                "has no 'label' line before its cells", path=path, row=number
            )
        if len(parts) < 1 + len(key):
            raise CorruptFileError(
                f"line {number} holds {len(parts)} values; a cell needs its class "
                f"and {len(key)} key values",
                path=path,
                row=number,
            )
        if parts[0] not in classes:
            raise CorruptFileError(
                f"line {number}: class {parts[0]!r} is not on the label line "
                f"({', '.join(classes)})",
                path=path,
                row=number,
            )
        try:
            ids = [int(float(v)) for v in parts[1 : 1 + len(key)]]
        except ValueError as exc:
            raise CorruptFileError(
                f"line {number}: the object key is not numbers", path=path, row=number
            ) from exc
        for column, value in zip(key, ids, strict=True):
            columns[column].append(value)
        columns[CLASS_COLUMN].append(parts[0])
    table = pa.table(
        {
            c: pa.array(v, pa.string() if c == CLASS_COLUMN else pa.int64())
            for c, v in columns.items()
        }
    )
    return table.replace_schema_metadata(
        {b"arrowscope.classes": " ".join(classes or []).encode()}
    )


def write_training_set(
    path: str | Path,
    labels: pa.Table,
    key: list[str],
    *,
    positions: pa.Table | None = None,
    properties: Path | None = None,
) -> Path:
    """Write ``labels`` (key columns + ``Metadata_class``) as a CPA training
    set CPA's Classifier loads; ``positions``: each label's x, y (else 0 0)."""
    from ..images.atomic import atomic_target

    classes = list(dict.fromkeys(labels.column(CLASS_COLUMN).to_pylist()))
    if any(not c or any(ch.isspace() for ch in str(c)) for c in classes):
        raise SchemaError(
            "CPA class names cannot hold spaces or be empty", column=CLASS_COLUMN
        )
    ids = [labels.column(c).to_pylist() for c in key]
    xy = (
        [positions.column(i).to_pylist() for i in range(2)]
        if positions is not None
        else [[0] * labels.num_rows] * 2
    )
    lines = [
        f"# Training set created while using properties: {properties or ''}",
        "label " + " ".join(classes),
    ]
    for i, cls in enumerate(labels.column(CLASS_COLUMN).to_pylist()):
        key_text = " ".join(str(int(col[i])) for col in ids)
        lines.append(f"{cls} {key_text} {xy[0][i]} {xy[1][i]}")
    with atomic_target(Path(path)) as tmp:
        Path(tmp).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Path(path)
