"""Quality control of whole fields of view: one row per field, judged by the
same rule engine as cells.

A field's measures are the image-level columns CellProfiler wrote
(``MeasureImageQuality``'s ``ImageQuality_FocusScore_<ch>``,
``PowerLogLogSlope_<ch>``, ``PercentMaximal_<ch>``, ``PercentMinimal_<ch>``,
``StdIntensity_<ch>``…, and ``Count_<objects>``) — from the profile table's
``Image_`` columns, or from the image table of a CellProfiler database or CSV
folder — and the number of cells the profile table holds for it. Rules are
the cell rules (``{condition: {measure: threshold}}``) on robust z-scores
within each plate by default: a field blurred (low PowerLogLogSlope or focus
score), saturated (high PercentMaximal), empty or overcrowded (cell count).

The result is a catalog by field key (plate, well, site, image key) others
can read, and the cells of flagged fields to leave out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ArrowscopeError
from .keys import _find
from .qc import QCResult, compute_flags

#: the cells of a field, counted from the profile table
CELLS = "Metadata_field_cells"
#: image-level measures kept for fields (after any ``Image_`` prefix)
_MEASURES = re.compile(r"^(ImageQuality_|Count_|Intensity_|Threshold_)")


def field_table(pt: Any) -> pa.Table:
    """One row per field of view of profile table ``pt``: its key columns
    (image key, plate, well, site where the table has them), the number of
    its cells, and the image-level measures the table or its CellProfiler
    image table holds."""
    fovs = pt.fields_of_view
    if not fovs:
        raise ArrowscopeError(
            "the table has no fields of view (no image key)",
            path=getattr(pt, "path", None),
            hint="give the image key columns",
        )
    first = pa.array([int(f.rows[0]) for f in fovs], pa.int64())
    names = pt.columns
    where = [
        c
        for c in (
            _find(names, "Metadata_Plate", "Image_Metadata_Plate"),
            _find(names, "Metadata_Well", "Image_Metadata_Well"),
            _find(names, "Metadata_Site", "Image_Metadata_Site", "Metadata_Field"),
        )
        if c
    ]
    keys = list(dict.fromkeys([*where, *pt.keys.image]))
    measures = [
        c
        for c in names
        if c.startswith("Image_")
        and _MEASURES.match(c[len("Image_") :])
        and _numeric(pt.schema.field(c).type)
    ]
    table = pt.read([*keys, *measures]).take(first)
    counts = np.bincount(pt.fov_of_row[pt.fov_of_row >= 0], minlength=len(fovs))
    table = table.append_column(CELLS, pa.array(counts.astype(np.int64)))
    extra = _image_table_measures(pt, table)
    for name, column in extra.items():
        if name not in table.column_names:
            table = table.append_column(name, column)
    return table


def _numeric(dtype: pa.DataType) -> bool:
    return bool(pa.types.is_integer(dtype) or pa.types.is_floating(dtype))


def _image_table_measures(pt: Any, fields: pa.Table) -> dict[str, pa.Array]:
    """The image table's measures of each field, for CellProfiler outputs
    whose store keeps them apart (matched by image number)."""
    store = getattr(getattr(pt, "_file", None), "source", None)
    store = getattr(store, "store", None)
    reader = getattr(store, "image_measures", None)
    number = "Metadata_ImageNumber"
    if reader is None or number not in fields.column_names:
        return {}
    image = reader()
    if image is None or number not in image.column_names:
        return {}
    index = pc.index_in(fields.column(number), value_set=image.column(number))
    out = {}
    for name in image.column_names:
        bare = name.removeprefix("Image_")
        if name == number or not _numeric(image.schema.field(name).type):
            continue
        if _MEASURES.match(bare):  # not execution times, widths, channel numbers
            out[f"Image_{bare}"] = image.column(name).take(index)
    return out


def field_presets(
    columns: Sequence[str], *, blur: float = -3.0, bright: float = 3.0
) -> dict[str, dict[str, float]]:
    """Conditions for the measures a field table has (robust z thresholds):
    ``blurry_<ch>`` (low PowerLogLogSlope, else low focus score),
    ``saturated_<ch>`` (high PercentMaximal), ``few_cells`` and
    ``many_cells`` (the cell count)."""
    out: dict[str, dict[str, float]] = {}
    for c in columns:
        m = re.match(r"^(?:Image_)?ImageQuality_PowerLogLogSlope_(.+)$", c)
        if m:
            out[f"blurry_{m.group(1)}"] = {c: blur}
    for c in columns:
        m = re.match(r"^(?:Image_)?ImageQuality_FocusScore_(.+)$", c)
        if m and f"blurry_{m.group(1)}" not in out:
            out[f"blurry_{m.group(1)}"] = {c: blur}
        m = re.match(r"^(?:Image_)?ImageQuality_PercentMaximal_(.+)$", c)
        if m:
            out[f"saturated_{m.group(1)}"] = {c: bright}
    if CELLS in columns:
        out["few_cells"] = {CELLS: blur}
        out["many_cells"] = {CELLS: bright}
    return out


def field_qc(
    pt: Any,
    conditions: Any = "presets",
    method: Any = "robust",
    by_plate: bool = True,
) -> tuple[pa.Table, QCResult]:
    """Judge every field of ``pt``: ``(field table, QCResult)``. Scores are
    robust z within each plate by default (fields of one plate against each
    other: plates differ in staining). ``conditions``: ``"presets"``
    (:func:`field_presets` of the measures found), or the cell rules' forms."""
    fields = field_table(pt)
    if isinstance(conditions, str) and conditions == "presets":
        conditions = field_presets(fields.column_names)
    if isinstance(conditions, Mapping) and not conditions:
        raise ArrowscopeError("no field conditions: the table has no field measures")
    plate = _find(fields.column_names, "Metadata_Plate", "Image_Metadata_Plate")
    group = [plate] if by_plate and plate else None
    result = compute_flags(fields, conditions, method, group)
    return fields, result


def field_catalog(fields: pa.Table, result: QCResult) -> pa.Table:
    """The flagged fields, by key, with the conditions that flagged them:
    what the pipeline skips and the single-cell table leaves out."""
    from .qc import FLAG_PREFIX, FLAG_SUFFIX

    flags = result.flags
    names = flags.column_names
    mask = result.mask()
    said = {n: n.removeprefix(FLAG_PREFIX).removesuffix(FLAG_SUFFIX) for n in names}
    reasons = [
        ", ".join(said[n] for n in names if flags.column(n)[int(i)].as_py())
        for i in np.flatnonzero(mask)
    ]
    picked = pa.array(np.flatnonzero(mask), pa.int64())
    columns: dict[str, Any] = {}
    for c in fields.column_names:  # keys as pycytominer names them
        if c.startswith(("Metadata_", "Image_Metadata_")) and c != CELLS:
            columns[c.removeprefix("Image_")] = fields.column(c).take(picked)
    for n in names:
        columns[n] = flags.column(n).take(picked)
    columns["Metadata_field_qc_reason"] = pa.array(reasons, pa.string())
    return pa.table(columns)


def cells_of_flagged_fields(pt: Any, result: QCResult) -> np.ndarray:
    """A row mask of ``pt``: True for the cells of fields ``result`` flagged."""
    flagged = result.mask()
    fov = pt.fov_of_row
    return (fov >= 0) & flagged[np.clip(fov, 0, None)]


def write_field_catalog(path: str | Path, fields: pa.Table, result: QCResult) -> Path:
    """Write :func:`field_catalog` (Parquet, CSV or TSV by suffix), atomically."""
    from .qc import _write_table

    return _write_table(field_catalog(fields, result), Path(path))
