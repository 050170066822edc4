"""Write throughput (MB/s) for a 1×3×64×1024×1024 layer: arrowscope vs ome-arrow vs raw.

Run: python benchmarks/bench_writer.py  (prints JSON; needs ome-arrow==0.1.0)
arrowscope writes through the napari writer path (chunk dataset, the default above
256 MiB) from a dask array; ome-arrow exports the same numpy array with its
dataset writer; the raw limit is pyarrow.parquet.write_table of the same bytes, with
its defaults and with the settings arrowscope uses for pixel columns (no dictionary,
no statistics).
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
from _util import emit, timed  # noqa: E402

SHAPE = (1, 3, 64, 1024, 1024)


def main() -> None:
    warnings.simplefilter("ignore")
    import dask.array as da
    import ome_arrow

    from arrowscope._napari.writer import write_image

    tmp = Path(tempfile.mkdtemp())
    out: dict[str, object] = {"shape": "x".join(map(str, SHAPE))}
    # warm both tools up (imports, first-use setup) so that only writing is timed
    small = np.zeros((1, 1, 2, 64, 64), np.uint16)
    warm_meta = {"name": "w", "axis_labels": ("c", "z", "y", "x"), "metadata": {}}
    write_image(str(tmp / "warm.ome.parquet"), da.from_array(small[0]), warm_meta)
    ome_arrow.write_ome_arrow_dataset(
        [small], tmp / "warm_ref", chunk_shape=(1, 1, 1, 64, 64)
    )
    rng = np.random.default_rng(0)
    for dtype in ("uint16", "float32"):
        data = rng.integers(0, 4096, SHAPE, dtype=np.uint16).astype(dtype)
        mb = data.nbytes / 1e6
        lazy = da.from_array(data, chunks=(1, 1, 1, 1024, 1024))
        meta = {
            "name": "stack",
            "scale": (1.0, 0.5, 0.5, 0.5),
            "axis_labels": ("c", "z", "y", "x"),
            "units": ("pixel", "µm", "µm", "µm"),
            "colormap": "gray",
            "metadata": {},
        }
        t_ours, _ = timed(
            lambda: write_image(str(tmp / f"ours_{dtype}.ome.parquet"), lazy[0], meta)
        )
        t_ref, _ = timed(
            lambda: ome_arrow.write_ome_arrow_dataset(
                [data], tmp / f"ref_{dtype}", chunk_shape=(1, 1, 1, 1024, 1024)
            )
        )
        flat = pa.table(
            {
                "pixel_bytes": pa.array(
                    [data[0, c, z].tobytes() for c in range(3) for z in range(64)],
                    pa.large_binary(),
                )
            }
        )
        t_raw, _ = timed(
            lambda: pq.write_table(
                flat, tmp / f"raw_{dtype}.parquet", compression="zstd", row_group_size=1
            )
        )
        # the same bytes with the settings arrowscope uses for pixel columns
        t_tuned, _ = timed(
            lambda: pq.write_table(
                flat,
                tmp / f"raw_tuned_{dtype}.parquet",
                compression="zstd",
                row_group_size=1,
                use_dictionary=False,
                write_statistics=False,
            )
        )
        out[dtype] = {
            "MB": round(mb),
            "arrowscope_MBps": round(mb / t_ours),
            "ome_arrow_MBps": round(mb / t_ref),
            "raw_write_table_MBps": round(mb / t_raw),
            "speedup_vs_ome_arrow": round(t_ref / t_ours, 2),
            "vs_raw_limit": round(t_ours / t_raw, 2),
            "raw_tuned_MBps": round(mb / t_tuned),
            "vs_raw_tuned": round(t_ours / t_tuned, 2),
        }
    emit(out)


if __name__ == "__main__":
    main()
