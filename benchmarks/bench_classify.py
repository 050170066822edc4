"""Classify a screen end to end, side by side with what users script today
(pandas reads the table, scikit-learn fits the labelled rows, predicts all and
the predictions are written, as arrowscope writes its scores)
and with napari-feature-classifier 0.4 (the napari peer, run headless: its
Classifier on a pandas table of every cell), each in a fresh child process, in
one run: time (best of three interleaved runs per side), peak memory (the
highest of the three), accuracy on planted phenotypes.

    python benchmarks/bench_classify.py [--cells 200000] [--features 300]
    python benchmarks/bench_classify.py --layouts [--cells 200000] [--features 300]
    python benchmarks/bench_classify.py --jump [--cells 1000000] [--features 2000]

``--small``: CellProfiler's ExampleHuman CSV folder from ../shared/data (289
cells), 24 cells labelled by hand (the 12 smallest and 12 largest nuclei),
``arrowscope classify`` end to end as a user runs it (a fresh process:
imports, opening the folder, training, scoring, writing) beside a pandas +
scikit-learn script doing the same, quiet and with the cores kept busy.

``--busy``: the default run again while two other processes keep the cores
busy (each child's time beside the quiet run's): a busy machine should slow a
run in proportion to its share, not several-fold.

``--layouts``: the same planted plate written three ways — one row group of
the whole table (what pandas writes), 50,000-row groups and 20,000-row groups
(what converters write) — and as an Arrow IPC file, a Lance dataset and a
Vortex file (as those libraries write by default; the baseline reads them
whole into pandas), each
classified by arrowscope and by pandas + scikit-learn in one run: time and
memory must not depend on the file's layout or format.

``--jump``: a JUMP-sized plate (float32 features, 20,000-row groups): the
first training, a retrain after one more binned cell with the predictions of
a field in view (what the Classifier panel does), and scoring every cell
(time and peak memory, in a child), beside pandas reading the same table
(capped at 22 GiB of address space so it fails cleanly rather than
exhausting the machine). napari-feature-classifier is measured where it is
installed (``pip install napari-feature-classifier==0.4.3 "xxhash<4"``: it hashes
str object ids, which xxhash 4 refuses).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _util import Busy, PeakRSS, emit, run_child  # noqa: E402

KEYS = ["Metadata_Plate", "Metadata_ImageNumber", "Nuclei_Number_Object_Number"]


def write(
    folder: Path, cells: int, features: int, group_rows: int | None = 20_000
) -> tuple[Path, Path, Path]:
    """The screen, written 20,000 rows at a time (a JUMP-sized plate does not
    fit in memory whole) in row groups of ``group_rows`` (None: one group of
    the whole table); a planted phenotype moves five features."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    big = rng.random(cells) < 0.2
    path = folder / "screen.parquet"
    step = 20_000
    writer = None
    if group_rows is None or group_rows > step:  # whole groups: in one write
        step = cells if group_rows is None else group_rows
    for start in range(0, cells, step):
        n = min(step, cells - start)
        index = np.arange(start, start + n)
        cols = {
            "Metadata_Plate": pa.array(["P1"] * n),
            "Metadata_ImageNumber": index // 500 + 1,
            "Nuclei_Number_Object_Number": index % 500 + 1,
        }
        x = rng.standard_normal((n, features), dtype=np.float32)
        x[:, :5] += big[index, None] * np.float32(1.5)
        for i in range(features):
            cols[f"Cells_Feature_{i:03d}"] = x[:, i]
        table = pa.table(cols)
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=group_rows or cells)
    assert writer is not None
    writer.close()
    picks = np.concatenate([np.flatnonzero(big)[:100], np.flatnonzero(~big)[:200]])
    labels = pa.table(
        {
            "Metadata_Plate": ["P1"] * len(picks),
            "Metadata_ImageNumber": picks // 500 + 1,
            "Nuclei_Number_Object_Number": picks % 500 + 1,
            "Metadata_class": np.where(big[picks], "big", "normal"),
        }
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

            classify_table(path, labels, out, folds=0)  # as `classify` (no --cv)
            import pyarrow.parquet as pq

            predicted = np.asarray(
                pq.read_table(out, columns=["Metadata_predicted_class"])
                .column(0)
                .to_pylist()
            )
        elif which == "napari-feature-classifier":
            predicted = _feature_classifier(path, labels)
        else:  # what users script today
            import pandas as pd
            from sklearn.ensemble import HistGradientBoostingClassifier

            frame = _read_frame(path)
            lab = pd.read_parquet(labels)
            train = frame.merge(lab, on=KEYS)
            cols = [c for c in frame.columns if c.startswith("Cells_")]
            model = HistGradientBoostingClassifier(random_state=0)
            model.fit(train[cols], train["Metadata_class"])
            predicted = model.predict(frame[cols])
            # the predictions written, as arrowscope writes its scores (and as
            # the --small script always did): the same job on both sides
            frame[KEYS].assign(Metadata_predicted_class=predicted).to_parquet(out)
        result["seconds"] = round(time.perf_counter() - t0, 2)
    result["peak_mib"] = round(peak.peak_mib, 1)
    big = np.load(truth)
    result["accuracy"] = float((predicted == np.where(big, "big", "normal")).mean())
    print(json.dumps(result))


def _feature_classifier(path: str, labels: str) -> Any:
    """napari-feature-classifier's own Classifier (what its widget runs): one
    pandas table of every cell with ``roi_id``/``label`` and 1-based
    ``annotations``; its default random forest; predict every cell."""
    import numpy as np
    import pandas as pd
    from napari_feature_classifier.classifier import Classifier

    frame = pd.read_parquet(path)
    lab = pd.read_parquet(labels)
    cols = [c for c in frame.columns if c.startswith("Cells_")]
    names = ["big", "normal"]
    frame["roi_id"] = frame["Metadata_ImageNumber"].astype(str)
    frame["label"] = frame["Nuclei_Number_Object_Number"].astype(int)
    merged = frame.merge(lab, on=KEYS, how="left")
    merged["annotations"] = merged["Metadata_class"].map(
        {n: i + 1 for i, n in enumerate(names)}
    )
    annotated = merged[merged["annotations"].notna()]
    clf = Classifier(feature_names=cols, class_names=names)
    clf.add_features(
        annotated[["roi_id", "label", *cols, "annotations"]].astype(
            {"annotations": int}
        )
    )
    clf.train()
    got = clf.predict(frame[["roi_id", "label", *cols]])
    order = frame.set_index(["roi_id", "label"]).index
    return np.asarray(names, object)[got.reindex(order).to_numpy() - 1]


def jump_child(path: str, labels: str, truth: str, out: str) -> None:
    """The Classifier panel's steps on a JUMP-sized plate, timed."""
    import numpy as np
    import pyarrow.parquet as pq

    from arrowscope.core.profiles.classify import cross_validate, train_table
    from arrowscope.core.profiles.resolve import open_profiles
    from arrowscope.core.profiles.scoring import PREDICTED, RowCache, score_all

    result: dict[str, Any] = {}
    t0 = time.perf_counter()
    pt = open_profiles(path)
    result["open_s"] = round(time.perf_counter() - t0, 2)
    cache = RowCache(pt._file.source)
    lab = pq.read_table(labels)
    view = np.arange(1000, 1500)  # one field of 500 cells
    t0 = time.perf_counter()
    trained = train_table(pt, lab, folds=0, cache=cache)
    trained.predict(cache.get(view, trained.features))
    result["first_train_and_view_s"] = round(time.perf_counter() - t0, 2)
    t0 = time.perf_counter()
    cross_validate(trained)
    result["cross_validation_s"] = round(time.perf_counter() - t0, 2)
    result["cv_accuracy"] = trained.cv_accuracy
    # one more binned cell, from the field in view: retrain and refresh the view
    keys = lab.column_names[:-1]
    extra = pt.read(keys).take([int(view[0])])
    import pyarrow as pa

    more = pa.concat_tables(
        [lab, extra.append_column("Metadata_class", pa.array(["normal"]))]
    )
    t0 = time.perf_counter()
    again = train_table(pt, more, folds=0, cache=cache)
    again.predict(cache.get(view, again.features))
    result["retrain_and_view_s"] = round(time.perf_counter() - t0, 2)
    result["features_used"] = len(again.features)
    with PeakRSS() as peak:
        t0 = time.perf_counter()
        score_all(pt._file.source, again, out, keys=keys)
        result["score_all_s"] = round(time.perf_counter() - t0, 2)
    result["score_all_peak_mib"] = round(peak.mib, 1)
    big = np.load(truth)
    predicted = np.asarray(
        pq.read_table(out, columns=[PREDICTED]).column(0).to_pylist()
    )
    result["accuracy"] = float((predicted == np.where(big, "big", "normal")).mean())
    print(json.dumps(result))


def pandas_child(path: str) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (22 * 2**30, 22 * 2**30))
    result: dict[str, Any] = {}
    with PeakRSS() as peak:
        t0 = time.perf_counter()
        try:
            import pandas as pd

            frame = pd.read_parquet(path)
            result["rows"] = len(frame)
        except MemoryError:
            result["error"] = "MemoryError under a 22 GiB address-space cap"
        result["read_s"] = round(time.perf_counter() - t0, 2)
    result["peak_mib"] = round(peak.peak_mib, 1)
    print(json.dumps(result), flush=True)
    if "error" in result:
        # Arrow's reader threads that ran out of memory never finish, and the
        # interpreter waits for them at exit (the run harness then waited out
        # its 30 minutes): the figure is out, so leave at once.
        import os

        os._exit(0)


