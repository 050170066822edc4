"""Hostile locations: links that try to leave their roots by ``..``,
percent-escapes, back slashes, another bucket or host, and OME-Zarr plates
whose well or field paths climb out. Each case runs against a real
S3-protocol server on 127.0.0.1 (moto) behind a request-logging proxy, so
the oracle is what the server received: zero requests outside the roots, the
link reported as not followed, and the links inside still read exactly."""

from __future__ import annotations

import io
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tifffile

import arrowscope
from arrowscope.core.images.locations import (
    LocationError,
    parse,
    parse_table_value,
    posix_relative,
)
from tests.conftest import reached

SHAPE = (32, 48)


def _tiff(plane) -> bytes:
    buf = io.BytesIO()
    tifffile.imwrite(buf, plane)
    return buf.getvalue()


def _put(fs, key, data: bytes) -> None:
    with fs.open_output_stream(key) as out:
        out.write(data)


def _table(urls: dict[str, str]) -> pa.Table:
    row = {
        "Metadata_ImageNumber": 1,
        "Nuclei_Number_Object_Number": 1,
        "Nuclei_Location_Center_X": 5.0,
        "Nuclei_Location_Center_Y": 5.0,
    }
    row.update({f"Image_URL_{ch}": url for ch, url in urls.items()})
    return pa.Table.from_pylist([row])


@pytest.fixture(scope="module")
def world(s3):
    """Good pixels under cells/good/ and cells/images/; a secret under
    cells/secret/ and in the bucket ``evil``."""
    fs, _ = s3
    fs.create_dir("evil")
    good = np.arange(SHAPE[0] * SHAPE[1], dtype=np.uint16).reshape(SHAPE)
    secret = np.full(SHAPE, 7, np.uint16)
    _put(fs, "cells/good/prefix/img/ok.tiff", _tiff(good))
    _put(fs, "cells/images/plate1/ok.tiff", _tiff(good))
    _put(fs, "cells/secret/x.tiff", _tiff(secret))
    _put(fs, "evil/x.tiff", _tiff(secret))
    return fs, good


# ---- normalisation, unit by unit ------------------------------------------------
@pytest.mark.parametrize(
    "text, expected",
    [
        ("s3://b/a/./c//d", "s3://b/a/c/d"),
        ("s3://b/a/x/../c", "s3://b/a/c"),
        ("s3://b/a/%2e%2e/c", "s3://b/c"),
        ("s3://b/a/..%2fc", "s3://b/c"),
        ("S3://B/a\\..\\c", "s3://b/c"),
        ("HTTP://Host:80/a/%2E%2E/b", "http://host/b"),
        ("gcs://b/k", "gs://b/k"),
    ],
)
def test_locations_are_normalised_before_anything_else(text, expected):
    assert parse(text).uri == expected


@pytest.mark.parametrize(
    "text",
    [
        "s3://b/../evil/x",
        "s3://b/a/%2e%2e/%2e%2e/evil/x",
        "s3://b/a/%252e%252e/x",  # double encoding
        "http://h/a/..%5c..%5cx",
        "s3:///no-bucket",
        "s3://b/a\x00b",
    ],
)
def test_locations_that_climb_or_hide_are_refused(text):
    with pytest.raises(LocationError):
        parse(text)


def test_containment_compares_segments_not_prefixes():
    root = parse("s3://cells/good/")
    assert parse("s3://cells/good/x.tif").within(root)
    assert not parse("s3://cells/goodness/x.tif").within(root)
    assert not parse("s3://cells2/good/x.tif").within(root)
    # same bucket on another endpoint is another place
    other = parse("s3://cells/good/x.tif?endpoint_override=10.0.0.1:9000")
    here = parse("s3://cells/good/?endpoint_override=127.0.0.1:9000")
    assert not other.within(here)
    assert parse("s3://cells/good/x.tif").within(here)  # read on the root's


def test_table_values_join_under_their_folder(tmp_path):
    folder = parse(tmp_path)
    assert parse_table_value("a\\b.tif", folder).path == tmp_path / "a" / "b.tif"
    assert parse_table_value("file:///data/x%20y.tif").path.name == "x y.tif"
    with pytest.raises(LocationError):
        parse_table_value("C:\\data\\x.tif")
    up = parse_table_value("../x.tif", folder)
    assert not up.within(folder)


@pytest.mark.parametrize(
    "path", ["../x", "A/../../x", "/abs", "s3://b/x", "A\\..\\x", "%2e%2e/x", ""]
)
def test_plate_paths_stay_inside_the_plate(path):
    with pytest.raises(LocationError):
        posix_relative(path)


