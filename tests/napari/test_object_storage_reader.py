"""The napari reader on a table in object storage (moto server on loopback)."""

from __future__ import annotations

import numpy as np


def test_napari_reader_claims_uris_by_name(s3, crops, monkeypatch):
    from arrowscope._napari.reader import get_reader

    _, port = s3
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    uri = (
        f"s3://cells/crops.ome.parquet?endpoint_override=127.0.0.1:{port}"
        "&scheme=http&region=us-east-1"
    )
    reader = get_reader(uri)
    assert reader is not None
    (layer,) = reader(uri)
    data, kwargs, kind = layer
    assert kind == "image" and data.shape[0] == 40
    assert np.array_equal(np.asarray(data[3]), crops[0][3])
    assert get_reader("s3://cells/notes.txt") is None
