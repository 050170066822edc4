"""Per-cell crops from a linked profile table, and tables of embedded crops.

Crops are cut around each row's bounding box (or its centre) from the field
of view it is linked to by key. Rows are grouped by field of view so that a
plane is read once however many cells it holds. The crop table follows
CytoDataFrame's naming: ``<image column>_OMEArrow_ORIG`` (pixels) and
``<image column>_OMEArrow_LABL`` (the cell's mask) beside the profile columns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from .table import ProfileTable, labels_at

DEFAULT_HALF = 24  # half-size of a crop when a row has no bounding box


@dataclass
class CellCrop:
    """The channels of one cell's crop, its mask, and where it was cut."""

    row: int
    channels: dict[str, np.ndarray]  # channel → (Y, X)
    mask: np.ndarray | None  # (Y, X) bool: this cell's pixels
    box: tuple[int, int, int, int]  # y0, x0, y1, x1 in the field of view


def crop_box(
    pt: ProfileTable, row: int, shape: tuple[int, int], pad: int = 8
) -> tuple[int, int, int, int] | None:
    """The (y0, x0, y1, x1) box around ``row``'s cell, clipped to ``shape``."""
    loc = pt.locate(row)
    if loc.bbox is not None:
        y0, x0, y1, x1 = loc.bbox
    elif loc.center is not None:
        cy, cx = loc.center
        y0, x0, y1, x1 = (
            cy - DEFAULT_HALF,
            cx - DEFAULT_HALF,
            cy + DEFAULT_HALF,
            cx + DEFAULT_HALF,
        )
    else:
        return None
    Y, X = shape
    box = (
        max(0, int(np.floor(y0)) - pad),
        max(0, int(np.floor(x0)) - pad),
        min(Y, int(np.ceil(y1)) + pad + 1),
        min(X, int(np.ceil(x1)) + pad + 1),
    )
    return box if box[2] > box[0] and box[3] > box[1] else None


def iter_cell_crops(
    pt: ProfileTable,
    rows: Sequence[int],
    *,
    pad: int = 8,
    channels: Sequence[str] | None = None,
    mask: str | None = None,
) -> Iterator[CellCrop | None]:
    """Crops of ``rows`` in the order given (None where a row cannot be placed)."""
    shape = pt.plane_shape()
    channels = list(channels) if channels is not None else pt.channel_names
    mask_name = mask if mask is not None else _default_mask(pt)
    stacks = {ch: pt.channel_stack(ch) for ch in channels} if shape else {}
    masks = pt.mask_stack(mask_name) if shape and mask_name else None
    objects = pt.object_numbers()
    centers = pt.centers()
    planes: dict[tuple[str, int], np.ndarray] = {}
    for row in rows:
        fov = int(pt.fov_of_row[row]) if shape else -1
        stored = _stored_crops(pt, row, channels)
        if stored is not None and fov >= 0:
            # the warehouse's own crops: no re-cutting, no padding
            box = crop_box(pt, row, shape, 0) if shape else None
            cell = None
            if box is not None and masks is not None:
                labels = np.asarray(masks[fov])
                value = _cell_label(pt, row, labels, objects, centers)
                y0, x0, y1, x1 = box
                fits = next(iter(stored.values())).shape == (y1 - y0, x1 - x0)
                cell = labels[y0:y1, x0:x1] == value if value and fits else None
            yield CellCrop(row, stored, cell, box or (0, 0, 0, 0))
            continue
        box = crop_box(pt, row, shape, pad) if fov >= 0 and shape else None
        if box is None:
            yield None
            continue
        y0, x0, y1, x1 = box
        if planes and next(iter(planes))[1] != fov:
            planes.clear()  # keep one field of view in memory at a time
        out = {}
        for ch, stack in stacks.items():
            plane = planes.get((ch, fov))
            if plane is None:
                plane = planes[(ch, fov)] = np.asarray(stack[fov])
            out[ch] = plane[y0:y1, x0:x1]
        cell = None
        if masks is not None:
            labels = planes.get(("\0mask", fov))
            if labels is None:
                labels = planes[("\0mask", fov)] = np.asarray(masks[fov])
            value = _cell_label(pt, row, labels, objects, centers)
            cell = labels[y0:y1, x0:x1] == value if value else None
        yield CellCrop(row, out, cell, box)


