"""The Fields panel: whole fields of view as thumbnails, sorted by any field
measure, judged by rule and by eye.

Each page shows 24 fields, every shown channel in its layer's colour and at
the layers' shared contrast (a dim field looks dim), sorted by a field
measure — the table's own image columns (``ImageQuality_*``, ``Count_*``…),
its cell count, or image quality measured from the pixels on request. Keys
1/2/3 keep, reject or leave unsure the selected fields, ⌫ clears; the
verdicts are stored by field key beside the table (or in the warehouse),
as the cells' verdicts are. Clicking a field shows it in the viewer.

*Rules* are the field presets (blur, saturation, few or many cells) or your
own, on robust z within each plate, as ``arrowscope qc --level field`` runs
them: thresholds are edited in the table and shown on the measure's
histogram, flagged fields name their reasons in their captions and can come
first, and *Save report…* writes the catalog by field key.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pyarrow as pa
from qtpy.QtCore import QEvent, QSize, Qt, QTimer
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QLabel,
    QListView,
    QListWidget,
    QProgressBar,
    QPushButton,
    QTableWidgetItem,
    QVBoxLayout,
)

from ..core.errors import ArrowscopeError
from ..core.profiles.fields import (
    CELLS,
    field_marks,
    field_presets,
    field_table,
    field_thumbnails,
    judge_table,
    pixel_measures,
    write_report,
)
from ..core.profiles.qc import FLAG_PREFIX, FLAG_SUFFIX, QCResult, load_conditions
from .plots import LazyPlot
from .profiles_widget import _row, notify
from .qc_widgets import (
    DEBOUNCE_MS,
    _number,
    _SessionWidget,
    channel_colors,
    channel_limits,
    rules_table,
    save_dialog,
    threshold_histogram,
    thumbnail_item,
)
from .session import VERDICT_KEYS
from .workers import make_worker, start

#: fields a page shows
PAGE = 24
ICON = 112
#: the sort choice that puts the fields flagged by a rule first
FLAGGED_FIRST = "__flagged__"


def measure_label(column: str) -> str:
    """A field measure as a person reads it: ``Slope DNA`` for
    ``Image_ImageQuality_PowerLogLogSlope_DNA``, ``cells`` for the count."""
    if column == CELLS:
        return "cells"
    bare = column.removeprefix("Image_")
    for family in ("ImageQuality_", "Intensity_", "Count_", "Threshold_"):
        bare = bare.removeprefix(family)
    short = {
        "PowerLogLogSlope": "Slope",
        "PercentMaximal": "%max",
        "PercentMinimal": "%min",
    }
    head, _, channel = bare.partition("_")
    return f"{short.get(head, head)} {channel}".strip()


class FieldGalleryWidget(_SessionWidget):
    """Pages of whole-field thumbnails, sorted by a field measure."""

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer)
        self.page = 0
        self.fields: pa.Table | None = None
        self.order: np.ndarray = np.empty(0, np.int64)
        self.marks: Any = None
        self.sort = QComboBox()
        self.sort.setToolTip("The field measure the fields are sorted by")
        self.sort.currentTextChanged.connect(lambda _: self.resort())
        self.descending = QCheckBox("highest first")
        self.descending.toggled.connect(lambda _: self.resort())
        self.measure = QPushButton("Measure from pixels")
        self.measure.setToolTip(
            "Focus score, PowerLogLogSlope, saturation… of every field, as "
            "CellProfiler's MeasureImageQuality defines them, from its images"
        )
        self.measure.clicked.connect(lambda: self.measure_pixels())
        self.stop = QPushButton("Stop")
        self.stop.setEnabled(False)
        self.stop.clicked.connect(self.cancel_measuring)
        self.bar = QProgressBar()
        self.bar.setVisible(False)
        self._cancel: threading.Event | None = None
        self.list = QListWidget()
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setIconSize(QSize(ICON, ICON))
        self.list.setGridSize(QSize(ICON + 30, ICON + 46))
        self.list.setWordWrap(True)
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.list.itemClicked.connect(self._go_to)
        self.list.installEventFilter(self)
        self.label = QLabel("")
        prev_b, next_b = QPushButton("◀"), QPushButton("▶")
        prev_b.clicked.connect(lambda: self.show_page(self.page - 1))
        next_b.clicked.connect(lambda: self.show_page(self.page + 1))
        self.hint = QLabel(
            "1 keep · 2 reject · 3 unsure · ⌫ clear (the selected fields)"
        )
        # the rules, as the cells' QC panel has them (robust z within plates)
        self.rules = rules_table("measure", "robust z")
        self.rules.setMaximumHeight(130)
        self.rules.itemChanged.connect(lambda *_: self.timer.start())
        self.timer = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self.timer.timeout.connect(self.flag_by_rule)
        self.flag_button = QPushButton("Flag by rule")
        self.flag_button.setToolTip(
            "the conditions above on each field's measures, as robust z within "
            "its plate (qc --level field runs the same)"
        )
        self.flag_button.clicked.connect(lambda: self.flag_by_rule())
        self.report_button = QPushButton("Save report…")
        self.report_button.setToolTip(
            "every field with its keys, measures, a flag per rule and the reason"
        )
        self.report_button.clicked.connect(self._save_dialog)
        self.flag_summary = QLabel("")
        self.flag_summary.setWordWrap(True)
        self.rule_measure = QComboBox()
        self.rule_measure.currentTextChanged.connect(lambda _: self._draw_rule())
        self.plot = LazyPlot(120, napari_viewer)
        self.plot.setMaximumHeight(170)
        self.result: QCResult | None = None
        lay = QVBoxLayout(self)
        lay.addWidget(_row(QLabel("Sort by"), self.sort, self.descending))
        lay.addWidget(_row(self.measure, self.stop))
        lay.addWidget(self.bar)
        lay.addWidget(self.rules)
        lay.addWidget(_row(self.flag_button, self.report_button))
        lay.addWidget(self.flag_summary)
        lay.addWidget(self.rule_measure)
        lay.addWidget(self.plot)
        lay.addWidget(self.list, stretch=1)  # the fields get the room
        lay.addWidget(_row(prev_b, self.label, next_b))
        lay.addWidget(self.hint)
        self._worker: Any = None
        self._maybe_attach()

    # ---- the fields
    def attached(self) -> None:
        assert self.session is not None
        pt = self.session.profiles
        try:
            self.fields = field_table(pt)
            self.marks = field_marks(pt, self.fields)
        except ArrowscopeError as exc:
            self.label.setText(str(exc))
            return
        self.session.set_field_measures(self.fields)
        self.set_rules(field_presets(self.fields.column_names))
        self._fill_sort()
        if self.rules.rowCount():
            self.flag_by_rule()
        self.resort()

    def _fill_sort(self) -> None:
        assert self.fields is not None
        names = [
            c
            for c in self.fields.column_names
            if (c == CELLS or c.startswith("Image_"))
            and (
                pa.types.is_integer(self.fields.schema.field(c).type)
                or pa.types.is_floating(self.fields.schema.field(c).type)
            )
        ]
        current = self.sort_column()
        self.sort.blockSignals(True)
        self.sort.clear()
        self.sort.addItem("field order", None)
        self.sort.addItem("flagged by a rule first", FLAGGED_FIRST)
        for name in names:
            self.sort.addItem(measure_label(name), name)
        if current in names or current == FLAGGED_FIRST:
            self.sort.setCurrentIndex(self.sort.findData(current))
        self.sort.blockSignals(False)

    def sort_column(self) -> str | None:
        """The field table column the fields are sorted by (None: field order)."""
        return self.sort.currentData()

    def sort_by(self, column: str) -> None:
        """Sort by ``column`` of the field table."""
        at = self.sort.findData(column)
        if at >= 0:
            self.sort.setCurrentIndex(at)

    def resort(self) -> None:
        """Order the fields by the chosen measure (missing values last)."""
        if self.fields is None:
            return
        n = self.fields.num_rows
        by = self.sort_column()
        if by == FLAGGED_FIRST and self.result is not None:
            flagged = self.result.mask()
            self.order = np.argsort(~flagged, kind="stable")
        elif by in self.fields.column_names:
            values = self.fields.column(by).cast(pa.float64())
            x = values.to_numpy(zero_copy_only=False)
            x = np.where(np.isfinite(x), x, np.inf if not self._down() else -np.inf)
            self.order = np.argsort(-x if self._down() else x, kind="stable")
        else:
            self.order = np.arange(n)
        self.show_page(0)

    def _down(self) -> bool:
        return self.descending.isChecked()

    def measure_pixels(self) -> Any:
        """Measure image quality from the pixels of every field, in a worker;
        the measures join the sort choices (sorted by the focus score)."""
        if self.session is None or self.fields is None:
            return None
        pt = self.session.profiles
        have = [c for c in self.fields.column_names if "ImageQuality_" in c]
        missing = [
            ch for ch in pt.channel_names if not any(c.endswith(f"_{ch}") for c in have)
        ]
        if not missing:
            notify("every channel's image quality is in the table already", "info")
            return None
        from .export_widget import _Progress

        cancel = threading.Event()
        self._cancel = cancel
        relay = _Progress(self)
        relay.changed.connect(self._show_progress)
        self.measure.setEnabled(False)
        self.stop.setEnabled(True)
        self.bar.setVisible(True)
        self._show_progress(0, len(pt.fields_of_view) * len(missing))

        def done(measured: pa.Table) -> None:
            assert self.fields is not None
            for name in measured.column_names:
                self.fields = self.fields.append_column(name, measured.column(name))
            if self.session is not None:  # the plate map shows them per well
                self.session.set_field_measures(self.fields)
            # the presets for the new measures too (what the user set stays)
            self.set_rules(
                {**field_presets(self.fields.column_names), **self.rule_spec()}
            )
            self._fill_sort()
            self.flag_by_rule()
            # the blurriest first
            self.sort_by(f"Image_ImageQuality_PowerLogLogSlope_{missing[0]}")
            self.resort()

        def failed(exc: BaseException) -> None:
            stopped = cancel.is_set()
            notify(
                "measuring stopped; nothing was kept"
                if stopped
                else f"measuring the fields failed: {exc}",
                "warning" if stopped else "error",
            )

        def finished() -> None:
            self.measure.setEnabled(True)
            self.stop.setEnabled(False)
            self.bar.setVisible(False)
            self._cancel = None

        def job() -> pa.Table:
            return pixel_measures(
                pt, missing, progress=relay.changed.emit, cancel=cancel
            )

        worker = make_worker(
            job, receiver=self, done=done, failed=failed, finished=finished
        )
        start(worker)
        return worker

    def cancel_measuring(self) -> None:
        """Stop measuring from the pixels: what was measured is forgotten by
        the panel (the cache keeps it for a next run)."""
        if self._cancel is not None:
            self._cancel.set()

    def _show_progress(self, done: int, total: int) -> None:
        self.bar.setMaximum(max(total, 1))
        self.bar.setValue(done)
        self.bar.setFormat(f"measured {done} of {total} planes")

    # ---- pages
    def show_page(self, page: int) -> Any:
        """Render a page of thumbnails in a worker (the list fills when done)."""
        if self.session is None or not len(self.order):
            return None
        pages = max(1, -(-len(self.order) // PAGE))
        self.page = min(max(page, 0), pages - 1)
        picked = [int(i) for i in self.order[self.page * PAGE : (self.page + 1) * PAGE]]
        self.label.setText(
            f"page {self.page + 1} of {pages} · {len(self.order)} fields"
        )
        pt = self.session.profiles
        colors, limits = channel_colors(self.viewer), channel_limits(self.viewer)
        if not colors:  # no channel shown: every channel in grey
            colors = {ch: (1.0, 1.0, 1.0) for ch in pt.channel_names[:1]}

        def render() -> list[tuple[int, np.ndarray | None]]:
            tiles = field_thumbnails(pt, picked, colors, limits or None, ICON * 2)
            return list(zip(picked, tiles, strict=True))

        self._worker = make_worker(
            render,
            receiver=self,
            done=self._fill,
            failed=lambda exc: notify(f"the fields cannot be shown: {exc}", "error"),
        )
        start(self._worker)
        return self._worker

    def _fill(self, tiles: list[tuple[int, np.ndarray | None]]) -> None:
        self.list.clear()
        for index, rgb in tiles:
            self.list.addItem(thumbnail_item(index, rgb, self.caption(index), ICON))

    def caption(self, index: int) -> str:
        """Plate · well · site (or the image key), the sort value, the verdict."""
        assert self.fields is not None
        row = self.fields.slice(index, 1).to_pylist()[0]
        where = [
            str(v)
            for k, v in row.items()
            if v is not None
            and ("Well" in k or "Site" in k or "Field" in k)
            and k.startswith(("Metadata_", "Image_Metadata_"))
        ]
        if not where:
            where = [str(v) for k, v in row.items() if k in self._keys()]
        text = " · ".join(where)
        by = self.sort_column()
        if by in row and row[by] is not None:
            text += f"\n{measure_label(by)}: {row[by]:.3g}"
        reasons = self.reasons(index)
        if reasons:
            text += f"\n⚑ {reasons}"
        verdict = self.verdict(index)
        return f"{text}\n{verdict}" if verdict else text

    # ---- rules
    def set_rules(self, spec: dict[str, dict[str, Any]]) -> None:
        """Show ``spec`` ({condition: {measure: threshold}}) in the table."""
        self.rules.blockSignals(True)
        self.rules.setRowCount(0)
        for name, clauses in spec.items():
            for measure, threshold in clauses.items():
                r = self.rules.rowCount()
                self.rules.insertRow(r)
                for c, v in enumerate((name, measure, f"{threshold}")):
                    self.rules.setItem(r, c, QTableWidgetItem(v))
        self.rules.blockSignals(False)

    def rule_spec(self) -> dict[str, dict[str, Any]]:
        """The table's conditions, {condition: {measure: threshold}}."""
        spec: dict[str, dict[str, Any]] = {}
        for r in range(self.rules.rowCount()):
            cells = [self.rules.item(r, c) for c in range(3)]
            name, measure, threshold = (c.text().strip() if c else "" for c in cells)
            if name and measure:
                spec.setdefault(name, {})[measure] = _number(threshold)
        return spec

    def flag_by_rule(self) -> QCResult | None:
        """Judge every field by the table's rules (a few thousand fields: at
        once); the captions name the reasons, the histogram the threshold."""
        if self.fields is None:
            return None
        spec = self.rule_spec()
        try:
            self.result = judge_table(self.fields, spec or "presets")
        except ArrowscopeError as exc:
            self.flag_summary.setText(str(exc))
            return None
        report = self.result.report["conditions"]
        self.flag_summary.setText(
            " · ".join(f"{n}: {c['flagged']}" for n, c in report.items())
            + f" — {int(self.result.mask().sum())} of {self.fields.num_rows} "
            "fields flagged"
        )
        measures = [m for clauses in spec.values() for m in clauses]
        current = self.rule_measure.currentData()
        self.rule_measure.blockSignals(True)
        self.rule_measure.clear()
        for measure in dict.fromkeys(measures):  # "Slope DNA", the column kept
            self.rule_measure.addItem(measure_label(measure), measure)
        self.rule_measure.setCurrentIndex(max(0, self.rule_measure.findData(current)))
        self.rule_measure.blockSignals(False)
        self._draw_rule()
        if self.sort_column() == FLAGGED_FIRST:
            self.resort()
        else:
            self._recaption()
        return self.result

    def reasons(self, index: int) -> str:
        """The rules that flagged field ``index`` (empty when none did)."""
        if self.result is None:
            return ""
        flags = self.result.flags
        return ", ".join(
            n.removeprefix(FLAG_PREFIX).removesuffix(FLAG_SUFFIX)
            for n in flags.column_names
            if flags.column(n)[index].as_py()
        )

    def _draw_rule(self) -> None:
        """The chosen measure's robust z with its thresholds."""
        measure = self.rule_measure.currentData()
        scores = None
        if self.result is not None:
            for name, column in zip(
                self.result.scores.column_names, self.result.scores.columns, strict=True
            ):
                if name.endswith(f"_{measure}"):
                    scores = column.to_numpy(zero_copy_only=False)
        if scores is None:
            self.plot.say("Flag by rule to see each measure's scores here")
            return
        clauses = [
            (clause, None)
            for cond in load_conditions(
                {n: c for n, c in self.rule_spec().items() if measure in c}, "robust"
            )
            for clause in cond.clauses
            if clause.feature == measure
        ]
        threshold_histogram(
            self.plot, scores, clauses, f"robust z of {measure_label(measure)}"
        )

    def _recaption(self) -> None:
        for r in range(self.list.count()):
            item = self.list.item(r)
            item.setText(self.caption(int(item.data(Qt.ItemDataRole.UserRole))))

    def save_report(self, path: str) -> Any:
        """Write the catalog of the fields (the rules run first if need be)."""
        result = self.result or self.flag_by_rule()
        if result is None or self.fields is None:
            raise ArrowscopeError("no fields to report")
        return write_report(path, self.fields, result)

    def _save_dialog(self) -> None:
        kinds = "CSV (*.csv);;Parquet (*.parquet)"
        save_dialog(self, "field report", "fields.csv", kinds, self.save_report)

    def _keys(self) -> list[str]:
        return list(self.marks.key_columns) if self.marks is not None else []

    # ---- verdicts
    def verdict(self, index: int) -> str | None:
        if self.marks is None or self.fields is None:
            return None
        return self.marks.get(self._key_of(index))

    def _key_of(self, index: int) -> dict[str, Any]:
        assert self.fields is not None
        return self.fields.select(self._keys()).slice(index, 1).to_pylist()[0]

    def judge(self, verdict: str | None, indices: list[int] | None = None) -> None:
        """Keep, reject or leave unsure the selected fields (None clears);
        stored by key at once."""
        if self.marks is None:
            return
        chosen = indices if indices is not None else self.selected()
        if not chosen:
            return
        try:
            self.marks.set_many([self._key_of(i) for i in chosen], verdict)
        except ArrowscopeError as exc:
            notify(str(exc), "error")
            return
        self._recaption()

    def selected(self) -> list[int]:
        return [
            int(i.data(Qt.ItemDataRole.UserRole)) for i in self.list.selectedItems()
        ]

    def eventFilter(self, obj: Any, event: Any) -> bool:  # noqa: N802 - Qt's name
        if obj is self.list and event.type() == QEvent.Type.KeyPress:
            text = event.text()
            if text in VERDICT_KEYS:
                self.judge(VERDICT_KEYS[text])
                return True
            if event.key() in (Qt.Key.Key_Backspace, Qt.Key.Key_Delete):
                self.judge(None)
                return True
        return bool(super().eventFilter(obj, event))

    def _go_to(self, item: Any) -> None:
        """Show the clicked field in the viewer (the field slider)."""
        index = int(item.data(Qt.ItemDataRole.UserRole))
        point = list(self.viewer.dims.point)
        if point:
            point[0] = index
            self.viewer.dims.current_step = (index, *self.viewer.dims.current_step[1:])
