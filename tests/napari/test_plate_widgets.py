"""Plate map, scatter gates and verdicts by eye, in a real viewer."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from qtpy.QtCore import Qt

from arrowscope._napari.export_widget import ExportWidget
from arrowscope._napari.plate_widgets import PlateMapWidget, ScatterWidget
from arrowscope._napari.qc_widgets import OutlierGalleryWidget, QCWidget
from arrowscope._napari.session import session_for, text_overlay_of
from arrowscope._napari.workers import is_done
from arrowscope.core.profiles.synthetic import write_demo_plate


def table_rows(files):
    return pq.read_metadata(files["profiles"]).num_rows


def wait(qtbot, worker, timeout=60_000):
    qtbot.waitUntil(lambda: is_done(worker), timeout=timeout)


@pytest.fixture
def plate(make_napari_viewer, tmp_path):
    files = write_demo_plate(tmp_path / "demo", n_fields=6, size=(96, 96))
    viewer = make_napari_viewer()
    viewer.open(files["profiles"], plugin="arrowscope")
    return viewer, files, pq.read_table(files["profiles"])


def test_plate_map_wells_colours_hover_click_and_picture(plate, qtbot, tmp_path):
    viewer, files, table = plate
    widget = PlateMapWidget(viewer)
    assert widget.session is not None
    summary = widget.summary
    wells = table.column("Metadata_Well").to_pylist()
    expected = {w: wells.count(w) for w in set(wells)}
    got = dict(
        zip(
            summary.column("Metadata_Well").to_pylist(),
            summary.column("n_cells").to_pylist(),
            strict=True,
        )
    )
    assert got == expected  # A01..A04, B01, B02
    values, counts, n_wells = widget.grid
    assert n_wells == 96 and values.shape == (8, 12)
    assert counts[1, 1] == expected["B02"] and np.isnan(values[7, 11])
    # colours: the drawn image maps each well's count through the colour map;
    # a well without cells gets the "missing" colour, not the colour of zero
    image = widget._image
    rgba = image.to_rgba(image.get_array())
    lo = np.nanargmin(values)
    assert not np.allclose(rgba.reshape(-1, 4)[lo], rgba[7, 11])
    assert np.allclose(rgba[7, 11][:3], [0x3A / 255] * 3, atol=0.01)
    # hover text and a click: the well's fields become the current ones
    assert widget.well_at(1.2, 0.3) == "A02" and widget.well_at(1.2, 0.8) == "B02"
    assert widget.describe_well("B02").startswith(
        f"B02: 1 field(s), {expected['B02']} cells"
    )
    rows = widget.pick_well("B02")
    assert set(np.asarray(wells)[rows]) == {"B02"}
    session = widget.session
    assert session.visible.sum() == expected["B02"]
    fov = session.profiles.fov_of_row[rows[0]]
    assert round(viewer.dims.point[0]) == fov
    widget.pick_well(None)
    assert session.visible.all()
    for suffix in (".png", ".svg"):
        out = widget.save_picture(tmp_path / f"plate{suffix}")
        assert out.stat().st_size > 1000


def test_plate_map_follows_qc_and_filters(plate, qtbot):
    viewer, files, table = plate
    widget = PlateMapWidget(viewer)
    qc = QCWidget(viewer)
    wait(qtbot, qc.run())
    qtbot.waitUntil(lambda: "any_outlier" in widget.value_choices(), timeout=5000)
    widget.value.setCurrentText("any_outlier")
    summary = widget.refresh()
    mask = qc.session.outlier_mask()
    wells = np.asarray(table.column("Metadata_Well").to_pylist())
    for w, v in zip(
        summary.column("Metadata_Well").to_pylist(),
        summary.column("value").to_pylist(),
        strict=True,
    ):
        assert v == pytest.approx(mask[wells == w].mean())
    # a filter (the Filter panel's rows) is what the map counts
    keep = wells != "A01"
    qc.session.set_visible(keep)
    qtbot.waitUntil(
        lambda: "A01" not in widget.summary.column("Metadata_Well").to_pylist(),
        timeout=5000,
    )
    widget.value.setCurrentText("Nuclei_AreaShape_Area")
    widget.stat.setCurrentText("median")
    summary = widget.refresh()
    area = table.column("Nuclei_AreaShape_Area").to_numpy()
    a02 = summary.column("Metadata_Well").to_pylist().index("A02")
    assert summary.column("value")[a02].as_py() == pytest.approx(
        np.median(area[wells == "A02"])
    )


def test_scatter_gate_selects_exactly_the_rows_inside(plate, qtbot):
    viewer, files, table = plate
    widget = ScatterWidget(viewer)
    widget.x.setCurrentText("Nuclei_AreaShape_Area")
    widget.y.setCurrentText("Nuclei_AreaShape_Eccentricity")
    x = table.column("Nuclei_AreaShape_Area").to_numpy()
    y = table.column("Nuclei_AreaShape_Eccentricity").to_numpy()
    x0, x1 = np.percentile(x, [20, 80])
    y0, y1 = np.percentile(y, [10, 70])
    # a drag on the canvas, as matplotlib reports it
    press = type("E", (), {"xdata": x0, "ydata": y0})()
    release = type("E", (), {"xdata": x1, "ydata": y1})()
    widget._rectangle_done(press, release)
    inside = np.flatnonzero((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1))
    assert sorted(widget.gated.tolist()) == inside.tolist() and inside.size
    session = session_for(viewer)
    assert sorted(session.selected) == inside.tolist()
    points = viewer.layers["cells"]
    assert {int(session.point_rows[p]) for p in points.selected_data} == set(inside)
    # stepping through the gate's cells, across fields of view
    first = widget.step(+1)
    assert first == int(widget.gated[0]) and session.selected == [first]
    assert widget.step(-1) == int(widget.gated[-1])
    clauses = widget.gate_clauses()
    assert clauses[0] == ("Nuclei_AreaShape_Area", ">=", pytest.approx(x0))
    # a lasso: a triangle
    tri = [(x.min(), y.min()), (x.max(), y.min()), (x.min(), y.max())]
    got = widget.set_gate(tri)
    u = (x - x.min()) / (x.max() - x.min())
    v = (y - y.min()) / (y.max() - y.min())
    strictly = np.flatnonzero((u > 1e-9) & (v > 1e-9) & (u + v < 1 - 1e-9))
    assert set(strictly) <= set(got.tolist())
    assert widget.gate_clauses() is None  # a triangle is no WHERE clause
    widget.gate_to_filter()
    assert session.visible.sum() == got.size
    # after a QC run its scores are axes too
    session.set_visible(None)
    qc = QCWidget(viewer)
    wait(qtbot, qc.run())
    score = "Metadata_qcscore_zscore_Nuclei_AreaShape_Area"
    qtbot.waitUntil(lambda: score in widget.axis_choices(), timeout=5000)
    widget.y.setCurrentText(score)
    z = qc.result.scores.column(score).to_numpy()
    got = widget.set_gate([(x0, -1.0), (x1, -1.0), (x1, 1.0), (x0, 1.0)])
    want = np.flatnonzero((x >= x0) & (x <= x1) & (z >= -1) & (z <= 1))
    assert sorted(got.tolist()) == want.tolist()


def test_verdicts_by_eye_saved_reloaded_and_exported_by_key(
    make_napari_viewer, qtbot, tmp_path
):
    files = write_demo_plate(tmp_path / "demo", n_fields=3, size=(96, 96))
    viewer = make_napari_viewer()
    viewer.open(files["profiles"], plugin="arrowscope")
    gallery = OutlierGalleryWidget(viewer)
    session = gallery.session
    gallery.which.setCurrentIndex(1)  # all shown cells
    qtbot.waitUntil(lambda: gallery.list.count() > 3, timeout=30_000)
    gallery.list.item(0).setSelected(True)
    first = int(gallery.list.item(0).data(Qt.ItemDataRole.UserRole))
    qtbot.keyClick(gallery.list, Qt.Key.Key_2)  # reject, and the next is shown
    assert session.verdicts[first] == "reject"
    second = int(gallery.list.item(1).data(Qt.ItemDataRole.UserRole))
    assert session.selected == [second]
    assert "reject" in gallery.list.item(0).text()
    # and in the Profiles table, as a column
    from arrowscope._napari.profiles_widget import ProfilesWidget

    profiles = ProfilesWidget(viewer)
    qtbot.waitUntil(lambda: profiles.session is not None, timeout=10_000)
    model = profiles.model
    assert model.table.column_names[0] == "Metadata_manual_qc"
    assert model.table.column("Metadata_manual_qc")[first].as_py() == "reject"
    # on the canvas: 1 on the cells layer keeps the current cell (the layer's
    # own key binding, as napari calls it on a key press)
    from app_model.types import KeyBinding

    cells = viewer.layers["cells"]
    cells.keymap[KeyBinding.from_str("1")](cells)
    assert session.verdicts[second] == "keep"
    third = session.selected[0]
    assert third != second  # the next cell at once
    cells.keymap[KeyBinding.from_str("Backspace")](cells)  # clears, never deletes
    assert session.verdicts[third] is None and len(cells.data) == table_rows(files)
    ring = np.asarray(viewer.layers["cells"].border_color)[
        int(session.row_to_point[first])
    ]
    assert np.allclose(ring[:3], [1.0, 0x4C / 255, 1.0], atol=0.01)  # reject colour
    sidecar = files["profiles"].with_name("profiles.marks.parquet")
    assert sidecar.is_file()
    # the table is re-sorted and rewritten; a new viewer finds the marks by key
    table = pq.read_table(files["profiles"])
    keys = [
        "Metadata_Plate",
        "Metadata_ImageNumber",
        "Metadata_Nuclei_Number_Object_Number",
    ]
    before = {
        tuple(table.slice(r, 1).select(keys).to_pylist()[0].values()): v
        for r, v in ((first, "reject"), (second, "keep"))
    }
    order = np.random.default_rng(3).permutation(table.num_rows)
    pq.write_table(
        table.take(pa.array(order)).replace_schema_metadata(table.schema.metadata),
        files["profiles"],
    )
    viewer2 = make_napari_viewer()
    viewer2.open(files["profiles"], plugin="arrowscope")
    again = session_for(viewer2)
    key_rows = again.profiles.read(keys).to_pylist()
    found = {
        tuple(k.values()): again.verdicts[i]
        for i, k in enumerate(key_rows)
        if again.verdicts[i] is not None
    }
    assert found == before
    # exported beside the rule flags, as pycytominer reads it
    qc = QCWidget(viewer2)
    wait(qtbot, qc.run())
    export = ExportWidget(viewer2)
    wait(qtbot, export.export_qc("annotations", tmp_path / "ann.parquet"))
    ann = pq.read_table(tmp_path / "ann.parquet").to_pylist()
    got = {
        tuple(r[k] for k in keys): r["Metadata_manual_qc"]
        for r in ann
        if r["Metadata_manual_qc"] is not None
    }
    assert got == before
    # the agreement view counts the rule flags against the verdicts
    gallery2 = OutlierGalleryWidget(viewer2)
    counts = gallery2.update_agreement()
    assert sum(sum(c.values()) for c in counts.values()) == 2 * len(counts)
    assert "rule vs eye" in gallery2.agreement.text()


def test_the_app_docks_the_plate_map_beside_the_qc_tools(plate, qtbot):
    from arrowscope.app.viewer import WIDGETS, _dock_widgets

    viewer, files, table = plate
    docked = _dock_widgets(viewer, None, None)
    assert {"Plate map", "Scatter and gates"} <= set(docked) <= set(WIDGETS)
    # a rectangle gate becomes four Filter clauses, applied by the Filter panel
    scatter = docked["Scatter and gates"]
    scatter.x.setCurrentText("Nuclei_AreaShape_Area")
    scatter.y.setCurrentText("Nuclei_AreaShape_Eccentricity")
    x = table.column("Nuclei_AreaShape_Area").to_numpy()
    y = table.column("Nuclei_AreaShape_Eccentricity").to_numpy()
    x0, x1 = np.percentile(x, [10, 90])
    y0, y1 = np.percentile(y, [10, 90])
    inside = (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
    scatter.set_gate([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
    panel = docked["Filter cells"]
    panel.only.setChecked(True)
    wait(qtbot, scatter.gate_to_filter())
    assert len(panel.filters()) == 4
    session = session_for(viewer)
    qtbot.waitUntil(lambda: session.visible.sum() == inside.sum(), timeout=10_000)
    assert np.array_equal(session.visible, inside)
    plate_map = docked["Plate map"]
    assert plate_map.summary is not None
    assert plate_map.summary.num_rows == len(
        set(table.column("Metadata_Well").to_pylist())
    )
    from npe2 import PluginManager

    manifest = PluginManager.instance().get_manifest("arrowscope")
    names = {w.display_name for w in manifest.contributions.widgets}
    assert {"Plate map", "Scatter and gates"} <= names


def test_plate_map_without_wells_shows_an_empty_state(
    make_napari_viewer, qtbot, tmp_path
):
    from arrowscope._napari.profiles_widget import ProfilesWidget

    path = tmp_path / "no_wells.parquet"
    pq.write_table(
        pa.table(
            {
                "Metadata_ImageNumber": [1, 1, 2],
                "Nuclei_Number_Object_Number": [1, 2, 1],
                "Nuclei_Location_Center_X": [1.0, 2.0, 3.0],
                "Nuclei_Location_Center_Y": [1.0, 2.0, 3.0],
            }
        ),
        path,
    )
    viewer = make_napari_viewer()
    profiles = ProfilesWidget(viewer)
    wait(qtbot, profiles.open(path))
    # a table that names no images says so, not "rows without image: 0"
    assert "names no images" in profiles.status.text()
    widget = PlateMapWidget(viewer)
    assert widget.session is not None
    assert widget.plot.isHidden() and not widget.plot.made  # no empty axes
    assert not widget.plate.isEnabled() and not widget.value.isEnabled()
    assert "names no well" in widget.info.text()
    assert "Metadata_Well" in widget.info.text()


def test_the_app_gives_the_canvas_room(plate, qtbot):
    from qtpy.QtWidgets import QTabBar

    from arrowscope.app.viewer import TAB_TITLES, WINDOW, _dock_widgets

    viewer, _, _ = plate
    window = viewer.window._qt_window
    window.resize(*WINDOW)  # a 1920 x 1080 screen
    window.show()  # laid out as on a screen (Xvfb)
    qtbot.waitExposed(window)
    docked = _dock_widgets(viewer, None, None)
    qtbot.wait(300)
    canvas = viewer.window._qt_viewer.canvas.native
    assert canvas.width() >= 0.48 * window.width(), canvas.width()
    assert canvas.height() >= 0.45 * window.height(), canvas.height()
    # no panel title elided: every tab as wide as its whole title
    titles = set(TAB_TITLES.values())
    seen = set()
    for bar in window.findChildren(QTabBar):
        for i in range(bar.count()):
            text = bar.tabText(i)
            if text in titles:
                seen.add(text)
                need = bar.fontMetrics().horizontalAdvance(text)
                assert bar.tabRect(i).width() >= need, (text, bar.tabRect(i))
    assert seen == titles
    # the profile table shows at least eight rows
    view = docked["Profiles"].view
    rows = view.viewport().height() / view.verticalHeader().defaultSectionSize()
    assert rows >= 8, rows
    # the QC table shows its threshold column whole
    table = docked["Quality control"].table
    header = table.horizontalHeader()
    shown = sum(header.sectionSize(i) for i in range(3))
    assert header.sectionSize(2) > 0 and shown <= table.viewport().width() + 1


def test_scatter_axes_fit_the_data_after_a_selection_and_a_gate(
    make_napari_viewer, qtbot, tmp_path
):
    """An intensity in 0.056–0.131 fills the axes (matplotlib's selectors and
    the selected points must not stretch them to 0–1); the plot is in the
    viewer's theme with readable fonts; hovering a point names its cell."""
    from arrowscope._napari.plots import FONT

    rng = np.random.default_rng(3)
    n = 400
    path = tmp_path / "cells.parquet"
    pq.write_table(
        pa.table(
            {
                "Metadata_Plate": ["P"] * n,
                "Metadata_Well": ["B03"] * n,
                "Metadata_Site": np.arange(n) // 100 + 1,
                "Metadata_ImageNumber": np.arange(n) // 100 + 1,
                "Nuclei_Number_Object_Number": np.arange(n) % 100 + 1,
                "Nuclei_Location_Center_X": rng.uniform(5, 90, n),
                "Nuclei_Location_Center_Y": rng.uniform(5, 90, n),
                "Nuclei_Intensity_Mean_DNA": rng.uniform(0.056, 0.131, n),
                "Nuclei_AreaShape_Area": rng.uniform(100, 400, n),
            }
        ),
        path,
    )
    from arrowscope._napari.profiles_widget import ProfilesWidget

    viewer = make_napari_viewer()
    wait(qtbot, ProfilesWidget(viewer).open(path))
    widget = ScatterWidget(viewer)
    widget.x.setCurrentText("Nuclei_AreaShape_Area")
    widget.y.setCurrentText("Nuclei_Intensity_Mean_DNA")
    table = pq.read_table(path)
    y = table.column("Nuclei_Intensity_Mean_DNA").to_numpy()
    x = table.column("Nuclei_AreaShape_Area").to_numpy()

    def fits():
        for (lo, hi), v in ((widget.axes.get_xlim(), x), (widget.axes.get_ylim(), y)):
            span = v.max() - v.min()
            assert lo <= v.min() and hi >= v.max()
            assert hi - lo <= 1.5 * span, (lo, hi, v.min(), v.max())

    fits()
    session_for(viewer).select_rows([5])
    fits()
    press = type("E", (), {"xdata": 150.0, "ydata": 0.07})()
    release = type("E", (), {"xdata": 300.0, "ydata": 0.1})()
    widget._rectangle_done(press, release)
    fits()
    assert widget.axes.xaxis.label.get_fontsize() >= FONT
    assert min(t.get_fontsize() for t in widget.axes.get_xticklabels()) >= FONT
    assert widget.figure.get_facecolor()[:3] != (1.0, 1.0, 1.0)  # not white
    # the point under the cursor is the nearest cell; a click goes to it
    row = widget.row_at(float(x[7]), float(y[7]))
    assert row == 7
    widget._hover_at = (float(x[7]), float(y[7]))
    widget._show_hovered()
    assert "B03" in widget.hover_text.text() and "#8" in widget.hover_text.text()
    click = type("E", (), {"xdata": float(x[9]), "ydata": float(y[9])})()
    widget._rectangle_done(click, click)
    assert session_for(viewer).selected == [9]


