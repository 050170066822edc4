"""Helpers shared by the benchmark scripts (timing, memory, JSON output)."""

from __future__ import annotations

import json
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


class PeakRSS:
    """Peak resident memory while the block runs, above what it started with (MiB).

    ``ru_maxrss`` cannot be reset, so a high-water mark set earlier (e.g. by
    creating the viewer) would hide the block's own peak; this samples instead.
    """

    def __init__(self, interval_s: float = 0.01) -> None:
        self.interval_s = interval_s
        self.mib = 0.0

    def __enter__(self) -> PeakRSS:
        import threading

        import psutil

        proc = psutil.Process()
        self._start = proc.memory_info().rss
        self.start_mib = self._start / 2**20
        self._peak = self._start
        self._stop = threading.Event()

        def sample() -> None:
            while not self._stop.is_set():
                self._peak = max(self._peak, proc.memory_info().rss)
                self._stop.wait(self.interval_s)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        import psutil

        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, psutil.Process().memory_info().rss)
        self.mib = (self._peak - self._start) / 2**20
        self.peak_mib = self._peak / 2**20


def emit(figures: dict[str, Any]) -> None:
    """Print the figures as one JSON document."""
    json.dump(figures, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def run_child(script: str, args: list[str], timeout_s: float) -> dict[str, Any]:
    """Run ``script --child ARGS`` in a fresh Python; its last JSON line or an error.

    The child's resident memory is sampled from outside too, so a child that
    runs out of time still reports how much memory it held by then.
    """
    import contextlib
    import os
    import subprocess
    import tempfile

    import psutil

    env = {
        k: v
        for k, v in dict(os.environ, PYTHONWARNINGS="ignore").items()
        # compiled bytecode is cached as on a user's machine
        if k != "PYTHONDONTWRITEBYTECODE"
    }
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            [sys.executable, script, "--child", *args], stdout=out, stderr=err, env=env
        )
        child, peak, t0 = psutil.Process(proc.pid), 0, time.perf_counter()
        while proc.poll() is None and time.perf_counter() - t0 < timeout_s:
            with contextlib.suppress(psutil.Error):  # it may just have ended
                peak = max(peak, child.memory_info().rss)
            time.sleep(0.05)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
            out.seek(0)
            # what the child said before it was stopped (e.g. its baseline)
            said = [json.loads(ln) for ln in out.read().splitlines() if ln[:1] == "{"]
            return {
                "error": f"did not finish in {timeout_s:g} s",
                **{k: v for d in said for k, v in d.items()},
                "peak_rss_mib_by_then": round(peak / 2**20, 1),
            }
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
    if lines:
        return json.loads(lines[-1])
    return {"error": (stderr.strip().splitlines() or ["failed"])[-1][:300]}


class Busy:
    """Other work on the machine while the block runs: ``n`` processes that
    spin on the CPU, each stopping by itself after ``limit_s`` at the latest
    (and stopped when the block ends)."""

    def __init__(self, n: int = 2, limit_s: float = 600.0) -> None:
        self.n = n
        self.limit_s = limit_s
        self._procs: list[Any] = []

    def __enter__(self) -> Busy:
        import subprocess

        spin = (
            "import time\n"
            f"end = time.monotonic() + {self.limit_s}\n"
            "while time.monotonic() < end:\n"
            "    sum(range(10000))\n"
        )
        self._procs = [
            subprocess.Popen([sys.executable, "-c", spin]) for _ in range(self.n)
        ]
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self._procs:
            proc.terminate()
        for proc in self._procs:
            proc.wait(timeout=30)
