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
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ArrowscopeError
from .keys import _find, group_codes
from .qc import FLAG_PREFIX, FLAG_SUFFIX, QCResult, compute_flags

#: the cells of a field (or well), counted from the profile table
CELLS = "Metadata_cells"
#: image-level measures kept for fields (after any ``Image_`` prefix)
_MEASURES = re.compile(r"^(ImageQuality_|Count_|Intensity_|Threshold_)")


def field_table(
    pt: Any, pixels: bool | Sequence[str] = False, **options: Any
) -> pa.Table:
    """One row per field of view of profile table ``pt``: its key columns
    (image key, plate, well, site where the table has them), the number of
    its cells, and the image-level measures the table or its CellProfiler
    image table holds.

    ``pixels``: also measure image quality from the linked images (every
    channel, or the channels named) where the table has no
    ``ImageQuality_*_<channel>`` column of its own — see
    :func:`pixel_measures`, which takes ``options``."""
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
    if pixels:
        have = {
            m.group(1)
            for c in table.column_names
            if (m := re.match(r"^Image_ImageQuality_[A-Za-z]+_(.+)$", c))
        }
        wanted = pt.channel_names if pixels is True else list(pixels)
        missing = [ch for ch in wanted if ch not in have]
        if missing:
            measured = pixel_measures(pt, missing, **options)
            for name in measured.column_names:
                table = table.append_column(name, measured.column(name))
    return table


#: what was measured from pixels, by (table build, field key, channel)
_MEASURED: dict[tuple[Any, ...], dict[str, float]] = {}
_MEASURED_MAX = 200_000


#: a plane to measure (field index, channel), and what measuring it gave
_Job = tuple[int, str]
_Measured = tuple[dict[str, float], str | None]


def pixel_measures(
    pt: Any,
    channels: Sequence[str] | None = None,
    *,
    progress: Any = None,
    cancel: Any = None,
    workers: int | None = None,
    client: Any = None,
) -> pa.Table:
    """MeasureImageQuality's measures of every field, computed from its
    images (:mod:`arrowscope.core.images.quality`): one row per field of
    view, in the order of :func:`field_table`, a column
    ``Image_ImageQuality_<measure>_<channel>`` per measure and channel.

    A field at a time, one plane read and forgotten; ``workers`` threads
    (default: the cores the process may use), or with a dask.distributed
    ``client`` tasks of a few fields each on the cluster (the table's links
    travel to the workers, which read the images themselves). Each field's
    measures are kept by its key, so a second call (another rule, another
    level) reads no pixels. A field without the channel's image gets NaN
    (and the reason among the table's problems). ``progress(done, total)``;
    ``cancel`` a ``threading.Event`` (set: stop, nothing returned), as
    scoring takes it.
    """
    from ..images.quality import MEASURES

    fovs = pt.fields_of_view
    names = list(channels) if channels is not None else list(pt.channel_names)
    if not names:
        raise ArrowscopeError(
            "the table links no images to measure",
            path=getattr(pt, "path", None),
            hint="give the folder of its images (--images) or its image table",
        )
    build = getattr(pt, "_stacks_name", id(pt))
    jobs = [(i, ch) for i in range(len(fovs)) for ch in names]
    found = {job: _MEASURED.get((build, fovs[job[0]].key, job[1])) for job in jobs}
    todo = [job for job in jobs if found[job] is None]
    run = _measured_here if client is None else _measured_on
    for job, (got, problem) in run(pt, todo, progress, cancel, workers, client):
        if problem is not None:
            pt.note_problem(f"field {fovs[job[0]].label}, {job[1]}: {problem}")
        if len(_MEASURED) >= _MEASURED_MAX:
            _MEASURED.clear()
        _MEASURED[(build, fovs[job[0]].key, job[1])] = found[job] = got
    columns: dict[str, list[float]] = {}
    for job in jobs:
        got = found[job]
        for m in MEASURES:
            columns.setdefault(f"Image_ImageQuality_{m}_{job[1]}", []).append(got[m])
    return pa.table({k: pa.array(v, pa.float64()) for k, v in columns.items()})


def _measure(links: Sequence[Any], fov: Any, channel: str) -> _Measured:
    """One field's plane of ``channel`` measured: (measures, None), or NaN
    measures and why where the plane cannot be read (or is not linked)."""
    from ..images.quality import MEASURES, image_quality

    try:
        for link in links:
            plane = link.channel_plane(fov, channel)
            if plane is not None:
                return image_quality(plane), None
        problem = None  # the table links no such image to this field
    except ArrowscopeError as exc:
        problem = str(exc)
    return dict.fromkeys(MEASURES, float("nan")), problem


