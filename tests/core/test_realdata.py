"""The real CytoDataFrame OME-Parquet file in ../shared/data (skipped when absent)."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

import arrowscope
from arrowscope.core import ImageNotFoundError


def test_cytodataframe_table_lists_every_image(cytodataframe_file):
    src = arrowscope.open_source(cytodataframe_file)
    assert src.num_rows == 3
    assert src.empty_columns == ["Image_FileName_OrigAGP_OMEArrow_LABL"]
    assert len(src.image_columns) == 8
    assert "Metadata_ImageNumber" in src.other_columns
    infos = arrowscope.list_images(cytodataframe_file)
    assert len(infos) == 8 * 3
    with pytest.raises(ImageNotFoundError, match="holds no images"):
        arrowscope.open_image(
            cytodataframe_file, "Image_FileName_OrigAGP_OMEArrow_LABL"
        )


def test_cytodataframe_pixels_exact(cytodataframe_file):
    raw = pq.read_table(cytodataframe_file)
    for col in (
        "Image_FileName_OrigDNA_OMEArrow_ORIG",
        "Image_FileName_OrigDNA_OMEArrow_LABL",
    ):
        for row in range(3):
            rec = raw.column(col)[row].as_py()
            Y, X = rec["pixels_meta"]["size_y"], rec["pixels_meta"]["size_x"]
            img = arrowscope.open_image(cytodataframe_file, col, row)
            assert img.dtype == np.uint16 and img.shape == (1, 1, 1, Y, X)
            expected = np.array(rec["planes"][0]["pixels"]).reshape(Y, X)
            assert np.array_equal(img.to_numpy()[0, 0, 0], expected)
    assert arrowscope.open_image(
        cytodataframe_file, "Image_FileName_OrigDNA_OMEArrow_LABL"
    ).is_label
    assert not arrowscope.open_image(
        cytodataframe_file, "Image_FileName_OrigDNA_OMEArrow_ORIG"
    ).is_label


def test_cytodataframe_composites_read_as_rgb(cytodataframe_file):
    raw = pq.read_table(cytodataframe_file)
    rec = raw.column("Image_FileName_OrigDNA_OMEArrow_COMP")[2].as_py()
    Y, X = rec["pixels_meta"]["size_y"], rec["pixels_meta"]["size_x"]
    img = arrowscope.open_image(
        cytodataframe_file, "Image_FileName_OrigDNA_OMEArrow_COMP", 2
    )
    assert img.rgb and img.shape == (1, 3, 1, Y, X)
    interleaved = np.array(rec["planes"][0]["pixels"]).reshape(Y, X, 3)
    assert np.array_equal(np.moveaxis(img.to_numpy()[0, :, 0], 0, -1), interleaved)
