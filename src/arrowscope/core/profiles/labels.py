"""Labels for the classifier: read from Parquet/CSV files or CellProfiler
Analyst training sets, and matched to a table's rows by key — never by
position — with every way a label can be wrong named before any training
(a cell in two classes, a key that names no cell or several, label columns
that are not the table's keys)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..errors import ArrowscopeError, SchemaError
from .cpa import CLASS_COLUMN

__all__ = ["match_labels", "read_labels"]


def read_labels(path: str | Path, key: Sequence[str] = ()) -> pa.Table:
    """A labels table: key columns + ``Metadata_class`` (Parquet or CSV), or
    a CellProfiler Analyst training set (its object key read as ``key``)."""
    from .cpa import is_training_set, read_training_set
    from .source import TableRows

    if is_training_set(Path(path)):
        if not key:
            raise SchemaError(
                "a CPA training set names cells by image and object number; "
                "the table has no object key to match them to",
                path=path,
            )
        return read_training_set(path, list(key))
    if Path(path).suffix.lower() in (".csv", ".tsv"):
        return _text_labels(Path(path))
    table = TableRows(Path(path))
    if CLASS_COLUMN not in table.schema.names:
        raise SchemaError(
            f"no {CLASS_COLUMN} column: a labels table holds the profile table's "
            f"key columns and {CLASS_COLUMN}",
            path=path,
            column=CLASS_COLUMN,
        )
    return table.read(table.schema.names)


def _text_labels(path: Path) -> pa.Table:
    """A CSV/TSV labels file with every column read as text: its key values
    are matched in the table's own types, so ``001`` stays ``001`` for a text
    key and is 1 for a number key (never guessed from the file)."""
    import pyarrow.csv as pcsv

    from ..images.locations import check_regular

    check_regular(path)
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    parse = pcsv.ParseOptions(delimiter=delimiter)
    try:
        with pcsv.open_csv(path, parse_options=parse) as reader:
            names = reader.schema.names
        table = pcsv.read_csv(
            path,
            parse_options=parse,
            convert_options=pcsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=True,
            ),
        )
    except (pa.ArrowInvalid, OSError) as exc:
        raise SchemaError(f"cannot read the labels: {exc}", path=path) from exc
    if CLASS_COLUMN not in table.column_names:
        raise SchemaError(
            f"no {CLASS_COLUMN} column: a labels table holds the profile table's "
            f"key columns and {CLASS_COLUMN}",
            path=path,
            column=CLASS_COLUMN,
        )
    return table


def _unmatched_columns(keys: pa.Table, labels: pa.Table) -> str:
    """What to say of label columns that are not key columns of the table."""
    import difflib

    other = [
        c
        for c in labels.column_names
        if c != CLASS_COLUMN and c not in keys.column_names
    ]
    if not other:
        return ""
    said = []
    for c in other:
        close = difflib.get_close_matches(c, keys.column_names, n=1)
        said.append(f"{c!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return (
        f"; the labels' column(s) {', '.join(said)} are not key columns of the "
        f"table, whose keys are {keys.column_names}"
    )


def match_labels(
    keys: pa.Table, labels: pa.Table, *, path: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``keys`` the labels name, and their classes — by key, never by
    position. Every label must name exactly one row."""
    shared = [c for c in keys.column_names if c in labels.column_names]
    if not shared:
        raise SchemaError(
            f"the labels share no key column with the table ({keys.column_names})",
            path=path,
            hint="give the labels the table's key columns",
        )

    # an Arrow join, not Python dicts: a million rows' keys in a fraction of
    # a second (the panel retrains on every change)
    import pyarrow.compute as pc

    names = [f"k{i}" for i in range(len(shared))]
    # join on the table's own key types (labels cast to them; text only where
    # they cannot be): no million-row cast to text on every retrain
    pairs = []
    for c in shared:
        have, given = keys.column(c), labels.column(c)
        if given.type != have.type:
            try:
                given = pc.cast(given, have.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                have, given = pc.cast(have, pa.string()), pc.cast(given, pa.string())
        pairs.append((have, given))

    def as_text(side: int, extra: dict[str, Any]) -> pa.Table:
        cols = {n: pair[side] for n, pair in zip(names, pairs, strict=True)}
        return pa.table({**cols, **extra})

    n = keys.num_rows
    cells = as_text(0, {"__row": pa.array(np.arange(n), pa.int64())})
    # only rows whose every key value some label names can match: counting
    # duplicates among those is enough, and far cheaper than over all rows
    near = None
    for have, given in pairs:
        hit = pc.is_in(have, value_set=pc.unique(given))
        near = hit if near is None else pc.and_(near, hit)
    if near is not None:
        cells = cells.filter(near)
    counts = cells.group_by(names).aggregate([("__row", "count"), ("__row", "min")])
    label_class = labels.column(CLASS_COLUMN).to_pylist()
    wanted = as_text(1, {"__label": pa.array(np.arange(labels.num_rows), pa.int64())})
    found = wanted.join(counts, keys=names, join_type="left outer", use_threads=False)
    found = found.sort_by("__label")
    label_rows = found.column("__label").to_numpy()
    many = found.column("__row_count").fill_null(0).to_numpy()
    first = found.column("__row_min").fill_null(-1).to_numpy()
    rows, classes = [], []
    given: dict[int, tuple[int, str]] = {}  # table row -> (label row, class)
    for r, count, row in zip(
        label_rows.tolist(), many.tolist(), first.tolist(), strict=True
    ):
        cls = label_class[r]
        if cls is None or str(cls).strip() == "":
            continue
        cls = str(cls).strip()  # "mitotic " is "mitotic"
        key = {c: labels.column(c)[r].as_py() for c in shared}
        if count > 1:
            raise SchemaError(
                f"label row {r} names {key}, which several cells share: its cell "
                "is ambiguous" + _unmatched_columns(keys, labels),
                path=path,
                row=r,
                hint="label by the full key (plate, image and object)",
            )
        if count == 0:
            raise SchemaError(
                f"label row {r} names {key}, which is no cell of the table"
                + _unmatched_columns(keys, labels),
                path=path,
                row=r,
            )
        if int(row) in given:
            before, other = given[int(row)]
            if other != cls:
                raise SchemaError(
                    f"label rows {before} and {r} put the cell {key} in two "
                    f"classes ({other!r} and {cls!r})",
                    path=path,
                    row=r,
                    hint="keep one label per cell",
                )
            continue  # the same label twice counts once
        given[int(row)] = (r, cls)
        rows.append(int(row))
        classes.append(cls)
    if len(set(classes)) < 2:
        raise ArrowscopeError(
            "training needs cells of at least two classes",
            path=path,
            hint="put a few cells in each class",
        )
    return np.asarray(rows, np.int64), np.asarray(classes, object)
