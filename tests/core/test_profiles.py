"""Profile tables linked to images by key: detection, lookup, mismatches."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from arrowscope.core.errors import CorruptFileError, SchemaError
from arrowscope.core.profiles.resolve import open_profiles
from arrowscope.core.profiles.synthetic import write_demo_plate
from arrowscope.core.profiles.table import detect_keys, looks_like_profiles
from tests.conftest import shared_file


@pytest.mark.parametrize(
    ("names", "image", "obj", "center"),
    [
        (
            [
                "Metadata_ImageNumber",
                "Metadata_TableNumber",
                "Nuclei_Number_Object_Number",
                "Nuclei_Location_Center_X",
                "Nuclei_Location_Center_Y",
            ],
            ["Metadata_TableNumber", "Metadata_ImageNumber"],
            "Nuclei_Number_Object_Number",
            ("Nuclei_Location_Center_X", "Nuclei_Location_Center_Y"),
        ),
        (
            [
                "Image_Metadata_Plate_x",
                "Image_Metadata_Well_x",
                "Image_Metadata_Site_x",
                "Metadata_Cells_Number_Object_Number",
                "Cells_Location_Center_X",
                "Cells_Location_Center_Y",
            ],
            [
                "Image_Metadata_Plate_x",
                "Image_Metadata_Well_x",
                "Image_Metadata_Site_x",
            ],
            "Metadata_Cells_Number_Object_Number",
            ("Cells_Location_Center_X", "Cells_Location_Center_Y"),
        ),
        (
            ["Metadata_dataset_id", "Metadata_image_id", "Metadata_ObjectNumber"],
            ["Metadata_dataset_id", "Metadata_image_id"],
            "Metadata_ObjectNumber",
            None,
        ),
        (
            ["dataset_id", "image_id", "Organoid_Number_Object_Number"],
            ["dataset_id", "image_id"],
            "Organoid_Number_Object_Number",
            None,
        ),
    ],
)
def test_key_detection_variants(names, image, obj, center):
    roles = detect_keys(pa.schema([(n, pa.int64()) for n in names]))
    assert roles.image == image
    assert roles.object == obj
    assert roles.center == center


def test_file_columns_and_bounding_boxes():
    names = [
        "Metadata_ImageNumber",
        "Image_FileName_DNA",
        "Image_PathName_DNA",
        "Image_FileName_OrigAGP_OMEArrow_ORIG",
        "Image_ObjectsFileName_Nuclei",
    ]
    schema = pa.schema([(n, pa.string()) for n in names[1:]]).insert(
        0, pa.field(names[0], pa.int64())
    )
    schema = schema.append(
        pa.field("Nuclei_AreaShape_BoundingBoxMinimum_X", pa.float64())
    )
    roles = detect_keys(schema)
    assert roles.files == {
        "DNA": "Image_FileName_DNA",
        "OrigAGP_OMEArrow_ORIG": "Image_FileName_OrigAGP_OMEArrow_ORIG",
    }
    assert roles.paths == {"DNA": "Image_PathName_DNA"}
    assert roles.masks == {"Nuclei": "Image_ObjectsFileName_Nuclei"}
    assert roles.bbox is None  # incomplete box → no box role
    assert looks_like_profiles(schema)
    assert not looks_like_profiles(pa.schema([("a", pa.int64())]))


def shuffled_plates(tmp_path, seed=0):
    """Two demo plates, object numbers with gaps, rows shuffled."""
    tables = []
    for p in range(2):
        files = write_demo_plate(tmp_path / f"p{p}", n_fields=3, size=(128, 128))
        t = pq.read_table(files["profiles"])
        t = t.set_column(
            t.column_names.index("Metadata_Plate"),
            "Metadata_Plate",
            pa.array([f"PLATE-{p}"] * t.num_rows),
        )
        tables.append(t)
    table = pa.concat_tables(tables)
    order = np.random.default_rng(seed).permutation(table.num_rows)
    return table.take(pa.array(order)), files


def test_linking_is_by_key_not_position(tmp_path):
    table, files = shuffled_plates(tmp_path)
    # drop every third row: object numbers now have gaps
    table = table.filter(pa.array(np.arange(table.num_rows) % 3 != 0))
    pt = open_profiles(table)
    assert pt.keys.image == ["Metadata_Plate", "Metadata_ImageNumber"]
    fovs = pt.fields_of_view
    assert len(fovs) == 6
    plates = table["Metadata_Plate"].to_pylist()
    images = table["Metadata_ImageNumber"].to_pylist()
    for row in range(table.num_rows):
        fov = fovs[pt.locate(row).fov]
        assert fov.key == (plates[row], images[row])
        assert row in fov.rows
    # each row in one field, in table order; row numbers in 4 bytes each
    assert sum(len(f.rows) for f in fovs) == table.num_rows
    assert all((np.diff(f.rows) > 0).all() for f in fovs)
    assert pt.fov_of_row.itemsize == 4 and fovs[0].rows.itemsize == 4
    loc = pt.locate(5)
    assert loc.center == (
        table["Nuclei_Location_Center_Y"][5].as_py(),
        table["Nuclei_Location_Center_X"][5].as_py(),
    )


def test_demo_profiles_link_to_the_image_table(tmp_path):
    files = write_demo_plate(tmp_path, n_fields=3, size=(128, 128))
    pt = open_profiles(files["profiles"])
    assert pt.options()["images"] == str(files["plate"])
    assert pt.channel_names == ["DNA", "ER", "Mito"]
    assert pt.mask_names == ["nuclei_LABL"]
    stack = pt.mask_stack("nuclei_LABL")
    assert stack.shape == (3, 128, 128)
    objs = pt.object_numbers()
    found = 0
    for row in range(pt.num_rows):
        loc = pt.locate(row)
        labels = stack[loc.fov].compute()
        ys, xs = np.nonzero(labels == objs[row])
        if ys.size:  # the row's object is the label whose centroid is its centre
            assert (ys.mean(), xs.mean()) == pytest.approx(loc.center)
            found += 1
    report = pt.link_report()
    # every row is checked, except the ones the link report counts as unmasked
    assert found == pt.num_rows - report["rows_not_in_mask"] > 0
    assert report["rows_without_image"] == 0
    assert report["labels_without_row"] == 0


def test_open_reads_only_key_columns(tmp_path, monkeypatch):
    files = write_demo_plate(tmp_path, n_fields=2, size=(96, 96))
    pt = open_profiles(files["profiles"])
    seen = []
    real = pt._source.read_table
    monkeypatch.setattr(
        pt._source, "read_table", lambda cols: seen.append(list(cols)) or real(cols)
    )
    pt.locate(0)
    assert seen and set(seen[0]) == set(pt.keys.columns())
    assert "Nuclei_AreaShape_Area" not in seen[0]
    part = pt.read(["Nuclei_AreaShape_Area"], rows=[3, 1])
    assert part.num_rows == 2 and part.column_names == ["Nuclei_AreaShape_Area"]
    with pytest.raises(SchemaError) as err:
        pt.read(["nope"])
    assert err.value.column == "nope"


def test_csv_and_bad_files(tmp_path):
    import pyarrow.csv as pcsv

    files = write_demo_plate(tmp_path, n_fields=2, size=(96, 96))
    csv = tmp_path / "profiles.csv"
    pcsv.write_csv(pq.read_table(files["profiles"]), csv)
    pt = open_profiles(csv, images=files["plate"])
    assert pt.num_rows == pq.read_metadata(files["profiles"]).num_rows
    assert len(pt.fields_of_view) == 2
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"nope")
    with pytest.raises(CorruptFileError):
        open_profiles(junk)


def test_missing_images_are_reported_per_file(tmp_path):
    table = pa.table(
        {
            "Metadata_ImageNumber": [1, 1, 2],
            "Nuclei_Number_Object_Number": [1, 2, 1],
            "Image_FileName_DNA": ["a.tif", "a.tif", "b.tif"],
            "Image_PathName_DNA": [
                "/elsewhere/plate",
                "/elsewhere/plate",
                "C:\\data\\plate",
            ],
        }
    )
    import tifffile

    (tmp_path / "imgs").mkdir()
    tifffile.imwrite(tmp_path / "imgs" / "a.tif", np.full((20, 30), 7, np.uint16))
    pt = open_profiles(table, image_root=tmp_path)
    assert pt.fields_of_view[0].channels["DNA"] == tmp_path / "imgs" / "a.tif"
    assert pt.fields_of_view[1].missing == ["DNA"]
    assert any("b.tif" in p for p in pt.problems)
    stack = pt.channel_stack("DNA").compute()
    assert stack.shape == (2, 20, 30)
    assert (stack[0] == 7).all() and (stack[1] == 0).all()
    assert pt.link_report()["rows_without_image"] == 1


def test_nf1_real_plate():
    table = shared_file(
        "nf1_cellpainting_shrunken", "Plate_2_with_image_data_shrunken.parquet"
    )
    pt = open_profiles(table, image_root=table.parent / "Plate_2_images")
    assert len(pt.fields_of_view) == 5
    assert pt.channel_names == ["DAPI", "GFP", "RFP"]
    assert set(pt.mask_names) == {"Nuclei", "Cells", "Cytoplasm"}
    assert not pt.problems
    nuclei = pt.mask_stack("Nuclei")
    counts = pt.read(["Image_Count_Nuclei"]).column(0).to_pylist()
    for row in range(pt.num_rows):
        loc = pt.locate(row)
        labels = nuclei[loc.fov].compute()
        assert labels.max() == counts[row]  # components == CellProfiler's count
        y, x = np.round(loc.center).astype(int)
        assert labels[y, x] > 0
    assert pt.link_report()["rows_not_in_mask"] == 0


def test_nuclear_speckles_without_its_image():
    table = shared_file("nuclear_speckles", "test_slide1_converted.parquet")
    pt = open_profiles(table, image_root=table.parent)
    assert pt.num_rows == 25
    assert len(pt.fields_of_view) == 1
    assert pt.fields_of_view[0].missing == ["A647", "DAPI", "GOLD"]
    assert any("image not found" in p and "CH0" in p for p in pt.problems)
    assert "Nuclei" in pt.mask_names
    report = pt.link_report()
    assert report["rows_without_image"] == 25
    assert report["fields"][0]["labels"] == 21  # touching nuclei merge in a binary mask
