"""The Qt-free data layer of arrowscope: schema, codecs, lazy access, writers.

Nothing here imports napari, Qt or magicgui (enforced by an import-linter
contract and a test).
"""

from .errors import (
    AccessError,
    ArrowscopeError,
    CorruptFileError,
    ImageNotFoundError,
    NotOmeArrowError,
    PixelDataError,
    SchemaError,
    UnsupportedError,
    WriteError,
)
from .filters import filter_rows
from .image import ImageInfo, OMEImage, OMESource, list_images, open_image, open_source
from .profiles import KeyRoles, ProfileTable, open_profiles
from .qc import label_outliers
from .writer import write_ome_dataset, write_ome_parquet, write_ome_table

__all__ = [
    "AccessError",
    "ArrowscopeError",
    "CorruptFileError",
    "ImageInfo",
    "ImageNotFoundError",
    "KeyRoles",
    "NotOmeArrowError",
    "OMEImage",
    "OMESource",
    "PixelDataError",
    "ProfileTable",
    "SchemaError",
    "UnsupportedError",
    "WriteError",
    "filter_rows",
    "label_outliers",
    "list_images",
    "open_image",
    "open_profiles",
    "open_source",
    "write_ome_dataset",
    "write_ome_parquet",
    "write_ome_table",
]
