"""The napari reader on a table in object storage (moto server on loopback)."""

from __future__ import annotations

import numpy as np


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

    from arrowscope.app.cli import main

    uri = s3_uri("cells/crops.ome.parquet")
    png = tmp_path / "view.png"
    assert main(["view", uri, "--screenshot", str(png)]) == 0
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
