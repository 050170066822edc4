"""Render the documentation's screenshots with the arrowscope app itself.

Run: python docs/screenshots.py [OUT_DIR]   (needs a display or Xvfb)
Writes demo.png (the whole app), profiles.png, qc.png, filter.png, gallery.png,
plate_map.png, scatter.png (with a gate), gallery_marks.png (verdicts by eye),
classifier.png (bins, a fetch, a trained model) and plate_map_class.png (wells
coloured by a predicted class's share) from the synthetic demo, plate_map_sites.png
(the planted screen by site, coloured by the slope measured from the pixels); and, when
../shared/data is there, the same panels on real data: real_app.png (the
ExampleHuman warehouse, QC run, a flagged cell selected), real_qc.png,
real_gallery.png, real_scatter.png, real_classifier.png (PH3-bright cells
against the others, trained and fetched) and real_classifier_scored.png (after
Score all), and real_no_images.png (the NF1
CellProfiler database, whose images are elsewhere) and real_fields.png (the
Fields panel on the NF1 plate, measured from its pixels).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path


def main(out: Path) -> None:
    import numpy as np
    from qtpy.QtWidgets import QApplication

    import napari
    from arrowscope._napari.workers import is_done
    from arrowscope.app.viewer import (
        WINDOW,
        _demo_qc,
        _dock_widgets,
        _settle,
        _wait,
    )
    from arrowscope.core.profiles.synthetic import write_demo_plate

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        files = write_demo_plate(Path(tmp) / "demo", n_fields=12)
        viewer = napari.Viewer(title="arrowscope")
        viewer.window._qt_window.resize(*WINDOW)
        viewer.open(str(files["profiles"]), plugin="arrowscope")
        docked = _dock_widgets(viewer, None, None)
        _demo_qc(viewer, docked)
        _settle(viewer)
        viewer.screenshot(str(out / "demo.png"), canvas_only=False, flash=False)
        docked["Profiles"].grab().save(str(out / "profiles.png"))
        docked["Quality control"].grab().save(str(out / "qc.png"))

        flt = docked["Filter cells"]
        flt.add_filter("Nuclei_AreaShape_Area", ">", "150")
        flt.sql.setText("Metadata_Well IN ('A01', 'A02')")
        flt.apply()
        window = viewer.window
        for title in ("Filter cells (arrowscope)", "Outlier gallery (arrowscope)"):
            window._dock_widgets[title].raise_()
            QApplication.processEvents()
        _settle(viewer)
        flt.grab().save(str(out / "filter.png"))
        gallery = docked["Outlier gallery"]
        _wait(lambda: gallery._worker is not None and is_done(gallery._worker))
        _settle(viewer)
        gallery.grab().save(str(out / "gallery.png"))

        session = gallery.session
        session.set_visible(None)
        plate = docked["Plate map"]
        plate.value.setCurrentText("any_outlier")
        plate.refresh()
        plate.save_picture(out / "plate_map_figure.png")
        _settle(viewer)
        plate.grab().save(str(out / "plate_map.png"))

        scatter = _scatter(
            docked, "Nuclei_AreaShape_Area", "Nuclei_AreaShape_Eccentricity"
        )
        x = scatter.column("Nuclei_AreaShape_Area")
        y = scatter.column("Nuclei_AreaShape_Eccentricity")
        x0, x1 = float(np.nanpercentile(x, 60)), float(np.nanmax(x))
        y0, y1 = float(np.nanmin(y)), float(np.nanpercentile(y, 70))
        scatter.set_gate([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
        _settle(viewer)
        scatter.grab().save(str(out / "scatter.png"))

        window._dock_widgets["Outlier gallery (arrowscope)"].raise_()
        gallery.which.setCurrentIndex(0)
        gallery.refresh()
        _wait(lambda: gallery._worker is not None and is_done(gallery._worker))
        _settle(viewer)
        for i, verdict in ((0, "reject"), (1, "keep"), (2, "unsure")):
            if i < gallery.list.count():
                gallery.list.clearSelection()
                gallery.list.item(i).setSelected(True)
                gallery.mark_selected(verdict)
        _settle(viewer)
        gallery.grab().save(str(out / "gallery_marks.png"))
        _classifier(viewer, docked, out, Path(tmp))
        from arrowscope._napari.workers import wait_for_workers

        wait_for_workers()
        viewer.close()
        _sites(Path(tmp), out)
    shared = Path(__file__).resolve().parents[2] / "shared" / "data"
    if (shared / "examplehuman_warehouse").is_dir():
        _real(shared, out)


def _sites(tmp: Path, out: Path) -> None:
    """plate_map_sites.png: the planted screen's plate map by site, coloured
    by the DNA slope measured from the pixels (its blurred fields stand out)."""
    import napari
    from arrowscope._napari.field_gallery import FieldGalleryWidget
    from arrowscope._napari.plate_widgets import PlateMapWidget
    from arrowscope._napari.workers import is_done
    from arrowscope.app.viewer import _wait
    from arrowscope.core.profiles.synthetic import write_qc_screen

    path, _ = write_qc_screen(tmp / "screen", plates=1)
    viewer = napari.Viewer(title="arrowscope")
    viewer.open(str(path), plugin="arrowscope")
    plate, fields = PlateMapWidget(viewer), FieldGalleryWidget(viewer)
    worker = fields.measure_pixels()
    _wait(lambda: is_done(worker))
    plate.by_site.setChecked(True)
    plate.value.setCurrentText("field:Image_ImageQuality_PowerLogLogSlope_DNA")
    plate.save_picture(out / "plate_map_sites.png")
    viewer.close()


def _scatter(docked: dict, x: str, y: str) -> object:
    """The scatter panel in front, plotting ``y`` against ``x``."""
    scatter = docked["Scatter and gates"]
    scatter.viewer.window._dock_widgets["Scatter and gates (arrowscope)"].raise_()
    scatter.x.setCurrentText(x)
    scatter.y.setCurrentText(y)
    return scatter


def _real(shared: Path, out: Path) -> None:
    """The panels on real data: the ExampleHuman warehouse (three channels,
    289 cells) and the NF1 CellProfiler database (no images here)."""
    import shutil
    import tempfile

    import numpy as np

    import napari
    from arrowscope._napari.workers import is_done, wait_for_workers
    from arrowscope.app.viewer import WINDOW, _demo_qc, _dock_widgets, _settle, _wait

    # a copy: the bins and verdicts are saved beside the table they judge
    tmp = Path(tempfile.mkdtemp())
    warehouse = tmp / "examplehuman_warehouse"
    shutil.copytree(shared / "examplehuman_warehouse", warehouse)
    viewer = napari.Viewer(title="arrowscope")
    viewer.window._qt_window.resize(*WINDOW)
    docked = _dock_widgets(viewer, warehouse, None)
    _demo_qc(viewer, docked)
    _settle(viewer)
    viewer.screenshot(str(out / "real_app.png"), canvas_only=False, flash=False)
    docked["Quality control"].grab().save(str(out / "real_qc.png"))
    window = viewer.window
    window._dock_widgets["Outlier gallery (arrowscope)"].raise_()
    gallery = docked["Outlier gallery"]
    gallery.refresh()
    _wait(lambda: gallery._worker is not None and is_done(gallery._worker))
    _settle(viewer)
    gallery.grab().save(str(out / "real_gallery.png"))
    scatter = _scatter(
        docked, "Nuclei_AreaShape_Area", "Nuclei_Intensity_MeanIntensity_PH3"
    )
    _settle(viewer)
    scatter.grab().save(str(out / "real_scatter.png"))
    # the classifier: the brightest PH3 nuclei (mitotic) against ordinary ones
    panel = docked["Classifier"]
    window._dock_widgets["Classifier (arrowscope)"].raise_()
    session = panel.session
    ph3 = scatter.column("Nuclei_Intensity_MeanIntensity_PH3")
    order = np.argsort(np.nan_to_num(ph3, nan=-1))
    bins = session.open_bins()
    bins.rename("positive", "mitotic")
    bins.rename("negative", "interphase")
    session.put_in_bin(order[-10:].tolist(), "mitotic")
    session.put_in_bin(order[100:112].tolist(), "interphase")
    trained = panel.train()
    _wait(lambda: is_done(trained))
    _wait(lambda: panel._validation is not None and is_done(panel._validation))
    panel.fetch_how.setCurrentIndex(panel.fetch_how.findText("least certain"))
    panel.fetch_n.setValue(8)
    fetched = panel.fetch()
    _wait(lambda: is_done(fetched))
    _wait(lambda: set(panel.gallery_rows) <= set(panel.predictions))
    _settle(viewer)
    panel.content.grab().save(str(out / "real_classifier.png"))
    scored = panel.score_all(Path(tempfile.mkdtemp()) / "scores.parquet")
    _wait(lambda: is_done(scored))
    _settle(viewer)
    panel.content.grab().save(str(out / "real_classifier_scored.png"))
    wait_for_workers()
    viewer.close()
    nf1 = shared / "cellprofiler_sqlite_nf1" / "all_cellprofiler.sqlite"
    if nf1.is_file():
        shutil.copy(nf1, tmp / nf1.name)
        nf1 = tmp / nf1.name
        viewer = napari.Viewer(title="arrowscope")
        viewer.window._qt_window.resize(*WINDOW)
        _dock_widgets(viewer, nf1, None)
        _settle(viewer)
        viewer.screenshot(
            str(out / "real_no_images.png"), canvas_only=False, flash=False
        )
        wait_for_workers()
        viewer.close()
    nf1 = shared / "nf1_cellpainting_shrunken"
    if nf1.is_dir():
        _real_fields(nf1, tmp, out)
    shutil.rmtree(tmp, ignore_errors=True)


def _real_fields(nf1: Path, tmp: Path, out: Path) -> None:
    """real_fields.png: the Fields panel on a copy of the real NF1 plate, its
    quality measured from the pixels, the fields sorted by the DAPI slope."""
    import shutil

    import napari
    from arrowscope._napari.field_gallery import FieldGalleryWidget
    from arrowscope._napari.profiles_widget import ProfilesWidget
    from arrowscope._napari.workers import is_done, wait_for_workers
    from arrowscope.app.viewer import _settle, _wait

    root = shutil.copytree(nf1, tmp / "nf1")
    viewer = napari.Viewer(title="arrowscope")
    profiles = ProfilesWidget(viewer)
    opened = profiles.open(
        root / "Plate_2_with_image_data_shrunken.parquet",
        image_root=root / "Plate_2_images",
    )
    _wait(lambda: is_done(opened) and profiles.session is not None)
    panel = FieldGalleryWidget(viewer)
    viewer.window.add_dock_widget(panel, area="right")
    _wait(lambda: panel._worker is not None and is_done(panel._worker))
    measured = panel.measure_pixels()
    _wait(lambda: is_done(measured))
    _wait(lambda: is_done(panel._worker))
    at = panel.rule_measure.findData("Image_ImageQuality_PowerLogLogSlope_DAPI")
    panel.rule_measure.setCurrentIndex(max(0, at))
    _settle(viewer)
    panel.grab().save(str(out / "real_fields.png"))
    wait_for_workers()
    viewer.close()


def _classifier(viewer: object, docked: dict, out: Path, tmp: Path) -> None:
    """Bin the largest and smallest nuclei, train, fetch the cells predicted
    "big", score all and colour the plate map by that class's share."""
    import numpy as np

    from arrowscope._napari.workers import is_done
    from arrowscope.app.viewer import _settle, _wait

    window = viewer.window  # type: ignore[attr-defined]
    window._dock_widgets["Classifier (arrowscope)"].raise_()
    panel = docked["Classifier"]
    session = panel.session
    area = (
        session.profiles.read(["Nuclei_AreaShape_Area"])
        .column(0)
        .to_numpy(zero_copy_only=False)
    )
    order = np.argsort(area)
    session.open_bins().rename("positive", "big")
    session.open_bins().rename("negative", "normal")
    session.bin_of[:] = None
    session.put_in_bin(order[-12:].tolist(), "big")
    session.put_in_bin(order[len(order) // 2 - 12 : len(order) // 2].tolist(), "normal")

    def run(worker: object) -> None:  # start once, then wait for it
        _wait(lambda: is_done(worker))

    run(panel.train())
    _wait(lambda: panel._validation is not None and is_done(panel._validation))
    panel.fetch_how.setCurrentIndex(panel.fetch_how.findText("least certain"))
    panel.fetch_n.setValue(8)
    run(panel.fetch())
    _wait(lambda: set(panel.gallery_rows) <= set(panel.predictions))
    _settle(viewer)
    panel.content.grab().save(str(out / "classifier.png"))
    run(panel.score_all(tmp / "scores.parquet", overwrite=True))
    plate = docked["Plate map"]
    window._dock_widgets["Plate map (arrowscope)"].raise_()
    plate.value.clear()
    plate.value.addItems(plate.value_choices())
    plate.value.setCurrentText("class:big")
    plate.refresh()
    _settle(viewer)
    plate.grab().save(str(out / "plate_map_class.png"))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "images")
