"""Hostile inputs that escaped the error hierarchy: each now one clear error
(or a warning) naming the file, column or keys, never a raw Python error."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

import arrowscope
from arrowscope.core.errors import CorruptFileError
from tests.conftest import run_as_nobody


def test_an_image_table_with_zero_rows_opens_empty(tmp_path):
    one = arrowscope.write_ome_parquet(
        tmp_path / "one.ome.parquet", np.zeros((8, 8), np.uint16), dims="YX"
    )
    empty = tmp_path / "zero.ome.parquet"
    pq.write_table(pq.read_table(one).slice(0, 0), empty)
    src = arrowscope.open_source(empty)
    assert src.num_rows == 0 and src.image_columns == ["ome_arrow"]
    assert arrowscope.list_images(empty) == []


def test_a_corrupt_ipc_record_batch_is_a_corrupt_file_error(tmp_path):
    src = arrowscope.write_ome_parquet(
        tmp_path / "one.ome.parquet",
        np.arange(64 * 64, dtype=np.uint16).reshape(64, 64),
        dims="YX",
    )
    path = tmp_path / "x.arrow"
    feather.write_feather(pq.read_table(src), path, compression="uncompressed")
    raw = bytearray(path.read_bytes())
    start = int(len(raw) * 0.3)  # inside the record batch's offsets
    raw[start : start + 16] = bytes(b ^ 0xFF for b in raw[start : start + 16])
    path.write_bytes(bytes(raw))
    with pytest.raises(CorruptFileError) as err:
        arrowscope.list_images(path)
    assert str(path) in str(err.value) and "'ome_arrow'" in str(err.value)


def test_duplicated_cell_keys_are_named_in_a_warning(tmp_path):
    path = tmp_path / "dup.parquet"
    pq.write_table(
        pa.table(
            {
                "Metadata_ImageNumber": [1, 1, 2],
                "Nuclei_Number_Object_Number": [7, 7, 1],
                "Nuclei_Location_Center_X": [1.0, 2.0, 3.0],
                "Nuclei_Location_Center_Y": [1.0, 2.0, 3.0],
            }
        ),
        path,
    )
    pt = arrowscope.open_profiles(path)
    with pytest.warns(UserWarning, match="Nuclei_Number_Object_Number=7 \\(2 rows\\)"):
        pt.fields_of_view  # noqa: B018 - building the links checks the keys
    assert any("ambiguous" in p for p in pt.problems)
    unique = tmp_path / "ok.parquet"
    pq.write_table(pq.read_table(path).slice(1), unique)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        arrowscope.open_profiles(unique).fields_of_view  # noqa: B018


def test_info_describes_a_csv_profile_table(tmp_path, capsys):
    from arrowscope.app.cli import main

    path = tmp_path / "p.csv"
    path.write_text(
        "Metadata_ImageNumber,Nuclei_Number_Object_Number,"
        "Nuclei_Location_Center_X,Nuclei_Location_Center_Y\n1,1,1.0,1.0\n2,1,2.0,2.0\n"
    )
    assert main(["info", str(path)]) == 0
    assert "profile table without images, 2 rows, 4 columns" in capsys.readouterr().out


def test_an_unreadable_chunk_dataset_folder_says_permission_denied(shared_tmp):
    ds = shared_tmp / "ds.ome.parquet"
    arrowscope.write_ome_parquet(
        ds, np.zeros((2, 8, 8), np.uint16), dims="ZYX", layout="dataset"
    )
    os.chmod(ds, 0o700)  # root's only
    done = run_as_nobody(
        "import arrowscope\n"
        "try:\n"
        f"    arrowscope.open_source({str(ds)!r})\n"
        "except arrowscope.core.errors.AccessError as e:\n"
        "    print('AccessError', e)\n"
    )
    assert done.stdout.startswith("AccessError"), done.stderr
    assert str(ds) in done.stdout and "permission denied" in done.stdout
    assert "read access" in done.stdout  # says what to do
