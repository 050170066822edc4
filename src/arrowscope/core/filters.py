"""Row filters over profile tables: structured filters as data, or sandboxed SQL.

Structured filters are a list of ``(column, op, value)`` tuples, AND-ed —
the form ``pyarrow.parquet`` reads — turned into a ``pyarrow.compute``
expression. SQL is a WHERE clause evaluated by DuckDB in a connection with
file, network and extension access disabled and its configuration locked;
the text must parse as a single expression, so statements (``COPY``,
``ATTACH``, ``INSTALL``) cannot be smuggled in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .errors import ArrowscopeError

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


def _connect() -> Any:
    import duckdb

    con = duckdb.connect(
        config={
            "enable_external_access": False,
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "allow_community_extensions": False,
        }
    )
    con.execute("SET lock_configuration = true")
    return con


def sql_mask(table: pa.Table, sql: str) -> np.ndarray:
    """Rows of ``table`` for which the WHERE clause ``sql`` is true (null → False)."""
    import duckdb

    text = sql.strip()
    if text.lower().startswith("where "):
        text = text[6:]
    if not text:
        return np.ones(table.num_rows, bool)
    con = _connect()
    try:
        rel = con.from_arrow(table)
        expr = duckdb.CoalesceOperator(
            duckdb.SQLExpression(text), duckdb.ConstantExpression(False)
        )
        got = rel.project(expr.alias("keep")).to_arrow_table()
    except (duckdb.PermissionException, duckdb.ParserException) as exc:
        raise FilterError(
            f"SQL refused: {_first_line(exc)}",
            hint="write a WHERE condition over the table's columns; "
            "file, network and extension access are disabled",
        ) from exc
    except duckdb.Error as exc:
        raise FilterError(f"SQL error: {_first_line(exc)}") from exc
    finally:
        con.close()
    keep = got.column("keep")
    if not pa.types.is_boolean(keep.type):
        raise FilterError(
            f"SQL clause gives {keep.type}, not true/false",
            hint="e.g. Nuclei_AreaShape_Area > 100",
        )
    return keep.to_numpy(zero_copy_only=False).astype(bool)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]


def filter_rows(
    table: pa.Table,
    filters: Sequence[Filter] | None = None,
    sql: str | None = None,
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

    Returns
    -------
    numpy.ndarray
        ``bool`` of length ``table.num_rows``; a filter that meets a null is False.
    """
    mask = np.ones(table.num_rows, bool)
    if filters:
        import pyarrow.dataset as ds  # imports pandas: only when filtering

        expr = filters_to_expression(table.schema, filters)
        try:
            got = ds.dataset(table).to_table(columns={"keep": expr})
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
            raise FilterError(f"cannot apply the filter: {exc}") from exc
        mask &= got.column("keep").fill_null(False).to_numpy(zero_copy_only=False)
    if sql:
        mask &= sql_mask(table, sql)
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
