"""The Profiles widget: rows and cells linked both ways, in a real viewer."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from qtpy.QtCore import Qt

from arrowscope._napari.profiles_widget import ProfilesWidget
from arrowscope._napari.session import camera_of
from arrowscope._napari.workers import is_done
from arrowscope.core.profiles.synthetic import write_demo_plate
from tests.conftest import shared_file


def open_widget(viewer, qtbot, path, **kw):
    widget = ProfilesWidget(viewer)
    worker = widget.open(path, **kw)
    qtbot.waitUntil(lambda: is_done(worker), timeout=60_000)
    qtbot.waitUntil(lambda: widget.session is not None, timeout=10_000)
    return widget


def select_view_row(widget, view_row):
    widget.view.selectRow(view_row)
    return widget.model.table_row(view_row)


@pytest.fixture
def shuffled_profiles(tmp_path):
    files = write_demo_plate(tmp_path, n_fields=3, size=(128, 128))
    table = pq.read_table(files["profiles"])
    order = np.random.default_rng(1).permutation(table.num_rows)
    shuffled = table.take(pa.array(order)).replace_schema_metadata(
        table.schema.metadata
    )
    path = tmp_path / "shuffled.parquet"
    pq.write_table(shuffled, path)
    return path, shuffled


def test_rows_and_points_select_each_other(
    make_napari_viewer, qtbot, shuffled_profiles
):
    path, table = shuffled_profiles
    viewer = make_napari_viewer()
    widget = open_widget(viewer, qtbot, path)
    names = [layer.name for layer in viewer.layers]
    assert (
        names[:3] == ["DNA", "ER", "Mito"]
        and "nuclei_LABL mask" in names
        and names[-1] == "cells"
    )
    assert viewer.layers["DNA"].data.shape == (3, 128, 128)
    points = viewer.layers["cells"]
    assert points.data.shape[0] == table.num_rows

    # table → viewer: each row lands on its own field of view and centre
    images = table["Metadata_ImageNumber"].to_pylist()
    fovs = [f.key[1] for f in widget.session.profiles.fields_of_view]
    for view_row in (0, 7, widget.model.rowCount() - 1):
        row = select_view_row(widget, view_row)
        assert viewer.dims.point[0] == fovs.index(images[row])
        cy, cx = camera_of(viewer).center[-2:]
        assert abs(cy - table["Nuclei_Location_Center_Y"][row].as_py()) < 1
        assert abs(cx - table["Nuclei_Location_Center_X"][row].as_py()) < 1
        selected = list(points.selected_data)
        assert points.features["row"][selected[0]] == row

    # viewer → table: selecting points selects exactly their rows
    points.selected_data = {2, 5}
    rows = sorted(
        widget.model.table_row(i.row())
        for i in widget.view.selectionModel().selectedRows()
    )
    assert rows == sorted(points.features["row"][[2, 5]].tolist())

    # sorting reorders the view, never the link
    assert "Nuclei_AreaShape_Area" in widget.model.table.column_names
    area = widget.model.table.column_names.index("Nuclei_AreaShape_Area")
    widget.view.sortByColumn(area, Qt.SortOrder.AscendingOrder)
    row = select_view_row(widget, 0)
    assert table["Nuclei_AreaShape_Area"][row].as_py() == min(
        table["Nuclei_AreaShape_Area"].to_pylist()
    )
    assert points.features["row"][list(points.selected_data)[0]] == row

    # next/previous
    first = widget.session.step(1)
    assert widget.session.step(1) == first + 1
    assert widget.session.step(-1) == first


def test_clicking_a_label_selects_its_row(make_napari_viewer, qtbot, shuffled_profiles):
    path, table = shuffled_profiles
    viewer = make_napari_viewer()
    widget = open_widget(viewer, qtbot, path)
    session = widget.session
    labels = viewer.layers["nuclei_LABL mask"]
    objects = table["Metadata_Nuclei_Number_Object_Number"].to_numpy()
    row = int(np.flatnonzero(np.asarray(table["Nuclei_AreaShape_Area"]) > 50)[0])
    loc = session.profiles.locate(row)
    plane = np.asarray(labels.data[loc.fov])
    ys, xs = np.nonzero(plane == objects[row])
    assert session.row_at(loc.fov, int(objects[row]), plane) == row

    class Click:
        type = "mouse_press"
        position = (loc.fov, ys[0], xs[0])

    widget._on_label_click(labels, Click())
    assert session.selected == [row]
    assert [
        widget.model.table_row(i.row())
        for i in widget.view.selectionModel().selectedRows()
    ] == [row]


def test_column_picker_and_search(make_napari_viewer, qtbot, shuffled_profiles):
    path, table = shuffled_profiles
    viewer = make_napari_viewer()
    widget = open_widget(viewer, qtbot, path)
    first = widget.column_list.item(0).text()
    assert first.startswith("Metadata_")
    widget.set_columns(["Metadata_Well", "Nuclei_AreaShape_Eccentricity"])
    assert widget.model.table.column_names == [
        "Metadata_Well",
        "Nuclei_AreaShape_Eccentricity",
    ]
    widget.column_search.setText("eccen")
    hidden = [
        widget.column_list.item(i).isHidden() for i in range(widget.column_list.count())
    ]
    assert hidden.count(False) == 1
    well = table["Metadata_Well"][0].as_py()
    widget.search.setText(well)
    widget._apply_search()
    assert widget.model.rowCount() == table["Metadata_Well"].to_pylist().count(well)


def test_nf1_real_plate_in_the_viewer(make_napari_viewer, qtbot):
    path = shared_file(
        "nf1_cellpainting_shrunken", "Plate_2_with_image_data_shrunken.parquet"
    )
    viewer = make_napari_viewer()
    widget = open_widget(viewer, qtbot, path, image_root=path.parent / "Plate_2_images")
    assert [viewer.layers[n].data.shape for n in ("DAPI", "GFP", "RFP")] == [
        (5, 904, 1224)
    ] * 3
    assert {"Nuclei mask", "Cells mask", "Cytoplasm mask"} <= {
        layer.name for layer in viewer.layers
    }
    table = pq.read_table(
        path, columns=["Nuclei_Location_Center_X", "Nuclei_Location_Center_Y"]
    )
    session = widget.session
    for view_row in range(5):
        row = select_view_row(widget, view_row)
        assert viewer.dims.point[0] == session.profiles.locate(row).fov
        cy, cx = camera_of(viewer).center[-2:]
        assert (
            abs(cx - table[0][row].as_py()) < 1 and abs(cy - table[1][row].as_py()) < 1
        )
    # clicking that nucleus (a binary mask, labelled by components) selects the row
    labels = viewer.layers["Nuclei mask"]
    row = 3
    loc = session.profiles.locate(row)
    plane = np.asarray(labels.data[loc.fov])
    y, x = (int(round(v)) for v in loc.center)

    class Click:
        type = "mouse_press"
        position = (loc.fov, y, x)

    widget.view.clearSelection()
    widget._on_label_click(labels, Click())
    assert session.selected == [row]
    assert plane[y, x] > 0


def test_nuclear_speckles_missing_image_is_reported(make_napari_viewer, qtbot, capsys):
    path = shared_file("nuclear_speckles", "test_slide1_converted.parquet")
    viewer = make_napari_viewer()
    widget = open_widget(viewer, qtbot, path, image_root=path.parent)
    assert widget.session.profiles.num_rows == 25
    assert "Nuclei mask" in [layer.name for layer in viewer.layers]
    assert not any(layer.name == "DAPI" for layer in viewer.layers)
    assert len(viewer.layers["cells"].data) == 25
    qtbot.waitUntil(
        lambda: "rows without image: 25" in widget.status.text(), timeout=30_000
    )


def test_key_roles_chosen_by_hand(make_napari_viewer, qtbot, shuffled_profiles):
    path, table = shuffled_profiles
    viewer = make_napari_viewer()
    widget = ProfilesWidget(viewer)
    widget.path_edit.setText(str(path))
    widget.image_key_edit.setText("Metadata_ImageNumber")
    widget.center_edit.setText(
        "Nuclei_AreaShape_BoundingBoxMinimum_X, Nuclei_AreaShape_BoundingBoxMinimum_Y"
    )
    worker = widget.open_from_fields()
    qtbot.waitUntil(lambda: is_done(worker), timeout=60_000)
    pt = widget.session.profiles
    assert pt.keys.image == ["Metadata_ImageNumber"]
    loc = pt.locate(4)
    assert loc.center == (
        table["Nuclei_AreaShape_BoundingBoxMinimum_Y"][4].as_py(),
        table["Nuclei_AreaShape_BoundingBoxMinimum_X"][4].as_py(),
    )


def test_cells_layer_caches_its_extent(make_napari_viewer, shuffled_profiles):
    from arrowscope._napari.profile_layers import add_profile_layers, profile_layers
    from arrowscope.core.profiles.resolve import open_profiles

    path, table = shuffled_profiles
    viewer = make_napari_viewer()
    points = add_profile_layers(viewer, profile_layers(open_profiles(path)))
    first = points._extent_data
    # cached for this data array: computed once, and a copy is handed out
    assert points._arrowscope_extent[0] is points.data
    first[:] = -1  # napari modifies what it gets; the cache must not change
    first = points._extent_data
    assert (first != -1).all()
    assert first[1, 1] == pytest.approx(
        max(table["Nuclei_Location_Center_Y"].to_pylist())
    )
    points.data = points.data[:5]  # new data → new extent
    np.testing.assert_array_equal(
        points._extent_data, np.vstack([points.data.min(0), points.data.max(0)])
    )


def test_real_plate_markers_never_cover_the_cell_being_judged(
    make_napari_viewer, qtbot
):
    """Markers are sized from each cell's measured area: a small ring at a
    plain cell's centre, a ring outside a selected cell; the QC panel says
    what it will show."""
    from arrowscope._napari.profile_layers import PLAIN_SIZE, SELECTED_SIZE
    from arrowscope._napari.qc_widgets import QCWidget

    path = shared_file(
        "nf1_cellpainting_shrunken", "Plate_2_with_image_data_shrunken.parquet"
    )
    viewer = make_napari_viewer()
    widget = open_widget(viewer, qtbot, path, image_root=path.parent / "Plate_2_images")
    session = widget.session
    pt = session.profiles
    area = pt.read(["Nuclei_AreaShape_Area"]).column(0).to_numpy()
    diameter = 2 * np.sqrt(area / np.pi)[session.point_rows]
    cells = viewer.layers["cells"]
    np.testing.assert_allclose(cells.size, PLAIN_SIZE * diameter)
    assert (cells.size < diameter).all()  # inside its own nucleus: a small ring
    row = int(session.point_rows[3])
    session.select_rows([row])
    assert cells.size[3] == pytest.approx(SELECTED_SIZE * diameter[3])
    assert cells.size[3] > diameter[3]  # outside the nucleus being judged
    session.select_rows([], move=False)
    assert cells.size[3] == pytest.approx(PLAIN_SIZE * diameter[3])
    qc = QCWidget(viewer)
    # what the histogram will show, said in words; no empty axes drawn
    assert "Run the conditions" in qc.plot.message.text()
    assert not qc.plot.made and not qc.plot.message.isHidden()


def test_the_table_reads_only_the_row_groups_it_draws(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    """A million-row table opens at once: the panel reads the groups holding
    the rows drawn, a whole column only to sort it, and shows every value
    where it belongs."""
    from arrowscope.core.images.sources import TableSource

    n, group = 40_000, 2_000
    rng = np.random.default_rng(3)
    table = pa.table(
        {
            "Metadata_ImageNumber": np.arange(n) // 400 + 1,
            "Metadata_ObjectNumber": np.arange(n) % 400 + 1,
            "Cells_Area": rng.random(n),
            "Cells_Shape": rng.random(n).astype(np.float32),
        }
    )
    path = tmp_path / "paged.parquet"
    pq.write_table(table, path, row_group_size=group)
    read = []
    real = TableSource.read_group
    monkeypatch.setattr(
        TableSource,
        "read_group",
        lambda self, g, c, f=None: read.append((g, c)) or real(self, g, c, f),
    )
    viewer = make_napari_viewer()
    widget = open_widget(viewer, qtbot, path)
    model = widget.model
    names = model.table.column_names
    area = names.index("Cells_Area")
    widget.view.viewport().repaint()  # draw the first rows

    def shown(row, column):
        return model.data(model.index(row, column))

    def stored(row, name):
        return f"{table[name][row].as_py():.6g}"

    assert shown(0, area) == stored(0, "Cells_Area")
    assert {g for g, c in read if c == "Cells_Area"} == {0}  # not all twenty
    # a row far down: its own group is read, its value is right
    row = 33_333
    assert (
        model.data(model.index(row, area)) == f"{table['Cells_Area'][row].as_py():.6g}"
    )
    assert (row // group) in {g for g, c in read if c == "Cells_Area"}
    # sorting reads the whole column once and orders every row by it
    model.sort(area, Qt.SortOrder.DescendingOrder)
    top = int(np.argmax(table["Cells_Area"].to_numpy()))
    assert model.table_row(0) == top
    shape = names.index("Cells_Shape")
    assert shown(0, shape) == stored(top, "Cells_Shape")


def test_the_table_opens_in_table_order_unsorted(make_napari_viewer, qtbot, tmp_path):
    """No column is sorted (nor read whole) until its header is clicked."""
    files = write_demo_plate(tmp_path, n_fields=2, size=(64, 64))
    viewer = make_napari_viewer()
    widget = open_widget(viewer, qtbot, files["profiles"])
    assert widget.model._sort is None and widget.model._order is None
    assert widget.view.horizontalHeader().sortIndicatorSection() == -1
    assert not widget.model.table._whole  # no column read whole
    widget.view.sortByColumn(3, Qt.SortOrder.DescendingOrder)
    assert widget.model._sort is not None


def test_a_page_that_cannot_be_read_shows_question_marks_and_says_so_once(
    qtbot, tmp_path, monkeypatch
):
    """A row group that cannot be decoded (a corrupt page) while the table is
    drawn: its cells show "?" and one warning names the file, not one per
    cell drawn, and nothing is raised into Qt."""
    import arrowscope
    from arrowscope._napari.table_model import ArrowTableModel, LazyTable
    from arrowscope.core.errors import CorruptFileError

    files = write_demo_plate(tmp_path, n_fields=2, size=(64, 64))
    pt = arrowscope.open_profiles(files["profiles"])

    def broken(columns, row):
        raise CorruptFileError("cannot decode row group 0", path=files["profiles"])

    monkeypatch.setattr(pt, "read_page", broken)
    said = []
    monkeypatch.setattr(
        "napari.utils.notifications.show_warning", lambda text: said.append(text)
    )
    model = ArrowTableModel(LazyTable(pt, ["Nuclei_AreaShape_Area"]))
    values = [model.data(model.index(r, 0)) for r in range(5)]
    assert values == ["?"] * 5
    assert len(said) == 1 and "cannot decode row group 0" in said[0]
