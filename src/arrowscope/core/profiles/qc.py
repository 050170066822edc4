"""Outlier detection for single-cell profiles, compatible with coSMicQC.

A *condition* is a named set of clauses AND-ed together; a clause compares a
score of one feature with a threshold. With ``method="zscore"`` and bare
numeric thresholds this is exactly coSMicQC 1.1.2: z-scores with the
population SD (ddof 0) over the rows given, the threshold's sign sets the
direction (``> t`` when ``t > 0``, else ``< t``), strict comparisons.

Beyond coSMicQC:

- ``method="robust"`` scores are ``(x - median) / (1.4826 * MAD)`` (when more
  than half the values are equal, ``1.2533 *`` their mean absolute deviation,
  at least 1 % of the median);
  ``method="raw"`` compares the values themselves (operators required);
- a threshold may be a string with an explicit operator: ``"> 2"``,
  ``"<= -1.5"``, or two-sided ``"abs> 3"`` (``|score| > 3``);
- ``group_by`` computes the statistics per group (plate, well, …);
- NaN/null and +-inf values are left out of the statistics, are never flagged by a
  clause on their feature, and are counted in the report (``nan_policy="omit"``).
  ``nan_policy="propagate"`` reproduces coSMicQC, where one NaN makes the
  whole feature flag nothing — the report then says so; ``"raise"`` refuses.

Flags are boolean columns ``Metadata_cqc_<condition>_is_outlier`` (what
pycytominer's ``drop_cosmicqc_rows`` reads); scores, when asked for, are
written under ``Metadata_qcscore_`` so that no float column starts with
``Metadata_cqc_``.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ArrowscopeError, SchemaError
from .keys import group_codes
from .source import read_profile_table

#: the verdicts by eye (keep/reject/unsure) as an annotation column
MANUAL_COLUMN = "Metadata_manual_qc"

FLAG_PREFIX = "Metadata_cqc_"
FLAG_SUFFIX = "_is_outlier"
SCORE_PREFIX = "Metadata_qcscore_"
MANUAL_FLAG = f"{FLAG_PREFIX}manual{FLAG_SUFFIX}"
REPORT_KEY = b"arrowscope.qc"
MAD_TO_SD = 1.4826  # scales the MAD to the SD of a normal distribution
MEAN_AD_TO_SD = 1.2533  # scales the mean absolute deviation the same way

#: coSMicQC 1.1.2's default thresholds (``qc_nuclei_thresholds_default.yml``).
COSMICQC_DEFAULTS: dict[str, dict[str, float]] = {
    "small_and_low_formfactor_nuclei": {
        "Nuclei_AreaShape_Area": -1,
        "Nuclei_AreaShape_FormFactor": -1,
    },
    "elongated_nuclei": {"Nuclei_AreaShape_Eccentricity": 2},
    "large_nuclei": {"Nuclei_AreaShape_Area": 2, "Nuclei_AreaShape_FormFactor": -2},
}

Method = Literal["zscore", "robust", "raw"]
NanPolicy = Literal["omit", "propagate", "raise"]

_OPS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    ">": operator.gt,
    "<": operator.lt,
    ">=": operator.ge,
    "<=": operator.le,
    "abs>": lambda s, t: np.abs(s) > t,
    "abs>=": lambda s, t: np.abs(s) >= t,
}


@dataclass(frozen=True)
class Clause:
    """``score(feature) <op> threshold``."""

    feature: str
    op: str
    threshold: float

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ArrowscopeError(
                f"unknown operator {self.op!r} for feature {self.feature!r}",
                hint=f"use one of {', '.join(_OPS)}",
            )

    def apply(self, score: np.ndarray) -> np.ndarray:
        """Rows satisfying the clause; NaN scores never satisfy it."""
        with np.errstate(invalid="ignore"):
            hit = _OPS[self.op](score, self.threshold)
        return np.asarray(hit, bool) & ~np.isnan(score)

    def __str__(self) -> str:
        return f"{self.feature} {self.op} {self.threshold:g}"


@dataclass(frozen=True)
class Condition:
    """A named set of clauses, AND-ed."""

    name: str
    clauses: tuple[Clause, ...]

    @property
    def flag_column(self) -> str:
        return f"{FLAG_PREFIX}{self.name}{FLAG_SUFFIX}"

    @property
    def features(self) -> list[str]:
        return list(dict.fromkeys(c.feature for c in self.clauses))


def parse_clause(feature: str, value: Any, method: Method = "zscore") -> Clause:
    """One clause from coSMicQC's bare number or an ``"<op> <number>"`` string."""
    if isinstance(value, bool):
        raise ArrowscopeError(
            f"threshold for {feature!r} must be a number, not {value}"
        )
    if isinstance(value, int | float):
        if method == "raw":
            raise ArrowscopeError(
                f"raw threshold for {feature!r} needs an operator",
                hint=f"write e.g. '> {value}' or '< {value}'",
            )
        # coSMicQC: the sign of the threshold sets the direction, strictly
        return Clause(feature, ">" if value > 0 else "<", float(value))
    if isinstance(value, str):
        text = value.strip()
        for op in sorted(_OPS, key=len, reverse=True):
            if text.startswith(op):
                try:
                    return Clause(feature, op, float(text[len(op) :]))
                except ValueError:
                    break
    raise ArrowscopeError(
        f"cannot read threshold {value!r} for feature {feature!r}",
        hint="use a number (coSMicQC style) or a string like '> 2', '<= -1', 'abs> 3'",
    )


