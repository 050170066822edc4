"""A virtualised Qt table model over Arrow columns.

Only the cells Qt asks for are formatted, and only the row groups holding
the rows drawn are read (:class:`LazyTable`); sorting and searching read the
whole columns they need, by pyarrow compute, and keep one ``order`` index
array (view row → table row), so a million-row table opens at once and stays
responsive. Rows are always identified by their table row, never by their
position in the view.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from qtpy.QtCore import QAbstractTableModel, QModelIndex, Qt
from qtpy.QtGui import QBrush, QColor

from ..core.errors import ArrowscopeError
from .profile_layers import MANUAL_COLOR, OUTLIER_COLOR


class LazyTable:
    """The columns a table view shows, read a stored row group at a time as
    rows are drawn; a whole column only when it is sorted or searched.

    ``source``: what holds the rows (a ProfileTable, or a
    :class:`pyarrow.Table`); ``extra``: columns in memory shown first (the
    verdicts by eye).
    """

    def __init__(
        self,
        source: Any,
        names: Sequence[str],
        extra: dict[str, pa.Array] | None = None,
        whole: dict[str, pa.ChunkedArray] | None = None,
    ) -> None:
        self.source = source
        self._extra = dict(extra or {})
        self._stored = [n for n in names if n not in self._extra]
        self.column_names = [*self._extra, *self._stored]
        self.num_rows = int(source.num_rows)
        self._whole: dict[str, pa.ChunkedArray] = dict(whole or {})
        self._page: tuple[int, pa.Table] | None = None

    @property
    def num_columns(self) -> int:
        return len(self.column_names)

    def with_extra(
        self, extra: dict[str, pa.Array], hide: Sequence[str] = ()
    ) -> LazyTable:
        """The same stored columns (and what was read of them) but ``hide``,
        with ``extra`` first."""
        stored = [n for n in self._stored if n not in hide]
        return LazyTable(self.source, stored, extra, self._whole)

    def column(self, key: int | str) -> pa.ChunkedArray:
        """A whole column (read once, for sorting and searching)."""
        name = self.column_names[key] if isinstance(key, int) else key
        if name in self._extra:
            return pa.chunked_array([self._extra[name]])
        if name not in self._whole:
            if isinstance(self.source, pa.Table):
                self._whole[name] = self.source.column(name)
            else:
                self._whole[name] = self.source.read([name]).column(0)
        return self._whole[name]

    @property
    def columns(self) -> list[pa.ChunkedArray]:
        return [self.column(i) for i in range(self.num_columns)]

    def value(self, column: int, row: int) -> Any:
        """One cell's value, from the page (row group) holding ``row``."""
        name = self.column_names[column]
        if name in self._extra:
            return self._extra[name][row].as_py()
        if name in self._whole:
            return self._whole[name][row].as_py()
        if isinstance(self.source, pa.Table):
            return self.source.column(name)[row].as_py()
        page = self._page
        if page is None or not 0 <= row - page[0] < page[1].num_rows:
            page = self._page = self.source.read_page(self._stored, row)
        return page[1].column(name)[row - page[0]].as_py()


