"""Density of two features as a binned image (what the gating scatter draws).

Plotting a million points one by one is slow and hides their density; binning
them into a fixed grid of counts, as datashader does, makes the cost of a
redraw depend on the grid. Each cell's bin is computed once for a pair of
features; the counts of any subset (the filter) are then one
``numpy.bincount``.
"""

from __future__ import annotations

import numpy as np


class Density:
    """The bins of (x, y) over their finite range; cells with NaN fall out."""

    def __init__(self, x: np.ndarray, y: np.ndarray, bins: int = 200) -> None:
        self.bins = bins
        ok = np.isfinite(x) & np.isfinite(y)
        if ok.any():
            x0, x1 = float(x[ok].min()), float(x[ok].max())
            y0, y1 = float(y[ok].min()), float(y[ok].max())
        else:
            x0, x1, y0, y1 = 0.0, 1.0, 0.0, 1.0
        x1, y1 = (x1 if x1 > x0 else x0 + 1.0), (y1 if y1 > y0 else y0 + 1.0)
        self.extent = (x0, x1, y0, y1)
        with np.errstate(invalid="ignore"):
            ix = np.clip(((x - x0) * (bins / (x1 - x0))).astype(np.int64), 0, bins - 1)
            iy = np.clip(((y - y0) * (bins / (y1 - y0))).astype(np.int64), 0, bins - 1)
        self.index = np.where(ok, ix * bins + iy, -1)
        self.ok = ok

    def counts(self, rows: np.ndarray | None = None) -> np.ndarray:
        """(bins, bins) counts, x first, of the cells in ``rows`` (a mask)."""
        keep = self.ok if rows is None else self.ok & np.asarray(rows, bool)
        flat = np.bincount(self.index[keep], minlength=self.bins * self.bins)
        return flat.reshape(self.bins, self.bins)
