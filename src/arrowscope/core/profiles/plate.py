"""The plate at a glance: one value per (plate, well), computed by DuckDB.

:func:`plate_summary` groups a whole plate's cells by their plate and well key
columns in one DuckDB ``GROUP BY`` over Arrow (no Python loop over cells):
the cell count, the share of cells flagged by any or one QC condition or by
eye, or a statistic of a feature. Wells are placed by their names (``B07``,
``P24``, ``AF48``); :func:`plate_format` infers 96, 384 or 1536 wells.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from ..errors import SchemaError
from .qc import FLAG_PREFIX, FLAG_SUFFIX, QCResult, flag_columns
from .table import _find

#: plate formats: wells → (rows, columns)
FORMATS = {96: (8, 12), 384: (16, 24), 1536: (32, 48)}
STATS = ("median", "mean", "min", "max", "stddev_pop", "sum")
_WELL = re.compile(r"^\s*([A-Za-z]{1,2})\s*0*(\d{1,2})\s*$")


def plate_columns(names: Sequence[str]) -> tuple[str | None, str]:
    """The plate (may be None: one plate) and well columns of a table."""
    well = _find(names, "Metadata_Well", "Image_Metadata_Well", "Metadata_well_id")
    if well is None:
        raise SchemaError(
            "no well column (Metadata_Well, Image_Metadata_Well)",
            column="Metadata_Well",
            hint="the plate map needs each cell's well name, e.g. B07",
        )
    plate = _find(names, "Metadata_Plate", "Image_Metadata_Plate", "Metadata_plate_id")
    return plate, well


def parse_wells(names: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Row index (A=0, …, AF=31) and column number (1-based) of each well
    name; -1 where a name is not a well."""
    rows = np.full(len(names), -1, np.int64)
    cols = np.full(len(names), -1, np.int64)
    for i, name in enumerate(names):
        m = _WELL.match(str(name)) if name is not None else None
        if m is None:
            continue
        letters = m.group(1).upper()
        r = ord(letters[-1]) - 65
        if len(letters) == 2:
            r += 26 * (ord(letters[0]) - 64)
        rows[i], cols[i] = r, int(m.group(2))
    return rows, cols


def plate_format(rows: np.ndarray, cols: np.ndarray) -> int:
    """The smallest of 96/384/1536 wells that holds every (row, column)."""
    ok = (rows >= 0) & (cols > 0)
    r = int(rows[ok].max()) + 1 if ok.any() else 1
    c = int(cols[ok].max()) if ok.any() else 1
    for n, (nr, nc) in FORMATS.items():
        if r <= nr and c <= nc:
            return n
    return 1536


def _flag_table(flags: QCResult | pa.Table | None) -> pa.Table | None:
    if flags is None:
        return None
    return flags.flags if isinstance(flags, QCResult) else flags


