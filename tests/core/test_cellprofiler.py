"""CellProfiler's own outputs open as profile tables: ExportToDatabase SQLite
in both layouts, ExportToSpreadsheet CSV folders and CellProfiler Analyst
properties files and training sets; joined by key as CytoTable joins them,
read lazily, linked to their images; bad input named, never guessed."""

from __future__ import annotations

import shutil
import sqlite3

import numpy as np
import pyarrow.parquet as pq
import pytest
import tifffile

import arrowscope
from arrowscope.core.errors import (
    ArrowscopeError,
    CorruptFileError,
    SchemaError,
    UnsupportedError,
)
from arrowscope.core.profiles.cellprofiler import SqliteStore, open_sqlite
from arrowscope.core.profiles.cpa import read_training_set, write_training_set
from arrowscope.core.profiles.resolve import resolve
from arrowscope.core.profiles.synthetic import write_cellprofiler_sqlite
from tests.conftest import shared_file


def _rows(db, sql, *params):
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def test_one_table_per_object_joins_cytoplasm_to_its_parents(tmp_path):
    db = write_cellprofiler_sqlite(
        tmp_path / "plate.sqlite", images=3, cells=5, image_folder=tmp_path / "img"
    )
    assert resolve(db).kind.name == "CellProfiler SQLite"
    pt = arrowscope.open_profiles(db, image_root=tmp_path / "img")
    assert pt.num_rows == 15
    table = pt.read(
        [
            "Metadata_ImageNumber",
            "Cytoplasm_Number_Object_Number",
            "Cytoplasm_Parent_Nuclei",
            "Cells_AreaShape_Area",
            "Nuclei_Number_Object_Number",
            "Nuclei_AreaShape_Area",
            "Image_Metadata_Well",
        ]
    ).to_pylist()
    # rows in (image, object) order; every parent value is the parent's own
    assert [
        (r["Metadata_ImageNumber"], r["Cytoplasm_Number_Object_Number"]) for r in table
    ] == [(i, k) for i in (1, 2, 3) for k in range(1, 6)]
    for r in table:
        image, cell, nucleus = (
            r["Metadata_ImageNumber"],
            r["Cytoplasm_Number_Object_Number"],
            r["Cytoplasm_Parent_Nuclei"],
        )
        assert r["Nuclei_Number_Object_Number"] == nucleus
        ((area,),) = _rows(
            db,
            "SELECT Nuclei_AreaShape_Area FROM Per_Nuclei "
            "WHERE ImageNumber = ? AND Nuclei_Number_Object_Number = ?",
            image,
            nucleus,
        )
        assert r["Nuclei_AreaShape_Area"] == area
        ((area,),) = _rows(
            db,
            "SELECT Cells_AreaShape_Area FROM Per_Cells "
            "WHERE ImageNumber = ? AND Cells_Number_Object_Number = ?",
            image,
            cell,
        )
        assert r["Cells_AreaShape_Area"] == area
    assert table[0]["Image_Metadata_Well"] == "A01"
    # linked to its images by file name (paths were the cluster's)
    assert pt.channel_names == ["DNA", "Actin"]
    plane = pt.channel_stack("Actin")[2].compute()
    np.testing.assert_array_equal(
        plane, tifffile.imread(tmp_path / "img" / "A03_s1_Actin.tif")
    )
    facts = pt.describe()
    assert facts["rows"] == 15


def test_sqlite_reads_a_range_of_images_at_a_time(tmp_path):
    db = write_cellprofiler_sqlite(tmp_path / "p.sqlite", images=5, cells=4)
    store = SqliteStore(db, group_rows=8)  # two images per group
    assert store.group_rows == [8, 8, 4]
    part = store.read_group(1, ["Metadata_ImageNumber", "Nuclei_AreaShape_Area"])
    assert part.column_names == ["Metadata_ImageNumber", "Nuclei_AreaShape_Area"]
    assert part.column("Metadata_ImageNumber").to_pylist() == [3] * 4 + [4] * 4
    assert part.schema.field("Nuclei_AreaShape_Area").type == "double"


