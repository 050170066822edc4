"""Quality control of whole fields: from a table's own image columns on a
JUMP-sized plate, and from the pixels of real fields (MeasureImageQuality's
measures computed by arrowscope), beside the notebook way (pandas reads the
image table, robust z per plate, a threshold).

    python benchmarks/bench_fields.py [--cells 1000000] [--fields 3300]

Prints JSON: field QC from columns (open + one row per field + rules), the
pandas notebook doing the same, and pixel measures in fields per second per
core on the real NF1 plate in ../shared/data (5 fields × 3 channels of
904×1224 uint16 TIFFs, read from local disk, one worker and all cores).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _util import emit, run_child  # noqa: E402

CHANNELS = ("DNA", "ER", "RNA", "AGP", "Mito")


def write_plate(path: Path, cells: int, fields: int) -> None:
    """A profile table whose rows carry their field's image measures, as
    CytoTable joins CellProfiler's image table onto every cell."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    per_field = {
        f"Image_ImageQuality_{m}_{ch}": rng.normal(loc, 0.1, fields)
        for ch in CHANNELS
        for m, loc in (("PowerLogLogSlope", -2.0), ("PercentMaximal", 0.01))
    }
    step = 100_000
    with pq.ParquetWriter(path, _schema()) as writer:
        for start in range(0, cells, step):
            n = min(step, cells - start)
            index = np.arange(start, start + n)
            field = index * fields // cells
            cols: dict[str, Any] = {
                "Metadata_Plate": pa.array(["P1"] * n),
                "Metadata_Well": pa.array([f"W{f // 9:04d}" for f in field]),
                "Metadata_Site": (field % 9 + 1).astype(np.int64),
                "Metadata_ImageNumber": (field + 1).astype(np.int64),
                "Nuclei_Number_Object_Number": (index + 1).astype(np.int64),
            }
            for name, values in per_field.items():
                cols[name] = values[field]
            cols["Nuclei_AreaShape_Area"] = rng.normal(300, 30, n)
            writer.write_table(pa.table(cols, schema=_schema()))


def _schema() -> Any:
    import pyarrow as pa

    fields = [
        pa.field("Metadata_Plate", pa.string()),
        pa.field("Metadata_Well", pa.string()),
        pa.field("Metadata_Site", pa.int64()),
        pa.field("Metadata_ImageNumber", pa.int64()),
        pa.field("Nuclei_Number_Object_Number", pa.int64()),
    ]
    fields += [
        pa.field(f"Image_ImageQuality_{m}_{ch}", pa.float64())
        for ch in CHANNELS
        for m in ("PowerLogLogSlope", "PercentMaximal")
    ]
    return pa.schema([*fields, pa.field("Nuclei_AreaShape_Area", pa.float64())])


def columns_child(path: str) -> None:
    from _util import PeakRSS

    from arrowscope import open_profiles
    from arrowscope.core.profiles.fields import level_qc

    with PeakRSS() as peak:
        t0 = time.perf_counter()
        table, result = level_qc(open_profiles(path), "field")
        seconds = time.perf_counter() - t0
    print(
        __import__("json").dumps(
            {
                "seconds": round(seconds, 3),
                "peak_mib": round(peak.peak_mib, 1),
                "fields": table.num_rows,
                "flagged": int(result.mask().sum()),
            }
        )
    )


def pandas_child(path: str) -> None:
    """The notebook: read the image columns, one row per field, robust z per
    plate, a threshold per channel."""
    import json

    from _util import PeakRSS

    with PeakRSS() as peak:
        t0 = time.perf_counter()
        import pandas as pd

        keys = ["Metadata_Plate", "Metadata_Well", "Metadata_Site"]
        measures = [f"Image_ImageQuality_PowerLogLogSlope_{ch}" for ch in CHANNELS]
        frame = pd.read_parquet(path, columns=[*keys, *measures])
        fields = frame.groupby(keys, as_index=False).first()
        flagged = 0
        for m in measures:
            grouped = fields.groupby("Metadata_Plate")[m]
            median = grouped.transform("median")
            mad = grouped.transform(lambda v: (v - v.median()).abs().median())
            flagged += int(((fields[m] - median) / (1.4826 * mad) < -3).sum())
        seconds = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "seconds": round(seconds, 3),
                "peak_mib": round(peak.peak_mib, 1),
                "fields": len(fields),
                "flagged": flagged,
            }
        )
    )


def pixels() -> dict[str, Any]:
    import arrowscope
    from arrowscope.core.profiles import fields as F

    shared = Path(__file__).resolve().parents[2] / "shared" / "data"
    source = shared / "nf1_cellpainting_shrunken"
    if not source.exists():
        return {"skipped": f"{source} is absent"}
    out: dict[str, Any] = {"fields": 5, "channels": 3, "plane": "904x1224 uint16"}
    with tempfile.TemporaryDirectory() as tmp:
        root = shutil.copytree(source, Path(tmp) / "nf1")
        path = root / "Plate_2_with_image_data_shrunken.parquet"
        # a page of 24 whole-field thumbnails, every channel, as the Fields
        # panel renders it (the planes read from disk each time)
        pt = arrowscope.open_profiles(path)
        rgb = [(0.0, 0.0, 1.0), (0.0, 1.0, 0.0), (1.0, 0.0, 0.0)]
        colors = dict(zip(pt.channel_names, rgb, strict=False))
        page = [i % 5 for i in range(24)]
        for workers in (1, 2):
            best = float("inf")
            for _ in range(3):
                t0 = time.perf_counter()
                F.field_thumbnails(pt, page, colors, None, 224, workers=workers)
                best = min(best, time.perf_counter() - t0)
            name = f"gallery page of 24 fields (3 channels), {workers} worker(s)"
            out[name] = {"seconds": round(best, 3)}
        for workers in (1, 2):
            best = float("inf")
            for _ in range(3):
                F._MEASURED.clear()
                pt = arrowscope.open_profiles(path)
                t0 = time.perf_counter()
                F.pixel_measures(pt, workers=workers)
                best = min(best, time.perf_counter() - t0)
            out[f"{workers} worker(s)"] = {
                "seconds": round(best, 3),
                "fields_per_s": round(5 / best, 1),
                "fields_per_s_per_core": round(5 / best / workers, 1),
                "planes_per_s": round(15 / best, 1),
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cells", type=int, default=1_000_000)
    parser.add_argument("--fields", type=int, default=3300)
    parser.add_argument("--child", nargs=2)
    args = parser.parse_args()
    if args.child:
        which, path = args.child
        (columns_child if which == "arrowscope" else pandas_child)(path)
        return
    figures: dict[str, Any] = {"cells": args.cells, "fields": args.fields}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "plate.parquet"
        write_plate(path, args.cells, args.fields)
        figures["from columns"] = {
            which: run_child(__file__, [which, str(path)], timeout_s=600)
            for which in ("arrowscope", "pandas")
        }
    figures["from pixels"] = pixels()
    emit(figures)


if __name__ == "__main__":
    main()