def test_a_two_sided_rule_draws_both_lines(plate, qtbot):
    viewer, _, _ = plate
    qc = QCWidget(viewer)
    wait(qtbot, qc.run())
    feature = "Nuclei_AreaShape_Area"
    qc.feature.setCurrentText(feature)
    for r in range(qc.table.rowCount()):
        if qc.table.item(r, 1) and qc.table.item(r, 1).text().strip() == feature:
            qc.table.item(r, 2).setText("abs>= 2")
    qc._draw()
    xs = sorted(line.get_xdata()[0] for line, _ in qc._lines)
    assert -2.0 in xs and 2.0 in xs


def test_a_properties_file_opens_on_the_classifier_and_no_images_are_explained(
    make_napari_viewer, qtbot, tmp_path
):
    """For a CellProfiler Analyst properties file the Classifier is the panel
    in front; a table whose images are nowhere says so on the canvas itself,
    and the field slider starts at the first field."""
    from qtpy.QtWidgets import QTabBar

    from arrowscope.app.viewer import WINDOW, _dock_widgets
    from arrowscope.core.profiles.synthetic import write_cellprofiler_sqlite

    write_cellprofiler_sqlite(
        tmp_path / "cpa.db", images=3, cells=4, layout="single object table"
    )
    props = tmp_path / "example.properties"
    props.write_text(
        "db_type = sqlite\ndb_sqlite_file = cpa.db\nimage_table = Per_Image\n"
        "object_table = Per_Object\nimage_id = ImageNumber\nobject_id = ObjectNumber\n"
    )
    viewer = make_napari_viewer()
    window = viewer.window._qt_window
    window.resize(*WINDOW)
    window.show()
    qtbot.waitExposed(window)
    _dock_widgets(viewer, props, None)
    qtbot.wait(200)
    fronts = [
        bar.tabText(bar.currentIndex())
        for bar in window.findChildren(QTabBar)
        if bar.count() > 3
    ]
    assert "Classifier" in fronts, fronts
    overlay = text_overlay_of(viewer)
    said = overlay.text.replace("\n", " ")
    assert overlay.visible and "No image of this table could be read" in said
    assert "A01_s1_DNA.tif" in said and "--images FOLDER" in said
    assert viewer.dims.current_step[0] == 0


