"""The Qt-free data layer of arrowscope, in two halves.

``images`` holds image I/O: schema, codecs, metadata, the store layer
(Parquet, IPC, Lance, Vortex on any filesystem), lazy images, chunk datasets
and writers. ``profiles`` holds the profile tables: key roles, links from rows
to images, filters, the QC engine and batch work. Profiles use images, never
the other way (an import-linter contract).

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
    "profiles.filters": ("filter_rows",),
    "images.image": (
        "ImageInfo",
        "OMEImage",
        "OMESource",
        "list_images",
        "open_image",
        "open_source",
    ),
    "profiles.table": ("KeyRoles", "ProfileTable"),
    "profiles.resolve": ("open_profiles", "open_location"),
    "profiles.kinds": ("Kind", "Resolved", "kinds", "resolve"),
    "profiles.qc": ("label_outliers",),
    "profiles.warehouse": ("open_warehouse", "Warehouse"),
    "images.writer": ("write_ome_dataset", "write_ome_parquet", "write_ome_table"),
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
