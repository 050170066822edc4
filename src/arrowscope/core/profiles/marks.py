"""Cells judged by eye: keep / reject / unsure, stored by the rows' keys.

A :class:`Marks` sidecar lives next to its profile table
(``<table stem>.marks.parquet``; for a warehouse,
``quality_control/_arrowscope_marks.parquet`` under its base) and holds one
row per marked cell: the table's key columns and ``Metadata_manual_qc``.
Marks are found again by key, never by row position, so re-sorting or
re-exporting the table keeps them on the right cells. Every change is saved
at once, atomically (a crash leaves the previous file).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..errors import ArrowscopeError, SchemaError
from .qc import MANUAL_COLUMN

VERDICTS = ("keep", "reject", "unsure")
#: file metadata key: a classifier's bins in their order (empty ones too)
CLASSES_KEY = b"arrowscope.classes"


def sidecar_path(table: Any, kind: str = "marks") -> Path:
    """Where the marks (or the classifier's bins, ``kind="classes"``) of a
    profile table (a path or a ProfileTable) live."""
    warehouse = getattr(table, "warehouse", None)
    if warehouse is not None:
        base = Path(warehouse.base) / "quality_control"
        return base / f"_arrowscope_{kind}.parquet"
    path = getattr(table, "path", table)
    if path is None:
        raise ArrowscopeError(
            "this table has no file to keep marks beside",
            hint="save the table first, or pass the marks path",
        )
    path = Path(path)
    name = path.name
    for suffix in (".ome.parquet", ".parquet", ".arrow", ".feather", ".csv"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    if path.is_dir():  # a CellProfiler CSV export folder: beside it
        return path.with_name(f"{path.name}.{kind}.parquet")
    for suffix in (".sqlite", ".sqlite3", ".db", ".properties"):
        name = name.removesuffix(suffix)
    return path.with_name(f"{name}.{kind}.parquet")


class Marks:
    """The verdicts on cells of one profile table, by key.

    The same store keeps a classifier's bins (``column="Metadata_class"``,
    ``allowed=None``: any class name; the bins, empty ones too, are kept in
    the file's metadata in their order).
    """

    def __init__(
        self,
        path: Path,
        key_columns: Sequence[str],
        schema: pa.Schema,
        *,
        column: str = MANUAL_COLUMN,
        allowed: Sequence[str] | None = VERDICTS,
    ):
        self.path = Path(path)
        self.key_columns = list(key_columns)
        self.column = column
        self.allowed = None if allowed is None else tuple(allowed)
        #: the classes in their order (the verdicts, or a classifier's bins)
        self.classes: list[str] = list(self.allowed or ())
        self._types = [schema.field(c).type for c in self.key_columns]
        self._by_key: dict[tuple[Any, ...], str] = {}
        if self.path.is_file():
            self._load()

    def _load(self) -> None:
        from ..images.parquet import read_parquet

        stored = read_parquet(self.path)
        missing = [
            c for c in (*self.key_columns, self.column) if c not in stored.column_names
        ]
        if missing:
            raise SchemaError(
                f"the marks file lacks column(s) {missing}: it belongs to a table "
                "with other keys",
                path=self.path,
                column=missing[0],
                hint="move it away to start new marks for this table",
            )
        keys = zip(
            *(stored.column(c).to_pylist() for c in self.key_columns), strict=True
        )
        if self.allowed is None:
            listed = (stored.schema.metadata or {}).get(CLASSES_KEY)
            self.classes = json.loads(listed) if listed else []
        for key, verdict in zip(
            keys, stored.column(self.column).to_pylist(), strict=True
        ):
            if verdict is not None and (
                self.allowed is None or verdict in self.allowed
            ):
                self._by_key[tuple(key)] = verdict
                if verdict not in self.classes:
                    self.classes.append(verdict)

    def _key(self, keys: Mapping[str, Any]) -> tuple[Any, ...]:
        missing = [c for c in self.key_columns if c not in keys]
        if missing:
            raise SchemaError(f"a mark needs the key(s) {missing}", column=missing[0])
        return tuple(
            v.item() if isinstance(v, np.generic) else v
            for v in (keys[c] for c in self.key_columns)
        )

    def get(self, keys: Mapping[str, Any]) -> str | None:
        """The verdict on the cell with these keys, or None."""
        return self._by_key.get(self._key(keys))

    def set(self, keys: Mapping[str, Any], verdict: str | None) -> None:
        """Mark the cell (None clears the mark) and save."""
        self.set_many([keys], verdict)

    def set_many(self, keys: Sequence[Mapping[str, Any]], verdict: str | None) -> None:
        """Mark several cells with one verdict, saved once."""
        allowed = self.allowed
        if verdict is not None and allowed is not None and verdict not in allowed:
            raise ValueError(
                f"verdict must be one of {allowed} or None, not {verdict!r}"
            )
        if verdict is not None and verdict not in self.classes:
            self.classes.append(verdict)
        for k in keys:
            key = self._key(k)
            if verdict is None:
                self._by_key.pop(key, None)
            else:
                self._by_key[key] = verdict
        self.save()

    def __len__(self) -> int:
        return len(self._by_key)

    @property
    def table(self) -> pa.Table:
        """Key columns + ``Metadata_manual_qc``, one row per marked cell."""
        keys = list(self._by_key)
        cols = {
            c: pa.array([k[i] for k in keys], t)
            for i, (c, t) in enumerate(zip(self.key_columns, self._types, strict=True))
        }
        cols[self.column] = pa.array(list(self._by_key.values()), pa.string())
        table = pa.table(cols)
        if self.allowed is None:
            table = table.replace_schema_metadata(
                {CLASSES_KEY: json.dumps(self.classes)}
            )
        return table

    def rename(self, old: str, new: str) -> None:
        """Rename a class (a bin), its cells with it; saved."""
        if self.allowed is not None:
            raise ValueError("the verdicts cannot be renamed")
        if not new or new in self.classes:
            raise ValueError(f"{new!r} is empty or a class already")
        self.classes = [new if c == old else c for c in self.classes]
        self._by_key = {k: new if v == old else v for k, v in self._by_key.items()}
        self.save()

    def remove(self, name: str) -> None:
        """Remove a class (a bin) and the cells put in it; saved."""
        if self.allowed is not None:
            raise ValueError("the verdicts cannot be removed")
        self.classes = [c for c in self.classes if c != name]
        self._by_key = {k: v for k, v in self._by_key.items() if v != name}
        self.save()

    def add_class(self, name: str) -> None:
        """Add an empty class (a bin); saved."""
        if self.allowed is not None or not name.strip():
            raise ValueError(f"cannot add the class {name!r}")
        if name not in self.classes:
            self.classes.append(name)
            self.save()

    def save(self) -> Path:
        from ..images.atomic import atomic_target
        from ..images.parquet import write_parquet

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_target(self.path) as tmp:
                write_parquet(self.table, tmp)
        except (OSError, ArrowscopeError) as exc:  # a read-only folder, a full disk
            reason = getattr(exc, "strerror", None) or getattr(exc, "reason", exc)
            raise ArrowscopeError(
                f"cannot save the marks: {reason}",
                path=self.path,
                hint="the last saved marks are kept; open the table from a folder "
                "you can write to",
            ) from exc
        return self.path

    def verdicts(self, key_table: pa.Table) -> np.ndarray:
        """The verdict of every row of ``key_table`` (None where unmarked).

        A join on the key columns: a million rows take a fraction of a second
        (and no marks, none at all), where a lookup per row took seconds.
        """
        out = np.full(key_table.num_rows, None, dtype=object)
        if not self._by_key or key_table.num_rows == 0:
            return out
        marked = self.table
        rows = key_table.select(self.key_columns)
        rows = rows.append_column("__row", pa.array(np.arange(rows.num_rows)))
        for c, t in zip(self.key_columns, self._types, strict=True):
            i = rows.column_names.index(c)  # one type on both sides of the join
            rows = rows.set_column(i, c, rows.column(c).cast(t))
        hit = rows.join(marked, self.key_columns, join_type="inner")
        at = hit.column("__row").to_numpy()
        out[at] = np.asarray(hit.column(self.column).to_pylist(), dtype=object)
        return out


def open_marks(table: Any, path: str | Path | None = None) -> Marks:
    """The verdict sidecar of a profile table (a ProfileTable or a path)."""
    from .batch import annotation_keys
    from .resolve import open_profiles
    from .table import ProfileTable

    pt = table if isinstance(table, ProfileTable) else open_profiles(table)
    keys = annotation_keys(pt.schema, pt.keys)
    return Marks(Path(path) if path else sidecar_path(pt), keys, pt.schema)


def open_bins(table: Any, path: str | Path | None = None) -> Marks:
    """A classifier's bins of a profile table: cells put in named classes by
    key, beside the table (``<stem>.classes.parquet``; for a warehouse,
    ``quality_control/_arrowscope_classes.parquet``)."""
    from .batch import annotation_keys
    from .cpa import CLASS_COLUMN
    from .resolve import open_profiles
    from .table import ProfileTable

    pt = table if isinstance(table, ProfileTable) else open_profiles(table)
    keys = annotation_keys(pt.schema, pt.keys)
    where = Path(path) if path else sidecar_path(pt, "classes")
    bins = Marks(where, keys, pt.schema, column=CLASS_COLUMN, allowed=None)
    if not where.is_file() and not bins.classes:
        bins.classes = ["positive", "negative"]  # CPA's first two bins
    return bins


def agreement(flags: Any, verdicts: np.ndarray | None) -> dict[str, dict[str, int]]:
    """Per rule condition, the 2×2 counts of a rule flag against a manual
    reject, over the cells that were judged by eye (keep or reject; None:
    no cell was judged yet)."""
    from .qc import FLAG_PREFIX, FLAG_SUFFIX, QCResult, flag_columns

    table = flags.flags if isinstance(flags, QCResult) else flags
    if verdicts is None:
        judged = rejected = np.zeros(table.num_rows, bool)
    else:
        judged = np.isin(verdicts, ["keep", "reject"])
        rejected = verdicts == "reject"
    out = {}
    for c in flag_columns(table.column_names):
        flagged = table.column(c).fill_null(False).to_numpy(zero_copy_only=False)
        name = c.removeprefix(FLAG_PREFIX).removesuffix(FLAG_SUFFIX)
        out[name] = {
            "flagged_and_rejected": int((flagged & rejected & judged).sum()),
            "flagged_but_kept": int((flagged & ~rejected & judged).sum()),
            "missed_rejects": int((~flagged & rejected & judged).sum()),
            "agreed_keeps": int((~flagged & ~rejected & judged).sum()),
        }
    return out