def test_panels_behind_other_tabs_wait_until_raised(make_napari_viewer, tmp_path):
    """As `arrowscope view --profiles` opens a table: the plate map, the
    scatter plot and the classifier read nothing and draw nothing until
    their tab is raised; the QC panel in front says what it will show
    without importing a plotting library."""
    from arrowscope.app.viewer import _dock_widgets, _raise_dock

    files = write_demo_plate(tmp_path / "demo", n_fields=4, size=(96, 96))
    viewer = make_napari_viewer()
    docked = _dock_widgets(viewer, files["profiles"], None)
    plate_map, scatter = docked["Plate map"], docked["Scatter and gates"]
    assert plate_map.session is not None and scatter.session is not None
    assert plate_map.summary is None and not plate_map.plot.made
    assert not scatter.plot.made and not scatter.values
    assert not docked["Quality control"].plot.made
    _raise_dock(viewer, "Plate map")
    assert plate_map.summary is not None and plate_map.plot.made
    _raise_dock(viewer, "Scatter")
    assert scatter.plot.made and scatter.values


def test_plate_map_position_effects_on_a_planted_edge(make_napari_viewer, tmp_path):
    """The plate with fewer cells in its outer wells: the plate map says its
    edge effect and, with the trends taken out, the outer wells no longer
    stand apart."""
    from arrowscope.core.profiles.synthetic import write_qc_screen

    path, truth = write_qc_screen(tmp_path / "screen", plates=2)
    viewer = make_napari_viewer()
    viewer.open(path, plugin="arrowscope")
    widget = PlateMapWidget(viewer)
    widget.plate.setCurrentText(truth.edge_plate)
    widget.refresh()
    said = widget.effects.text()
    edge = float(said.split("edge ")[1].split(" SD")[0])
    assert edge < -1.5, said
    values = widget.grid[0]
    outer = np.r_[values[0], values[-1], values[:, 0], values[:, -1]]
    assert np.nanmedian(outer) < np.nanmedian(values[1:-1, 1:-1]) - 5
    widget.detrend.setChecked(True)
    residual = widget.grid[0]
    assert "trends taken out" in widget.effects.text()
    outer = np.r_[residual[0], residual[-1], residual[:, 0], residual[:, -1]]
    assert abs(np.nanmedian(outer) - np.nanmedian(residual[1:-1, 1:-1])) < 5
    assert widget.axes.get_title().endswith("− trends")


