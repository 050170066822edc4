"""Plots that look like the window they sit in: matplotlib figures in napari's
theme (its background and text colours), fonts a person can read (9 pt and
up at 100 % scaling), and axes fitted to the data they show."""

from __future__ import annotations

from typing import Any

import numpy as np

#: the smallest font of any plot (points)
FONT = 9
TITLE_FONT = 10


def theme_colors(viewer: Any = None) -> dict[str, str]:
    """Background, text and muted colours of the viewer's napari theme."""
    name = getattr(viewer, "theme", None) or "dark"
    try:
        from napari.utils.theme import get_theme

        theme = get_theme(name)
        return {
            "background": theme.background.as_hex(),
            "text": theme.text.as_hex(),
            "muted": theme.secondary.as_hex(),
            "highlight": theme.highlight.as_hex(),
        }
    except Exception:  # noqa: BLE001 - a custom or unknown theme: the dark one
        return {
            "background": "#23242b",
            "text": "#f0f1f2",
            "muted": "#565f6c",
            "highlight": "#61696e",
        }


def make_canvas(height: int, viewer: Any = None) -> tuple[Any, Any, Any]:
    """A themed figure, its Qt canvas and one axes."""
    from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
    from matplotlib.figure import Figure

    colors = theme_colors(viewer)
    figure = Figure(figsize=(4, 3), tight_layout=True, facecolor=colors["background"])
    canvas = FigureCanvasQTAgg(figure)
    canvas.setMinimumHeight(height)
    axes = figure.add_subplot(111)
    style_axes(axes, viewer)
    return figure, canvas, axes


def style_axes(axes: Any, viewer: Any = None) -> None:
    """Theme colours and readable fonts on ``axes`` (after any clear)."""
    colors = theme_colors(viewer)
    axes.set_facecolor(colors["background"])
    axes.figure.set_facecolor(colors["background"])
    for spine in axes.spines.values():
        spine.set_color(colors["muted"])
    axes.tick_params(colors=colors["text"], labelsize=FONT)
    axes.xaxis.label.set_color(colors["text"])
    axes.yaxis.label.set_color(colors["text"])
    axes.xaxis.label.set_fontsize(FONT)
    axes.yaxis.label.set_fontsize(FONT)
    axes.title.set_color(colors["text"])
    axes.title.set_fontsize(TITLE_FONT)


def style_colorbar(bar: Any, label: str, viewer: Any = None) -> None:
    """A colour bar with a title and readable labels."""
    colors = theme_colors(viewer)
    bar.set_label(label, color=colors["text"], fontsize=FONT)
    bar.ax.tick_params(colors=colors["text"], labelsize=FONT)
    bar.outline.set_edgecolor(colors["muted"])


def fitted_limits(values: np.ndarray, pad: float = 0.03) -> tuple[float, float] | None:
    """Axis limits that fit the finite ``values`` (with a small margin), or
    None when there is none."""
    finite = np.asarray(values, np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return None
    lo, hi = float(finite.min()), float(finite.max())
    if hi <= lo:
        span = abs(lo) * 0.05 or 1.0
        return lo - span, hi + span
    margin = (hi - lo) * pad
    return lo - margin, hi + margin
