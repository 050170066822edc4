"""Filter, QC and outlier-gallery dock widgets over the shared QC session.

Widgets only edit specifications (filters as (column, op, value) rows,
conditions as {name: {feature: threshold}}); the Qt-free engine in
``arrowscope.core`` evaluates them, in worker threads where it may take long.
"""

from __future__ import annotations

import html
import io
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from qtpy.QtCore import QSize, Qt, QTimer
from qtpy.QtGui import QIcon, QImage, QKeySequence, QPixmap
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QShortcut,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..core.errors import ArrowscopeError
from ..core.profiles.filters import OPS, SQL_TIMEOUT_S, filter_rows, referenced_columns
from ..core.profiles.qc import (
    COSMICQC_DEFAULTS,
    QCResult,
    compute_flags,
    load_conditions,
    missing_summary,
    reflag,
)
from .layers import NAMESPACE
from .plots import LazyPlot, PlotOwner
from .profiles_widget import _row, notify
from .session import VERDICT_KEYS, CellSession, session_for
from .workers import make_worker, start

DEBOUNCE_MS = 250


class _SessionWidget(QWidget):
    """Finds the viewer's QC session now or when a cells layer appears."""

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.session: CellSession | None = None
        napari_viewer.layers.events.inserted.connect(self._maybe_attach)

    def _maybe_attach(self, *_: Any) -> None:
        if self.session is None:
            try:
                session = session_for(self.viewer)
            except ArrowscopeError as exc:
                notify(str(exc), "error")
                return
            if session is not None:
                self.session = session
                if getattr(self, "_waiting_dock", None) is None:
                    self.attached()

    def attached(self) -> None:  # pragma: no cover - overridden
        """Called once a session is known."""

    def defer_until_shown(self, dock: Any) -> None:
        """Wait with this panel's work on a table (reading its columns,
        drawing) until its tab is first raised: a panel behind another tab
        costs nothing while the viewer opens a large table."""
        self._waiting_dock = dock
        dock.visibilityChanged.connect(lambda visible: visible and self.shown_now())

    def shown_now(self) -> None:
        """The panel is in front: do what waited."""
        if getattr(self, "_waiting_dock", None) is None:
            return
        self._waiting_dock = None
        if self.session is not None:
            self.attached()

    def _clicked(self, item: QListWidgetItem) -> None:
        """A gallery tile clicked: go to its cell in its field."""
        if self.session is not None:
            self.session.select_rows([row_of(item)])


