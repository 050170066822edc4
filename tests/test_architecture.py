"""The architecture holds: import-linter's contracts (core free of Qt and
napari, app -> _napari -> core, profiles above images, and no import cycle
inside the profiles package) are kept, and no module of the profiles package
grows past ~800 lines."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept(tmp_path):
    lint = shutil.which("lint-imports") or str(
        Path(sys.executable).with_name("lint-imports")
    )
    if not Path(lint).exists():
        pytest.skip("import-linter is not installed (the test extra has it)")
    done = subprocess.run(
        [lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert "no import cycles" in done.stdout and "BROKEN" not in done.stdout


def test_no_profiles_module_is_a_tangle():
    package = ROOT / "src" / "arrowscope" / "core" / "profiles"
    sizes = {
        p.relative_to(package).as_posix(): len(p.read_text().splitlines())
        for p in package.rglob("*.py")
    }
    assert max(sizes.values()) <= 800, sizes