def plate_summary(
    table: Any,
    value: str = "count",
    stat: str = "median",
    *,
    flags: QCResult | pa.Table | None = None,
    marks: Any = None,
    rows: np.ndarray | None = None,
) -> pa.Table:
    """One row per (plate, well): plate and well key columns as in the table,
    ``row`` (letter), ``column`` (int), ``n_cells`` and ``value``.

    ``table``: a ProfileTable or a :class:`pyarrow.Table`. ``value``:
    ``"count"``, ``"any_outlier"`` (share of cells flagged by any condition in
    ``flags``), a condition name (share flagged by it), ``"manual:reject"``
    (or ``:keep``/``:unsure``; share of cells so marked in ``marks``), or a
    feature column (its ``stat`` per well: median, mean, min, max,
    stddev_pop, sum). ``rows``: a boolean mask of the cells to count (the
    current filter). Wells without cells are absent, not zero.
    """
    import duckdb

    names = list(table.schema.names)
    plate, well = plate_columns(names)
    keys = [c for c in (plate, well) if c]
    n = table.num_rows
    cols: dict[str, Any] = {}
    reader = table.read if hasattr(table, "read") else table.select
    base = reader(keys)
    for k in keys:
        cols[k] = base.column(k)
    expr = "count(*)"
    ftable = _flag_table(flags)
    if value == "count":
        pass
    elif value == "any_outlier" or (
        ftable is not None
        and f"{FLAG_PREFIX}{value}{FLAG_SUFFIX}" in ftable.column_names
    ):
        if ftable is None or ftable.num_rows != n:
            raise SchemaError(
                f"value {value!r} needs the QC flags of these {n} rows (flags=)"
            )
        chosen = (
            flag_columns(ftable.column_names)
            if value == "any_outlier"
            else [f"{FLAG_PREFIX}{value}{FLAG_SUFFIX}"]
        )
        any_flag = np.zeros(n, bool)
        for c in chosen:
            any_flag |= ftable.column(c).fill_null(False).to_numpy(zero_copy_only=False)
        cols["__v"] = pa.array(any_flag.astype(np.float64))
        expr = "avg(__v)"
    elif value.startswith("manual:"):
        verdict = value.split(":", 1)[1]
        if marks is None:
            raise SchemaError(f"value {value!r} needs the marks (marks=)")
        got = marks.verdicts(reader(marks.key_columns))
        cols["__v"] = pa.array((got == verdict).astype(np.float64))
        expr = "avg(__v)"
    elif value in names:
        if stat not in STATS:
            raise ValueError(f"stat must be one of {STATS}, not {stat!r}")
        feature = reader([value]).column(0)
        if not (
            pa.types.is_integer(feature.type) or pa.types.is_floating(feature.type)
        ):
            raise SchemaError(f"column {value!r} is not numeric", column=value)
        values = feature.to_numpy(zero_copy_only=False).astype(np.float64)
        values[~np.isfinite(values)] = np.nan  # ±inf are missing, as in QC
        cols["__v"] = pa.array(values, from_pandas=True)
        expr = f"{stat}(__v)"
    else:
        raise SchemaError(
            f"no column or condition {value!r}",
            column=value,
            hint="value is 'count', 'any_outlier', a condition, 'manual:reject' "
            "or a feature column",
        )
    if rows is not None:
        cols["__keep"] = pa.array(np.asarray(rows, bool))
    data = pa.table(cols)
    q = ", ".join(f'"{k}"' for k in keys)
    where = "WHERE __keep" if rows is not None else ""
    con = duckdb.connect()
    try:
        con.register("cells", data)
        out = con.sql(
            f"SELECT {q}, count(*) AS n_cells, {expr} AS value FROM cells "
            f"{where} GROUP BY {q} ORDER BY {q}"
        ).to_arrow_table()
    finally:
        con.close()
    r, c = parse_wells(out.column(well).to_pylist())
    letters = [_letters(i) if i >= 0 else None for i in r]
    out = out.append_column("row", pa.array(letters, pa.string()))
    out = out.append_column("column", pa.array(np.where(c > 0, c, 0), pa.int32()))
    order = [*keys, "row", "column", "n_cells", "value"]
    return out.select(order)


def _letters(i: int) -> str:
    return chr(65 + i) if i < 26 else chr(64 + i // 26) + chr(65 + i % 26)


def plate_grid(
    summary: pa.Table, plate: Any = None, wells: int | None = None
) -> tuple[np.ndarray, np.ndarray, int]:
    """``(values, counts, wells)``: the plate's values as a rows × columns array
    (NaN where a well has no cells) and the cell counts (0 there)."""
    plate_col, well_col = plate_columns(summary.schema.names)
    if plate_col is not None and plate is not None:
        import pyarrow.compute as pc

        summary = summary.filter(pc.equal(summary.column(plate_col), plate))
    r, c = parse_wells(summary.column(well_col).to_pylist())
    wells = wells or plate_format(r, c)
    nr, nc = FORMATS[wells]
    values = np.full((nr, nc), np.nan)
    counts = np.zeros((nr, nc), np.int64)
    ok = (r >= 0) & (r < nr) & (c > 0) & (c <= nc)
    v = summary.column("value").to_numpy(zero_copy_only=False).astype(np.float64)
    values[r[ok], c[ok] - 1] = v[ok]
    counts[r[ok], c[ok] - 1] = summary.column("n_cells").to_numpy()[ok]
    return values, counts, wells
