"""Row filters over profile tables: structured filters as data, or sandboxed SQL.

Structured filters are a list of ``(column, op, value)`` tuples, AND-ed —
the form ``pyarrow.parquet`` reads — turned into a ``pyarrow.compute``
expression. SQL is a WHERE clause evaluated by DuckDB in a connection with
file, network and extension access disabled and its configuration locked;
the text must parse as a single expression, so statements (``COPY``,
``ATTACH``, ``INSTALL``) cannot be smuggled in.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ArrowscopeError

OPS = ("==", "!=", "<", ">", "<=", ">=", "in", "not in")
Filter = tuple[str, str, Any]


class FilterError(ArrowscopeError):
    """A filter or SQL clause that cannot be used."""


def filters_to_expression(
    table_schema: pa.Schema, filters: Sequence[Filter]
) -> pc.Expression:
    """Validate ``filters`` against ``table_schema`` and build one expression."""
    if not filters:
        return pc.scalar(True)
    clean = []
    for i, item in enumerate(filters):
        if not isinstance(item, Sequence) or isinstance(item, str) or len(item) != 3:
            raise FilterError(
                f"filter {i + 1} is not (column, op, value): {item!r}",
                hint="e.g. ('Nuclei_AreaShape_Area', '>', 100)",
            )
        column, op, value = item
        if column not in table_schema.names:
            raise FilterError(f"filter {i + 1}: no such column", column=str(column))
        if op not in OPS:
            raise FilterError(
                f"filter {i + 1}: unknown operator {op!r}", hint=f"use one of {OPS}"
            )
        if op in ("in", "not in") and (
            isinstance(value, str) or not isinstance(value, Sequence)
        ):
            value = [value]
        clean.append((column, op, value))
    import pyarrow.parquet as pq

    try:
        expr = pq.filters_to_expression(clean)
    except (TypeError, ValueError, pa.ArrowInvalid) as exc:
        raise FilterError(f"cannot build the filter: {exc}") from exc
    # pyarrow's "not in" is true for nulls; every other operator is not
    for column, op, _ in clean:
        if op == "not in":
            expr = expr & pc.field(column).is_valid()
    return expr


#: Bounds of every SQL filter: wall time (seconds) and DuckDB's memory.
SQL_TIMEOUT_S = 10.0
SQL_MEMORY_LIMIT = "1GB"
_ROW = "__arrowscope_row"


def _connect(memory_limit: str) -> Any:
    import duckdb

    con = duckdb.connect(
        config={
            "enable_external_access": False,
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "allow_community_extensions": False,
            "threads": 2,
        }
    )
    try:
        con.execute(f"SET memory_limit = '{_memory_text(memory_limit)}'")
    except duckdb.Error as exc:
        con.close()
        raise FilterError(
            f"invalid SQL memory limit {memory_limit!r}", hint="e.g. '512MB', '2GB'"
        ) from exc
    con.execute("SET lock_configuration = true")
    return con


def _memory_text(value: str) -> str:
    text = str(value).strip()
    if not text or not all(ch.isalnum() or ch in ". " for ch in text):
        raise FilterError(
            f"invalid SQL memory limit {value!r}", hint="e.g. '512MB', '2GB'"
        )
    return text


def nan_to_null(table: pa.Table, columns: Sequence[str] | None = None) -> pa.Table:
    """Floating-point NaN as null, so every filter treats it as a missing value.

    Arrow compares NaN as unequal to everything and DuckDB sorts it above
    every number; as null it fails every comparison in both, as a missing
    measurement should.
    """
    for name in columns if columns is not None else table.column_names:
        col = table.column(name)
        if pa.types.is_floating(col.type) and col.length():
            nan = pc.is_nan(col)
            if pc.any(nan).as_py():
                fixed = pc.if_else(nan, pa.scalar(None, col.type), col)
                table = table.set_column(
                    table.schema.get_field_index(name), name, fixed
                )
    return table


class SqlCancelled(FilterError):
    """The SQL filter was cancelled or ran out of time."""


def sql_mask(
    table: pa.Table,
    sql: str,
    *,
    timeout: float | None = None,
    memory_limit: str | None = None,
    cancel: threading.Event | None = None,
) -> np.ndarray:
    """Rows of ``table`` for which the WHERE clause ``sql`` is true.

    The clause must be one boolean expression per row (aggregates, window
    functions and ``unnest`` are refused, as a WHERE clause refuses them);
    null and NaN never pass. Every query is bounded: ``timeout`` seconds
    (default :data:`SQL_TIMEOUT_S`) and ``memory_limit`` (default
    :data:`SQL_MEMORY_LIMIT`); setting ``cancel`` stops it. A stopped query
    raises :class:`SqlCancelled`.
    """
    import duckdb

    text = sql.strip()
    if text.lower().startswith("where "):
        text = text[6:]
    if not text:
        return np.ones(table.num_rows, bool)
    limit = SQL_TIMEOUT_S if timeout is None else float(timeout)
    con = _connect(memory_limit or SQL_MEMORY_LIMIT)
    stop = threading.Event()
    why: list[str] = []

    def watchdog() -> None:
        # Waits in small steps so that a cancel is seen at once.
        deadline = time.monotonic() + limit
        while not stop.is_set():
            if cancel is not None and cancel.is_set():
                why.append("cancelled")
                break
            if time.monotonic() >= deadline:
                why.append(f"stopped after {limit:g} s (the SQL time limit)")
                break
            stop.wait(0.02)
        else:
            return
        con.interrupt()

    guard = threading.Thread(target=watchdog, name="arrowscope-sql", daemon=True)
    try:
        rows = nan_to_null(table).append_column(
            _ROW, pa.array(np.arange(table.num_rows, dtype=np.int64))
        )
        rel = con.from_arrow(rows)
        expr = duckdb.SQLExpression(text)
        kind = rel.project(expr).types[0]
        if str(kind) != "BOOLEAN":
            raise FilterError(
                f"SQL clause gives {kind}, not true/false (one per row)",
                hint="e.g. Nuclei_AreaShape_Area > 100",
            )
        guard.start()
        got = rel.filter(expr).project(_ROW).to_arrow_table()
    except FilterError:
        raise
    except duckdb.InterruptException as exc:
        raise SqlCancelled(
            f"SQL {why[0] if why else 'interrupted'}: {text[:80]}",
            hint="simplify the clause or raise the time limit",
        ) from exc
    except duckdb.OutOfMemoryException as exc:
        raise FilterError(
            f"SQL ran out of its memory limit: {_first_line(exc)}",
            hint="simplify the clause or raise the memory limit",
        ) from exc
    except (duckdb.PermissionException, duckdb.ParserException) as exc:
        raise FilterError(
            f"SQL refused: {_first_line(exc)}",
            hint="write a WHERE condition over the table's columns; "
            "file, network and extension access are disabled",
        ) from exc
    except duckdb.BinderException as exc:
        message = _first_line(exc)
        if not any(w in message.lower() for w in ("aggregate", "window", "unnest")):
            raise FilterError(f"SQL error: {message}") from exc
        raise FilterError(
            f"SQL refused: {message}",
            hint="the clause must give one true/false per row: no aggregates, "
            "window functions or unnest",
        ) from exc
    except (duckdb.Error, ValueError, TypeError, RuntimeError) as exc:
        raise FilterError(f"SQL error: {_first_line(exc)}") from exc
    finally:
        stop.set()
        if guard.is_alive():
            guard.join()
        con.close()
    mask = np.zeros(table.num_rows, bool)
    mask[got.column(_ROW).to_numpy(zero_copy_only=False)] = True
    return mask


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]


def filter_rows(
    table: pa.Table,
    filters: Sequence[Filter] | None = None,
    sql: str | None = None,
    **sql_options: Any,
) -> np.ndarray:
    """A boolean mask of the rows that pass ``filters`` AND ``sql``.

    Parameters
    ----------
    table
        The profile table (only the referenced columns are needed).
    filters
        ``(column, op, value)`` tuples, AND-ed; ``op`` is one of :data:`OPS`.
    sql
        A DuckDB WHERE clause, e.g. ``"Nuclei_AreaShape_Area > 100 AND
        Metadata_Well = 'B02'"``. File, network and extension access are refused.
    **sql_options
        ``timeout``, ``memory_limit`` and ``cancel`` for :func:`sql_mask`.

    Returns
    -------
    numpy.ndarray
        ``bool`` of length ``table.num_rows``; a filter that meets a null or a
        NaN is False, in structured filters and SQL alike.
    """
    mask = np.ones(table.num_rows, bool)
    if filters:
        import pyarrow.dataset as ds  # imports pandas: only when filtering

        expr = filters_to_expression(table.schema, filters)
        used = [f[0] for f in filters]
        try:
            got = ds.dataset(nan_to_null(table, used)).to_table(columns={"keep": expr})
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
            raise FilterError(f"cannot apply the filter: {exc}") from exc
        mask &= got.column("keep").fill_null(False).to_numpy(zero_copy_only=False)
    if sql:
        mask &= sql_mask(table, sql, **sql_options)
    return mask


def referenced_columns(
    schema: pa.Schema, filters: Sequence[Filter] | None, sql: str | None
) -> list[str]:
    """Columns ``filters``/``sql`` may read (SQL: any column name appearing in it)."""
    cols = [f[0] for f in filters or [] if f and f[0] in schema.names]
    if sql:
        low = sql.lower()
        cols += [n for n in schema.names if n.lower() in low]
    return list(dict.fromkeys(cols))
