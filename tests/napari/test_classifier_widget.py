"""The Classifier panel in a real viewer: cells binned from the gallery and
the canvas by key (surviving a re-sort and a reopen), fetch at random, by
class and by uncertainty, train and retrain, score all with progress and
cancel, and the plate map coloured by a class's share."""

from __future__ import annotations

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from app_model.types import KeyBinding
from qtpy.QtCore import Qt

pytest.importorskip("sklearn")

from arrowscope._napari.classifier_widget import ClassifierWidget  # noqa: E402
from arrowscope._napari.plate_widgets import PlateMapWidget  # noqa: E402
from arrowscope._napari.session import session_for  # noqa: E402
from arrowscope._napari.workers import is_done  # noqa: E402
from arrowscope.core.profiles.scoring import PREDICTED  # noqa: E402
from arrowscope.core.profiles.synthetic import write_demo_plate  # noqa: E402


def wait(qtbot, worker, timeout=60_000):
    assert worker is not None
    qtbot.waitUntil(lambda: is_done(worker), timeout=timeout)


def train(qtbot, widget):
    """Train (the quick fit, then the cross-validation worker it starts)."""
    wait(qtbot, widget.train())
    wait(qtbot, widget._validation)


@pytest.fixture
def panel(make_napari_viewer, tmp_path, qtbot):
    files = write_demo_plate(tmp_path / "demo", n_fields=6, size=(128, 128))
    table = pq.read_table(files["profiles"])  # several row groups: scored apart
    pq.write_table(table, files["profiles"], row_group_size=16)
    viewer = make_napari_viewer()
    viewer.open(files["profiles"], plugin="arrowscope")
    widget = ClassifierWidget(viewer)
    assert widget.session is not None
    return viewer, widget, files


def _area(widget):
    return (
        widget.session.profiles.read(["Nuclei_AreaShape_Area"])
        .column(0)
        .to_numpy(zero_copy_only=False)
    )


def _bin_extremes(widget, k=6):
    """The k largest nuclei as "big", the k smallest as "small", by key."""
    area = _area(widget)
    order = np.argsort(area)
    session = widget.session
    session.put_in_bin(order[-k:].tolist(), "big")
    session.put_in_bin(order[:k].tolist(), "small")
    return order


def test_bins_from_gallery_and_canvas_by_key(panel, qtbot, tmp_path):
    viewer, widget, files = panel
    session = widget.session
    assert widget.classes == ["positive", "negative"]  # CPA's first bins
    widget.add_bin("debris")
    widget.bin_list.setCurrentRow(0)
    widget.rename_bin("mitotic")
    assert widget.classes == ["mitotic", "negative", "debris"]
    # the gallery: fetch at random, 1 puts the selected cell in bin 1
    wait(qtbot, widget.fetch())
    assert widget.gallery.count() == 20
    item = widget.gallery.item(0)
    item.setSelected(True)
    first = int(item.data(Qt.ItemDataRole.UserRole))
    qtbot.keyClick(widget.gallery, Qt.Key.Key_1)
    assert session.bin_of[first] == "mitotic"
    assert "mitotic" in widget.gallery.item(0).text()
    assert widget.gallery.item(1).isSelected()  # the next cell at once
    qtbot.keyClick(widget.gallery, Qt.Key.Key_3)
    second = int(widget.gallery.item(1).data(Qt.ItemDataRole.UserRole))
    assert session.bin_of[second] == "debris"
    # the canvas: with the number keys on bins, 2 bins the selected cell
    widget.keys_on.setChecked(True)
    assert "bin" in viewer.layers["cells"].help
    cells = viewer.layers["cells"]
    other = next(r for r in range(10) if r not in (first, second))  # not binned
    session.select_rows([other])
    cells.keymap[KeyBinding.from_str("2")](cells)
    assert session.bin_of[other] == "negative"
    assert session.selected and session.selected[0] != other  # the next cell
    current = int(np.flatnonzero(session.bin_of == None)[0])  # noqa: E711
    session.select_rows([current])
    cells.keymap[KeyBinding.from_str("9")](cells)  # no ninth bin: nothing
    assert session.bin_of[current] is None and session.selected == [current]
    widget.keys_on.setChecked(False)
    cells.keymap[KeyBinding.from_str("1")](cells)  # back to verdicts
    assert session.verdicts[current] == "keep" and session.bin_of[current] is None
    # by key: a re-sorted copy of the table finds the same cells in the bins
    table = pq.read_table(files["profiles"])
    shuffled = table.take(np.random.default_rng(1).permutation(table.num_rows))
    copy = files["profiles"].with_name("shuffled.parquet")
    pq.write_table(shuffled, copy)
    files["profiles"].with_name("profiles.classes.parquet").replace(
        copy.with_name("shuffled.classes.parquet")
    )
    from arrowscope.core.profiles.marks import open_bins

    bins = open_bins(copy)
    assert bins.classes == ["mitotic", "negative", "debris"]
    keys = shuffled.select(bins.key_columns)
    got = bins.verdicts(keys)
    by_key = {tuple(r.values()): v for r, v in zip(keys.to_pylist(), got, strict=True)}
    original = table.select(bins.key_columns).to_pylist()
    assert by_key[tuple(original[first].values())] == "mitotic"
    assert by_key[tuple(original[other].values())] == "negative"


