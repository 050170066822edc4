"""Every SQL filter is bounded, cancellable and gives one true/false per row."""

from __future__ import annotations

import math
import threading

import numpy as np
import pyarrow as pa
import pytest

from arrowscope.core.profiles.filters import (
    FilterError,
    SqlCancelled,
    filter_rows,
    sql_mask,
)


@pytest.fixture
def table():
    return pa.table(
        {
            "area": [100.0, math.nan, 400.0, None, 50.0],
            "well": ["A01", "A02", "B01", "B02", "B03"],
        }
    )


@pytest.mark.parametrize(
    "sql",
    [
        "area > (SELECT count(*) FROM range(1000000000000))",
        "area > (SELECT max(a.range * b.range) FROM range(100000000) a, "
        "range(100000000) b)",
        "area > (WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) "
        "SELECT max(n) FROM r)",
    ],
)
def test_runaway_queries_stop_at_the_limits(table, sql):
    # the query is stopped, and the error says which limit stopped it
    with pytest.raises(FilterError, match="time limit|memory limit"):
        sql_mask(table, sql, timeout=1.0, memory_limit="256MB")


def test_cancel_stops_a_running_query(table):
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    with pytest.raises(SqlCancelled, match="cancelled"):
        sql_mask(
            table,
            "area > (SELECT count(*) FROM range(1000000000000))",
            timeout=600,
            cancel=cancel,
        )


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("count(*) > 0", "aggregates"),
        ("sum(area) OVER () > 0", "window"),
        ("unnest([1, 2]) > 0", "UNNEST"),
        ("pg_sleep(1)", 'gives "NULL"'),
        ("area", "gives DOUBLE"),
        ("1=1; COPY (SELECT 1) TO 'x.csv'", "refused"),
    ],
)
def test_not_one_boolean_per_row_is_refused(table, sql, message):
    with pytest.raises(FilterError, match=message):
        sql_mask(table, sql)


def test_sql_and_structured_filters_agree_on_nan_and_null(table):
    for op, sql in [(">", "area > 60"), ("!=", "area != 100"), ("<", "area < 500")]:
        value = {"area > 60": 60, "area != 100": 100, "area < 500": 500}[sql]
        structured = filter_rows(table, [("area", op, value)])
        np.testing.assert_array_equal(structured, sql_mask(table, sql))
        assert not structured[1] and not structured[3]  # NaN and null never pass


def test_bad_memory_limit_is_named(table):
    with pytest.raises(FilterError, match="memory limit"):
        sql_mask(table, "area > 1", memory_limit="1GB'; SET x='1")
