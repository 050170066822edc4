"""Layer data for a linked profile table: fields of view, masks and cell points.

Fields of view are stacked on a leading ``image`` axis (one Image layer per
channel, Labels per mask); cells are a Points layer at their centres on that
axis carrying only key columns and a ``row`` column — the explicit link back
to the table row, never the point's position in the layer. No Qt here.
"""

from __future__ import annotations

import uuid
import weakref
from typing import Any

import numpy as np

from ..core.images.metadata import default_color
from ..core.profiles.table import ProfileTable
from .layers import NAMESPACE, LayerData

CELL_COLOR = "#00e5ff"
OUTLIER_COLOR = "#ff2d2d"
MANUAL_COLOR = "#ffb000"
HIDDEN_COLOR = "#00000000"
#: outline widths, as a share of the marker: thin for a plain cell, so the
#: image under it stays readable; wider only for cells that need attention
THIN_BORDER = 0.1
EMPHASIS_BORDER = 0.05
SELECTED_BORDER = 0.035
#: marker diameters, as a share of each cell's own diameter (from its
#: measured area): a plain cell gets a small ring at its centre, a cell that
#: needs attention a ring just outside it, the selected cell a wider one, so
#: no ring lies over the interior of the cell being judged
PLAIN_SIZE = 0.3
EMPHASIS_SIZE = 1.35
SELECTED_SIZE = 1.8
#: a ring never shrinks below this many screen pixels (zoomed out)
MIN_SCREEN_PX = 5
#: ring colours of the verdicts by eye
MARK_COLORS = {"keep": "#4cff4c", "reject": "#ff4cff", "unsure": "#ffffff"}
CELLS_ROLE = "cells"
#: the cells layer's status-bar help: its keys judge cells
CELLS_HELP = "1 keep · 2 reject · 3 unsure · Backspace clear (the selected cell)"
#: the same keys while the Classifier panel bins cells
BINS_HELP = "1–9 put the selected cell in that bin · Backspace takes it out"
#: a classifier's bins, in order (a tab10-like palette, bright on dark images)
BIN_COLORS = (
    "#4cc9f0",
    "#f72585",
    "#ffd60a",
    "#80ed99",
    "#ff8c42",
    "#b388ff",
    "#ff5d5d",
    "#9ef01a",
    "#ffffff",
)


#: the tables whose layers were just made, by the token in the layers'
#: metadata: the panels attach to the table already open rather than open it
#: again (a JUMP plate's footer and keys are hundreds of megabytes)
_OPENED: weakref.WeakValueDictionary[str, ProfileTable] = weakref.WeakValueDictionary()


def opened_table(meta: dict[str, Any]) -> ProfileTable | None:
    """The open table a layer's ``metadata["arrowscope"]`` names, if alive."""
    token = meta.get("opened")
    return None if token is None else _OPENED.get(token)


def profile_meta(pt: ProfileTable, role: str, **extra: Any) -> dict[str, Any]:
    """The ``metadata["arrowscope"]`` entry linking a layer to its profile table."""
    token = getattr(pt, "_opened_token", None)
    if token is None:
        token = uuid.uuid4().hex
        pt._opened_token = token  # type: ignore[attr-defined]
        _OPENED[token] = pt
    return {
        NAMESPACE: {
            "role": role,
            "opened": token,
            # what the user opened: a CPA properties file reopens with its keys
            # (a table in a bucket by its URI)
            "profiles": _reopen_location(pt),
            # how to reopen it with its links (image folder, image table…)
            "image_root": pt.options().get("image_root"),
            "images": pt.options().get("images"),
            "options": pt.options(),
            # a warehouse's profiles reopen from its root, with every link
            "warehouse": None if pt.warehouse is None else str(pt.warehouse.root),
            "table": pt.warehouse_table,
            **extra,
        }
    }


def _reopen_location(pt: ProfileTable) -> str | None:
    where = pt.properties or pt.path or pt.uri
    return None if where is None else str(where)