def _drop_page_cache() -> bool:
    """Empty the OS page cache (root on Linux) so the file is read from disk,
    not from the memory it was just written from; False where not allowed."""
    import os

    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        return False
    return True


def jump(cells: int, features: int) -> None:
    with tempfile.TemporaryDirectory(dir=Path.home()) as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        path, labels, truth = write(folder, cells, features)
        figures: dict[str, Any] = {
            "cells": cells,
            "features": features,
            "labelled": 300,
            "file_gib": round(path.stat().st_size / 2**30, 2),
            "write_s": round(time.perf_counter() - t0, 1),
        }
        out = str(folder / "scores.parquet")
        figures["page_cache_dropped"] = _drop_page_cache()  # cold reads, if allowed
        figures["arrowscope"] = run_child(
            __file__,
            ["jump", str(path), str(labels), str(truth), out],
            timeout_s=1800,
        )
        figures["pandas read_parquet"] = run_child(
            __file__, ["pandas", str(path), "-", "-", "-"], timeout_s=1800
        )
    emit(figures)


def layouts(cells: int, features: int) -> None:
    figures: dict[str, Any] = {"cells": cells, "features": features, "labelled": 300}
    for name, rows in (
        ("one group", None),
        ("50000-row groups", 50_000),
        ("20000-row groups", 20_000),
    ):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            path, labels, truth = write(folder, cells, features, rows)
            figures[name] = _side_by_side(
                folder, path, labels, truth, ["arrowscope", "pandas+sklearn"]
            )
            if rows == 20_000:  # the same table as Arrow IPC, Lance, Vortex write it
                for fmt in ("arrow", "lance", "vortex"):
                    other = _rewrite(path, fmt)
                    figures[fmt] = (
                        _side_by_side(
                            folder,
                            other,
                            labels,
                            truth,
                            ["arrowscope", "pandas+sklearn"],
                        )
                        if other is not None
                        else f"not measured: pip install 'arrowscope[{fmt}]'"
                    )
    emit(figures)