def test_reopened_bins_come_back(make_napari_viewer, qtbot, tmp_path):
    files = write_demo_plate(tmp_path / "demo", n_fields=3, size=(96, 96))
    viewer = make_napari_viewer()
    viewer.open(files["profiles"], plugin="arrowscope")
    widget = ClassifierWidget(viewer)
    widget.session.put_in_bin([2, 4], "positive")
    viewer.layers.clear()
    viewer.open(files["profiles"], plugin="arrowscope")
    again = ClassifierWidget(viewer)
    session = session_for(viewer)
    assert again.session is session and session is not widget.session
    assert np.flatnonzero(session.bin_of == "positive").tolist() == [2, 4]
    assert "positive  (2 cells)" in again.bin_list.item(0).text()


def test_train_fetch_by_class_and_uncertainty(panel, qtbot):
    viewer, widget, _ = panel
    order = _bin_extremes(widget)
    wait(qtbot, widget.train())
    trained = widget.trained
    assert trained is not None and sorted(trained.classes) == ["big", "small"]
    assert "cross-validating" in widget.report.text()  # the quick retrain first
    qtbot.waitUntil(lambda: trained.cv_accuracy is not None, timeout=30_000)
    qtbot.waitUntil(lambda: "cross-validated accuracy" in widget.report.text())
    assert "this field:" in widget.report.text()
    assert "Nuclei_AreaShape_Area" in list(trained.importances)[:3]
    # fetch cells predicted "big": bigger than those predicted "small"
    index = widget.fetch_how.findText("predicted big")
    assert index >= 0
    widget.fetch_how.setCurrentIndex(index)
    widget.fetch_n.setValue(5)
    wait(qtbot, widget.fetch())
    qtbot.waitUntil(lambda: set(widget.gallery_rows) <= set(widget.predictions))
    rows = widget.gallery_rows
    assert rows and not set(rows) & set(order[-6:].tolist())  # binned: not again
    assert all(widget.predictions[r][0] == "big" for r in rows)
    assert "→ big" in widget.gallery.item(0).text()
    # the least certain: the lowest top-class probability first
    widget.fetch_how.setCurrentIndex(widget.fetch_how.findText("least certain"))
    wait(qtbot, widget.fetch())
    qtbot.waitUntil(lambda: set(widget.gallery_rows) <= set(widget.predictions))
    certainty = [widget.predictions[r][1] for r in widget.gallery_rows]
    assert certainty == sorted(certainty)
    # retraining after a change updates the gallery's predictions at once
    before = dict(widget.predictions)
    widget.session.put_in_bin(widget.gallery_rows[:2], "big")
    train(qtbot, widget)
    qtbot.waitUntil(lambda: widget.predictions is not before)
    assert widget.trained is not trained


