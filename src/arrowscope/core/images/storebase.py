"""The interface every store offers the layers above (see
:mod:`~arrowscope.core.images.stores` for the stores and how one is chosen)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa


def decoded_row_bytes(schema: pa.Schema, columns: Sequence[str]) -> int:
    """Bytes a row of ``columns`` takes in memory: fixed-width types exactly,
    others (text, lists, images) as :data:`VARIABLE_BYTES` a value."""
    total = 0
    for name in columns:
        index = schema.get_field_index(name)
        if index < 0:  # a nested leaf path
            total += VARIABLE_BYTES
            continue
        dtype = schema.field(index).type
        try:
            total += max(1, dtype.bit_width // 8)
        except ValueError:  # not fixed-width
            total += VARIABLE_BYTES
    return max(total, 1)


#: a guess at a variable-width value's bytes (a plate or well name, a path)
VARIABLE_BYTES = 32


def holds_images(schema: pa.Schema) -> bool:
    """Whether a table has a column of images or blobs (nested or binary)."""
    return any(
        pa.types.is_nested(f.type)
        or pa.types.is_binary(f.type)
        or pa.types.is_large_binary(f.type)
        or pa.types.is_binary_view(f.type)
        for f in schema
    )


class Store:
    """What every format offers the layers above (see the module docstring)."""

    format = "?"
    #: Whether :meth:`read_group` takes Parquet leaf paths (``col.f.list.element.x``)
    #: and reads only those leaves; other stores read whole top-level columns.
    nested_projection = False

    def __init__(self, location: str) -> None:
        self.location = location
        self.schema: pa.Schema = pa.schema([])
        self.group_rows: list[int] = [0]
        self.token: tuple[Any, ...] = (location,)
        self._lock = threading.Lock()
        self._handle: Any = None

    def handle(self) -> Any:
        """The open file or dataset: opened on first use, again after pickling
        (stores that hold their rows in memory have none)."""
        if self._handle is None:
            self._handle = self._open()
        return self._handle

    def _open(self) -> Any:
        raise NotImplementedError

    def read_group(self, group: int, columns: Sequence[str] | None) -> pa.Table:
        raise NotImplementedError

    def read(self, columns: Sequence[str]) -> pa.Table:
        """Some columns of every row."""
        parts = [self.read_group(g, columns) for g in range(len(self.group_rows))]
        return pa.concat_tables(parts) if parts else self.schema.empty_table()

    def spans(self, columns: Sequence[str], budget: int) -> list[range]:
        """Runs of consecutive groups to read together (:meth:`read_span`),
        each about ``budget`` bytes of ``columns`` once decoded, a group
        never split: a table read a span at a time keeps memory near
        ``budget`` however its groups were written, and reads each of its
        stored pages once. Here: small groups together."""
        row_bytes = decoded_row_bytes(self.schema, columns)
        out: list[range] = []
        start, held = 0, 0
        for g, rows in enumerate(self.group_rows):
            size = rows * row_bytes
            if g > start and held + size > budget:
                out.append(range(start, g))
                start, held = g, 0
            held += size
        out.append(range(start, len(self.group_rows)))
        return out

    def read_span(self, span: range, columns: Sequence[str] | None) -> pa.Table:
        """``columns`` of the rows of consecutive groups ``span``."""
        parts = [self.read_group(g, columns) for g in span]
        return parts[0] if len(parts) == 1 else pa.concat_tables(parts)

    def take(self, rows: np.ndarray, columns: Sequence[str]) -> pa.Table:
        """``columns`` of table rows ``rows`` (ascending), in that order:
        only the groups holding them are read."""
        parts = [
            self.read_group(g, columns).take(pa.array(mine - first))
            for g, mine, first in split_rows(rows, self.group_rows)
        ]
        return self._joined(parts, columns)

    def _joined(self, parts: list[pa.Table], columns: Sequence[str]) -> pa.Table:
        """The parts of a take, as one table (no part: no row)."""
        if not parts:
            return pa.schema([self.schema.field(c) for c in columns]).empty_table()
        return parts[0] if len(parts) == 1 else pa.concat_tables(parts)

    def leaves(self) -> list[str] | None:
        """Parquet leaf column paths (None for other formats)."""
        return None

    def leaf_value_counts(self, leaf: int) -> list[int] | None:
        """Per group, the value count of one leaf column, from the footer."""
        return None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_lock"] = None
        state["_handle"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()


def split_rows(
    rows: np.ndarray, sizes: Sequence[int]
) -> Iterator[tuple[int, np.ndarray, int]]:
    """Table rows ``rows`` (ascending) by the part holding them, parts being
    ``sizes`` rows long: ``(part, its rows, the part's first row)``."""
    rows = np.asarray(rows, np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    where = np.searchsorted(starts, rows, side="right") - 1
    for part in np.unique(where).tolist():
        yield part, rows[where == part], int(starts[part])
