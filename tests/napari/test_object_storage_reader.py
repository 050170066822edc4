"""The napari reader on a table in object storage (moto server on loopback)."""

from __future__ import annotations

import numpy as np

from tests.conftest import run_cli


def test_napari_reader_claims_uris_by_name(crops, s3_uri):
    from arrowscope._napari.reader import get_reader

    uri = s3_uri("cells/crops.ome.parquet")
    reader = get_reader(uri)
    assert reader is not None
    (layer,) = reader(uri)
    data, kwargs, kind = layer
    assert kind == "image" and data.shape[0] == 40
    assert np.array_equal(np.asarray(data[3]), crops[0][3])
    assert get_reader("s3://cells/notes.txt") is None


def test_view_a_uri_shows_the_first_crop(crops, tmp_path, s3_uri):
    from PIL import Image

    uri = s3_uri("cells/crops.ome.parquet")
    png = tmp_path / "view.png"
    done = run_cli("view", uri, "--screenshot", png)
    assert done.returncode == 0, done.stderr
    pixels = np.asarray(Image.open(png).convert("L"))
    assert pixels.std() > 5  # the crop's noise is on screen, not a blank canvas


def test_lance_crop_table_drops_onto_napari(tmp_path, make_napari_viewer):
    import pytest

    pytest.importorskip("lance")
    import arrowscope
    from arrowscope._napari.preferences import ensure_reader_preferences

    ensure_reader_preferences()  # what the app and the first use of the plugin do

    rng = np.random.default_rng(4)
    crops = [rng.integers(0, 999, (2, 12, 10), dtype=np.uint16) for _ in range(5)]
    path = arrowscope.write_ome_table(
        tmp_path / "crops.lance",
        {
            "crop": [
                {"data": c, "dims": "CYX", "channel_names": ["DNA", "ER"]}
                for c in crops
            ]
        },
        extra_columns={"Cells_AreaShape_Area": [1.0, 2.0, 3.0, 4.0, 5.0]},
        format="lance",
    )
    viewer = make_napari_viewer()
    layers = viewer.open(str(path), plugin=None)  # as a drop: no plugin named
    assert [layer.name for layer in layers] == ["DNA", "ER"]
    dna = viewer.layers["DNA"]
    assert dna.data.shape == (5, 12, 10)
    assert np.array_equal(np.asarray(dna.data[3]), crops[3][0])
    feats = dna.metadata["arrowscope"]["features"]
    assert feats["Cells_AreaShape_Area"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_a_profile_table_in_a_bucket_opens_with_its_images(s3, s3_uri, tmp_path):
    """Dragging (or `arrowscope view`-ing) the URI of a profile table whose rows
    name TIFFs in the bucket: the channels come up with exact pixels."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq
    import tifffile
    from PIL import Image

    from arrowscope._napari.reader import get_reader

    fs, _ = s3
    rng = np.random.default_rng(5)
    planes = [rng.integers(0, 4000, (64, 64), dtype=np.uint16) for _ in range(2)]
    for i, plane in enumerate(planes, start=1):
        buf = io.BytesIO()
        tifffile.imwrite(buf, plane)
        with fs.open_output_stream(f"cells/bucketplate/img/f{i}_DNA.tif") as out:
            out.write(buf.getvalue())
    table = pa.table(
        {
            "Metadata_ImageNumber": [1, 2],
            "Nuclei_Number_Object_Number": [1, 1],
            "Nuclei_Location_Center_X": [32.0, 32.0],
            "Nuclei_Location_Center_Y": [32.0, 32.0],
            "Image_FileName_DNA": ["f1_DNA.tif", "f2_DNA.tif"],
            "Image_PathName_DNA": ["s3://cells/bucketplate/img"] * 2,
        }
    )
    buf = io.BytesIO()
    pq.write_table(table, buf)
    with fs.open_output_stream("cells/bucketplate/profiles.parquet") as out:
        out.write(buf.getvalue())
    uri = s3_uri("cells/bucketplate/profiles.parquet")
    reader = get_reader(uri)
    assert reader is not None
    read = reader(uri)
    layers = {kw["name"]: (data, kind) for data, kw, kind in read}
    data, kind = layers["DNA"]
    assert kind == "image" and data.shape == (2, 64, 64)
    np.testing.assert_array_equal(np.asarray(data[1]), planes[1])
    assert layers["cells"][1] == "points"
    # the panels reopen the table from the layer: by its URI
    (cells_kw,) = [kw for _, kw, _ in read if kw["name"] == "cells"]
    assert cells_kw["metadata"]["arrowscope"]["profiles"] == uri
    # qc takes the URI as open_profiles does (no slash dropped)
    yml = tmp_path / "c.yml"
    yml.write_text("thresholds:\n  far:\n    Nuclei_Location_Center_X: 1.5\n")
    flags = tmp_path / "flags.parquet"
    done = run_cli("qc", uri, "--conditions", yml, "--out", flags)
    assert done.returncode == 0, done.stderr
    assert pq.read_table(flags).num_rows == 2
    png = tmp_path / "bucket.png"
    done = run_cli("view", uri, "--screenshot", png)  # a fresh napari, as users run it
    assert done.returncode == 0, done.stderr
    assert np.asarray(Image.open(png).convert("L")).std() > 5
