"""Every table arrowscope writes — not only images — carries page checksums
that reads verify, and replacing one is atomic: a write that fails midway
leaves the previous file, byte for byte."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

import arrowscope
from arrowscope.core.errors import ArrowscopeError
from arrowscope.core.images.parquet import read_parquet
from arrowscope.core.profiles.crops import write_crop_table
from arrowscope.core.profiles.marks import open_marks
from arrowscope.core.profiles.qc import compute_flags, write_annotations, write_cleaned
from arrowscope.core.profiles.synthetic import write_demo_plate


@pytest.fixture
def plate(tmp_path):
    files = write_demo_plate(tmp_path / "demo", n_fields=2, size=(96, 96))
    table = pq.read_table(files["profiles"])
    return files, table, compute_flags(table)


def _corrupt_last_page(path):
    """Flip a byte inside the last data page of the largest column chunk."""
    md = pq.read_metadata(path)
    chunks = [md.row_group(0).column(i) for i in range(md.num_columns)]
    col = max(chunks, key=lambda c: c.total_compressed_size)
    start = col.dictionary_page_offset or col.data_page_offset
    end = start + col.total_compressed_size
    raw = bytearray(path.read_bytes())
    raw[end - 2] ^= 0xFF
    path.write_bytes(bytes(raw))


def _keys(table):
    from arrowscope.core.profiles.batch import annotation_keys

    return table.select(annotation_keys(table.schema))


def _written(kind, files, table, flags, out):
    if kind == "annotations":
        return write_annotations(out, _keys(table), flags)
    if kind == "cleaned":
        return write_cleaned(files["profiles"], out, ~flags.mask())
    if kind == "cleaned from a table":
        return write_cleaned(table, out, ~flags.mask())
    if kind == "crops":
        pt = arrowscope.open_profiles(files["profiles"])
        return write_crop_table(pt, out, rows=[0, 1, 2])
    if kind == "marks":
        marks = open_marks(files["profiles"], out)
        keys = _keys(table).slice(0, 3).to_pylist()
        marks.set_many(keys, "reject")
        return marks.path
    if kind == "qc table":
        from tests import warehouses

        root = warehouses.relayout(out.parent / "wh", "parquet")
        w = arrowscope.open_warehouse(root)
        keys, result = w.run_qc()
        w.write_quality_control("run1", keys, result)
        return root / "quality_control.run1.parquet"
    raise AssertionError(kind)


KINDS = ["annotations", "cleaned", "cleaned from a table", "crops", "marks", "qc table"]


@pytest.mark.parametrize("kind", KINDS)
def test_every_written_table_has_page_checksums(plate, tmp_path, kind):
    files, table, flags = plate
    path = _written(kind, files, table, flags, tmp_path / f"{kind}.parquet")
    read_parquet(path)  # reads cleanly first
    _corrupt_last_page(path)
    with pytest.raises(OSError, match="(?i)crc|checksum"):
        read_parquet(path)


def test_an_iceberg_qc_table_is_written_with_checksums(tmp_path):
    pytest.importorskip("pyiceberg")
    from tests import warehouses

    warehouses.data_files(tmp_path / "wh", np.random.default_rng(2))
    warehouses.to_iceberg(tmp_path / "wh")
    w = arrowscope.open_warehouse(tmp_path / "wh")
    keys, result = w.run_qc()
    table = w.write_quality_control("run1", keys, result)
    (data,) = [f for f in table.iceberg.files() if str(f).endswith(".parquet")]
    path = __import__("pathlib").Path(str(data).removeprefix("file://"))
    read_parquet(path)
    _corrupt_last_page(path)
    with pytest.raises(OSError, match="(?i)crc|checksum"):
        read_parquet(path)


# -- atomic replaces -------------------------------------------------------------
def _fail_midway(monkeypatch):
    """Make the one Parquet writer write half a file, then hit a full disk."""
    import arrowscope.core.images.parquet as parquet

    real = parquet.write_parquet

    def half_then_full(table, path, **kw):
        real(table.slice(0, max(1, table.num_rows // 2)), path, **kw)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(parquet, "write_parquet", half_then_full)


def test_verdicts_are_saved_atomically(plate, tmp_path, monkeypatch):
    files, table, _ = plate
    marks = open_marks(files["profiles"], tmp_path / "marks.parquet")
    keys = _keys(table).to_pylist()
    marks.set_many(keys[:2], "reject")
    before = marks.path.read_bytes()
    _fail_midway(monkeypatch)
    with pytest.raises(ArrowscopeError, match="the last saved marks are kept"):
        marks.set_many(keys[2:4], "keep")
    assert marks.path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    monkeypatch.undo()
    again = open_marks(files["profiles"], marks.path)
    assert len(again) == 2 and again.get(keys[0]) == "reject"


def test_the_registry_is_replaced_last_and_atomically(tmp_path, monkeypatch):
    pytest.importorskip("pyiceberg")
    import arrowscope.core.images.atomic as atomic
    from tests import warehouses

    warehouses.data_files(tmp_path / "wh", np.random.default_rng(2))
    registry = warehouses.to_iceberg(tmp_path / "wh")
    w = arrowscope.open_warehouse(tmp_path / "wh")
    keys, result = w.run_qc()
    before = registry.read_bytes()
    real_replace = atomic.os.replace

    def fail_on_the_registry(src, dst, *a, **kw):
        if str(dst) == str(registry):
            raise OSError(28, "No space left on device")
        return real_replace(src, dst, *a, **kw)

    monkeypatch.setattr(atomic.os, "replace", fail_on_the_registry)
    with pytest.raises(ArrowscopeError):
        w.write_quality_control("run1", keys, result)
    monkeypatch.undo()
    # the registry is as it was: the table the failed run wrote is not listed,
    # and the warehouse opens as before
    assert registry.read_bytes() == before
    reopened = arrowscope.open_warehouse(tmp_path / "wh")
    assert "quality_control.run1" not in [t.identifier for t in reopened.tables]
    assert not [p for p in registry.parent.iterdir() if ".arrowscope-" in p.name]
