"""The Classifier panel: CellProfiler Analyst's Classifier, in napari.

Bins are named classes; cells go in them from the gallery and the canvas
with the number keys (1–9, Backspace takes them out), stored by key beside
the table. *Fetch* fills the gallery with cells at random, predicted as a
class, or the ones the model is least sure of, from all cells, the shown
ones (filter, picked wells, gates) or this field. *Train* fits a model on
the binned cells and shows its cross-validated accuracy, confusion matrix
and the features that matter most; the gallery's predictions update at
once. *Score all* scores every cell out of core in a worker (progress,
cancel) into a Parquet file of keys, ``Metadata_predicted_class`` and
``Metadata_p_<class>``; the plate map can then colour wells by a class's
share. Long work runs off the GUI thread.
"""

from __future__ import annotations

import html
import threading
from pathlib import Path
from typing import Any

import numpy as np
from qtpy.QtCore import QSize, Qt
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..core.errors import ArrowscopeError
from ..core.profiles.classify import BOOKKEEPING, MODELS
from .profile_layers import BIN_COLORS
from .profiles_widget import _row, notify
from .qc_widgets import (
    _as_int,
    _has_modifiers,
    _SessionWidget,
    auto_contrast_box,
    cell_caption,
    key_code,
    render_thumbnails,
    row_of,
    select_next,
    thumbnail_item,
    tile_scaling,
)
from .session import BIN_KEYS
from .workers import make_worker, start

#: where fetched cells come from
POOLS = ("all cells", "shown cells (filter, wells, gates)", "this field")