def _measure_many(
    links: Sequence[Any], jobs: Sequence[tuple[Any, str]]
) -> list[_Measured]:
    """A dask task: several fields' planes measured, one after another."""
    return [_measure(links, fov, channel) for fov, channel in jobs]


def _cancelled(pt: Any) -> ArrowscopeError:
    return ArrowscopeError(
        "measuring the fields was cancelled; nothing was kept",
        path=getattr(pt, "path", None),
    )


def _measured_here(
    pt: Any, jobs: list[_Job], progress: Any, cancel: Any, workers: Any, _: Any
) -> Iterator[tuple[_Job, _Measured]]:
    """(job, (measures, problem)) of each job, on this machine's threads."""
    from concurrent.futures import ThreadPoolExecutor

    from .batch import usable_cores

    fovs, links = pt.fields_of_view, pt.links
    pool = ThreadPoolExecutor(max_workers=workers or usable_cores())
    try:
        done = pool.map(lambda job: _measure(links, fovs[job[0]], job[1]), jobs)
        for n, (job, got) in enumerate(zip(jobs, done, strict=True), start=1):
            if progress is not None:
                progress(n, len(jobs))
            if cancel is not None and cancel.is_set():
                raise _cancelled(pt)
            yield job, got
    finally:  # a cancel stops the fields not yet started
        pool.shutdown(wait=True, cancel_futures=True)