def _rewrite(path: Path, fmt: str) -> Path | None:
    """The Parquet table at ``path`` written as an Arrow IPC (Feather v2)
    file, a Lance dataset or a Vortex file beside it, as those libraries write
    it by default (None: the library is not installed)."""
    import pyarrow.parquet as pq

    out = path.with_suffix(f".{fmt}")
    table = pq.read_table(path)
    if fmt == "arrow":  # pyarrow's default: LZ4-compressed record batches
        import pyarrow.feather as feather

        feather.write_feather(table, out)
        return out
    try:
        module = __import__(fmt)
    except ImportError:
        return None
    if fmt == "lance":
        module.write_dataset(table, out)
    else:
        module.io.write(table, str(out))
    return out


def _read_frame(path: str) -> Any:
    """The whole table as a pandas frame, as users script it for each format."""
    import pandas as pd

    if path.endswith(".lance"):
        import lance

        return lance.dataset(path).to_table().to_pandas()
    if path.endswith(".vortex"):
        import vortex

        return vortex.open(path).to_arrow().read_all().to_pandas()
    if path.endswith(".arrow"):
        return pd.read_feather(path)
    return pd.read_parquet(path)


#: runs of each side, interleaved: the best time (a single run's time
#: varies by a fifth from run to run, the baseline's as much as ours) and the
#: highest peak memory of the runs
REPEAT = 3


def _side_by_side(
    folder: Path, path: Path, labels: Path, truth: Path, peers: list[str]
) -> dict[str, Any]:
    """Each peer in a fresh child on the same files, :data:`REPEAT` times
    interleaved, and arrowscope's time and memory as a share of pandas +
    scikit-learn's."""
    runs: dict[str, list[dict[str, Any]]] = {which: [] for which in peers}
    for _ in range(REPEAT):
        for which in peers:
            args = [which, str(path), str(labels), str(truth)]
            runs[which].append(
                run_child(__file__, [*args, str(folder / "scores.parquet")], 900)
            )
    got: dict[str, Any] = {}
    for which, done in runs.items():
        ok = [r for r in done if "seconds" in r]
        if not ok:
            got[which] = done[-1]
            continue
        got[which] = {
            "seconds": min(r["seconds"] for r in ok),
            "peak_mib": max(r["peak_mib"] for r in ok),
            "accuracy": ok[0]["accuracy"],
            "runs_s": [r["seconds"] for r in ok],
        }
    a, p = got["arrowscope"], got["pandas+sklearn"]
    if "seconds" in a and "seconds" in p:
        got["time_ratio"] = round(a["seconds"] / p["seconds"], 2)
        got["memory_ratio"] = round(a["peak_mib"] / max(p["peak_mib"], 1), 2)
    return got