def test_panels_attach_to_the_table_already_open(
    make_napari_viewer, tmp_path, monkeypatch
):
    """The panels listening for a cells layer attach to the table the Profiles
    panel (or the reader) opened, never open it a second time."""
    import arrowscope._napari.session as session_module
    from arrowscope.app.viewer import _dock_widgets

    reopened = []
    real = session_module.open_profiles
    monkeypatch.setattr(
        session_module,
        "open_profiles",
        lambda *a, **k: reopened.append(a) or real(*a, **k),
    )
    files = write_demo_plate(tmp_path / "demo", n_fields=2, size=(64, 64))
    viewer = make_napari_viewer()
    docked = _dock_widgets(viewer, files["profiles"], None)
    tables = {
        id(w.session.profiles) for w in docked.values() if getattr(w, "session", None)
    }
    assert len(tables) == 1 and not reopened
    # dropped on the viewer: the reader's table is the panels' table too
    viewer2 = make_napari_viewer()
    viewer2.open(files["profiles"], plugin="arrowscope")
    qc = QCWidget(viewer2)
    assert qc.session is not None and not reopened


def test_plate_map_by_site_shows_the_empty_field_in_its_well(
    make_napari_viewer, tmp_path
):
    """Each well drawn as the block of its sites: a nearly empty field is one
    dark square beside its well's other site, and hovering names the site."""
    from arrowscope.core.profiles.synthetic import write_qc_screen

    path, truth = write_qc_screen(tmp_path / "screen", plates=1)
    plate, well, site = sorted(truth.empty)[0]
    viewer = make_napari_viewer()
    viewer.open(path, plugin="arrowscope")
    widget = PlateMapWidget(viewer)
    assert widget.by_site.isEnabled()
    widget.by_site.setChecked(True)
    assert widget.sites is not None and not widget.detrend.isEnabled()
    fine, counts, wells, (sr, sc), sites = widget.sites
    assert (sr, sc) == (1, 2) and fine.shape == (8, 24) and sites == [1, 2]
    r, c = ord(well[0]) - 65, int(well[1:]) - 1
    empty = counts[r, c * 2 + sites.index(site)]
    other = counts[r, c * 2 + 1 - sites.index(site)]
    assert empty < other / 3, (empty, other)
    # per well, the sites add up to the well's count
    assert counts[r, 2 * c : 2 * c + 2].sum() == widget.grid[1][r, c]
    x = c - 0.25 if sites.index(site) == 0 else c + 0.25
    said = widget.describe_well(well, widget.site_at(x, r))
    assert f"site {site}: value {empty:.4g}" in said
    assert widget.axes.get_title().endswith("cells per site")
    widget.by_site.setChecked(False)
    assert widget.sites is None and widget.detrend.isEnabled()


