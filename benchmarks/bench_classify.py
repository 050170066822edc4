"""Classify a screen end to end, side by side with what users script today
(pandas reads the table, scikit-learn fits the labelled rows and predicts all),
each in a fresh child process, in one run: time, peak memory, accuracy on
planted phenotypes.

    python benchmarks/bench_classify.py [--cells 200000] [--features 300]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import PeakRSS, emit, run_child  # noqa: E402

KEYS = ["Metadata_Plate", "Metadata_ImageNumber", "Nuclei_Number_Object_Number"]


def write(folder: Path, cells: int, features: int) -> tuple[Path, Path, Path]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    big = rng.random(cells) < 0.2
    cols = {
        "Metadata_Plate": pa.array(["P1"] * cells),
        "Metadata_ImageNumber": np.arange(cells) // 500 + 1,
        "Nuclei_Number_Object_Number": np.arange(cells) % 500 + 1,
    }
    for i in range(features):
        x = rng.standard_normal(cells).astype(np.float32)
        if i < 5:  # the planted phenotype moves five features
            x += big * 1.5
        cols[f"Cells_Feature_{i:03d}"] = x
    table = pa.table(cols)
    path = folder / "screen.parquet"
    pq.write_table(table, path, row_group_size=20_000)
    picks = np.concatenate([np.flatnonzero(big)[:100], np.flatnonzero(~big)[:200]])
    labels = table.select(KEYS).take(pa.array(picks))
    labels = labels.append_column(
        "Metadata_class", pa.array(np.where(big[picks], "big", "normal"))
    )
    pq.write_table(labels, folder / "labels.parquet")
    truth = folder / "truth.npy"
    np.save(truth, big)
    return path, folder / "labels.parquet", truth


def child(which: str, path: str, labels: str, truth: str, out: str) -> None:
    import numpy as np

    result: dict[str, float] = {}
    with PeakRSS() as peak:
        t0 = time.perf_counter()
        if which == "arrowscope":
            from arrowscope.core.profiles.classify import classify_table

            classify_table(path, labels, out)
            import pyarrow.parquet as pq

            predicted = np.asarray(
                pq.read_table(out, columns=["Metadata_predicted_class"])
                .column(0)
                .to_pylist()
            )
        else:  # what users script today
            import pandas as pd
            from sklearn.ensemble import HistGradientBoostingClassifier

            frame = pd.read_parquet(path)
            lab = pd.read_parquet(labels)
            train = frame.merge(lab, on=KEYS)
            cols = [c for c in frame.columns if c.startswith("Cells_")]
            model = HistGradientBoostingClassifier(random_state=0)
            model.fit(train[cols], train["Metadata_class"])
            predicted = model.predict(frame[cols])
        result["seconds"] = round(time.perf_counter() - t0, 2)
    result["peak_mib"] = round(peak.peak_mib, 1)
    big = np.load(truth)
    result["accuracy"] = float((predicted == np.where(big, "big", "normal")).mean())
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cells", type=int, default=200_000)
    parser.add_argument("--features", type=int, default=300)
    parser.add_argument("--child", nargs=5)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path, labels, truth = write(folder, args.cells, args.features)
        figures = {"cells": args.cells, "features": args.features, "labelled": 300}
        for which in ("arrowscope", "pandas+sklearn"):
            figures[which] = run_child(
                __file__,
                [
                    which,
                    str(path),
                    str(labels),
                    str(truth),
                    str(folder / "scores.parquet"),
                ],
                timeout_s=900,
            )
    a, p = figures["arrowscope"], figures["pandas+sklearn"]
    figures["time_ratio"] = round(a["seconds"] / p["seconds"], 2)
    figures["memory_ratio"] = round(a["peak_mib"] / max(p["peak_mib"], 1), 2)
    emit(figures)


if __name__ == "__main__":
    main()
