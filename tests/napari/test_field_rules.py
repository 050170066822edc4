"""The Fields panel's rules on the planted screen: the presets flag the
planted blurred, saturated and empty fields once their quality is measured
from the pixels; thresholds are edited in the table (the histogram follows),
flagged fields name their reasons and can come first, and the report is the
command line's catalog."""

from __future__ import annotations

import pyarrow.csv as pcsv
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QTableWidgetItem

from arrowscope._napari.field_gallery import FLAGGED_FIRST, FieldGalleryWidget
from arrowscope._napari.workers import is_done
from arrowscope.core.profiles.synthetic import write_qc_screen


def wait(qtbot, worker):
    assert worker is not None
    qtbot.waitUntil(lambda: is_done(worker), timeout=60_000)


def test_field_rules_flag_the_planted_fields_by_their_reasons(
    make_napari_viewer, qtbot, tmp_path
):
    path, truth = write_qc_screen(tmp_path / "screen", plates=1)
    viewer = make_napari_viewer()
    viewer.open(path, plugin="arrowscope")
    panel = FieldGalleryWidget(viewer)
    # before any pixel is measured: the cell-count rules only
    assert set(panel.rule_spec()) == {"few_cells", "many_cells"}
    wait(qtbot, panel._worker)
    wait(qtbot, panel.measure_pixels())
    spec = panel.rule_spec()
    assert {"blurry_DNA", "saturated_DNA", "few_cells"} <= set(spec)
    fields = panel.fields
    wells = fields.column("Metadata_Well").to_pylist()
    sites = fields.column("Metadata_Site").to_pylist()
    where = {(w, s): i for i, (w, s) in enumerate(zip(wells, sites, strict=True))}
    for planted, rule in (
        (truth.blurred, "blurry_DNA"),
        (truth.saturated, "saturated_DNA"),
        (truth.empty, "few_cells"),
    ):
        for _, well, site in planted:
            assert rule in panel.reasons(where[(well, site)]), (rule, well, site)
    flagged = int(panel.result.mask().sum())
    planted = len(truth.blurred | truth.saturated | truth.empty)
    assert planted <= flagged <= planted + 0.02 * fields.num_rows
    # the histogram of the chosen measure, with its threshold
    assert panel.plot.made and panel.rule_measure.count() >= 3
    # flagged first, each caption naming its reason
    panel.sort_by(FLAGGED_FIRST)
    wait(qtbot, panel._worker)
    first = int(panel.list.item(0).data(Qt.ItemDataRole.UserRole))
    assert panel.result.mask()[first] and "⚑" in panel.list.item(0).text()
    # a threshold edited in the table: the rules run again by themselves
    row = next(
        r
        for r in range(panel.rules.rowCount())
        if panel.rules.item(r, 0).text() == "blurry_DNA"
    )
    panel.rules.setItem(row, 2, QTableWidgetItem("-100"))
    qtbot.waitUntil(lambda: "blurry_DNA: 0" in panel.flag_summary.text(), timeout=5_000)
    # the report: every field, its flags and reason, by field key
    out = panel.save_report(str(tmp_path / "fields.csv"))
    report = pcsv.read_csv(out)
    assert report.num_rows == fields.num_rows
    reasons = report.column("Metadata_qc_reason").to_pylist()
    _, well, site = sorted(truth.saturated)[0]
    assert "saturated_DNA" in reasons[where[(well, site)]]


def test_measuring_shows_progress_and_stops_when_asked(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    """Measuring a plate's fields from the pixels runs off the GUI thread
    with a progress bar; Stop ends it and keeps nothing."""
    import threading

    from arrowscope.core.profiles import fields as F

    path, _ = write_qc_screen(tmp_path / "screen", plates=1)
    viewer = make_napari_viewer()
    viewer.open(path, plugin="arrowscope")
    panel = FieldGalleryWidget(viewer)
    before = list(panel.fields.column_names)
    go, real = threading.Event(), F._measure
    monkeypatch.setattr(F, "_measure", lambda *a: go.wait(10) and real(*a))
    F._MEASURED.clear()
    worker = panel.measure_pixels()
    assert not panel.bar.isHidden() and panel.stop.isEnabled()
    assert not panel.measure.isEnabled()
    assert panel.bar.maximum() == panel.fields.num_rows  # one channel: DNA
    panel.stop.click()
    go.set()
    wait(qtbot, worker)
    qtbot.waitUntil(lambda: panel.measure.isEnabled(), timeout=5_000)
    assert panel.fields.column_names == before  # nothing kept
    assert panel.bar.isHidden() and not panel.stop.isEnabled()
    # and a run left alone goes to the end, the bar with it
    seen = []
    panel._show_progress = lambda done, total: seen.append((done, total))
    wait(qtbot, panel.measure_pixels())
    assert seen[-1][0] == seen[-1][1] == panel.fields.num_rows