class ClassifierWidget(_SessionWidget):
    """Bins, fetch, train, score all (see the module docstring)."""

    ICON = 96
    BIN_ICON = 56
    #: tiles a bin's panel shows at most (the rest are counted)
    BIN_SHOWN = 60

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer)
        self.trained: Any = None
        self.scores_path: Path | None = None
        self._cancel: threading.Event | None = None
        self._worker: Any = None
        self._validation: Any = None
        self._rows: Any = None  # a RowCache of the table, made on first use
        self.gallery_rows: list[int] = []
        self.predictions: dict[int, tuple[str, float]] = {}
        # bins
        self.bin_list = QListWidget()
        self.bin_list.setMaximumHeight(90)
        add_b, rename_b, remove_b = (
            QPushButton("+ bin"),
            QPushButton("rename"),
            QPushButton("− bin"),
        )
        add_b.clicked.connect(lambda: self.add_bin())
        rename_b.clicked.connect(lambda: self.rename_bin())
        remove_b.clicked.connect(lambda: self.remove_bin())
        load_b, save_b = QPushButton("Load set…"), QPushButton("Save set…")
        load_b.setToolTip("Load a CellProfiler Analyst training set into the bins")
        save_b.setToolTip("Save the bins as a CellProfiler Analyst training set")
        load_b.clicked.connect(lambda: self.load_training_set())
        save_b.clicked.connect(lambda: self.save_training_set())
        self.keys_on = QCheckBox("keys bin on the canvas too")
        self.keys_on.setToolTip(
            "In this panel's galleries the number keys always mean bins. On the "
            "canvas they judge (1 keep, 2 reject, 3 unsure) unless this is ticked."
        )
        self.keys_on.toggled.connect(self._keys_toggled)
        # the chosen bin as a panel of its cells' tiles: number keys (or a drag
        # onto a bin's name) move them, Backspace takes them out
        self.bin_tiles = self._tiles(self.BIN_ICON, (24, 40), rows=1)
        self.bin_list.currentRowChanged.connect(lambda _: self.show_bin())
        self.bin_list.setAcceptDrops(True)
        self.bin_list.viewport().installEventFilter(self)
        self.bin_title = QLabel("")
        self.keys_hint = QLabel(
            "In the galleries: 1–9 put the selected cells in that bin · "
            "⌫ takes them out · drag tiles onto a bin's name"
        )
        self.keys_hint.setWordWrap(True)
        self._bin_worker: Any = None
        # fetch
        self.fetch_n = QSpinBox(minimum=1, maximum=500, value=20)
        self.fetch_how = QComboBox()
        self.fetch_pool = QComboBox()
        self.fetch_pool.addItems(POOLS)
        fetch_b = QPushButton("Fetch")
        fetch_b.clicked.connect(lambda: self.fetch())
        self.auto_contrast = auto_contrast_box()
        self.gallery = self._tiles(self.ICON, (28, 48), rows=2)
        self._bin_keys = {key_code(k): pos for k, pos in BIN_KEYS.items()}
        # train
        self.model = QComboBox()
        for key, name in ((k, m.title) for k, m in MODELS.items()):
            self.model.addItem(name, key)
        #: what the model learns from: the bins, or the verdicts by eye
        self.classes_from = QComboBox()
        self.classes_from.addItem("the bins", "bins")
        self.classes_from.addItem("verdicts by eye (keep/reject/unsure)", "verdicts")
        #: what is never a feature: positions, boxes, parents, object numbers
        #: (regular expressions on whole names, editable)
        self.not_features = QLineEdit(", ".join(BOOKKEEPING))
        self.not_features.setCursorPosition(0)  # read from the start
        self.not_features.setToolTip(
            "Columns that are not features, as regular expressions on the whole "
            "name, separated by commas. By default: where a cell is (location, "
            "bounding box, centre) and how it was counted (parent and object "
            "numbers) — a model that learns them learns the plate layout, not "
            "the phenotype. Clear it to let the model use them."
        )
        self.train_b = QPushButton("Train")
        self.train_b.clicked.connect(lambda: self.train())
        self.report = QLabel("Put a few cells in each bin, then train.")
        self.report.setWordWrap(True)
        self.report.setTextFormat(Qt.TextFormat.RichText)
        # score all
        self.out_edit = QLineEdit(placeholderText="scores file (.parquet)")
        self.score_b = QPushButton("Score all")
        self.score_b.clicked.connect(lambda: self.score_all())
        self.summary_b = QPushButton("Save class summary…")
        self.summary_b.setEnabled(False)
        self.summary_b.setToolTip(
            "per plate and well (or image): cells of each class, their share and "
            "their enrichment over the plate"
        )
        self.summary_b.clicked.connect(lambda: self.save_summary())
        self.stop_b = QPushButton("Cancel")
        self.stop_b.setEnabled(False)
        self.stop_b.clicked.connect(self.cancel)
        self.bar = QProgressBar()
        self.bar.setVisible(False)
        #: (cells scored, of) in the last Score all
        self.progress = (0, 0)

        # the panel scrolls in a short dock rather than squeezing its parts
        self.content = QWidget()
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        lay = QVBoxLayout(self.content)
        # what is judged after training comes first: the bins, Train and its
        # results fit the top of the panel (no scrolling at 1080 px); the
        # galleries follow
        lay.addWidget(QLabel("<b>Bins</b>"))
        lay.addWidget(self.bin_list)
        lay.addWidget(_row(add_b, rename_b, remove_b, load_b, save_b))
        form_train = QFormLayout()
        form_train.addRow("Learn from", self.classes_from)
        form_train.addRow("Not features", self.not_features)
        lay.addLayout(form_train)
        lay.addWidget(_row(self.model, self.train_b))
        lay.addWidget(self.report)
        form = QFormLayout()
        form.addRow("Fetch", _row(self.fetch_n, self.fetch_how))
        form.addRow("from", _row(self.fetch_pool, fetch_b))
        lay.addLayout(form)
        lay.addWidget(_row(self.auto_contrast, self.keys_on))
        lay.addWidget(self.gallery)
        lay.addWidget(self.keys_hint)
        lay.addWidget(self.bin_title)
        lay.addWidget(self.bin_tiles)
        lay.addWidget(_row(self.out_edit, self.score_b, self.stop_b))
        lay.addWidget(self.bar)
        lay.addWidget(self.summary_b)
        self._maybe_attach()

    def _tiles(self, icon: int, margins: tuple[int, int], rows: int) -> QListWidget:
        """A gallery of cell tiles: selectable, draggable onto a bin, clicked
        to go to the cell, with the bin keys; ``rows`` rows tall at least."""
        tiles = QListWidget()
        tiles.setViewMode(QListView.ViewMode.IconMode)
        tiles.setIconSize(QSize(icon, icon))
        tiles.setGridSize(QSize(icon + margins[0], icon + margins[1]))
        tiles.setMinimumHeight(rows * (icon + margins[1]) + 8)
        tiles.setWordWrap(True)
        tiles.setResizeMode(QListView.ResizeMode.Adjust)
        tiles.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        tiles.setDragEnabled(True)
        tiles.itemClicked.connect(self._clicked)
        tiles.installEventFilter(self)
        return tiles

    # ---- session
    def attached(self) -> None:
        assert self.session is not None
        try:
            self.session.open_bins()
        except ArrowscopeError as exc:
            notify(str(exc), "error")
            return
        pt = self.session.profiles
        if pt.path is not None:
            stem = Path(pt.path).name.split(".")[0]
            self.out_edit.setText(
                str(Path(pt.path).with_name(f"{stem}.scores.parquet"))
            )
        self.session.state_changed.connect(self._refresh_bins)
        self._refresh_bins()

    @property
    def classes(self) -> list[str]:
        if self.session is None or self.session.bins is None:
            return []
        return list(self.session.bins.classes)

    def _refresh_bins(self, *_: Any) -> None:
        if self.session is None or self.session.bins is None:
            return
        counts = {c: int((self.session.bin_of == c).sum()) for c in self.classes}
        chosen = self.bin_list.currentRow()
        self.bin_list.blockSignals(True)
        self.bin_list.clear()
        for k, name in enumerate(self.classes):
            self.bin_list.addItem(f"{k + 1}  {name}  ({counts[name]} cells)")
            self.bin_list.item(k).setForeground(_qcolor(BIN_COLORS[k % 9]))
        self.bin_list.blockSignals(False)
        if self.classes:  # the same bin stays chosen, its tiles redrawn
            self.bin_list.setCurrentRow(min(max(chosen, 0), len(self.classes) - 1))
            self.show_bin()
        current = self.fetch_how.currentText()
        self.fetch_how.blockSignals(True)
        self.fetch_how.clear()
        self.fetch_how.addItem("at random", ("random", None))
        if self.trained is not None:
            for c in self.trained.classes:
                self.fetch_how.addItem(f"predicted {c}", ("class", c))
            self.fetch_how.addItem("least certain", ("uncertain", None))
        index = self.fetch_how.findText(current)
        self.fetch_how.setCurrentIndex(max(0, index))
        self.fetch_how.blockSignals(False)

    def add_bin(self, name: str | None = None) -> None:
        if self.session is None:
            return
        if name is None:
            name, ok = QInputDialog.getText(self, "New bin", "Name of the class:")
            if not ok:
                return
        try:
            self.session.open_bins().add_class(name.strip())
        except (ValueError, ArrowscopeError) as exc:
            notify(str(exc), "warning")
        self._refresh_bins()

    def rename_bin(self, new: str | None = None) -> None:
        item = self.bin_list.currentRow()
        if self.session is None or item < 0:
            return
        old = self.classes[item]
        if new is None:
            new, ok = QInputDialog.getText(self, "Rename bin", "New name:", text=old)
            if not ok:
                return
        try:
            self.session.open_bins().rename(old, new.strip())
        except (ValueError, ArrowscopeError) as exc:
            notify(str(exc), "warning")
            return
        self.session.bin_of[self.session.bin_of == old] = new.strip()
        self._refresh_bins()

    def remove_bin(self) -> None:
        item = self.bin_list.currentRow()
        if self.session is None or item < 0:
            return
        name = self.classes[item]
        self.session.open_bins().remove(name)
        self.session.bin_of[self.session.bin_of == name] = None
        self.session.recolor()
        self._refresh_bins()

    def _object_key(self) -> list[str]:
        """The key a CPA training set holds: the numeric image and object keys
        (table, image and object numbers; a plate name is not one)."""
        import pyarrow as pa

        assert self.session is not None
        pt = self.session.profiles
        keys = [*pt.keys.image, *([pt.keys.object] if pt.keys.object else [])]
        return [c for c in keys if pa.types.is_integer(pt.schema.field(c).type)]

    def save_training_set(self, path: str | Path | None = None) -> Path | None:
        """The binned cells as a CellProfiler Analyst training set (class,
        image and object number, x and y), which CPA's Classifier loads."""
        from ..core.profiles.cpa import write_training_set

        if self.session is None:
            return None
        if path is None:
            from qtpy.QtWidgets import QFileDialog

            path, _ = QFileDialog.getSaveFileName(
                self, "Save training set", "training_set.txt", "Text (*.txt)"
            )
            if not path:
                return None
        labels = self.session.labels()
        key = self._object_key()
        pt = self.session.profiles
        try:
            rows = _rows_of(pt, labels, key)
            centres = pt.centers()[rows]
            import pyarrow as pa

            xy = pa.table({"x": centres[:, 1], "y": centres[:, 0]})
            written = write_training_set(
                path,
                labels,
                [c for c in key if c in labels.column_names],
                positions=xy,
                properties=pt.properties,
            )
        except (ArrowscopeError, OSError, ValueError) as exc:
            notify(f"Could not save the training set: {exc}", "error")
            return None
        notify(f"Saved {labels.num_rows} cells to {written}", "info")
        return written

    def load_training_set(self, path: str | Path | None = None) -> int:
        """Put the cells of a CPA training set (or a labels file) in their
        bins, matched by key; returns how many."""
        from ..core.profiles.classify import read_labels

        if self.session is None:
            return 0
        if path is None:
            from qtpy.QtWidgets import QFileDialog

            path, _ = QFileDialog.getOpenFileName(self, "Load training set")
            if not path:
                return 0
        pt = self.session.profiles
        try:
            labels = read_labels(path, self._object_key())
            shared = [c for c in self._object_key() if c in labels.column_names]
            rows = _rows_of(pt, labels, shared or labels.column_names[:-1])
        except (ArrowscopeError, OSError, ValueError) as exc:
            notify(f"Could not load {path}: {exc}", "error")
            return 0
        classes = labels.column("Metadata_class").to_pylist()
        for name in dict.fromkeys(classes):
            picked = [int(r) for r, c in zip(rows, classes, strict=True) if c == name]
            self.session.put_in_bin(picked, name)
        self._refresh_bins()
        return len(rows)

    def _keys_toggled(self, on: bool) -> None:
        if self.session is not None:
            self.session.set_key_target("bins" if on else "verdicts")

    def _run(
        self,
        job: Any,
        done: Any,
        failure: str,
        *,
        level: str = "error",
        failed: Any = None,
        **options: Any,
    ) -> Any:
        """Run ``job`` in a worker; ``done(result)`` on the GUI thread, or a
        notification starting with ``failure`` (and ``failed(exc)``)."""

        def on_failure(exc: Exception) -> None:
            notify(f"{failure}: {exc}", level)
            if failed is not None:
                failed(exc)

        worker = make_worker(
            job,
            receiver=self,
            done=done,
            failed=on_failure,
            **options,
        )
        self._worker = worker
        start(worker)
        return worker

    # ---- the gallery
    def _pool(self) -> np.ndarray | None:
        assert self.session is not None
        choice = self.fetch_pool.currentText()
        if choice == POOLS[1]:
            return self.session.visible.copy()
        if choice == POOLS[2]:
            return self.session.profiles.fov_of_row == self._field_in_view()
        return None

    def _field_in_view(self) -> int:
        """The field of view on the canvas (the stacks' first axis)."""
        return round(self.viewer.dims.point[0]) if self.viewer.dims.ndim > 2 else 0

    def fetch(self) -> Any:
        """Fill the gallery with N cells (in a worker), not ones already binned."""
        from ..core.profiles.scoring import fetch_rows

        if self.session is None:
            notify("Open a profile table first (Profiles panel).", "warning")
            return None
        how, cls = self.fetch_how.currentData() or ("random", None)
        pt = self.session.profiles
        source = pt._file.source
        n, pool = self.fetch_n.value(), self._pool()
        exclude = self.session.bin_of != None  # noqa: E711 - numpy, elementwise
        trained = self.trained
        colors, limits = tile_scaling(self.viewer, self.auto_contrast)

        def job() -> tuple[list[int], Any]:
            rows = fetch_rows(
                source, n, how, trained=trained, cls=cls, pool=pool, exclude=exclude
            ).tolist()
            return rows, render_thumbnails(pt, rows, colors, limits)

        return self._run(job, self._fetched, "Could not fetch cells")

    def _fetched(self, out: tuple[list[int], Any]) -> None:
        rows, thumbs = out
        self.gallery_rows = rows
        self.gallery.clear()
        for row, rgb in thumbs:
            self.gallery.addItem(
                thumbnail_item(row, rgb, self._caption(row), self.ICON)
            )
        if not rows:
            notify("No cells to fetch there (all binned, or none match).", "info")
        self._predict_gallery()

    def _caption(self, row: int) -> str:
        text = cell_caption(self.session.profiles, row) if self.session else f"{row}"
        if self.session is not None and self.session.bin_of[row] is not None:
            text += f" · {self.session.bin_of[row]}"
        if row in self.predictions:
            cls, p = self.predictions[row]
            # never "100 %" for 0.9998: the digits that tell cells apart
            text += f"\n→ {cls} {p:.0%}" if p < 0.995 else f"\n→ {cls} {p:.2%}"
        return text

    def _recaption(self) -> None:
        for i in range(self.gallery.count()):
            item = self.gallery.item(i)
            item.setText(self._caption(row_of(item)))

    def eventFilter(self, obj: Any, event: Any) -> bool:  # noqa: N802 - Qt's name
        from qtpy.QtCore import QEvent

        galleries = (self.gallery, self.bin_tiles)
        if obj in galleries and event.type() == QEvent.Type.KeyPress:
            key = _as_int(event.key())
            if key in self._bin_keys and not _has_modifiers(event):
                self.bin_selected(self._bin_keys[key], gallery=obj)
                return True
        if obj is self.bin_list.viewport():
            dragging = (QEvent.Type.DragEnter, QEvent.Type.DragMove)
            if event.type() in dragging and event.source() in galleries:
                event.acceptProposedAction()
                return True
            if event.type() == QEvent.Type.Drop and event.source() in galleries:
                target = self.bin_list.indexAt(_point(event)).row()
                if target >= 0:
                    self.bin_selected(target, gallery=event.source())
                event.acceptProposedAction()
                return True
        return bool(super().eventFilter(obj, event))

    def show_bin(self) -> Any:
        """The chosen bin's cells as tiles (in a worker), with the bin's name
        and count."""
        from .qc_widgets import render_thumbnails, tile_scaling

        k = self.bin_list.currentRow()
        if self.session is None or not 0 <= k < len(self.classes):
            self.bin_tiles.clear()
            self.bin_title.setText("")
            return None
        name = self.classes[k]
        rows = np.flatnonzero(self.session.bin_of == name)
        more = (
            f", the first {self.BIN_SHOWN} shown" if len(rows) > self.BIN_SHOWN else ""
        )
        self.bin_title.setText(f"<b>{html.escape(name)}</b>: {len(rows)} cells{more}")
        chosen = rows[: self.BIN_SHOWN].tolist()
        pt = self.session.profiles
        colors, limits = tile_scaling(self.viewer, self.auto_contrast)

        def fill(thumbs: list[tuple[int, Any]]) -> None:
            self.bin_tiles.clear()
            for row, rgb in thumbs:
                caption = cell_caption(pt, row)
                self.bin_tiles.addItem(thumbnail_item(row, rgb, caption, self.BIN_ICON))

        self._bin_worker = self._run(
            lambda: render_thumbnails(pt, chosen, colors, limits),
            fill,
            "Could not draw the bin's cells",
        )
        return self._bin_worker

    def bin_selected(self, position: int | None, gallery: Any = None) -> list[int]:
        """Put the selected cells of ``gallery`` (the fetched cells, or the
        chosen bin's) in the bin at ``position`` (None: out of their bin),
        then select the next one."""
        if self.session is None:
            return []
        gallery = self.gallery if gallery is None else gallery
        items = gallery.selectedItems()
        rows = [row_of(i) for i in items]
        classes = self.classes
        if not rows or (position is not None and position >= len(classes)):
            return []
        try:
            self.session.put_in_bin(
                rows, None if position is None else classes[position]
            )
        except ArrowscopeError as exc:
            notify(str(exc), "error")
            return []
        self._recaption()
        if gallery is self.bin_tiles:  # they left this bin: redraw it
            self.show_bin()
        else:
            select_next(gallery, items)
        return rows

    # ---- train
    def _cache(self) -> Any:
        from ..core.profiles.scoring import RowCache

        if self._rows is None:
            assert self.session is not None
            self._rows = RowCache(self.session.profiles._file.source)
        return self._rows

    def train(self) -> Any:
        """Retrain on the binned cells in a worker (no cross-validation: the
        predictions of the gallery and the field in view update at once), then
        cross-validate in another worker and show the accuracy."""
        from ..core.profiles.classify import train_table

        if self.session is None:
            return None
        try:
            labels = self.session.labels(self.classes_from.currentData())
        except ArrowscopeError as exc:
            notify(str(exc), "error")
            return None
        classes = set(labels.column("Metadata_class").to_pylist())
        if len(classes) < 2:
            notify("Put cells in at least two classes before training.", "warning")
            return None
        pt, model, cache = (
            self.session.profiles,
            self.model.currentData(),
            self._cache(),
        )
        rows = np.asarray([*self.gallery_rows, *self._rows_in_view()], np.int64)
        order = self.classes  # the confusion matrix in the bins' order
        ignore = [p.strip() for p in self.not_features.text().split(",") if p.strip()]
        try:
            import re

            for pattern in ignore:
                re.compile(pattern)
        except re.error as exc:
            notify(
                f"Not features: {pattern!r} is not a regular expression ({exc})",
                "error",
            )
            return None

        def job() -> tuple[Any, dict[int, tuple[str, float]]]:
            trained = train_table(
                pt,
                labels,
                model=model,
                folds=0,
                cache=cache,
                order=order,
                ignore=ignore,
                bookkeeping=True,  # the panel's own rule replaces the default
            )
            return trained, _predict(trained, cache, rows)

        self.train_b.setEnabled(False)
        return self._run(
            job,
            self._trained,
            "Training failed",
            finished=lambda: self.train_b.setEnabled(True),
            progress={"total": 0, "desc": "Training the classifier"},
        )

    def _rows_in_view(self) -> list[int]:
        """The rows of the field of view on the canvas."""
        assert self.session is not None
        pt = self.session.profiles
        if not len(pt.fields_of_view):
            return []
        return np.flatnonzero(pt.fov_of_row == self._field_in_view()).tolist()

    def _trained(self, out: tuple[Any, dict[int, tuple[str, float]]]) -> None:
        from ..core.profiles.classify import cross_validate

        trained, predictions = out
        self.trained = trained
        self.predictions = predictions
        self._recaption()
        self.report.setText(describe_model(trained, self._in_view()))
        self._refresh_bins()
        self._validation = self._run(
            lambda: cross_validate(trained),
            self._validated,
            "Cross-validation failed",
            failed=lambda exc: self._validated(trained, f"failed: {exc}"),
        )

    def _validated(self, trained: Any, failure: str | None = None) -> None:
        if trained is self.trained:  # not retrained meanwhile
            text = describe_model(trained, self._in_view(), validated=failure or True)
            self.report.setText(text)

    def _in_view(self) -> dict[str, int]:
        """Predicted cells of each class in the field on the canvas."""
        out: dict[str, int] = {}
        for row in self._rows_in_view() if self.session is not None else []:
            if row in self.predictions:
                cls = self.predictions[row][0]
                out[cls] = out.get(cls, 0) + 1
        return out

    def _predict_gallery(self) -> Any:
        """Predictions for the gallery's cells (a worker): shown in captions."""
        if self.trained is None or not self.gallery_rows or self.session is None:
            return None
        trained, rows = self.trained, np.asarray(self.gallery_rows, np.int64)
        cache = self._cache()
        return self._run(
            lambda: _predict(trained, cache, rows), self._predicted, "Could not predict"
        )

    def _predicted(self, predictions: dict[int, tuple[str, float]]) -> None:
        self.predictions = {**self.predictions, **predictions}
        self._recaption()

    # ---- score all
    def score_all(
        self, out: str | Path | None = None, *, overwrite: bool | None = None
    ) -> Any:
        """Score every cell into the scores file, in a worker (progress,
        cancel); the plate map can then show each class's share per well. An
        existing file is replaced only after a confirmation (or with
        ``overwrite=True``); never the table or its images."""
        from ..core.images.atomic import check_output
        from ..core.profiles.batch import annotation_keys
        from ..core.profiles.scoring import score_all
        from .export_widget import _Progress, confirm_replace

        if self.session is None or self.trained is None:
            notify("Train the classifier first.", "warning")
            return None
        target = Path(out or self.out_edit.text().strip())
        pt = self.session.profiles
        try:
            check_output(target, inputs=pt.inputs, overwrite=True)
        except ArrowscopeError as exc:
            notify(str(exc), "error")
            return None
        if target.exists():
            if overwrite is None:
                overwrite = confirm_replace(self, f"Replace {target}?")
            if not overwrite:
                notify(f"{target} exists; nothing was written.", "warning")
                return None
        cancel = threading.Event()
        self._cancel = cancel
        relay = _Progress(self)
        relay.changed.connect(self._show_progress)
        trained, source = self.trained, pt._file.source
        keys = annotation_keys(pt.schema, pt.keys)

        def job() -> Path:
            return score_all(
                source,
                trained,
                target,
                keys=keys,
                progress=relay.changed.emit,
                cancel=cancel,
            )

        self.score_b.setEnabled(False)
        self.stop_b.setEnabled(True)
        self.bar.setVisible(True)
        self._show_progress(0, source.num_rows)
        return self._run(
            job,
            self._scored,
            "Scoring stopped",
            level="warning",
            finished=self._score_finished,
        )

    def save_summary(self, path: str | Path | None = None) -> Path | None:
        """Per plate and well (or image): each class's cells, share and
        enrichment over the plate, from the last Score all; CSV or Parquet."""
        from ..core.images.atomic import check_output
        from ..core.images.parquet import read_parquet
        from ..core.profiles.scoring import PREDICTED, write_class_summary

        if self.session is None or self.scores_path is None or self.trained is None:
            notify("Score all first.", "warning")
            return None
        if path is None:
            from qtpy.QtWidgets import QFileDialog

            path, _ = QFileDialog.getSaveFileName(
                self,
                "Save class summary",
                str(_summary_target(self.scores_path)),
                "CSV (*.csv);;Parquet (*.parquet)",
            )
            if not path:
                return None  # the dialog asked before replacing
        pt = self.session.profiles
        try:
            check_output(Path(path), inputs=pt.inputs, overwrite=True)
            scores = read_parquet(self.scores_path, columns=[PREDICTED])
            written, _ = write_class_summary(pt, scores, self.trained.classes, path)
        except (ArrowscopeError, OSError) as exc:
            notify(f"Could not save the summary: {exc}", "error")
            return None
        notify(f"Saved the class summary to {written}", "info")
        return written

    def cancel(self) -> None:
        """Stop scoring: nothing is written."""
        if self._cancel is not None:
            self._cancel.set()

    def _show_progress(self, done: int, total: int) -> None:
        self.progress = (done, total)
        self.bar.setMaximum(max(total, 1))
        self.bar.setValue(done)
        self.bar.setFormat(f"scored {done:,} of {total:,} cells")

    def _score_finished(self) -> None:
        self.score_b.setEnabled(True)
        self.stop_b.setEnabled(False)
        self._cancel = None

    def _scored(self, path: Path) -> None:
        from ..core.images.parquet import read_parquet
        from ..core.profiles.scoring import PREDICTED

        assert self.session is not None
        self.scores_path = path
        # scores are in the table's row order (scored group by group)
        predicted = read_parquet(path, columns=[PREDICTED]).column(0)
        self.session.predicted = np.asarray(predicted.to_pylist(), dtype=object)
        self.summary_b.setEnabled(True)
        self.session.state_changed.emit()  # the plate map offers class shares
        notify(f"Scored {len(predicted):,} cells into {path}", "info")


