"""Tables in object storage, against a real S3-protocol server on 127.0.0.1.

``moto[server]`` runs in this process on a free loopback port; arrowscope
reads through ``pyarrow.fs.S3FileSystem``, never a patched client. Requests
and bytes are counted by a wrapper filesystem between pyarrow and S3.
"""

from __future__ import annotations

import socket

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pytest

import arrowscope
from arrowscope.core import cache

moto_server = pytest.importorskip("moto.server")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3():
    port = _free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    fs = pafs.S3FileSystem(
        access_key="testing",
        secret_key="testing",
        region="us-east-1",
        scheme="http",
        endpoint_override=f"127.0.0.1:{port}",
        allow_bucket_creation=True,
    )
    fs.create_dir("cells")
    yield fs, port
    server.stop()


class Counting(pafs.FileSystemHandler):
    """Delegates to a filesystem, counting reads and bytes of opened files."""

    def __init__(self, fs):
        self.fs = fs
        self.requests = 0
        self.bytes = 0

    def reset(self):
        self.requests = self.bytes = 0

    def open_input_file(self, path):
        return pa.PythonFile(_CountingFile(self, self.fs.open_input_file(path)), "r")

    def get_file_info(self, paths):
        self.requests += len(paths)
        return self.fs.get_file_info(paths)

    def get_type_name(self):
        return "counting"

    def __eq__(self, other):
        return self is other

    def __ne__(self, other):
        return self is not other

    def normalize_path(self, path):
        return path

    def get_file_info_selector(self, selector):
        return self.fs.get_file_info(selector)

    def open_input_stream(self, path):
        return self.fs.open_input_stream(path)

    def create_dir(self, *a, **k): ...
    def delete_dir(self, *a, **k): ...
    def delete_dir_contents(self, *a, **k): ...
    def delete_root_dir_contents(self, *a, **k): ...
    def delete_file(self, *a, **k): ...
    def move(self, *a, **k): ...
    def copy_file(self, *a, **k): ...
    def open_output_stream(self, *a, **k): ...
    def open_append_stream(self, *a, **k): ...


class _CountingFile:
    def __init__(self, owner, inner):
        self.owner, self.inner = owner, inner
        self.closed = False

    def read(self, n=-1):
        data = self.inner.read(n)
        self.owner.requests += 1
        self.owner.bytes += len(data)
        return data

    def seek(self, pos, whence=0):
        return self.inner.seek(pos, whence)

    def tell(self):
        return self.inner.tell()

    def size(self):
        return self.inner.size()

    def seekable(self):
        return True

    def readable(self):
        return True

    def close(self):
        self.closed = True
        self.inner.close()


def _upload(fs, local, key):
    with open(local, "rb") as src, fs.open_output_stream(key) as dst:
        dst.write(src.read())


@pytest.fixture(scope="module")
def crops(tmp_path_factory, s3):
    import arrowscope.core.writer as writer

    fs, _ = s3
    rng = np.random.default_rng(7)
    images = [rng.integers(0, 4000, (3, 64, 64), dtype=np.uint16) for _ in range(40)]
    local = tmp_path_factory.mktemp("s3") / "crops.ome.parquet"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(writer, "ROW_GROUP_BYTES", 4 * images[0].nbytes)  # 10 groups
        arrowscope.write_ome_table(
            local,
            {"crop": [{"data": im, "dims": "CYX"} for im in images]},
            extra_columns={"Metadata_Cell": list(range(40))},
        )
    _upload(fs, local, "cells/crops.ome.parquet")
    return images, local


def test_uri_opens_and_reads_exactly(s3, crops):
    _, port = s3
    images, _ = crops
    uri = (
        f"s3://cells/crops.ome.parquet?endpoint_override=127.0.0.1:{port}"
        "&scheme=http&region=us-east-1"
    )
    import os

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    img = arrowscope.open_image(uri, "crop", 17)
    assert np.array_equal(img.to_numpy()[0, :, 0], images[17])
    assert len(arrowscope.list_images(uri)) == 40


def test_open_reads_the_footer_and_one_crop_its_group(s3, crops):
    fs, _ = s3
    images, local = crops
    import pyarrow.parquet as pq

    counting = Counting(fs)
    wrapped = pafs.PyFileSystem(counting)
    cache.ROW_GROUP_CACHE.clear()
    src = arrowscope.open_source("cells/crops.ome.parquet", filesystem=wrapped)
    footer = pq.read_metadata(local).serialized_size
    open_requests, open_bytes = counting.requests, counting.bytes
    assert open_requests <= 3  # file info, magic bytes, footer
    assert open_bytes <= footer + 64 * 1024 + 8
    counting.reset()
    img = src.image("crop", 22)
    pixels = img.to_numpy()
    assert np.array_equal(pixels[0, :, 0], images[22])
    meta = pq.read_metadata(local)
    group, _ = src.table.locate(22)
    rg = meta.row_group(group)
    group_bytes = sum(rg.column(i).total_compressed_size for i in range(rg.num_columns))
    assert counting.bytes <= 1.1 * group_bytes
    assert counting.requests <= 3  # column chunks coalesced into few range reads
