"""Tests do not depend on their order: what one import changes, the next test
does not see (these two run in file order, the second after the first)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_QT_VARS = ("QT_QPA_PLATFORM_PLUGIN_PATH", "QT_QPA_FONTDIR")


def test_a_test_that_changes_the_qt_environment():
    cv2 = pytest.importorskip("cv2")  # what cosmicqc/pycytominer pull in
    # what OpenCV's import does (only on its first import in a process)
    plugins = Path(cv2.__file__).parent / "qt" / "plugins"
    os.environ["QT_QPA_PLATFORM_PLUGIN_PATH"] = str(plugins)
    os.environ["QT_QPA_FONTDIR"] = str(plugins.parent / "fonts")


def test_the_next_test_starts_from_the_original_environment():
    for var in _QT_VARS:
        assert "cv2" not in os.environ.get(var, "")


def test_napari_settings_are_not_the_users():
    pytest.importorskip("napari")
    config = Path(os.environ["NAPARI_CONFIG"])
    assert not str(config).startswith(str(Path.home() / ".config"))
    from napari.settings import get_settings

    assert Path(get_settings().config_path) == config