# ---- S3, through the logging proxy --------------------------------------------
ESCAPES_FROM_THE_BUCKET = {
    "Dots": "s3://cells/good/prefix/../../../evil/x.tiff",
    "Escaped": "s3://cells/good/prefix/%2e%2e/%2e%2e/%2e%2e/evil/x.tiff",
    "Slashes": "s3://cells/good/prefix/..%2f..%2f..%2fevil/x.tiff",
    "Double": "s3://cells/good/prefix/%252e%252e/%252e%252e/evil/x.tiff",
    "Backslash": "s3://cells/good/prefix\\..\\..\\..\\evil\\x.tiff",
    "Bucket": "s3://evil/x.tiff",
}


def test_s3_links_never_leave_their_roots(world, logged_s3, creds, tmp_path):
    fs, good = world
    port, requests = logged_s3
    query = f"endpoint_override=127.0.0.1:{port}&scheme=http&region=us-east-1"
    table = tmp_path / "local.parquet"
    urls = {
        "Good": "s3://cells/good/prefix/img/ok.tiff",
        # inside the bucket, outside the root given
        "Sideways": "s3://cells/good/prefix/../../secret/x.tiff",
        **ESCAPES_FROM_THE_BUCKET,
    }
    pq.write_table(_table(urls), table)
    requests.clear()
    pt = arrowscope.open_profiles(table, image_root=f"s3://cells/good/prefix/?{query}")
    np.testing.assert_array_equal(pt.channel_stack("Good")[0].compute(), good)
    for ch in urls:
        if ch != "Good":
            assert pt.fields_of_view[0].channels[ch] is None, ch
            assert not pt.channel_stack(ch)[0].compute().any()
    assert requests, "the good link was read through the proxy"
    assert reached(requests, "/evil") == []
    assert reached(requests, "/cells/secret") == []
    refused = [p for p in pt.problems if p.startswith("not followed: ")]
    assert len(refused) == len(urls) - 1, pt.problems
    assert any("s3://cells/secret/x.tiff" in p for p in refused)  # normalised
    assert all("--images" in p and "allow_outside_roots" in p for p in refused)


def test_a_bucket_table_reaches_its_own_bucket_not_another(world, logged_s3, creds):
    """The Cell Painting Gallery layout: profiles under workspace/, images
    beside them in the same bucket; another bucket is not followed."""
    fs, good = world
    port, requests = logged_s3
    query = f"endpoint_override=127.0.0.1:{port}&scheme=http&region=us-east-1"
    buf = io.BytesIO()
    pq.write_table(
        _table(
            {
                "DNA": "s3://cells/images/plate1/ok.tiff",
                "ER": "s3://evil/x.tiff",
            }
        ),
        buf,
    )
    _put(fs, "cells/workspace/profiles/plate1.parquet", buf.getvalue())
    requests.clear()
    pt = arrowscope.open_profiles(
        f"s3://cells/workspace/profiles/plate1.parquet?{query}"
    )
    np.testing.assert_array_equal(pt.channel_stack("DNA")[0].compute(), good)
    assert pt.fields_of_view[0].channels["ER"] is None
    assert reached(requests, "/evil") == []
    (refused,) = [p for p in pt.problems if p.startswith("not followed: ")]
    assert "s3://evil/x.tiff" in refused


def test_refused_links_are_named_when_no_image_is_left(world, logged_s3, creds):
    fs, _ = world
    port, requests = logged_s3
    query = f"endpoint_override=127.0.0.1:{port}&scheme=http&region=us-east-1"
    buf = io.BytesIO()
    pq.write_table(_table({"DNA": "s3://evil/x.tiff"}), buf)
    _put(fs, "cells/workspace/only_elsewhere.parquet", buf.getvalue())
    pt = arrowscope.open_profiles(
        f"s3://cells/workspace/only_elsewhere.parquet?{query}"
    )
    with pytest.raises(arrowscope.ArrowscopeError) as info:
        pt.channel_stack("DNA")
    text = str(info.value)
    assert "refused" in text and "s3://evil/x.tiff" in text
    assert "--images" in text and "allow_outside_roots" in text
    assert reached(requests, "/evil") == []


