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


def _qwidget_base() -> type:
    from qtpy.QtWidgets import QWidget

    return QWidget


class LazyPlot(_qwidget_base()):  # type: ignore[misc]
    """Where a chart goes. matplotlib (about a second to import) is imported
    and the canvas made when a chart is first drawn; until then, and
    whenever there is nothing to plot, a line of text says what will be
    here (:meth:`say`), so a panel that opens with nothing to show costs no
    plotting at all."""

    def __init__(self, height: int, viewer: Any = None) -> None:
        from qtpy.QtCore import Qt
        from qtpy.QtWidgets import QLabel, QVBoxLayout

        super().__init__()
        self.setMinimumHeight(height)
        self._height, self._viewer = height, viewer
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setStyleSheet(f"color: {theme_colors(viewer)['text']};")
        layout.addWidget(self.message)
        self._parts: list[Any] | None = None
        self._events: list[tuple[str, Any]] = []

    @property
    def made(self) -> bool:
        return self._parts is not None

    @property
    def viewer(self) -> Any:
        """The viewer whose theme the chart follows."""
        return self._viewer

    def _make(self) -> list[Any]:
        if self._parts is None:
            figure, canvas, axes = make_canvas(self._height, self._viewer)
            self.layout().addWidget(canvas)
            for event, handler in self._events:
                canvas.mpl_connect(event, handler)
            self._parts = [figure, canvas, axes]
        self.message.hide()
        self._parts[1].show()
        return self._parts

    @property
    def figure(self) -> Any:
        return self._make()[0]

    @property
    def canvas(self) -> Any:
        return self._make()[1]

    @property
    def axes(self) -> Any:
        return self._make()[2]

    @axes.setter
    def axes(self, value: Any) -> None:
        self._make()[2] = value

    def mpl_connect(self, event: str, handler: Any) -> None:
        """Connect a matplotlib event, now or when the canvas is made."""
        self._events.append((event, handler))
        if self._parts is not None:
            self._parts[1].mpl_connect(event, handler)

    def say(self, text: str) -> None:
        """Show ``text`` in place of the chart (no plotting)."""
        self.message.setText(text)
        self.message.show()
        if self._parts is not None:
            self._parts[1].hide()


class PlotOwner:
    """A panel with one :class:`LazyPlot` (``self.plot``): its ``figure``,
    ``canvas`` and ``axes``, made on first use."""

    plot: LazyPlot

    @property
    def figure(self) -> Any:
        return self.plot.figure

    @property
    def canvas(self) -> Any:
        return self.plot.canvas

    @property
    def axes(self) -> Any:
        return self.plot.axes

    @axes.setter
    def axes(self, value: Any) -> None:
        self.plot.axes = value
