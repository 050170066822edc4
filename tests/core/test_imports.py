"""core/ stays Qt-free and napari-free; importing arrowscope stays cheap."""

from __future__ import annotations

import subprocess
import sys

GUI = (
    "napari",
    "qtpy",
    "PyQt5",
    "PyQt6",
    "PySide2",
    "PySide6",
    "magicgui",
    "superqt",
    "vispy",
)


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return set(out.stdout.split())


def test_core_imports_no_gui_module():
    loaded = _loaded_after("import arrowscope.core, arrowscope.core.images.writer")
    assert not {m for m in loaded if m.split(".")[0] in GUI}


def test_package_import_is_light():
    loaded = _loaded_after("import arrowscope")
    assert "pyarrow" not in loaded and "dask" not in loaded