def _rows_of(pt: Any, labels: Any, key: list[str]) -> np.ndarray:
    """The table rows ``labels`` name by ``key`` (each exactly one)."""
    from ..core.profiles.classify import match_labels

    rows, _ = match_labels(pt.read(key), labels.select([*key, "Metadata_class"]))
    return rows


def _predict(
    trained: Any, cache: Any, rows: np.ndarray
) -> dict[int, tuple[str, float]]:
    """Each row's predicted class, and how sure the model is of it: the
    class's probability averaged over the model and its refits on resampled
    training cells (a lone model on a few cells says ~100 % for every cell;
    features from the cache)."""
    if not len(rows):
        return {}
    table = cache.get(rows, trained.features)
    best, _ = trained.predict(table)
    proba = trained.committee_proba(table)
    column = {c: j for j, c in enumerate(trained.classes)}
    return {
        int(r): (str(b), float(p[column[b]]))
        for r, b, p in zip(rows, best, proba, strict=True)
    }


def _summary_target(scores: Path) -> Path:
    return scores.with_name(scores.name.split(".")[0] + ".summary.csv")


def _point(event: Any) -> Any:
    """A drop event's position (Qt 6: ``position()``, Qt 5: ``pos()``)."""
    at = event.position() if hasattr(event, "position") else event.pos()
    return at.toPoint() if hasattr(at, "toPoint") else at