def load_conditions(
    conditions: str | Path | Mapping[str, Any] | Sequence[Condition] = "cosmicqc",
    method: Method = "zscore",
) -> list[Condition]:
    """Conditions from a preset name, a dict, a coSMicQC YAML file or a list.

    Dicts follow coSMicQC: ``{name: {feature: threshold}}``, or a single
    ``{feature: threshold}`` which is named ``custom``. YAML files hold a
    top-level ``thresholds:`` mapping in that form.
    """
    if isinstance(conditions, Sequence) and not isinstance(conditions, str):
        return list(conditions)
    if isinstance(conditions, str) and conditions == "cosmicqc":
        spec: Mapping[str, Any] = COSMICQC_DEFAULTS
    elif isinstance(conditions, str | Path):
        spec = _read_threshold_file(Path(conditions))
    else:
        spec = conditions
    if not spec:
        raise ArrowscopeError("no QC conditions given")
    if all(not isinstance(v, Mapping) for v in spec.values()):
        spec = {"custom": spec}
    out = []
    for name, clauses in spec.items():
        if not isinstance(clauses, Mapping) or not clauses:
            raise ArrowscopeError(
                f"condition {name!r} must map features to thresholds",
                hint="e.g. {'large_nuclei': {'Nuclei_AreaShape_Area': 2}}",
            )
        out.append(
            Condition(
                str(name),
                tuple(parse_clause(str(f), v, method) for f, v in clauses.items()),
            )
        )
    return out


def _read_threshold_file(path: Path) -> Mapping[str, Any]:
    import yaml

    if not path.is_file():
        raise ArrowscopeError(
            "no such thresholds file",
            path=path,
            hint="give 'cosmicqc' or a YAML file with a 'thresholds:' mapping",
        )
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ArrowscopeError(f"not valid YAML: {exc}", path=path) from exc
    if not isinstance(doc, Mapping) or not isinstance(doc.get("thresholds"), Mapping):
        raise ArrowscopeError(
            "no top-level 'thresholds:' mapping",
            path=path,
            hint="use coSMicQC's format: thresholds: {condition: {feature: threshold}}",
        )
    return doc["thresholds"]


@dataclass
class FeatureStats:
    """Centre and scale of one feature (per group when grouped)."""

    center: np.ndarray
    scale: np.ndarray
    n_used: np.ndarray
    n_nan: int


def _center_scale(x: np.ndarray, method: Method) -> tuple[float, float]:
    if x.size == 0 or method == "raw":
        return (np.nan, np.nan) if x.size == 0 else (0.0, 1.0)
    if method == "zscore":
        # the same calls as scipy.stats.zscore, so flags agree bit for bit
        return float(x.mean()), float(x.std())
    med = float(np.median(x))
    deviation = np.abs(x - med)
    mad = float(np.median(deviation))
    if mad > 0:
        return med, MAD_TO_SD * mad
    # more than half the values are equal (a field's share of saturated
    # pixels, mostly one pixel): the mean absolute deviation stands in, as
    # the modified z-score does (Iglewicz & Hoaglin), so the few that
    # differ are scored rather than all left unscored; never below 1 % of
    # the median, so a count of 304 cells among 303s is no outlier
    return med, max(MEAN_AD_TO_SD * float(deviation.mean()), 0.01 * abs(med))


