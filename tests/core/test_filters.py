"""Structured filters and the sandboxed SQL box."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from arrowscope.core.profiles.filters import FilterError, filter_rows


@pytest.fixture
def table() -> pa.Table:
    return pa.table(
        {
            "Metadata_Well": ["A01", "A02", "B01", "B02", None],
            "Nuclei_AreaShape_Area": [100.0, 250.0, None, 400.0, 50.0],
            "n": [1, 2, 3, 4, 5],
        }
    )


def test_structured_filters_and_nulls(table):
    mask = filter_rows(table, [("Nuclei_AreaShape_Area", ">", 90)])
    assert mask.tolist() == [True, True, False, True, False]
    mask = filter_rows(
        table,
        [("Nuclei_AreaShape_Area", ">", 90), ("Metadata_Well", "in", ["A02", "B02"])],
    )
    assert mask.tolist() == [False, True, False, True, False]
    assert filter_rows(table, [("Metadata_Well", "not in", "A01")]).tolist() == [
        False,
        True,
        True,
        True,
        False,
    ]
    assert filter_rows(table).all()


def test_sql_where_clause(table):
    mask = filter_rows(
        table,
        sql="Nuclei_AreaShape_Area BETWEEN 90 AND 300 AND Metadata_Well LIKE 'A%'",
    )
    assert mask.tolist() == [True, True, False, False, False]
    both = filter_rows(table, [("n", ">=", 2)], sql="WHERE n < 5")
    assert both.tolist() == [False, True, True, True, False]


def test_bad_filters_are_named(table):
    with pytest.raises(FilterError) as err:
        filter_rows(table, [("Nope", ">", 1)])
    assert err.value.column == "Nope"
    with pytest.raises(FilterError, match="operator"):
        filter_rows(table, [("n", "~", 1)])
    with pytest.raises(FilterError, match="SQL error"):
        filter_rows(table, sql="no_such_column > 1")
    with pytest.raises(FilterError, match="not true/false"):
        filter_rows(table, sql="n + 1")


def test_structured_and_sql_filters_combine_on_a_million_rows():
    n = 1_000_000
    t = pa.table({"a": np.arange(n, dtype=np.float64), "b": np.arange(n) % 7})
    mask = filter_rows(t, [("a", "<", 10)], sql="b = 3")
    assert mask.sum() == 1 and mask[3]
