"""The Qt-free data layer of arrowscope: schema, codecs, lazy access, writers.

Nothing here imports napari, Qt or magicgui (enforced by an import-linter
contract and a test). Names are imported lazily, so that importing one
submodule (``arrowscope.core.errors``, say) does not load dask and pyarrow.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "errors": (
        "AccessError",
        "ArrowscopeError",
        "CorruptFileError",
        "ImageNotFoundError",
        "NotOmeArrowError",
        "PixelDataError",
        "SchemaError",
        "UnsupportedError",
        "WriteError",
    ),
    "filters": ("filter_rows",),
    "image": (
        "ImageInfo",
        "OMEImage",
        "OMESource",
        "list_images",
        "open_image",
        "open_source",
    ),
    "profiles": ("KeyRoles", "ProfileTable", "open_profiles"),
    "qc": ("label_outliers",),
    "writer": ("write_ome_dataset", "write_ome_parquet", "write_ome_table"),
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
