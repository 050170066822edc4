"""A virtualised Qt table model over Arrow columns.

Only the cells Qt asks for are formatted; sorting and row filtering are done
by pyarrow compute on whole columns and kept as one ``order`` index array
(view row → table row), so a million-row table stays responsive. Rows are
always identified by their table row, never by their position in the view.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from qtpy.QtCore import QAbstractTableModel, QModelIndex, Qt
from qtpy.QtGui import QBrush, QColor

from .profile_layers import MANUAL_COLOR, OUTLIER_COLOR


class ArrowTableModel(QAbstractTableModel):
    """Rows of an Arrow table (a projection), in a sortable, filterable order."""

    def __init__(self, table: pa.Table | None = None, parent: Any = None) -> None:
        super().__init__(parent)
        self._table = table if table is not None else pa.table({})
        self._visible = np.ones(self._table.num_rows, bool)
        self._order = np.arange(self._table.num_rows)
        self._sort: tuple[str, str] | None = None
        self.outliers: np.ndarray | None = None
        self.manual: np.ndarray | None = None

    # ---- data
    def set_table(self, table: pa.Table) -> None:
        """Show ``table`` (same rows as before, or a new table)."""
        self.beginResetModel()
        if table.num_rows != self._table.num_rows:
            self._visible = np.ones(table.num_rows, bool)
        self._table = table
        self._reorder()
        self.endResetModel()

    @property
    def table(self) -> pa.Table:
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
        order = np.arange(self._table.num_rows)
        if self._sort and self._sort[0] in self._table.column_names:
            name, direction = self._sort
            order = pc.array_sort_indices(
                self._table.column(name).combine_chunks(),
                order=direction,
                null_placement="at_end",
            ).to_numpy()
        self._order = order[self._visible[order]]

    # ---- row mapping
    def table_row(self, view_row: int) -> int:
        return int(self._order[view_row])

    def view_row(self, table_row: int) -> int | None:
        hit = np.flatnonzero(self._order == table_row)
        return int(hit[0]) if hit.size else None

    # ---- Qt interface
    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else int(self._order.size)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else self._table.num_columns

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self.table_row(index.row())
        if role == Qt.ItemDataRole.DisplayRole:
            value = self._table.column(index.column())[row].as_py()
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
