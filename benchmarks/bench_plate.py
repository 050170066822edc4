"""Plate map and gating scatter on a whole plate: 3M cells x 50 features.

What the docks compute and draw, timed in one process (matplotlib's Agg
canvas, as the docks draw off screen): the per-well summary (DuckDB group-by)
for a count, a QC share and a feature median; the plate grid drawn with its
colour bar; the scatter's density binning and draw; and the updates after a
QC threshold change or a filter. pandas' groupby (what a notebook does) is
timed on the same table beside them.

    python benchmarks/bench_plate.py [--cells 3000000] [--features 50]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
from _util import PeakRSS, emit, timed  # noqa: E402


def make_table(n: int, features: int):
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(0)
    wells = [f"{chr(65 + r)}{c + 1:02d}" for r in range(16) for c in range(24)]
    well = rng.integers(0, len(wells), n)
    cols = {
        "Metadata_Plate": pa.array(["P1"] * n),
        "Metadata_Well": pa.array(np.asarray(wells, object)[well]),
        "Metadata_ImageNumber": well * 9 + rng.integers(0, 9, n),
        "Metadata_ObjectNumber": np.arange(n) % 1000,
        "Nuclei_AreaShape_Area": rng.normal(100, 10, n),
        "Nuclei_AreaShape_FormFactor": rng.normal(0.9, 0.05, n),
        "Nuclei_AreaShape_Eccentricity": rng.normal(0.5, 0.1, n),
    }
    for i in range(features - 3):
        cols[f"Cells_Feature_{i:02d}"] = rng.random(n)
    return pa.table(cols)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=3_000_000)
    ap.add_argument("--features", type=int, default=50)
    args = ap.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np
    from matplotlib.figure import Figure

    from arrowscope import qc

    table = make_table(args.cells, args.features)
    cells = table.select(["Metadata_Plate", "Metadata_Well"])
    area = table.column("Nuclei_AreaShape_Area")
    with_area = cells.append_column("Nuclei_AreaShape_Area", area)
    figures: dict = {"cells": args.cells, "features": args.features}

    def draw_plate(summary) -> None:
        values, counts, wells = qc.plate_grid(summary, "P1")
        fig = Figure(figsize=(4, 3))
        ax = fig.add_subplot(111)
        im = ax.imshow(np.ma.masked_invalid(values), cmap="viridis")
        fig.colorbar(im, ax=ax)
        fig.canvas.draw()

    from arrowscope.core.profiles.density import Density
    from arrowscope.core.profiles.plate import PlateIndex

    with PeakRSS() as mem:
        # first draw: the group codes of the wells are built, once per table
        t, index = timed(lambda: PlateIndex(cells), 3)
        figures["plate_index_s"] = t
        t, summary = timed(lambda: qc.plate_summary(cells, "count", index=index), 3)
        figures["plate_summary_count_s"] = t
        t, _ = timed(lambda: draw_plate(summary), 3)
        figures["plate_draw_s"] = t
        figures["plate_first_draw_s"] = (
            figures["plate_index_s"] + figures["plate_summary_count_s"] + t
        )
        t, _ = timed(
            lambda: qc.plate_summary(
                with_area, "Nuclei_AreaShape_Area", "median", index=index
            ),
            3,
        )
        figures["plate_summary_median_s"] = t
        # a threshold change: QC re-runs, then the map shows the new share
        features = table.select(
            [
                "Nuclei_AreaShape_Area",
                "Nuclei_AreaShape_FormFactor",
                "Nuclei_AreaShape_Eccentricity",
            ]
        )
        t, first = timed(lambda: qc.compute_flags(features), 3)
        figures["qc_first_run_s"] = t
        # dragging a threshold: the QC panel re-flags from the scores it has
        from arrowscope.core.profiles.qc import COSMICQC_DEFAULTS, reflag

        moved = {k: dict(v) for k, v in COSMICQC_DEFAULTS.items()}
        moved["large_nuclei"]["Nuclei_AreaShape_Area"] = 1.5
        t, result = timed(lambda: reflag(first, moved), 3)
        figures["qc_reflag_after_threshold_s"] = t
        t, share = timed(
            lambda: qc.plate_summary(cells, "any_outlier", flags=result, index=index),
            3,
        )
        figures["plate_update_after_threshold_s"] = t
        t, _ = timed(lambda: draw_plate(share), 3)
        figures["plate_redraw_s"] = t
        keep = np.asarray(result.mask()) == 0
        t, _ = timed(
            lambda: qc.plate_summary(cells, "count", rows=keep, index=index), 3
        )
        figures["plate_update_after_filter_s"] = t

        x = area.to_numpy()
        y = table.column("Nuclei_AreaShape_Eccentricity").to_numpy()

        def scatter(density, mask=None) -> None:
            counts = density.counts(mask)
            fig = Figure(figsize=(4, 3))
            ax = fig.add_subplot(111)
            ax.imshow(
                np.log1p(counts.T), origin="lower", aspect="auto", extent=density.extent
            )
            fig.canvas.draw()

        def first_scatter() -> None:
            scatter(Density(x, y, 200))  # every cell's bin, once per axis pair

        t, _ = timed(first_scatter, 3)
        figures["scatter_first_draw_s"] = t
        density = Density(x, y, 200)
        t, _ = timed(lambda: scatter(density, keep), 3)
        figures["scatter_update_after_filter_s"] = t
        t, _ = timed(lambda: np.histogram2d(x, y, bins=200), 3)
        figures["numpy_histogram2d_same_points_s"] = t
        from matplotlib.path import Path as MplPath

        gate = MplPath([(95, 0.4), (105, 0.4), (105, 0.6), (95, 0.6)])
        t, inside = timed(lambda: gate.contains_points(np.column_stack([x, y])), 3)
        figures["scatter_gate_s"] = t
        figures["gated_cells"] = int(inside.sum())
    figures["peak_rss_mib"] = mem.peak_mib

    import pandas as pd

    frame = table.select(["Metadata_Well", "Nuclei_AreaShape_Area"]).to_pandas()
    t, _ = timed(lambda: frame.groupby("Metadata_Well", observed=True).size(), 3)
    figures["pandas_groupby_count_s"] = t
    t, _ = timed(
        lambda: frame.groupby("Metadata_Well", observed=True)[
            "Nuclei_AreaShape_Area"
        ].median(),
        3,
    )
    figures["pandas_groupby_median_s"] = t
    figures["pandas_version"] = pd.__version__
    emit(figures)


if __name__ == "__main__":
    main()
