"""Open paths in a napari viewer, or render them headless to a PNG."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

logger = logging.getLogger("arrowscope")


@contextmanager
def _display(headless: bool) -> Iterator[None]:
    """Provide an X display: the user's, or a private Xvfb when there is none."""
    if os.environ.get("DISPLAY") or not headless:
        yield
        return
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        from ..core.errors import UnsupportedError

        raise UnsupportedError(
            "there is no display and no Xvfb to render on",
            hint="install Xvfb (apt-get install xvfb) or run on a desktop",
        )
    number = 99
    while Path(f"/tmp/.X{number}-lock").exists():
        number += 1
    proc = subprocess.Popen(
        [xvfb, f":{number}", "-screen", "0", f"{WINDOW[0]}x{WINDOW[1]}x24"]
        + ["-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.environ["DISPLAY"] = f":{number}"
    try:
        for _ in range(50):
            if Path(f"/tmp/.X11-unix/X{number}").exists():
                break
            time.sleep(0.1)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        os.environ.pop("DISPLAY", None)


WIDGETS = (
    "Profiles",
    "Quality control",
    "Filter cells",
    "Outlier gallery",
    "Scatter and gates",
    "Export",
    "Plate map",
    "Classifier",
    "Fields",
)
#: the tab titles of the docked panels: short enough that none is elided
TAB_TITLES = {
    "Quality control": "QC",
    "Filter cells": "Filter",
    "Outlier gallery": "Gallery",
    "Scatter and gates": "Scatter",
    "Export": "Export",
    "Plate map": "Plate",
    "Classifier": "Classifier",
    "Fields": "Fields",
}
#: the panels behind another tab that read a whole table's columns when they
#: attach (the plate's wells, two features, the classifier's bins): they wait
#: until their tab is first raised
_BEHIND = ("Scatter and gates", "Plate map", "Classifier", "Fields")
#: the window a headless render (and a first window without a screen size) gets
WINDOW = (1920, 1080)


def show(
    paths: list[Path],
    screenshot: Path | None,
    *,
    profiles: Path | None = None,
    run_qc: bool = False,
    table: str | None = None,
    links: dict[str, Any] | None = None,
) -> int:
    """Open ``paths`` (and a profile table) with arrowscope's layers and widgets.

    With ``screenshot`` (or no display) the scene is rendered headless to a PNG.
    ``run_qc`` runs the QC preset and selects the first flagged cell (the demo).
    ``links``: where the profile table's images are (``open_profiles`` options).
    """
    headless = screenshot is not None or not os.environ.get("DISPLAY")
    if headless and screenshot is None:
        screenshot = Path("arrowscope-screenshot.png")
    _quiet_gui_stack()
    with _display(headless):
        import dask

        import napari

        if dask.config.get("scheduler", None) is None:
            # The viewer computes planes on dask's local threads. Saying so up
            # front spares the first plane dask's search for a distributed
            # client (an import of ``distributed``, ~0.5 s, when installed).
            dask.config.set(scheduler="threads")

        from .._napari.preferences import ensure_reader_preferences

        viewer = napari.Viewer(show=not headless, title="arrowscope")
        if not headless:  # the first window fills the screen: room for the canvas
            viewer.window._qt_window.showMaximized()
        else:
            viewer.window._qt_window.resize(*WINDOW)
        ensure_reader_preferences()
        try:
            per_path = [len(_open(viewer, p)) for p in paths]
        except BaseException:
            viewer.close()
            raise
        _arrange(viewer, per_path)
        docked = _dock_widgets(viewer, profiles, table, links or {})
        if run_qc:
            _demo_qc(viewer, docked)
        if headless:
            assert screenshot is not None
            viewer.window._qt_window.resize(*WINDOW)
            _settle(viewer)
            from .._napari.workers import wait_for_workers

            try:
                _save_window(viewer, screenshot)
            finally:
                wait_for_workers()  # a worker reporting after teardown would abort
                viewer.close()
            logger.info("screenshot written to %s", screenshot)
            return 0
        napari.run()
    return 0


#: the GUI stack's own modules: their warnings are for their developers
_GUI_MODULES = r"(napari|vispy|qtpy|superqt|magicgui|app_model|npe2|in_n_out)(\..*)?$"


def arrow_memory_from_malloc() -> None:
    """In the viewer app, Arrow's buffers come from the C library's malloc,
    which gives a freed page back to the system, rather than from mimalloc or
    jemalloc, which keep freed pages to reuse them: a long-lived window holds
    less (27–29 MiB less by its first draw on a JUMP plate, no slower to open).

    Said by the command line before pyarrow is imported, so Arrow's own C++
    readers use it too. A process that already imported pyarrow (a Python
    caller of the command line, a test) keeps its pool, as does a user's
    ``ARROW_DEFAULT_MEMORY_POOL`` and napari with the plugin."""
    import sys

    if "pyarrow" not in sys.modules:
        os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")


def _quiet_gui_stack() -> None:
    """Only arrowscope's lines on a successful GUI command: no deprecation or
    theme warnings from the GUI stack (ARROWSCOPE_DEBUG=1 shows them), and a
    private runtime folder so Qt does not warn that XDG_RUNTIME_DIR is unset."""
    import tempfile
    import warnings

    if not os.environ.get("ARROWSCOPE_DEBUG"):
        warnings.filterwarnings("ignore", module=_GUI_MODULES)
    if not os.environ.get("XDG_RUNTIME_DIR"):
        # one per user, with the permissions Qt wants (0700), reused by runs
        runtime = Path(tempfile.gettempdir()) / f"arrowscope-runtime-{os.getuid()}"
        runtime.mkdir(mode=0o700, exist_ok=True)
        if runtime.stat().st_uid == os.getuid():
            runtime.chmod(0o700)
            os.environ["XDG_RUNTIME_DIR"] = str(runtime)


def _open(viewer: Any, path: Path) -> list[Any]:
    """Open with arrowscope when it is ours, else with napari's other readers.

    A file nobody reads is one line naming it (an ArrowscopeError), not
    napari's traceback.
    """
    from .._napari.reader import hand_over, read_paths
    from ..core.errors import UnsupportedError
    from ..core.images.stores import is_uri
    from ..core.profiles.kinds import resolve

    found = resolve(path)  # decided once: napari's reader takes this decision
    if found is not None and found.claimed and is_uri(str(path)):
        # napari matches readers by file-name patterns, which a URI with a
        # query string does not meet: add what the reader returns directly.
        hand_over(found)
        added: list[Any] = []
        for data, kwargs, kind in (
            d for d in read_paths(str(path)) if d[0] is not None
        ):
            got = getattr(viewer, f"add_{kind}")(data, **kwargs)
            added += got if isinstance(got, list) else [got]
        return added
    if found is not None and found.claimed:
        hand_over(found)
        return viewer.open(str(path), plugin="arrowscope")
    try:
        return viewer.open(str(path))
    except Exception as exc:  # noqa: BLE001 - napari raises many types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise UnsupportedError(
            f"neither arrowscope nor another napari reader opens it ({first})",
            path=path,
            hint=(found.kind.hint if found is not None else None)
            or "OME-Parquet, OME-Arrow tables, chunk datasets and profile tables "
            "open here; convert other images with 'arrowscope convert'",
        ) from exc


def _dock_widgets(
    viewer: object,
    profiles: Path | None,
    table: str | None = None,
    links: dict[str, Any] | None = None,
) -> dict[str, object]:
    """Dock the QC widgets when a profile table is open or named."""
    from .._napari.session import find_cells_layer
    from .._napari.workers import is_done

    if profiles is None and find_cells_layer(viewer) is None:
        return {}
    docked: dict[str, object] = {}
    docks: dict[str, object] = {}
    bottom: object = None
    window = viewer.window  # type: ignore[attr-defined]
    for name in WIDGETS:
        # the table runs along the bottom; the QC tools and the plate map
        # share one tabbed panel on the right, so the canvas keeps the middle
        dock, widget = window.add_plugin_dock_widget(
            "arrowscope", name, tabify=name not in (WIDGETS[1], "Profiles")
        )
        if name == "Profiles":
            window.remove_dock_widget(dock)
            dock = window.add_dock_widget(widget, name="Profiles", area="bottom")
            bottom = dock
        else:
            dock.setWindowTitle(TAB_TITLES.get(name, name))
        docked[name] = widget
        docks[name] = dock
    for name in _BEHIND:  # their work waits until their tab is raised
        getattr(docked[name], "defer_until_shown", lambda dock: None)(docks[name])
    _give_the_canvas_room(window, docks["Quality control"], bottom)
    _tabs_never_elided(window)
    _raise_dock(viewer, "Quality control")
    if profiles is not None:
        worker = docked["Profiles"].open(  # type: ignore[attr-defined]
            profiles, table=table, **(links or {})
        )
        _wait(lambda: is_done(worker))
    session = getattr(docked.get("Classifier"), "session", None)
    if session is not None and session.profiles.properties is not None:
        # a CellProfiler Analyst properties file: the classifier is why you came
        _raise_dock(viewer, "Classifier")
    from .._napari.profiles_widget import first_field

    first_field(viewer)
    return docked


def _tabs_never_elided(window: Any) -> None:
    """The docks' tab bars show whole titles (scroll buttons if need be)."""
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QTabBar

    for bar in window._qt_window.findChildren(QTabBar):
        bar.setElideMode(Qt.TextElideMode.ElideNone)
        bar.setUsesScrollButtons(True)


def _give_the_canvas_room(window: Any, right: Any, bottom: Any) -> None:
    """Size the panels so the canvas gets most of the window: a right panel
    wide enough for the QC table (condition, feature, threshold) and a
    bottom table of a few rows."""
    from qtpy.QtCore import Qt

    qt_window = window._qt_window
    qt_window.resizeDocks([right], [420], Qt.Orientation.Horizontal)
    if bottom is not None:
        qt_window.resizeDocks([bottom], [400], Qt.Orientation.Vertical)


def _demo_qc(viewer: object, docked: dict[str, object]) -> None:
    """Run the coSMicQC preset and go to the first flagged cell."""
    from .._napari.workers import is_done

    qc = docked.get("Quality control")
    if qc is None or getattr(qc, "session", None) is None:
        return
    worker = qc.run()  # type: ignore[attr-defined]
    _wait(lambda: is_done(worker))
    session = qc.session  # type: ignore[attr-defined]
    flagged = session.outlier_mask().nonzero()[0]
    if flagged.size:
        session.select_rows([int(flagged[0])])
    _raise_dock(viewer, "Quality control")


def _raise_dock(viewer: object, name: str) -> None:
    """Bring one of arrowscope's tabbed panels to the front."""
    from qtpy.QtWidgets import QApplication

    QApplication.processEvents()
    for title, widget in viewer.window.dock_widgets.items():  # type: ignore[attr-defined]
        if title.startswith(name):
            dock = getattr(widget, "native", widget).parent()
            dock.show()
            dock.raise_()
            # a hidden window sends no visibility change: say it is in front
            getattr(widget, "shown_now", lambda: None)()


def _save_window(viewer: Any, path: Path) -> None:
    """The whole window (canvas, panels and all) as a PNG, written by Qt
    straight from its grab, atomically. napari's own screenshot passes the
    grab through numpy and PIL: two more full-window copies (17 MiB at
    1920 × 1080) for the same pixels."""
    from ..core.errors import WriteError
    from ..core.images.atomic import atomic_target

    image = viewer.window._qt_window.grab().toImage()
    with atomic_target(path) as tmp:
        if not image.save(str(tmp), "PNG"):
            raise WriteError(
                "Qt could not write the screenshot",
                path=path,
                hint="check the folder's free space and permissions",
            )


def _wait(done: object, timeout: float = 120.0) -> None:
    """Process Qt events until ``done()`` is true (workers report on the GUI thread)."""
    from qtpy.QtWidgets import QApplication

    end = time.monotonic() + timeout
    while not done() and time.monotonic() < end:  # type: ignore[operator]
        QApplication.processEvents()
        time.sleep(0.01)


def _settle(viewer: object) -> None:
    """Let pending layer loads and repaints finish before a screenshot."""
    from qtpy.QtWidgets import QApplication

    for _ in range(20):
        QApplication.processEvents()
        time.sleep(0.02)
    try:  # toasts (e.g. napari's own deprecation notices) would cover the canvas
        from napari._qt.dialogs.qt_notification import NapariQtNotification

        for toast in viewer.window._qt_window.findChildren(NapariQtNotification):  # type: ignore[attr-defined]
            toast.close()
        QApplication.processEvents()
    except ImportError:  # pragma: no cover - private napari module moved
        pass


def _arrange(viewer: object, per_path: list[int]) -> None:
    """Side by side, one grid cell per opened path, when several were opened."""
    if len(per_path) > 1 and len(set(per_path)) == 1:
        viewer.grid.stride = per_path[0]  # type: ignore[attr-defined]
        viewer.grid.enabled = True  # type: ignore[attr-defined]
    viewer.reset_view()  # type: ignore[attr-defined]
