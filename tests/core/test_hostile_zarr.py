"""Hostile OME-Zarr targets: a declared shape of 10^12 pixels, broken array
metadata, a corrupt or short chunk, a non-numeric dtype, a negative size, a
level path leaving the image. Each is an arrowscope error naming the image
(never a raw MemoryError, TypeError, zlib.error or ValueError); linked from a
profile table the field is shown blank with one warning."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import arrowscope
from arrowscope.core.errors import ArrowscopeError, CorruptFileError
from arrowscope.core.images.omezarr import open_ome_zarr

pytest.importorskip("zarr")
from tests.zarrs import write_image  # noqa: E402

SHAPE = (1, 2, 1, 64, 96)


def _image(tmp_path, version="0.5"):
    data = np.random.default_rng(1).integers(0, 999, SHAPE, dtype=np.uint16)
    return write_image(tmp_path / "f.ome.zarr", data, version=version, levels=1)


def _meta(where, version):
    return where / "0" / ("zarr.json" if version == "0.5" else ".zarray")


def _edit(where, version, change):
    path = _meta(where, version)
    spec = json.loads(path.read_text())
    change(spec)
    path.write_text(json.dumps(spec))


def _huge(spec):
    key = "shape" if "shape" in spec else None
    spec[key] = [1, 2, 1, 1_000_000, 1_000_000]


def _negative(spec):
    spec["shape"] = [1, 2, 1, -64, 96]


def _object_dtype(spec):
    if "data_type" in spec:
        spec["data_type"] = "string"
    else:
        spec["dtype"] = "|O"


def _garbage(spec):
    spec.clear()
    spec["zarr_format"] = 3
    spec["node_type"] = "array"


@pytest.mark.parametrize("version", ["0.5", "0.4"])
def test_a_huge_declared_plane_is_refused_before_allocation(tmp_path, version):
    where = _image(tmp_path, version)
    _edit(where, version, _huge)
    image = open_ome_zarr(where)  # metadata only: fine
    with pytest.raises(CorruptFileError, match="more than arrowscope reads at once"):
        image.read(((0, 1), (0, 1), (0, 1), (0, 1_000_000), (0, 1_000_000)))


@pytest.mark.parametrize("version", ["0.5", "0.4"])
@pytest.mark.parametrize("change", [_negative, _object_dtype, _garbage])
def test_broken_array_metadata_is_named(tmp_path, version, change):
    where = _image(tmp_path, version)
    if change is _garbage and version == "0.4":
        _meta(where, version).write_text("{ not json")
    else:
        _edit(where, version, change)
    with pytest.raises(ArrowscopeError) as info:
        open_ome_zarr(where).to_numpy()
    assert str(where) in str(info.value)


@pytest.mark.parametrize("damage", ["truncate", "garble"])
def test_a_corrupt_chunk_is_named(tmp_path, damage):
    where = _image(tmp_path, "0.4")  # zarr v2: one file per chunk, compressed
    chunks = sorted(
        p
        for p in (where / "0").rglob("*")
        if p.is_file() and not p.name.startswith(".")
    )
    chunk = chunks[0]
    raw = chunk.read_bytes()
    chunk.write_bytes(raw[: len(raw) // 3] if damage == "truncate" else b"\x00" * 40)
    with pytest.raises(CorruptFileError, match="a chunk cannot be read"):
        open_ome_zarr(where).to_numpy()


def test_a_level_path_that_leaves_the_image_is_refused(tmp_path):
    where = _image(tmp_path)
    spec = json.loads((where / "zarr.json").read_text())
    spec["attributes"]["ome"]["multiscales"][0]["datasets"][0]["path"] = "../../x"
    (where / "zarr.json").write_text(json.dumps(spec))
    with pytest.raises(CorruptFileError, match="not inside the image"):
        open_ome_zarr(where)


def test_a_broken_linked_target_is_a_blank_field_with_one_warning(tmp_path):
    good = write_image(
        tmp_path / "good.ome.zarr",
        np.ones(SHAPE, np.uint16),
        levels=1,
    )
    bad = _image(tmp_path, "0.4")
    chunks = [
        p for p in (bad / "0").rglob("*") if p.is_file() and not p.name.startswith(".")
    ]
    for chunk in chunks:
        chunk.write_bytes(b"\x00" * 7)
    table = tmp_path / "cells.parquet"
    pq.write_table(
        pa.table(
            {
                "Metadata_ImageNumber": [1, 2],
                "Nuclei_Number_Object_Number": [1, 1],
                "Nuclei_Location_Center_X": [1.0, 1.0],
                "Nuclei_Location_Center_Y": [1.0, 1.0],
                "Image_FileName_ER": [good.name, bad.name],
            }
        ),
        table,
    )
    pt = arrowscope.open_profiles(table)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        stack = pt.channel_stack("ER").compute()
    assert stack[0].all() and not stack[1].any()
    said = [w for w in seen if "shown blank" in str(w.message)]
    assert len(said) == 1 and "f.ome.zarr" in str(said[0].message)
