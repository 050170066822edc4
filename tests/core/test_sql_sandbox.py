"""The SQL sandbox, tested by what it stops.

Each attempt is first shown to work on a plain DuckDB connection (so the test
would fail if the sandbox were off), then shown refused by arrowscope, with
nothing read or written. Two layers are tested apart: a clause is parsed as
one expression (no statement can be smuggled in), and the connection itself
refuses file access, configuration changes and extensions even to a
statement that reached it.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from arrowscope.core.profiles import filters
from arrowscope.core.profiles.filters import (
    SQL_MEMORY_LIMIT,
    SQL_TIMEOUT_S,
    FilterError,
    sql_mask,
)

SECRET = "top-secret-canary"


@pytest.fixture
def table():
    return pa.table({"area": [50.0, 150.0, 250.0], "n": [1, 2, 3]})


@pytest.fixture
def secret(tmp_path, monkeypatch):
    """A file a hostile clause would try to read, in the working directory."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "secret.csv"
    path.write_text(f"word\n{SECRET}\n")
    return path


def _plain(table):
    con = duckdb.connect()
    con.register("t", table)
    return con


# -- clauses that read files -----------------------------------------------------
READS = [
    "(SELECT count(*) FROM read_csv('{p}')) > 0",
    "(SELECT count(*) FROM read_text('{p}') WHERE content LIKE '%canary%') > 0",
    "(SELECT count(*) FROM glob('{d}/*.csv')) > 0",
    "area > 0 AND (SELECT min(word) FROM read_csv('{p}')) = '" + SECRET + "'",
]


@pytest.mark.parametrize("clause", READS)
def test_a_clause_that_reads_a_file_is_refused(table, secret, clause):
    sql = clause.format(p=secret, d=secret.parent)
    # without the sandbox it reads the file (every row passes)
    plain = _plain(table).execute(f"SELECT count(*) FROM t WHERE {sql}").fetchone()
    assert plain == (3,)
    with pytest.raises(FilterError) as err:
        sql_mask(table, sql)
    assert "SQL refused" in str(err.value)
    assert "file, network and extension access are disabled" in str(err.value)
    assert SECRET not in str(err.value)


# -- statements, which a clause cannot carry, refused again by the connection ---
def test_a_statement_cannot_be_smuggled_into_a_clause(table, secret):
    out = secret.parent / "x.csv"
    # plain DuckDB runs the second statement of such a string
    con = _plain(table)
    con.execute(f"SELECT * FROM t WHERE n > 1; COPY (SELECT 1) TO '{out}'")
    assert out.exists()
    out.unlink()
    for clause in (
        f"n > 1; COPY (SELECT 1) TO '{out}'",
        "n > 1) ; COPY (SELECT 1) TO 'x.csv'; SELECT (1",
        f"n > 1; ATTACH '{secret.parent / 'x.db'}' AS x",
        "n > 1; INSTALL httpfs",
    ):
        with pytest.raises(FilterError, match="SQL refused"):
            sql_mask(table, clause)
    assert not out.exists() and not (secret.parent / "x.db").exists()


@pytest.mark.parametrize(
    "statement",
    [
        "COPY (SELECT 42) TO '{d}/copied.csv'",
        "COPY (SELECT 42) TO 'relative.csv'",
        "ATTACH '{d}/attached.db' AS other",
        "SET lock_configuration = false",
        "SET threads = 64",
        "SET memory_limit = '100GB'",
        "LOAD httpfs",
        "INSTALL httpfs",
    ],
)
def test_the_connection_refuses_what_a_statement_would_do(secret, statement):
    d = secret.parent
    sql = statement.format(d=d)
    before = sorted(p.name for p in d.iterdir())
    plain = duckdb.connect()
    if not statement.startswith(("LOAD", "INSTALL")):
        plain.execute(sql)  # works without the sandbox
        for name in ("copied.csv", "relative.csv", "attached.db"):
            (d / name).unlink(missing_ok=True)
    plain.close()
    con = filters._connect(SQL_MEMORY_LIMIT)
    with pytest.raises(duckdb.Error) as err:
        con.execute(sql)
    # refused for the reason the sandbox gives, not a syntax error
    assert isinstance(
        err.value,
        duckdb.PermissionException | duckdb.InvalidInputException | duckdb.IOException,
    ), err.value
    assert sorted(p.name for p in d.iterdir()) == before  # nothing written
    # and the settings are still the sandbox's
    settings = dict(
        con.execute(
            "SELECT name, value FROM duckdb_settings() WHERE name IN "
            "('enable_external_access', 'lock_configuration')"
        ).fetchall()
    )
    assert settings == {"enable_external_access": "false", "lock_configuration": "true"}


def test_extensions_are_neither_loaded_nor_installed_on_demand(table):
    con = filters._connect(SQL_MEMORY_LIMIT)
    settings = dict(
        con.execute(
            "SELECT name, value FROM duckdb_settings() WHERE name IN "
            "('autoinstall_known_extensions', 'autoload_known_extensions', "
            "'allow_community_extensions', 'enable_external_access')"
        ).fetchall()
    )
    assert set(settings.values()) == {"false"} and len(settings) == 4
    # even listing the extension folder is a file access, and refused
    with pytest.raises(duckdb.PermissionException):
        con.execute("SELECT * FROM duckdb_extensions()").fetchall()
    # a URL in a clause would autoload httpfs on a default connection
    with pytest.raises(FilterError, match="SQL refused|SQL error"):
        sql_mask(
            table, "(SELECT count(*) FROM read_csv('http://127.0.0.1:9/a.csv')) > 0"
        )


# -- the promised defaults -----------------------------------------------------
def test_the_default_memory_limit_is_one_gigabyte():
    assert SQL_MEMORY_LIMIT == "1GB"
    con = filters._connect(SQL_MEMORY_LIMIT)
    ((limit,),) = con.execute("SELECT current_setting('memory_limit')").fetchall()
    assert limit in ("953.6 MiB", "1.0 GiB", "1000.0 MiB"), limit


def test_a_runaway_clause_stops_at_the_default_time_limit(table):
    assert SQL_TIMEOUT_S == 10.0
    with pytest.raises(FilterError) as err:
        sql_mask(table, "area > (SELECT count(*) FROM range(1000000000000))")
    assert "stopped after 10 s (the SQL time limit)" in str(err.value)


def test_a_clean_clause_still_works_in_the_sandbox(table):
    np.testing.assert_array_equal(sql_mask(table, "area > 100"), [False, True, True])