class ArrowTableModel(QAbstractTableModel):
    """Rows of an Arrow table (a projection), in a sortable, filterable order."""

    def __init__(
        self, table: pa.Table | LazyTable | None = None, parent: Any = None
    ) -> None:
        super().__init__(parent)
        self._table: Any = table if table is not None else pa.table({})
        self._visible = np.ones(self._table.num_rows, bool)
        #: view row -> table row; None while every row shows in table order
        self._order: np.ndarray | None = None
        self._sort: tuple[str, str] | None = None
        self.outliers: np.ndarray | None = None
        self.manual: np.ndarray | None = None

    # ---- data
    def set_table(self, table: pa.Table | LazyTable) -> None:
        """Show ``table`` (same rows as before, or a new table)."""
        self.beginResetModel()
        if table.num_rows != self._table.num_rows:
            self._visible = np.ones(table.num_rows, bool)
        self._table = table
        self._reorder()
        self.endResetModel()

    @property
    def table(self) -> Any:
        """What is shown: a :class:`LazyTable` or a :class:`pyarrow.Table`."""
        return self._table

    @property
    def visible(self) -> np.ndarray:
        return self._visible

    def set_visible(self, mask: np.ndarray | None) -> None:
        """Show only table rows where ``mask`` is True."""
        self.beginResetModel()
        n = self._table.num_rows
        self._visible = np.ones(n, bool) if mask is None else np.asarray(mask, bool)
        self._reorder()
        self.endResetModel()

    def search(self, text: str) -> np.ndarray:
        """Rows where any shown column contains ``text`` (case-insensitive)."""
        hit = np.zeros(self._table.num_rows, bool)
        if not text:
            return ~hit
        for col in self._table.columns:
            as_text = col if pa.types.is_string(col.type) else pc.cast(col, pa.string())
            found = pc.match_substring(as_text, text, ignore_case=True)
            hit |= found.fill_null(False).to_numpy(zero_copy_only=False)
        return hit

    def _reorder(self) -> None:
        if not (self._sort and self._sort[0] in self._table.column_names):
            self._order = None if self._visible.all() else np.flatnonzero(self._visible)
            return
        name, direction = self._sort
        order = pc.array_sort_indices(
            self._table.column(name).combine_chunks(),
            order=direction,
            null_placement="at_end",
        ).to_numpy()
        self._order = order if self._visible.all() else order[self._visible[order]]

    # ---- row mapping
    def table_row(self, view_row: int) -> int:
        return int(view_row if self._order is None else self._order[view_row])

    def view_row(self, table_row: int) -> int | None:
        if self._order is None:
            return table_row if 0 <= table_row < self._table.num_rows else None
        hit = np.flatnonzero(self._order == table_row)
        return int(hit[0]) if hit.size else None

    # ---- Qt interface
    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        if parent.isValid():
            return 0
        order = self._order
        return self._table.num_rows if order is None else int(order.size)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else self._table.num_columns

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self.table_row(index.row())
        if role == Qt.ItemDataRole.DisplayRole:
            table = self._table
            try:
                if isinstance(table, LazyTable):
                    value = table.value(index.column(), row)
                else:
                    value = table.column(index.column())[row].as_py()
            except ArrowscopeError as exc:  # a page that cannot be read
                self._unreadable(exc)
                return "?"
            if value is None:
                return ""
            if isinstance(value, float):
                return f"{value:.6g}"
            return str(value)
        if role == Qt.ItemDataRole.BackgroundRole:
            if self.manual is not None and self.manual[row]:
                return QBrush(QColor(MANUAL_COLOR).darker(250))
            if self.outliers is not None and self.outliers[row]:
                return QBrush(QColor(OUTLIER_COLOR).darker(250))
        return None

    def _unreadable(self, exc: ArrowscopeError) -> None:
        """Say once (not for every cell drawn) that rows could not be read."""
        if not getattr(self, "_said", False):
            self._said = True
            from napari.utils.notifications import show_warning

            show_warning(f"Some rows could not be read (shown as ?): {exc}")

    def headerData(  # noqa: N802
        self,
        section: int,
        orientation: Qt.Orientation,
        role: int = Qt.ItemDataRole.DisplayRole,
    ) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return self._table.column_names[section]
        return str(self.table_row(section))

    def sort(
        self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder
    ) -> None:
        if not 0 <= column < self._table.num_columns:
            return
        name = self._table.column_names[column]
        direction = (
            "ascending" if order == Qt.SortOrder.AscendingOrder else "descending"
        )
        if self._sort == (name, direction):
            return  # Qt asks twice (header indicator and view)
        self.layoutAboutToBeChanged.emit()
        self._sort = (name, direction)
        self._reorder()
        self.layoutChanged.emit()

    def set_states(
        self, outliers: np.ndarray | None, manual: np.ndarray | None
    ) -> None:
        self.outliers, self.manual = outliers, manual
        if self.rowCount():
            self.dataChanged.emit(
                self.index(0, 0),
                self.index(self.rowCount() - 1, self.columnCount() - 1),
            )


def ordered_columns(names: Sequence[str]) -> list[str]:
    """Metadata columns first, then the rest, each in table order."""
    meta = [
        n for n in names if n.startswith("Metadata_") or n.startswith("Image_Metadata")
    ]
    return meta + [n for n in names if n not in meta]
