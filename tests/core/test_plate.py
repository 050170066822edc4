"""The plate at a glance and cells judged by eye (Qt-free core)."""

from __future__ import annotations

import zlib

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import arrowscope
from arrowscope import qc


def _cells(n_per_well=5, wells=("A01", "A02", "B07", "P24")):
    rng = np.random.default_rng(0)
    rows = []
    for plate in ("P1", "P2"):
        for w in wells:
            for k in range(n_per_well):
                rows.append(
                    {
                        "Metadata_Plate": plate,
                        "Metadata_Well": w,
                        # a stable key (str hashing is salted per run)
                        "Metadata_ImageNumber": zlib.crc32(f"{plate}/{w}".encode())
                        % 1000,
                        "Metadata_ObjectNumber": k + 1,
                        "Nuclei_AreaShape_Area": float(rng.normal(100, 5)),
                    }
                )
    return pa.Table.from_pylist(rows)


def test_wells_are_parsed_and_formats_inferred():
    from arrowscope.core.profiles.plate import parse_wells

    r, c = parse_wells(["A01", "h12", "P24", "AF48", "x", None])
    assert r.tolist() == [0, 7, 15, 31, -1, -1]
    assert c.tolist() == [1, 12, 24, 48, -1, -1]
    from arrowscope.core.profiles.plate import plate_format

    assert plate_format(r[:2], c[:2]) == 96
    assert plate_format(r[:3], c[:3]) == 384
    assert plate_format(r, c) == 1536


def test_plate_summary_counts_shares_and_medians():
    table = _cells()
    s = qc.plate_summary(table)
    assert s.column_names == [
        "Metadata_Plate",
        "Metadata_Well",
        "row",
        "column",
        "n_cells",
        "value",
    ]
    assert s.num_rows == 8 and set(s.column("n_cells").to_pylist()) == {5}
    assert s.column("row").to_pylist()[:4] == ["A", "A", "B", "P"]
    assert s.column("column").to_pylist()[:4] == [1, 2, 7, 24]
    med = qc.plate_summary(table, "Nuclei_AreaShape_Area", "median")
    area = table.column("Nuclei_AreaShape_Area").to_numpy()
    assert med.column("value")[0].as_py() == pytest.approx(np.median(area[:5]))
    flags = pa.table(
        {"Metadata_cqc_big_is_outlier": pa.array(np.arange(table.num_rows) % 5 == 0)}
    )
    share = qc.plate_summary(table, "big", flags=flags)
    assert share.column("value").to_pylist() == [pytest.approx(0.2)] * 8
    anyf = qc.plate_summary(table, "any_outlier", flags=flags)
    assert anyf.column("value").to_pylist() == share.column("value").to_pylist()
    # a filter: wells keep their cells' share only of the rows shown
    keep = np.arange(table.num_rows) < 5
    only = qc.plate_summary(table, rows=keep)
    assert only.num_rows == 1 and only.column("n_cells")[0].as_py() == 5
    values, counts, wells = qc.plate_grid(s, "P1")
    assert wells == 384 and values.shape == (16, 24)
    assert counts[15, 23] == 5 and np.isnan(values[3, 3])  # missing, not zero
    with pytest.raises(arrowscope.ArrowscopeError, match="no column or condition"):
        qc.plate_summary(table, "Nope")


def test_nan_and_inf_are_missing_in_feature_statistics():
    table = _cells(n_per_well=3, wells=("A01",)).slice(0, 3)
    table = table.set_column(
        4, "Nuclei_AreaShape_Area", pa.array([1.0, np.inf, np.nan])
    )
    s = qc.plate_summary(table, "Nuclei_AreaShape_Area", "mean")
    assert s.column("value")[0].as_py() == 1.0 and s.column("n_cells")[0].as_py() == 3


def test_marks_by_key_survive_resorting_and_are_exported(tmp_path):
    table = _cells(n_per_well=2, wells=("A01", "A02"))
    path = tmp_path / "profiles.parquet"
    pq.write_table(table, path)
    marks = qc.open_marks(path)
    assert marks.path == tmp_path / "profiles.marks.parquet"
    row = table.slice(3, 1).to_pylist()[0]
    keys = {c: row[c] for c in marks.key_columns}
    marks.set(keys, "reject")
    other = table.slice(0, 1).to_pylist()[0]
    marks.set({c: other[c] for c in marks.key_columns}, "keep")
    assert marks.get(keys) == "reject" and marks.path.is_file()
    marks.set({c: other[c] for c in marks.key_columns}, None)  # cleared
    assert len(marks) == 1
    # the table is re-sorted and rewritten; the marks are reloaded by key
    order = np.random.default_rng(2).permutation(table.num_rows)
    pq.write_table(table.take(pa.array(order)), path)
    again = qc.open_marks(path)
    pt = arrowscope.open_profiles(path)
    verdicts = again.verdicts(pt.read(again.key_columns))
    where = int(np.flatnonzero(order == 3)[0])
    assert verdicts[where] == "reject" and (verdicts != None).sum() == 1  # noqa: E711
    flags = pa.table(
        {"Metadata_cqc_big_is_outlier": pa.array([False] * table.num_rows)}
    )
    out = qc.write_annotations(
        tmp_path / "ann.parquet", pt.read(again.key_columns), flags, marks=again
    )
    ann = pq.read_table(out)
    assert ann.column("Metadata_manual_qc").to_pylist()[where] == "reject"
    assert ann.column("Metadata_manual_qc").null_count == table.num_rows - 1
    with pytest.raises(ValueError, match="verdict"):
        again.set(keys, "maybe")


def test_agreement_counts_rule_flags_against_rejects():
    flags = pa.table({"Metadata_cqc_big_is_outlier": [True, True, False, False, True]})
    verdicts = np.array(["reject", "keep", "reject", "keep", None], dtype=object)
    got = qc.agreement(flags, verdicts)
    assert got == {
        "big": {
            "flagged_and_rejected": 1,
            "flagged_but_kept": 1,
            "missed_rejects": 1,
            "agreed_keeps": 1,
        }
    }


def test_marks_that_cannot_be_saved_fail_with_a_clear_error(tmp_path):
    table = _cells(n_per_well=1, wells=("A01",))
    path = tmp_path / "p.parquet"
    pq.write_table(table, path)
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the marks' folder should be")
    marks = qc.open_marks(path, blocker / "p.marks.parquet")
    row = table.slice(0, 1).to_pylist()[0]
    with pytest.raises(arrowscope.ArrowscopeError, match="cannot save the marks"):
        marks.set({k: row[k] for k in marks.key_columns}, "reject")
    assert blocker.read_text().startswith("a file")  # nothing replaced
