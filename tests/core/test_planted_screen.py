"""Field and well QC judged against a screen whose defects are known
(``write_qc_screen``): blurred, saturated and nearly empty fields, an edge
effect, a rotated plate and replicate structure. Planted defects are found
(recall >= 0.95) and clean fields are left alone (<= 2 % flagged)."""

from __future__ import annotations

import logging

import pyarrow.compute as pc
import pytest

import arrowscope
from arrowscope.app.cli import main
from arrowscope.core.profiles.fields import level_qc, level_table
from arrowscope.core.profiles.layout import (
    control_spread,
    plate_effects,
    replicate_agreement,
    rotated_plates,
    well_profiles,
)
from arrowscope.core.profiles.synthetic import write_qc_screen


@pytest.fixture(scope="module")
def screen(tmp_path_factory):
    return write_qc_screen(tmp_path_factory.mktemp("screen"))


def test_planted_fields_are_found_from_pixels(screen):
    path, truth = screen
    table, result = level_qc(arrowscope.open_profiles(path), "field", pixels=True)
    keys = list(
        zip(
            *(
                table.column(c).to_pylist()
                for c in ("Metadata_Plate", "Metadata_Well", "Metadata_Site")
            ),
            strict=True,
        )
    )
    flagged = {}
    for name in result.report["conditions"]:
        column = result.flags.column(f"Metadata_cqc_{name}_is_outlier").to_pylist()
        flagged[name] = {k for k, f in zip(keys, column, strict=True) if f}
    planted = {
        "blurry_DNA": truth.blurred,
        "saturated_DNA": truth.saturated,
        "few_cells": truth.empty,
    }
    for name, defects in planted.items():
        assert len(flagged[name] & defects) >= 0.95 * len(defects), name
    clean = set(keys) - truth.blurred - truth.saturated - truth.empty
    wrongly = set().union(*flagged.values()) & clean
    assert len(wrongly) <= 0.02 * len(clean), sorted(wrongly)


def test_edge_effect_rotation_replicates_and_controls(screen):
    path, truth = screen
    pt = arrowscope.open_profiles(path)
    edges = {
        p: fx["edge"]
        for p, fx in plate_effects(level_table(pt, "well"), "Metadata_cells").items()
    }
    assert edges[truth.edge_plate] < -1.5
    assert all(abs(e) < 0.5 for p, e in edges.items() if p != truth.edge_plate)
    wells = well_profiles(pt, "Metadata_Perturbation")
    features = [c for c in wells.column_names if c.startswith("Cells_")]
    rotated = rotated_plates(wells, "Metadata_Perturbation", features)
    assert {p for p, r in rotated.items() if r["rotated"]} == {truth.rotated_plate}
    for plate in ("plate1", "plate2"):
        mine = wells.filter(pc.equal(wells.column("Metadata_Plate"), plate))
        agreement = replicate_agreement(mine, "Metadata_Perturbation", features)
        assert agreement["percent_replicating"] >= 95
        assert agreement["perturbations"] == truth.perturbations
    spread = control_spread(wells, "Metadata_Perturbation", "P000", features)
    assert set(spread) == {"plate1", "plate2", "plate3"}
    assert all(0 <= v < 0.5 for v in spread.values())


def test_the_command_line_reports_the_rotated_plate(screen, tmp_path, caplog):
    path, truth = screen
    out = tmp_path / "wells.csv"
    argv = ["qc", str(path), "--level", "well", "--out", str(out)]
    argv += ["--perturbation", "Metadata_Perturbation", "--controls", "P000"]
    with caplog.at_level(logging.INFO, logger="arrowscope"):
        assert main(argv) == 0
    said = caplog.text
    assert f"{truth.rotated_plate}: its wells match the layout turned by 180" in said
    assert "plate1: replicates agree for 100% of 24 perturbations" in said
    assert "control wells scatter" in said
    # the catalog flags every well of the rotated plate, and only those
    import pyarrow.csv as pcsv

    report = pcsv.read_csv(out)
    plates = report.column("Metadata_Plate").to_pylist()
    reasons = report.column("Metadata_qc_reason").to_pylist()
    turned = {p for p, r in zip(plates, reasons, strict=True) if "rotated_plate" in r}
    assert turned == {truth.rotated_plate}
    assert all(
        "rotated_plate" in r
        for p, r in zip(plates, reasons, strict=True)
        if p == truth.rotated_plate
    )
    cleaned = tmp_path / "cells.parquet"
    assert main([*argv, "--overwrite", "--cleaned", str(cleaned)]) == 0
    import pyarrow.parquet as pq

    kept = set(pq.read_table(cleaned, columns=["Metadata_Plate"]).column(0).to_pylist())
    assert truth.rotated_plate not in kept  # its labels are wrong: left out
    assert main(["qc", str(path), "--perturbation", "X", "--out", str(out)]) == 2
