"""Stores side by side: open and random crop reads from Parquet, Lance and Vortex,
and requests/bytes against an S3-protocol server on loopback.

A table of N crops (3x128x128 uint16) with 50 feature columns is written once
per format; each figure comes from a fresh child process (cold caches), in
one run. ome-arrow's own Vortex reader is timed on the same Vortex file.

    python benchmarks/bench_stores.py [--crops 2000] [--reads 50]
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


def write_tables(folder: Path, n: int) -> dict[str, str]:
    import numpy as np
    import pyarrow as pa
    import vortex

    import arrowscope

    rng = np.random.default_rng(0)
    crops = [
        {"data": rng.integers(0, 4000, (3, 128, 128), dtype=np.uint16), "dims": "CYX"}
        for _ in range(n)
    ]
    features = pa.table({f"Cells_Feature_{i:02d}": rng.random(n) for i in range(50)})
    parquet = arrowscope.write_ome_table(
        folder / "crops.ome.parquet", {"crop": crops}, extra_columns=features
    )
    lance = arrowscope.write_ome_table(
        folder / "crops.lance", {"crop": crops}, extra_columns=features, format="lance"
    )
    table = arrowscope.open_source(parquet).table
    whole = pa.concat_tables(
        table.read_whole_group(g) for g in range(table.num_groups)
    ).combine_chunks()
    vortex.io.write(whole, str(folder / "crops.vortex"))
    return {
        "parquet": str(parquet),
        "lance": str(lance),
        "vortex": str(folder / "crops.vortex"),
    }


def child(reader: str, path: str, rows: str) -> None:
    picks = [int(r) for r in rows.split(",")]
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        if reader == "ome-arrow-vortex":
            import vortex
            from ome_arrow.export import to_numpy

            t_import = time.perf_counter() - t0
            t1 = time.perf_counter()
            f = vortex.open(path)
            t_open = time.perf_counter() - t1
            t2 = time.perf_counter()
            for r in picks:
                import pyarrow as pa

                idx = vortex.array(pa.array([r], pa.uint64()))
                arr = f.scan(projection=["crop"], indices=idx).read_all()
                record = arr.to_arrow_array().field("crop")[0].as_py()
                to_numpy(record)
        else:
            import arrowscope
            import arrowscope.core.images.image  # noqa: F401 - import apart from open

            t_import = time.perf_counter() - t0
            t1 = time.perf_counter()
            src = arrowscope.open_source(path)
            t_open = time.perf_counter() - t1
            t2 = time.perf_counter()
            for r in picks:
                src.image("crop", r).to_numpy()
        t_reads = time.perf_counter() - t2
    print(
        json.dumps(
            {
                "import_s": round(t_import, 3),
                "open_s": round(t_open, 4),
                "reads_s": round(t_reads, 4),
                "per_crop_ms": round(1000 * t_reads / len(picks), 2),
                "rss_mib": round(mem.mib, 1),
            }
        )
    )


def write_one_group(folder: Path, n: int, masks: bool = False) -> str:
    """N crops in ONE row group, as CytoDataFrame and ome-arrow write them;
    ``masks``: label crops, zeros but for one object each (they store a few
    kilobytes for hundreds of megabytes of pixels)."""
    import numpy as np
    import pyarrow.parquet as pq

    import arrowscope

    rng = np.random.default_rng(2)
    crops = []
    for i in range(n):
        if masks:
            data = np.zeros((3, 256, 256), np.uint16)
            data[:, 100:140, 100:150] = i + 1
        else:
            data = rng.integers(0, 4000, (3, 256, 256), dtype=np.uint16)
        crops.append({"data": data, "dims": "CYX"})
    name = "masks" if masks else "crops"
    staged = arrowscope.write_ome_table(folder / f"{name}.parquet", {"crop": crops})
    one = folder / f"one-group-{name}.ome.parquet"
    pq.write_table(pq.read_table(staged), one, row_group_size=10**9)
    return str(one)


def big_child(reader: str, path: str, row: str) -> None:
    """One crop from a one-row-group file: ours (cold, then the next crop warm)
    vs pyarrow reading that column chunk alone (the floor any reader pays)."""
    import pyarrow.parquet as pq

    import arrowscope
    import arrowscope.core.images.image  # noqa: F401 - import apart from the read

    r = int(row)
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        if reader == "pyarrow-column-chunk":
            pq.ParquetFile(path).read_row_group(0, columns=["crop"])
            warm = None
        else:
            src = arrowscope.open_source(path)
            src.image("crop", r).to_numpy()
            t1 = time.perf_counter()
            src.image("crop", r + 1).to_numpy()
            warm = time.perf_counter() - t1
        seconds = (time.perf_counter() - t0) - (warm or 0.0)
    figures = {"seconds": round(seconds, 3), "rss_mib": round(mem.mib, 1)}
    if warm is not None:
        figures["next_crop_ms"] = round(1000 * warm, 1)
    print(json.dumps(figures))


def s3_figures(parquet: str) -> dict:
    """Requests and bytes to open the table and show one crop, over S3."""
    sys.path.insert(0, str(Path(__file__).parents[1]))  # the repository's tests
    import logging

    import pyarrow.fs as pafs
    from moto.server import ThreadedMotoServer
    from tests.core.test_object_storage import Counting  # the tests' counting wrapper

    import arrowscope
    from arrowscope.core.images import cache

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        port = server._server.server_port  # noqa: SLF001 - the bound port
        fs = pafs.S3FileSystem(
            access_key="x",
            secret_key="x",
            region="us-east-1",
            scheme="http",
            endpoint_override=f"127.0.0.1:{port}",
            allow_bucket_creation=True,
        )
        fs.create_dir("bench")
        with open(parquet, "rb") as src, fs.open_output_stream("bench/c.parquet") as d:
            d.write(src.read())
        counting = Counting(fs)
        cache.ROW_GROUP_CACHE.clear()
        source = arrowscope.open_source(
            "bench/c.parquet", filesystem=pafs.PyFileSystem(counting)
        )
        opened = {"requests": counting.requests, "bytes": counting.bytes}
        counting.reset()
        source.image("crop", 1234 % source.num_rows).to_numpy()
        crop = {"requests": counting.requests, "bytes": counting.bytes}
        import pyarrow.parquet as pq

        meta = pq.read_metadata(parquet)
        group, _ = source.table.locate(1234 % source.num_rows)
        rg = meta.row_group(group)
        return {
            "open": opened,
            "footer_bytes": meta.serialized_size,
            "one_crop": crop,
            "its_row_group_bytes": sum(
                rg.column(i).total_compressed_size for i in range(rg.num_columns)
            ),
            "chunk_dataset_plane": _dataset_plane(fs, counting, Path(parquet).parent),
        }
    finally:
        server.stop()


def _dataset_plane(fs, counting, folder: Path) -> dict:
    """Bytes to show one 1024x1024 plane of an 8-plane chunk dataset (256 px tiles)."""
    import numpy as np
    import pyarrow.fs as pafs

    import arrowscope
    from arrowscope.core.images import cache

    data = np.random.default_rng(3).integers(0, 60000, (8, 1024, 1024), np.uint16)
    local = arrowscope.write_ome_parquet(
        folder / "stack.ome.parquet", data, dims="ZYX", layout="dataset", tile=256
    )
    for f in sorted(local.iterdir()):
        if f.is_file():
            with (
                open(f, "rb") as src,
                fs.open_output_stream(f"bench/stack/{f.name}") as d,
            ):
                d.write(src.read())
    cache.ROW_GROUP_CACHE.clear()
    counting.reset()
    img = arrowscope.open_image("bench/stack", filesystem=pafs.PyFileSystem(counting))
    opened = {"requests": counting.requests, "bytes": counting.bytes}
    counting.reset()
    img.to_dask()[0, 0, 5].compute()
    return {
        "open": opened,
        "one_plane": {"requests": counting.requests, "bytes": counting.bytes},
        "plane_pixel_bytes": 1024 * 1024 * 2,
        "dataset_bytes": sum(f.stat().st_size for f in local.iterdir() if f.is_file()),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--crops", type=int, default=2000)
    parser.add_argument("--reads", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--big-crops", type=int, default=600)
    parser.add_argument("--child", nargs="+")
    args = parser.parse_args()
    if args.child:
        if args.child[0] == "big":
            big_child(*args.child[1:])
        else:
            child(*args.child)
        return
    import numpy as np

    picks = np.random.default_rng(1).choice(args.crops, args.reads, replace=False)
    rows = ",".join(str(int(r)) for r in picks)
    out: dict = {"crops": args.crops, "random_reads": args.reads, "stores": {}}
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_tables(Path(tmp), args.crops)
        for name, path in paths.items():
            out["stores"][f"arrowscope {name}"] = run_child(
                __file__, ["arrowscope", path, rows], args.timeout
            )
        out["stores"]["ome-arrow vortex"] = run_child(
            __file__, ["ome-arrow-vortex", paths["vortex"], rows], args.timeout
        )
        p, lance = (
            out["stores"]["arrowscope parquet"],
            out["stores"]["arrowscope lance"],
        )
        if "reads_s" in p and "reads_s" in lance:
            out["lance_vs_parquet_random_reads"] = round(
                p["reads_s"] / max(lance["reads_s"], 1e-9), 2
            )
        out["s3"] = s3_figures(paths["parquet"])
        row = str(args.big_crops // 2)
        for key, masks in (("one_row_group", False), ("one_row_group_masks", True)):
            one = write_one_group(Path(tmp), args.big_crops, masks=masks)
            out[key] = {
                "crops": args.big_crops,
                "stored_mb": round(Path(one).stat().st_size / 1e6, 2),
                "arrowscope one crop": run_child(
                    __file__, ["big", "arrowscope", one, row], args.timeout
                ),
                "pyarrow column chunk alone": run_child(
                    __file__, ["big", "pyarrow-column-chunk", one, row], args.timeout
                ),
            }
    emit(out)


if __name__ == "__main__":
    main()
