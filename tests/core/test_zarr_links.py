"""OME-Zarr images and HCS plates as the images of profile tables: locally
and in a bucket on a real S3-protocol server on 127.0.0.1 (moto), read
lazily (metadata at open, a plane's own chunks when shown), with exact
pixels, names, colours and scale; and ``http(s)://`` locations."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import arrowscope
from arrowscope.core.errors import NotOmeArrowError
from arrowscope.core.images.omezarr import OmeZarrPlate, open_ome_zarr

pytest.importorskip("zarr")
from tests.zarrs import upload_tree, write_image, write_plate  # noqa: E402

SHAPE = (1, 2, 1, 64, 96)


def _data(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 60000, SHAPE, dtype=np.uint16)


@pytest.mark.parametrize("version", ["0.5", "0.4"])
def test_an_ome_zarr_image_opens_lazily_and_exactly(tmp_path, version):
    data = _data(1)
    where = write_image(tmp_path / "field.ome.zarr", data, version=version)
    image = open_ome_zarr(where)
    assert image.shape == SHAPE and image.dtype == np.uint16
    assert image.channel_names == ["DNA", "ER"]
    assert image.channel_colors[0] == (0.0, 0.0, 1.0, 1.0)
    assert image.physical_size == (1.0, 0.65, 0.65)
    assert image.units == ("micrometer",) * 3
    np.testing.assert_array_equal(image.to_numpy(), data)
    (level,) = image.levels
    np.testing.assert_array_equal(level.to_numpy(), data[..., ::2, ::2])
    er = image.channel(1)
    np.testing.assert_array_equal(er.to_numpy()[:, 0], data[:, 1])
    assert er.levels[0].shape == (1, 1, 1, 32, 48)


def test_a_plate_is_not_one_image(tmp_path):
    plate = write_plate(tmp_path / "p.ome.zarr", {("A", 1): [_data(2)]})
    with pytest.raises(NotOmeArrowError, match="HCS plate"):
        open_ome_zarr(plate)


def _profiles(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows)


def test_file_columns_naming_local_ome_zarr_images(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    data = {f: _data(10 + f) for f in (1, 2)}
    for f, d in data.items():
        write_image(images / f"site{f}.ome.zarr", d)
    table = tmp_path / "cells.parquet"
    pq.write_table(
        _profiles(
            [
                {
                    "Metadata_ImageNumber": f,
                    "Nuclei_Number_Object_Number": 1,
                    "Nuclei_Location_Center_X": 5.0,
                    "Nuclei_Location_Center_Y": 5.0,
                    "Nuclei_AreaShape_BoundingBoxMinimum_X": 40,
                    "Nuclei_AreaShape_BoundingBoxMinimum_Y": 10,
                    "Nuclei_AreaShape_BoundingBoxMaximum_X": 60,
                    "Nuclei_AreaShape_BoundingBoxMaximum_Y": 22,
                    # both channels live in one OME-Zarr: found by channel name
                    "Image_FileName_DNA": f"site{f}.ome.zarr",
                    "Image_FileName_ER": f"site{f}.ome.zarr",
                    "Image_PathName_DNA": "/elsewhere/images",
                    "Image_PathName_ER": "/elsewhere/images",
                }
                for f in (1, 2)
            ]
        ),
        table,
    )
    pt = arrowscope.open_profiles(table, image_root=images)
    assert not [p for p in pt.problems if "not found" in p], pt.problems
    assert pt.plane_shape() == (64, 96)
    for c, ch in enumerate(("DNA", "ER")):
        stack = pt.channel_stack(ch).compute()
        for i, f in enumerate((1, 2)):
            np.testing.assert_array_equal(stack[i], data[f][0, c, 0])
    # the viewer gets the chunked image with its resolution levels
    image = pt._channel_image(pt.fields_of_view[1], "ER")
    assert image.levels and image.levels[0].shape[-2:] == (32, 48)
    crop = pt.crop(1, "ER").to_numpy()  # a lazy cut of the field's image
    np.testing.assert_array_equal(crop[0, 0, 0], data[2][0, 1, 0, 10:22, 40:60])


@pytest.fixture(scope="module")
def bucket_zarrs(s3, tmp_path_factory):
    """An OME-Zarr image and an HCS plate in the bucket ``cells``."""
    fs, port = s3
    local = tmp_path_factory.mktemp("zarrs")
    data = _data(21)
    upload_tree(fs, write_image(local / "site.ome.zarr", data), "cells/z/site.ome.zarr")
    wells = {("B", 3): [_data(31), _data(32)], ("C", 4): [_data(41)]}
    upload_tree(
        fs, write_plate(local / "plate.ome.zarr", wells), "cells/z/plate.ome.zarr"
    )
    query = f"endpoint_override=127.0.0.1:{port}&scheme=http&region=us-east-1"
    return fs, query, data, wells


def test_a_remote_ome_zarr_image_reads_metadata_then_one_channel(
    bucket_zarrs, creds, counted
):
    fs, query, data, _ = bucket_zarrs
    pq_buf = io.BytesIO()
    pq.write_table(
        _profiles(
            [
                {
                    "Metadata_ImageNumber": 1,
                    "Nuclei_Number_Object_Number": 1,
                    "Nuclei_Location_Center_X": 5.0,
                    "Nuclei_Location_Center_Y": 5.0,
                    "Image_URL_DNA": "s3://cells/z/site.ome.zarr",
                    "Image_URL_ER": "s3://cells/z/site.ome.zarr",
                }
            ]
        ),
        pq_buf,
    )
    with fs.open_output_stream("cells/z/cells.parquet") as out:
        out.write(pq_buf.getvalue())
    pt = arrowscope.open_profiles(f"s3://cells/z/cells.parquet?{query}")
    pt.key_table  # noqa: B018 - the table's own reads, done
    counted.reset()
    assert len(pt.fields_of_view) == 1
    assert counted.requests == 0  # a zarr is found, not opened, when linked
    assert pt.plane_shape() == (64, 96)  # metadata: group and arrays, no chunk
    metadata_bytes = counted.bytes
    assert metadata_bytes < 8192, metadata_bytes
    counted.reset()
    plane = pt.channel_stack("ER")[0].compute()
    np.testing.assert_array_equal(plane, data[0, 1, 0])
    raw = data[0, 1, 0].nbytes  # the ER chunks are all that is fetched
    assert counted.bytes <= 1.15 * raw, (counted.bytes, raw)
    np.testing.assert_array_equal(pt.channel_stack("DNA")[0].compute(), data[0, 0, 0])


def test_a_remote_hcs_plate_gives_the_fields_of_plate_well_site(
    bucket_zarrs, creds, tmp_path
):
    fs, query, _, wells = bucket_zarrs
    table = tmp_path / "plate_cells.parquet"
    rows = [
        {"Metadata_Plate": "P1", "Metadata_Well": w, "Metadata_Site": s}
        for w, s in (("B03", 1), ("B03", 2), ("C04", 1), ("D05", 1))
    ]
    for i, row in enumerate(rows):
        row.update(
            Nuclei_Number_Object_Number=1,
            Nuclei_Location_Center_X=float(i),
            Nuclei_Location_Center_Y=3.0,
        )
    pq.write_table(_profiles(rows), table)
    plate = f"s3://cells/z/plate.ome.zarr?{query}"
    pt = arrowscope.open_profiles(table, images=plate)
    assert pt.link("OME-Zarr plate") is not None
    assert pt.channel_names == ["DNA", "ER"]
    expected = [wells["B", 3][0], wells["B", 3][1], wells["C", 4][0]]
    stack = pt.channel_stack("ER").compute()
    for i, data in enumerate(expected):
        np.testing.assert_array_equal(stack[i], data[0, 1, 0])
    assert not stack[3].any()  # well D05 is not in the plate: blank, reported
    assert any("well D05" in p and "not in the plate" in p for p in pt.problems)
    assert pt.options()["images"] == plate
    described = pt.link("OME-Zarr plate").describe()
    assert described["wells"] == 2


def test_a_local_plate_by_well_names_of_every_spelling(tmp_path):
    wells = {("A", 1): [_data(51)], ("H", 12): [_data(52)]}
    plate = OmeZarrPlate(str(write_plate(tmp_path / "p.zarr", wells)))
    assert plate.well_path("A01") == "A/1"
    assert plate.well_path("h12") == "H/12"
    assert plate.well_path("H/12") == "H/12"
    assert plate.well_path("B2") is None
    assert plate.fields("H/12") == ["H/12/0"]


def test_image_assets_in_a_bucket(bucket_zarrs, creds, tmp_path):
    from arrowscope.core.profiles.links import ImageAssetsLink

    fs, query, data, _ = bucket_zarrs
    profiles = pa.table(
        {
            "image_id": ["a"],
            "Nuclei_Number_Object_Number": [1],
            "Nuclei_Location_Center_X": [1.0],
            "Nuclei_Location_Center_Y": [1.0],
        }
    )
    assets = pa.table({"image_id": ["a"], "uri": ["s3://cells/z/site.ome.zarr"]})
    pt = arrowscope.open_profiles(
        profiles, image_assets=assets, image_root=f"s3://cells/z/?{query}"
    )
    assert isinstance(pt.link("image assets"), ImageAssetsLink)
    np.testing.assert_array_equal(pt.channel_stack("ER")[0].compute(), data[0, 1, 0])
    # without the root the bucket is outside: reported, not read
    pt = arrowscope.open_profiles(profiles, image_assets=assets)
    assert pt.fields_of_view[0].channels == {}
    assert any(p.startswith("not followed: image asset s3://") for p in pt.problems)


def test_http_locations(bucket_zarrs, s3, tmp_path):
    """A table and its images over plain HTTP(S) (the moto server serves a
    bucket's objects at http://host/bucket/key), read by ranges."""
    pytest.importorskip("aiohttp")
    fs, _, data, _ = bucket_zarrs
    _, port = s3
    base = f"http://127.0.0.1:{port}/cells/z"
    buf = io.BytesIO()
    pq.write_table(
        _profiles(
            [
                {
                    "Metadata_ImageNumber": 1,
                    "Nuclei_Number_Object_Number": 1,
                    "Nuclei_Location_Center_X": 5.0,
                    "Nuclei_Location_Center_Y": 5.0,
                    "Image_URL_ER": f"{base}/site.ome.zarr",
                    "Image_URL_Other": f"http://127.0.0.1:{port}/other/x.ome.zarr",
                }
            ]
        ),
        buf,
    )
    with fs.open_output_stream("cells/z/web.parquet") as out:
        out.write(buf.getvalue())
    pt = arrowscope.open_profiles(f"{base}/web.parquet")
    np.testing.assert_array_equal(pt.channel_stack("ER")[0].compute(), data[0, 1, 0])
    # another path on the same server is outside the table's folder
    assert pt.fields_of_view[0].channels["Other"] is None
    assert any("not followed" in p and "/other/" in p for p in pt.problems)


def test_info_with_an_ome_zarr_plate_as_the_image_table(tmp_path, capsys):
    import json

    from arrowscope.app.cli import main

    plate = write_plate(tmp_path / "plate.ome.zarr", {("B", 3): [_data(61)]})
    table = tmp_path / "cells.parquet"
    pq.write_table(
        _profiles(
            [
                {
                    "Metadata_Plate": "P1",
                    "Metadata_Well": "B03",
                    "Metadata_Site": 1,
                    "Nuclei_Number_Object_Number": 1,
                    "Nuclei_Location_Center_X": 1.0,
                    "Nuclei_Location_Center_Y": 1.0,
                }
            ]
        ),
        table,
    )
    argv = ["info", str(table), "--image-table", str(plate), "--json"]
    assert main(argv) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["channels"] == ["DNA", "ER"]
    assert facts["links"][0]["kind"] == "OME-Zarr plate"