def _stored_crops(
    pt: ProfileTable, row: int, channels: Sequence[str]
) -> dict[str, np.ndarray] | None:
    """Every channel's stored crop of ``row`` (CytoTable's image_crops), or None."""
    if pt.link("image crops") is None or not channels:
        return None
    out = {}
    for ch in channels:
        image = pt.stored_crop(row, ch)
        if image is None:
            return None
        out[ch] = image.to_numpy()[0, 0, 0]
    return out


def _default_mask(pt: ProfileTable) -> str | None:
    names = pt.mask_names
    comp = pt.keys.compartment
    if comp in names:
        return comp
    return names[0] if names else None


def _cell_label(
    pt: ProfileTable,
    row: int,
    labels: np.ndarray,
    objects: np.ndarray | None,
    centers: np.ndarray,
) -> int:
    """The label of ``row``'s cell: its object number, else the label at its centre."""
    if objects is not None and objects[row] > 0 and (labels == objects[row]).any():
        under = labels_at(labels, centers[row : row + 1])[0]
        if under in (0, objects[row]):
            return int(objects[row])
    return int(labels_at(labels, centers[row : row + 1])[0])


def sort_by_field(pt: ProfileTable, rows: Sequence[int]) -> list[int]:
    """``rows`` ordered by field of view (so each plane is read once), stable."""
    rows = np.asarray(rows, np.int64)
    return rows[np.argsort(pt.fov_of_row[rows], kind="stable")].tolist()


def write_crop_table(
    pt: ProfileTable,
    path: str | Path,
    rows: Sequence[int] | None = None,
    *,
    extra: pa.Table | None = None,
    pad: int = 8,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write the profile rows with their crops embedded as OME-Arrow columns.

    One ``<file column>_OMEArrow_ORIG`` column per channel (named after the
    ``Image_FileName_<channel>`` column, or ``Image_<channel>`` when images
    come from an OME-Parquet image table) and ``_OMEArrow_LABL`` with the
    cell's mask. ``extra`` columns (e.g. QC flags, one per row of ``pt``)
    are appended.
    """
    from ..images.writer import write_ome_table

    rows = list(range(pt.num_rows)) if rows is None else [int(r) for r in rows]
    order = sort_by_field(pt, rows)
    crops: dict[int, CellCrop | None] = {}
    for i, crop in enumerate(iter_cell_crops(pt, order, pad=pad)):
        crops[order[i]] = crop
        if progress:
            progress(i + 1, len(order))
    channels = pt.channel_names
    base = {ch: pt.keys.files.get(ch, f"Image_{ch}") for ch in channels}
    columns: dict[str, list[Any]] = {f"{base[ch]}_OMEArrow_ORIG": [] for ch in channels}
    label_col = (
        f"{base[channels[0]]}_OMEArrow_LABL" if channels else "Image_OMEArrow_LABL"
    )
    columns[label_col] = []
    for r in rows:
        crop = crops[r]
        for ch in channels:
            data = None if crop is None else crop.channels.get(ch)
            columns[f"{base[ch]}_OMEArrow_ORIG"].append(
                None
                if data is None
                else {
                    "data": data,
                    "dims": "YX",
                    "name": f"row{r}-{ch}",
                    "channel_names": [ch],
                }
            )
        columns[label_col].append(
            None
            if crop is None or crop.mask is None
            else {
                "data": crop.mask.astype(np.uint8),
                "dims": "YX",
                "name": f"row{r}-mask",
                "image_type": "label",
            }
        )
    table = pt.read([c for c in pt.columns if c not in pt.keys.ome], rows=rows)
    if extra is not None:
        part = extra.take(pa.array(rows))
        for name, col in zip(part.column_names, part.columns, strict=True):
            if name in table.column_names:
                table = table.drop_columns([name])
            table = table.append_column(name, col)
    return write_ome_table(path, columns, extra_columns=table)
