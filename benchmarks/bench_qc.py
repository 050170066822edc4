"""QC speed: arrowscope.qc.label_outliers vs coSMicQC 1.1.2, and the dask path.

Run: python benchmarks/bench_qc.py [--rows 1000000]  (prints JSON)
A synthetic 1,000,000-row × 20-feature profile table; the three coSMicQC default
conditions. Flags must be identical. Then the same table split into 4 Parquet
files: single process vs a dask.distributed LocalCluster (2 workers).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
from _util import emit, timed  # noqa: E402

FEATURES = [
    "Nuclei_AreaShape_Area",
    "Nuclei_AreaShape_FormFactor",
    "Nuclei_AreaShape_Eccentricity",
]


def make_table(rows: int) -> pa.Table:
    rng = np.random.default_rng(0)
    cols = {
        "Metadata_Plate": np.repeat(np.array(["P1", "P2", "P3", "P4"]), rows // 4 + 1)[
            :rows
        ],
        "Metadata_ImageNumber": np.arange(rows) // 100,
        "Metadata_Nuclei_Number_Object_Number": np.arange(rows) % 100 + 1,
        FEATURES[0]: rng.normal(500, 80, rows),
        FEATURES[1]: rng.normal(0.85, 0.05, rows),
        FEATURES[2]: rng.normal(0.5, 0.1, rows),
    }
    for i in range(20 - len(FEATURES)):
        cols[f"Cells_Intensity_Feature{i:02d}"] = rng.normal(0, 1, rows)
    return pa.table(cols)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    import cosmicqc
    import distributed

    from arrowscope.core.profiles.batch import run_qc
    from arrowscope.qc import label_outliers

    table = make_table(args.rows)
    df = table.to_pandas()
    t_ours, ours = timed(lambda: label_outliers(table), repeat=3)
    t_ref, ref = timed(lambda: cosmicqc.analyze.label_outliers(df), repeat=1)
    flag_cols = [c for c in ours.column_names if c.startswith("Metadata_cqc_")]
    identical = all(
        np.array_equal(ours[c].to_numpy(), ref[c].to_numpy(bool)) for c in flag_cols
    ) and sorted(flag_cols) == sorted(
        c for c in ref.columns if c.startswith("Metadata_cqc_")
    )

    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        n = args.rows // 4
        for i in range(4):
            p = Path(tmp) / f"plate{i}.parquet"
            pq.write_table(table.slice(i * n, n), p, row_group_size=max(1, n // 4))
            paths.append(p)
        t_single, (_, single) = timed(lambda: run_qc(paths), repeat=1)
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, dashboard_address=None, silence_logs=50
        )
        with distributed.Client(cluster) as client:
            run_qc(paths, client=client)  # warm the workers' imports
            t_dist, (_, dist) = timed(lambda: run_qc(paths, client=client), repeat=1)
        cluster.close()
    emit(
        {
            "rows": args.rows,
            "features": 20,
            "conditions": flag_cols,
            "flagged": {c: int(ours[c].to_numpy().sum()) for c in flag_cols},
            "label_outliers_s": {
                "arrowscope": round(t_ours, 3),
                "cosmicqc_1.1.2": round(t_ref, 3),
            },
            "speedup_vs_cosmicqc": round(t_ref / t_ours, 1),
            "identical_flags": bool(identical),
            "four_files_s": {
                "single_process": round(t_single, 3),
                "dask_2_workers": round(t_dist, 3),
            },
            "distributed_identical_flags": bool(single.flags.equals(dist.flags)),
        }
    )


if __name__ == "__main__":
    main()