class FilterWidget(_SessionWidget):
    """Rows of (column, op, value) and/or an SQL WHERE clause; live match count."""

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer)
        self.rows = QTableWidget(0, 3)
        self.rows.setHorizontalHeaderLabels(["column", "op", "value"])
        self.rows.horizontalHeader().setStretchLastSection(True)
        self.rows.setColumnWidth(0, 260)
        self.rows.setColumnWidth(1, 70)
        add, remove = QPushButton("+ filter"), QPushButton("− filter")
        add.clicked.connect(lambda: self.add_filter())
        remove.clicked.connect(self._remove_filter)
        self.sql = QLineEdit(
            placeholderText="SQL WHERE, e.g. Nuclei_AreaShape_Area > 100"
        )
        self.only = QCheckBox("Show only matching cells")
        self.count = QLabel("")
        self.count.setWordWrap(True)
        self.time_limit = QDoubleSpinBox(
            minimum=0.1, maximum=3600.0, value=SQL_TIMEOUT_S, suffix=" s"
        )
        self.time_limit.setToolTip("SQL queries running longer are stopped")
        self.stop = QPushButton("Cancel")
        self.stop.setEnabled(False)
        self.stop.clicked.connect(self.cancel_running)
        self._cancel: threading.Event | None = None
        self.timer = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self.timer.timeout.connect(self.apply)
        self.sql.textChanged.connect(self.timer.start)
        self.only.toggled.connect(self.timer.start)
        self.rows.cellChanged.connect(self.timer.start)
        self.mask: np.ndarray | None = None
        lay = QVBoxLayout(self)
        lay.addWidget(self.rows)
        lay.addWidget(_row(add, remove))
        lay.addWidget(self.sql)
        lay.addWidget(self.only)
        lay.addWidget(_row(QLabel("SQL time limit"), self.time_limit, self.stop))
        lay.addWidget(self.count)
        self._maybe_attach()

    def attached(self) -> None:
        self.count.setText(f"{self.session.profiles.num_rows:,} rows")  # type: ignore[union-attr]

    def add_filter(self, column: str = "", op: str = ">", value: str = "") -> None:
        r = self.rows.rowCount()
        self.rows.insertRow(r)
        combo = QComboBox()
        combo.setEditable(True)
        if self.session is not None:
            combo.addItems(self.session.profiles.columns)
        combo.setCurrentText(column)
        combo.currentTextChanged.connect(self.timer.start)
        ops = QComboBox()
        ops.addItems(list(OPS))
        ops.setCurrentText(op)
        ops.currentTextChanged.connect(self.timer.start)
        self.rows.setCellWidget(r, 0, combo)
        self.rows.setCellWidget(r, 1, ops)
        self.rows.setItem(r, 2, QTableWidgetItem(value))

    def _remove_filter(self) -> None:
        r = self.rows.currentRow()
        self.rows.removeRow(r if r >= 0 else self.rows.rowCount() - 1)
        self.timer.start()

    def filters(self) -> list[tuple[str, str, Any]]:
        out = []
        for r in range(self.rows.rowCount()):
            column = self.rows.cellWidget(r, 0).currentText().strip()
            op = self.rows.cellWidget(r, 1).currentText()
            item = self.rows.item(r, 2)
            text = item.text().strip() if item else ""
            if not column:
                continue
            if op in ("in", "not in"):
                value: Any = [_number(v.strip()) for v in text.split(",") if v.strip()]
            else:
                value = _number(text)
            out.append((column, op, value))
        return out

    def apply(self) -> Any:
        """Evaluate the filters in a worker; update the count and the viewer.

        Returns the worker (None without a session). A newer edit supersedes
        (cancels) a query still running; *Cancel* stops it; SQL is bounded by
        the time limit set here and by :data:`SQL_MEMORY_LIMIT`.
        """
        if self.session is None:
            return None
        self.cancel_running()
        cancel = threading.Event()
        self._cancel = cancel
        pt = self.session.profiles
        filters, sql = self.filters(), self.sql.text().strip()
        timeout = self.time_limit.value()

        def work() -> np.ndarray:
            cols = referenced_columns(pt.schema, filters, sql) or pt.columns[:1]
            return filter_rows(
                pt.read(cols), filters, sql or None, timeout=timeout, cancel=cancel
            )

        worker = make_worker(
            work,
            receiver=self,
            done=lambda mask: self._show(mask, cancel),
            failed=lambda exc: self._failed(exc, cancel),
            finished=lambda: self._finished(cancel),
        )
        self.count.setText("filtering…")
        self.stop.setEnabled(True)
        return start(worker)

    def cancel_running(self) -> None:
        """Stop the query that is running, if any."""
        if self._cancel is not None:
            self._cancel.set()

    def _finished(self, cancel: threading.Event) -> None:
        if cancel is self._cancel:
            self.stop.setEnabled(False)
            self._cancel = None

    def _failed(self, exc: Exception, cancel: threading.Event) -> None:
        if cancel is not self._cancel:
            return  # superseded by a newer edit
        self.mask = None
        text = str(exc) if isinstance(exc, ArrowscopeError) else f"filter failed: {exc}"
        self.count.setText(f"<span style='color:#ff6b6b'>{html.escape(text)}</span>")

    def _show(self, mask: np.ndarray, cancel: threading.Event) -> None:
        if cancel is not self._cancel or self.session is None:
            return
        self.mask = mask
        self.count.setText(f"{int(mask.sum()):,} of {mask.size:,} rows match")
        self.session.set_visible(mask if self.only.isChecked() else None)


def _number(text: str) -> Any:
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() and "." not in text else value


