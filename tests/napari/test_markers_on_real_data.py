"""What the eye sees on real data: the markers never hide the cells being
judged. The ExampleHuman warehouse (../shared/data) rendered on Xvfb at
1920 x 1080; the oracle is the pixels: the share of the canvas the markers
change, for a whole field and zoomed to about ten cells, and the share of the
selected cell's nucleus they cover."""

from __future__ import annotations

import numpy as np
import pytest

from arrowscope._napari.reader import get_reader
from arrowscope._napari.session import camera_of, find_cells_layer, session_for
from tests.conftest import shared_file


@pytest.fixture
def warehouse():
    return shared_file("examplehuman_warehouse")  # skips where it is absent


@pytest.fixture
def warehouse_viewer(warehouse, make_napari_viewer, qtbot):
    """(The data first: a skip before napari's viewer fixture is set up.)"""
    from arrowscope.app.viewer import WINDOW

    root = warehouse
    viewer = make_napari_viewer()
    window = viewer.window._qt_window
    window.resize(*WINDOW)
    window.show()
    qtbot.waitExposed(window)
    for data, kwargs, kind in get_reader(str(root))(str(root)):
        getattr(viewer, f"add_{kind}")(data, **kwargs)
    cells = find_cells_layer(viewer)
    return viewer, cells, session_for(viewer, cells), qtbot


def _changed(viewer, cells, qtbot):
    def shot():
        qtbot.wait(50)
        return np.asarray(viewer.screenshot(canvas_only=True, flash=False))[..., :3]

    cells.visible = True
    with_markers = shot().astype(int)
    cells.visible = False
    without = shot().astype(int)
    cells.visible = True
    return np.abs(with_markers - without).sum(-1) > 0


def test_markers_change_little_of_the_canvas_and_none_of_the_judged_cell(
    warehouse_viewer,
):
    viewer, cells, session, qtbot = warehouse_viewer
    viewer.dims.set_current_step(0, 0)
    viewer.reset_view()
    whole = _changed(viewer, cells, qtbot).mean()
    assert 0 < whole <= 0.03, whole
    # zoomed to about ten cells around a selected one
    rows = np.flatnonzero(session.profiles.fov_of_row == 0)
    row = int(rows[len(rows) // 2])
    session.select_rows([row])
    loc = session.profiles.locate(row)
    diameter = float(np.median(session.diameters))
    camera_of(viewer).center = loc.center
    canvas = viewer.window._qt_viewer.canvas.size
    camera_of(viewer).zoom = min(canvas) / (3.5 * diameter)
    changed = _changed(viewer, cells, qtbot)
    assert changed.mean() <= 0.08, changed.mean()
    h, w = changed.shape
    yy, xx = np.mgrid[:h, :w]
    own = float(session.diameters[session.row_to_point[row]])
    radius = own / 2 * camera_of(viewer).zoom
    nucleus = (yy - h / 2) ** 2 + (xx - w / 2) ** 2 <= radius**2
    assert nucleus.sum() > 100  # the nucleus is on screen, large
    assert changed[nucleus].mean() <= 0.10, changed[nucleus].mean()
