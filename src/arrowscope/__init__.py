"""arrowscope: OME-Arrow / OME-Parquet images and image-linked profiles in napari.

The public API is imported lazily: napari imports this package at start-up,
so nothing heavy (pyarrow, dask) is loaded until it is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .core import __all__ as _CORE_NAMES  # names only: core loads lazily too

_CORE_API = frozenset(_CORE_NAMES)

__all__ = ["__version__", *sorted(_CORE_API)]

if TYPE_CHECKING:  # pragma: no cover
    from .core import *  # noqa: F403


def __getattr__(name: str) -> Any:
    if name == "qc":
        # importlib, not "from . import qc": that form asks this very
        # __getattr__ for "qc" first and recursed until RecursionError.
        return importlib.import_module(f"{__name__}.qc")
    if name in _CORE_API:
        from . import core

        return getattr(core, name)
    raise AttributeError(f"module 'arrowscope' has no attribute {name!r}")
