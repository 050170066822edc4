"""The viewer on a JUMP-sized plate: ``arrowscope view --profiles`` to the
headless screenshot of the viewer with its panels, beside an empty napari
viewer taking the same screenshot, each in a fresh process, in one run.

    python benchmarks/bench_view.py [--cells 1000000] [--features 2000]
                                    [--path PLATE.parquet] [--runs 3] [--cold]

Without ``--path`` the plate (float32 features, 20,000-row groups, 11 GiB
for the default size) is written to a temporary folder in the home folder and
removed afterwards. ``--cold`` evicts the plate's pages from the OS page cache
before each arrowscope run (``posix_fadvise``; no root needed): the plate is
read from disk, as when it is first opened, while Python, Qt and napari are as
warm as for the empty viewer beside it. ``--cold-all`` empties the whole page
cache (root) before each run of *both* sides: every library read from disk
too. Needs
Xvfb (``xvfb-run``) and GNU time. Prints JSON: for each side the wall time
(Xvfb's start included, the same for both) and the peak resident memory of
each run, and arrowscope's time and memory above the empty viewer's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _util import emit  # noqa: E402

#: napari's start: an empty viewer in the window arrowscope renders (1920 ×
#: 1080), its grab saved by Qt as ``view --screenshot`` saves it, so both
#: sides pay the same for the picture that says they are ready
EMPTY = """
import sys
import napari
from qtpy.QtWidgets import QApplication
viewer = napari.Viewer(show=True)
viewer.window._qt_window.resize(1920, 1080)
QApplication.processEvents()
assert viewer.window._qt_window.grab().toImage().save(sys.argv[1], "PNG")
viewer.close()
"""


def measure(argv: list[str], timeout_s: float = 600.0) -> dict[str, Any]:
    """Wall time and peak resident memory (MiB, the kernel's high-water mark
    through GNU time) of one command, under Xvfb."""
    env = dict(os.environ, QT_QPA_PLATFORM="xcb")
    cmd = ["xvfb-run", "-a", "-s", "-screen 0 1920x1080x24"]
    cmd += ["/usr/bin/time", "-f", "maxrss_kib=%M", *argv]
    t0 = time.perf_counter()
    try:
        done = subprocess.run(cmd, env=env, capture_output=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish in {timeout_s:g} s"}
    seconds = time.perf_counter() - t0
    err = done.stderr.decode(errors="replace").strip().splitlines()
    kib = [int(line.split("=", 1)[1]) for line in err if line.startswith("maxrss_kib=")]
    if done.returncode != 0 or not kib:
        return {"error": (err or ["failed"])[-1][:300]}
    return {"seconds": round(seconds, 2), "peak_rss_mib": round(kib[-1] / 1024, 1)}


def evict(path: Path) -> bool:
    """Drop ``path``'s pages from the OS page cache (its next read is from
    disk); False where the OS cannot."""
    if not hasattr(os, "posix_fadvise"):
        return False
    os.sync()
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    return True


def run(path: Path, runs: int, cold: str = "") -> dict[str, Any]:
    from bench_classify import _drop_page_cache

    arrowscope = [sys.executable, "-m", "arrowscope"]
    figures: dict[str, Any] = {"empty napari": [], "arrowscope view --profiles": []}
    emptied = False
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "empty.py"
        script.write_text(EMPTY)
        for i in range(runs):  # interleaved, so both see the same machine
            shot = Path(tmp) / f"empty{i}.png"
            if cold == "all":
                emptied = _drop_page_cache()
            figures["empty napari"].append(
                measure([sys.executable, str(script), str(shot)])
            )
            shot = Path(tmp) / f"view{i}.png"
            if cold == "all":
                emptied = _drop_page_cache()
            elif cold == "plate":  # the plate read from disk, as on first opening
                emptied = evict(path)
            figures["arrowscope view --profiles"].append(
                measure(
                    [
                        *arrowscope,
                        "view",
                        "--profiles",
                        str(path),
                        "--screenshot",
                        str(shot),
                    ]
                )
            )
    for name in list(figures):
        done = [r for r in figures[name] if "seconds" in r]
        if done:
            figures[f"{name}: best"] = {
                "seconds": min(r["seconds"] for r in done),
                "peak_rss_mib": min(r["peak_rss_mib"] for r in done),
                "peak_rss_mib_worst": max(r["peak_rss_mib"] for r in done),
            }
    figures["page cache emptied"] = (
        {"plate": "the plate", "all": "all"}.get(cold, "no") if emptied else "no"
    )
    empty, view = (figures.get(f"{n}: best") for n in list(figures)[:2])
    if empty and view:
        figures["above the empty viewer"] = {
            "seconds": round(view["seconds"] - empty["seconds"], 2),
            "peak_rss_mib": round(view["peak_rss_mib"] - empty["peak_rss_mib"], 1),
        }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cells", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=2000)
    parser.add_argument("--path", type=Path, help="an existing plate to open")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--cold", action="store_true", help="evict the plate from the page cache"
    )
    parser.add_argument(
        "--cold-all", action="store_true", help="empty the page cache (root)"
    )
    args = parser.parse_args()
    cold = "all" if args.cold_all else "plate" if args.cold else ""
    if shutil.which("xvfb-run") is None or not Path("/usr/bin/time").exists():
        emit({"skipped": "needs xvfb-run and GNU time (/usr/bin/time)"})
        return
    if args.path is not None:
        emit({"plate": str(args.path), **run(args.path, args.runs, cold)})
        return
    from bench_classify import write

    with tempfile.TemporaryDirectory(dir=Path.home()) as tmp:
        t0 = time.perf_counter()
        path, _, _ = write(Path(tmp), args.cells, args.features)
        emit(
            {
                "cells": args.cells,
                "features": args.features,
                "file_gib": round(path.stat().st_size / 2**30, 2),
                "write_s": round(time.perf_counter() - t0, 1),
                **run(path, args.runs, cold),
            }
        )


if __name__ == "__main__":
    main()