def feature_stats(
    values: np.ndarray,
    groups: np.ndarray | None,
    n_groups: int,
    method: Method,
    nan_policy: NanPolicy,
) -> FeatureStats:
    """Statistics of ``values`` (float64 with NaN for missing) per group."""
    nan = np.isnan(values)
    n_nan = int(nan.sum())
    center = np.full(n_groups, np.nan)
    scale = np.full(n_groups, np.nan)
    n_used = np.zeros(n_groups, np.int64)
    order = None if groups is None else np.argsort(groups, kind="stable")
    bounds = (
        [0, values.size]
        if groups is None
        else np.searchsorted(groups[order], np.arange(n_groups + 1))
    )
    for g in range(n_groups):
        idx = slice(None) if order is None else order[bounds[g] : bounds[g + 1]]
        x = values[idx]
        if nan_policy == "propagate" and np.isnan(x).any():
            continue  # coSMicQC: one NaN makes every score NaN
        x = x[~np.isnan(x)]
        n_used[g] = x.size
        center[g], scale[g] = _center_scale(x, method)
    return FeatureStats(center, scale, n_used, n_nan)


def scores(
    values: np.ndarray, stats: FeatureStats, groups: np.ndarray | None
) -> np.ndarray:
    """Scores of ``values`` under ``stats``; NaN where undefined (NaN, SD 0)."""
    c = stats.center[0] if groups is None else stats.center[groups]
    s = stats.scale[0] if groups is None else stats.scale[groups]
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (values - c) / s
    z[~np.isfinite(z)] = np.nan
    return z


@dataclass
class QCResult:
    """Flags, optional scores and a report of one QC run."""

    flags: pa.Table
    scores: pa.Table
    report: dict[str, Any] = field(default_factory=dict)

    def mask(self) -> np.ndarray:
        """Rows flagged by any condition."""
        out = np.zeros(self.flags.num_rows, bool)
        for col in self.flags.columns:
            out |= col.to_numpy(zero_copy_only=False)
        return out


def check_qc_columns(
    names: Sequence[str],
    features: Sequence[str],
    group_by: Sequence[str],
    *,
    path: Any = None,
) -> None:
    """Every feature and group-by column is in the table, checked before any
    work; the error names which option the missing column came from and the
    nearest column names."""
    import difflib

    present = set(names)
    for kind, wanted in (("group-by", group_by), ("feature", features)):
        for column in wanted:
            if column in present:
                continue
            near = difflib.get_close_matches(column, list(names), n=2, cutoff=0.85)
            hint = (
                f"did you mean {' or '.join(near)}?"
                if near
                else (
                    "check --group-by against the table's columns"
                    if kind == "group-by"
                    else "check the condition's feature names against the columns"
                )
            )
            raise SchemaError(
                f"the {kind} column is not in the table",
                path=path,
                column=column,
                hint=hint,
            )


def feature_values(table: pa.Table, column: str) -> np.ndarray:
    """A numeric column as float64, nulls as NaN; a clear error otherwise."""
    if column not in table.column_names:
        raise SchemaError(
            "feature column not in the table",
            column=column,
            hint="check the condition's feature names against the profile columns",
        )
    col = table.column(column)
    if not (
        pa.types.is_integer(col.type)
        or pa.types.is_floating(col.type)
        or pa.types.is_decimal(col.type)
        or pa.types.is_boolean(col.type)
    ):
        raise SchemaError(
            f"feature column holds {col.type}, not numbers", column=column
        )
    values = col.cast(pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)
    # +-inf is no measurement either: left out like NaN (one inf would make the
    # mean and scale infinite and so flag nothing).
    values[np.isinf(values)] = np.nan
    return values


def missing_summary(report: Mapping[str, Any]) -> list[str]:
    """One line per feature with missing values: how many, and how many were inf."""
    out = []
    for name, facts in report.get("features", {}).items():
        n, inf = facts.get("missing", 0), facts.get("infinite", 0)
        if n:
            extra = f", {inf} of them +-inf" if inf else ""
            out.append(
                f"{name}: {n} missing value(s) left out (NaN/null{extra}; "
                f"nan_policy={report.get('nan_policy', 'omit')})"
            )
    return out


