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
    cells_of_flagged,
    cells_of_flagged_fields,
    field_catalog,
    field_presets,
    field_qc,
    level_qc,
    level_report,
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
            catalog.column("Metadata_qc_reason").to_pylist(),
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


def test_qc_level_field_on_the_command_line(plates, tmp_path):
    from arrowscope.app.cli import main

    path, planted, n_fields = plates
    out, cleaned = tmp_path / "fields.csv", tmp_path / "cleaned.parquet"
    argv = ["qc", str(path), "--level", "field", "--out", str(out)]
    assert main([*argv, "--cleaned", str(cleaned)]) == 0
    import pyarrow.csv as pcsv

    report = pcsv.read_csv(out)  # every field, its measures, flags and reason
    assert report.num_rows == n_fields
    assert "Image_ImageQuality_PowerLogLogSlope_DNA" in report.column_names
    flagged = report.filter(pa.compute.not_equal(report["Metadata_qc_reason"], ""))
    assert sorted(flagged.column("Metadata_ImageNumber").to_pylist()) == sorted(
        planted.values()
    )
    kept = pq.read_table(cleaned, columns=["Metadata_ImageNumber"]).column(0)
    assert not set(kept.to_pylist()) & set(planted.values())
    assert main([*argv[:4], "--out", str(path), "--overwrite"]) == 1  # an input


def test_wells_are_judged_by_their_fields(plates, tmp_path):
    """A well's cells are its fields' sum and its measures their medians:
    the wells holding the planted fields are flagged for them, and a well
    whose every field is blurred (P2 A02) for its blur — and no other well."""
    path, planted, _ = plates
    table = pq.read_table(path)
    slope = "Image_ImageQuality_PowerLogLogSlope_DNA"
    both = pa.compute.and_(
        pa.compute.equal(table["Metadata_Plate"], "P2"),
        pa.compute.equal(table["Metadata_Well"], "A02"),
    )
    values = np.where(both.to_numpy(zero_copy_only=False), -4.0, table[slope])
    table = table.set_column(table.column_names.index(slope), slope, pa.array(values))
    blurred = tmp_path / "wells.parquet"
    pq.write_table(table, blurred)
    pt = arrowscope.open_profiles(blurred)
    wells, result = level_qc(pt, "well")
    assert wells.num_rows == 48
    assert sum(wells.column(CELLS).to_pylist()) == pt.num_rows
    report = level_report(wells, result)
    flagged = {
        (r["Metadata_Plate"], r["Metadata_Well"]): r["Metadata_qc_reason"]
        for r in report.filter(pa.array(result.mask())).to_pylist()
    }
    assert flagged == {
        ("P1", "B03"): "blurry_DNA",
        ("P2", "C04"): "saturated_DNA",
        ("P1", "D06"): "few_cells",
        ("P2", "A02"): "blurry_DNA",
    }
    out = cells_of_flagged(pt, wells, result)
    left = pt.read(["Metadata_Plate", "Metadata_Well"]).filter(pa.array(out))
    assert {tuple(r.values()) for r in left.to_pylist()} == set(flagged)


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
    assert field_catalog(fields, result).num_rows == int(result.mask().sum())
    out = cells_of_flagged_fields(pt, result)
    assert out.sum() == counted[result.mask()].sum()
    wells, _ = level_qc(pt, "well")  # its 32 fields lie in fewer wells
    assert 0 < wells.num_rows < 32


def _plate_of(values):
    wells = [f"{r}{c:02d}" for r in "ABCDEFGH" for c in range(1, 13)]
    return pa.table(
        {
            "Metadata_Plate": ["P"] * 96,
            "Metadata_Well": wells,
            "Metadata_cells": [values(w) for w in wells],
        }
    )


def test_position_effects_of_a_plate():
    """Median polish finds a planted column gradient and edge effect, sized
    in the plate's robust SDs; the map with the trends taken out is flat;
    a plate without effects shows none."""
    from arrowscope.core.profiles.layout import plate_effects

    rng = np.random.default_rng(4)
    noise = {f"{r}{c:02d}": rng.normal(0, 1) for r in "ABCDEFGH" for c in range(1, 13)}

    def column(w):
        return int(w[1:])

    def edged(w):
        outer = w[0] in "AH" or column(w) in (1, 12)
        return 100 + noise[w] + 1.5 * column(w) - (12 if outer else 0)

    effects = plate_effects(_plate_of(edged), "Metadata_cells")["P"]
    assert effects["edge"] < -1.5  # outer wells lower, clearly
    assert effects["column_range"] > effects["row_range"] - 0.5
    col = effects["column_effect"]
    assert col[10] - col[1] > 10  # the gradient, left to right (inner columns)
    inner = [
        v
        for w, v in effects["residual"].items()
        if w[0] not in "AH" and column(w) not in (1, 12)
    ]
    assert np.std(inner) < 2.0  # what is left is about the noise

    flat = plate_effects(_plate_of(lambda w: 100 + noise[w]), "Metadata_cells")["P"]
    assert abs(flat["edge"]) < 1.0
    assert flat["row_range"] < 2.5 and flat["column_range"] < 2.5


