"""Channels blended into one RGB picture, as the viewer shows them: each
plane scaled by its channel's contrast limits (shared by every tile, so a dim
cell or field looks dim; without limits, by the plane's own 1st and 99.5th
percentiles) and added in its channel's colour. Gallery tiles of cells and
thumbnails of whole fields are drawn with it."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

Color = tuple[float, float, float]


def blend(
    planes: Mapping[str, np.ndarray],
    colors: Mapping[str, Color],
    limits: Mapping[str, tuple[float, float]] | None = None,
) -> np.ndarray | None:
    """The planes (by channel) as a float32 RGB sum, unclipped (white for a
    channel without a colour); None without planes. A plane larger than the
    first is cut to its size."""
    rgb: np.ndarray | None = None
    for channel, plane in planes.items():
        data = np.asarray(plane, np.float32)
        if limits is not None and channel in limits:
            lo, hi = limits[channel]
        else:
            lo, hi = np.percentile(data, [1, 99.5])
        norm = np.clip((data - lo) / max(float(hi - lo), 1e-6), 0, 1)
        layer = norm[..., None] * np.asarray(colors.get(channel, (1, 1, 1)), np.float32)
        rgb = layer if rgb is None else rgb + layer[: rgb.shape[0], : rgb.shape[1]]
    return rgb


def to_rgb8(rgb: np.ndarray) -> np.ndarray:
    """A float RGB picture (0..1, more is clipped) as 8-bit RGB."""
    return np.ascontiguousarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8))