def describe_model(
    trained: Any, in_view: dict[str, int] | None = None, validated: Any = False
) -> str:
    """Accuracy, confusion matrix, top features and the field in view, as rich
    text. ``validated``: False while cross-validation runs, True once done, or
    the text of its failure."""
    known = MODELS.get(trained.model)
    title = known.title if known is not None else trained.model
    lines = [f"<b>{html.escape(title)}</b>"]
    n = trained.training.num_rows
    used = f"{len(trained.features)} of {len(trained.candidates or trained.features)}"
    if trained.cv_accuracy is not None:
        lines.append(
            f"cross-validated accuracy {trained.cv_accuracy:.1%} ({n} cells, "
            f"{used} features)"
        )
    elif validated is True:
        lines.append(
            f"trained on {n} cells, {used} features; not cross-validated "
            "(each class needs at least two cells)"
        )
    elif validated:
        lines.append(
            f"trained on {n} cells, {used} features; cross-validation "
            f"{html.escape(str(validated))}"
        )
    else:
        lines.append(f"trained on {n} cells, {used} features; cross-validating…")
    for note in getattr(trained, "notes", []):
        lines.append(f"<i>{html.escape(note)}</i>")
    if trained.confusion:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in trained.classes)
        body = "".join(
            f"<tr><th>{html.escape(c)}</th>"
            + "".join(f"<td>{v}</td>" for v in row)
            + "</tr>"
            for c, row in zip(trained.classes, trained.confusion, strict=True)
        )
        lines.append(f"<table><tr><th>true \\ predicted</th>{head}</tr>{body}</table>")
    top = list(trained.importances)[:5]
    if top:
        lines.append("features that matter most: " + ", ".join(map(html.escape, top)))
    if in_view:
        counts = " · ".join(f"{html.escape(c)} {k}" for c, k in sorted(in_view.items()))
        lines.append(f"this field: {counts}")
    return "<br>".join(lines)


def _qcolor(hex_color: str) -> Any:
    from qtpy.QtGui import QColor

    return QColor(hex_color)