def cell_points(pt: ProfileTable) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3) image/y/x coordinates of the rows that can be placed, and their rows."""
    centers = pt.centers()
    fov = pt.fov_of_row
    ok = (fov >= 0) & np.isfinite(centers).all(axis=1)
    rows = np.flatnonzero(ok)
    coords = np.column_stack([fov[rows], centers[rows]]).astype(np.float64)
    return coords, rows


def cell_diameters(pt: ProfileTable) -> np.ndarray:
    """Each row's cell diameter in pixels, the same whatever the source: from
    the compartment's measured area (``<Compartment>_AreaShape_Area``, the
    diameter of a disc of that area), else its bounding box, else a share of
    the field; a row without a measure gets the median of the others."""
    from ..core.profiles.keys import _find

    n = pt.num_rows
    comp = pt.keys.compartment or "Nuclei"
    area = _find(pt.columns, f"{comp}_AreaShape_Area")
    found = np.full(n, np.nan)
    if area is not None:
        values = pt.read([area]).column(0).to_numpy(zero_copy_only=False)
        with np.errstate(invalid="ignore"):
            found = 2.0 * np.sqrt(np.asarray(values, np.float64) / np.pi)
    elif pt.keys.bbox:
        boxes = pt.bboxes()
        if boxes is not None:
            found = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    good = np.isfinite(found) & (found > 0)
    if good.any():
        fill = float(np.median(found[good]))
    else:
        shape = pt.plane_shape()
        fill = 0.03 * max(shape) if shape is not None else 12.0
    return np.where(good, found, fill)


def _channel_colormap(pt: ProfileTable, channel: str, i: int, n: int) -> str:
    """The colour a CPA properties file gives the channel, else a distinct one
    (gray for a single channel)."""
    from napari.utils.colormaps import AVAILABLE_COLORMAPS

    named = str(pt.channel_colors.get(channel, "")).strip().lower()
    if named in AVAILABLE_COLORMAPS:
        return named
    return default_color(i, n) if n > 1 else "gray"


def profile_layers(pt: ProfileTable) -> list[LayerData]:
    """Channel images, masks and the cells Points layer of ``pt``."""
    layers: list[LayerData] = []
    # the stacks keep their own planes (a thread-safe cache): napari's dask
    # cache is a global callback that concurrent reads of one plane corrupt
    common = {"axis_labels": ("image", "y", "x"), "cache": False}
    shown = pt.plane_shape() is not None  # some field's image or mask was found
    channels = pt.channel_names if shown else []
    available = [
        ch
        for ch in channels
        if any(
            f.channels.get(ch) is not None or any(link.covers(f) for link in pt.links)
            for f in pt.fields_of_view
        )
    ]
    for i, ch in enumerate(available):
        stack = pt.channel_stack(ch)
        layers.append(
            (
                stack,
                {
                    **common,
                    "name": ch,
                    "colormap": _channel_colormap(pt, ch, i, len(available)),
                    "blending": "additive" if i else "translucent_no_depth",
                    "contrast_limits": _contrast(stack),
                    "metadata": profile_meta(pt, "channel", channel=ch),
                },
                "image",
            )
        )
    for name in pt.mask_names if shown else []:
        layers.append(
            (
                pt.mask_stack(name),
                {
                    **common,
                    "name": f"{name} mask",
                    "opacity": 0.4,
                    "metadata": profile_meta(pt, "mask", mask=name),
                },
                "labels",
            )
        )
    coords, rows = cell_points(pt)
    features = pt.key_table.take(rows).to_pandas() if len(rows) else None
    if features is not None:
        features.insert(0, "row", rows)
    layers.append(
        (
            coords,
            {
                **common,
                "name": "cells",
                # a small ring at each cell's centre (rings of cells that need
                # attention are drawn outside the cell by the session)
                "size": PLAIN_SIZE * cell_diameters(pt)[rows],
                "canvas_size_limits": (MIN_SCREEN_PX, 100_000),
                # hollow markers: a cell's pixels are never covered
                "symbol": "disc",
                "face_color": HIDDEN_COLOR,
                "border_color": HIDDEN_COLOR if pt.mask_names else CELL_COLOR,
                "border_width": THIN_BORDER,
                "border_width_is_relative": True,
                "features": features,
                "metadata": profile_meta(pt, CELLS_ROLE, rows=rows),
            },
            "points",
        )
    )
    return layers


def _contrast(stack: Any) -> list[float]:
    """Contrast limits from a cheap sample: the first plane, decimated."""
    dtype = np.dtype(stack.dtype)
    if stack.shape[0] == 0:
        return [0.0, 1.0]
    plane = np.asarray(stack[0, ::4, ::4])
    lo, hi = (float(v) for v in np.percentile(plane, [0.5, 99.8]))
    if hi <= lo:
        hi = lo + (1.0 if dtype.kind == "f" else 1)
    return [lo, hi]


def cell_points_layer(data: Any, **kwargs: Any) -> Any:
    """The cells Points layer, with its data extent cached.

    napari recomputes a Points layer's extent (min/max over every point) on
    each slider move; with hundreds of thousands of cells that dominates
    moving to another field of view. Cells are not edited point by point, and
    napari replaces the array whenever points are added or removed, so the
    extent is cached per data array.
    """
    from napari.layers import Points

    class CellPoints(Points):  # type: ignore[misc]
        _arrowscope_extent: tuple[Any, np.ndarray] | None = None

        @property
        def _extent_data(self) -> np.ndarray:
            cached = self._arrowscope_extent
            if cached is None or cached[0] is not self.data:
                cached = (self.data, super()._extent_data)
                self._arrowscope_extent = cached
            return cached[1].copy()  # napari modifies what it gets

    return CellPoints(data, **kwargs)


def add_profile_layers(viewer: Any, layers: list[Any]) -> Any:
    """Add a table's layers (:func:`profile_layers`, made off the GUI thread)
    to ``viewer``; returns the cells Points layer."""
    points = None
    for data, kwargs, kind in layers:
        if kind == "points":
            points = viewer.add_layer(cell_points_layer(data, **kwargs))
        else:
            getattr(viewer, f"add_{kind}")(data, **kwargs)
    return points
