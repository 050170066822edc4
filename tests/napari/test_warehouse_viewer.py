"""A CytoTable Iceberg warehouse dropped on a real viewer: cells, crops, source
images and masks linked; QC written back shows on reopen."""

from __future__ import annotations

import numpy as np
import pytest

from arrowscope._napari.profile_layers import MANUAL_COLOR, OUTLIER_COLOR  # noqa: F401
from arrowscope._napari.reader import get_reader
from arrowscope._napari.session import find_cells_layer, session_for
from arrowscope.app.cli import main
from tests import warehouses

pytest.importorskip("pyiceberg")


@pytest.fixture
def root(tmp_path):
    warehouses.data_files(tmp_path / "wh", np.random.default_rng(4))
    warehouses.to_iceberg(tmp_path / "wh")
    return tmp_path / "wh"


def _drop(viewer, path, monkeypatch):
    told = []
    monkeypatch.setattr(
        "arrowscope._napari.reader._notify", lambda m, level: told.append((level, m))
    )
    reader = get_reader(str(path))
    assert reader is not None
    for data, kwargs, kind in reader(str(path)):
        getattr(viewer, f"add_{kind}")(data, **kwargs)
    return told


@pytest.mark.parametrize("what", ["root", "catalog.json"])
def test_dropping_a_warehouse_opens_its_workspace(
    make_napari_viewer, monkeypatch, root, what
):
    viewer = make_napari_viewer()
    path = root if what == "root" else root / "warehouse" / "catalog.json"
    told = _drop(viewer, path, monkeypatch)
    assert not [m for level, m in told if level == "error"]
    names = [layer.name for layer in viewer.layers]
    assert names[:2] == list(warehouses.CHANNELS) and names[-1] == "cells"
    assert "label mask" in names
    cells = find_cells_layer(viewer)
    assert len(cells.data) == 4
    session = session_for(viewer, cells)
    # the session reopens the warehouse from its root, links and all
    assert session.profiles.warehouse is not None
    assert session.profiles.crop(3, "ER").column == "ome_arrow_image"
    dna = viewer.layers["DNA"].data
    assert np.asarray(dna[1]).shape == warehouses.SHAPE


def test_flags_written_back_are_shown_on_reopen(
    make_napari_viewer, monkeypatch, root, tmp_path
):
    spec = tmp_path / "t.yml"
    spec.write_text("thresholds:\n  large_nuclei:\n    Nuclei_AreaShape_Area: 1.5\n")
    assert (
        main(["qc", str(root), "--conditions", str(spec), "--into-warehouse", "a"]) == 0
    )
    viewer = make_napari_viewer()
    _drop(viewer, root, monkeypatch)
    session = session_for(viewer, find_cells_layer(viewer))
    assert session.outlier_mask().tolist() == [False, False, False, True]
    colors = session.points.border_color
    point = int(session.row_to_point[3])
    red = np.array([1.0, 0x2D / 255, 0x2D / 255, 1.0])
    assert np.allclose(colors[point], red, atol=0.01)


def test_export_panel_writes_flags_into_the_warehouse(
    make_napari_viewer, monkeypatch, root, qtbot
):
    import arrowscope
    from arrowscope._napari.export_widget import ExportWidget
    from arrowscope._napari.qc_widgets import QCWidget
    from arrowscope._napari.workers import is_done

    viewer = make_napari_viewer()
    _drop(viewer, root, monkeypatch)
    qc = QCWidget(viewer)
    qc.set_conditions({"large_nuclei": {"Nuclei_AreaShape_Area": 1.5}})
    worker = qc.run()
    qtbot.waitUntil(lambda: is_done(worker), timeout=60_000)
    session = qc.session
    session.toggle_manual([0])  # and one cell flagged by hand
    session.mark([1], "reject")  # and one judged by eye
    export = ExportWidget(viewer)
    export.qc_kind.value = "warehouse"
    assert not export.qc_table.native.isHidden() and export.qc_path.native.isHidden()
    export.qc_table.value = "by_panel"
    worker = export.export_qc("warehouse", None)
    qtbot.waitUntil(lambda: is_done(worker), timeout=60_000)
    assert "quality_control.by_panel" in export.status.value
    w = arrowscope.open_warehouse(root)
    table = w.table("quality_control.by_panel")
    assert "large_nuclei" in table.properties["arrowscope.conditions"]
    pt = w.profiles()
    flags = pt.stored_flags
    assert flags.column("Metadata_cqc_large_nuclei_is_outlier").to_pylist() == [
        False,
        False,
        False,
        True,
    ]
    assert flags.column("Metadata_cqc_manual_is_outlier").to_pylist() == [
        True,
        False,
        False,
        False,
    ]
    stored = table.read(["Metadata_ObjectID", "Metadata_manual_qc"])
    assert stored.column("Metadata_manual_qc").to_pylist() == [
        None,
        "reject",
        None,
        None,
    ]
    # the verdicts live in the warehouse's quality_control folder, by key
    marks = root / "warehouse" / "quality_control" / "_arrowscope_marks.parquet"
    assert marks.is_file()


def test_profiles_panel_chooses_a_table_of_a_cytotable_export(
    make_napari_viewer, qtbot, tmp_path
):
    from arrowscope._napari.profiles_widget import ProfilesWidget
    from arrowscope._napari.workers import is_done

    root, profiles = warehouses.cytotable_export(tmp_path)
    viewer = make_napari_viewer()
    panel = ProfilesWidget(viewer)
    assert panel.table_choice.isHidden()  # not a warehouse yet
    panel.path_edit.setText(str(root))
    names = panel.list_tables()
    assert names[0] == "profiles.joined_profiles"  # the default first
    assert set(names) == {
        "profiles.joined_profiles",
        "profiles.joined_raw",
        "profiles.profile_with_images",
    }
    assert not panel.table_choice.isHidden()
    panel.table_choice.setCurrentIndex(names.index("profiles.joined_raw"))
    worker = panel.open_from_fields()
    qtbot.waitUntil(lambda: is_done(worker), timeout=60_000)
    pt = panel.session.profiles
    assert pt.warehouse_table == "profiles.joined_raw"
    assert "Metadata_ObjectID" not in pt.columns
    assert pt.num_rows == profiles.num_rows
    # the cells layer remembers the choice: a reopened session reads that table
    meta = find_cells_layer(viewer).metadata["arrowscope"]
    assert meta["table"] == "profiles.joined_raw"
