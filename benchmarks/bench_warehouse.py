"""A CytoTable-layout Iceberg warehouse: open to workspace, one cell's crops,
QC into the warehouse vs QC to a Parquet file; CytoTable's own reader beside.

The warehouse (N profiles x F features, 3 stored crops per profile, source
images of 3 channels and a label image per field) is built once, in the
layout of tests/warehouses.py (pyiceberg tables, CytoTable's registry); each
figure comes from a fresh child process.

    python benchmarks/bench_warehouse.py [--profiles 100000] [--features 300]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(ROOT))
from _util import PeakRSS, emit, run_child  # noqa: E402

CHANNELS = ("DNA", "ER", "Mito")
FIELD = (128, 128)
CROP = (12, 12)
PER_FIELD = 500


def build(root: Path, n: int, features: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from tests import warehouses

    import arrowscope

    rng = np.random.default_rng(0)
    base = root / "warehouse"
    fields = -(-n // PER_FIELD)
    folder = base / "images" / "source_images" / "data"
    folder.mkdir(parents=True)
    keys = [(f, ch) for f in range(1, fields + 1) for ch in CHANNELS]
    plane = rng.integers(0, 4000, FIELD, dtype=np.uint16)
    label = np.zeros(FIELD, np.uint16)
    arrowscope.write_ome_table(
        folder / "part-0.parquet",
        {
            "ome_arrow_image": [{"data": plane, "dims": "YX"} for _ in keys],
            "ome_arrow_label": [{"data": label, "dims": "YX"} for _ in keys],
        },
        extra_columns={
            "Metadata_ImageNumber": [str(f) for f, _ in keys],
            "source_image_column": [f"Image_FileName_{ch}" for _, ch in keys],
        },
    )
    image = np.repeat(np.arange(1, fields + 1), PER_FIELD)[:n]
    obj = np.tile(np.arange(1, PER_FIELD + 1), fields)[:n]
    ids = [f"obj-{i:012d}" for i in range(n)]
    x0 = rng.integers(0, FIELD[1] - CROP[1], n)
    y0 = rng.integers(0, FIELD[0] - CROP[0], n)
    cols = {
        "Metadata_ImageNumber": image,
        "Metadata_ObjectNumber": obj,
        "Metadata_ObjectID": ids,
        "Nuclei_Location_Center_X": x0 + CROP[1] / 2,
        "Nuclei_Location_Center_Y": y0 + CROP[0] / 2,
        "Metadata_SourceBBoxXMin": x0,
        "Metadata_SourceBBoxYMin": y0,
        "Metadata_SourceBBoxXMax": x0 + CROP[1],
        "Metadata_SourceBBoxYMax": y0 + CROP[0],
        "Nuclei_AreaShape_Area": rng.normal(100, 10, n),
        "Nuclei_AreaShape_FormFactor": rng.normal(0.9, 0.05, n),
        "Nuclei_AreaShape_Eccentricity": rng.normal(0.5, 0.1, n),
    }
    for i in range(features - 3):
        cols[f"Cells_Feature_{i:03d}"] = rng.random(n)
    for ch in CHANNELS:
        cols[f"Image_FileName_{ch}"] = [f"{ch}.tif"] * n
    folder = base / "profiles" / "joined_profiles" / "data"
    folder.mkdir(parents=True)
    pq.write_table(pa.table(cols), folder / "part-0.parquet", row_group_size=50_000)
    # crops: one struct per (object, channel); written by arrowscope in slices
    folder = base / "images" / "image_crops" / "data"
    folder.mkdir(parents=True)
    crop = rng.integers(0, 4000, CROP, dtype=np.uint16)
    step = 25_000
    for k, start in enumerate(range(0, n, step)):
        rows = range(start, min(n, start + step))
        arrowscope.write_ome_table(
            folder / f"part-{k:03d}.parquet",
            {
                "ome_arrow_image": [
                    {"data": crop, "dims": "YX"} for _ in rows for _ in CHANNELS
                ]
            },
            extra_columns={
                "Metadata_ObjectID": [ids[r] for r in rows for _ in CHANNELS],
                "source_image_column": [
                    f"Image_FileName_{ch}" for _ in rows for ch in CHANNELS
                ],
            },
        )
    warehouses.to_iceberg(root)


def child(what: str, root: str, out: str) -> None:
    import numpy as np

    figures: dict[str, float] = {}
    if what == "arrowscope-open":
        # a drop lands in a running napari: imports are timed (and held) apart
        t0 = time.perf_counter()
        import dask.distributed  # noqa: F401 - dask's scheduler lookup imports it
        import pyiceberg.table  # noqa: F401

        import arrowscope
        from arrowscope._napari.profile_layers import profile_layers

        figures["imports_s"] = time.perf_counter() - t0
        with PeakRSS() as opened:
            t0 = time.perf_counter()
            pt = arrowscope.open_profiles(root)
            layers = profile_layers(pt)
            figures["open_to_workspace_s"] = time.perf_counter() - t0
        figures["open_rss_above_start_mib"] = opened.mib
        figures["layers"] = len(layers)
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        if what == "arrowscope-open":
            rng = np.random.default_rng(1)
            t1 = time.perf_counter()
            for ch in pt.channel_names:
                pt.crop(0, ch).to_numpy()
            figures["first_cell_crops_s"] = time.perf_counter() - t1
            times = []
            for row in rng.integers(0, pt.num_rows, 30):
                t2 = time.perf_counter()
                for ch in pt.channel_names:
                    pt.crop(int(row), ch).to_numpy()
                times.append(time.perf_counter() - t2)
            figures["cell_crops_warm_median_s"] = float(np.median(times))
        elif what == "qc-parquet":
            import arrowscope
            from arrowscope.core.profiles.qc import write_annotations

            w = arrowscope.open_warehouse(root)
            keys, result = w.run_qc()
            write_annotations(out, keys, result)
            figures["qc_to_parquet_s"] = time.perf_counter() - t0
        elif what == "qc-warehouse":
            import arrowscope

            w = arrowscope.open_warehouse(root)
            keys, result = w.run_qc()
            w.write_quality_control("bench", keys, result)
            figures["qc_into_warehouse_s"] = time.perf_counter() - t0
        elif what == "cytotable-read":
            from cytotable.warehouse.access import read_table

            frame = read_table(root, "profiles.joined_profiles")
            figures["cytotable_read_profiles_s"] = time.perf_counter() - t0
            figures["rows"] = len(frame)
            t1 = time.perf_counter()
            crops = read_table(root, "images.image_crops")
            figures["cytotable_read_crops_s"] = time.perf_counter() - t1
            figures["crop_rows"] = len(crops)
    figures["peak_rss_mib"] = mem.peak_mib
    figures["rss_above_start_mib"] = mem.mib
    print(json.dumps(figures))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profiles", type=int, default=100_000)
    ap.add_argument("--features", type=int, default=300)
    ap.add_argument("--keep", type=Path, help="build the warehouse here and keep it")
    ap.add_argument("--child", nargs=3)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp) / "wh"
        t0 = time.perf_counter()
        if not (root / "warehouse" / "catalog.json").is_file():
            build(root, args.profiles, args.features)
        built = time.perf_counter() - t0
        for qc_dir in (root / "warehouse" / "quality_control",):
            if qc_dir.exists():  # an earlier run's QC table: measure from scratch
                import json
                import shutil

                registry = root / "warehouse" / "catalog.json"
                data = json.loads(registry.read_text())
                data["tables"].pop("quality_control.bench", None)
                registry.write_text(json.dumps(data))
                shutil.rmtree(qc_dir)
        out = str(Path(tmp) / "flags.parquet")
        figures = {
            "profiles": args.profiles,
            "features": args.features,
            "crops": args.profiles * len(CHANNELS),
            "build_s": built,
        }
        for what in ("arrowscope-open", "qc-parquet", "qc-warehouse", "cytotable-read"):
            figures[what] = run_child(__file__, [what, str(root), out], 900)
        emit(figures)


if __name__ == "__main__":
    main()
