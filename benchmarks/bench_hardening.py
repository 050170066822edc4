"""Hostile inputs: time and memory to open (or refuse) them, ours vs ome-arrow.

Each case is a small file whose metadata lies (a billion planes, a plane listed
twice, a missing plane, a 10^9-pixel-wide plane). Every open runs in a fresh,
bounded child process; the JSON printed holds, per case and reader, the wall
time, the child's peak RSS and what it answered (an error class, or pixels).

    python benchmarks/bench_hardening.py [--timeout 60]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import PeakRSS, emit, run_child  # noqa: E402

CASES = ("size_t_1e9", "size_z_1e9", "size_x_1e9", "plane_twice", "plane_missing")


def _record(case: str) -> dict:
    pm = {"type": "uint16", "size_t": 1, "size_c": 1, "size_z": 1}
    pm.update({"size_y": 64, "size_x": 64, "channels": [], "dimension_order": "XYZCT"})
    planes = [{"z": 0, "t": 0, "c": 0, "pixels": list(range(64 * 64))}]
    if case == "size_t_1e9":
        pm["size_t"] = 10**9
    elif case == "size_z_1e9":
        pm["size_z"] = 10**9
    elif case == "size_x_1e9":
        pm["size_x"] = 10**9
    elif case == "plane_twice":
        pm["size_c"] = 2
        planes = planes * 2
    elif case == "plane_missing":
        pm["size_c"] = 2
    return {
        "type": "ome.arrow",
        "version": "0.1.0",
        "id": case,
        "name": case,
        "image_type": None,
        "acquisition_datetime": None,
        "pixels_meta": pm,
        "chunk_grid": None,
        "chunks": [],
        "planes": planes,
        "masks": None,
    }


def write_case(folder: Path, case: str) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from arrowscope.core.images.schema import LIST_RECORD_TYPE

    path = folder / f"{case}.ome.parquet"
    table = pa.table({"ome_arrow": pa.array([_record(case)], LIST_RECORD_TYPE)})
    pq.write_table(table, path)
    return path


def child(reader: str, path: str) -> None:
    import json

    with PeakRSS() as mem:
        t0 = time.perf_counter()
        try:
            if reader == "arrowscope":
                import arrowscope

                img = arrowscope.open_image(path)
                plane = img.to_dask()[0, 0, 0].compute()
            else:
                from ome_arrow.export import to_numpy
                from ome_arrow.ingest import from_ome_parquet

                plane = to_numpy(from_ome_parquet(path))
            answer = f"pixels {tuple(plane.shape)}"
        except Exception as exc:  # what each reader says is the figure
            answer = f"{type(exc).__name__}: {str(exc)[:160]}"
        seconds = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "seconds": round(seconds, 4),
                "rss_mib": round(mem.mib, 1),
                "answer": answer,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--child", nargs=2)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    out: dict = {"timeout_s": args.timeout, "cases": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for case in CASES:
            path = write_case(Path(tmp), case)
            out["cases"][case] = {
                "file_kib": round(path.stat().st_size / 1024, 1),
                **{
                    reader: run_child(__file__, [reader, str(path)], args.timeout)
                    for reader in ("arrowscope", "ome-arrow")
                },
            }
    emit(out)


if __name__ == "__main__":
    main()
