"""Every Python block of the README and docs/ runs, in a fresh interpreter."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _blocks() -> list[tuple[str, int, str]]:
    out = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = doc.read_text(encoding="utf-8")
        for m in FENCE.finditer(text):
            line = text[: m.start()].count("\n") + 1
            out.append((doc.relative_to(ROOT).as_posix(), line, m.group(1)))
    return out


BLOCKS = _blocks()


def test_the_readme_has_examples():
    assert sum(1 for doc, _, _ in BLOCKS if doc == "README.md") >= 2


@pytest.mark.parametrize(
    "code", [b[2] for b in BLOCKS], ids=[f"{d}:{n}" for d, n, _ in BLOCKS]
)
def test_example_runs(code, tmp_path):
    # A fresh interpreter: imports work the way a user's script does them.
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_every_guarantee_points_at_a_real_test():
    text = (ROOT / "docs" / "guarantees.md").read_text(encoding="utf-8")
    refs = re.findall(r"`(tests/[\w/]+\.py)(?:::([\w*]+))?", text)
    assert len(refs) > 20
    for path, name in refs:
        source = (ROOT / path).read_text(encoding="utf-8")
        if name:
            pattern = re.escape(name).replace(r"\*", r"\w*")
            assert re.search(rf"def {pattern}\(", source), f"{path}::{name}"
    # bare "::name" references continue the file named before them
    for name in re.findall(r"`::([\w*]+)`", text):
        pattern = re.escape(name).replace(r"\*", r"\w*")
        assert any(
            re.search(rf"def {pattern}\(", (ROOT / p).read_text(encoding="utf-8"))
            for p, _ in refs
        ), name