def test_a_single_object_table_with_a_properties_file(tmp_path):
    from arrowscope.core.profiles.classify import feature_columns

    (tmp_path / "db").mkdir()
    write_cellprofiler_sqlite(
        tmp_path / "db" / "cpa.db",
        images=2,
        cells=3,
        layout="single object table",
        image_folder=tmp_path / "images",
    )
    (tmp_path / "train.txt").write_text(
        "# Training set created while using properties: example.properties\n"
        "label positive negative\n"
        "positive 1 2 30 31\n"
        "negative 2 3 10 11\n"
    )
    props = tmp_path / "example.properties"
    props.write_text(
        "# CellProfiler Analyst properties\n"
        "db_type      = sqlite\n"
        "db_sqlite_file = db/cpa.db\n"
        "image_table  = Per_Image\n"
        "object_table = Per_Object\n"
        "image_id     = ImageNumber\n"
        "object_id    = ObjectNumber\n"
        "plate_id     = Image_Metadata_Plate\n"
        "well_id      = Image_Metadata_Well\n"
        "cell_x_loc   = Cells_Location_Center_X\n"
        "cell_y_loc   = Cells_Location_Center_Y\n"
        "image_path_cols = Image_PathName_DNA,Image_PathName_Actin\n"
        "image_file_cols = Image_FileName_DNA,Image_FileName_Actin\n"
        "image_names  = Hoechst,Phalloidin\n"
        "image_channel_colors = blue, red\n"
        "classifier_ignore_columns = .*_Intensity_Feature[01]_DNA, ObjectNumber\n"
        "training_set = train.txt\n"
    )
    assert resolve(props).kind.name == "CellProfiler Analyst properties"
    pt = arrowscope.open_profiles(props, image_root=tmp_path / "images")
    assert pt.keys.image == ["Metadata_ImageNumber"]
    assert pt.keys.object == "Metadata_ObjectNumber"
    assert pt.keys.center == ("Cells_Location_Center_X", "Cells_Location_Center_Y")
    assert pt.channel_names == ["Hoechst", "Phalloidin"]  # the properties' names
    assert pt.channel_colors == {"Hoechst": "blue", "Phalloidin": "red"}
    np.testing.assert_array_equal(
        pt.channel_stack("Phalloidin")[1].compute(),
        tifffile.imread(tmp_path / "images" / "A02_s1_Actin.tif"),
    )
    features = feature_columns(pt.schema, pt.keys.columns(), pt.classifier_ignore)
    assert "Nuclei_Intensity_Feature2_DNA" in features
    assert not [f for f in features if "Feature0" in f or "Feature1" in f]
    labels = read_training_set(pt.training_set, pt.keys.image + [pt.keys.object])
    assert labels.to_pylist() == [
        {
            "Metadata_ImageNumber": 1,
            "Metadata_ObjectNumber": 2,
            "Metadata_class": "positive",
        },
        {
            "Metadata_ImageNumber": 2,
            "Metadata_ObjectNumber": 3,
            "Metadata_class": "negative",
        },
    ]
    # written back, CPA's format reads the same
    again = write_training_set(
        tmp_path / "again.txt",
        labels,
        ["Metadata_ImageNumber", "Metadata_ObjectNumber"],
    )
    assert read_training_set(
        again, ["Metadata_ImageNumber", "Metadata_ObjectNumber"]
    ).equals(labels)


def test_hostile_and_foreign_cellprofiler_inputs(tmp_path):
    # a file named .sqlite that is no database: not ours, said plainly
    fake = tmp_path / "fake.sqlite"
    fake.write_text("not a database")
    assert resolve(fake) is None
    # text in a number column is named, never turned into a null
    db = write_cellprofiler_sqlite(tmp_path / "bad.sqlite", images=1, cells=2)
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE Per_Nuclei SET Nuclei_AreaShape_Area = 'big' "
            "WHERE Nuclei_Number_Object_Number = 2"
        )
    pt = arrowscope.open_profiles(db)
    with pytest.raises(SchemaError, match="Nuclei_AreaShape_Area.*'big'"):
        pt.read(["Nuclei_AreaShape_Area"])
    # 'nan' and 'inf' spellings and integers in float columns are numbers
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE Per_Nuclei SET Nuclei_AreaShape_Area = 'inf'")
        conn.execute("UPDATE Per_Cells SET Cells_AreaShape_Area = 7")
    values = arrowscope.open_profiles(db).read(
        ["Nuclei_AreaShape_Area", "Cells_AreaShape_Area"]
    )
    assert values.column(0).to_pylist() == [float("inf")] * 2
    assert values.column(1).to_pylist() == [7.0, 7.0]
    # a truncated database
    cut = tmp_path / "cut.sqlite"
    data = db.read_bytes()
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(CorruptFileError, match="cut.sqlite"):
        arrowscope.open_profiles(cut).read(["Nuclei_AreaShape_Area"])
    # MySQL properties: said what to do
    props = tmp_path / "mysql.properties"
    props.write_text("db_type = mysql\ndb_host = x\n")
    with pytest.raises(UnsupportedError, match="only SQLite"):
        arrowscope.open_profiles(props)


