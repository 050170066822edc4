"""A profile table in a bucket naming its images in the bucket, against a real
S3-protocol server on 127.0.0.1 (moto): by ``Image_PathName_<ch>``, by
``Image_URL_<ch>``, by file name under a remote ``image_root``; confinement;
requests and bytes counted by a wrapper filesystem between pyarrow and S3."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tifffile

import arrowscope

CHANNELS = ("DNA", "ER", "Mito")
FIELDS = (1, 2)
SHAPE = (256, 256)


def _put(fs, key, data: bytes):
    with fs.open_output_stream(key) as out:
        out.write(data)


def _tiff(plane):
    buf = io.BytesIO()
    tifffile.imwrite(buf, plane, rowsperstrip=16)  # strips: a plane is read whole
    return buf.getvalue()


@pytest.fixture(scope="module")
def plate(s3):
    """Two fields × three channels of TIFFs under s3://cells/images/plate1/."""
    fs, port = s3
    rng = np.random.default_rng(11)
    pixels, sizes = {}, {}
    for f in FIELDS:
        for ch in CHANNELS:
            plane = rng.integers(0, 4000, SHAPE, dtype=np.uint16)
            data = _tiff(plane)
            name = f"r01c0{f}f01p01-{ch}.tiff"
            _put(fs, f"cells/images/plate1/{name}", data)
            pixels[f, ch], sizes[f, ch] = plane, len(data)
    query = f"endpoint_override=127.0.0.1:{port}&scheme=http&region=us-east-1"
    return fs, query, pixels, sizes


def _profiles(fs, key, columns):
    rows = []
    for f in FIELDS:
        for obj in (1, 2):
            row = {
                "Metadata_Plate": "plate1",
                "Metadata_ImageNumber": f,
                "Nuclei_Number_Object_Number": obj,
                "Nuclei_Location_Center_X": 40.0 * obj,
                "Nuclei_Location_Center_Y": 50.0,
            }
            for ch in CHANNELS:
                row.update(columns(f, ch))
            rows.append(row)
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buf)
    _put(fs, key, buf.getvalue())


def _name(f, ch):
    return f"r01c0{f}f01p01-{ch}.tiff"


def _assert_exact(pt, pixels):
    assert pt.channel_names == list(CHANNELS)
    assert not [p for p in pt.problems if "not found" in p], pt.problems
    for ch in CHANNELS:
        stack = pt.channel_stack(ch).compute()
        for i, f in enumerate(FIELDS):
            np.testing.assert_array_equal(stack[i], pixels[f, ch])


def test_path_name_columns_in_the_bucket(plate, creds, counted):
    fs, query, pixels, sizes = plate
    _profiles(
        fs,
        "cells/plate1.parquet",
        lambda f, ch: {
            f"Image_FileName_{ch}": _name(f, ch),
            f"Image_PathName_{ch}": "s3://cells/images/plate1",
        },
    )
    pt = arrowscope.open_profiles(f"s3://cells/plate1.parquet?{query}")
    counted.reset()
    assert len(pt.fields_of_view) == 2  # links built: no pixels read
    assert counted.bytes < 4096, counted.bytes
    counted.reset()
    stack = pt.channel_stack("ER")  # shape and dtype from TIFF headers only
    assert counted.bytes <= 2 * 16384, counted.bytes
    counted.reset()
    plane = stack[1].compute()
    np.testing.assert_array_equal(plane, pixels[2, "ER"])
    # one field's one channel: that TIFF's bytes, not the bucket's, in a
    # few ranged requests (not one per strip)
    assert counted.bytes <= 1.15 * sizes[2, "ER"], (counted.bytes, sizes[2, "ER"])
    assert counted.requests <= 4, counted.requests
    _assert_exact(pt, pixels)
    assert pt.link("files").describe()["kind"] == "files"


def test_url_columns(plate, creds):
    fs, query, pixels, _ = plate
    _profiles(
        fs,
        "cells/plate1_urls.parquet",
        lambda f, ch: {f"Image_URL_{ch}": f"s3://cells/images/plate1/{_name(f, ch)}"},
    )
    pt = arrowscope.open_profiles(f"s3://cells/plate1_urls.parquet?{query}")
    _assert_exact(pt, pixels)


def test_file_names_only_under_a_remote_image_root(plate, creds, counted, tmp_path):
    fs, query, pixels, _ = plate
    table = tmp_path / "local_profiles.parquet"
    rows = pa.table(
        {
            "Metadata_ImageNumber": list(FIELDS),
            "Nuclei_Number_Object_Number": [1, 1],
            "Nuclei_Location_Center_X": [10.0, 10.0],
            "Nuclei_Location_Center_Y": [10.0, 10.0],
            **{
                f"Image_FileName_{ch}": [_name(f, ch) for f in FIELDS]
                for ch in CHANNELS
            },
            # paths recorded on the machine that ran CellProfiler
            **{
                f"Image_PathName_{ch}": ["/data/plate1"] * len(FIELDS)
                for ch in CHANNELS
            },
        }
    )
    pq.write_table(rows, table)
    pt = arrowscope.open_profiles(table, image_root=f"s3://cells/images/?{query}")
    counted.reset()
    _assert_exact(pt, pixels)
    assert pt.options()["image_root"].startswith("s3://cells/images/")


def test_a_link_out_of_the_roots_is_reported_not_followed(plate, creds, counted):
    fs, query, _, _ = plate
    fs.create_dir("elsewhere")
    _put(fs, "elsewhere/secret.tiff", _tiff(np.ones(SHAPE, np.uint16)))
    _profiles(
        fs,
        "cells/sub/escaping.parquet",
        lambda f, ch: {
            f"Image_FileName_{ch}": "secret.tiff",
            f"Image_PathName_{ch}": "s3://elsewhere",
        },
    )
    pt = arrowscope.open_profiles(f"s3://cells/sub/escaping.parquet?{query}")
    pt.key_table  # noqa: B018 - the table's own reads, done
    counted.reset()
    fovs = pt.fields_of_view
    assert all(fov.channels[ch] is None for fov in fovs for ch in CHANNELS)
    refused = [p for p in pt.problems if p.startswith("not followed")]
    assert refused and "s3://elsewhere/secret.tiff" in refused[0]
    assert counted.requests == 0 and counted.bytes == 0  # never touched


def test_info_lists_the_links(plate, creds, capsys):
    from arrowscope.app.cli import main

    fs, query, _, _ = plate
    _profiles(
        fs,
        "cells/plate1_info.parquet",
        lambda f, ch: {
            f"Image_FileName_{ch}": _name(f, ch),
            f"Image_PathName_{ch}": "s3://cells/images/plate1",
        },
    )
    assert main(["info", f"s3://cells/plate1_info.parquet?{query}", "--json"]) == 0
    import json

    facts = json.loads(capsys.readouterr().out)
    assert facts["layout"] == "profile-table"
    assert facts["channels"] == list(CHANNELS)
    (link,) = facts["links"]
    assert link["kind"] == "files" and set(link["channels"]) == set(CHANNELS)
