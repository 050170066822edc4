"""npe2 reader: OME-Arrow files, tables and chunk datasets as dask-backed layers.

``get_reader`` is cheap and silent: it looks at the suffix, then at the Parquet
footer / IPC schema only, and returns None for anything without an OME-Arrow
column so that plain tables stay with other readers.
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
    from ..core.profiles.resolve import resolve

    if location not in _DECIDED:
        if len(_DECIDED) > 64:
            _DECIDED.clear()
        _DECIDED[location] = resolve(location)
    return _DECIDED[location]


def _claims(location: str) -> bool:
    """Whether a path or URI is arrowscope's."""
    return _decide(location) is not None


def get_reader(path: str | list[str]) -> Callable[..., list[Any]] | None:
    """Return :func:`read_paths` when every path holds OME-Arrow data, else None.

    Never raises: napari asks every plugin about every dropped path, and a
    question about a broken or foreign file must not become an error dialog.
    """
    try:
        paths = [path] if isinstance(path, str) else list(path)
        for p in paths:  # a new question: decide afresh (the file may have changed)
            _DECIDED.pop(str(p), None)
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
    from ..core.profiles.resolve import resolve
    from .layers import source_layers
    from .preferences import ensure_reader_preferences

    ensure_reader_preferences()  # next time, drops go straight to arrowscope
    paths = [path] if isinstance(path, str) else list(path)
    layers: list[Any] = []
    for p in paths:
        try:
            found = _DECIDED.pop(str(p), None) or resolve(p)
            if found is not None and found.kind in ("profile table", "warehouse"):
                from ..core.profiles.resolve import open_profiles
                from .profile_layers import profile_layers

                pt = open_profiles(found.location)
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
            src = open_source(p)
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
