"""Helpers shared by the benchmark scripts (timing, memory, JSON output)."""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Callable
from typing import Any


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    """Best wall time of ``repeat`` runs, in seconds, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def emit(figures: dict[str, Any]) -> None:
    """Print the figures as one JSON document."""
    json.dump(figures, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def run_child(script: str, args: list[str], timeout_s: float) -> dict[str, Any]:
    """Run ``script --child ARGS`` in a fresh Python; its last JSON line, or an error."""
    import os
    import subprocess

    try:
        proc = subprocess.run(
            [sys.executable, script, "--child", *args],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=dict(os.environ, PYTHONWARNINGS="ignore"),
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish in {timeout_s:g} s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if lines:
        return json.loads(lines[-1])
    return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1][:300]}