def test_percent_replicating_of_planted_replicates():
    """Ten perturbations with a profile of their own, three replicate wells
    each, and five whose wells share nothing (each well its own profile): the
    first replicate (above the null of non-replicate pairs), the others not."""
    from arrowscope.core.profiles.layout import replicate_agreement

    rng = np.random.default_rng(7)
    features = [f"Cells_F{i}" for i in range(30)]
    rows, names = [], []
    for p in range(15):
        effect = rng.normal(0, 3, len(features))
        for _ in range(3):
            if p >= 10:  # no shared profile: each well its own
                effect = rng.normal(0, 3, len(features))
            rows.append(effect + rng.normal(0, 1, len(features)))
            names.append(f"drug{p}")
    x = np.vstack(rows)
    wells = pa.table(
        {"Metadata_Perturbation": names, **{f: x[:, i] for i, f in enumerate(features)}}
    )
    got = replicate_agreement(wells, "Metadata_Perturbation", features)
    assert got["perturbations"] == 15
    per = got["per_perturbation"]
    assert all(per[f"drug{p}"] > got["null_95"] for p in range(10))
    assert sum(per[f"drug{p}"] > got["null_95"] for p in range(10, 15)) <= 1
    assert 60 <= got["percent_replicating"] <= 75


def test_field_flags_go_into_a_warehouse_and_come_back_on_its_cells(tmp_path):
    """qc --level field --into-warehouse: the catalog of fields (one row per
    field, keyed as the profiles key their fields, with the reason) becomes
    quality_control.NAME; reopening the warehouse gives each cell its field's
    flags, matched by those keys."""
    pytest.importorskip("pyiceberg")
    from arrowscope.app.cli import main
    from arrowscope.core.profiles.warehouse import open_warehouse
    from tests import warehouses

    root = tmp_path / "wh"
    warehouses.data_files(root, np.random.default_rng(2))
    warehouses.to_iceberg(root)
    rules = tmp_path / "fields.yml"  # a field of two or more cells, raw count
    rules.write_text("thresholds:\n  populated:\n    Metadata_cells: '>= 2'\n")
    out = tmp_path / "fields.parquet"
    argv = ["qc", str(root), "--level", "field", "--conditions", str(rules)]
    argv += ["--method", "raw", "--out", str(out), "--into-warehouse", "fields"]
    assert main(argv) == 0
    report = pq.read_table(out)
    assert report.column("Metadata_cqc_populated_is_outlier").to_pylist() == [
        True,
        True,
    ]
    warehouse = open_warehouse(root)
    catalog = warehouse.table("quality_control.fields").read()
    assert catalog.num_rows == 2  # the fields, not the cells
    assert catalog.column("Metadata_qc_reason").to_pylist() == ["populated"] * 2
    pt = warehouse.profiles()
    assert pt.num_rows > 2
    assert not [p for p in pt.problems if "fields" in p], pt.problems
    stored = pt.stored_flags
    assert stored is not None
    assert (
        stored.column("Metadata_cqc_populated_is_outlier").to_pylist()
        == [True] * pt.num_rows
    )
    assert main(argv) == 1  # replaced only with --overwrite
    # wells: keyed by plate and well, back on the cells by those
    argv = ["qc", str(root), "--level", "well", "--conditions", str(rules)]
    argv += ["--method", "raw", "--out", str(tmp_path / "wells.parquet")]
    assert main([*argv, "--into-warehouse", "wells"]) == 0
    warehouse = open_warehouse(root)
    wells = warehouse.table("quality_control.wells").read()
    assert "Metadata_Well" in wells.column_names and "Metadata_ObjectID" not in (
        wells.column_names
    )
    pt = warehouse.profiles()
    assert not [p for p in pt.problems if "wells" in p], pt.problems
    assert pt.stored_flags.num_rows == pt.num_rows