def test_plate_map_shows_field_measures_measured_from_pixels_by_site(
    make_napari_viewer, qtbot, tmp_path
):
    """Quality measured from the pixels in the Fields panel joins the plate
    map's choices; by site, each blurred field has its well's lower slope."""
    from arrowscope._napari.field_gallery import FieldGalleryWidget
    from arrowscope.core.profiles.synthetic import write_qc_screen

    path, truth = write_qc_screen(tmp_path / "screen", plates=1)
    viewer = make_napari_viewer()
    viewer.open(path, plugin="arrowscope")
    plate_map = PlateMapWidget(viewer)
    fields = FieldGalleryWidget(viewer)
    slope = "field:Image_ImageQuality_PowerLogLogSlope_DNA"
    assert slope not in plate_map.value_choices()
    wait(qtbot, fields.measure_pixels())
    assert slope in plate_map.value_choices()
    plate_map.by_site.setChecked(True)
    plate_map.value.setCurrentText(slope)
    assert plate_map.counting == "fields"
    fine, counts, _, (sr, sc), sites = plate_map.sites
    assert counts.max() == 1  # one field a site
    for _, well, site in truth.blurred:
        r, c, k = ord(well[0]) - 65, int(well[1:]) - 1, sites.index(site)
        mine, other = fine[r, c * sc + k], fine[r, c * sc + 1 - k]
        assert mine < other, (well, site, mine, other)
    assert plate_map.describe_well("A01").startswith("A01: 2 field(s)")