class QCWidget(PlotOwner, _SessionWidget):
    """Build or load conditions, run them, and tune thresholds on histograms."""

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer)
        self.result: QCResult | None = None
        self._scores: dict[str, np.ndarray] = {}
        self.preset = QComboBox()
        self.preset.addItems(["coSMicQC defaults", "custom"])
        self.preset.currentTextChanged.connect(self._preset_changed)
        load = QPushButton("Load YAML…")
        load.clicked.connect(self._load_yaml)
        self.table = rules_table("feature", "threshold")
        self.table.setMinimumHeight(150)
        self.table.setColumnWidth(0, 200)
        self.table.setColumnWidth(1, 240)
        add, remove = QPushButton("+ clause"), QPushButton("− clause")
        add.clicked.connect(lambda: self.add_clause("custom", "", "2"))
        remove.clicked.connect(lambda: self.table.removeRow(self.table.currentRow()))
        self.method = QComboBox()
        self.method.addItems(["zscore", "robust", "raw"])
        self.nan_policy = QComboBox()
        self.nan_policy.addItems(["omit", "propagate", "raise"])
        self.group_by = QLineEdit(placeholderText="e.g. Metadata_Plate, Metadata_Well")
        self.run_button = QPushButton("Run QC")
        self.run_button.clicked.connect(self.run)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.feature = QComboBox()
        self.feature.currentTextChanged.connect(self._draw)
        self.timer = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self.timer.timeout.connect(self.run)

        self.plot = LazyPlot(160, napari_viewer)
        self._lines: list[tuple[Any, int]] = []  # (matplotlib line, table row)
        self._dragging: tuple[Any, int] | None = None
        self.plot.mpl_connect("button_press_event", self._press)
        self.plot.mpl_connect("motion_notify_event", self._motion)
        self.plot.mpl_connect("button_release_event", self._release)

        form = QFormLayout()
        form.addRow("Preset", _row(self.preset, load))
        form.addRow("Method", self.method)
        form.addRow("Missing values", self.nan_policy)
        form.addRow("Group by", self.group_by)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.table)
        lay.addWidget(_row(add, remove))
        lay.addWidget(self.run_button)
        lay.addWidget(self.summary)
        lay.addWidget(self.feature)
        lay.addWidget(self.plot)
        self.set_conditions(COSMICQC_DEFAULTS)
        self._maybe_attach()
        self._draw()

    def attached(self) -> None:
        self._draw()

    # ---- conditions as data
    def add_clause(self, name: str, feature: str, threshold: Any) -> None:
        r = self.table.rowCount()
        self.table.insertRow(r)
        for c, v in enumerate((name, feature, str(threshold))):
            self.table.setItem(r, c, QTableWidgetItem(v))

    def set_conditions(self, spec: dict[str, dict[str, Any]]) -> None:
        self.table.setRowCount(0)
        for name, clauses in spec.items():
            for feature, threshold in clauses.items():
                self.add_clause(name, feature, threshold)

    def conditions(self) -> dict[str, dict[str, Any]]:
        spec: dict[str, dict[str, Any]] = {}
        for r in range(self.table.rowCount()):
            name, feature, threshold = (
                (self.table.item(r, c).text().strip() if self.table.item(r, c) else "")
                for c in range(3)
            )
            if name and feature:
                spec.setdefault(name, {})[feature] = _number(threshold)
        return spec

    def _preset_changed(self, text: str) -> None:
        if text.startswith("coSMicQC"):
            self.set_conditions(COSMICQC_DEFAULTS)

    def _load_yaml(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "coSMicQC thresholds", "", "YAML (*.yml *.yaml)"
        )
        if path:
            self.load_yaml(Path(path))

    def load_yaml(self, path: Path) -> None:
        try:
            conds = load_conditions(path)
        except ArrowscopeError as exc:
            notify(str(exc), "error")
            return
        self.preset.blockSignals(True)
        self.preset.setCurrentText("custom")
        self.preset.blockSignals(False)
        self.table.setRowCount(0)
        for cond in conds:
            for clause in cond.clauses:
                sign = clause.op in (">", "<") and (clause.threshold > 0) == (
                    clause.op == ">"
                )
                value = (
                    clause.threshold if sign else f"{clause.op} {clause.threshold:g}"
                )
                self.add_clause(cond.name, clause.feature, value)

    # ---- running
    def run(self) -> Any:
        """Compute flags in a worker; the viewer and table recolour when done."""
        from napari.utils import progress

        if self.session is None:
            notify("Open a profile table first (Profiles panel).", "warning")
            return None
        spec, method = self.conditions(), self.method.currentText()
        nan_policy = self.nan_policy.currentText()
        by = [c.strip() for c in self.group_by.text().split(",") if c.strip()]
        pt = self.session.profiles
        last = self.result
        same_run = last is not None and (
            last.report["method"],
            last.report["nan_policy"],
            list(last.report["group_by"]),
        ) == (method, nan_policy, by)

        def work() -> tuple[QCResult, pa.Table | None]:
            if same_run:  # only thresholds or clauses changed: reuse the scores
                quick = reflag(last, spec)  # type: ignore[arg-type]
                if quick is not None:
                    return quick, None
            conds = load_conditions(spec, method)
            features = list(dict.fromkeys(f for c in conds for f in c.features))
            missing = [c for c in [*features, *by] if c not in pt.columns]
            if missing:
                raise ArrowscopeError(
                    "column not in the table", path=pt.path, column=missing[0]
                )
            table = pt.read([*features, *by])
            return compute_flags(table, conds, method, by or None, nan_policy), table

        worker = make_worker(
            work,
            receiver=self,
            done=self._done,
            failed=lambda exc: notify(f"QC failed: {exc}", "error"),
            finished=lambda: self.run_button.setEnabled(True),
        )
        # An open-ended bar in napari's activity dock; its console copy (tqdm's
        # "Running QC: 0it") goes nowhere.
        bar = progress(total=0, desc="Running QC", file=io.StringIO())
        worker.finished.connect(bar.close)
        self.run_button.setEnabled(False)
        start(worker)
        return worker

    def _done(self, out: tuple[QCResult, pa.Table | None]) -> None:
        result, _ = out
        self.result = result
        self._scores = {
            name.split("_", 3)[-1]: col.to_numpy(zero_copy_only=False)
            for name, col in zip(
                result.scores.column_names, result.scores.columns, strict=True
            )
        }
        assert self.session is not None
        self.session.conditions_report = result.report["conditions"]
        self.session.scores = result.scores  # the scatter can plot them
        self.session.set_flags(result.flags)
        lines = [
            f"<b>{name}</b>: {c['flagged']:,} ({c['percent']:.2f}%)"
            for name, c in result.report["conditions"].items()
        ]
        lines += [html.escape(line) for line in missing_summary(result.report)]
        lines.append(
            f"any condition: {int(result.mask().sum()):,} of {result.flags.num_rows:,}"
        )
        self.summary.setText("<br>".join(lines))
        current = self.feature.currentText()
        self.feature.blockSignals(True)
        self.feature.clear()
        self.feature.addItems(list(self._scores))
        self.feature.blockSignals(False)
        self.feature.setCurrentText(
            current if current in self._scores else next(iter(self._scores), "")
        )
        self._draw()

    def _empty_hint(self) -> str:
        """Why there is no histogram yet, in words."""
        if self.session is None:
            return "Open a profile table to judge its cells"
        columns = set(self.session.profiles.columns)
        features = {f for spec in self.conditions().values() for f in spec}
        if features and not features & columns:
            return (
                "None of these conditions' features are in this table:\n"
                "add conditions on its own columns"
            )
        return "Run the conditions to see each feature's scores here"

    # ---- histogram with draggable thresholds
    def _draw(self, *_: Any) -> None:
        feature = self.feature.currentText()
        self._lines = []
        scores = self._scores.get(feature)
        if scores is None:
            # Say what would be here, rather than show empty axes (and
            # import no plotting for it)
            self.plot.say(self._empty_hint())
            return
        clauses = []
        for r in range(self.table.rowCount()):
            if (
                self.table.item(r, 1)
                and self.table.item(r, 1).text().strip() == feature
            ):
                clause = load_conditions(
                    {"c": {feature: _number(self.table.item(r, 2).text())}},
                    self.method.currentText(),
                )[0].clauses[0]
                clauses.append((clause, r))
        label = f"{self.method.currentText()} of {feature}"
        self._lines = threshold_histogram(self.plot, scores, clauses, label)

    def _press(self, event: Any) -> None:
        if event.xdata is None:
            return
        span = np.diff(self.axes.get_xlim())[0]
        for line, r in self._lines:
            if abs(line.get_xdata()[0] - event.xdata) < 0.03 * span:
                self._dragging = (line, r)
                return

    def _motion(self, event: Any) -> None:
        if self._dragging is None or event.xdata is None:
            return
        line, _ = self._dragging
        line.set_xdata([event.xdata, event.xdata])
        self.canvas.draw_idle()

    def _release(self, event: Any) -> None:
        if self._dragging is None:
            return
        line, r = self._dragging
        self._dragging = None
        value = float(line.get_xdata()[0])
        old = self.table.item(r, 2).text().strip()
        if old.startswith("abs"):  # the line's distance from 0 is the threshold
            value = abs(value)
        self.set_threshold(r, value)

    def set_threshold(self, table_row: int, value: float) -> None:
        """Move one clause's threshold (keeping its operator) and re-run, debounced."""
        item = self.table.item(table_row, 2)
        old = item.text().strip()
        op = next(
            (o for o in ("abs>=", "abs>", ">=", "<=", ">", "<") if old.startswith(o)),
            None,
        )
        item.setText(f"{op} {value:.3g}" if op else f"{value:.3g}")
        self.timer.start()


