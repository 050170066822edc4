"""Images in object storage, side by side: a profile table in a bucket naming
a 5-channel 1080x1080 site's TIFFs in the bucket (a JUMP-like layout), read
through arrowscope's links (pyarrow S3) and through fsspec's s3fs with its
defaults, against a moto S3 server on loopback, in one run.

Figures: opening the table (bytes, s), the first field shown (all five
channels, s), bytes fetched vs the five TIFFs, the next field warm (s).

    python benchmarks/bench_links.py [--fields 4]
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))
from _util import emit  # noqa: E402

CHANNELS = ("DNA", "ER", "RNA", "AGP", "Mito")
SHAPE = (1080, 1080)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fields", type=int, default=4)
    args = parser.parse_args()

    import dask.array  # noqa: F401 - imported by napari before any plane is shown
    import numpy as np
    import pyarrow as pa
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq
    import tifffile
    from moto.server import ThreadedMotoServer
    from tests.core.test_object_storage import Counting

    import arrowscope

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        fs = pafs.S3FileSystem(
            region="us-east-1",
            scheme="http",
            endpoint_override=f"127.0.0.1:{port}",
            allow_bucket_creation=True,
        )
        fs.create_dir("jump")
        rng = np.random.default_rng(0)
        sizes: dict[tuple[int, str], int] = {}
        rows = []
        for f in range(1, args.fields + 1):
            row = {
                "Metadata_Plate": "BR00000001",
                "Metadata_ImageNumber": f,
                "Nuclei_Number_Object_Number": 1,
                "Nuclei_Location_Center_X": 500.0,
                "Nuclei_Location_Center_Y": 500.0,
            }
            for ch in CHANNELS:
                buf = io.BytesIO()
                tifffile.imwrite(
                    buf, rng.integers(0, 4000, SHAPE, dtype=np.uint16), rowsperstrip=64
                )
                name = f"r01c01f{f:02d}p01-{ch}.tiff"
                with fs.open_output_stream(f"jump/images/BR00000001/{name}") as out:
                    out.write(buf.getvalue())
                sizes[f, ch] = len(buf.getvalue())
                row[f"Image_FileName_{ch}"] = name
                row[f"Image_PathName_{ch}"] = "s3://jump/images/BR00000001"
            rows.append(row)
        buf = io.BytesIO()
        pq.write_table(pa.Table.from_pylist(rows), buf)
        with fs.open_output_stream("jump/profiles/BR00000001.parquet") as out:
            out.write(buf.getvalue())
        query = f"endpoint_override=127.0.0.1:{port}&scheme=http&region=us-east-1"

        # -- arrowscope: the table and the images through its links
        import arrowscope.core.images.stores as stores

        counters: list[Counting] = []
        real = stores.resolve

        def counting(source, filesystem=None):  # type: ignore[no-untyped-def]
            got, path = real(source, filesystem)
            if got is None:
                return got, path
            counter = Counting(got)
            counters.append(counter)
            return pafs.PyFileSystem(counter), path

        stores.resolve = counting
        t0 = time.perf_counter()
        pt = arrowscope.open_profiles(
            f"s3://jump/profiles/BR00000001.parquet?{query}",
            image_root=f"s3://jump/images/?{query}",
        )
        pt.fields_of_view  # noqa: B018 - links attached
        open_s = time.perf_counter() - t0
        open_bytes = sum(c.bytes for c in counters)
        for c in counters:
            c.reset()
        t0 = time.perf_counter()
        first = [pt.channel_stack(ch)[0].compute() for ch in CHANNELS]
        first_s = time.perf_counter() - t0
        first_bytes = sum(c.bytes for c in counters)
        tiffs = sum(sizes[1, ch] for ch in CHANNELS)
        t0 = time.perf_counter()
        [pt.channel_stack(ch)[1].compute() for ch in CHANNELS]
        next_s = time.perf_counter() - t0
        stores.resolve = real

        # -- the same through fsspec's s3fs, its defaults (what scripts do)
        import s3fs

        s3 = s3fs.S3FileSystem(
            key="testing",
            secret="testing",
            client_kwargs={"endpoint_url": f"http://127.0.0.1:{port}"},
        )
        t0 = time.perf_counter()
        with s3.open("jump/profiles/BR00000001.parquet", "rb") as fh:
            table = pq.read_table(fh)
        s3_open_s = time.perf_counter() - t0

        def s3_field(row: int) -> float:
            t0 = time.perf_counter()
            for ch in CHANNELS:
                name = table.column(f"Image_FileName_{ch}")[row].as_py()
                with s3.open(f"jump/images/BR00000001/{name}", "rb") as fh:
                    tifffile.imread(fh)
            return time.perf_counter() - t0

        s3_first_s, s3_next_s = s3_field(0), s3_field(1)
        assert all(p.shape == SHAPE for p in first)
    finally:
        server.stop()
    emit(
        {
            "site": {"channels": len(CHANNELS), "shape": list(SHAPE)},
            "arrowscope": {
                "open_table_s": round(open_s, 3),
                "open_table_bytes": open_bytes,
                "first_field_s": round(first_s, 3),
                "first_field_bytes": first_bytes,
                "bytes_vs_tiffs": round(first_bytes / tiffs, 3),
                "next_field_warm_s": round(next_s, 3),
            },
            "fsspec_s3fs_defaults": {
                "open_table_s": round(s3_open_s, 3),
                "first_field_s": round(s3_first_s, 3),
                "next_field_s": round(s3_next_s, 3),
            },
        }
    )


if __name__ == "__main__":
    main()