SMALL_SCRIPT = """
import sys, time
t0 = time.perf_counter()
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
folder, labels, out = sys.argv[1:]
cells = pd.read_csv(f"{folder}/Nuclei.csv")
keys = ["ImageNumber", "ObjectNumber"]
judged = pd.read_csv(labels).rename(
    columns={"Metadata_ImageNumber": "ImageNumber",
             "Nuclei_Number_Object_Number": "ObjectNumber"})
train = cells.merge(judged, on=keys)
features = [c for c in cells.select_dtypes("number").columns if c not in keys]
model = HistGradientBoostingClassifier().fit(train[features], train["Metadata_class"])
cells["predicted"] = model.predict(cells[features])
cells[[*keys, "predicted"]].to_parquet(out)
"""


def small() -> None:
    """The ExampleHuman folder, 24 judged cells: a fresh process each, quiet
    and busy (best of three)."""
    import subprocess

    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pcsv

    import arrowscope

    shared = Path(__file__).resolve().parents[2] / "shared" / "data"
    folder = shared / "cellprofiler_csv_examplehuman"
    if not folder.exists():
        emit({"skipped": f"{folder} is absent"})
        return
    figures: dict[str, Any] = {"cells": 289, "labelled": 24}
    with tempfile.TemporaryDirectory() as tmp:
        pt = arrowscope.open_profiles(folder)
        keys = [*pt.keys.image, pt.keys.object]
        table = pt.read([*keys, "Nuclei_AreaShape_Area"])
        order = np.argsort(table.column(2).to_numpy())
        picked = table.take(pa.array(np.r_[order[:12], order[-12:]])).select(keys)
        labels = Path(tmp) / "labels.csv"
        classes = pa.array(["small"] * 12 + ["big"] * 12)
        pcsv.write_csv(picked.append_column("Metadata_class", classes), labels)
        commands = {
            "arrowscope classify": [
                sys.executable,
                "-m",
                "arrowscope",
                "classify",
                str(folder),
                "--labels",
                str(labels),
                "--out",
                f"{tmp}/a.parquet",
                "--overwrite",
            ],
            "pandas+sklearn": [
                sys.executable,
                "-c",
                SMALL_SCRIPT,
                str(folder),
                str(labels),
                f"{tmp}/p.parquet",
            ],
        }
        for state in ("quiet", "busy"):
            got: dict[str, Any] = {}
            for name, argv in commands.items():
                runs = []
                with Busy() if state == "busy" else _Quiet():
                    for _ in range(3):
                        t0 = time.perf_counter()
                        done = subprocess.run(argv, capture_output=True, text=True)
                        if done.returncode:
                            raise SystemExit(f"{name} failed: {done.stderr[-2000:]}")
                        runs.append(time.perf_counter() - t0)
                got[name] = {"best_s": round(min(runs), 2), "runs": runs}
            figures[state] = got
    emit(figures)


class _Quiet:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cells", type=int, default=None)
    parser.add_argument("--features", type=int, default=None)
    parser.add_argument("--jump", action="store_true")
    parser.add_argument("--layouts", action="store_true")
    parser.add_argument("--busy", action="store_true")
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--child", nargs=5)
    args = parser.parse_args()
    if args.small:
        small()
        return
    if args.child:
        which, *rest = args.child
        if which == "jump":
            jump_child(*rest)
        elif which == "pandas":
            pandas_child(rest[0])
        else:
            child(*args.child)
        return
    if args.jump:
        jump(args.cells or 1_000_000, args.features or 2000)
        return
    if args.layouts:
        layouts(args.cells or 200_000, args.features or 300)
        return
    args.cells = args.cells or 200_000
    args.features = args.features or 300
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path, labels, truth = write(folder, args.cells, args.features)
        figures: dict[str, Any] = {
            "cells": args.cells,
            "features": args.features,
            "labelled": 300,
        }
        peers = ["arrowscope", "pandas+sklearn"]
        try:
            import napari_feature_classifier  # noqa: F401

            peers.append("napari-feature-classifier")
        except ImportError:
            figures["napari-feature-classifier"] = "not installed"
        figures.update(_side_by_side(folder, path, labels, truth, peers))
        if args.busy:
            with Busy(2):
                busy = _side_by_side(folder, path, labels, truth, peers[:2])
            figures["busy (2 spinning processes)"] = busy
            for which in peers[:2]:
                quiet, loaded = figures[which], busy[which]
                if "seconds" in quiet and "seconds" in loaded:
                    loaded["slowdown"] = round(loaded["seconds"] / quiet["seconds"], 2)
    emit(figures)


if __name__ == "__main__":
    main()
