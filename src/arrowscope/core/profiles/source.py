"""A profile table's rows as stored: Parquet or Arrow IPC (footer only at open,
columns on demand), Lance, CSV, a warehouse table's files or store, or a table
in memory. No links, no images: the bottom of the profiles package besides
the key roles.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa

from ..errors import ArrowscopeError, CorruptFileError, MissingFileError, SchemaError


def read_profile_table(path: Path, columns: Sequence[str] | None = None) -> pa.Table:
    """Read ``columns`` (all when None) of a Parquet, Arrow IPC or CSV table."""
    src = TableRows(path)
    return src.read(columns if columns is not None else src.schema.names)


class TableRows:
    """The rows of a profile table, wherever they are: a Parquet, IPC, Lance or
    Vortex file or URI through :class:`TableSource` (footer only at open), a
    CSV file, a warehouse table's data files or store, or an in-memory table."""

    def __init__(self, path: Path | str | pa.Table | Sequence[Path]) -> None:
        from ..images.sources import TableSource, sniff_format

        #: columns kept beside the stored ones (:meth:`add_columns`)
        self.extra: dict[str, pa.Array] = {}
        from ..images.stores import is_uri

        if isinstance(path, pa.Table):
            self.path: Path | None = None
            self.source = TableSource(path)
            self.schema: pa.Schema = path.schema
            return
        from ..images.stores import Store

        if isinstance(path, (list, tuple, Store)):  # a warehouse table's files
            self.source = TableSource(path)
            self.path = Path(self.source.path) if self.source.path else None
            self.schema = self.source.schema
            return
        if is_uri(path):  # a table in object storage (Parquet/IPC/Lance)
            self.path = None
            self.source = TableSource(path)
            self.schema = self.source.schema
            return
        self.path = Path(path)
        if self.path.is_dir() and sniff_format(self.path) == "lance":
            self.source = TableSource(self.path)  # a Lance dataset folder
            self.schema = self.source.schema
            return
        if not self.path.is_file() or self.path.stat().st_size == 0:
            raise not_a_table_error(self.path)
        if sniff_format(self.path) is None:
            if self.path.suffix.lower() not in (".csv", ".tsv", ".gz"):
                raise CorruptFileError(
                    "not a Parquet, Arrow IPC or CSV table",
                    path=self.path,
                    hint="profile tables are .parquet, .arrow/.feather or .csv files",
                )
            import pyarrow.csv as pcsv

            delim = "\t" if ".tsv" in self.path.suffixes else ","
            try:
                table = pcsv.read_csv(
                    self.path, parse_options=pcsv.ParseOptions(delimiter=delim)
                )
            except pa.ArrowInvalid as exc:
                raise CorruptFileError(
                    f"cannot parse the CSV: {exc}", path=self.path
                ) from exc
            self.source = TableSource(table)
        else:
            self.source = TableSource(self.path)
        self.schema = self.source.schema

    def read(self, columns: Sequence[str]) -> pa.Table:
        missing = [c for c in columns if c not in self.schema.names]
        if missing:
            raise SchemaError(
                f"no such column(s): {', '.join(missing[:5])}",
                path=self.path,
                column=missing[0],
            )
        extra = self.extra
        stored = [c for c in columns if c not in extra]
        if len(stored) == len(columns):
            return self.source.read_table(list(columns))
        base = self.source.read_table(stored) if stored else None
        return pa.table(
            {c: extra[c] if c in extra else base.column(c) for c in columns}  # type: ignore[union-attr]
        )

    def read_page(self, columns: Sequence[str], row: int) -> tuple[int, pa.Table]:
        """The stored group (row group, record batch) holding ``row``: its
        first row and ``columns`` of its rows — a page of a table view, read
        through the process-wide group cache; columns added beside the
        stored ones are sliced from memory."""
        group, _ = self.source.locate(row)
        start, size = self.source.group_span(group)
        out = {
            c: self.extra[c].slice(start, size)
            if c in self.extra
            else self.source.read_group(group, c)
            for c in columns
        }
        return start, pa.table(out)

    def add_columns(self, columns: dict[str, pa.Array]) -> None:
        """Columns kept beside the stored ones (joined by key by the caller)."""
        extra = self.extra
        for name, values in columns.items():
            if len(values) != self.source.num_rows:
                raise ValueError(
                    f"column {name}: {len(values)} values for "
                    f"{self.source.num_rows} rows"
                )
            if name in self.schema.names:
                raise ValueError(f"column {name} exists already")
            extra[name] = values
            self.schema = self.schema.append(pa.field(name, values.type))

    @property
    def metadata(self) -> dict[bytes, bytes]:
        return self.source.metadata


def not_a_table_error(path: Path) -> ArrowscopeError:
    """Why ``path`` cannot be opened as a profile table: missing, a folder (an
    OME-Zarr image, a folder of images), or an empty file."""
    if not path.exists():
        return MissingFileError("no such file or folder", path=path)
    if path.is_dir():
        kind = (
            "an OME-Zarr image"
            if path.name.lower().endswith(".zarr")
            else "a folder that is not a warehouse"
        )
        return CorruptFileError(
            f"is {kind}, not a profile table",
            path=path,
            hint="a profile table is a Parquet, Arrow IPC or CSV file, or a "
            "warehouse root; images open with 'arrowscope view'",
        )
    if path.stat().st_size == 0:
        return CorruptFileError(
            "is an empty file", path=path, hint="was it still being written?"
        )
    return CorruptFileError("cannot be read as a table", path=path)


def is_text_table(path: Path) -> bool:
    """Whether ``path`` is a CSV/TSV table (by suffix; ``.gz`` allowed): a
    profile table that holds no images, wherever it is opened."""
    name = path.name.lower().removesuffix(".gz")
    return path.is_file() and name.endswith((".csv", ".tsv"))