def count_infinite(table: pa.Table, column: str) -> int:
    """How many values of a column are +-inf (reported apart from NaN/null)."""
    col = table.column(column)
    if not pa.types.is_floating(col.type):
        return 0
    return int(pc.sum(pc.is_inf(col)).as_py() or 0)


def compute_flags(
    table: pa.Table,
    conditions: Any = "cosmicqc",
    method: Method = "zscore",
    group_by: str | Sequence[str] | None = None,
    nan_policy: NanPolicy = "omit",
    *,
    stats: Mapping[str, Mapping[tuple[Any, ...], tuple[float, float, int]]]
    | None = None,
) -> QCResult:
    """Evaluate ``conditions`` on ``table``; see the module docstring.

    ``stats`` supplies precomputed statistics, ``{feature: {group values:
    (center, scale, n)}}`` (the distributed path computes them over all
    partitions first; ungrouped runs use the key ``()``).
    """
    if method not in ("zscore", "robust", "raw"):
        raise ArrowscopeError(
            f"unknown method {method!r}", hint="zscore, robust or raw"
        )
    if nan_policy not in ("omit", "propagate", "raise"):
        raise ArrowscopeError(
            f"unknown nan_policy {nan_policy!r}", hint="omit, propagate or raise"
        )
    conds = load_conditions(conditions, method)
    by = [group_by] if isinstance(group_by, str) else list(group_by or [])
    groups, group_values = group_codes(table, by) if by else (None, [()])
    features = list(dict.fromkeys(f for c in conds for f in c.features))
    values = {f: feature_values(table, f) for f in features}
    if nan_policy == "raise":
        for f, v in values.items():
            bad = np.flatnonzero(np.isnan(v))
            if bad.size:
                raise ArrowscopeError(
                    f"{bad.size} missing or infinite value(s) in a QC feature",
                    column=f,
                    row=int(bad[0]),
                    hint="use nan_policy='omit' to leave them out of the statistics",
                )
    given = stats or {}
    stats = {}
    for f in features:
        if f in given:  # global statistics keyed by group values
            per = [given[f].get(v, (np.nan, np.nan, 0)) for v in group_values]
            stats[f] = FeatureStats(
                np.array([p[0] for p in per], float),
                np.array([p[1] for p in per], float),
                np.array([p[2] for p in per], np.int64),
                int(np.isnan(values[f]).sum()),
            )
        else:
            stats[f] = feature_stats(
                values[f], groups, len(group_values), method, nan_policy
            )
    score = {f: scores(values[f], stats[f], groups) for f in features}
    flags, report_conds = _apply(conds, score, table.num_rows)
    report = {
        "rows": table.num_rows,
        "method": method,
        "nan_policy": nan_policy,
        "group_by": by,
        "groups": len(group_values),
        "conditions": report_conds,
        "features": {
            f: {
                "missing": stats[f].n_nan,
                "infinite": count_infinite(table, f),
                "used": int(stats[f].n_used.sum()),
                "center": _plain(stats[f].center, by),
                "scale": _plain(stats[f].scale, by),
                "undefined_groups": int(
                    np.sum(~np.isfinite(stats[f].scale) | (stats[f].scale == 0))
                ),
            }
            for f in features
        },
    }
    score_table = pa.table(
        {f"{SCORE_PREFIX}{method}_{f}": pa.array(score[f]) for f in features}
    )
    return QCResult(pa.table(flags), score_table, report)


def _apply(
    conds: Sequence[Condition], score: Mapping[str, np.ndarray], n: int
) -> tuple[dict[str, pa.Array], dict[str, dict[str, Any]]]:
    """Flag columns and their report entries for conditions over scores."""
    flags, report_conds = {}, {}
    for cond in conds:
        hit = np.ones(n, bool)
        for clause in cond.clauses:
            hit &= clause.apply(score[clause.feature])
        flags[cond.flag_column] = pa.array(hit, pa.bool_())
        report_conds[cond.name] = {
            "clauses": [str(c) for c in cond.clauses],
            "flagged": int(hit.sum()),
            "percent": round(100.0 * hit.sum() / max(1, n), 4),
        }
    return flags, report_conds


