"""Whole-image quality measures, as CellProfiler's MeasureImageQuality
defines them, computed from a plane's pixels.

For tables whose CellProfiler pipeline did not run MeasureImageQuality, the
same measures come from the linked images themselves (a field at a time):

- ``FocusScore``: the normalised variance of the intensities (variance over
  mean; Groen et al. 1985), on intensities scaled to 0..1 as CellProfiler
  loads them (an integer image divided by its type's maximum);
- ``PowerLogLogSlope``: the slope of the log of the radial power spectrum
  against the log of the spatial frequency, over frequencies 2 up to an
  eighth of the smaller side (the mean removed, intensities divided by their
  median absolute deviation from the mean so the slope does not depend on
  brightness). Sharp images keep power at high frequencies (a shallower
  slope); blurred ones lose it (a steeper, more negative slope);
- ``PercentMaximal`` / ``PercentMinimal``: the share of pixels at the
  image's highest / lowest value (saturation, clipping);
- ``MeanIntensity``, ``MedianIntensity``, ``StdIntensity``, ``MinIntensity``,
  ``MaxIntensity`` of the scaled intensities.
"""

from __future__ import annotations

import numpy as np

#: the measures :func:`image_quality` returns, in CellProfiler's names
MEASURES = (
    "FocusScore",
    "PowerLogLogSlope",
    "PercentMaximal",
    "PercentMinimal",
    "MeanIntensity",
    "MedianIntensity",
    "StdIntensity",
    "MinIntensity",
    "MaxIntensity",
)


def scaled(plane: np.ndarray) -> np.ndarray:
    """Intensities as CellProfiler loads them: integers divided by their
    type's maximum (0..1), floats as they are; float64."""
    data = np.asarray(plane)
    if np.issubdtype(data.dtype, np.integer):
        return data.astype(np.float64) / float(np.iinfo(data.dtype).max)
    if data.dtype == np.bool_:
        return data.astype(np.float64)
    return data.astype(np.float64, copy=False)


def power_log_log_slope(image: np.ndarray) -> float:
    """Slope of log(radial power) on log(frequency) (0 for a flat image).

    Only frequencies below an eighth of the smaller side count, so only the
    four corners of the (unshifted) spectrum are needed: a real FFT along x
    gives every row's lowest frequencies, a complex FFT along y runs over
    those columns only, and the right-hand corners follow by conjugate
    symmetry. Removing the mean and dividing by the median absolute
    deviation change the zero frequency and the intercept only, never the
    slope, so they are left out.
    """
    if image.ndim != 2 or np.ptp(image) == 0:
        return 0.0
    return _slope(image)


def _slope(image: np.ndarray) -> float:
    from scipy import fft

    ny, nx = image.shape
    top = int(np.floor(min(ny, nx) / 8.0))  # an eighth: edge effects beyond
    if top <= 3:
        return 0.0
    low = fft.rfft(image, axis=1, workers=1)[:, : top + 1]  # (ny, top + 1)
    by_x = fft.fft(np.ascontiguousarray(low.T), axis=1, workers=1)  # [x, y]
    rows = np.r_[0:top, ny - top : ny]
    left = np.abs(by_x[:top][:, rows])
    # column nx - j is the conjugate of column j at row -i
    mirrored = np.abs(by_x[np.arange(top, 0, -1)][:, (-rows) % ny])
    magnitude = np.vstack([left, mirrored]).T  # [y, x]
    cols = np.r_[0:top, nx - top : nx]
    # each frequency's radius: its index distance to the nearest corner (as
    # MeasureImageQuality measures it, the far corner at index n - 1),
    # floored, from 1
    fy = np.minimum(rows, ny - 1 - rows)
    fx = np.minimum(cols, nx - 1 - cols)
    radius = np.floor(np.hypot(fy[:, None], fx[None, :])).astype(np.int64) + 1
    keep = radius < top  # radii 2..top-1 are summed
    magsum = np.bincount(radius[keep], magnitude[keep], minlength=top)[2:]
    powsum = np.bincount(radius[keep], magnitude[keep] ** 2, minlength=top)[2:]
    radii = np.arange(2, top, dtype=np.float64)
    good = (magsum > 0) & (powsum > 0)
    if good.sum() < 2:
        return 0.0
    slope, _ = np.polyfit(np.log(radii[good]), np.log(powsum[good]), 1)
    return float(slope)


def image_quality(plane: np.ndarray) -> dict[str, float]:
    """Every measure of :data:`MEASURES` for one 2-D plane.

    Integer planes are measured as they are stored and the results scaled
    (the slope does not depend on scale; 8- and 16-bit planes get their
    median and extreme counts from one histogram), which is several times
    faster than converting every pixel first.
    """
    data = np.asarray(plane)
    if data.dtype == np.bool_:
        data = data.astype(np.uint8)
    if np.issubdtype(data.dtype, np.integer):
        scale = 1.0 / float(np.iinfo(data.dtype).max)
        values = data.ravel()
        image = data
    else:
        scale = 1.0
        finite = np.isfinite(data)
        values = data[finite] if not finite.all() else data.ravel()
        image = np.where(finite, data, values.min()) if values.size else data
    if values.size == 0:
        return dict.fromkeys(MEASURES, float("nan"))
    if data.dtype.kind == "u" and data.dtype.itemsize <= 2:
        # one histogram gives every statistic of an 8- or 16-bit plane
        counts = np.bincount(values)
        present = np.flatnonzero(counts)
        low, high = present[0], present[-1]
        at_high, at_low = int(counts[high]), int(counts[low])
        median = _median_of_counts(counts, values.size)
        # sums of products, not ``@``: a BLAS call would start BLAS threads
        # that spin against the workers measuring other planes
        levels = np.arange(counts.size, dtype=np.float64)
        mean = float(np.sum(counts * levels)) / values.size
        var = float(np.sum(counts * (levels - mean) ** 2)) / values.size
    else:
        high, low = values.max(), values.min()
        at_high, at_low = int((values == high).sum()), int((values == low).sum())
        median = float(np.median(values))
        mean = float(values.mean(dtype=np.float64))
        var = float(values.var(dtype=np.float64))
    return {
        "FocusScore": var * scale / mean if mean > 0 else 0.0,
        "PowerLogLogSlope": _slope(image) if high != low and image.ndim == 2 else 0.0,
        "PercentMaximal": 100.0 * at_high / values.size,
        "PercentMinimal": 100.0 * at_low / values.size,
        "MeanIntensity": mean * scale,
        "MedianIntensity": median * scale,
        "StdIntensity": float(np.sqrt(var)) * scale,
        "MinIntensity": float(low) * scale,
        "MaxIntensity": float(high) * scale,
    }


def _median_of_counts(counts: np.ndarray, n: int) -> float:
    """The median of the values a histogram of whole numbers counts (the
    mean of the two middle values for an even count, as numpy's)."""
    cumulative = np.cumsum(counts)
    lower = int(np.searchsorted(cumulative, (n - 1) // 2 + 1))
    upper = int(np.searchsorted(cumulative, n // 2 + 1))
    return (lower + upper) / 2.0
