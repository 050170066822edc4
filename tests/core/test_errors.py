"""Bad input gets a clear, typed error naming the file, column and row."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import arrowscope
from arrowscope.core import (
    CorruptFileError,
    ImageNotFoundError,
    NotOmeArrowError,
    PixelDataError,
    SchemaError,
    UnsupportedError,
    WriteError,
)
from arrowscope.core.images.schema import LIST_RECORD_TYPE
from tests.records import ome_record, plane


@pytest.fixture
def good(tmp_path):
    data = np.arange(2 * 8 * 8, dtype=np.uint16).reshape(2, 8, 8)
    return arrowscope.write_ome_parquet(
        tmp_path / "good.ome.parquet", data, dims="CYX"
    ), data


def _record(data: np.ndarray, **pixels_meta) -> dict:
    T, C, Z, Y, X = data.shape
    planes = [plane(c=c, values=data[0, c, 0].ravel().tolist()) for c in range(C)]
    sizes = {"size_t": T, "size_c": C, "size_z": Z, "size_y": Y, "size_x": X}
    return ome_record(planes, **sizes, **pixels_meta)


def test_truncated_file(tmp_path, good):
    path, _ = good
    cut = tmp_path / "cut.ome.parquet"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CorruptFileError, match="cut.ome.parquet"):
        arrowscope.open_image(cut)


def test_foreign_file_and_plain_table(tmp_path):
    (tmp_path / "notes.parquet").write_text("hello")
    with pytest.raises(CorruptFileError, match="magic"):
        arrowscope.open_image(tmp_path / "notes.parquet")
    pq.write_table(pa.table({"a": [1, 2]}), tmp_path / "plain.parquet")
    with pytest.raises(NotOmeArrowError, match="plain.parquet.*no OME-Arrow"):
        arrowscope.open_image(tmp_path / "plain.parquet")
    with pytest.raises(CorruptFileError, match="no such file"):
        arrowscope.open_image(tmp_path / "missing.parquet")


def test_struct_missing_required_fields(tmp_path, good):
    _, data = good
    rec = _record(data[None, :, None])
    table = pa.table(
        {
            "ok": pa.array([rec], LIST_RECORD_TYPE),
            "broken": pa.array([{"type": "ome.arrow", "pixels_meta": {"size_x": 1}}]),
        }
    )
    pq.write_table(table, tmp_path / "t.parquet")
    with pytest.raises(SchemaError, match=r"column 'broken'.*'planes or chunks'"):
        arrowscope.open_image(tmp_path / "t.parquet", "broken")
    with pytest.raises(ImageNotFoundError, match="column 'nope'"):
        arrowscope.open_image(tmp_path / "t.parquet", "nope")
    with pytest.raises(ImageNotFoundError, match="row 5 is out of range"):
        arrowscope.open_image(tmp_path / "t.parquet", "ok", row=5)


def test_wrong_pixel_length_names_plane(tmp_path, good):
    _, data = good
    rec = _record(data[None, :, None])
    rec["planes"][1]["pixels"] = rec["planes"][1]["pixels"][:-3]
    pq.write_table(
        pa.table({"img": pa.array([rec], LIST_RECORD_TYPE)}), tmp_path / "bad.parquet"
    )
    img = arrowscope.open_image(tmp_path / "bad.parquet")  # metadata is fine
    with pytest.raises(
        PixelDataError,
        match=r"bad.parquet: column 'img': row 0: plane 1 .*61 pixels, expected 64",
    ):
        img.to_numpy()


def test_values_that_do_not_fit_the_declared_type(tmp_path, good):
    _, data = good
    rec = _record(data[None, :, None] * 300, type="uint8")
    pq.write_table(
        pa.table({"img": pa.array([rec], LIST_RECORD_TYPE)}), tmp_path / "bad.parquet"
    )
    with pytest.raises(PixelDataError, match="do not fit the declared type uint8"):
        arrowscope.open_image(tmp_path / "bad.parquet").to_numpy()


def test_unknown_dtype(tmp_path, good):
    _, data = good
    rec = _record(data[None, :, None], type="complex-ish")
    pq.write_table(
        pa.table({"img": pa.array([rec], LIST_RECORD_TYPE)}), tmp_path / "bad.parquet"
    )
    with pytest.raises(UnsupportedError, match="unknown pixel type 'complex-ish'"):
        arrowscope.open_image(tmp_path / "bad.parquet")


def test_unknown_codec(tmp_path):
    data = np.ones((1, 1, 1, 4, 4), np.float32)
    path = arrowscope.write_ome_parquet(tmp_path / "f.ome.parquet", data)
    table = pq.read_table(path)
    rec = table.column("ome_arrow")[0].as_py()
    rec["chunks"][0]["compression"] = "snazzy"
    pq.write_table(
        pa.table({"ome_arrow": pa.array([rec], table.schema.field("ome_arrow").type)}),
        path,
    )
    with pytest.raises(UnsupportedError, match="unknown compression 'snazzy'"):
        arrowscope.open_image(path).to_numpy()


def test_unsupported_dtype_on_write(tmp_path):
    with pytest.raises(UnsupportedError, match="complex128"):
        arrowscope.write_ome_parquet(
            tmp_path / "c.ome.parquet", np.zeros((4, 4), complex), dims="YX"
        )
    assert not list(tmp_path.iterdir())


def test_write_failure_keeps_existing_file_and_leaves_no_temporary(
    tmp_path, good, monkeypatch
):
    path, data = good
    before = path.read_bytes()
    from arrowscope.core.images import codec

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(codec, "encode_list_record", boom)
    monkeypatch.setattr("arrowscope.core.images.writer.encode_list_record", boom)
    with pytest.raises(
        WriteError, match="No space left on device.*free some disk space"
    ):
        arrowscope.write_ome_parquet(path, data, dims="CYX")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.ome.parquet"]


def test_dataset_write_failure_midstream_keeps_old_folder(tmp_path):
    da = pytest.importorskip("dask.array")
    old = arrowscope.write_ome_parquet(
        tmp_path / "d.ome.parquet",
        np.ones((3, 32, 32), np.uint8),
        dims="ZYX",
        layout="dataset",
    )
    before = sorted(p.name for p in old.iterdir())

    def block(block_id=None):
        if block_id[2] == 2:
            raise RuntimeError("camera unplugged")
        return np.zeros((1, 1, 1, 32, 32), np.uint8)

    lazy = da.map_blocks(
        block,
        chunks=((1,), (1,), (1, 1, 1), (32,), (32,)),
        dtype=np.uint8,
        meta=np.empty((0,) * 5, np.uint8),
    )
    with pytest.raises(RuntimeError, match="camera unplugged"):
        arrowscope.write_ome_parquet(old, lazy, layout="dataset")
    assert sorted(p.name for p in old.iterdir()) == before
    assert np.all(arrowscope.open_image(old).to_numpy() == 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.ome.parquet"]


def test_unwritable_folder(tmp_path, monkeypatch):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    # root may write anywhere: make the permission check see what a user would.
    real_access = os.access
    monkeypatch.setattr(
        os,
        "access",
        lambda p, mode: False if str(p) == str(folder) else real_access(p, mode),
    )
    with pytest.raises(WriteError, match="not writable"):
        arrowscope.write_ome_parquet(
            folder / "x.ome.parquet", np.zeros((2, 2), np.uint8), dims="YX"
        )


def test_missing_folder(tmp_path):
    with pytest.raises(WriteError, match="does not exist"):
        arrowscope.write_ome_parquet(
            tmp_path / "no" / "x.ome.parquet", np.zeros((2, 2), np.uint8), dims="YX"
        )


def test_bad_dims(tmp_path):
    with pytest.raises(
        UnsupportedError, match="dims 'YX' name 2 axes but the array has 3"
    ):
        arrowscope.write_ome_parquet(
            tmp_path / "x.ome.parquet", np.zeros((2, 2, 2)), dims="YX"
        )
