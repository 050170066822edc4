"""The plate map and the gating scatter: whole-plate views over the QC session.

Both draw with matplotlib in the dock (already used by the QC histogram).
The scatter bins its points into a 2-D histogram drawn as an image, as
datashader does (:class:`~arrowscope.core.profiles.density.Density`: every
cell's bin is computed once per pair of axes, a redraw after a filter is one
``numpy.bincount``): drawing cost depends on the bins, not on the number of
cells; the selected cells are drawn as points on top. Gates (rectangle,
lasso) select rows with ``matplotlib.path.Path.contains_points`` over the
feature values, and the selection is the session's: the Profiles table and
the canvas follow it.
Everything is keyed by table row, never by position in a layer.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
)

from ..core.errors import ArrowscopeError
from ..core.profiles.density import Density
from ..core.profiles.plate import (
    FORMATS,
    STATS,
    PlateIndex,
    plate_columns,
    plate_grid,
    plate_summary,
    site_column,
    site_grid,
)
from ..core.profiles.qc import FLAG_PREFIX, FLAG_SUFFIX, SCORE_PREFIX, flag_columns
from .plots import FONT, LazyPlot, PlotOwner, style_axes, style_colorbar
from .profiles_widget import _row, notify
from .qc_widgets import (
    _SessionWidget,
    auto_contrast_box,
    cell_caption,
    render_thumbnails,
    save_dialog,
    tile_scaling,
)

REFRESH_MS = 50
#: the plate map's choices of a field measure (one value per field) start so
FIELD = "field:"
#: the scatter's hover: the tile's size, and the pause before it is drawn
HOVER_TILE = 96
HOVER_MS = 120


def numeric_columns(schema: pa.Schema) -> list[str]:
    """Feature columns (numeric, not keys or flags)."""
    return [
        f.name
        for f in schema
        if (pa.types.is_floating(f.type) or pa.types.is_integer(f.type))
        and not f.name.startswith(("Metadata_", "Image_"))
    ]


logger = logging.getLogger("arrowscope")


class PlateMapWidget(PlotOwner, _SessionWidget):
    """Wells laid out as a plate, coloured by a per-well value; click a well to
    show its cells."""

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer)
        self.plate = QComboBox()
        self.value = QComboBox()
        self.stat = QComboBox()
        self.stat.addItems(list(STATS))
        self.wells = QComboBox()
        self.wells.addItems(["auto", *map(str, FORMATS)])
        self.detrend = QCheckBox("take out row and column trends")
        self.detrend.setToolTip(
            "show each well's value less its row's and column's effects (median "
            "polish, the B-score's first step): what is left is the wells "
            "themselves, not their place on the plate"
        )
        self.detrend.toggled.connect(lambda _: self.refresh())
        self.by_site = QCheckBox("each site")
        self.by_site.setToolTip(
            "draw each well as the block of its fields (sites), in site order "
            "row by row: a bad field shows as one odd square in its well"
        )
        self.by_site.toggled.connect(self._by_site_toggled)
        self.effects = QLabel("")
        self.effects.setWordWrap(True)
        self.info = QLabel("Open a profile table to see its plate.")
        self.info.setWordWrap(True)
        save = QPushButton("Save picture…")
        save.clicked.connect(self._save_dialog)
        clear = QPushButton("All wells")
        clear.clicked.connect(lambda: self.pick_well(None))
        self.plot = LazyPlot(260, napari_viewer)
        self.plot.mpl_connect("motion_notify_event", self._hover)
        self.plot.mpl_connect("button_press_event", self._click)
        form = QFormLayout()
        form.addRow("Plate", self.plate)
        form.addRow("Colour by", self.value)
        form.addRow("Statistic", self.stat)
        form.addRow("Wells", self.wells)
        form.addRow("", self.detrend)
        form.addRow("", self.by_site)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.plot)
        lay.addWidget(self.info)
        lay.addWidget(self.effects)
        lay.addWidget(_row(clear, save))
        self.summary: pa.Table | None = None
        self.grid: tuple[np.ndarray, np.ndarray, int] | None = None
        self.picked: str | None = None
        self._cells: pa.Table | None = None  # plate/well columns, read once
        self._index: PlateIndex | None = None
        self._site_index: PlateIndex | None = None
        #: the wells by site when drawn so: (values, counts, wells, layout, sites)
        self.sites: tuple[Any, ...] | None = None
        #: what the map's counts count: "cells", or "fields" for a field measure
        self.counting = "cells"
        self._features: dict[str, pa.Table] = {}
        self._image = None
        self.timer = QTimer(self, singleShot=True, interval=REFRESH_MS)
        self.timer.timeout.connect(self.refresh)
        for box in (self.plate, self.value, self.stat, self.wells):
            box.currentTextChanged.connect(lambda *_: self.refresh())
        self._controls = (
            self.plate,
            self.value,
            self.stat,
            self.wells,
            self.detrend,
            self.by_site,
            clear,
            save,
        )
        self.empty_state("Open a profile table to see its plate.")
        self._maybe_attach()

    def empty_state(self, message: str) -> None:
        """No plate to draw: say why, in place of an empty chart."""
        self.plot.setVisible(False)
        for control in self._controls:
            control.setEnabled(False)
        self.info.setText(message)

    def _shown(self) -> None:
        self.plot.setVisible(True)
        for control in self._controls:
            control.setEnabled(True)

    def attached(self) -> None:
        assert self.session is not None
        pt = self.session.profiles
        try:
            self.plate_col, self.well_col = pt.plate_keys or plate_columns(pt.columns)
        except ArrowscopeError as exc:
            self.empty_state(
                "No plate map for this table: it names no well for its cells "
                "(a Metadata_Well or Image_Metadata_Well column, e.g. B07)."
            )
            logger.debug("plate map: %s", exc)
            return
        self._shown()
        site = site_column(pt.columns)
        keys = [c for c in (self.plate_col, self.well_col, site) if c]
        # read under the names the plate code knows (a CPA properties file may
        # name its plate and well columns otherwise)
        known = {self.plate_col: "Metadata_Plate", self.well_col: "Metadata_Well"}
        self._cells = pt.read(keys).rename_columns(
            [known.get(c, "Metadata_Site") for c in keys]
        )
        self.by_site.setEnabled(site is not None)
        self.by_site.setToolTip(
            self.by_site.toolTip()
            if site is not None
            else "the table names no site (Metadata_Site) for its fields"
        )
        self.plate_col = "Metadata_Plate" if self.plate_col else None
        self.well_col = "Metadata_Well"
        self._index = PlateIndex(self._cells)  # group codes, once per table
        for box in (self.plate, self.value):
            box.blockSignals(True)
        plates = (
            sorted({str(p) for p in self._cells.column(self.plate_col).to_pylist()})
            if self.plate_col
            else ["(one plate)"]
        )
        self.plate.addItems(plates)
        self.value.addItems(self.value_choices())
        for box in (self.plate, self.value):
            box.blockSignals(False)
        self.session.state_changed.connect(lambda *_: self.timer.start())
        self.session.fields_measured.connect(self._refill_values)
        self.info.setText("Hover a well for its counts; click it to show its cells.")
        self.refresh()

    def _refill_values(self) -> None:
        """New choices (the fields' measures from pixels): keep the current."""
        current = self.value.currentText()
        self.value.blockSignals(True)
        self.value.clear()
        self.value.addItems(self.value_choices())
        self.value.setCurrentText(current)
        self.value.blockSignals(False)

    def value_choices(self) -> list[str]:
        assert self.session is not None
        out = ["count", "any_outlier"]
        flags = self.session.flags
        if flags is not None:
            out += [
                c.removeprefix(FLAG_PREFIX).removesuffix(FLAG_SUFFIX)
                for c in flag_columns(flags.column_names)
            ]
        out += ["manual:reject", "manual:keep", "manual:unsure"]
        predicted = self.session.predicted
        if predicted is not None:  # the Classifier panel scored the screen
            out += [f"class:{c}" for c in sorted({str(c) for c in predicted})]
        out += numeric_columns(self.session.profiles.schema)
        return out + [FIELD + c for c in self._field_columns()]

    def _field_columns(self) -> list[str]:
        """Field measures the cells' table does not hold (measured from
        pixels, or kept in a CellProfiler image table)."""
        assert self.session is not None
        fields = self.session.field_measures
        if fields is None:
            return []
        have = set(self.session.profiles.columns)
        return [
            c
            for c in fields.column_names
            if c.startswith("Image_")
            and c not in have
            and (
                pa.types.is_floating(fields.schema.field(c).type)
                or pa.types.is_integer(fields.schema.field(c).type)
            )
        ]

    def _field_table(self, column: str) -> pa.Table:
        """One row per field: its plate, well and site under the names the
        plate code knows, and ``column``."""
        assert self.session is not None and self.session.field_measures is not None
        fields = self.session.field_measures
        names = fields.column_names
        out = {}
        for want, found in (
            ("Metadata_Plate", plate_columns(names)[0] if self.plate_col else None),
            ("Metadata_Well", plate_columns(names)[1]),
            ("Metadata_Site", site_column(names)),
        ):
            if found is not None:
                out[want] = fields.column(found)
        out[column] = fields.column(column)
        return pa.table(out)

    def _table_for(self, value: str) -> pa.Table:
        """The plate/well columns plus the value's feature column (read once)."""
        assert self._cells is not None and self.session is not None
        if value not in self.session.profiles.columns:
            return self._cells
        if value not in self._features:
            col = self.session.profiles.read([value]).column(0)
            self._features[value] = self._cells.append_column(value, col)
        return self._features[value]

    def refresh(self) -> pa.Table | None:
        """Recompute the per-well values (the current filter applies) and draw."""
        if self.session is None or self._cells is None:
            return None
        value = self.value.currentText() or "count"
        if value not in self.value_choices():  # conditions changed with a new run
            self.value.blockSignals(True)
            self.value.clear()
            self.value.addItems(self.value_choices())
            self.value.setCurrentText("count")
            self.value.blockSignals(False)
            value = "count"
        # a statistic is for a feature; counts and shares have none
        feature = value in self.session.profiles.columns or value.startswith(FIELD)
        self.stat.setEnabled(feature)
        self.stat.setToolTip("" if feature else "counts and shares have no statistic")
        how = {
            "flags": self.session.flags,
            "marks": self.session.verdicts,
            "predicted": self.session.predicted,
            "rows": self.session.filter_mask,
        }
        stat = self.stat.currentText()
        field = value.startswith(FIELD)
        plate = self.plate.currentText() if self.plate_col else None
        wells = (
            None
            if self.wells.currentText() == "auto"
            else int(self.wells.currentText())
        )
        try:  # a column that cannot be read is said, never raised into Qt
            if field:  # a field measure: one row per field, no cell filters
                value = value.removeprefix(FIELD)
                table = self._field_table(value)
                how = {}
                index = PlateIndex(table)  # a few thousand fields: at once
            else:
                table, index = self._table_for(value), self._index
            self.summary = plate_summary(table, value, stat, index=index, **how)
            self.grid = plate_grid(self.summary, plate, wells)
            self.sites = None
            if self.by_site.isChecked():
                if field:
                    sites = PlateIndex(table, sites=True)
                else:
                    if self._site_index is None:
                        self._site_index = PlateIndex(self._cells, sites=True)
                    sites = self._site_index
                by_site = plate_summary(table, value, stat, index=sites, **how)
                self.sites = site_grid(by_site, plate, self.grid[2])
        except ArrowscopeError as exc:
            self.info.setText(str(exc))
            return None
        self.counting = "fields" if field else "cells"
        self._position_effects()
        self._draw(value)
        return self.summary

    def _by_site_toggled(self, on: bool) -> None:
        """Trends are taken out of wells, not sites: one or the other."""
        if on:
            self.detrend.setChecked(False)
        self.detrend.setEnabled(not on)
        self.refresh()

    def _position_effects(self) -> None:
        """Say the plate's row, column and edge effects (in robust SDs), and
        show the map without the row and column trends when asked."""
        from ..core.profiles.layout import position_effects

        assert self.grid is not None
        values, counts, wells = self.grid
        filled = np.isfinite(values)
        edge = np.zeros_like(filled)
        edge[[0, -1], :] = edge[:, [0, -1]] = True
        sides = (
            filled[0].any(),
            filled[-1].any(),
            filled[:, 0].any(),
            filled[:, -1].any(),
        )
        if (filled & edge).sum() < 6 or (filled & ~edge).sum() < 6 or not all(sides):
            # a plate with a few wells used (or a block of them in a corner)
            # says nothing of its edge or trends
            self.effects.setText("")
            return
        fx = position_effects(values)
        self.effects.setText(
            f"position effects: edge {fx['edge']:+.1f} SD, rows "
            f"{fx['row_range']:.1f} SD, columns {fx['column_range']:.1f} SD"
            + (" · trends taken out" if self.detrend.isChecked() else "")
        )
        if self.detrend.isChecked():
            self.grid = (fx["residual"], counts, wells)

    def _draw(self, value: str) -> None:
        from matplotlib import colormaps

        assert self.grid is not None
        values, counts, wells = self.grid
        nr, nc = FORMATS[wells]
        self.figure.clear()
        self.axes = self.figure.add_subplot(111)
        style_axes(self.axes, self.viewer)
        # a well without cells is missing, not zero: its own colour
        cmap = colormaps["viridis"].with_extremes(bad="#3a3a3a")
        if self.sites is not None:  # each well a block of its sites
            masked = np.ma.masked_invalid(self.sites[0])
            self._image = self.axes.imshow(
                masked,
                cmap=cmap,
                aspect="equal",
                extent=(-0.5, nc - 0.5, nr - 0.5, -0.5),
                interpolation="nearest",
            )
            for x in np.arange(nc + 1) - 0.5:  # the wells' borders
                self.axes.axvline(x, color="#262626", lw=0.8)
            for y in np.arange(nr + 1) - 0.5:
                self.axes.axhline(y, color="#262626", lw=0.8)
        else:
            masked = np.ma.masked_invalid(values)
            self._image = self.axes.imshow(masked, cmap=cmap, aspect="equal")
        missing = np.argwhere(counts == 0)
        if len(missing) and nr * nc <= 384:
            self.axes.scatter(
                missing[:, 1], missing[:, 0], marker="x", s=8, c="#8a8a8a"
            )
        # readable labels: every column of a 96-well plate, every 2nd or
        # 4th of the larger ones
        step_c, step_r = max(1, nc // 12), max(1, nr // 8)
        self.axes.set_xticks(
            range(0, nc, step_c), [str(i + 1) for i in range(0, nc, step_c)]
        )
        self.axes.set_yticks(
            range(0, nr, step_r),
            [
                chr(65 + i) if i < 26 else "A" + chr(39 + i)
                for i in range(0, nr, step_r)
            ],
        )
        self.axes.tick_params(labelsize=FONT)
        per = "site" if self.sites is not None else "well"
        name = value
        if self.counting == "fields":  # "Slope DNA", not the column's name
            from .field_gallery import measure_label

            name = measure_label(value)
        if value == "count":
            title = label = f"cells per {per}"
        elif self.counting == "fields" and self.sites is not None:
            title = label = f"{name} per field"  # a site is one field
        elif value in self.session.profiles.columns or self.counting == "fields":  # type: ignore[union-attr]
            label = f"{self.stat.currentText()} of {name}"
            title = f"{label} per {per}"
        else:  # a share of cells (flagged, judged, of a class)
            title = label = f"{name} per {per}"
        if self.detrend.isChecked():
            title += " − trends"
        self.axes.set_title(f"{self.plate.currentText()}: {title}")
        style_axes(self.axes, self.viewer)
        bar = self.figure.colorbar(self._image, ax=self.axes, shrink=0.8)
        style_colorbar(bar, label, self.viewer)
        if self.picked:
            r, c = _well_rc(self.picked)
            self.axes.add_patch(_box(c - 0.5, r - 0.5))
        self.canvas.draw_idle()

    # ---- hover and click
    def well_at(self, x: float, y: float) -> str | None:
        if self.grid is None:
            return None
        nr, nc = FORMATS[self.grid[2]]
        r, c = int(round(y)), int(round(x))
        if not (0 <= r < nr and 0 <= c < nc):
            return None
        return f"{chr(65 + r) if r < 26 else 'A' + chr(39 + r)}{c + 1:02d}"

    def describe_well(self, well: str, site: tuple[int, int] | None = None) -> str:
        assert self.grid is not None and self.session is not None
        r, c = _well_rc(well)
        values, counts, _ = self.grid
        if counts[r, c] == 0:
            return f"{well}: no {self.counting}"
        if self.counting == "fields":  # a field measure: counts are fields
            text = f"{well}: {int(counts[r, c])} field(s), value {values[r, c]:.4g}"
        else:
            rows = self.rows_of_well(well)
            fields = len(np.unique(self.session.profiles.fov_of_row[rows]))
            text = (
                f"{well}: {fields} field(s), {int(counts[r, c])} cells, "
                f"value {values[r, c]:.4g}"
            )
        if site is not None and self.sites is not None:
            (sr, sc), names = self.sites[3], self.sites[4]
            k = site[0] * sc + site[1]
            fine = self.sites[0][r * sr + site[0], c * sc + site[1]]
            if k < len(names):
                shown = "no cells" if np.isnan(fine) else f"value {fine:.4g}"
                text += f"; site {names[k]}: {shown}"
        return text

    def site_at(self, x: float, y: float) -> tuple[int, int] | None:
        """(row, column) of the site under ``x, y`` within its well."""
        if self.sites is None:
            return None
        sr, sc = self.sites[3]
        fy, fx = (y + 0.5) % 1.0, (x + 0.5) % 1.0
        return min(sr - 1, int(fy * sr)), min(sc - 1, int(fx * sc))

    def _hover(self, event: Any) -> None:
        if event.inaxes is not self.axes or event.xdata is None:
            return
        well = self.well_at(event.xdata, event.ydata)
        if well is not None:
            site = self.site_at(event.xdata, event.ydata)
            self.info.setText(self.describe_well(well, site))

    def _click(self, event: Any) -> None:
        if event.inaxes is not self.axes or event.xdata is None:
            return
        well = self.well_at(event.xdata, event.ydata)
        if well is not None:
            self.pick_well(well)

    def rows_of_well(self, well: str) -> np.ndarray:
        """Table rows of the current plate's ``well`` (names compared as wells:
        ``B7`` is ``B07``)."""
        from ..core.profiles.plate import parse_wells

        assert self._cells is not None
        names = self._cells.column(self.well_col).to_pylist()
        r, c = parse_wells(names)
        wr, wc = _well_rc(well)
        hit = (r == wr) & (c == wc + 1)
        if self.plate_col:
            plates = np.array(
                [str(p) for p in self._cells.column(self.plate_col).to_pylist()]
            )
            hit &= plates == self.plate.currentText()
        return np.flatnonzero(hit)

    def pick_well(self, well: str | None) -> np.ndarray:
        """Show only ``well``'s cells (None: every well) and go to its first field."""
        if self.session is None:
            return np.empty(0, np.int64)
        self.picked = well
        if well is None:
            self.session.set_well_mask(None)
            self.refresh()
            return np.empty(0, np.int64)
        rows = self.rows_of_well(well)
        mask = np.zeros(self.session.profiles.num_rows, bool)
        mask[rows] = True
        self.session.set_well_mask(mask)
        if rows.size:
            fov = int(self.session.profiles.fov_of_row[rows[0]])
            if fov >= 0:
                self.viewer.dims.set_point(0, fov)
        self.info.setText(self.describe_well(well))
        return rows

    # ---- pictures for reports
    def save_picture(self, path: str | Path) -> Path:
        """Write the plate map as PNG or SVG (by suffix)."""
        path = Path(path)
        if path.suffix.lower() not in (".png", ".svg"):
            raise ArrowscopeError("save the plate map as .png or .svg", path=path)
        self.figure.savefig(path, dpi=200)
        return path

    def _save_dialog(self) -> None:
        kinds = "PNG (*.png);;SVG (*.svg)"
        save_dialog(self, "plate map", "plate_map.png", kinds, self.save_picture)


def _well_rc(well: str) -> tuple[int, int]:
    from ..core.profiles.plate import parse_wells

    r, c = parse_wells([well])
    return int(r[0]), int(c[0]) - 1


def _box(x: float, y: float) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), 1, 1, fill=False, edgecolor="white", linewidth=1.5)


