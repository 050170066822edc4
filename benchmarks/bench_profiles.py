"""Opening a big profile table: arrowscope's Profiles widget vs pandas + napari's
Features table.

Run: python benchmarks/bench_profiles.py [--rows 500000 --features 500]
(under a display or Xvfb; prints JSON). A synthetic CytoTable-style Parquet file
(row groups of 50,000). Each tool runs in a fresh subprocess, so peak RSS is its own:

- arrowscope: ``open_profiles`` (footer + key columns), cells Points layer, the
  Profiles widget showing the key columns and four features;
- baseline: what a user does today — ``pandas.read_parquet`` of the table, a Points
  layer with the DataFrame as ``features``, napari's Features table widget.

Then, for arrowscope, interactive latencies: sort by a feature, scroll to the
middle, select a row (moves the viewer), select a point (selects the row).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _util import PeakRSS, emit, run_child  # noqa: E402

CHILD_TIMEOUT_S = 900


def make_table(path: Path, rows: int, features: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    group = 50_000
    writer = None
    for start in range(0, rows, group):
        n = min(group, rows - start)
        idx = np.arange(start, start + n)
        cols = {
            "Metadata_Plate": pa.array(np.where(idx < rows // 2, "P1", "P2")),
            "Metadata_ImageNumber": pa.array(idx // 200 + 1),
            "Metadata_Nuclei_Number_Object_Number": pa.array(idx % 200 + 1),
            "Nuclei_Location_Center_X": pa.array(rng.uniform(0, 1000, n)),
            "Nuclei_Location_Center_Y": pa.array(rng.uniform(0, 1000, n)),
        }
        for f in range(features - 2):
            cols[f"Cells_Feature_{f:03d}"] = pa.array(rng.normal(0, 1, n))
        table = pa.table(cols)
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema, compression="zstd")
        writer.write_table(table)
    writer.close()


def child_arrowscope(path: str) -> dict:
    from qtpy.QtWidgets import QApplication

    import napari
    from arrowscope._napari.profile_layers import add_profile_layers
    from arrowscope._napari.profiles_widget import ProfilesWidget
    from arrowscope._napari.session import session_for
    from arrowscope.core.profiles.resolve import open_profiles

    viewer = napari.Viewer(show=True)
    QApplication.processEvents()
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        pt = open_profiles(path)
        points = add_profile_layers(viewer, pt)
        widget = ProfilesWidget(viewer)
        widget.attach(session_for(viewer, points, pt))
        viewer.window.add_dock_widget(widget, area="right")
        QApplication.processEvents()
        ready = time.perf_counter() - t0

    def lat(fn) -> float:
        t = time.perf_counter()
        fn()
        QApplication.processEvents()
        return round((time.perf_counter() - t) * 1000, 1)

    model = widget.model
    feature = model.table.column_names.index("Cells_Feature_000")
    latency = {
        "sort_ms": lat(lambda: widget.view.sortByColumn(feature, 0)),
        "scroll_ms": lat(
            lambda: widget.view.scrollTo(model.index(model.rowCount() // 2, 0))
        ),
        "select_row_ms": lat(lambda: widget.view.selectRow(model.rowCount() // 3)),
        "select_point_ms": lat(lambda: setattr(points, "selected_data", {12345})),
        "next_cell_ms": lat(lambda: widget.step(1)),
    }
    return {
        "ready_s": round(ready, 3),
        "rss_above_viewer_mib": round(mem.mib),
        "latency": latency,
    }


def child_baseline(path: str) -> dict:
    import pandas as pd
    from qtpy.QtWidgets import QApplication

    import napari

    viewer = napari.Viewer(show=True)
    QApplication.processEvents()
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        df = pd.read_parquet(path)
        coords = np.column_stack(
            [
                df["Metadata_ImageNumber"] - 1,
                df["Nuclei_Location_Center_Y"],
                df["Nuclei_Location_Center_X"],
            ]
        )
        viewer.add_points(coords, features=df, name="cells")
        viewer.window.add_plugin_dock_widget("napari", "Features table widget")
        QApplication.processEvents()
        ready = time.perf_counter() - t0
    return {"ready_s": round(ready, 3), "rss_above_viewer_mib": round(mem.mib)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--features", type=int, default=500)
    parser.add_argument("--child", nargs=2)
    args = parser.parse_args()
    if args.child:
        tool, path = args.child
        result = (child_arrowscope if tool == "arrowscope" else child_baseline)(path)
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "profiles.parquet"
        make_table(path, args.rows, args.features)
        ours = run_child(__file__, ["arrowscope", str(path)], CHILD_TIMEOUT_S)
        base = run_child(__file__, ["baseline", str(path)], CHILD_TIMEOUT_S)
        figures = {
            "rows": args.rows,
            "features": args.features,
            "file_mib": round(path.stat().st_size / 2**20),
            "arrowscope": ours,
            "pandas_plus_features_table": base,
        }
        if "ready_s" in ours and "ready_s" in base:
            figures["faster"] = round(base["ready_s"] / ours["ready_s"], 1)
            figures["less_memory"] = round(
                base["rss_above_viewer_mib"] / max(1, ours["rss_above_viewer_mib"]), 1
            )
        emit(figures)


if __name__ == "__main__":
    main()
