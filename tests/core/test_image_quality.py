"""Image quality measured from pixels: MeasureImageQuality's definitions,
checked against an independent formulation of them on real fields, and the
field rules finding planted defects in a real plate's images."""

from __future__ import annotations

import shutil
import threading

import numpy as np
import pytest
from scipy import ndimage

import arrowscope
from arrowscope.app.cli import main
from arrowscope.core.errors import ArrowscopeError
from arrowscope.core.images.quality import image_quality, scaled
from arrowscope.core.profiles import fields as F
from arrowscope.core.profiles.fields import field_table, level_qc, pixel_measures
from tests.conftest import SHARED_DATA

NF1 = SHARED_DATA / "nf1_cellpainting_shrunken"
needs_nf1 = pytest.mark.skipif(not NF1.exists(), reason="../shared/data is absent")


def reference_slope(image: np.ndarray) -> float:
    """PowerLogLogSlope written from CellProfiler's description: the radial
    power spectrum (the mean removed, divided by the median absolute
    deviation; each frequency's radius its index distance to the nearest
    corner of the spectrum, floored, plus one; radii 2 up to an eighth of the
    smaller side) and the least-squares slope of log power on log radius."""
    dist2 = np.add.outer(np.arange(image.shape[0]) ** 2, np.arange(image.shape[1]) ** 2)
    dist2 = np.minimum(dist2, dist2[::-1, :])
    dist2 = np.minimum(dist2, dist2[:, ::-1])
    img = image / np.median(np.abs(image - image.mean()))
    power = np.abs(np.fft.fft2(img - img.mean())) ** 2
    labels = np.floor(np.sqrt(dist2)).astype(int) + 1
    radii = np.arange(2, int(np.floor(min(image.shape) / 8.0)))
    sums = np.asarray(ndimage.sum(power, labels, radii))
    design = np.column_stack([np.log(radii), np.ones(len(radii))])
    return float(np.linalg.lstsq(design, np.log(sums), rcond=None)[0][0])


def _fields():
    import tifffile

    return [tifffile.imread(p) for p in sorted((NF1 / "Plate_2_images").glob("*.tif"))]


@needs_nf1
def test_the_measures_are_cellprofilers_on_real_fields():
    for plane in _fields():
        image = scaled(plane)
        for shown in (plane, ndimage.gaussian_filter(image, 3)):
            got = image_quality(shown)
            ref = image if shown is plane else shown
            assert got["PowerLogLogSlope"] == pytest.approx(
                reference_slope(ref), rel=1e-9
            )
            assert got["FocusScore"] == pytest.approx(ref.var() / ref.mean(), rel=1e-12)
        # a 16-bit field is scaled as CellProfiler loads it (0..1)
        assert got["MaxIntensity"] <= 1.0


def test_blur_saturation_and_flat_images():
    rng = np.random.default_rng(0)
    sharp = rng.random((256, 256))
    blurred = ndimage.gaussian_filter(sharp, 3)
    a, b = image_quality(sharp), image_quality(blurred)
    assert b["PowerLogLogSlope"] < a["PowerLogLogSlope"] - 1  # power lost at high f
    assert b["FocusScore"] < a["FocusScore"]
    clipped = np.minimum(sharp, 0.5)
    assert image_quality(clipped)["PercentMaximal"] == pytest.approx(50, abs=2)
    flat = image_quality(np.full((64, 64), 7, np.uint16))
    assert flat["PowerLogLogSlope"] == 0 and flat["FocusScore"] == 0
    black = image_quality(np.zeros((64, 64), np.uint8))
    assert black["FocusScore"] == 0 and black["PercentMinimal"] == 100
    assert np.isnan(image_quality(np.full((8, 8), np.nan))["FocusScore"])


@pytest.fixture
def plate(tmp_path):
    """The real NF1 plate, one field's DNA blurred and another's GFP clipped."""
    import tifffile

    root = shutil.copytree(NF1, tmp_path / "nf1")
    images = root / "Plate_2_images"
    dna = images / "D6_01_1_2_DAPI_001.tif"
    plane = tifffile.imread(dna)
    tifffile.imwrite(
        dna, ndimage.gaussian_filter(plane.astype(float), 4).astype(plane.dtype)
    )
    gfp = images / "B7_01_2_3_GFP_001.tif"
    plane = tifffile.imread(gfp)
    tifffile.imwrite(
        gfp, np.minimum(plane, np.percentile(plane, 90).astype(plane.dtype))
    )
    return root / "Plate_2_with_image_data_shrunken.parquet"


