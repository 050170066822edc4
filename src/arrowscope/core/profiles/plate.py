"""The plate at a glance: one value per (plate, well).

:func:`plate_summary` groups a whole plate's cells by their plate and well key
columns, never with a Python loop over cells: the keys are dictionary-encoded
once by pyarrow into integer group codes (:class:`PlateIndex`), sums and
shares are ``numpy.bincount`` over them and order statistics (median, min,
max, SD) a DuckDB ``GROUP BY`` over the codes. Values: the cell count, the
share of cells flagged by any or one QC condition or by eye, or a statistic
of a feature. Wells are placed by their names (``B07``,
``P24``, ``AF48``); :func:`plate_format` infers 96, 384 or 1536 wells.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from ..errors import SchemaError
from .keys import _find
from .qc import FLAG_PREFIX, FLAG_SUFFIX, QCResult, flag_columns

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


class PlateIndex:
    """Each cell's (plate, well) as an integer group code, computed once.

    Summaries are then sums over the codes (``numpy.bincount``: a few
    milliseconds for millions of cells) or, for order statistics, a DuckDB
    group-by over the integer codes: what the plate map redoes on every
    threshold or filter change.
    """

    def __init__(self, table: Any, sites: bool = False) -> None:
        import pyarrow.compute as pc

        names = list(table.schema.names)
        self.plate_col, self.well_col = plate_columns(names)
        #: with ``sites``: each (plate, well, site) is a group
        self.site_col = site_column(names) if sites else None
        if sites and self.site_col is None:
            raise SchemaError(
                "no site column (Metadata_Site) to show the wells by site",
                hint="the table names each field's site in Metadata_Site",
            )
        keys = [c for c in (self.plate_col, self.well_col, self.site_col) if c]
        base = table.read(keys) if hasattr(table, "read") else table.select(keys)
        codes = np.zeros(base.num_rows, np.int64)
        uniques = []
        for k in keys:
            enc = pc.dictionary_encode(base.column(k)).combine_chunks()
            idx = enc.indices.fill_null(-1).to_numpy(zero_copy_only=False)
            idx = np.where(idx < 0, len(enc.dictionary), idx)  # null: its own group
            uniques.append(enc.dictionary.to_pylist() + [None])
            codes = codes * len(uniques[-1]) + idx
        self.num_rows = base.num_rows
        space = int(np.prod([len(u) for u in uniques])) if uniques else 1
        if space <= 10_000_000:  # plates x wells: a lookup, not a sort
            seen = np.bincount(codes, minlength=space) > 0
            present = np.flatnonzero(seen)
            lookup = np.cumsum(seen) - 1
            self.codes = lookup[codes]
        else:
            present, self.codes = np.unique(codes, return_inverse=True)
        self.groups = len(present)
        cols: dict[str, Any] = {}
        rest = present.copy()
        for k, u in reversed(list(zip(keys, uniques, strict=True))):
            cols[k] = pa.array([u[int(i)] for i in rest % len(u)])
            rest //= len(u)
        self.keys = pa.table({k: cols[k] for k in keys})

    def aggregate(
        self,
        values: np.ndarray | None = None,
        stat: str = "mean",
        rows: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(n_cells, value)`` per group: the cell count (in ``rows``) and the
        ``stat`` of ``values`` over its finite values (the count without)."""
        codes = self.codes if rows is None else self.codes[np.asarray(rows, bool)]
        n = np.bincount(codes, minlength=self.groups)
        if values is None:
            return n, n.astype(np.float64)
        v = values if rows is None else values[np.asarray(rows, bool)]
        if v.dtype == bool:  # a share: count the True cells, no float weights
            hit = np.bincount(codes[v], minlength=self.groups)
            with np.errstate(invalid="ignore", divide="ignore"):
                return n, np.where(n > 0, hit / np.maximum(n, 1), np.nan)
        ok = np.isfinite(v)
        if stat in ("mean", "sum"):
            total = np.bincount(codes[ok], weights=v[ok], minlength=self.groups)
            if stat == "sum":
                return n, total
            count = np.bincount(codes[ok], minlength=self.groups)
            with np.errstate(invalid="ignore", divide="ignore"):
                return n, np.where(count > 0, total / np.maximum(count, 1), np.nan)
        import duckdb

        con = duckdb.connect()
        try:
            con.register(
                "cells", pa.table({"g": codes[ok].astype(np.int32), "v": v[ok]})
            )
            got = con.sql(
                f"SELECT g, {stat}(v) AS s FROM cells GROUP BY g"
            ).to_arrow_table()
        finally:
            con.close()
        out = np.full(self.groups, np.nan)
        out[got.column("g").to_numpy()] = got.column("s").to_numpy(zero_copy_only=False)
        return n, out


