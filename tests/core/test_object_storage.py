"""Tables in object storage, against a real S3-protocol server on 127.0.0.1.

``moto[server]`` runs in this process on a free loopback port; arrowscope
reads through ``pyarrow.fs.S3FileSystem``, never a patched client. Requests
and bytes are counted by a wrapper filesystem between pyarrow and S3.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pytest

import arrowscope
from arrowscope.core.images import cache
from tests.conftest import upload as _upload


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


def test_uri_opens_and_reads_exactly(s3, crops, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    _, port = s3
    images, _ = crops
    uri = (
        f"s3://cells/crops.ome.parquet?endpoint_override=127.0.0.1:{port}"
        "&scheme=http&region=us-east-1"
    )
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


def test_cli_info_and_convert_take_uris(crops, tmp_path, capsys, s3_uri):
    from arrowscope.app.cli import main

    images, _ = crops
    uri = s3_uri("cells/crops.ome.parquet")
    assert main(["info", uri]) == 0
    assert "crop: 40 images" in capsys.readouterr().out
    out = tmp_path / "local.ome.parquet"
    assert main(["convert", uri, str(out)]) == 0
    assert np.array_equal(
        arrowscope.open_image(out, "crop", 39).to_numpy()[0, :, 0], images[39]
    )
    assert main(["convert", str(out), "s3://cells/back.ome.parquet"]) == 1


def test_profile_table_in_a_bucket(s3, tmp_path, monkeypatch):
    from arrowscope import qc

    fs, port = s3
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    table = pa.table(
        {
            "Metadata_ImageNumber": [1, 1, 2],
            "Nuclei_Number_Object_Number": [1, 2, 1],
            "Nuclei_AreaShape_Area": [10.0, 11.0, 300.0],
        }
    )
    import pyarrow.parquet as pq

    pq.write_table(table, tmp_path / "p.parquet")
    with (
        open(tmp_path / "p.parquet", "rb") as src,
        fs.open_output_stream("cells/profiles.parquet") as dst,
    ):
        dst.write(src.read())
    uri = (
        f"s3://cells/profiles.parquet?endpoint_override=127.0.0.1:{port}"
        "&scheme=http&region=us-east-1"
    )
    pt = arrowscope.open_profiles(uri)
    assert pt.num_rows == 3 and pt.keys.image == ["Metadata_ImageNumber"]
    got = pt.read(["Nuclei_AreaShape_Area"])
    assert got.column(0).to_pylist() == [10.0, 11.0, 300.0]
    mask = qc.filter_rows(got, [("Nuclei_AreaShape_Area", ">", 100)])
    assert mask.tolist() == [False, False, True]


def test_chunk_dataset_in_a_bucket_reads_one_plane_by_its_chunks(s3, tmp_path):
    import pyarrow.parquet as pq

    fs, _ = s3
    rng = np.random.default_rng(9)
    data = rng.integers(0, 60000, (6, 256, 256), dtype=np.uint16)
    local = arrowscope.write_ome_parquet(
        tmp_path / "stack.ome.parquet", data, dims="ZYX", layout="dataset", tile=128
    )
    for f in sorted(local.iterdir()):
        if f.is_file():
            _upload(fs, f, f"cells/stack.ome.parquet/{f.name}")
    counting = Counting(fs)
    wrapped = pafs.PyFileSystem(counting)
    cache.ROW_GROUP_CACHE.clear()
    img = arrowscope.open_image("cells/stack.ome.parquet", filesystem=wrapped)
    assert img.shape == (1, 1, 6, 256, 256)
    counting.reset()
    plane = img.to_dask()[0, 0, 4].compute()
    assert np.array_equal(plane, data[4])
    chunks = pq.ParquetFile(local / "chunks.parquet")
    per_chunk = max(
        chunks.metadata.row_group(g).total_byte_size
        for g in range(chunks.num_row_groups)
    )
    footer = chunks.metadata.serialized_size
    # four 128x128 tiles of one plane (of 24 stored), plus the chunk file's
    # footer on the first read (pyarrow reads footers in 64 KiB tails)
    assert counting.bytes <= 4 * per_chunk * 1.1 + footer + 64 * 1024
    assert counting.bytes < (local / "chunks.parquet").stat().st_size / 2


def test_profile_table_and_its_linked_image_table_in_a_bucket(
    s3, tmp_path, monkeypatch
):
    from arrowscope.core.profiles.synthetic import write_demo_plate

    fs, port = s3
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    files = write_demo_plate(tmp_path / "demo", n_fields=2, size=(64, 64))
    for name in ("profiles.parquet", "plate.ome.parquet"):
        _upload(fs, files["profiles"].parent / name, f"cells/demo/{name}")
    query = f"?endpoint_override=127.0.0.1:{port}&scheme=http&region=us-east-1"
    remote = arrowscope.open_profiles(f"s3://cells/demo/profiles.parquet{query}")
    local = arrowscope.open_profiles(files["profiles"])
    assert remote.options()["images"].startswith("s3://cells/demo/plate.ome.parquet?")
    assert len(remote.fields_of_view) == len(local.fields_of_view) == 2
    assert np.array_equal(
        remote.channel_stack("DNA")[1].compute(),
        local.channel_stack("DNA")[1].compute(),
    )
    assert remote.link_report()["rows_without_image"] == 0


def test_public_bucket_with_anonymous_access(s3, crops, monkeypatch):
    _, port = s3
    images, _ = crops
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    uri = (
        f"s3://cells/crops.ome.parquet?anonymous=true&endpoint_override=127.0.0.1:{port}"
        "&scheme=http&region=us-east-1"
    )
    img = arrowscope.open_image(uri, "crop", 5)
    assert np.array_equal(img.to_numpy()[0, :, 0], images[5])
    with pytest.raises(arrowscope.ArrowscopeError, match="unsupported S3 URI options"):
        arrowscope.open_image(uri + "&color=blue")
