"""The Profiles dock widget: open a profile table with its images and browse cells.

Selecting table rows moves the viewer to the cell (field of view, centre,
zoom) and highlights its point; selecting points or clicking a label selects
and scrolls to the rows. Opening and link checks run in worker threads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from qtpy.QtCore import QItemSelection, QItemSelectionModel, Qt
from qtpy.QtGui import QKeySequence
from qtpy.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QShortcut,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ..core.errors import ArrowscopeError
from ..core.images.cache import give_back_memory
from ..core.profiles.kinds import file_filter
from ..core.profiles.resolve import open_profiles
from ..core.profiles.table import ProfileTable
from .layers import NAMESPACE
from .profile_layers import add_profile_layers, profile_layers
from .session import CellSession, find_cells_layer, session_for, text_overlay_of
from .table_model import ArrowTableModel, LazyTable, ordered_columns
from .workers import make_worker, start

MAX_DEFAULT_FEATURES = 4


def notify(message: str, level: str = "info") -> None:
    """Show a napari notification (errors never raise into the event loop)."""
    from napari.utils.notifications import show_error, show_info, show_warning

    {"error": show_error, "warning": show_warning}.get(level, show_info)(message)


class ProfilesWidget(QWidget):
    """Open a profile table, pick columns, search, and select cells both ways."""

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.session: CellSession | None = None
        self._syncing = False
        self._worker: Any = None
        self._link_worker: Any = None

        self.path_edit = QLineEdit(placeholderText="profile table (.parquet, .csv)")
        self.root_edit = QLineEdit(placeholderText="image folder (optional)")
        self.images_edit = QLineEdit(
            placeholderText="OME-Parquet fields of view (optional)"
        )
        self.image_key_edit = QLineEdit(placeholderText="detected")
        self.object_edit = QLineEdit(placeholderText="detected")
        self.center_edit = QLineEdit(placeholderText="detected: X column, Y column")
        #: a warehouse's profile tables (shown when the path is a warehouse root)
        self.table_choice = QComboBox()
        self.path_edit.editingFinished.connect(self.list_tables)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_table)
        browse_root = QPushButton("Browse…")
        browse_root.clicked.connect(self._browse_root)
        self.open_button = QPushButton("Open")
        self.open_button.clicked.connect(self.open_from_fields)

        form = QFormLayout()
        form.addRow("Table", _row(self.path_edit, browse))
        form.addRow("Warehouse table", self.table_choice)
        self._table_label = form.labelForField(self.table_choice)
        self._show_table_choice(False)
        form.addRow("Images", _row(self.root_edit, browse_root))
        form.addRow("Image table", self.images_edit)
        form.addRow("Image key", self.image_key_edit)
        form.addRow("Object key", self.object_edit)
        form.addRow("Centre", self.center_edit)

        self.status = QLabel("No profile table open.")
        self.status.setWordWrap(True)

        self.column_search = QLineEdit(placeholderText="find columns…")
        self.column_search.textChanged.connect(self._filter_column_list)
        self.column_list = QListWidget()
        self.column_list.itemChanged.connect(self._columns_changed)

        self.search = QLineEdit(placeholderText="search rows…")
        self.search.returnPressed.connect(self._apply_search)
        self.model = ArrowTableModel()
        self.view = QTableView()
        self.view.setModel(self.model)
        # table order until a header is clicked (Qt would sort by the first
        # column at once: a whole column read and sorted for nothing)
        self.view.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.view.setSortingEnabled(True)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.verticalHeader().setDefaultSectionSize(20)
        self.view.horizontalHeader().setDefaultSectionSize(
            190
        )  # long CellProfiler names
        # each column as wide as its (long CellProfiler) name: headers whole
        self.model.modelReset.connect(self._fit_headers)
        self.view.selectionModel().selectionChanged.connect(
            self._table_selection_changed
        )

        prev_b, next_b = QPushButton("◀ Previous"), QPushButton("Next ▶")
        prev_b.clicked.connect(lambda: self.step(-1))
        next_b.clicked.connect(lambda: self.step(1))
        for key, delta in (("Ctrl+Down", 1), ("Ctrl+Up", -1)):
            QShortcut(QKeySequence(key), self, activated=lambda d=delta: self.step(d))

        from superqt import QCollapsible

        self.open_box = QCollapsible("Open a profile table")
        form_box = QWidget()
        fl = QVBoxLayout(form_box)
        fl.setContentsMargins(0, 0, 0, 0)
        fl.addLayout(form)
        fl.addWidget(self.open_button)
        self.open_box.addWidget(form_box)
        self.open_box.expand(animate=False)
        self.columns_box = QCollapsible("Columns")
        self.columns_box.addWidget(self.column_search)
        self.columns_box.addWidget(self.column_list)

        lay = QVBoxLayout(self)
        lay.addWidget(self.open_box)
        lay.addWidget(self.status)
        lay.addWidget(self.columns_box)
        lay.addWidget(_row(self.search, prev_b, next_b))
        lay.addWidget(self.view, stretch=1)

        existing = find_cells_layer(self.viewer)
        if existing is not None:
            self.attach(session_for(self.viewer, existing))

    # ---- opening
    def _browse_table(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open profile table", "", file_filter("profiles", "warehouse")
        )
        if path:
            self.path_edit.setText(path)
            self.list_tables()

    def list_tables(self) -> list[str]:
        """Fill the warehouse-table chooser when the path is a warehouse root
        (the default profiles first); hide it otherwise."""
        from ..core.profiles.warehouse import open_warehouse, warehouse_root

        self.table_choice.clear()
        text = self.path_edit.text().strip()
        root = warehouse_root(text) if text and "://" not in text else None
        names: list[str] = []
        if root is not None:
            try:
                tables = open_warehouse(root).profile_candidates()
            except ArrowscopeError as exc:
                notify(str(exc), "error")
                tables = []
            for t in tables:
                self.table_choice.addItem(
                    f"{t.identifier} ({t.role or 'other'}, {t.rows:,} rows)",
                    t.identifier,
                )
                names.append(t.identifier)
        self._show_table_choice(bool(names))
        return names

    def _show_table_choice(self, on: bool) -> None:
        # QFormLayout.setRowVisible is Qt 6 only: hide the field and its label
        self.table_choice.setVisible(on)
        self._table_label.setVisible(on)

    def _browse_root(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Image folder")
        if path:
            self.root_edit.setText(path)

    def open_from_fields(self) -> Any:
        """Open the table named in the form, in a worker thread."""
        path = self.path_edit.text().strip()
        if not path:
            notify("Choose a profile table first.", "warning")
            return None
        image_key = [
            c.strip() for c in self.image_key_edit.text().split(",") if c.strip()
        ]
        obj = self.object_edit.text().strip()
        center = [c.strip() for c in self.center_edit.text().split(",") if c.strip()]
        return self.open(
            path,
            image_root=self.root_edit.text().strip() or None,
            images=self.images_edit.text().strip() or None,
            image_key=image_key or None,
            object_column=obj or None,
            center=(center[0], center[1]) if len(center) == 2 else None,
            table=self.table_choice.currentData()
            if self.table_choice.count()
            else None,
        )

    def open(
        self,
        path: str | Path,
        image_root: str | Path | None = None,
        images: str | Path | None = None,
        image_key: list[str] | None = None,
        object_column: str | None = None,
        center: tuple[str, str] | None = None,
        table: str | None = None,
        load_data: str | Path | None = None,
    ) -> Any:
        """Open ``path`` in a worker; layers and the table appear when it is done.

        ``table``: which table of a warehouse root holds the profiles;
        ``load_data``: CellProfiler's LoadData file naming each field's images.

        ``image_key``, ``object_column`` and ``center`` override detected roles.
        """

        def load() -> tuple[ProfileTable, list[Any]]:
            links = {"images": images, "load_data": load_data}
            roles = {"image": image_key, "object": object_column, "center": center}
            pt = open_profiles(
                path,
                image_root,
                table=table,
                roles={k: v for k, v in roles.items() if v} or None,
                **{k: v for k, v in links.items() if v is not None},
            )
            layers = profile_layers(pt)
            give_back_memory()  # what reading every row's keys left behind
            return pt, layers

        worker = make_worker(
            load,
            receiver=self,
            done=self._opened,
            failed=lambda exc: notify(f"Could not open {path}: {exc}", "error"),
            finished=lambda: self.open_button.setEnabled(True),
            progress={"total": 0, "desc": "Opening profiles"},
        )
        self.open_button.setEnabled(False)
        self._worker = worker
        start(worker)
        return worker

    def _fit_headers(self) -> None:
        header = self.view.horizontalHeader()
        metrics = header.fontMetrics()
        for i in range(self.model.columnCount()):
            name = str(self.model.headerData(i, Qt.Orientation.Horizontal))
            header.resizeSection(i, min(420, metrics.horizontalAdvance(name) + 28))

    def _opened(self, result: tuple[ProfileTable, list[Any]]) -> None:
        pt, layers = result
        points = add_profile_layers(self.viewer, layers)
        self.attach(session_for(self.viewer, points, pt))
        first_field(self.viewer)
        explain_missing_images(self.viewer, pt, shown=[k for _, _, k in layers])
        give_back_memory()  # the panels have read what they show
        for problem in pt.problems[:5]:
            notify(problem, "warning")
        if len(pt.problems) > 5:
            notify(
                f"… and {len(pt.problems) - 5} more problems (see the Profiles panel)",
                "warning",
            )

    # ---- session
    def attach(self, session: CellSession | None) -> None:
        """Show ``session``'s table and follow its selection."""
        if session is None:
            return
        self.session = session
        pt = session.profiles
        self.path_edit.setText("" if pt.path is None else str(pt.path))
        self.image_key_edit.setText(", ".join(pt.keys.image))
        self.object_edit.setText(pt.keys.object or "")
        self.center_edit.setText(", ".join(pt.keys.center or ()))
        session.selection_changed.connect(self._session_selection)
        session.state_changed.connect(self._state_changed)
        self._fill_column_list(pt)
        self._columns_changed()
        self._update_status()
        self.open_box.collapse(animate=False)
        self.check_links()
        for layer in self.viewer.layers:
            meta = layer.metadata.get(NAMESPACE, {})
            if (
                meta.get("role") == "mask"
                and self._on_label_click not in layer.mouse_drag_callbacks
            ):
                layer.mouse_drag_callbacks.append(self._on_label_click)

    def _fill_column_list(self, pt: ProfileTable) -> None:
        shown = set(pt.keys.image) | {pt.keys.object}
        features = [
            n
            for n in pt.columns
            if not n.startswith(("Metadata_", "Image_")) and n not in pt.keys.columns()
        ]
        shown |= set(features[:MAX_DEFAULT_FEATURES])
        self.column_list.blockSignals(True)
        self.column_list.clear()
        for name in ordered_columns(pt.columns):
            if name in pt.keys.ome:
                continue
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(
                Qt.CheckState.Checked if name in shown else Qt.CheckState.Unchecked
            )
            self.column_list.addItem(item)
        self.column_list.blockSignals(False)

    def _filter_column_list(self, text: str) -> None:
        text = text.lower()
        for i in range(self.column_list.count()):
            item = self.column_list.item(i)
            item.setHidden(bool(text) and text not in item.text().lower())

    def shown_columns(self) -> list[str]:
        return [
            self.column_list.item(i).text()
            for i in range(self.column_list.count())
            if self.column_list.item(i).checkState() == Qt.CheckState.Checked
        ]

    def set_columns(self, names: list[str]) -> None:
        """Show exactly ``names`` (in table order)."""
        for i in range(self.column_list.count()):
            item = self.column_list.item(i)
            item.setCheckState(
                Qt.CheckState.Checked
                if item.text() in names
                else Qt.CheckState.Unchecked
            )

    def _columns_changed(self, *_: Any) -> None:
        if self.session is None:
            return
        # rows are read a row group at a time as they are drawn
        table = LazyTable(self.session.profiles, self.shown_columns())
        self.model.set_table(self._with_verdicts(table))
        self.model.set_visible(self.session.visible)
        self._state_changed()

    def _with_verdicts(self, table: LazyTable) -> LazyTable:
        """The verdicts by eye as the first column, once a cell was judged."""
        from ..core.profiles.marks import MANUAL_COLUMN

        assert self.session is not None
        self._verdict_version = self.session.verdict_version
        if not self.session.verdict_version and not self.session.judged:
            return table.with_extra({}, hide=[MANUAL_COLUMN])
        column = pa.array(list(self.session.verdicts), pa.string())
        return table.with_extra({MANUAL_COLUMN: column}, hide=[MANUAL_COLUMN])

    def _apply_search(self) -> None:
        if self.session is None:
            return
        mask = self.model.search(self.search.text()) & self.session.visible
        self.model.set_visible(mask)

    def _update_status(self, report: dict[str, Any] | None = None) -> None:
        if self.session is None:
            return
        pt = self.session.profiles
        fovs = len(pt.fields_of_view)
        placed = len(self.session.point_rows)
        fields = "field of view" if fovs == 1 else "fields of view"
        text = f"{pt.num_rows:,} cells · {fovs} {fields} · {placed:,} placed"
        if not pt.channel_names and not pt.mask_names:
            text += (
                "<br>this table names no images (no image or mask columns, no "
                "linked image table): cells are listed, not shown"
            )
        elif report:
            text += (
                f"<br>rows without image: {report['rows_without_image']} · "
                f"rows not in mask: {report['rows_not_in_mask']} · "
                f"labels without row: {report['labels_without_row']}"
            )
        elif pt.problems:
            text += f"<br>{len(pt.problems)} problem(s): {pt.problems[0]}"
        self.status.setText(text)

    def check_links(self) -> Any:
        """Count row/mask mismatches in a worker (reads each mask once)."""
        if self.session is None:
            return None
        pt = self.session.profiles
        n = len(pt.fields_of_view)
        worker = make_worker(
            pt.link_report,
            receiver=self,
            done=self._update_status,
            failed=lambda exc: notify(f"Link check failed: {exc}", "error"),
            progress={"total": 0, "desc": f"Checking {n} fields of view"},
        )
        self._link_worker = worker
        start(worker)
        return worker

    # ---- selection sync (guarded both ways)
    def _table_selection_changed(self, *_: Any) -> None:
        if self._syncing or self.session is None:
            return
        rows = sorted(
            {
                self.model.table_row(i.row())
                for i in self.view.selectionModel().selectedRows()
            }
        )
        self._syncing = True
        try:
            self.session.select_rows(rows)
        finally:
            self._syncing = False

    def _session_selection(self, rows: list[int]) -> None:
        if self._syncing:
            return
        self._syncing = True
        try:
            sel = QItemSelection()
            first = None
            for r in rows:
                v = self.model.view_row(r)
                if v is None:
                    continue
                first = v if first is None else first
                sel.select(
                    self.model.index(v, 0),
                    self.model.index(v, self.model.columnCount() - 1),
                )
            sm = self.view.selectionModel()
            sm.select(sel, QItemSelectionModel.SelectionFlag.ClearAndSelect)
            if first is not None:
                self.view.scrollTo(self.model.index(first, 0))
        finally:
            self._syncing = False

    def _state_changed(self) -> None:
        if self.session is None:
            return
        self.model.set_states(self.session.outlier_mask(), self.session.manual)
        if self.session.verdict_version != getattr(self, "_verdict_version", 0):
            self.model.set_table(self._with_verdicts(self.model.table))
        visible = self.session.visible
        if len(visible) == self.model.table.num_rows and not np.array_equal(
            visible, self.model.visible
        ):
            self.model.set_visible(visible)

    def _on_label_click(self, layer: Any, event: Any) -> None:
        if self.session is None or event.type != "mouse_press":
            return
        fov, y, x = (int(round(v)) for v in layer.world_to_data(event.position)[-3:])
        if not 0 <= fov < layer.data.shape[0]:
            return
        plane = np.asarray(layer.data[fov])
        if not (0 <= y < plane.shape[0] and 0 <= x < plane.shape[1]) or not plane[y, x]:
            return
        row = self.session.row_at(fov, int(plane[y, x]), plane)
        if row is not None:
            self.session.select_rows([row], move=False)

    def step(self, delta: int) -> None:
        if self.session is not None:
            self.session.step(delta)


