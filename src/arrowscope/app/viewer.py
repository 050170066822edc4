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
        [xvfb, f":{number}", "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
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


def show(paths: list[Path], screenshot: Path | None) -> int:
    """Open ``paths`` with arrowscope; with ``screenshot`` (or no display) save a PNG."""
    headless = screenshot is not None or not os.environ.get("DISPLAY")
    if headless and screenshot is None:
        screenshot = Path("arrowscope-screenshot.png")
    with _display(headless):
        import napari

        from .._napari.preferences import ensure_reader_preferences

        viewer = napari.Viewer(show=not headless, title="arrowscope")
        ensure_reader_preferences()
        per_path = [len(viewer.open(str(p), plugin="arrowscope")) for p in paths]
        _arrange(viewer, per_path)
        if headless:
            assert screenshot is not None
            viewer.window._qt_window.resize(1400, 900)
            viewer.screenshot(str(screenshot), canvas_only=False, flash=False)
            logger.info("screenshot written to %s", screenshot)
            viewer.close()
            return 0
        napari.run()
    return 0


def _arrange(viewer: object, per_path: list[int]) -> None:
    """Side by side, one grid cell per opened path, when several were opened."""
    if len(per_path) > 1 and len(set(per_path)) == 1:
        viewer.grid.stride = per_path[0]  # type: ignore[attr-defined]
        viewer.grid.enabled = True  # type: ignore[attr-defined]
    viewer.reset_view()  # type: ignore[attr-defined]
