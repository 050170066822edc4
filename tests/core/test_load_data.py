"""CellProfiler's LoadData file as the image link of a table keyed only by
plate, well and site: each field's row names its channel files (illumination
functions reported apart); locally, and in the bucket (moto on loopback)."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import tifffile

import arrowscope

CHANNELS = ("OrigDNA", "OrigER")


def _profiles(path):
    pq.write_table(
        pa.table(
            {
                "Metadata_Plate": ["BR1"] * 4,
                "Metadata_Well": ["A01", "A01", "B02", "B02"],
                "Metadata_Site": [1, 1, 2, 2],
                "Nuclei_Number_Object_Number": [1, 2, 1, 2],
                "Nuclei_Location_Center_X": [10.0, 20.0, 10.0, 20.0],
                "Nuclei_Location_Center_Y": [10.0, 20.0, 10.0, 20.0],
            }
        ),
        path,
    )


def _load_data(path, folder, fields):
    rows = []
    for well, site in fields:
        row = {"Metadata_Plate": "BR1", "Metadata_Well": well, "Metadata_Site": site}
        for ch in CHANNELS:
            row[f"FileName_{ch}"] = f"{well}_s{site}_{ch}.tiff"
            row[f"PathName_{ch}"] = folder
        row["FileName_IllumDNA"] = "BR1_IllumDNA.npy"  # not a channel
        row["PathName_IllumDNA"] = folder
        rows.append(row)
    pa.csv.write_csv(pa.Table.from_pylist(rows), path)


def test_a_load_data_file_links_plate_well_site_fields(tmp_path):
    import pyarrow.csv  # noqa: F401

    rng = np.random.default_rng(2)
    images = tmp_path / "images"
    images.mkdir()
    pixels = {}
    for well, site in (("A01", 1), ("B02", 2)):
        for ch in CHANNELS:
            plane = rng.integers(0, 999, (32, 32), dtype=np.uint16)
            tifffile.imwrite(images / f"{well}_s{site}_{ch}.tiff", plane)
            pixels[well, ch] = plane
    _profiles(tmp_path / "profiles.parquet")
    # paths as recorded on the cluster that ran CellProfiler
    _load_data(tmp_path / "load_data.csv", "/cluster/BR1", [("A01", 1), ("B02", 2)])
    pt = arrowscope.open_profiles(
        tmp_path / "profiles.parquet",
        image_root=images,
        load_data=tmp_path / "load_data.csv",
    )
    assert [link.kind for link in pt.links] == ["load_data"]
    assert pt.channel_names == list(CHANNELS)
    for i, well in enumerate(("A01", "B02")):
        for ch in CHANNELS:
            np.testing.assert_array_equal(
                pt.channel_stack(ch)[i].compute(), pixels[well, ch]
            )
    assert not [p for p in pt.problems if "not found" in p], pt.problems
    assert pt.options()["load_data"].endswith("load_data.csv")
    # a field the load_data file does not list is named
    _load_data(tmp_path / "short.csv", "/cluster/BR1", [("A01", 1)])
    short = arrowscope.open_profiles(
        tmp_path / "profiles.parquet",
        image_root=images,
        load_data=tmp_path / "short.csv",
    )
    assert len(short.fields_of_view) == 2  # the links are attached here
    assert any("BR1/B02/2 is not in short.csv" in p for p in short.problems)


def test_load_data_naming_images_in_a_bucket(s3, tmp_path, monkeypatch):
    import pyarrow.csv  # noqa: F401

    fs, port = s3
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    rng = np.random.default_rng(3)
    pixels = {}
    for well, site in (("A01", 1), ("B02", 2)):
        for ch in CHANNELS:
            plane = rng.integers(0, 999, (32, 32), dtype=np.uint16)
            buf = io.BytesIO()
            tifffile.imwrite(buf, plane)
            with fs.open_output_stream(
                f"cells/ld/images/{well}_s{site}_{ch}.tiff"
            ) as out:
                out.write(buf.getvalue())
            pixels[well, ch] = plane
    _profiles(tmp_path / "profiles.parquet")
    _load_data(
        tmp_path / "load_data.csv", "s3://cells/ld/images", [("A01", 1), ("B02", 2)]
    )
    query = f"endpoint_override=127.0.0.1:{port}&scheme=http&region=us-east-1"
    pt = arrowscope.open_profiles(
        tmp_path / "profiles.parquet",
        image_root=f"s3://cells/ld/?{query}",
        load_data=tmp_path / "load_data.csv",
    )
    np.testing.assert_array_equal(
        pt.channel_stack("OrigER")[1].compute(), pixels["B02", "OrigER"]
    )


def test_the_command_line_takes_a_load_data_file(tmp_path, capsys):
    import json

    import pyarrow.csv  # noqa: F401

    from arrowscope.app.cli import main

    images = tmp_path / "images"
    images.mkdir()
    for well, site in (("A01", 1), ("B02", 2)):
        for ch in CHANNELS:
            tifffile.imwrite(images / f"{well}_s{site}_{ch}.tiff", np.ones((8, 8)))
    _profiles(tmp_path / "profiles.parquet")
    _load_data(tmp_path / "ld.csv", "/cluster/BR1", [("A01", 1), ("B02", 2)])
    argv = ["info", str(tmp_path / "profiles.parquet"), "--json"]
    assert (
        main([*argv, "--load-data", str(tmp_path / "ld.csv"), "--images", str(images)])
        == 0
    )
    facts = json.loads(capsys.readouterr().out)
    assert facts["channels"] == list(CHANNELS)
    assert [link["kind"] for link in facts["links"]] == ["load_data"]
    # without it the table names no images, and says so
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["channels"] == []
    # view takes the same options, for the table given to --profiles only
    assert main(["view", "--load-data", str(tmp_path / "ld.csv")]) == 2
