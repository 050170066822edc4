"""Hostile CellProfiler CSV folders and LoadData files: what Windows and
edited files look like (a byte-order mark, CRLF line ends, back slashes,
``file:`` URLs), and what breaks them (text in an id column, a doubled
header). Each opens right or is an arrowscope error naming file and column;
no LoadData path reads a file outside the roots."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
import tifffile

import arrowscope
from arrowscope.core.errors import SchemaError
from tests.csv_exports import write_csv_export

HEADER = "ImageNumber,ObjectNumber,AreaShape_Area,Location_Center_X,Location_Center_Y"


def test_a_windows_csv_folder_opens_as_the_unix_one(tmp_path):
    unix = arrowscope.open_profiles(write_csv_export(tmp_path / "unix"))
    windows = arrowscope.open_profiles(
        write_csv_export(tmp_path / "windows", bom=True, crlf=True)
    )
    assert windows.columns == unix.columns
    assert windows.read(windows.columns).equals(unix.read(unix.columns))
    assert windows.num_rows == 6


@pytest.mark.parametrize(
    "rows, file, column, said",
    [
        ([HEADER, "1,1,5,1,1", "x,2,5,1,1"], "Nuclei.csv", "ImageNumber", "'x'"),
        ([HEADER, "1,1.5,5,1,1"], "Nuclei.csv", "ObjectNumber", "'1.5'"),
        (
            [
                HEADER.replace("AreaShape_Area", "AreaShape_Area,AreaShape_Area"),
                "1,1,5,6,1,1",
            ],
            "Nuclei.csv",
            "AreaShape_Area",
            "twice",
        ),
    ],
)
def test_broken_csv_folders_name_the_file_and_column(
    tmp_path, rows, file, column, said
):
    folder = write_csv_export(tmp_path / "csv", nuclei_rows=rows)
    with pytest.raises(SchemaError) as info:
        arrowscope.open_profiles(folder)
    error = info.value
    assert error.path == str(folder / file)
    assert error.column == column
    assert said in str(error)


def test_text_in_the_image_tables_id_is_named(tmp_path):
    folder = write_csv_export(
        tmp_path / "csv",
        image_rows=["ImageNumber,Metadata_Plate,FileName_DNA", "1,P,a.tif", "two,P,b"],
    )
    with pytest.raises(SchemaError, match="'two'") as info:
        arrowscope.open_profiles(folder)
    assert info.value.path == str(folder / "Image.csv")


def test_an_all_empty_image_column_is_kept_empty(tmp_path):
    folder = write_csv_export(
        tmp_path / "csv",
        image_rows=[
            "ImageNumber,Metadata_Plate,Metadata_Well,FileName_DNA,Metadata_Note",
            "1,P1,A01,a.tif,",
            "2,P1,A02,b.tif,",
        ],
    )
    pt = arrowscope.open_profiles(folder)
    assert pt.num_rows == 6


def test_convert_of_a_broken_folder_writes_nothing(tmp_path, caplog):
    from arrowscope.app.cli import main

    folder = write_csv_export(
        tmp_path / "csv", nuclei_rows=[HEADER, "1,1,5,1,1", "x,2,5,1,1"]
    )
    out = tmp_path / "out.parquet"
    assert main(["convert", str(folder), str(out)]) == 1
    assert "Nuclei.csv" in caplog.text and "ImageNumber" in caplog.text
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["csv"]


# ---- LoadData paths ---------------------------------------------------------
def _setup(tmp_path, path_name):
    """A profile table keyed by plate/well/site, its images under images/,
    a secret image outside, and a LoadData file naming ``path_name``."""
    images = tmp_path / "work" / "images"
    images.mkdir(parents=True)
    good = np.full((16, 16), 3, np.uint16)
    tifffile.imwrite(images / "A01_DNA.tif", good)
    secret = tmp_path / "secret"
    secret.mkdir()
    tifffile.imwrite(secret / "S_DNA.tif", np.full((16, 16), 9, np.uint16))
    profiles = tmp_path / "work" / "profiles.parquet"
    pq.write_table(
        pa.table(
            {
                "Metadata_Plate": ["P", "P"],
                "Metadata_Well": ["A01", "B01"],
                "Metadata_Site": [1, 1],
                "Nuclei_Number_Object_Number": [1, 1],
                "Nuclei_Location_Center_X": [1.0, 1.0],
                "Nuclei_Location_Center_Y": [1.0, 1.0],
            }
        ),
        profiles,
    )
    load = tmp_path / "work" / "load_data.csv"
    pcsv.write_csv(
        pa.table(
            {
                "Metadata_Plate": ["P", "P"],
                "Metadata_Well": ["A01", "B01"],
                "Metadata_Site": [1, 1],
                "FileName_DNA": ["A01_DNA.tif", "S_DNA.tif"],
                "PathName_DNA": [str(images), path_name],
            }
        ),
        load,
    )
    return profiles, load, images, good


@pytest.mark.parametrize(
    "path_name",
    [
        "{tmp}/work/images/../../secret",
        "{tmp}\\work\\images\\..\\..\\secret",
        "file://{tmp}/work/images/%2e%2e/%2e%2e/secret",
        "file://{tmp}/secret",
    ],
)
def test_load_data_paths_never_leave_the_roots(tmp_path, path_name):
    profiles, load, images, good = _setup(tmp_path, path_name.format(tmp=tmp_path))
    pt = arrowscope.open_profiles(profiles, load_data=load, image_root=images)
    stack = pt.channel_stack("DNA").compute()
    np.testing.assert_array_equal(stack[0], good)
    assert not stack[1].any()  # the secret is never read
    assert any("S_DNA.tif" in p for p in pt.problems), pt.problems
