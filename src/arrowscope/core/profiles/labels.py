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

    # keys matched as integers: each key column of the table and of the
    # labels dictionary-encoded together by Arrow, one code per key, numpy
    # for the rest (a million rows' keys in a few hundredths of a second,
    # the panel retrains on every change; no hash join, whose engine and
    # pyarrow.dataset take 0.07 s to import in a fresh command)
    import pyarrow.compute as pc

    from .keys import key_codes

    names = [f"k{i}" for i in range(len(shared))]
    # on the table's own key types (labels cast to them; text only where they
    # cannot be): no million-row cast to text on every retrain
    pairs = []
    label_valid = np.ones(labels.num_rows, bool)
    for c in shared:
        ours, theirs = keys.column(c), labels.column(c)
        if theirs.type != ours.type:
            try:
                theirs = pc.cast(theirs, ours.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                ours, theirs = pc.cast(ours, pa.string()), pc.cast(theirs, pa.string())
        label_valid &= theirs.is_valid().to_numpy(zero_copy_only=False)
        pairs.append((ours, theirs))
    # only rows whose every key value some label names can match: codes for
    # those and the labels, not for every row
    near_mask = np.ones(keys.num_rows, bool)
    for ours, theirs in pairs:
        present = pc.is_in(ours, value_set=pc.unique(theirs))
        near_mask &= present.to_numpy(zero_copy_only=False)
    near = np.flatnonzero(near_mask)
    picked = pa.array(near)
    cells = pa.Table.from_arrays([ours.take(picked) for ours, _ in pairs], names)
    named_by = pa.Table.from_arrays([theirs for _, theirs in pairs], names)
    both = pa.concat_tables([cells, named_by])
    codes = key_codes(both, names)
    cell_codes, label_codes = codes[: len(near)], codes[len(near) :]
    # a label with an empty key part names no cell (a null is no key value)
    named = np.isin(cell_codes, label_codes[label_valid])
    rows_named, codes_named = near[named], cell_codes[named]  # in table order
    found, first_at, counts = np.unique(
        codes_named, return_index=True, return_counts=True
    )
    many = np.zeros(labels.num_rows, np.int64)  # cells each label names
    first = np.full(labels.num_rows, -1, np.int64)  # the first of them
    if len(found):
        at = np.minimum(np.searchsorted(found, label_codes), len(found) - 1)
        hit = label_valid & (found[at] == label_codes)
        many[hit] = counts[at[hit]]
        first[hit] = rows_named[first_at[at[hit]]]
    label_rows = np.arange(labels.num_rows)
    label_class = labels.column(CLASS_COLUMN).to_pylist()
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
