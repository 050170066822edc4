"""The manifest ships in wheels and editable installs; import contracts hold."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_manifest_from_installed_distribution():
    npe2 = pytest.importorskip("npe2")
    manifest = npe2.PluginManifest.from_distribution("arrowscope")
    assert manifest.name == "arrowscope"
    assert {w.command for w in manifest.contributions.writers} == {
        "arrowscope.write_image",
        "arrowscope.write_labels",
        "arrowscope.write_layers",
    }


def test_wheel_contains_manifest_and_entry_point(tmp_path):
    pytest.importorskip("hatchling")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "hatchling",
            "build",
            "-t",
            "wheel",
            "-d",
            str(tmp_path),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("arrowscope-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        assert "arrowscope/napari.yaml" in names
        manifest = zf.read("arrowscope/napari.yaml").decode()
        entry_points = zf.read(
            next(n for n in names if n.endswith("entry_points.txt"))
        ).decode()
    assert "arrowscope.get_reader" in manifest  # the real file, not a dangling link
    assert "arrowscope = arrowscope:napari.yaml" in entry_points


def test_import_contracts():
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint is None:
        pytest.skip("import-linter is not installed")
    out = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
