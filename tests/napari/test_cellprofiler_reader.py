"""CellProfiler's own outputs dropped on napari: an SQLite database, a CSV
export folder and a CellProfiler Analyst properties file open as profile
tables with their images, channel names and the properties' colours."""

from __future__ import annotations

import numpy as np
import tifffile

from arrowscope._napari.reader import get_reader
from arrowscope._napari.session import session_for
from arrowscope.core.profiles.synthetic import write_cellprofiler_sqlite


def test_a_properties_file_opens_with_its_names_and_colours(
    make_napari_viewer, tmp_path
):
    write_cellprofiler_sqlite(
        tmp_path / "cpa.db",
        images=3,
        cells=4,
        layout="single object table",
        image_folder=tmp_path,
    )
    props = tmp_path / "exp.properties"
    props.write_text(
        "db_type = sqlite\ndb_sqlite_file = cpa.db\n"
        "image_table = Per_Image\nobject_table = Per_Object\n"
        "image_id = ImageNumber\nobject_id = ObjectNumber\n"
        "cell_x_loc = Nuclei_Location_Center_X\n"
        "cell_y_loc = Nuclei_Location_Center_Y\n"
        "image_file_cols = Image_FileName_DNA,Image_FileName_Actin\n"
        "image_path_cols = Image_PathName_DNA,Image_PathName_Actin\n"
        "image_names = Hoechst,Phalloidin\n"
        "image_channel_colors = blue, red\n"
    )
    assert get_reader(str(props)) is not None
    viewer = make_napari_viewer()
    viewer.open(str(props), plugin="arrowscope")
    names = [layer.name for layer in viewer.layers]
    assert names[:2] == ["Hoechst", "Phalloidin"] and "cells" in names
    assert viewer.layers["Hoechst"].colormap.name == "blue"
    assert viewer.layers["Phalloidin"].colormap.name == "red"
    np.testing.assert_array_equal(
        np.asarray(viewer.layers["Phalloidin"].data[2]),
        tifffile.imread(tmp_path / "A03_s1_Actin.tif"),
    )
    session = session_for(viewer)
    assert session.profiles.keys.object == "Metadata_ObjectNumber"
    assert len(viewer.layers["cells"].data) == 12


def test_a_database_and_a_csv_folder_are_claimed(make_napari_viewer, tmp_path):
    db = write_cellprofiler_sqlite(tmp_path / "plate.sqlite", images=2, cells=3)
    assert get_reader(str(db)) is not None
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "Image.csv").write_text(
        "ImageNumber,FileName_DNA,PathName_DNA\n1,a.tif,/x\n"
    )
    (folder / "Nuclei.csv").write_text(
        "ImageNumber,ObjectNumber,Location_Center_X,Location_Center_Y\n"
        "1,1,5.0,6.0\n1,2,7.0,8.0\n"
    )
    assert get_reader(str(folder)) is not None
    viewer = make_napari_viewer()
    viewer.open(str(folder), plugin="arrowscope")
    session = session_for(viewer)
    assert session.profiles.num_rows == 2
    assert session.profiles.columns[:2] == [
        "Metadata_ImageNumber",
        "Image_FileName_DNA",
    ]
    # a folder of anything else is not ours
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.csv").write_text("a,b\n1,2\n")
    assert get_reader(str(other)) is None


def test_the_properties_name_the_plate_and_well_columns(make_napari_viewer, tmp_path):
    """plate_id / well_id name columns the plate map would not find by name."""
    import sqlite3

    from arrowscope._napari.plate_widgets import PlateMapWidget

    db = write_cellprofiler_sqlite(
        tmp_path / "cpa.db", images=3, cells=4, layout="single object table"
    )
    with sqlite3.connect(db) as conn:
        conn.execute(
            "ALTER TABLE Per_Image RENAME COLUMN Image_Metadata_Well TO Image_Pos"
        )
        conn.execute(
            "ALTER TABLE Per_Image RENAME COLUMN Image_Metadata_Plate TO Image_Barcode"
        )
    props = tmp_path / "exp.properties"
    props.write_text(
        "db_type = sqlite\ndb_sqlite_file = cpa.db\n"
        "image_table = Per_Image\nobject_table = Per_Object\n"
        "image_id = ImageNumber\nobject_id = ObjectNumber\n"
        "plate_id = Image_Barcode\nwell_id = Image_Pos\n"
    )
    viewer = make_napari_viewer()
    viewer.open(str(props), plugin="arrowscope")
    plate = PlateMapWidget(viewer)
    summary = plate.refresh()
    assert summary is not None
    assert summary.column("Metadata_Well").to_pylist() == ["A01", "A02", "A03"]
    assert summary.column("n_cells").to_pylist() == [4, 4, 4]