def test_wells_in_one_corner_say_nothing_of_position_effects(
    make_napari_viewer, tmp_path
):
    """Twelve wells in the plate's corner (A01–C04) touch two of its edges:
    no edge effect or trends are claimed from them."""
    files = write_demo_plate(tmp_path / "demo", n_fields=12, size=(64, 64))
    viewer = make_napari_viewer()
    viewer.open(files["profiles"], plugin="arrowscope")
    widget = PlateMapWidget(viewer)
    counts = widget.grid[1]
    assert (counts > 0).sum() == 12 and counts[:3, :4].all()
    assert widget.effects.text() == ""


def test_a_column_that_cannot_be_read_is_said_on_the_plate_map(plate, monkeypatch):
    """A feature whose column cannot be read (a corrupt page): the plate map
    says why in its text, and nothing is raised into Qt's event loop."""
    from arrowscope.core.errors import CorruptFileError

    viewer, files, _ = plate
    widget = PlateMapWidget(viewer)
    pt = widget.session.profiles
    real = pt.read

    def broken(columns, rows=None):
        if "Nuclei_AreaShape_Area" in columns:
            raise CorruptFileError("cannot decode row group 0", path=files["profiles"])
        return real(columns, rows)

    monkeypatch.setattr(pt, "read", broken)
    widget.value.setCurrentText("Nuclei_AreaShape_Area")
    assert "cannot decode row group 0" in widget.info.text()
    widget.value.setCurrentText("count")  # and the map goes on working
    assert widget.grid is not None and widget.grid[1].sum() > 0
