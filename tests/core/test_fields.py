"""Quality control of whole fields of view: CellProfiler's image measures
(MeasureImageQuality's PowerLogLogSlope and PercentMaximal, object counts)
and each field's cell count, judged by robust z within each plate; a catalog
of flagged fields by plate/well/site/image key, and the cells of the other
fields. Planted blurred, saturated and empty fields are found, and only they."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import arrowscope
from arrowscope.core.profiles.fields import (
    CELLS,
    cells_of_flagged_fields,
    field_catalog,
    field_presets,
    field_qc,
)
from tests.conftest import shared_file

WELLS = [f"{r}{c:02d}" for r in "ABCD" for c in range(1, 7)]  # 24 wells


@pytest.fixture
def plates(tmp_path):
    """Two plates × 24 wells × 2 sites; plate P2 is dimmer overall (so raw
    thresholds would flag all of it). Planted: P1 B03 s1 blurred (low
    PowerLogLogSlope_DNA), P2 C04 s2 saturated (high PercentMaximal_DNA),
    P1 D06 s2 nearly empty (2 cells where others have about 30)."""
    rng = np.random.default_rng(1)
    rows = []
    image = 0
    planted = {}
    for plate, shift in (("P1", 0.0), ("P2", -0.4)):
        for well in WELLS:
            for site in (1, 2):
                image += 1
                # bounded noise: no field of it lies 3 robust SDs out
                slope = -1.6 + shift + rng.uniform(-0.05, 0.05)
                maximal = 0.01 + rng.uniform(-0.002, 0.002)
                cells = 30 + int(rng.integers(-3, 4))
                if (plate, well, site) == ("P1", "B03", 1):
                    slope, planted["blurry_DNA"] = slope - 1.0, image
                if (plate, well, site) == ("P2", "C04", 2):
                    maximal, planted["saturated_DNA"] = 0.2, image
                if (plate, well, site) == ("P1", "D06", 2):
                    cells, planted["few_cells"] = 2, image
                for obj in range(1, cells + 1):
                    rows.append(
                        {
                            "Metadata_Plate": plate,
                            "Metadata_Well": well,
                            "Metadata_Site": site,
                            "Metadata_ImageNumber": image,
                            "Nuclei_Number_Object_Number": obj,
                            "Nuclei_Location_Center_X": float(obj),
                            "Nuclei_Location_Center_Y": float(obj),
                            "Image_ImageQuality_PowerLogLogSlope_DNA": slope,
                            "Image_ImageQuality_PercentMaximal_DNA": maximal,
                            "Nuclei_AreaShape_Area": 100.0 + obj,
                        }
                    )
    path = tmp_path / "cells.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path, planted, image


def test_planted_fields_are_found_and_only_they(plates):
    path, planted, n_fields = plates
    pt = arrowscope.open_profiles(path)
    fields, result = field_qc(pt)
    assert fields.num_rows == n_fields
    assert set(field_presets(fields.column_names)) == {
        "blurry_DNA",
        "saturated_DNA",
        "few_cells",
        "many_cells",
    }
    catalog = field_catalog(fields, result)
    found = {
        reason: image
        for reason, image in zip(
            catalog.column("Metadata_field_qc_reason").to_pylist(),
            catalog.column("Metadata_ImageNumber").to_pylist(),
            strict=True,
        )
    }
    assert found == planted  # robust z within each plate: the dim plate is fine
    assert set(catalog.column_names) >= {
        "Metadata_Plate",
        "Metadata_Well",
        "Metadata_Site",
        "Metadata_ImageNumber",
    }
    # the cells of the flagged fields, and no others, are left out
    out = cells_of_flagged_fields(pt, result)
    images = pt.read(["Metadata_ImageNumber"]).column(0).to_numpy()
    assert set(np.unique(images[out])) == set(planted.values())
    counts = fields.column(CELLS).to_pylist()
    assert sum(counts) == pt.num_rows


def test_qc_fields_on_the_command_line(plates, tmp_path):
    from arrowscope.app.cli import main

    path, planted, _ = plates
    out, cleaned = tmp_path / "fields.csv", tmp_path / "cleaned.parquet"
    argv = ["qc", "--fields", str(path), "--out", str(out), "--cleaned", str(cleaned)]
    assert main(argv) == 0
    import pyarrow.csv as pcsv

    catalog = pcsv.read_csv(out)
    assert sorted(catalog.column("Metadata_ImageNumber").to_pylist()) == sorted(
        planted.values()
    )
    kept = pq.read_table(cleaned, columns=["Metadata_ImageNumber"]).column(0)
    assert not set(kept.to_pylist()) & set(planted.values())
    assert main([*argv[:3], "--out", str(path), "--overwrite"]) == 1  # an input


def test_fields_of_the_nf1_cellprofiler_database():
    """The real NF1 database: its image table's object counts come along (by
    image number), and each field's cell count is the profile table's."""
    db = shared_file("cellprofiler_sqlite_nf1", "all_cellprofiler.sqlite")
    pt = arrowscope.open_profiles(db)
    fields, result = field_qc(pt)
    assert fields.num_rows == 32
    assert "Image_Count_Nuclei" in fields.column_names
    assert "Image_ExecutionTime_01Images" not in fields.column_names
    counted = fields.column(CELLS).to_numpy()
    nuclei = fields.column("Image_Count_Nuclei").to_numpy()
    assert counted.sum() == pt.num_rows
    assert (counted <= nuclei).all()  # a cell per nucleus at most
    catalog = field_catalog(fields, result)
    assert catalog.num_rows == int(result.mask().sum())
