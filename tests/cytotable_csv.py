"""CytoTable 1.2.6's ``cellprofiler_csv`` conversion, run here as the
reference for CellProfiler CSV folders (tests and benchmarks).

Its reader installs DuckDB's sqlite extension even for CSV (offline that
fails) and calls DuckDB 1.x's ``fetch_arrow_table``; the connection below
gives it the same SQL engine without either. One of parsl's log calls is
malformed, so logging is off while it runs.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any


class _Connection:
    def __init__(self) -> None:
        import duckdb

        self.conn = duckdb.connect()

    def execute(self, *args: Any, **kwargs: Any) -> _Connection:
        self.conn.execute(*args, **kwargs)
        return self

    def fetch_arrow_table(self) -> Any:
        return self.conn.to_arrow_table()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)

    def __enter__(self) -> _Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.conn.close()


def cytotable_csv(source: str | Path, dest: str | Path) -> str:
    """Convert a CellProfiler CSV export folder with CytoTable; the Parquet path."""
    import cytotable
    import cytotable.utils
    from parsl.config import Config
    from parsl.executors import ThreadPoolExecutor

    original = cytotable.utils._duckdb_reader
    cytotable.utils._duckdb_reader = _Connection
    logging.disable(logging.CRITICAL)
    try:
        return str(
            cytotable.convert(
                source_path=str(source),
                source_datatype="csv",
                dest_path=str(dest),
                dest_datatype="parquet",
                preset="cellprofiler_csv",
                # parsl keeps its run logs beside the output, not in the
                # working directory (a checkout)
                parsl_config=Config(
                    executors=[ThreadPoolExecutor(max_threads=2)],
                    run_dir=str(Path(dest).parent / "parsl-runinfo"),
                ),
            )
        )
    finally:
        cytotable.utils._duckdb_reader = original
        logging.disable(logging.NOTSET)
