"""npe2 reader: OME-Arrow files, tables and chunk datasets as dask-backed
layers; profile tables, CellProfiler output and warehouses with their images.

``get_reader`` is cheap and silent: the front door decides what each path is
(its suffix and folder shape, then a header, footer or schema) and the reader
claims only the kinds it opens, so plain tables and images stay with other
readers. ``read_paths`` opens what was decided, without deciding again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)


#: what the front door decided of the paths napari asked about last: the
#: reader that claimed them opens them without deciding again
_DECIDED: dict[str, Any] = {}


def _decide(location: str) -> Any:
    """What a path or URI is (or None), decided once by the front door
    (suffix and folder shape, then a footer or schema), for ``get_reader``
    and the ``read_paths`` that follows it."""
    from ..core.profiles.kinds import resolve

    if location not in _DECIDED:
        if len(_DECIDED) > 8:  # a decision may hold a large table's footer
            _DECIDED.clear()
        _DECIDED[location] = resolve(location)
    return _DECIDED[location]


def hand_over(found: Any) -> None:
    """A decision the front door made already (``arrowscope view``): napari's
    ``get_reader`` and ``read_paths`` for that path take it as it is."""
    _HANDED[str(found.given)] = found


#: decisions handed over by the command line, taken by the next get_reader
_HANDED: dict[str, Any] = {}


def _claims(location: str) -> bool:
    """Whether a path or URI is of a kind napari opens through arrowscope."""
    found = _decide(location)
    return found is not None and found.claimed


def get_reader(path: str | list[str]) -> Callable[..., list[Any]] | None:
    """Return :func:`read_paths` when every path holds OME-Arrow data, else None.

    Never raises: napari asks every plugin about every dropped path, and a
    question about a broken or foreign file must not become an error dialog.
    """
    try:
        paths = [path] if isinstance(path, str) else list(path)
        for p in paths:  # a new question: decide afresh (the file may have
            # changed), unless arrowscope's own front door just decided it
            handed = _HANDED.pop(str(p), None)
            _DECIDED.pop(str(p), None)
            if handed is not None:
                _DECIDED[str(p)] = handed
        if not paths or not all(_claims(str(p)) for p in paths):
            return None
    except Exception:  # noqa: BLE001 - the contract is "None or a reader"
        logger.debug("arrowscope does not claim %s", path, exc_info=True)
        return None
    return read_paths


def read_paths(path: str | list[str], stack: bool = False) -> list[Any]:
    """Read paths into layer data tuples, reporting problems as notifications.

    Returns napari's null-layer sentinel ``[(None,)]`` when nothing could be
    read, after telling the user why.
    """
    from ..core.errors import ArrowscopeError
    from ..core.images.image import open_source
    from ..core.profiles.kinds import resolve
    from .layers import source_layers
    from .preferences import ensure_reader_preferences

    ensure_reader_preferences()  # next time, drops go straight to arrowscope
    paths = [path] if isinstance(path, str) else list(path)
    layers: list[Any] = []
    for p in paths:
        try:
            found = (
                _DECIDED.pop(str(p), None) or _HANDED.pop(str(p), None) or resolve(p)
            )
            if found is not None and found.role in ("profiles", "warehouse"):
                from .profile_layers import profile_layers

                pt = found.open()
                layers += profile_layers(pt)
                for problem in pt.problems[:3]:
                    _notify(f"{p}: {problem}", "warning")
                if len(pt.problems) > 3:
                    _notify(
                        f"{p}: … and {len(pt.problems) - 3} more problems (all of "
                        f"them: the Profiles panel, or arrowscope info {p})",
                        "warning",
                    )
                continue
            src = found.open() if found is not None else open_source(p)
            problems: list[ArrowscopeError] = []
            found = source_layers(src, problems)
            skipped = [*src.empty_columns, *(e.column for e in problems)]
            if skipped:
                reasons = "; ".join(
                    [f"column '{c}': holds no images" for c in src.empty_columns]
                    + [str(e).removeprefix(f"{e.path}: ") for e in problems]
                )
                _notify(
                    f"{p}: skipped {len(skipped)} image column(s) ({reasons})",
                    "warning" if found else "error",
                )
            layers += found
        except ArrowscopeError as exc:
            _notify(str(exc), "error")
        except Exception as exc:  # noqa: BLE001 - never let a file crash napari
            logger.debug("reading %s failed", p, exc_info=True)
            _notify(
                f"{p}: cannot be read ({type(exc).__name__}: {exc}); "
                "run 'arrowscope info' on it for details",
                "error",
            )
    return layers or [(None,)]


def _notify(message: str, level: str) -> None:
    from napari.utils.notifications import show_error, show_info, show_warning

    {"error": show_error, "warning": show_warning}.get(level, show_info)(message)