def test_score_all_with_progress_cancel_and_the_plate_map(
    panel, qtbot, tmp_path, monkeypatch
):
    import arrowscope.core.profiles.scoring as scoring

    viewer, widget, files = panel
    _bin_extremes(widget)
    train(qtbot, widget)
    out = tmp_path / "scores.parquet"
    # Cancel pressed while the second span of rows is scored: nothing is written
    real = scoring.score_group

    def slow_user(store, span, trained, keys):
        if span.start > 0:
            widget.cancel()
        return real(store, span, trained, keys)

    monkeypatch.setattr(scoring, "score_group", slow_user)
    monkeypatch.setattr(scoring, "SCAN_BYTES", 1)  # a row group a span
    wait(qtbot, widget.score_all(out))
    assert not out.exists()
    assert widget.progress[0] < widget.progress[1]  # stopped part way
    assert widget.score_b.isEnabled() and not widget.stop_b.isEnabled()
    monkeypatch.setattr(scoring, "score_group", real)
    wait(qtbot, widget.score_all(out))
    scores = pq.read_table(out)
    pt = widget.session.profiles
    assert scores.num_rows == pt.num_rows
    done, total = widget.progress
    assert done == total == pt.num_rows
    assert widget.bar.text() == f"scored {total:,} of {total:,} cells"
    assert set(scores.column(PREDICTED).to_pylist()) <= {"big", "small"}
    # bigger nuclei are predicted big more often
    area = _area(widget)
    big = np.asarray(scores.column(PREDICTED).to_pylist()) == "big"
    assert area[big].mean() > area[~big].mean()
    # an existing scores file is replaced only when asked
    assert widget.score_all(out, overwrite=False) is None
    # the per-well summary: counts add up to the cells, shares are counts/cells
    import pyarrow.csv as pcsv

    summary_file = widget.save_summary(tmp_path / "summary.csv")
    per_well = pcsv.read_csv(summary_file)
    assert per_well.column("cells").to_numpy().sum() == pt.num_rows
    assert per_well.column("big_cells").to_numpy().sum() == big.sum()
    # the plate map offers the class's share per well, and draws it
    plate = PlateMapWidget(viewer)
    assert "class:big" in plate.value_choices()
    plate.value.setCurrentText("class:big")
    summary = plate.refresh()
    assert summary is not None
    assert not plate.stat.isEnabled()  # a share has no statistic to choose
    wells = pt.read(["Metadata_Well"]).column(0)
    for well, share in zip(
        summary.column("Metadata_Well").to_pylist(),
        summary.column("value").to_pylist(),
        strict=True,
    ):
        mine = np.asarray(pc.equal(wells, well).to_numpy(zero_copy_only=False))
        assert share == pytest.approx(big[mine].mean())
    plate.value.setCurrentText("Nuclei_AreaShape_Area")
    plate.refresh()
    assert plate.stat.isEnabled()


def test_cpa_training_sets_save_and_load(panel, tmp_path):
    from arrowscope.core.profiles.cpa import read_training_set

    viewer, widget, files = panel
    session = widget.session
    session.put_in_bin([3, 9], "positive")
    session.put_in_bin([4], "negative")
    saved = widget.save_training_set(tmp_path / "training_set.txt")
    text = saved.read_text().splitlines()
    assert text[1] == "label positive negative"
    key = ["Metadata_ImageNumber", "Metadata_Nuclei_Number_Object_Number"]
    assert widget._object_key() == key  # numbers only: the plate name is not one
    back = read_training_set(saved, key)
    assert back.num_rows == 3
    # x, y are the cells' centres, as CPA writes them
    centre = session.profiles.centers()[3]
    row3 = next(line for line in text[2:] if line.startswith("positive"))
    assert row3.split()[-2:] == [str(centre[1]), str(centre[0])]
    # loaded into emptied bins, by key
    for name in ("positive", "negative"):
        session.put_in_bin(np.flatnonzero(session.bin_of == name).tolist(), None)
    assert widget.load_training_set(saved) == 3
    assert np.flatnonzero(session.bin_of == "positive").tolist() == [3, 9]
    assert np.flatnonzero(session.bin_of == "negative").tolist() == [4]


def test_the_verdicts_by_eye_are_one_set_of_classes(panel, qtbot):
    viewer, widget, _ = panel
    session = widget.session
    order = np.argsort(_area(widget))
    session.mark(order[-6:].tolist(), "reject")
    session.mark(order[:6].tolist(), "keep")
    widget.classes_from.setCurrentIndex(widget.classes_from.findData("verdicts"))
    train(qtbot, widget)
    assert widget.trained.classes == ["keep", "reject"]
    assert widget.trained.training.num_rows == 12
    assert not (session.bin_of != None).any()  # noqa: E711 - the bins untouched


