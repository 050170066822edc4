"""Image paths a profile table names are resolved only under the given roots."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tifffile

import arrowscope


@pytest.fixture
def layout(tmp_path):
    images, secret = tmp_path / "images", tmp_path / "secret"
    images.mkdir()
    secret.mkdir()
    plane = np.arange(16 * 16, dtype=np.uint16).reshape(16, 16)
    tifffile.imwrite(images / "f1_DNA.tif", plane)
    tifffile.imwrite(secret / "f2_DNA.tif", plane)
    tifffile.imwrite(secret / "f3_DNA.tif", plane)
    np.save(images / "IllumDNA.npy", np.ones((16, 16)))
    table = pa.table(
        {
            "Metadata_ImageNumber": [1, 2, 3],
            "Nuclei_Number_Object_Number": [1, 1, 1],
            "Nuclei_Location_Center_X": [4.0, 4.0, 4.0],
            "Nuclei_Location_Center_Y": [4.0, 4.0, 4.0],
            "Nuclei_AreaShape_Area": [10.0, 11.0, 12.0],
            "Image_FileName_DNA": [
                "f1_DNA.tif",
                "../secret/f2_DNA.tif",
                str(secret / "f3_DNA.tif"),
            ],
            "Image_FileName_IllumDNA": ["IllumDNA.npy"] * 3,
        }
    )
    path = tmp_path / "profiles.parquet"
    pq.write_table(table, path)
    return path, images, secret


def test_paths_outside_the_root_are_not_followed(layout):
    path, images, secret = layout
    pt = arrowscope.open_profiles(path, image_root=images)
    fovs = pt.fields_of_view
    assert fovs[0].channels["DNA"] == images / "f1_DNA.tif"
    assert fovs[1].channels["DNA"] is None
    assert fovs[2].channels["DNA"] is None
    refused = [p for p in pt.problems if p.startswith("not followed")]
    assert len(refused) == 2
    assert any("f2_DNA.tif" in p for p in refused)
    assert any("f3_DNA.tif" in p for p in refused)
    assert all("allow_outside_roots=True" in p for p in refused)


def test_opt_in_follows_them(layout):
    path, images, secret = layout
    pt = arrowscope.open_profiles(path, image_root=images, allow_outside_roots=True)
    assert pt.fields_of_view[1].channels["DNA"].resolve() == secret / "f2_DNA.tif"
    assert pt.fields_of_view[2].channels["DNA"] == secret / "f3_DNA.tif"


def test_a_symlink_out_of_the_root_is_not_followed(layout):
    path, images, secret = layout
    (images / "f2_DNA.tif").symlink_to(secret / "f2_DNA.tif")
    pt = arrowscope.open_profiles(path, image_root=images)
    assert pt.fields_of_view[1].channels["DNA"] is None


def test_illumination_functions_are_not_channels(layout):
    path, images, _ = layout
    pt = arrowscope.open_profiles(path, image_root=images, allow_outside_roots=True)
    report = pt.link_report()
    assert "IllumDNA" not in pt.fields_of_view[0].channels
    assert report["auxiliary_files"] == {"IllumDNA": {"found": 3, "missing": 0}}
    assert report["rows_without_image"] == 0


def test_image_link_leaving_the_folder_is_refused(tmp_path):
    table = pa.table(
        {"Metadata_ImageNumber": [1], "Nuclei_Number_Object_Number": [1]}
    ).replace_schema_metadata(
        {"arrowscope.images": '{"path": "../../elsewhere.ome.parquet", "keys": []}'}
    )
    (tmp_path / "t").mkdir()
    pq.write_table(table, tmp_path / "t" / "p.parquet")
    pt = arrowscope.open_profiles(tmp_path / "t" / "p.parquet")
    assert pt.link("image table") is None
    assert any("leaves the table's folder" in p for p in pt.problems)


def test_embedded_crops_count_as_the_rows_images(cytodataframe_file):
    report = arrowscope.open_profiles(cytodataframe_file).link_report()
    assert report["rows_with_crop"] == 3
    assert report["rows_without_image"] == 0


def test_embedded_crops_count_as_the_rows_images_synthetic(tmp_path):
    """The same promise on a fresh clone: rows whose own crop is embedded are
    not "without image", even when the image files they name are gone; a row
    without a crop and without its file is."""
    import numpy as np

    crops = [np.full((8, 8), i, np.uint16) for i in range(3)]
    path = arrowscope.write_ome_table(
        tmp_path / "crops.ome.parquet",
        {"cell_OMEArrow_ORIG": [{"data": c, "dims": "YX"} for c in crops] + [None]},
        extra_columns={
            "Metadata_ImageNumber": [1, 1, 2, 2],
            "Nuclei_Number_Object_Number": [1, 2, 1, 2],
            "Image_FileName_DNA": ["gone1.tif", "gone1.tif", "gone2.tif", "gone2.tif"],
        },
    )
    report = arrowscope.open_profiles(path).link_report()
    assert report["rows_with_crop"] == 3
    assert report["rows_without_image"] == 1  # the row with neither
