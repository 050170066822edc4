"""Layer data for a linked profile table: fields of view, masks and cell points.

Fields of view are stacked on a leading ``image`` axis (one Image layer per
channel, Labels per mask); cells are a Points layer at their centres on that
axis carrying only key columns and a ``row`` column — the explicit link back
to the table row, never the point's position in the layer. No Qt here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.metadata import default_color
from ..core.profiles import ProfileTable
from .layers import NAMESPACE, LayerData

CELL_COLOR = "#00e5ff"
OUTLIER_COLOR = "#ff2d2d"
MANUAL_COLOR = "#ffb000"
HIDDEN_COLOR = "#00000000"
CELLS_ROLE = "cells"


def profile_meta(pt: ProfileTable, role: str, **extra: Any) -> dict[str, Any]:
    """The ``metadata["arrowscope"]`` entry linking a layer to its profile table."""
    return {
        NAMESPACE: {
            "role": role,
            "profiles": None if pt.path is None else str(pt.path),
            "image_root": None if pt.image_root is None else str(pt.image_root),
            "images": None if pt.images_path is None else str(pt.images_path),
            **extra,
        }
    }


def cell_points(pt: ProfileTable) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3) image/y/x coordinates of the rows that can be placed, and their rows."""
    centers = pt.centers()
    fov = pt.fov_of_row
    ok = (fov >= 0) & np.isfinite(centers).all(axis=1)
    rows = np.flatnonzero(ok)
    coords = np.column_stack([fov[rows], centers[rows]]).astype(np.float64)
    return coords, rows


def profile_layers(pt: ProfileTable) -> list[LayerData]:
    """Channel images, masks and the cells Points layer of ``pt``."""
    layers: list[LayerData] = []
    common = {"axis_labels": ("image", "y", "x")}
    channels = pt.channel_names if pt.plane_shape() is not None else []
    available = [
        ch
        for ch in channels
        if any(
            f.channels.get(ch) is not None or f.ome_row is not None
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
                    "colormap": default_color(i, len(available))
                    if len(available) > 1
                    else "gray",
                    "blending": "additive" if i else "translucent_no_depth",
                    "contrast_limits": _contrast(stack),
                    "metadata": profile_meta(pt, "channel", channel=ch),
                },
                "image",
            )
        )
    for name in pt.mask_names:
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
                "size": 12,
                "symbol": "ring",
                "face_color": CELL_COLOR,
                "border_width": 0,
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