class ScatterWidget(PlotOwner, _SessionWidget):
    """Two features against each other, density-shaded; gates select cells."""

    BINS = 200
    MAX_SELECTED_DRAWN = 20_000
    #: up to this many shown cells each is a point; more are density-shaded
    MAX_POINTS = 20_000

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer)
        self.x = QComboBox()
        self.y = QComboBox()
        self.tool = QComboBox()
        self.tool.addItems(["rectangle", "lasso"])
        self.tool.currentTextChanged.connect(self._set_tool)
        self.info = QLabel("Draw a gate on the plot to select cells.")
        self.info.setWordWrap(True)
        keep = QPushButton("Gate → filter")
        keep.clicked.connect(self.gate_to_filter)
        to_bin = QPushButton("Gate → bin…")
        to_bin.setToolTip("Put the gate's cells in one of the classifier's bins")
        to_bin.clicked.connect(lambda: self.gate_to_bin())
        prev_b, next_b = QPushButton("◀ cell"), QPushButton("cell ▶")
        prev_b.clicked.connect(lambda: self.step(-1))
        next_b.clicked.connect(lambda: self.step(+1))
        clear = QPushButton("Clear gate")
        clear.clicked.connect(self.clear_gate)
        self.plot = LazyPlot(300, napari_viewer)
        # the cell behind the point under the cursor: its tile and its name
        self.hover_tile = QLabel()
        self.hover_tile.setFixedSize(HOVER_TILE, HOVER_TILE)
        self.hover_text = QLabel("Hover a point to see its cell; click to go to it.")
        self.hover_text.setWordWrap(True)
        self.auto_contrast = auto_contrast_box()
        self._hover_at: tuple[float, float] | None = None
        self._hover_row: int | None = None
        self._hover_worker: Any = None
        self.hover_timer = QTimer(self, singleShot=True, interval=HOVER_MS)
        self.hover_timer.timeout.connect(self._show_hovered)
        self.plot.mpl_connect("motion_notify_event", self._hover)
        form = QFormLayout()
        form.addRow("X", self.x)
        form.addRow("Y", self.y)
        form.addRow("Gate", self.tool)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.plot)
        lay.addWidget(_row(self.hover_tile, self.hover_text))
        lay.addWidget(self.info)
        lay.addWidget(_row(clear, keep, to_bin))
        lay.addWidget(_row(prev_b, next_b))
        self.values: dict[str, np.ndarray] = {}
        self.gate: list[tuple[float, float]] | None = None
        self.gated = np.empty(0, np.int64)
        self._density: Density | None = None
        self._density_of: tuple[str, str] | None = None
        self._selector: Any = None
        self._selected_artist: Any = None
        self.timer = QTimer(self, singleShot=True, interval=REFRESH_MS)
        self.timer.timeout.connect(self.draw)
        for box in (self.x, self.y):
            box.currentTextChanged.connect(lambda *_: self._axes_changed())
        self._maybe_attach()

    def axis_choices(self) -> list[str]:
        """Feature columns, then the last QC run's scores (``Metadata_qcscore_…``)."""
        assert self.session is not None
        names = numeric_columns(self.session.profiles.schema)
        scores = self.session.scores
        return names + (list(scores.column_names) if scores is not None else [])

    def _fill_axes(self) -> None:
        names = self.axis_choices()
        for box in (self.x, self.y):
            current = box.currentText()
            box.blockSignals(True)
            box.clear()
            box.addItems(names)
            if current in names:
                box.setCurrentText(current)
            box.blockSignals(False)
        if len(names) > 1 and self.y.currentText() == self.x.currentText():
            self.y.setCurrentIndex(1)

    def _state_changed(self) -> None:
        if self.session is not None and self.session.scores is not self._scores_seen:
            self._scores_seen = self.session.scores
            self.values = {
                k: v for k, v in self.values.items() if not k.startswith(SCORE_PREFIX)
            }
            self._density = None
            self._fill_axes()
        self.timer.start()

    def attached(self) -> None:
        assert self.session is not None
        self._scores_seen = self.session.scores
        self._fill_axes()
        self.session.state_changed.connect(lambda *_: self._state_changed())
        self.session.selection_changed.connect(lambda *_: self._draw_selected())
        self.draw()

    def column(self, name: str) -> np.ndarray:
        """A feature's (or a QC score's) values as float64 (read once; ±inf
        and null are NaN)."""
        if name not in self.values:
            assert self.session is not None
            scores = self.session.scores
            if scores is not None and name in scores.column_names:
                col = scores.column(name)
            else:
                col = self.session.profiles.read([name]).column(0)
            v = col.to_numpy(zero_copy_only=False).astype(np.float64)
            v[~np.isfinite(v)] = np.nan
            self.values[name] = v
        return self.values[name]

    def _axes_changed(self) -> None:
        self.clear_gate(redraw=False)
        self.draw()

    def draw(self) -> None:
        """Density of the shown cells, as an image of binned counts."""
        if self.session is None or not self.x.currentText():
            return
        pair = (self.x.currentText(), self.y.currentText())
        if self._density is None or self._density_of != pair:
            x, y = self.column(pair[0]), self.column(pair[1])
            self._density = Density(x, y, self.BINS)  # bins of every cell, once
            self._density_of = pair
        counts = self._density.counts(self.session.visible)
        self.figure.clear()
        self.axes = self.figure.add_subplot(111)
        style_axes(self.axes, self.viewer)
        shown = int(counts.sum())
        if 0 < shown <= self.MAX_POINTS:  # few cells: each one a point
            x, y = self.column(pair[0]), self.column(pair[1])
            keep = self.session.visible & np.isfinite(x) & np.isfinite(y)
            self.axes.scatter(
                x[keep], y[keep], s=10, c="#b0b8c8", alpha=0.7, linewidths=0
            )
        elif counts.any():
            # empty bins are background; brighter is denser (log counts), so a
            # lone outlier bin stays visible next to the crowd
            self.axes.imshow(
                np.ma.masked_equal(np.log1p(counts.T), 0),
                origin="lower",
                extent=self._density.extent,
                aspect="auto",
                cmap="magma",
                vmin=-0.5,
                interpolation="nearest",
            )
        self.axes.set_xlabel(self.x.currentText(), fontsize=FONT)
        self.axes.set_ylabel(self.y.currentText(), fontsize=FONT)
        self._selected_artist = None
        self._draw_selected(idle=False)
        if self.gate:
            from matplotlib.patches import Polygon

            self.axes.add_patch(
                Polygon(self.gate, closed=True, fill=False, edgecolor="#4cc9f0", lw=1.5)
            )
        self._set_tool(self.tool.currentText())
        self._fit_axes()
        self.canvas.draw_idle()

    def _fit_axes(self) -> None:
        """The axes span the data (the density's extent), whatever the
        selectors and selected points would add to matplotlib's autoscale."""
        if self._density is None:
            return
        x0, x1, y0, y1 = self._density.extent
        mx, my = 0.02 * (x1 - x0), 0.02 * (y1 - y0)
        self.axes.set_autoscale_on(False)
        self.axes.set_xlim(x0 - mx, x1 + mx)
        self.axes.set_ylim(y0 - my, y1 + my)

    # ---- the cell behind a point
    def row_at(self, x: float, y: float) -> int | None:
        """The shown cell nearest (x, y) in screen terms, within a few bins."""
        if self.session is None or self._density is None:
            return None
        xs, ys = self.column(self.x.currentText()), self.column(self.y.currentText())
        x0, x1, y0, y1 = self._density.extent
        sx, sy = (x1 - x0) or 1.0, (y1 - y0) or 1.0
        ok = self.session.visible & np.isfinite(xs) & np.isfinite(ys)
        with np.errstate(invalid="ignore"):
            d = ((xs - x) / sx) ** 2 + ((ys - y) / sy) ** 2
        d = np.where(ok, d, np.inf)
        best = int(np.argmin(d)) if d.size else -1
        if best < 0 or not np.isfinite(d[best]) or d[best] > (3.0 / self.BINS) ** 2:
            return None
        return best

    def _hover(self, event: Any) -> None:
        if event.inaxes is not self.axes or event.xdata is None:
            return
        self._hover_at = (float(event.xdata), float(event.ydata))
        self.hover_timer.start()

    def _show_hovered(self) -> None:
        from .workers import make_worker, start

        if self._hover_at is None or self.session is None:
            return
        row = self.row_at(*self._hover_at)
        if row is None or row == self._hover_row:
            return
        self._hover_row = row
        pt = self.session.profiles
        x, y = self.column(self.x.currentText()), self.column(self.y.currentText())
        self.hover_text.setText(
            f"{cell_caption(pt, row)}\n{self.x.currentText()} = {x[row]:.4g}\n"
            f"{self.y.currentText()} = {y[row]:.4g}"
        )
        colors, limits = tile_scaling(self.viewer, self.auto_contrast)
        worker = make_worker(
            lambda: render_thumbnails(pt, [row], colors, limits),
            receiver=self,
            done=self._hovered_tile,
            failed=lambda exc: self.hover_tile.clear(),
        )
        self._hover_worker = worker
        start(worker)

    def _hovered_tile(self, thumbs: list[tuple[int, Any]]) -> None:
        from qtpy.QtGui import QImage, QPixmap

        ((row, rgb),) = thumbs
        if row != self._hover_row:
            return
        if rgb is None:
            self.hover_tile.setText("no image")
            return
        h, w, _ = rgb.shape
        image = QImage(rgb.tobytes(), w, h, 3 * w, QImage.Format.Format_RGB888)
        self.hover_tile.setPixmap(
            QPixmap.fromImage(image).scaled(HOVER_TILE, HOVER_TILE)
        )

    def _draw_selected(self, idle: bool = True) -> None:
        if self.session is None or not self.x.currentText():
            return
        # the gate's cells while there is a gate (stepping through them keeps
        # them drawn), else what the other panels selected
        rows = self.gated if self.gated.size else np.asarray(self.session.selected)
        rows = rows.astype(np.int64)[: self.MAX_SELECTED_DRAWN]
        if self._selected_artist is not None:
            self._selected_artist.remove()
            self._selected_artist = None
        if rows.size:
            x, y = self.column(self.x.currentText()), self.column(self.y.currentText())
            self._selected_artist = self.axes.scatter(
                x[rows], y[rows], s=16, c="#4cc9f0", linewidths=0
            )
            self._fit_axes()
        if idle:
            self.canvas.draw_idle()

    def _set_tool(self, tool: str) -> None:
        from matplotlib.widgets import LassoSelector, RectangleSelector

        if self._selector is not None:
            self._selector.set_active(False)
        if tool == "lasso":
            self._selector = LassoSelector(self.axes, self._lasso_done)
        else:
            self._selector = RectangleSelector(
                self.axes, self._rectangle_done, interactive=False, useblit=False
            )

    def _rectangle_done(self, press: Any, release: Any) -> None:
        x0, x1 = sorted((press.xdata, release.xdata))
        y0, y1 = sorted((press.ydata, release.ydata))
        if x0 == x1 or y0 == y1:  # a click, not a gate: go to that cell
            row = self.row_at(press.xdata, press.ydata)
            if row is not None and self.session is not None:
                self.session.select_rows([row])
            return
        self.set_gate([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])

    def _lasso_done(self, vertices: Any) -> None:
        self.set_gate([tuple(v) for v in vertices])

    def set_gate(self, vertices: list[tuple[float, float]]) -> np.ndarray:
        """Gate the shown cells by a polygon in (x, y) feature units; the rows
        inside become the selection."""
        from matplotlib.path import Path as MplPath

        assert self.session is not None
        self.gate = [(float(a), float(b)) for a, b in vertices]
        x, y = self.column(self.x.currentText()), self.column(self.y.currentText())
        shown = np.flatnonzero(self.session.visible & np.isfinite(x) & np.isfinite(y))
        inside = MplPath(self.gate).contains_points(
            np.column_stack([x[shown], y[shown]])
        )
        self.gated = shown[inside]
        self._cursor = -1
        self.info.setText(f"{self.gated.size:,} cells in the gate")
        self.session.select_rows(self.gated.tolist(), move=bool(self.gated.size))
        self.draw()
        return self.gated

    def step(self, delta: int) -> int | None:
        """Go to the next (+1) or previous (-1) gated cell, across fields of
        view; the gate's cells stay drawn, the current one is selected."""
        if self.session is None or self.gated.size == 0:
            return None
        self._cursor = (getattr(self, "_cursor", -1) + delta) % self.gated.size
        row = int(self.gated[self._cursor])
        self.session.select_rows([row])
        self.info.setText(
            f"{self.gated.size:,} cells in the gate · "
            f"cell {self._cursor + 1}: row {row}"
        )
        return row

    def clear_gate(self, redraw: bool = True) -> None:
        self.gate = None
        self.gated = np.empty(0, np.int64)
        if self.session is not None and redraw:
            self.session.select_rows([], move=False)
            self.draw()

    def gate_clauses(self) -> list[tuple[str, str, float]] | None:
        """A rectangle gate as Filter clauses (column, op, value); None for a
        lasso (a polygon is no WHERE clause)."""
        if not self.gate or len(self.gate) != 4:
            return None
        xs = sorted({a for a, _ in self.gate})
        ys = sorted({b for _, b in self.gate})
        if len(xs) != 2 or len(ys) != 2:
            return None
        x, y = self.x.currentText(), self.y.currentText()
        return [(x, ">=", xs[0]), (x, "<=", xs[1]), (y, ">=", ys[0]), (y, "<=", ys[1])]

    def gate_to_bin(self, name: str | None = None) -> int:
        """Put the gate's cells in the classifier's bin ``name`` (asked when
        not given; a new name makes a new bin). Returns how many."""
        if self.session is None or not self.gated.size:
            notify("Draw a gate first.", "warning")
            return 0
        bins = self.session.open_bins()
        if name is None:
            name = _ask_bin(self, list(bins.classes))
            if name is None:
                return 0
        if name not in bins.classes:
            bins.add_class(name)
        self.session.put_in_bin(self.gated.tolist(), name)
        self.info.setText(f"{self.gated.size:,} cells put in the bin {name}")
        return int(self.gated.size)

    def gate_to_filter(self) -> Any:
        """Make the gate a filter: the rectangle's clauses go to the Filter
        panel (a lasso keeps exactly its rows)."""
        if self.session is None or not self.gate:
            notify("Draw a gate first.", "warning")
            return None
        clauses = self.gate_clauses()
        panel = _filter_panel(self.viewer)
        if clauses is not None and panel is not None:
            for column, op, value in clauses:
                panel.add_filter(column, op, repr(value))
            return panel.apply()
        keep = np.zeros(self.session.profiles.num_rows, bool)
        keep[self.gated] = True
        self.session.set_visible(keep)
        return None


def _ask_bin(parent: Any, classes: list[str]) -> str | None:
    from qtpy.QtWidgets import QInputDialog

    name, ok = QInputDialog.getItem(parent, "Gate → bin", "Bin:", classes, 0, True)
    return name.strip() if ok and name.strip() else None


def _filter_panel(viewer: Any) -> Any:
    from .qc_widgets import FilterWidget

    for widget in getattr(viewer.window, "dock_widgets", {}).values():
        if isinstance(widget, FilterWidget):
            return widget
    return None