def rules_table(measure: str, threshold: str) -> QTableWidget:
    """A table of rules: condition, ``measure`` and ``threshold`` columns
    (names are long, thresholds short: the threshold column always shows)."""
    table = QTableWidget(0, 3)
    table.setHorizontalHeaderLabels(["condition", measure, threshold])
    header = table.horizontalHeader()
    header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
    header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
    return table


def save_dialog(parent: Any, what: str, default: str, kinds: str, save: Any) -> None:
    """Ask where to save ``what`` (``kinds``: the dialog's filters), call
    ``save(path)`` and say what was written, or why not."""
    name, _ = QFileDialog.getSaveFileName(parent, f"Save {what}", default, kinds)
    if name:
        try:
            notify(f"wrote {save(name)}")
        except (ArrowscopeError, OSError) as exc:
            notify(f"Could not save the {what}: {exc}", "error")


def threshold_histogram(
    plot: Any, scores: np.ndarray, clauses: list[tuple[Any, Any]], label: str
) -> list[tuple[Any, Any]]:
    """Draw the histogram of ``scores`` on ``plot`` (a LazyPlot) with each
    clause's threshold line (two for a two-sided rule) and, beside it, how
    many it flags; returns ``(line, tag)`` for each line drawn."""
    from .plots import style_axes

    axes = plot.axes
    axes.clear()
    style_axes(axes, plot.viewer)
    axes.set_axis_on()
    axes.hist(scores[np.isfinite(scores)], bins=60, color="#7f8c8d")
    axes.set_xlabel(label)
    lines = []
    for clause, tag in clauses:
        x = clause.threshold
        # a two-sided rule (|score| >= t) has two lines, -t and t; dragging
        # either moves both
        for at in (-x, x) if clause.op.startswith("abs") else (x,):
            lines.append((axes.axvline(at, color="#e74c3c", lw=2, picker=5), tag))
        n = int(clause.apply(scores).sum())
        axes.annotate(  # beside the line, never under it
            f"{n} ({100 * n / max(1, scores.size):.1f}%)",
            (x, axes.get_ylim()[1] * 0.9),
            xytext=(4, 0),
            textcoords="offset points",
            fontsize=9,
            color="#e74c3c",
        )
    plot.canvas.draw_idle()
    return lines


