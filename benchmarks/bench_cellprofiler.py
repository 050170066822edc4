"""Open CellProfiler's own outputs as profile tables: time and memory to a
ready table (keys read, fields of view built), the first rows, and a full
conversion to Parquet; beside CytoTable 1.2.6 converting the same CSV folder
(its SQLite path needs a DuckDB extension that cannot be installed offline)
and pandas reading the SQLite tables whole (what scripts do today). Each
measurement runs in a fresh child process.

    python benchmarks/bench_cellprofiler.py [--gib 2.0]

The shared ../shared/data outputs are used where present; a synthetic
CellProfiler SQLite plate of about ``--gib`` GiB is always written.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _util import PeakRSS, emit, run_child  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def synthetic(path: Path, gib: float) -> Path:
    """A one-table-per-object plate of about ``gib`` GiB (300 features per
    compartment, 500 cells per image)."""
    from arrowscope.core.profiles.synthetic import write_cellprofiler_sqlite

    per_image = 3 * 500 * (300 + 12) * 8 * 1.15  # bytes, with SQLite's overhead
    images = max(1, int(gib * 2**30 / per_image))
    return write_cellprofiler_sqlite(path, images=images, cells=500, features=300)


def child(which: str, location: str, out: str) -> None:
    result: dict[str, Any] = {}
    with PeakRSS() as peak:
        t0 = time.perf_counter()
        if which == "arrowscope open":
            import arrowscope

            pt = arrowscope.open_profiles(location)
            result["rows"] = pt.num_rows
            result["columns"] = len(pt.columns)
            result["fields"] = len(pt.fields_of_view)
            result["open_s"] = round(time.perf_counter() - t0, 3)
            t1 = time.perf_counter()
            pt._file.source.store.read_group(0, None)
            result["first_group_s"] = round(time.perf_counter() - t1, 3)
        elif which == "arrowscope convert":
            from arrowscope.core.profiles.cellprofiler import (
                open_output,
                write_profile_table,
            )

            output = open_output(Path(location))
            assert output is not None
            write_profile_table(output, Path(out))
            result["convert_s"] = round(time.perf_counter() - t0, 2)
        elif which == "cytotable convert":
            result.update(_cytotable(location, out))
            result["convert_s"] = round(time.perf_counter() - t0, 2)
        else:  # pandas reads every table of the database whole
            import sqlite3

            import pandas as pd

            with sqlite3.connect(location) as conn:
                names = [
                    r[0]
                    for r in conn.execute(
                        "SELECT name FROM sqlite_master WHERE type = 'table' "
                        "AND name LIKE 'Per_%'"
                    )
                ]
                frames = {n: pd.read_sql(f'SELECT * FROM "{n}"', conn) for n in names}
            result["rows"] = {n: len(f) for n, f in frames.items()}
            result["read_s"] = round(time.perf_counter() - t0, 2)
    result["peak_mib"] = round(peak.mib, 1)
    print(json.dumps(result))


def _cytotable(source: str, out: str) -> dict[str, Any]:
    """CytoTable 1.2.6's cellprofiler_csv conversion (the tests' runner)."""
    import pyarrow.parquet as pq

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.cytotable_csv import cytotable_csv

    meta = pq.read_metadata(cytotable_csv(source, out))
    return {"rows": meta.num_rows, "columns": meta.num_columns}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gib", type=float, default=2.0)
    parser.add_argument("--child", nargs=3)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(dir=Path.home()) as tmp:
        folder = Path(tmp)

        def run(which: str, location: Path, out: str = "-") -> dict[str, Any]:
            return run_child(__file__, [which, str(location), out], timeout_s=3600)

        nf1 = SHARED / "cellprofiler_sqlite_nf1" / "all_cellprofiler.sqlite"
        if nf1.exists():
            figures["nf1 SQLite (shared, 4 MB)"] = {
                "arrowscope open": run("arrowscope open", nf1),
                "pandas read_sql of every table": run("pandas", nf1),
            }
        csv = SHARED / "cellprofiler_csv_examplehuman"
        if csv.exists():
            copy = folder / "examplehuman"
            shutil.copytree(csv, copy)
            figures["ExampleHuman CSV folder (shared)"] = {
                "arrowscope open": run("arrowscope open", copy),
                "arrowscope convert": run(
                    "arrowscope convert", copy, str(folder / "a.parquet")
                ),
                "cytotable convert": run(
                    "cytotable convert", copy, str(folder / "c.parquet")
                ),
            }
        t0 = time.perf_counter()
        db = synthetic(folder / "plate.sqlite", args.gib)
        name = f"synthetic SQLite plate ({db.stat().st_size / 2**30:.2f} GiB)"
        figures[name] = {
            "write_s": round(time.perf_counter() - t0, 1),
            "arrowscope open": run("arrowscope open", db),
            "arrowscope convert": run(
                "arrowscope convert", db, str(folder / "plate.parquet")
            ),
            "pandas read_sql of every table": run("pandas", db),
        }
    emit(figures)


if __name__ == "__main__":
    main()