def _row(*widgets: QWidget) -> QWidget:
    box = QWidget()
    lay = QHBoxLayout(box)
    lay.setContentsMargins(0, 0, 0, 0)
    for w in widgets:
        lay.addWidget(w)
    return box


def first_field(viewer: Any) -> None:
    """Show the first field of view (napari opens a stack at its middle)."""
    if viewer.dims.ndim >= 3:
        viewer.dims.set_current_step(0, 0)


def explain_missing_images(viewer: Any, pt: ProfileTable, shown: list[str]) -> None:
    """Say on the canvas itself why no image is shown (a table that names no
    images, links that were refused or point nowhere), not only in a line of
    this panel."""
    overlay = text_overlay_of(viewer)
    if "image" in shown or "labels" in shown:
        overlay.visible = False
        return
    if not pt.channel_names and not pt.mask_names:
        why = (
            "This table names no images (no image or mask columns, no linked "
            "image table): its cells are listed in the Profiles panel, placed "
            "by their centres. Give the images with --images / --image-table, "
            "or in the Profiles panel's image folder."
        )
    else:
        refused = [p for p in pt.problems if p.startswith("not followed: ")]
        first = refused[0] if refused else (pt.problems[0] if pt.problems else "")
        why = (
            f"No image of this table could be read ({len(pt.problems)} "
            f"problems; the first: {first}). "
            + (
                ""
                if refused
                else "Give the folder that holds the images: --images FOLDER, "
                "or the Profiles panel's image folder."
            )
        )
    import textwrap

    overlay.text = "\n".join(textwrap.wrap(why, 72))
    overlay.visible = True
    overlay.font_size = 12
    overlay.color = "#f0f1f2"
    overlay.position = "top_center"