def reflag(result: QCResult, conditions: Any) -> QCResult | None:
    """New thresholds on features ``result`` has scored: flags from its scores,
    without reading the features or computing statistics again (what dragging
    a threshold needs). None when a condition needs a feature that
    ``result`` did not score; identical to :func:`compute_flags` otherwise."""
    method = result.report["method"]
    conds = load_conditions(conditions, method)
    features = list(dict.fromkeys(f for c in conds for f in c.features))
    names = [f"{SCORE_PREFIX}{method}_{f}" for f in features]
    if any(n not in result.scores.column_names for n in names):
        return None
    score = {
        f: result.scores.column(n)
        .to_numpy(zero_copy_only=False)
        .astype(np.float64, copy=False)
        for f, n in zip(features, names, strict=True)
    }
    flags, report_conds = _apply(conds, score, result.scores.num_rows)
    report = {
        **result.report,
        "conditions": report_conds,
        "features": {f: result.report["features"][f] for f in features},
    }
    return QCResult(pa.table(flags), result.scores.select(names), report)


def _plain(arr: np.ndarray, by: list[str]) -> Any:
    vals = [None if not np.isfinite(v) else float(v) for v in arr]
    return vals[0] if not by else vals


def label_outliers(
    table: Any,
    conditions: Any = "cosmicqc",
    method: Method = "zscore",
    group_by: str | Sequence[str] | None = None,
    nan_policy: NanPolicy = "omit",
    *,
    include_scores: bool = False,
) -> pa.Table:
    """The input table with one ``Metadata_cqc_<condition>_is_outlier`` column each.

    Parameters
    ----------
    table
        A ``pyarrow.Table``, a pandas DataFrame or a Parquet/CSV path.
    conditions
        ``"cosmicqc"`` (coSMicQC's defaults), a dict ``{name: {feature:
        threshold}}``, a coSMicQC YAML file, or a list of :class:`Condition`.
    method
        ``"zscore"`` (coSMicQC), ``"robust"`` (median/MAD) or ``"raw"``.
    group_by
        Column(s) whose groups get their own statistics (e.g. plate, well).
    nan_policy
        ``"omit"``, ``"propagate"`` (coSMicQC) or ``"raise"``.
    include_scores
        Also append the score columns (``Metadata_qcscore_<method>_<feature>``).

    Returns
    -------
    pyarrow.Table
        Existing flag columns of the same names are replaced. The run's report
        (counts per condition, missing values per feature, statistics) is in
        the schema metadata; read it with :func:`qc_report`.
    """
    table = as_table(table)
    result = compute_flags(table, conditions, method, group_by, nan_policy)
    extra = [result.flags] + ([result.scores] if include_scores else [])
    out = table
    for part in extra:
        for name, col in zip(part.column_names, part.columns, strict=True):
            if name in out.column_names:
                out = out.set_column(out.column_names.index(name), name, col)
            else:
                out = out.append_column(name, col)
    meta = dict(out.schema.metadata or {})
    meta[REPORT_KEY] = json.dumps(result.report).encode()
    return out.replace_schema_metadata(meta)


def qc_report(table: pa.Table) -> dict[str, Any]:
    """The report :func:`label_outliers` stored in ``table``'s schema metadata."""
    raw = (table.schema.metadata or {}).get(REPORT_KEY)
    return json.loads(raw) if raw else {}


def flag_columns(names: Iterable[str]) -> list[str]:
    """The coSMicQC flag columns among ``names``."""
    return [n for n in names if n.startswith(FLAG_PREFIX) and n.endswith(FLAG_SUFFIX)]


def as_table(data: Any, columns: Sequence[str] | None = None) -> pa.Table:
    """A ``pyarrow.Table`` from a table, a DataFrame or a Parquet/CSV/IPC path."""
    if isinstance(data, pa.Table):
        return data if columns is None else data.select(list(columns))
    if isinstance(data, pa.RecordBatch):
        return as_table(pa.Table.from_batches([data]), columns)
    if isinstance(data, str | Path):
        return read_profile_table(Path(data), columns)
    if hasattr(data, "columns") and hasattr(data, "to_numpy"):
        table = pa.Table.from_pandas(data, preserve_index=False)
        return as_table(table, columns)
    raise ArrowscopeError(
        f"cannot use a {type(data).__name__} as a profile table",
        hint="pass a pyarrow.Table, a pandas DataFrame or a Parquet/CSV path",
    )