def test_table_names_are_quoted_never_run(tmp_path):
    """A table named like an SQL statement is read as a name; the database is
    opened read-only and stays as it was."""
    db = write_cellprofiler_sqlite(tmp_path / "p.sqlite", images=1, cells=2)
    hostile = 'Per_Evil"; DROP TABLE Per_Image; --'
    with sqlite3.connect(db) as conn:
        conn.execute(
            f'CREATE TABLE "{hostile.replace(chr(34), chr(34) * 2)}" '
            "(ImageNumber INTEGER, ObjectNumber INTEGER)"
        )
    before = db.read_bytes()
    pt = arrowscope.open_profiles(db)
    assert pt.num_rows == 2
    pt.read(pt.columns)
    assert any("not joined" in p for p in pt.problems)
    assert db.read_bytes() == before
    assert _rows(db, "SELECT COUNT(*) FROM Per_Image") == [(1,)]


def test_convert_writes_the_profile_table(tmp_path):
    from arrowscope.app.cli import main

    db = write_cellprofiler_sqlite(tmp_path / "p.sqlite", images=3, cells=2)
    out = tmp_path / "profiles.parquet"
    assert main(["convert", str(db), str(out)]) == 0
    written = pq.read_table(out)
    opened = arrowscope.open_profiles(db)
    assert written.equals(opened.read(opened.columns))
    assert main(["convert", str(db), str(out)]) == 1  # exists: not replaced
    assert main(["convert", str(db), str(db)]) == 1  # never onto its input
    assert db.stat().st_size > 0


# -- the shared real data -------------------------------------------------------------
@pytest.fixture
def nf1_sqlite():
    return shared_file("cellprofiler_sqlite_nf1", "all_cellprofiler.sqlite")


@pytest.fixture
def examplehuman_csv():
    return shared_file("cellprofiler_csv_examplehuman")


def test_the_nf1_database(nf1_sqlite):
    output = open_sqlite(nf1_sqlite)
    assert output.store.tables == {
        "Cells": "Per_Cells",
        "Cytoplasm": "Per_Cytoplasm",
        "Nuclei": "Per_Nuclei",
    }
    pt = arrowscope.open_profiles(nf1_sqlite)
    assert pt.num_rows == 242  # one row per cytoplasm (Per_Cytoplasm: 242)
    cols = pt.columns
    assert cols[0] == "Metadata_ImageNumber"
    assert {
        "Image_FileName_DAPI",
        "Image_Metadata_Well",
        "Cells_AreaShape_Area",
    } <= set(cols)
    # each row's nucleus is the one its cytoplasm names (the same SQL by hand)
    got = pt.read(
        ["Metadata_ImageNumber", "Cytoplasm_Parent_Nuclei", "Nuclei_AreaShape_Area"]
    ).to_pylist()
    expected = dict(
        ((i, n), a)
        for i, n, a in _rows(
            nf1_sqlite,
            "SELECT ImageNumber, Nuclei_Number_Object_Number, Nuclei_AreaShape_Area "
            "FROM Per_Nuclei",
        )
    )
    for r in got:
        key = (r["Metadata_ImageNumber"], r["Cytoplasm_Parent_Nuclei"])
        assert r["Nuclei_AreaShape_Area"] == expected[key]
    assert pt.channel_names == ["DAPI", "GFP", "RFP"]
    images = {
        i
        for (i,) in _rows(nf1_sqlite, "SELECT DISTINCT ImageNumber FROM Per_Cytoplasm")
    }
    assert len(pt.fields_of_view) == len(images)


