"""Background work for the panels: napari thread workers, made portable and
observable.

A job's exception comes back to the GUI thread as a value, never through the
worker's ``errored`` signal: napari's own task-status hook on ``errored`` takes
fewer arguments than the signal carries, which PyQt forgives and PySide6 does
not (a TypeError in the event loop). A worker that finishes before anyone
connects to ``finished`` emits into the void; :func:`start` connects a
completion flag first, so callers and tests can wait on :func:`is_done`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_DONE = "_arrowscope_done"


class _Failed:
    """An exception raised by a job, carried back as its return value."""

    __slots__ = ("exc",)

    def __init__(self, exc: Exception) -> None:
        self.exc = exc


def make_worker(
    job: Callable[[], Any],
    *,
    receiver: Any,
    done: Callable[[Any], Any],
    failed: Callable[[Exception], Any],
    finished: Callable[[], Any] | None = None,
    progress: dict[str, Any] | None = None,
) -> Any:
    """A napari thread worker running ``job``; ``done(result)`` or
    ``failed(exception)``, then ``finished()``, are called on the GUI thread,
    unless ``receiver`` (the panel's QWidget) was closed meanwhile. Not
    started."""
    from napari.qt.threading import thread_worker
    from qtpy.QtCore import QObject

    def guarded() -> Any:
        try:
            return job()
        except Exception as exc:  # noqa: BLE001 - handed to ``failed``
            return _Failed(exc)

    options: dict[str, Any] = {"ignore_errors": True}
    if progress is not None:
        options["progress"] = progress
    worker = thread_worker(guarded, **options)()

    class Relay(QObject):  # type: ignore[misc]
        # a child of the receiver: Qt drops the connection when it is deleted
        def deliver(self, value: Any) -> None:
            if isinstance(value, _Failed):
                failed(value.exc)
            else:
                done(value)

        def finish(self) -> None:
            if finished is not None:
                finished()
            self.deleteLater()

    relay = Relay(receiver)
    worker.returned.connect(relay.deliver)
    worker.finished.connect(relay.finish)
    return worker


def start(worker: Any) -> Any:
    """Mark ``worker`` done when it finishes, then start it; returns it."""
    setattr(worker, _DONE, False)
    worker.finished.connect(lambda: setattr(worker, _DONE, True))
    _finish_before_quit()
    worker.start()
    return worker


_QUIT_HOOKED = False


def _finish_before_quit() -> None:
    """When the application quits, let running workers finish first: a worker
    that reports after Qt tore its signals down aborts the process (PyQt6
    treats the error in the worker thread as fatal)."""
    global _QUIT_HOOKED
    if _QUIT_HOOKED:
        return
    from qtpy.QtCore import QCoreApplication

    app = QCoreApplication.instance()
    if app is None:
        return
    app.aboutToQuit.connect(wait_for_workers)
    _QUIT_HOOKED = True


def wait_for_workers(timeout_ms: int = 120_000) -> bool:
    """Wait (up to ``timeout_ms``) for every running worker; True when none is
    left."""
    from qtpy.QtCore import QThreadPool

    return bool(QThreadPool.globalInstance().waitForDone(timeout_ms))


def is_done(worker: Any) -> bool:
    """Whether a worker started with :func:`start` has finished (or failed)."""
    return bool(getattr(worker, _DONE, False))
