"""The Fields panel on the real NF1 plate: whole-field thumbnails at the
layers' contrast, sorted by a field measure (measured from the pixels on
request: the planted blurred field comes first), verdicts by eye stored by
field key and found again, a click shows the field."""

from __future__ import annotations

import shutil

import pytest
from qtpy.QtCore import Qt
from scipy import ndimage

from arrowscope._napari.field_gallery import FieldGalleryWidget
from arrowscope._napari.workers import is_done
from arrowscope.core.profiles.fields import field_marks
from tests.conftest import SHARED_DATA
from tests.napari.test_profiles_widget import open_widget

NF1 = SHARED_DATA / "nf1_cellpainting_shrunken"
pytestmark = pytest.mark.skipif(not NF1.exists(), reason="../shared/data is absent")


@pytest.fixture
def plate(tmp_path):
    import tifffile

    root = shutil.copytree(NF1, tmp_path / "nf1")
    dna = root / "Plate_2_images" / "D6_01_1_2_DAPI_001.tif"
    plane = tifffile.imread(dna)
    blurred = ndimage.gaussian_filter(plane.astype(float), 4).astype(plane.dtype)
    tifffile.imwrite(dna, blurred)
    return root / "Plate_2_with_image_data_shrunken.parquet"


def wait(qtbot, worker):
    assert worker is not None
    qtbot.waitUntil(lambda: is_done(worker), timeout=60_000)


def test_fields_sorted_judged_and_shown(make_napari_viewer, qtbot, plate):
    viewer = make_napari_viewer()
    profiles = open_widget(
        viewer, qtbot, plate, image_root=plate.parent / "Plate_2_images"
    )
    panel = FieldGalleryWidget(viewer)
    assert panel.session is profiles.session and panel.fields.num_rows == 5
    wait(qtbot, panel._worker)
    assert panel.list.count() == 5
    assert all(not panel.list.item(i).icon().isNull() for i in range(5))
    assert "D6" in " ".join(panel.list.item(i).text() for i in range(5))
    # measured from pixels: sorted by the DNA slope, the blurred field first
    wait(qtbot, panel.measure_pixels())
    wait(qtbot, panel._worker)
    assert panel.sort_column() == "Image_ImageQuality_PowerLogLogSlope_DAPI"
    assert panel.sort.currentText() == "Slope DAPI"
    first = int(panel.list.item(0).data(Qt.ItemDataRole.UserRole))
    assert "D6" in panel.list.item(0).text()
    # a verdict by eye, stored by the field's key, found again on reopening
    panel.list.item(0).setSelected(True)
    panel.judge("reject")
    assert "reject" in panel.list.item(0).text()
    marks = field_marks(profiles.session.profiles)
    assert marks.path.name == "Plate_2_with_image_data_shrunken.fields.parquet"
    assert marks.get(panel._key_of(first)) == "reject"
    # the thumbnail is the field at the layers' contrast: brighter limits,
    # a darker tile
    from arrowscope.core.profiles.fields import field_thumbnail

    pt = profiles.session.profiles
    dim = field_thumbnail(pt, 0, {"DAPI": (1, 1, 1)}, {"DAPI": (0, 60000)})
    bright = field_thumbnail(pt, 0, {"DAPI": (1, 1, 1)}, {"DAPI": (0, 2000)})
    assert dim.mean() < bright.mean() and max(dim.shape[:2]) <= 320
    # a click shows that field in the viewer
    panel._go_to(panel.list.item(0))
    assert viewer.dims.current_step[0] == first