def test_a_bin_is_a_panel_of_its_cells(panel, qtbot):
    """Choosing a bin shows its cells' tiles, captioned by plate, well, site
    and object; a number key moves the selected tiles to another bin,
    Backspace takes them out, and a drop on a bin's name moves them there."""
    from qtpy.QtCore import QMimeData, QPoint
    from qtpy.QtGui import QDropEvent

    viewer, widget, files = panel
    session = widget.session
    order = _bin_extremes(widget, k=4)
    widget.bin_list.setCurrentRow(widget.classes.index("big"))
    wait(qtbot, widget._bin_worker)
    assert widget.bin_tiles.count() == 4
    assert "big" in widget.bin_title.text() and "4 cells" in widget.bin_title.text()
    rows = {
        int(widget.bin_tiles.item(i).data(Qt.ItemDataRole.UserRole)) for i in range(4)
    }
    assert rows == set(order[-4:].tolist())
    caption = widget.bin_tiles.item(0).text()
    assert caption.startswith(("A", "B", "C")) and "#" in caption  # well … object
    # a key moves the selected tile to the bin of that number
    item = widget.bin_tiles.item(0)
    moved = int(item.data(Qt.ItemDataRole.UserRole))
    item.setSelected(True)
    small = widget.classes.index("small")
    qtbot.keyClick(widget.bin_tiles, getattr(Qt.Key, f"Key_{small + 1}"))
    assert session.bin_of[moved] == "small"
    wait(qtbot, widget._bin_worker)
    assert widget.bin_tiles.count() == 3
    # Backspace takes one out of every bin
    widget.bin_tiles.item(0).setSelected(True)
    out = int(widget.bin_tiles.item(0).data(Qt.ItemDataRole.UserRole))
    qtbot.keyClick(widget.bin_tiles, Qt.Key.Key_Backspace)
    assert session.bin_of[out] is None
    wait(qtbot, widget._bin_worker)
    # a drop of a selected tile on the "small" bin's name moves it there
    widget.bin_tiles.item(0).setSelected(True)
    dropped = int(widget.bin_tiles.item(0).data(Qt.ItemDataRole.UserRole))
    target = widget.bin_list.visualItemRect(widget.bin_list.item(small)).center()
    event = QDropEvent(
        QPoint(target).toPointF() if hasattr(QPoint, "toPointF") else target,
        Qt.DropAction.MoveAction,
        QMimeData(),
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    event.source = lambda: widget.bin_tiles  # what Qt reports for a drag
    widget.eventFilter(widget.bin_list.viewport(), event)
    assert session.bin_of[dropped] == "small"


def test_results_show_without_scrolling_and_the_feature_rule_is_editable(panel, qtbot):
    """After Train the accuracy and the confusion matrix sit in the top of the
    panel (within 600 px: a right dock at 1080 px); the rule of what is not a
    feature is on screen and editing it changes what the model uses."""
    viewer, widget, files = panel
    _bin_extremes(widget)
    train(qtbot, widget)
    assert "accuracy" in widget.report.text()
    top = widget.report.mapTo(widget.content, widget.report.rect().bottomLeft()).y()
    assert top <= 600, top
    rule = widget.not_features.text()
    assert "Location" in rule and "BoundingBox" in rule
    assert not [f for f in widget.trained.candidates if "_Location_" in f]
    widget.not_features.setText("")  # positions allowed again
    train(qtbot, widget)
    assert [f for f in widget.trained.candidates if "_Location_" in f]
    widget.not_features.setText("(")  # not a regular expression: said, no train
    assert widget.train() is None


def test_a_gate_goes_into_a_bin(panel, qtbot):
    from arrowscope._napari.plate_widgets import ScatterWidget

    viewer, widget, files = panel
    scatter = ScatterWidget(viewer)
    scatter.x.setCurrentText("Nuclei_AreaShape_Area")
    scatter.y.setCurrentText("Nuclei_AreaShape_Eccentricity")
    x = scatter.column("Nuclei_AreaShape_Area")
    y = scatter.column("Nuclei_AreaShape_Eccentricity")
    x0 = float(np.nanpercentile(x, 80))
    gated = scatter.set_gate(
        [
            (x0, float(np.nanmin(y))),
            (float(np.nanmax(x)), float(np.nanmin(y))),
            (float(np.nanmax(x)), float(np.nanmax(y))),
            (x0, float(np.nanmax(y))),
        ]
    )
    assert gated.size
    assert scatter.gate_to_bin("large") == gated.size
    session = widget.session
    assert "large" in session.open_bins().classes
    assert all(session.bin_of[r] == "large" for r in gated.tolist())
