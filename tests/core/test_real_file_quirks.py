"""Files other projects write, as they really are (see ../shared/FORMAT.md)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import arrowscope
from arrowscope.app.info import describe


def _planar_composite(tmp_path):
    """CytoDataFrame >= 0.3.6: a _COMP crop as three planes with size_c = 3."""
    rgb = np.random.default_rng(5).integers(0, 255, (3, 6, 7), dtype=np.int64)
    record = {
        "acquisition_datetime": None,
        "id": "crop",
        "image_type": None,
        "name": "crop",
        "pixels_meta": {
            "channels": [{"name": n, "color_rgba": None} for n in "RGB"],
            "dimension_order": "XYCT",
            "physical_size_x": 1.0,
            "physical_size_y": 1.0,
            "physical_size_z": 1.0,
            "size_c": 3,
            "size_t": 1,
            "size_x": 7,
            "size_y": 6,
            "size_z": 1,
            "type": "uint8",
        },
        "planes": [
            {"c": c, "pixels": rgb[c].ravel().tolist(), "t": 0, "z": 0}
            for c in range(3)
        ],
        "type": "ome.arrow",
        "version": "0.0.5",
    }
    table = pa.table(
        {
            "Image_FileName_OrigDNA_OMEArrow_COMP": pa.array([record]),
            "Metadata_ImageNumber": [1],
        }
    )
    path = tmp_path / "comp.ome.parquet"
    pq.write_table(table, path)
    return path, rgb


def test_planar_rgb_composite_opens_as_rgb(tmp_path):
    path, rgb = _planar_composite(tmp_path)
    for rgb_flag in (None, True):
        img = arrowscope.open_image(path, rgb=rgb_flag)
        assert img.rgb and img.shape == (1, 3, 1, 6, 7)
        assert np.array_equal(img.to_numpy()[0, :, 0], rgb)
    facts = describe(path)
    (column,) = facts["image_columns"]
    assert column["rgb"] and column["channels"] == ["R", "G", "B"]


def test_interleaved_composite_lists_its_channels(cytodataframe_file):
    facts = describe(cytodataframe_file)
    comp = [c for c in facts["image_columns"] if c["column"].endswith("_COMP")]
    assert comp and all(c["channels"] == ["R", "G", "B"] for c in comp)


def test_reference_dataset_units_and_sizes_agree(tmp_path):
    ome_arrow = pytest.importorskip("ome_arrow")
    data = np.arange(2 * 16 * 16, dtype=np.uint16).reshape(1, 1, 2, 16, 16)
    ome_arrow.write_ome_arrow_dataset([data], tmp_path / "ds")
    img = arrowscope.open_image(tmp_path / "ds")
    (info,) = arrowscope.list_images(tmp_path / "ds")
    assert img.units == ("µm", "µm", "µm")
    assert info.units == img.units
    assert info.physical_size == img.physical_size
    assert np.array_equal(img.to_numpy(), data)


@pytest.mark.parametrize("table", ["image_crops", "source_images"])
def test_cytotable_warehouse_tables_read_exactly(table):
    """CytoTable 1.2.6 structs: no masks field, int32 pixels, stored twice."""
    from tests.conftest import shared_file

    folder = shared_file("examplehuman_warehouse", "warehouse", "images", table, "data")
    (path,) = sorted(folder.glob("*.parquet"))
    src = arrowscope.open_source(path)
    assert "ome_arrow_image" in src.image_columns
    assert src.problems.get("ome_arrow_image", {}) == {}
    record = pq.read_table(path, columns=["ome_arrow_image"]).column(0)[0].as_py()
    assert "masks" not in record  # what makes the struct "not OME-Arrow" elsewhere
    img = src.image("ome_arrow_image", 0)
    pm = record["pixels_meta"]
    assert img.dtype == np.dtype(pm["type"])
    expected = np.asarray(record["planes"][0]["pixels"]).reshape(
        pm["size_y"], pm["size_x"]
    )
    assert np.array_equal(img.to_numpy()[0, 0, 0], expected)


def test_cytotable_profiles_locate_cells_by_their_source_box():
    from tests.conftest import shared_file

    folder = shared_file(
        "examplehuman_warehouse", "warehouse", "profiles", "joined_profiles", "data"
    )
    (path,) = sorted(folder.glob("*.parquet"))
    pt = arrowscope.open_profiles(path)
    assert pt.keys.bbox == (
        "Metadata_SourceBBoxXMin",
        "Metadata_SourceBBoxYMin",
        "Metadata_SourceBBoxXMax",
        "Metadata_SourceBBoxYMax",
    )
    row = (
        pq.read_table(
            path,
            columns=[
                "Metadata_SourceBBoxXMin",
                "Metadata_SourceBBoxYMin",
                "Metadata_SourceBBoxXMax",
                "Metadata_SourceBBoxYMax",
            ],
        )
        .slice(5, 1)
        .to_pylist()[0]
    )
    y0, x0, y1, x1 = pt.locate(5).bbox
    assert (x0, y0, x1, y1) == (
        row["Metadata_SourceBBoxXMin"],
        row["Metadata_SourceBBoxYMin"],
        row["Metadata_SourceBBoxXMax"],
        row["Metadata_SourceBBoxYMax"],
    )