def _measured_on(
    pt: Any, jobs: list[_Job], progress: Any, cancel: Any, _: Any, client: Any
) -> Iterator[tuple[_Job, _Measured]]:
    """(job, (measures, problem)) of each job, in tasks of a few planes on a
    dask cluster (the links scattered once)."""
    from distributed import as_completed

    if not jobs:
        return
    fovs = pt.fields_of_view
    workers = max(1, len(client.scheduler_info().get("workers", {})))
    size = max(1, min(24, len(jobs) // (workers * 4)))
    chunks = [jobs[i : i + size] for i in range(0, len(jobs), size)]
    [links] = client.scatter([list(pt.links)], broadcast=True)
    futures = {
        client.submit(
            _measure_many, links, [(fovs[i], ch) for i, ch in chunk], pure=False
        ): chunk
        for chunk in chunks
    }
    done = 0
    try:
        for future in as_completed(futures):
            chunk = futures[future]
            yield from zip(chunk, future.result(), strict=True)
            done += len(chunk)
            if progress is not None:
                progress(done, len(jobs))
            if cancel is not None and cancel.is_set():
                raise _cancelled(pt)
    finally:
        client.cancel(list(futures))


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
        # MeasureImageQuality's PercentMaximal (MeasureImageIntensity's is
        # near 0 on most fields: robust z of it flags noise, so it is no preset)
        m = re.match(r"^(?:Image_)?ImageQuality_PercentMaximal_(.+)$", c)
        if m:
            out[f"saturated_{m.group(1)}"] = {c: bright}
    if CELLS in columns:
        out["few_cells"] = {CELLS: blur}
        out["many_cells"] = {CELLS: bright}
    return out


LEVELS = ("field", "well")


def well_table(fields: pa.Table) -> pa.Table:
    """One row per well (plate and well) from a field table: its fields, its
    cells, and the median of each field measure."""
    plate = _find(fields.column_names, "Metadata_Plate", "Image_Metadata_Plate")
    well = _find(fields.column_names, "Metadata_Well", "Image_Metadata_Well")
    if well is None:
        raise ArrowscopeError(
            "the table has no well column (Metadata_Well): wells cannot be judged",
            column="Metadata_Well",
            hint="judge fields instead (--level field)",
        )
    by = [c for c in (plate, well) if c]
    measures = [
        c
        for c in fields.column_names
        if c.startswith("Image_")
        and not c.startswith("Image_Metadata_")
        and _numeric(fields.schema.field(c).type)
    ]
    codes, groups = group_codes(fields, by)
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1

    def per_well(values: np.ndarray, how: Any) -> np.ndarray:
        return np.array([how(v) for v in np.split(values[order], bounds)])

    out: dict[str, Any] = {c: [g[i] for g in groups] for i, c in enumerate(by)}
    cells = fields.column(CELLS).to_numpy(zero_copy_only=False)
    out[CELLS] = per_well(cells, np.sum).astype(np.int64)
    out[FIELDS] = per_well(np.ones(len(cells), np.int64), np.sum)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN well: NaN
        for m in measures:  # the exact median of a well's fields (two or few)
            values = fields.column(m).cast(pa.float64()).to_numpy(zero_copy_only=False)
            out[m] = per_well(values, np.nanmedian)
    return pa.table(out)


#: a well's number of fields, in a well table
FIELDS = "Metadata_well_fields"


def level_table(
    pt: Any, level: str = "field", pixels: bool | Sequence[str] = False, **options: Any
) -> pa.Table:
    """The fields (one row each, :func:`field_table`) or the wells
    (:func:`well_table`) of profile table ``pt``; ``pixels`` and ``options``
    as :func:`field_table` takes them."""
    if level not in LEVELS:
        raise ArrowscopeError(f"unknown level {level!r}", hint="field or well")
    fields = field_table(pt, pixels, **options)
    return fields if level == "field" else well_table(fields)


def level_qc(
    pt: Any,
    level: str = "field",
    conditions: Any = "presets",
    method: Any = "robust",
    by_plate: bool = True,
    pixels: bool | Sequence[str] = False,
    **options: Any,
) -> tuple[pa.Table, QCResult]:
    """Judge every field (or well) of ``pt``: ``(its table, QCResult)``.
    Scores are robust z within each plate by default (a plate's fields
    against each other: plates differ in staining). ``conditions``:
    ``"presets"`` (:func:`field_presets` of the measures found), or the cell
    rules' forms (a dict, a coSMicQC YAML file) on these measures.
    ``pixels``: measure image quality from the images where the table has
    no such columns (:func:`pixel_measures`, which takes ``options``)."""
    table = level_table(pt, level, pixels, **options)
    result = judge_table(table, conditions, method, by_plate, level=level)
    if level == "field":
        result = _with_fields_rejected_by_eye(pt, table, result)
    return table, result


def judge_table(
    table: pa.Table,
    conditions: Any = "presets",
    method: Any = "robust",
    by_plate: bool = True,
    *,
    level: str = "field",
) -> QCResult:
    """The rules on a field (or well) table already made: its flags, scores
    and report (robust z within each plate by default)."""
    if isinstance(conditions, str) and conditions == "presets":
        conditions = field_presets(table.column_names)
    if isinstance(conditions, Mapping) and not conditions:
        raise ArrowscopeError(
            f"no {level} conditions: the table has no {level} measures"
        )
    plate = _find(table.column_names, "Metadata_Plate", "Image_Metadata_Plate")
    group = [plate] if by_plate and plate else None
    return compute_flags(table, conditions, method, group)


#: the flag of the fields rejected by eye in the Fields panel
EYE_FLAG = "rejected_by_eye"


def _with_fields_rejected_by_eye(
    pt: Any, table: pa.Table, result: QCResult
) -> QCResult:
    """The fields a person rejected in the Fields panel (stored by key beside
    the table) flagged with the rules' flags, so the report names them and
    ``--cleaned`` leaves their cells out."""
    from .marks import sidecar_path

    try:
        if not sidecar_path(pt, "fields").is_file():
            return result
        marks = field_marks(pt, table)
    except ArrowscopeError:  # no file to keep verdicts beside
        return result
    if not len(marks):
        return result
    verdicts = marks.verdicts(table.select(marks.key_columns))
    rejected = np.array([v == "reject" for v in verdicts], bool)
    return with_flag(result, EYE_FLAG, rejected, "rejected in the Fields panel")


def with_flag(result: QCResult, name: str, hit: np.ndarray, why: str) -> QCResult:
    """``result`` with one more condition's flag column (``hit``: each row
    flagged or not) and its line in the report, ``why`` its clause."""
    flags = result.flags.append_column(
        f"{FLAG_PREFIX}{name}{FLAG_SUFFIX}", pa.array(np.asarray(hit, bool))
    )
    report = dict(result.report)
    report["conditions"] = {
        **report.get("conditions", {}),
        name: {
            "clauses": [why],
            "flagged": int(hit.sum()),
            "percent": round(100.0 * float(hit.mean()), 3) if hit.size else 0.0,
        },
    }
    return QCResult(flags, result.scores, report)


#: the flag of the plates whose wells match their layout turned by 180°
ROTATED_FLAG = "rotated_plate"


def flag_rotated_plates(
    table: pa.Table, result: QCResult, wells: pa.Table, perturbation: str
) -> tuple[QCResult, dict[str, dict[str, Any]]]:
    """The well-level ``result`` with a flag on every well of a plate whose
    wells match the perturbation layout better turned by 180° (a plate
    loaded the wrong way round: its wells' labels are wrong), so the catalog
    names the plate and ``--cleaned`` leaves its cells out until the layout
    is fixed. ``wells``: the wells' profiles
    (:func:`~arrowscope.core.profiles.layout.well_profiles`). Returns the
    result and each plate's correlations
    (:func:`~arrowscope.core.profiles.layout.rotated_plates`); one plate
    alone cannot be judged and is returned as it was."""
    from .layout import profile_features, rotated_plates

    plate_col = _find(wells.column_names, "Metadata_Plate", "Image_Metadata_Plate")
    mine = _find(table.column_names, "Metadata_Plate", "Image_Metadata_Plate")
    if plate_col is None or mine is None:
        return result, {}
    if len(set(wells.column(plate_col).to_pylist())) < 2:
        return result, {}
    found = rotated_plates(wells, perturbation, profile_features(wells, perturbation))
    turned = {str(p) for p, f in found.items() if f["rotated"]}
    hit = np.array([str(p) in turned for p in table.column(mine).to_pylist()], bool)
    why = "the wells match the layout turned by 180 degrees"
    return with_flag(result, ROTATED_FLAG, hit, why), found


def field_qc(
    pt: Any, conditions: Any = "presets", method: Any = "robust", by_plate: bool = True
) -> tuple[pa.Table, QCResult]:
    """:func:`level_qc` of the fields."""
    return level_qc(pt, "field", conditions, method, by_plate)


def level_report(table: pa.Table, result: QCResult, *, rename: bool = True) -> pa.Table:
    """Every field (or well): its keys (as pycytominer names them; as the
    table names them with ``rename=False``), its measures, a flag per
    condition and the reason (the conditions that flagged it, empty when
    none) — what the cell-level ``--out`` is for cells."""
    flags = result.flags
    names = flags.column_names
    said = {n: n.removeprefix(FLAG_PREFIX).removesuffix(FLAG_SUFFIX) for n in names}
    hits = {n: flags.column(n).to_numpy(zero_copy_only=False) for n in names}
    reasons = [
        ", ".join(said[n] for n in names if hits[n][i]) for i in range(table.num_rows)
    ]
    columns: dict[str, Any] = {}
    for c in table.column_names:
        keep = not rename or not c.startswith("Image_Metadata_")
        columns[c if keep else c.removeprefix("Image_")] = table.column(c)
    for n in names:
        columns[n] = flags.column(n)
    columns["Metadata_qc_reason"] = pa.array(reasons, pa.string())
    return pa.table(columns)


def write_into_warehouse(
    warehouse: Any,
    name: str,
    table: pa.Table,
    result: QCResult,
    *,
    level: str,
    overwrite: bool = False,
) -> Any:
    """The QC catalog of fields (or wells) as table ``quality_control.<name>``
    of ``warehouse``: one row per field or well, keyed as the profiles name
    their fields (plate, well, site, image key), with its measures, a flag
    per condition and the reason. Reopening the warehouse gives each cell its
    field's (or well's) flags, matched by those keys."""
    from .qc import flag_columns

    catalog = level_report(table, result, rename=False)
    flags = flag_columns(catalog.column_names)
    return warehouse.write_quality_control(
        name,
        catalog.drop_columns(flags),
        catalog.select(flags),
        report={**result.report, "level": level},
        overwrite=overwrite,
    )


def field_catalog(table: pa.Table, result: QCResult) -> pa.Table:
    """The flagged rows of :func:`level_report` only."""
    report = level_report(table, result)
    return report.filter(pa.array(result.mask()))


def level_of_cells(pt: Any, table: pa.Table) -> np.ndarray:
    """The row of ``table`` (a field or well table of ``pt``) each cell of
    ``pt`` belongs to, -1 for none: fields by the profile table's own fields
    of view, wells by the cell's plate and well names (never by position)."""
    fov = pt.fov_of_row
    if FIELDS not in table.column_names:  # a field table: one row per field
        return np.where(fov >= 0, fov, -1).astype(np.int64)
    keys = [
        c
        for c in (
            _find(table.column_names, "Metadata_Plate", "Image_Metadata_Plate"),
            _find(table.column_names, "Metadata_Well", "Image_Metadata_Well"),
        )
        if c
    ]
    index = {tuple(r.values()): i for i, r in enumerate(table.select(keys).to_pylist())}
    # a field's well from its first cell: the cells' plate and well, read once
    first = np.array([int(f.rows[0]) for f in pt.fields_of_view], np.int64)
    wells = pt.read(keys).take(pa.array(first)).to_pylist()
    per_field = np.array([index.get(tuple(r.values()), -1) for r in wells], np.int64)
    return np.where(fov >= 0, per_field[np.clip(fov, 0, None)], -1)


def _expand(flagged: np.ndarray, level: np.ndarray) -> np.ndarray:
    return (level >= 0) & np.asarray(flagged, bool)[np.clip(level, 0, None)]


def cells_of_flagged(pt: Any, table: pa.Table, result: QCResult) -> np.ndarray:
    """A row mask of ``pt``: True for the cells of the fields (or wells) that
    ``result`` flagged in ``table``."""
    return _expand(result.mask(), level_of_cells(pt, table))


def cells_of_flagged_fields(pt: Any, result: QCResult) -> np.ndarray:
    """:func:`cells_of_flagged` for a field-level result."""
    return cells_of_flagged(pt, field_table(pt), result)


def write_report(path: str | Path, table: pa.Table, result: QCResult) -> Path:
    """Write :func:`level_report` (Parquet, CSV or TSV by suffix), atomically."""
    from .qc import _write_table

    return _write_table(level_report(table, result), Path(path))


def field_thumbnail(
    pt: Any,
    index: int,
    colors: Mapping[str, tuple[float, float, float]],
    limits: Mapping[str, tuple[float, float]] | None = None,
    size: int = 160,
) -> np.ndarray | None:
    """Field of view ``index`` as an 8-bit RGB thumbnail of at most ``size``
    pixels a side: each channel of ``colors`` shrunk by block means (no
    pixel left out, no aliasing), scaled by ``limits`` (the layers' shared
    contrast: fields compare with each other and the canvas; None: each
    channel by its own 1st and 99.5th percentiles) and added in its colour.
    None when the field has none of the channels."""
    from ..images.blend import blend, to_rgb8

    planes = {}
    for channel in colors:
        plane = pt.field_plane(index, channel)
        if plane is not None:
            planes[channel] = _block_mean(np.asarray(plane, np.float32), size)
    rgb = blend(planes, colors, limits)
    return None if rgb is None else to_rgb8(rgb)


def field_thumbnails(
    pt: Any,
    indices: Sequence[int],
    colors: Mapping[str, tuple[float, float, float]],
    limits: Mapping[str, tuple[float, float]] | None = None,
    size: int = 160,
    workers: int | None = None,
) -> list[np.ndarray | None]:
    """:func:`field_thumbnail` of each field of ``indices`` (a gallery page),
    read and drawn on every core the process may use, in order."""
    from concurrent.futures import ThreadPoolExecutor

    from .batch import usable_cores

    with ThreadPoolExecutor(max_workers=workers or usable_cores()) as pool:
        return list(
            pool.map(lambda i: field_thumbnail(pt, i, colors, limits, size), indices)
        )


def _block_mean(plane: np.ndarray, size: int) -> np.ndarray:
    """``plane`` shrunk by an integer factor (block means) to at most
    ``size`` pixels a side."""
    factor = max(1, int(np.ceil(max(plane.shape) / size)))
    if factor == 1:
        return plane
    h, w = (plane.shape[0] // factor) * factor, (plane.shape[1] // factor) * factor
    blocks = plane[:h, :w].reshape(h // factor, factor, w // factor, factor)
    return blocks.mean(axis=(1, 3))


def field_marks(pt: Any, table: pa.Table | None = None) -> Any:
    """The verdicts by eye on whole fields (keep / reject / unsure), stored
    by each field's key beside the table (``<stem>.fields.parquet``; in a
    warehouse's ``quality_control`` folder), as cell verdicts are.
    ``table``: the field table when the caller has it already."""
    from .marks import Marks, sidecar_path

    table = field_table(pt) if table is None else table
    keys = [c for c in table.column_names if c in pt.columns and c != CELLS]
    keys = [c for c in keys if not _MEASURES.match(c.removeprefix("Image_"))]
    return Marks(sidecar_path(pt, "fields"), keys, pt.schema)