def _as_int(value: Any) -> int:
    """An int from a Qt enum value or an int (PyQt5 ints, Qt 6 Python enums)."""
    return int(getattr(value, "value", value))


def key_code(key: str) -> int:
    """The ``Qt.Key`` code of a one-key sequence such as ``"1"`` or ``"Backspace"``.

    Qt 5 stores a key sequence's keys as ints with the modifiers or-ed in; Qt 6
    as ``QKeyCombination`` (``int()`` of it fails on PyQt6). Both give the key
    without modifiers here.
    """
    combo = QKeySequence(key)[0]
    if hasattr(combo, "key"):  # Qt 6: QKeyCombination
        return _as_int(combo.key())
    return _as_int(combo) & ~_as_int(Qt.KeyboardModifier.KeyboardModifierMask)


def _has_modifiers(event: Any) -> bool:
    """Whether Shift/Ctrl/Alt/Meta is held (the keypad flag is not a modifier)."""
    held = _as_int(event.modifiers()) & ~_as_int(Qt.KeyboardModifier.KeypadModifier)
    return bool(held)


class OutlierGalleryWidget(_SessionWidget):
    """Pages of crops of flagged cells; click to go to a cell, F to flag/unflag."""

    PAGE = 16
    ICON = 96

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer)
        self.page = 0
        self._marking = False
        self.rows: np.ndarray = np.empty(0, np.int64)
        self.which = QComboBox()
        self.which.addItems(["flagged cells", "all shown cells"])
        self.which.currentTextChanged.connect(self.refresh)
        self.auto_contrast = auto_contrast_box()
        self.auto_contrast.toggled.connect(lambda _: self.show_page(self.page))
        self.list = QListWidget()
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setIconSize(QSize(self.ICON, self.ICON))
        # a fixed cell per thumbnail: captions ("row 13 · reject") never overlap
        self.list.setGridSize(QSize(self.ICON + 28, self.ICON + 34))
        self.list.setWordWrap(True)
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.list.itemClicked.connect(self._clicked)
        self.label = QLabel("")
        prev_b, next_b = QPushButton("◀"), QPushButton("▶")
        prev_b.clicked.connect(lambda: self.show_page(self.page - 1))
        next_b.clicked.connect(lambda: self.show_page(self.page + 1))
        flag = QPushButton("Flag / unflag (F)")
        flag.clicked.connect(self.toggle_selected)
        QShortcut(QKeySequence("F"), self.list, activated=self.toggle_selected)
        # verdict keys: read where the list has the focus (an event filter, not
        # window shortcuts, so they work in a docked, tabbed panel)
        self._verdict_keys = {
            key_code(key): verdict for key, verdict in VERDICT_KEYS.items()
        }
        self.list.installEventFilter(self)
        self.hint = QLabel("1 keep · 2 reject · 3 unsure · ⌫ clear · F flag")
        #: per rule condition: rule flag vs the verdicts by eye (a 2×2 table)
        self.agreement = QLabel("")
        self.agreement.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.addWidget(_row(self.which, self.auto_contrast))
        lay.addWidget(self.list)
        lay.addWidget(_row(prev_b, self.label, next_b))
        lay.addWidget(flag)
        lay.addWidget(self.hint)
        lay.addWidget(self.agreement)
        self._worker: Any = None
        self._maybe_attach()

    def attached(self) -> None:
        assert self.session is not None
        self.session.state_changed.connect(self.refresh)
        self.refresh()

    def update_agreement(self) -> dict[str, dict[str, int]]:
        """The rule-vs-eye counts per condition, shown under the gallery."""
        from ..core.profiles.marks import agreement

        session = self.session
        if session is None or session.flags is None:
            self.agreement.setText("")
            return {}
        verdicts = session.verdicts_if_any  # none made for a table nobody judged
        counts = agreement(session.flags, verdicts)
        judged = (
            0 if verdicts is None else int(np.isin(verdicts, ["keep", "reject"]).sum())
        )
        rows = [
            f"<tr><td>{html.escape(name)}</td><td>{c['flagged_and_rejected']}</td>"
            f"<td>{c['flagged_but_kept']}</td><td>{c['missed_rejects']}</td>"
            f"<td>{c['agreed_keeps']}</td></tr>"
            for name, c in counts.items()
        ]
        self.agreement.setText(
            f'<b>rule vs eye</b> ({judged} cells judged)<table cellspacing="6">'
            "<tr><th></th><th>flag+reject</th><th>flag+keep</th>"
            "<th>reject, no flag</th><th>keep, no flag</th></tr>"
            + "".join(rows)
            + "</table>"
        )
        return counts

    def refresh(self, *_: Any) -> None:
        if self.session is not None:
            self.update_agreement()
        if self.session is None or self._marking:
            return
        if self.which.currentIndex() == 0:
            mask = self.session.outlier_mask()
        else:
            mask = self.session.visible
        self.rows = np.flatnonzero(mask)
        self.show_page(min(self.page, max(0, (len(self.rows) - 1) // self.PAGE)))

    def show_page(self, page: int) -> Any:
        """Render one page of thumbnails in a worker."""
        if self.session is None:
            return None
        pages = max(1, -(-len(self.rows) // self.PAGE))
        self.page = max(0, min(page, pages - 1))
        chunk = self.rows[self.page * self.PAGE : (self.page + 1) * self.PAGE].tolist()
        self.label.setText(f"page {self.page + 1}/{pages} · {len(self.rows)} cells")
        colors, limits = tile_scaling(self.viewer, self.auto_contrast)
        pt = self.session.profiles

        worker = make_worker(
            lambda: render_thumbnails(pt, chunk, colors, limits),
            receiver=self,
            done=self._show,
            failed=lambda exc: notify(f"Could not draw crops: {exc}", "error"),
        )
        self._worker = worker
        start(worker)
        return worker

    def _show(self, thumbs: list[tuple[int, np.ndarray | None]]) -> None:
        self.list.clear()
        manual = self.session.manual if self.session is not None else None
        verdicts = self.session.verdicts_if_any if self.session is not None else None
        pt = self.session.profiles if self.session is not None else None
        scores = self.session.scores if self.session is not None else None
        for row, rgb in thumbs:
            caption = self._caption(row, manual, verdicts, pt)
            if rgb is None and scores is not None:  # no image: say what stands out
                caption += "\n" + top_scores(scores, row)
            self.list.addItem(thumbnail_item(row, rgb, caption, self.ICON))

    def eventFilter(self, obj: Any, event: Any) -> bool:  # noqa: N802 - Qt's name
        from qtpy.QtCore import QEvent

        if obj is self.list and event.type() == QEvent.Type.KeyPress:
            key = _as_int(event.key())
            if key in self._verdict_keys and not _has_modifiers(event):
                self.mark_selected(self._verdict_keys[key])
                return True
        return bool(super().eventFilter(obj, event))

    @staticmethod
    def _caption(row: int, manual: Any, verdicts: Any, pt: Any = None) -> str:
        where = cell_caption(pt, row) if pt is not None else f"row {row}"
        text = where + (" ⚑" if manual is not None and manual[row] else "")
        if verdicts is not None and verdicts[row] is not None:
            text += f" · {verdicts[row]}"
        return text

    def mark_selected(self, verdict: str | None) -> list[int]:
        """Record a verdict by eye on the selected cells, then show the next one."""
        if self.session is None:
            return []
        items = self.list.selectedItems()
        rows = [int(i.data(Qt.ItemDataRole.UserRole)) for i in items]
        if not rows:
            return []
        self._marking = True  # a verdict changes captions, not the page
        try:
            self.session.mark(rows, verdict)
        except ArrowscopeError as exc:
            notify(str(exc), "error")
            return []
        finally:
            self._marking = False
        self.update_agreement()
        session = self.session
        for i in items:
            row = int(i.data(Qt.ItemDataRole.UserRole))
            i.setText(
                self._caption(row, session.manual, session.verdicts, session.profiles)
            )
        nxt = select_next(self.list, items)  # the next cell at once
        if nxt is not None:
            session.select_rows([row_of(nxt)])
        return rows

    def toggle_selected(self) -> None:
        """Flag or unflag the selected cells by hand (the manual flag column)."""
        if self.session is None:
            return
        rows = [
            int(i.data(Qt.ItemDataRole.UserRole)) for i in self.list.selectedItems()
        ]
        if rows:
            self.session.toggle_manual(rows)


def row_of(item: QListWidgetItem) -> int:
    """The table row a gallery tile shows."""
    return int(item.data(Qt.ItemDataRole.UserRole))


def select_next(gallery: QListWidget, items: list[QListWidgetItem]) -> Any:
    """Select the tile after the last of ``items`` (the next cell to judge);
    returns it, or None at the end of the page."""
    last = max(gallery.row(i) for i in items)
    if last + 1 >= gallery.count():
        return None
    nxt = gallery.item(last + 1)
    gallery.clearSelection()
    nxt.setSelected(True)
    gallery.setCurrentItem(nxt)
    return nxt


def channel_colors(viewer: Any) -> dict[str, tuple[float, float, float]]:
    """The shown channel layers' colours, by channel (what crops are drawn in)."""
    out = {}
    for layer in viewer.layers:
        meta = layer.metadata.get(NAMESPACE, {})
        if meta.get("role") == "channel" and layer.visible:
            out[meta["channel"]] = tuple(
                float(v) for v in layer.colormap.colors[-1][:3]
            )
    return out


def top_scores(scores: Any, row: int, n: int = 2) -> str:
    """The ``n`` QC scores of ``row`` farthest from 0 (``Area z=+3.4``): what
    a tile without an image shows instead of pixels."""
    from ..core.profiles.qc import SCORE_PREFIX

    found = []
    for name in scores.column_names:
        value = scores.column(name)[row].as_py()
        if value is not None and np.isfinite(value):
            feature = name.removeprefix(SCORE_PREFIX).split("_", 1)[-1]
            found.append((abs(value), feature.split("_")[-1], value))
    found.sort(reverse=True)
    return " · ".join(f"{f} {v:+.1f}" for _, f, v in found[:n])


def auto_contrast_box() -> QCheckBox:
    """The choice of stretching each tile on its own (off: every tile shares
    the layers' contrast limits, so tiles compare)."""
    box = QCheckBox("auto-contrast each tile")
    box.setToolTip(
        "off: every tile uses the channel layers' contrast limits (a dim cell "
        "looks dim; adjust them in the layer controls); on: each tile is "
        "stretched to its own 1-99.5 percentiles (tiles no longer compare)"
    )
    return box


def tile_scaling(
    viewer: Any, auto: QCheckBox
) -> tuple[dict[str, tuple[float, float, float]], Any]:
    """The tiles' colours, and their shared scaling (None: each tile its own)."""
    return channel_colors(viewer), None if auto.isChecked() else channel_limits(viewer)


def channel_limits(viewer: Any) -> dict[str, tuple[float, float]]:
    """The shown channel layers' contrast limits, by channel: the one scaling
    every tile shares, so that tiles compare with each other and the canvas."""
    out = {}
    for layer in viewer.layers:
        meta = layer.metadata.get(NAMESPACE, {})
        if meta.get("role") == "channel" and layer.visible:
            lo, hi = (float(v) for v in layer.contrast_limits)
            out[meta["channel"]] = (lo, hi)
    return out


def render_thumbnails(
    pt: Any,
    rows: list[int],
    colors: dict[str, tuple[float, float, float]],
    limits: dict[str, tuple[float, float]] | None = None,
) -> list[tuple[int, np.ndarray | None]]:
    """Each row's crop as an RGB composite (None where it has none), scaled
    by ``limits`` (each channel's shared contrast limits; None: each tile
    stretched on its own); run in a worker."""
    from ..core.profiles.crops import iter_cell_crops

    crops = iter_cell_crops(pt, rows, channels=list(colors))
    return [
        (row, None if crop is None else composite(crop, colors, limits))
        for row, crop in zip(rows, crops, strict=True)
    ]


_CAPTIONS: Any = None


def cell_caption(pt: Any, row: int) -> str:
    """Where a cell is, as a biologist names it: plate, well, site and
    object number (``P1 · B03 · s2 · #14``); the image key where there are
    no wells. The columns are read once per table."""
    import weakref

    from ..core.profiles.keys import _find

    global _CAPTIONS
    if _CAPTIONS is None:
        _CAPTIONS = weakref.WeakKeyDictionary()
    table = _CAPTIONS.get(pt)
    if table is None:
        names = pt.columns
        plate = _find(names, "Metadata_Plate", "Image_Metadata_Plate")
        well = _find(names, "Metadata_Well", "Image_Metadata_Well")
        site = _find(names, "Metadata_Site", "Image_Metadata_Site", "Metadata_Field")
        obj = pt.keys.object
        where = [c for c in (plate, well, site) if c]
        if well is None:  # no wells: the image key names the field
            where = [c for c in [*([plate] if plate else []), *pt.keys.image] if c]
        cols = list(dict.fromkeys([*where, *([obj] if obj else [])]))
        read = pt.key_table if set(cols) <= set(pt.key_table.column_names) else None
        values = (read if read is not None else pt.read(cols)).select(cols)
        if plate in cols and len(cols) > 1:  # one plate: its name says nothing
            import pyarrow.compute as pc

            if pc.count_distinct(values.column(plate)).as_py() <= 1:
                cols.remove(plate)
        table = (cols, site, obj, {c: values.column(c) for c in cols})
        _CAPTIONS[pt] = table
    cols, site, obj, values = table
    parts = []
    for c in cols:
        v = values[c][row].as_py()
        if v is None:
            continue
        if c == obj:
            parts.append(f"#{v}")
        elif c == site:
            parts.append(f"s{v}")
        else:
            parts.append(str(v))
    return " · ".join(parts) or f"row {row}"


def thumbnail_item(
    row: int, rgb: np.ndarray | None, caption: str, size: int
) -> QListWidgetItem:
    """A gallery item: the crop as an icon, the caption, the row as its data."""
    item = QListWidgetItem(caption)
    item.setData(Qt.ItemDataRole.UserRole, row)
    if rgb is not None:
        h, w, _ = rgb.shape
        image = QImage(rgb.tobytes(), w, h, 3 * w, QImage.Format.Format_RGB888)
        pixmap = QPixmap.fromImage(image).scaled(
            size, size, Qt.AspectRatioMode.KeepAspectRatio
        )
        icon = QIcon(pixmap)
        # selected, the tile keeps its pixels (no tint over what is judged);
        # the selection shows in the frame and the caption
        icon.addPixmap(pixmap, QIcon.Mode.Selected)
        item.setIcon(icon)
    else:  # say so, rather than a blank the eye reads as a black cell
        item.setIcon(QIcon(_no_image_tile(size)))
        item.setToolTip("This cell's image could not be read (see the Profiles panel)")
    return item


def _no_image_tile(size: int) -> QPixmap:
    from qtpy.QtGui import QColor, QPainter

    pixmap = QPixmap(size, size)
    pixmap.fill(QColor("#2e333e"))
    painter = QPainter(pixmap)
    painter.setPen(QColor("#a0a8b8"))
    painter.drawRect(0, 0, size - 1, size - 1)
    painter.drawText(pixmap.rect(), _as_int(Qt.AlignmentFlag.AlignCenter), "no\nimage")
    painter.end()
    return pixmap


def composite(
    crop: Any,
    colors: dict[str, tuple[float, float, float]],
    limits: dict[str, tuple[float, float]] | None = None,
) -> np.ndarray:
    """An 8-bit RGB composite of a crop's channels, with the cell outlined in
    white. Each channel is scaled by its ``limits`` (shared by every tile: a
    dim cell looks dim); without them, by the tile's own percentiles."""
    from ..core.images.blend import blend, to_rgb8

    rgb = blend(crop.channels, colors, limits)
    if rgb is None:  # a mask alone: its outline on black
        rgb = np.zeros((*crop.mask.shape, 3), np.float32)
    if crop.mask is not None:
        from scipy import ndimage

        edge = crop.mask & ~ndimage.binary_erosion(crop.mask)
        rgb[edge] = 1.0
    return to_rgb8(rgb)
