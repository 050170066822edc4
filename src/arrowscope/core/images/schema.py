"""The OME-Arrow record type and how to recognise it in the wild.

The canonical types below are what arrowscope writes, so that the reference
``ome-arrow`` library reads our files with its exact-type fast path. When
reading, columns are recognised by field *names* only: real files sort the
fields, widen every integer to int64 and every float to double, and store
pixels as ``list<int64>`` (see docs/format.md).
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

OME_ARROW_TYPE = "ome.arrow"
#: The OME-Arrow version our records declare (the reference release they match).
OME_ARROW_VERSION = "0.1.0"
DATASET_LAYOUT = "typed-chunk-dataset"

#: Fields that carry an image: metadata plus planes or chunks. Writers differ in
#: the rest (CytoTable drops ``masks``, CytoDataFrame has no ``chunks``), so a
#: column is recognised by these alone, whatever the order or integer widths.
REQUIRED_FIELDS = frozenset({"pixels_meta"})
PIXEL_FIELDS = frozenset({"planes", "chunks"})
PIXELS_META_FIELDS = frozenset({"size_x", "size_y", "size_z", "size_c", "size_t"})

CHANNEL_TYPE = pa.struct(
    [
        ("id", pa.string()),
        ("name", pa.string()),
        ("emission_um", pa.float32()),
        ("excitation_um", pa.float32()),
        ("illumination", pa.string()),
        ("color_rgba", pa.uint32()),
    ]
)

PIXELS_META_TYPE = pa.struct(
    [
        ("dimension_order", pa.string()),
        ("type", pa.string()),
        ("size_x", pa.int32()),
        ("size_y", pa.int32()),
        ("size_z", pa.int32()),
        ("size_c", pa.int16()),
        ("size_t", pa.int32()),
        ("physical_size_x", pa.float32()),
        ("physical_size_y", pa.float32()),
        ("physical_size_z", pa.float32()),
        ("physical_size_x_unit", pa.string()),
        ("physical_size_y_unit", pa.string()),
        ("physical_size_z_unit", pa.string()),
        ("channels", pa.list_(CHANNEL_TYPE)),
    ]
)

CHUNK_GRID_TYPE = pa.struct(
    [
        ("order", pa.string()),
        ("chunk_t", pa.int32()),
        ("chunk_c", pa.int16()),
        ("chunk_z", pa.int32()),
        ("chunk_y", pa.int32()),
        ("chunk_x", pa.int32()),
        ("chunk_order", pa.string()),
    ]
)

_CHUNK_POSITION = [
    ("t", pa.int32()),
    ("c", pa.int16()),
    ("z", pa.int32()),
    ("y", pa.int32()),
    ("x", pa.int32()),
    ("shape_z", pa.int32()),
    ("shape_y", pa.int32()),
    ("shape_x", pa.int32()),
]
LIST_CHUNK_TYPE = pa.struct([*_CHUNK_POSITION, ("pixels", pa.list_(pa.uint16()))])
BYTE_CHUNK_TYPE = pa.struct(
    [
        *_CHUNK_POSITION,
        ("dtype", pa.string()),
        ("compression", pa.string()),
        ("pixel_bytes", pa.large_binary()),
    ]
)
PLANE_TYPE = pa.struct(
    [
        ("z", pa.int32()),
        ("t", pa.int32()),
        ("c", pa.int16()),
        ("pixels", pa.list_(pa.uint16())),
    ]
)


def _record_type(chunk_type: pa.StructType) -> pa.StructType:
    return pa.struct(
        [
            ("type", pa.string()),
            ("version", pa.string()),
            ("id", pa.string()),
            ("name", pa.string()),
            ("image_type", pa.string()),
            ("acquisition_datetime", pa.timestamp("us")),
            ("pixels_meta", PIXELS_META_TYPE),
            ("chunk_grid", CHUNK_GRID_TYPE),
            ("chunks", pa.list_(chunk_type)),
            ("planes", pa.list_(PLANE_TYPE)),
            ("masks", pa.null()),
        ]
    )


#: The canonical list-form record (uint16 pixels), as ``ome_arrow.OME_ARROW_STRUCT``.
LIST_RECORD_TYPE = _record_type(LIST_CHUNK_TYPE)
#: The byte-form record (typed, optionally compressed chunk payloads).
BYTE_RECORD_TYPE = _record_type(BYTE_CHUNK_TYPE)

#: Fields that hold metadata only; projecting onto them never touches pixels.
META_FIELDS = (
    "type",
    "version",
    "id",
    "name",
    "image_type",
    "acquisition_datetime",
    "pixels_meta",
    "chunk_grid",
)
#: Per-chunk position fields (everything but the payload).


def is_ome_arrow_type(dtype: pa.DataType) -> bool:
    """Whether an Arrow type is an OME-Arrow record, judged by field names.

    Parameters
    ----------
    dtype
        Any Arrow data type.

    Returns
    -------
    bool
        True for a struct with every required OME-Arrow field, whatever the
        field order or integer/float widths.
    """
    if not pa.types.is_struct(dtype):
        return False
    names = {dtype.field(i).name for i in range(dtype.num_fields)}
    return (
        names >= REQUIRED_FIELDS
        and bool(names & PIXEL_FIELDS)
        and pa.types.is_struct(dtype.field("pixels_meta").type)
    )


def iter_ome_columns(schema: pa.Schema) -> Iterator[tuple[str, bool]]:
    """Yield ``(column, has_images)`` for every OME-Arrow column of a schema.

    A column whose type is entirely null (as CytoDataFrame writes when a whole
    image column is empty) is reported with ``has_images=False`` when its name
    says it is an image column (``*_OMEArrow_*`` or ``ome_arrow``).
    """
    for field in schema:
        if is_ome_arrow_type(field.type):
            yield field.name, True
        elif pa.types.is_null(field.type) and looks_like_image_column(field.name):
            yield field.name, False


def looks_like_image_column(name: str) -> bool:
    """Whether a column name follows the conventions used for image columns."""
    lowered = name.lower()
    return "omearrow" in lowered or lowered in {"ome_arrow", "image"}


def missing_fields(dtype: pa.StructType) -> set[str]:
    """Required fields a struct type lacks (including ``pixels_meta`` sizes)."""
    names = {dtype.field(i).name for i in range(dtype.num_fields)}
    missing = set(REQUIRED_FIELDS - names)
    if not names & PIXEL_FIELDS:
        missing.add("planes or chunks")
    if "pixels_meta" in names:
        pm = dtype.field("pixels_meta").type
        if pa.types.is_struct(pm):
            pm_names = {pm.field(i).name for i in range(pm.num_fields)}
            missing |= {f"pixels_meta.{n}" for n in PIXELS_META_FIELDS - pm_names}
    return missing
