"""Wells and plates: position effects, replicate agreement, rotated plates
and the spread of controls, from per-well values and profiles.

The problems that spoil whole screens sit above single cells and fields: an
edge effect, row and column trends, a plate turned by 180° against its
layout, replicate wells that do not agree, controls that scatter. Each is a
number per plate here, from one row per well (``level_table(pt, "well")``
or :func:`well_profiles`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from ..errors import ArrowscopeError
from .keys import _find


def plate_effects(
    wells: pa.Table, value: str, *, sweeps: int = 10
) -> dict[str, dict[str, Any]]:
    """Position effects of a per-well ``value`` on each plate, by median
    polish (Tukey's two-way fit, the B-score's first step): the row and
    column effects, the edge effect (outer wells' median residual-free value
    against the inner wells', in robust SDs of the plate), and the map with
    row and column trends taken out (the residuals, by well).

    ``wells``: one row per well (:func:`level_table` at ``"well"``, or any
    table with a plate and a well column and ``value``)."""
    from .plate import parse_wells

    plate_col = _find(wells.column_names, "Metadata_Plate", "Image_Metadata_Plate")
    well_col = _find(wells.column_names, "Metadata_Well", "Image_Metadata_Well")
    if well_col is None or value not in wells.column_names:
        missing = "Metadata_Well" if well_col is None else value
        raise ArrowscopeError("no such column for position effects", column=missing)
    plates = (
        wells.column(plate_col).to_pylist() if plate_col else [None] * wells.num_rows
    )
    names = wells.column(well_col).to_pylist()
    rows, cols = parse_wells(names)
    x = wells.column(value).cast(pa.float64()).to_numpy(zero_copy_only=False)
    out: dict[str, dict[str, Any]] = {}
    for plate in dict.fromkeys(plates):
        mine = np.flatnonzero(
            np.array([p == plate for p in plates]) & (rows >= 0) & np.isfinite(x)
        )
        if mine.size < 4:
            continue
        r, c = rows[mine], cols[mine] - 1
        grid = np.full((r.max() + 1, c.max() + 1), np.nan)
        grid[r, c] = x[mine]
        fx = position_effects(grid, sweeps)
        residual = fx["residual"]
        key = "" if plate is None else str(plate)
        out[key] = {
            **{k: v for k, v in fx.items() if k != "residual"},
            "residual": {names[i]: float(residual[rows[i], cols[i] - 1]) for i in mine},
        }
    return out


def position_effects(grid: np.ndarray, sweeps: int = 10) -> dict[str, Any]:
    """Row, column and edge effects of one plate's per-well values (``grid``:
    rows × columns, NaN where a well has no value), by median polish (Tukey's
    two-way fit, the B-score's first step): ``row_effect``,
    ``column_effect``, their ranges and the ``edge`` effect (outer wells'
    median against the inner wells') in robust SDs of the plate, and the
    ``residual`` grid — the map with the row and column trends taken out."""
    residual = np.array(grid, dtype=np.float64, copy=True)
    row_effect = np.zeros(grid.shape[0])
    col_effect = np.zeros(grid.shape[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # empty rows/columns
        for _ in range(sweeps):
            rm = np.nan_to_num(np.nanmedian(residual, axis=1))
            residual -= rm[:, None]
            row_effect += rm
            cm = np.nan_to_num(np.nanmedian(residual, axis=0))
            residual -= cm[None, :]
            col_effect += cm
        spread = 1.4826 * np.nanmedian(np.abs(grid - np.nanmedian(grid)))
        spread = spread if spread > 0 else float(np.nanstd(grid)) or 1.0
    filled = ~np.isnan(grid)
    edge = np.zeros_like(filled)
    edge[[0, -1], :] = True
    edge[:, [0, -1]] = True
    outer, inner = grid[edge & filled], grid[~edge & filled]
    edge_size = (
        float((np.median(outer) - np.median(inner)) / spread)
        if outer.size and inner.size
        else float("nan")
    )
    return {
        "row_effect": row_effect,
        "column_effect": col_effect,
        "row_range": float(np.ptp(row_effect) / spread),
        "column_range": float(np.ptp(col_effect) / spread),
        "edge": edge_size,
        "residual": residual,
    }


def replicate_agreement(
    wells: pa.Table,
    perturbation: str,
    features: Sequence[str],
    *,
    null_pairs: int = 10_000,
    seed: int = 0,
) -> dict[str, Any]:
    """How well replicate wells of each perturbation agree, as "percent
    replicating" measures it: per perturbation, the median Pearson
    correlation between its replicate wells' profiles (``features``, each
    standardised over the wells), against a null of correlations between
    wells of different perturbations; a perturbation replicates when its
    median is above the null's 95th percentile.

    ``wells``: one row per well with the ``perturbation`` column and the
    features (per-well medians, e.g. aggregated profiles). Returns
    ``{"per_perturbation": {name: median}, "null_95": q, "percent_replicating":
    share in %, "perturbations": n}``."""
    missing = [c for c in (perturbation, *features) if c not in wells.column_names]
    if missing:
        raise ArrowscopeError(
            "no such column for replicate agreement", column=missing[0]
        )
    names = wells.column(perturbation).to_pylist()
    x = _standardised(wells, features)
    ok = np.array([n is not None for n in names])
    corr = np.corrcoef(x) if len(x) > 1 else np.ones((1, 1))
    groups: dict[Any, list[int]] = {}
    for i, n in enumerate(names):
        if ok[i]:
            groups.setdefault(n, []).append(i)
    per: dict[str, float] = {}
    for n, members in groups.items():
        if len(members) < 2:
            continue
        pairs = [corr[a, b] for k, a in enumerate(members) for b in members[k + 1 :]]
        per[str(n)] = float(np.median(pairs))
    rng = np.random.default_rng(seed)
    idx = np.flatnonzero(ok)
    null = []
    for _ in range(null_pairs):  # bounded: pairs of wells of different perturbations
        a, b = rng.choice(idx, 2, replace=False)
        if names[a] != names[b]:
            null.append(corr[a, b])
    q = float(np.percentile(null, 95)) if null else float("nan")
    share = 100.0 * np.mean([m > q for m in per.values()]) if per else float("nan")
    return {
        "per_perturbation": per,
        "null_95": q,
        "percent_replicating": float(share),
        "perturbations": len(per),
    }


def well_profiles(
    pt: Any, perturbation: str, features: Sequence[str] | None = None
) -> pa.Table:
    """One row per well (plate, well, perturbation): the median of each of
    its cells' ``features`` (default: the numeric measurement columns, at
    most 200), as profiles are aggregated before they are compared."""
    from .classify import feature_columns

    names = pt.columns
    plate = _find(names, "Metadata_Plate", "Image_Metadata_Plate")
    well = _find(names, "Metadata_Well", "Image_Metadata_Well")
    if well is None or perturbation not in names:
        missing = "Metadata_Well" if well is None else perturbation
        raise ArrowscopeError(
            "no such column for well profiles",
            column=missing,
            path=getattr(pt, "path", None),
        )
    keys = [c for c in (plate, well, perturbation) if c]
    chosen = list(features or feature_columns(pt.schema, [*keys, *pt.keys.columns()]))
    chosen = [f for f in chosen if f not in keys][:200]
    table = pt.read([*keys, *chosen])
    grouped = table.group_by(keys, use_threads=False).aggregate(
        [(f, "approximate_median") for f in chosen]
    )
    return grouped.rename_columns([*keys, *chosen])  # "<f>_approximate_median" -> "<f>"


def profile_features(wells: pa.Table, perturbation: str) -> list[str]:
    """The feature columns of a :func:`well_profiles` table (all but its plate,
    well and perturbation)."""
    keys = {"Metadata_Plate", "Image_Metadata_Plate", "Metadata_Well"}
    keys |= {"Image_Metadata_Well", perturbation}
    return [c for c in wells.column_names if c not in keys]


def rotated_plates(
    wells: pa.Table,
    perturbation: str,
    features: Sequence[str],
    *,
    margin: float = 0.2,
) -> dict[str, dict[str, Any]]:
    """Plates whose wells match their perturbations better turned by 180°.

    Each plate's well profiles (standardised over all wells) are compared
    with the consensus profile of each perturbation on the other plates: the
    median correlation of a well with the consensus of the perturbation the
    metadata names for it, and with that of the perturbation named for the
    well opposite it (row ``R-1-r``, column ``C-1-c``). A plate is reported
    rotated when the second beats the first by more than ``margin``. Needs
    two plates or more and a perturbation on several plates."""
    from .plate import parse_wells

    plate_col = _find(wells.column_names, "Metadata_Plate", "Image_Metadata_Plate")
    well_col = _find(wells.column_names, "Metadata_Well", "Image_Metadata_Well")
    if plate_col is None or well_col is None:
        raise ArrowscopeError(
            "rotation is judged plate against plate: no plate or well column",
            column="Metadata_Plate" if plate_col is None else "Metadata_Well",
        )
    plates = wells.column(plate_col).to_pylist()
    names = wells.column(well_col).to_pylist()
    labels = wells.column(perturbation).to_pylist()
    rows, cols = parse_wells(names)
    x = _standardised(wells, features)
    out: dict[str, dict[str, Any]] = {}
    for plate in dict.fromkeys(plates):
        mine = np.array([p == plate for p in plates])
        others = ~mine
        consensus: dict[Any, np.ndarray] = {}
        for label in set(labels):
            pick = others & np.array([lab == label for lab in labels])
            if pick.any():
                consensus[label] = np.median(x[pick], axis=0)
        if not consensus:
            continue
        r, c = rows[mine], cols[mine]
        label_at = {
            (int(a), int(b)): lab
            for a, b, lab in zip(r, c, np.array(labels, object)[mine], strict=True)
        }
        top, right = int(r.max()), int(c.max())
        as_labelled, turned = [], []
        for i, a, b in zip(np.flatnonzero(mine), r, c, strict=True):
            here = consensus.get(labels[i])
            there = consensus.get(label_at.get((top - int(a), right + 1 - int(b))))
            if here is not None:
                as_labelled.append(_corr(x[i], here))
            if there is not None:
                turned.append(_corr(x[i], there))
        if not as_labelled or not turned:
            continue
        lab, rot = float(np.median(as_labelled)), float(np.median(turned))
        out[str(plate)] = {
            "as_labelled": lab,
            "rotated_180": rot,
            "rotated": rot > lab + margin,
        }
    return out


def _standardised(wells: pa.Table, features: Sequence[str]) -> np.ndarray:
    """The wells' ``features`` as a matrix, each standardised over the wells
    (missing values 0: the mean)."""
    x = np.column_stack(
        [
            wells.column(f).cast(pa.float64()).to_numpy(zero_copy_only=False)
            for f in features
        ]
    )
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nan_to_num((x - np.nanmean(x, axis=0)) / np.nanstd(x, axis=0))


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    if np.std(a) == 0 or np.std(b) == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def control_spread(
    wells: pa.Table, perturbation: str, control: str, features: Sequence[str]
) -> dict[str, float]:
    """Per plate, how widely its negative-control wells scatter: the median
    over features of the control wells' MAD against all its wells' MAD (1:
    the controls vary as much as everything on the plate; a good plate's
    controls sit well below 1)."""
    plate_col = _find(wells.column_names, "Metadata_Plate", "Image_Metadata_Plate")
    plates = (
        wells.column(plate_col).to_pylist() if plate_col else [None] * wells.num_rows
    )
    labels = wells.column(perturbation).to_pylist()
    if control not in labels:
        raise ArrowscopeError(
            f"no well holds the control {control!r}",
            column=perturbation,
            hint="values include: "
            + ", ".join(map(str, list(dict.fromkeys(labels))[:6])),
        )
    x = _standardised(wells, features)
    out: dict[str, float] = {}
    for plate in dict.fromkeys(plates):
        mine = np.array([p == plate for p in plates])
        ctrl = mine & np.array([lab == control for lab in labels])
        if ctrl.sum() < 2:
            continue
        mad = lambda v: np.median(np.abs(v - np.median(v, axis=0)), axis=0)  # noqa: E731
        ratio = mad(x[ctrl]) / np.where(mad(x[mine]) > 0, mad(x[mine]), np.nan)
        out["" if plate is None else str(plate)] = float(np.nanmedian(ratio))
    return out
