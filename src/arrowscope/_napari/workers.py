"""Starting napari thread workers so that their completion can be observed.

A worker that finishes before anyone connects to ``finished`` emits into the
void; :func:`start` connects a completion flag first, so callers and tests can
wait on :func:`is_done` without a race.
"""

from __future__ import annotations

from typing import Any

_DONE = "_arrowscope_done"


def start(worker: Any) -> Any:
    """Mark ``worker`` done when it finishes, then start it; returns it."""
    setattr(worker, _DONE, False)
    worker.finished.connect(lambda: setattr(worker, _DONE, True))
    worker.start()
    return worker


def is_done(worker: Any) -> bool:
    """Whether a worker started with :func:`start` has finished (or failed)."""
    return bool(getattr(worker, _DONE, False))
