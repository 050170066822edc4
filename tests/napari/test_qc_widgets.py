"""Filter, QC, gallery and export widgets driven as a user would."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
from qtpy.QtCore import Qt

from arrowscope._napari.export_widget import ExportWidget
from arrowscope._napari.profile_layers import OUTLIER_COLOR
from arrowscope._napari.qc_widgets import FilterWidget, OutlierGalleryWidget, QCWidget
from arrowscope._napari.session import session_for
from arrowscope._napari.workers import is_done
from arrowscope.core.images.image import open_image, open_source
from arrowscope.core.profiles.qc import MANUAL_FLAG, compute_flags
from arrowscope.core.profiles.synthetic import write_demo_plate


def wait(qtbot, worker, timeout=60_000):
    qtbot.waitUntil(lambda: is_done(worker), timeout=timeout)


@pytest.fixture
def workspace(make_napari_viewer, tmp_path, qtbot):
    """A viewer with the demo profiles opened through the reader (as drag-and-drop)."""
    files = write_demo_plate(tmp_path / "demo", n_fields=4, size=(128, 128))
    viewer = make_napari_viewer()
    viewer.open(files["profiles"], plugin="arrowscope")
    return viewer, files


def test_reader_opens_profile_table_as_workspace(workspace):
    viewer, files = workspace
    names = [layer.name for layer in viewer.layers]
    assert names == ["DNA", "ER", "Mito", "nuclei_LABL mask", "cells"]
    points = viewer.layers["cells"]
    assert len(points.data) == pq.read_metadata(files["profiles"]).num_rows
    assert "Nuclei_AreaShape_Area" not in points.features.columns  # keys only
    assert session_for(viewer).profiles.path == files["profiles"]


def test_qc_widget_flags_match_engine_and_colour_points(workspace, qtbot):
    viewer, files = workspace
    widget = QCWidget(viewer)
    assert widget.session is not None
    wait(qtbot, widget.run())
    table = pq.read_table(files["profiles"])
    expected = compute_flags(table)
    assert widget.session.flags.equals(expected.flags)
    assert expected.mask().any()
    points = viewer.layers["cells"]
    drawn = np.asarray(points.border_color)[:, :3]
    flagged = expected.mask()[points.features["row"].to_numpy()]
    outlier = np.array([int(OUTLIER_COLOR[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    assert flagged.any() and (~flagged).any()
    np.testing.assert_allclose(drawn[flagged], outlier[None].repeat(flagged.sum(), 0))
    assert not np.isclose(drawn[~flagged], outlier).all(axis=1).any()
    # the summary states the count the engine found, per condition and in all
    text = widget.summary.text()
    total = int(expected.mask().sum())
    assert f"any condition: {total:,} of {table.num_rows:,}" in text
    for name, column in zip(
        expected.flags.column_names, expected.flags.columns, strict=True
    ):
        condition = name.removeprefix("Metadata_cqc_").removesuffix("_is_outlier")
        assert f"<b>{condition}</b>: {int(column.to_numpy().sum()):,}" in text
    # drag the elongation threshold down: more cells are flagged after the re-run
    widget.feature.setCurrentText("Nuclei_AreaShape_Eccentricity")
    ((line, row),) = widget._lines
    before = int(widget.session.outlier_mask().sum())
    widget.set_threshold(row, 0.5)
    assert widget.table.item(row, 2).text() == "0.5"
    with qtbot.waitSignal(widget.session.state_changed, timeout=30_000):
        pass
    assert int(widget.session.outlier_mask().sum()) > before
    # a coSMicQC YAML file loads into the conditions table
    yml = files["profiles"].parent / "t.yml"
    yml.write_text("thresholds:\n  big:\n    Nuclei_AreaShape_Area: 1.5\n")
    widget.load_yaml(yml)
    assert widget.conditions() == {"big": {"Nuclei_AreaShape_Area": 1.5}}


def test_filter_widget_counts_and_hides(workspace, qtbot):
    viewer, files = workspace
    widget = FilterWidget(viewer)
    table = pq.read_table(files["profiles"])
    area = table["Nuclei_AreaShape_Area"].to_numpy()
    widget.add_filter("Nuclei_AreaShape_Area", ">", "150")
    widget.only.setChecked(True)
    widget.timer.stop()  # the debounced re-run would supersede this one
    wait(qtbot, widget.apply())
    np.testing.assert_array_equal(widget.mask, area > 150)
    assert f"{int((area > 150).sum())} of {len(area)}" in widget.count.text()
    points = viewer.layers["cells"]
    np.testing.assert_array_equal(
        points.shown, (area > 150)[points.features["row"].to_numpy()]
    )
    widget.sql.setText("Metadata_Well = 'A01'")
    widget.timer.stop()
    wait(qtbot, widget.apply())
    wells = np.asarray(table["Metadata_Well"].to_pylist())
    np.testing.assert_array_equal(widget.mask, (area > 150) & (wells == "A01"))
    widget.sql.setText("1=1; COPY (SELECT 1) TO 'x.csv'")
    widget.timer.stop()
    wait(qtbot, widget.apply())
    assert widget.mask is None
    assert "refused" in widget.count.text()


def test_slow_sql_runs_off_the_gui_thread_and_can_be_cancelled(workspace, qtbot):
    viewer, _ = workspace
    widget = FilterWidget(viewer)
    widget.time_limit.setValue(600)
    widget.sql.setText(
        "Nuclei_AreaShape_Area > (SELECT count(*) FROM range(1000000000000))"
    )
    widget.timer.stop()  # no debounced re-run: this test drives apply() itself
    worker = widget.apply()
    for _ in range(5):
        qtbot.wait(50)  # the event loop turns while the query runs
    assert not is_done(worker)
    assert widget.stop.isEnabled()
    qtbot.mouseClick(widget.stop, Qt.LeftButton)
    wait(qtbot, worker, timeout=10_000)  # stopped by the click, not the limit
    assert "cancelled" in widget.count.text()
    assert widget.mask is None and not widget.stop.isEnabled()
    # the time limit stops a query on its own
    widget.time_limit.setValue(0.5)
    wait(qtbot, widget.apply(), timeout=20_000)
    assert "time limit" in widget.count.text()


def test_gallery_pages_clicks_and_manual_flags(workspace, qtbot):
    viewer, files = workspace
    qc = QCWidget(viewer)
    wait(qtbot, qc.run())
    gallery = OutlierGalleryWidget(viewer)
    qtbot.waitUntil(
        lambda: gallery.list.count() == int(gallery.session.outlier_mask().sum()),
        timeout=30_000,
    )
    item = gallery.list.item(0)
    assert not item.icon().isNull()
    # captions read the verdicts without making one per row of the table
    assert gallery.session.verdicts_if_any is None
    row = int(item.data(256))
    gallery._clicked(item)
    assert gallery.session.selected == [row]
    item.setSelected(True)
    gallery.toggle_selected()
    assert gallery.session.manual[row]
    assert gallery.session.flag_table()[MANUAL_FLAG][row].as_py() is True


def test_export_qc_results(workspace, qtbot, tmp_path):
    pycytominer = pytest.importorskip("pycytominer")
    viewer, files = workspace
    qc = QCWidget(viewer)
    wait(qtbot, qc.run())
    session = qc.session
    session.toggle_manual([0])
    export = ExportWidget(viewer)
    wait(qtbot, export.export_qc("annotations", tmp_path / "flags.parquet"))
    wait(qtbot, export.export_qc("cleaned", tmp_path / "clean.parquet"))
    wait(qtbot, export.export_qc("crops", tmp_path / "crops.ome.parquet"))
    flagged = session.outlier_mask()
    assert flagged[0]
    ann = pq.read_table(tmp_path / "flags.parquet")
    assert (
        MANUAL_FLAG in ann.column_names and "Metadata_ImageNumber" in ann.column_names
    )
    assert pq.read_metadata(tmp_path / "clean.parquet").num_rows == int(
        (~flagged).sum()
    )
    profiles = pq.read_table(files["profiles"]).to_pandas()
    keys = [
        "Metadata_Plate",
        "Metadata_ImageNumber",
        "Metadata_Nuclei_Number_Object_Number",
    ]
    merged = profiles.merge(ann.to_pandas(), on=keys)
    flags = [c for c in ann.column_names if c.startswith("Metadata_cqc_")]
    out = pycytominer.normalize(
        merged,
        features=["Nuclei_AreaShape_Area", "Nuclei_AreaShape_Eccentricity"],
        meta_features=[*keys, *flags],
        drop_cosmicqc_rows=True,
    )
    assert len(out) == int((~flagged).sum())
    src = open_source(tmp_path / "crops.ome.parquet")
    assert (
        "Image_DNA_OMEArrow_ORIG" in src.image_columns
        and "Image_DNA_OMEArrow_LABL" in src.image_columns
    )
    assert src.num_rows == len(profiles)


@pytest.mark.parametrize("fmt", ["parquet", "dataset", "tiff", "zarr"])
def test_export_layers_in_every_format(make_napari_viewer, qtbot, tmp_path, fmt):
    viewer = make_napari_viewer()
    data = np.random.default_rng(0).integers(0, 5000, (2, 3, 40, 50), dtype=np.uint16)
    layers = viewer.add_image(
        data,
        channel_axis=0,
        name=["DNA", "Mito"],
        colormap=["blue", "magenta"],
        scale=(2.0, 0.5, 0.5),
        units=("µm", "µm", "µm"),
        metadata={"arrowscope": {"origin": "x", "channel_names": ["DNA", "Mito"]}},
    )
    viewer.layers.selection = set(layers)
    export = ExportWidget(viewer)
    suffix = {
        "parquet": ".ome.parquet",
        "dataset": ".ome.parquet",
        "tiff": ".ome.tiff",
        "zarr": ".ome.zarr",
    }[fmt]
    target = tmp_path / f"out{suffix}"
    wait(qtbot, export.export_selected(target, fmt))
    assert "wrote" in export.status.value
    if fmt in ("parquet", "dataset"):
        img = open_image(target)
        assert (target.is_dir()) == (fmt == "dataset")
    else:
        from bioio import BioImage

        bio = BioImage(target)
        assert list(bio.channel_names) == ["DNA", "Mito"]
        np.testing.assert_array_equal(bio.get_image_data("CZYX"), data)
        return
    np.testing.assert_array_equal(img.to_numpy()[0], data)
    assert img.channel_names == ["DNA", "Mito"]
    assert img.physical_size == pytest.approx((2.0, 0.5, 0.5))


def test_export_errors_are_reported_not_raised(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((10, 10), np.uint8), name="a")
    viewer.add_image(np.zeros((10, 10), np.uint8), name="b")
    viewer.layers.selection = set(viewer.layers)
    export = ExportWidget(viewer)
    wait(qtbot, export.export_selected(tmp_path / "x.ome.tiff", "tiff"))
    assert "failed" in export.status.value and "one image" in export.status.value
    assert not (tmp_path / "x.ome.tiff").exists()
    wait(
        qtbot, export.export_selected(tmp_path / "missing" / "x.ome.parquet", "parquet")
    )
    assert "does not exist" in export.status.value


def test_status_bar_names_the_verdict_keys_not_points_modes(workspace):
    from arrowscope._napari.profile_layers import CELLS_HELP

    viewer, _ = workspace
    # as the app does: the panel gets napari's proxy of the viewer, not the viewer
    _, widget = viewer.window.add_plugin_dock_widget("arrowscope", "Quality control")
    session = widget.session
    assert session is not None
    assert viewer.help == CELLS_HELP  # the cells layer was already the active one
    points = viewer.layers["cells"]
    viewer.layers.selection.active = points
    assert viewer.help == CELLS_HELP
    points.mode = "select"  # napari rewrites the help on every mode change
    points.mode = "pan_zoom"
    assert points.help == CELLS_HELP and viewer.help == CELLS_HELP
    assert "add points" not in viewer.help


def test_export_panel_follows_the_write_policy(workspace, qtbot, tmp_path, monkeypatch):
    import arrowscope._napari.export_widget as export_widget

    viewer, files = workspace
    qc = QCWidget(viewer)
    wait(qtbot, qc.run())
    export = ExportWidget(viewer)
    table = files["profiles"]
    before = table.read_bytes()
    # onto the profile table itself: refused, whatever the user would answer
    monkeypatch.setattr(export_widget, "confirm_replace", lambda *a: True)
    assert export.export_qc("cleaned", table) is None
    assert table.read_bytes() == before
    assert "is an input" in export.status.value
    # an existing file: replaced only when the user confirms
    out = tmp_path / "flags.parquet"
    out.write_bytes(b"yesterday")
    asked = []
    monkeypatch.setattr(
        export_widget, "confirm_replace", lambda _w, q: asked.append(q) or False
    )
    assert export.export_qc("annotations", out) is None
    assert out.read_bytes() == b"yesterday" and asked == [f"{out} exists. Replace it?"]
    monkeypatch.setattr(export_widget, "confirm_replace", lambda *a: True)
    wait(qtbot, export.export_qc("annotations", out))
    assert "Metadata_ImageNumber" in pq.read_schema(out).names


def test_tiles_share_each_channels_scaling():
    """Two cells, one ten times brighter than the other: with the layers'
    shared contrast limits the dim tile looks dim (mean < 0.5x the bright
    one); stretched tile by tile, the two would look alike."""
    from types import SimpleNamespace

    from arrowscope._napari.qc_widgets import composite

    yy, xx = np.mgrid[:32, :32]
    disc = ((yy - 16) ** 2 + (xx - 16) ** 2 < 100).astype(np.float32)
    noise = np.random.default_rng(0).normal(0, 2, (32, 32)).astype(np.float32)
    dim = SimpleNamespace(channels={"PH3": 100 * disc + 10 + noise}, mask=None)
    bright = SimpleNamespace(channels={"PH3": 1000 * disc + 10 + noise}, mask=None)
    colors = {"PH3": (0.0, 1.0, 0.0)}
    limits = {"PH3": (0.0, 1000.0)}
    shared = [composite(c, colors, limits)[..., 1].mean() for c in (dim, bright)]
    assert shared[0] < 0.5 * shared[1]
    own = [composite(c, colors)[..., 1].mean() for c in (dim, bright)]
    assert own[0] > 0.8 * own[1]  # what per-tile stretching did: alike


def test_export_uses_the_key_roles_the_user_edited(workspace, qtbot, tmp_path):
    """Key roles edited in the Profiles panel (here the field named by plate,
    well and site rather than image number) are the keys every export
    carries — never the ones detected from the file."""
    from arrowscope._napari.profiles_widget import ProfilesWidget

    viewer, files = workspace
    profiles = ProfilesWidget(viewer)
    wait(
        qtbot,
        profiles.open(
            files["profiles"],
            image_key=["Metadata_Plate", "Metadata_Well", "Metadata_Site"],
        ),
    )
    edited = ["Metadata_Plate", "Metadata_Well", "Metadata_Site"]
    qtbot.waitUntil(
        lambda: (
            profiles.session is not None
            and profiles.session.profiles.keys.image == edited
        ),
        timeout=10_000,
    )
    session = profiles.session
    qc = QCWidget(viewer)
    assert qc.session is session  # the newest table's session
    wait(qtbot, qc.run())
    export = ExportWidget(viewer)
    assert session_for(viewer) is session  # what the Export panel exports
    wait(qtbot, export.export_qc("annotations", tmp_path / "flags.parquet"))
    names = pq.read_schema(tmp_path / "flags.parquet").names
    assert {"Metadata_Well", "Metadata_Site"} <= set(names), names
    assert "Metadata_ImageNumber" not in names


def test_a_cell_without_image_gets_a_tile_that_says_so(qtbot):
    from arrowscope._napari.qc_widgets import thumbnail_item

    item = thumbnail_item(3, None, "A01 · s1 · #4", 64)
    assert not item.icon().isNull()
    assert "could not be read" in item.toolTip()


def test_a_tile_without_image_names_what_stands_out():
    import pyarrow as pa

    from arrowscope._napari.qc_widgets import top_scores

    scores = pa.table(
        {
            "Metadata_qcscore_zscore_Nuclei_AreaShape_Area": [3.4, 0.1],
            "Metadata_qcscore_zscore_Nuclei_AreaShape_Eccentricity": [-0.5, -2.0],
        }
    )
    assert top_scores(scores, 0) == "Area +3.4 · Eccentricity -0.5"
    assert top_scores(scores, 1, n=1) == "Eccentricity -2.0"