def _write_table(table: pa.Table, path: Path) -> Path:
    """Write ``table`` atomically as Parquet, or CSV/TSV by suffix."""
    from ..images.atomic import atomic_target

    suffix = "".join(path.suffixes[-2:]).lower()
    with atomic_target(path) as tmp:
        if suffix.endswith((".csv", ".csv.gz", ".tsv")):
            import pyarrow.csv as pcsv

            delim = "\t" if suffix.endswith(".tsv") else ","
            with (
                pa.CompressedOutputStream(str(tmp), "gzip")
                if suffix.endswith(".gz")
                else pa.OSFile(str(tmp), "wb") as sink
            ):
                pcsv.write_csv(table, sink, pcsv.WriteOptions(delimiter=delim))
        else:
            from ..images.parquet import write_parquet

            write_parquet(table, tmp, compression="zstd")
    return path


def write_annotations(
    path: str | Path,
    keys: pa.Table,
    flags: QCResult | pa.Table,
    *,
    marks: Any = None,
) -> Path:
    """Write the annotation file: key columns + flag columns, one row per cell.

    This is what ``pycytominer.annotate``/``normalize(drop_cosmicqc_rows=True)``
    read after a merge on the key columns. Parquet, or CSV for ``.csv``.
    ``marks``: a :class:`~arrowscope.core.profiles.marks.Marks` sidecar; its
    verdicts (keep/reject/unsure, null where unmarked) are added as
    ``Metadata_manual_qc``, matched to ``keys`` by key.
    """
    out = annotation_table(keys, flags, path=path)
    if marks is not None:  # the verdicts by eye, matched by key
        verdicts = marks.verdicts(keys)
        out = out.append_column(MANUAL_COLUMN, pa.array(list(verdicts), pa.string()))
    return _write_table(out, Path(path))


def annotation_table(
    keys: pa.Table, flags: QCResult | pa.Table, *, path: Any = None
) -> pa.Table:
    """Key columns + flag columns, one row per cell (the annotation file's rows)."""
    flag_table = flags.flags if isinstance(flags, QCResult) else flags
    if keys.num_rows != flag_table.num_rows:
        raise ArrowscopeError(
            f"{keys.num_rows} key rows but {flag_table.num_rows} flag rows", path=path
        )
    # Only the columns: the source table's schema metadata (a pandas header
    # describing two thousand columns, say) does not belong in a flags file.
    out = keys.replace_schema_metadata(None)
    for name, col in zip(flag_table.column_names, flag_table.columns, strict=True):
        if name in out.column_names:
            out = out.drop_columns([name])
        out = out.append_column(name, col)
    return out


def write_cleaned(source: Any, path: str | Path, keep: np.ndarray) -> Path:
    """Write the rows of ``source`` where ``keep`` is True, atomically.

    A Parquet ``source`` path is streamed row group by row group, so the
    whole table is never in memory; tables and other paths are filtered whole.
    """
    from ..images.atomic import atomic_target
    from ..images.parquet import parquet_file, parquet_writer
    from ..images.sources import sniff_format

    path = Path(path)
    keep = np.asarray(keep, bool)
    if isinstance(source, str | Path) and sniff_format(Path(source)) == "parquet":
        pf = parquet_file(source)
        if keep.size != pf.metadata.num_rows:
            raise ArrowscopeError(
                f"mask has {keep.size} rows, the table {pf.metadata.num_rows}",
                path=source,
            )
        with (
            atomic_target(path) as tmp,
            parquet_writer(tmp, pf.schema_arrow, compression="zstd") as writer,
        ):
            start = 0
            for g in range(pf.num_row_groups):
                part = pf.read_row_group(g)
                sel = keep[start : start + part.num_rows]
                start += part.num_rows
                if sel.any():
                    writer.write_table(part.filter(pa.array(sel)))
        return path
    table = as_table(source)
    if keep.size != table.num_rows:
        raise ArrowscopeError(f"mask has {keep.size} rows, the table {table.num_rows}")
    return _write_table(table.filter(pa.array(keep)), path)