# ---- HTTP, through the same proxy ---------------------------------------------
def test_http_links_never_leave_the_tables_folder(world, logged_s3):
    pytest.importorskip("aiohttp")
    fs, good = world
    port, requests = logged_s3
    base = f"http://127.0.0.1:{port}/cells/good/prefix"
    urls = {
        "Good": f"{base}/img/ok.tiff",
        "Dots": f"{base}/../../secret/x.tiff",
        "Escaped": f"{base}/%2e%2e/%2e%2e/secret/x.tiff",
        "Upper": f"{base}/%2E%2E/%2E%2E/secret/x.tiff",
        "Double": f"{base}/%252e%252e/%252e%252e/secret/x.tiff",
        "Backslash": f"{base}\\..\\..\\secret\\x.tiff",
        "Dotted": f"{base}/img/./../../../secret/x.tiff",
        "Host": f"http://localhost:{port}/cells/good/prefix/img/ok.tiff",
    }
    buf = io.BytesIO()
    pq.write_table(_table(urls), buf)
    _put(fs, "cells/good/prefix/web.parquet", buf.getvalue())
    requests.clear()
    pt = arrowscope.open_profiles(f"{base}/web.parquet")
    np.testing.assert_array_equal(pt.channel_stack("Good")[0].compute(), good)
    for ch in urls:
        if ch != "Good":
            assert pt.fields_of_view[0].channels[ch] is None, ch
    assert reached(requests, "/cells/secret") == []
    assert reached(requests, "/cells/good/prefix") == requests_paths(requests)
    refused = [p for p in pt.problems if p.startswith("not followed: ")]
    assert len(refused) == len(urls) - 1, pt.problems


def requests_paths(requests):
    return [raw for _, raw in requests]


# ---- OME-Zarr plates whose paths climb out ------------------------------------
def _hostile_plate(local, well_path: str, field_path: str = "0"):
    pytest.importorskip("zarr")
    from tests.zarrs import write_image, write_plate

    data = np.random.default_rng(3).integers(0, 900, (1, 2, 1, 16, 16), np.uint16)
    plate = write_plate(local / "plate.ome.zarr", {("B", 3): [data]})
    write_image(local / "outside" / "x.zarr", data)  # a valid image out there
    meta = plate / "zarr.json"
    spec = json.loads(meta.read_text())
    spec["attributes"]["ome"]["plate"]["wells"][0]["path"] = well_path
    meta.write_text(json.dumps(spec))
    well = plate / "B" / "3" / "zarr.json"
    spec = json.loads(well.read_text())
    spec["attributes"]["ome"]["well"]["images"][0]["path"] = field_path
    well.write_text(json.dumps(spec))
    return plate


def _plate_rows(tmp_path):
    table = tmp_path / "cells.parquet"
    pq.write_table(
        pa.table(
            {
                "Metadata_Plate": ["P1"],
                "Metadata_Well": ["B03"],
                "Metadata_Site": [1],
                "Nuclei_Number_Object_Number": [1],
                "Nuclei_Location_Center_X": [1.0],
                "Nuclei_Location_Center_Y": [1.0],
            }
        ),
        table,
    )
    return table


@pytest.mark.parametrize(
    "well, field",
    [("../../../../outside/x.zarr", "0"), ("B/3", "../../../outside/x.zarr")],
)
def test_a_plate_in_a_bucket_is_read_only_inside(
    well, field, s3, logged_s3, creds, tmp_path
):
    from tests.zarrs import upload_tree

    fs, _ = s3
    port, requests = logged_s3
    local = tmp_path / "local"
    _hostile_plate(local, well, field)
    upload_tree(fs, local, "cells/plates")
    requests.clear()
    query = f"endpoint_override=127.0.0.1:{port}&scheme=http&region=us-east-1"
    pt = arrowscope.open_profiles(
        _plate_rows(tmp_path), images=f"s3://cells/plates/plate.ome.zarr?{query}"
    )
    assert all(not fov.channels for fov in pt.fields_of_view)
    assert reached(requests, "/cells/plates/outside") == []
    assert reached(requests, "/cells/outside") == []
    assert reached(requests, "/outside") == []
    assert any("outside" in p or "leaves" in p for p in pt.problems), pt.problems


def test_a_local_plate_is_read_only_inside(tmp_path):
    local = tmp_path / "local"
    _hostile_plate(local, "B/3", "../../../outside/x.zarr")
    pt = arrowscope.open_profiles(
        _plate_rows(tmp_path), images=local / "plate.ome.zarr"
    )
    assert all(not fov.channels for fov in pt.fields_of_view)
    assert any("leaves its folder" in p for p in pt.problems), pt.problems