def test_the_examplehuman_csv_folder_matches_cytotable(examplehuman_csv, tmp_path):
    folder = tmp_path / "examplehuman"
    shutil.copytree(examplehuman_csv, folder)
    pytest.importorskip("cytotable")
    from tests.cytotable_csv import cytotable_csv

    reference = pq.read_table(cytotable_csv(folder, tmp_path / "cytotable.parquet"))
    pt = arrowscope.open_profiles(folder)
    ours = pt.read(pt.columns)
    assert ours.num_rows == reference.num_rows == 289
    # every CytoTable column, with the same values row by row (by key)
    missing = set(reference.column_names) - set(ours.column_names)
    assert not missing
    extra = set(ours.column_names) - set(reference.column_names)
    # kept on purpose: how rows find their images (CytoTable keeps file names only)
    assert extra == {
        *(
            f"Image_{k}_{c}"
            for k in ("PathName", "URL")
            for c in ("DNA", "OrigOverlay", "PH3", "cellbody")
        ),
        "Image_Metadata_Frame",
        "Image_Metadata_Series",
    }
    key = ["Metadata_ImageNumber", "Metadata_ObjectNumber"]
    ref = reference.sort_by([(k, "ascending") for k in key])
    mine = ours.sort_by([(k, "ascending") for k in key])
    for name in reference.column_names:
        a, b = ref.column(name).to_pylist(), mine.column(name).to_pylist()
        if name.startswith(("Cells_", "Nuclei_", "Cytoplasm_")) and isinstance(
            a[0], float
        ):
            np.testing.assert_allclose(
                np.array(b, float), np.array(a, float), rtol=1e-12, err_msg=name
            )
        else:
            assert a == b, name
    # linked to its three channel TIFFs; the overlay PNG is not a channel
    assert pt.channel_names == ["DNA", "PH3", "cellbody"]
    np.testing.assert_array_equal(
        pt.channel_stack("PH3")[0].compute(),
        tifffile.imread(folder / "AS_09125_050116030001_D03f00d1.tif"),
    )
    assert any("PH3 objects not joined" in p for p in pt.problems)


def test_info_describes_a_cellprofiler_database(tmp_path, capsys):
    import json

    from arrowscope.app.cli import main

    db = write_cellprofiler_sqlite(tmp_path / "p.sqlite", images=2, cells=2)
    assert main(["info", str(db), "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["layout"] == "profile-table" and facts["rows"] == 4
    assert facts["channels"] == ["DNA", "Actin"]


def test_a_missing_database_named_by_properties(tmp_path):
    props = tmp_path / "x.properties"
    props.write_text("db_type = sqlite\ndb_sqlite_file = gone.db\n")
    with pytest.raises(ArrowscopeError, match="gone.db"):
        arrowscope.open_profiles(props)


def test_a_table_name_prefix_and_the_experiment_facts(tmp_path):
    """ExportToDatabase's "table prefix" (MyExpt_Per_Image…) is followed, and
    the run's CellProfiler version is kept in the table's metadata."""
    import json

    from arrowscope.core.profiles.cellprofiler import SOURCE_METADATA_KEY

    db = write_cellprofiler_sqlite(tmp_path / "p.sqlite", images=2, cells=2)
    with sqlite3.connect(db) as conn:
        for name in ("Image", "Nuclei", "Cells", "Cytoplasm", "Experiment"):
            conn.execute(f"ALTER TABLE Per_{name} RENAME TO MyExpt_Per_{name}")
    pt = arrowscope.open_profiles(db)
    assert pt.num_rows == 4
    facts = json.loads(pt.metadata[SOURCE_METADATA_KEY])
    assert facts["image_table"] == "MyExpt_Per_Image"
    assert facts["object_tables"]["Cells"] == "MyExpt_Per_Cells"
    assert facts["experiment"]["CellProfiler_Version"] == "4.2.6"


def test_the_adbc_and_sqlite3_readers_agree(tmp_path):
    """Rows read straight into Arrow by the ADBC driver equal those read by
    Python's sqlite3, to the type; a wide table reads fewer rows a group."""
    pytest.importorskip("adbc_driver_sqlite")
    db = write_cellprofiler_sqlite(tmp_path / "p.sqlite", images=3, cells=5)
    fast = SqliteStore(db)
    assert fast._adbc() is not None
    plain = SqliteStore(db)
    plain._local.adbc = None  # as without the driver
    for g in range(len(fast.group_rows)):
        assert fast.read_group(g, None).equals(plain.read_group(g, None))
    wide = write_cellprofiler_sqlite(
        tmp_path / "w.sqlite", images=20, cells=200, features=800
    )
    store = SqliteStore(wide)
    assert len(store.schema) > 2400
    assert max(store.group_rows) <= 2000 and len(store.group_rows) > 1