def plate_summary(
    table: Any,
    value: str = "count",
    stat: str = "median",
    *,
    flags: QCResult | pa.Table | None = None,
    marks: Any = None,
    predicted: np.ndarray | None = None,
    rows: np.ndarray | None = None,
    index: PlateIndex | None = None,
) -> pa.Table:
    """One row per (plate, well): plate and well key columns as in the table,
    ``row`` (letter), ``column`` (int), ``n_cells`` and ``value``.

    ``table``: a ProfileTable or a :class:`pyarrow.Table`. ``value``:
    ``"count"``, ``"any_outlier"`` (share of cells flagged by any condition in
    ``flags``), a condition name (share flagged by it), ``"manual:reject"``
    (or ``:keep``/``:unsure``; share of cells so marked in ``marks``: a
    :class:`~arrowscope.core.profiles.marks.Marks` or the rows' verdicts),
    ``"class:<name>"`` (share of cells a classifier predicts as ``name``:
    ``predicted`` holds each row's class), or a
    feature column (its ``stat`` per well: median, mean, min, max,
    stddev_pop, sum; NaN and ±inf left out). ``rows``: a boolean mask of the
    cells to count (the current filter). ``index``: a :class:`PlateIndex` of
    ``table`` kept between calls. Wells without cells are absent, not zero.
    """
    index = index or PlateIndex(table)
    names = list(table.schema.names)
    n = index.num_rows
    reader = table.read if hasattr(table, "read") else table.select
    ftable = _flag_table(flags)
    values: np.ndarray | None = None
    how = "mean"
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
        hit = np.zeros(n, bool)
        for c in chosen:
            hit |= ftable.column(c).fill_null(False).to_numpy(zero_copy_only=False)
        values = hit
    elif value.startswith("manual:"):
        verdict = value.split(":", 1)[1]
        if marks is None:
            raise SchemaError(f"value {value!r} needs the marks (marks=)")
        got = (  # a Marks sidecar, or verdicts already aligned to the rows
            marks
            if isinstance(marks, np.ndarray)
            else marks.verdicts(reader(marks.key_columns))
        )
        values = np.asarray(got == verdict, bool)
    elif value.startswith("class:"):
        if predicted is None or len(predicted) != n:
            raise SchemaError(
                f"value {value!r} needs each row's predicted class (predicted=)"
            )
        values = np.asarray(predicted == value.split(":", 1)[1], bool)
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
        how = stat
    else:
        raise SchemaError(
            f"no column or condition {value!r}",
            column=value,
            hint="value is 'count', 'any_outlier', a condition, 'manual:reject' "
            "or a feature column",
        )
    counts, result = index.aggregate(values, how, rows)
    present = np.flatnonzero(counts > 0)
    out = index.keys.take(pa.array(present))
    r, c = parse_wells(out.column(index.well_col).to_pylist())
    out = out.append_column(
        "row", pa.array([_letters(i) if i >= 0 else None for i in r], pa.string())
    )
    out = out.append_column("column", pa.array(np.where(c > 0, c, 0), pa.int32()))
    out = out.append_column("n_cells", pa.array(counts[present], pa.int64()))
    out = out.append_column("value", pa.array(result[present], pa.float64()))
    keys = [k for k in (index.plate_col, index.well_col, index.site_col) if k]
    return out.sort_by([(k, "ascending") for k in keys])


def site_column(names: Sequence[str]) -> str | None:
    """The column naming each field's site within its well, if any."""
    return _find(names, "Metadata_Site", "Image_Metadata_Site", "Metadata_Field")


def site_grid(
    summary: pa.Table, plate: Any = None, wells: int | None = None
) -> tuple[np.ndarray, np.ndarray, int, tuple[int, int], list[Any]]:
    """:func:`plate_grid` of a summary by site: ``(values, counts, wells,
    (site_rows, site_columns), sites)`` where each well is a block of its
    sites, laid out in site order (``sites``), row by row (9 sites: 3 × 3),
    so the arrays are ``rows × site_rows`` by ``columns × site_columns``."""
    import pyarrow.compute as pc

    plate_col, well_col = plate_columns(summary.schema.names)
    site_col = site_column(summary.schema.names)
    if site_col is None:
        raise SchemaError("the summary has no site column")
    if plate_col is not None and plate is not None:
        summary = summary.filter(pc.equal(summary.column(plate_col), plate))
    present = {s for s in summary.column(site_col).to_pylist() if s is not None}
    numbers = all(isinstance(s, (int, float)) for s in present)
    sites = sorted(present) if numbers else sorted(present, key=str)
    sc = max(1, int(np.ceil(np.sqrt(len(sites)))))
    sr = max(1, int(np.ceil(len(sites) / sc)))
    slot = {s: k for k, s in enumerate(sites)}
    r, c = parse_wells(summary.column(well_col).to_pylist())
    wells = wells or plate_format(r, c)
    nr, nc = FORMATS[wells]
    values = np.full((nr * sr, nc * sc), np.nan)
    counts = np.zeros((nr * sr, nc * sc), np.int64)
    k = np.array([slot.get(s, -1) for s in summary.column(site_col).to_pylist()])
    ok = (r >= 0) & (r < nr) & (c > 0) & (c <= nc) & (k >= 0)
    y = r[ok] * sr + k[ok] // sc
    x = (c[ok] - 1) * sc + k[ok] % sc
    v = summary.column("value").to_numpy(zero_copy_only=False).astype(np.float64)
    values[y, x] = v[ok]
    counts[y, x] = summary.column("n_cells").to_numpy()[ok]
    return values, counts, wells, (sr, sc), sites


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