@needs_nf1
def test_planted_blur_and_saturation_are_found_from_pixels(plate, monkeypatch):
    pt = arrowscope.open_profiles(plate)
    table, result = level_qc(pt, "field", pixels=True)
    well = next(c for c in table.column_names if "Metadata_Well" in c)
    wells = table.column(well).to_pylist()
    flagged = {
        name: [
            w
            for w, f in zip(
                wells,
                result.flags.column(f"Metadata_cqc_{name}_is_outlier").to_pylist(),
                strict=True,
            )
            if f
        ]
        for name in result.report["conditions"]
    }
    assert flagged["blurry_DAPI"] == ["D6"]
    assert flagged["saturated_GFP"] == ["B7"]
    assert not any(
        flagged[c] for c in flagged if c not in ("blurry_DAPI", "saturated_GFP")
    )
    # measured once per field and channel: a second pass reads no pixels
    reads = []
    monkeypatch.setattr(F, "_measure", lambda *a: reads.append(a))
    again = field_table(pt, pixels=["DAPI"])
    assert not reads
    assert again.column("Image_ImageQuality_FocusScore_DAPI").equals(
        table.column("Image_ImageQuality_FocusScore_DAPI")
    )


@needs_nf1
def test_a_missing_image_is_nan_and_named_and_cancel_stops(plate):
    (plate.parent / "Plate_2_images" / "F7_01_3_2_RFP_001.tif").unlink()
    pt = arrowscope.open_profiles(plate)
    measured = pixel_measures(pt, ["RFP"])
    slope = measured.column("Image_ImageQuality_PowerLogLogSlope_RFP").to_pylist()
    assert sum(np.isnan(slope)) == 1 and len(slope) == 5
    stop = threading.Event()
    stop.set()
    with pytest.raises(ArrowscopeError, match="cancelled"):
        pixel_measures(arrowscope.open_profiles(plate), ["GFP"], cancel=stop)


@needs_nf1
def test_fields_measured_on_a_dask_cluster_equal_those_measured_here(plate, tmp_path):
    """The links travel to worker processes, which read the images
    themselves; a missing image is NaN and named there too."""
    from arrowscope.core.profiles.batch import connect

    pytest.importorskip("distributed")
    (plate.parent / "Plate_2_images" / "F7_01_3_2_RFP_001.tif").unlink()
    here = pixel_measures(arrowscope.open_profiles(plate), workers=1)
    F._MEASURED.clear()
    pt = arrowscope.open_profiles(plate)
    client = connect(workers=1)
    try:
        seen = []
        there = pixel_measures(pt, client=client, progress=lambda d, t: seen.append(t))
    finally:
        client.close()
        client.cluster.close()
    assert there.column_names == here.column_names and there.num_rows == 5
    for name in here.column_names:  # the missing plane's NaN in both
        np.testing.assert_array_equal(there.column(name), here.column(name))
    assert seen and seen[-1] == 15
    assert any("F7_01_3_2_RFP_001.tif" in p for p in pt.problems)
    out = tmp_path / "fields.csv"
    argv = ["qc", str(plate), "--level", "field", "--from-pixels", "--workers", "1"]
    assert main([*argv, "--out", str(out)]) == 0
    assert "blurry_DAPI" in reasons_by_well(out)["D6"]
    argv = ["qc", str(plate), "--level", "field", "--workers", "1", "--out", str(out)]
    assert main([*argv, "--overwrite"]) == 2


def reasons_by_well(report) -> dict[str, str]:
    """Each field's reason in a field report, by its well."""
    import pyarrow.csv as pcsv

    table = pcsv.read_csv(report)
    wells = table.column("Metadata_Well_x").to_pylist()
    return dict(zip(wells, table.column("Metadata_qc_reason").to_pylist(), strict=True))


@needs_nf1
def test_qc_from_pixels_on_the_command_line(plate, tmp_path, capsys):
    out = tmp_path / "fields.csv"
    argv = ["qc", str(plate), "--level", "field", "--from-pixels", "--out", str(out)]
    assert main(argv) == 0
    reasons = reasons_by_well(out)
    assert "blurry_DAPI" in reasons["D6"] and "saturated_GFP" in reasons["B7"]
    assert main(["qc", str(plate), "--from-pixels", "--out", str(out)]) == 2


@needs_nf1
def test_fields_rejected_by_eye_join_the_report_and_the_cleaned_table(plate, tmp_path):
    import pyarrow.parquet as pq

    from arrowscope.core.profiles.fields import field_marks

    pt = arrowscope.open_profiles(plate)
    marks = field_marks(pt)
    table = field_table(pt)
    d7 = next(
        r for r in table.select(marks.key_columns).to_pylist() if "D7" in r.values()
    )
    marks.set(d7, "reject")
    out, cleaned = tmp_path / "fields.csv", tmp_path / "cells.parquet"
    argv = ["qc", str(plate), "--level", "field", "--out", str(out)]
    assert main([*argv, "--cleaned", str(cleaned)]) == 0
    reasons = reasons_by_well(out)
    assert reasons["D7"] == "rejected_by_eye"
    kept = pq.read_table(cleaned)
    assert "D7" not in kept.column("Image_Metadata_Well_x").to_pylist()
    assert kept.num_rows == 4
