"""Key roles: which columns of a profile table name a cell's image, object,
centre, box and files. Detected from the schema alone; every role editable.

Nothing in the profiles package is below this module.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from ..errors import SchemaError

SUFFIXES = ("", "_x", "_y")
COMPARTMENTS = ("Nuclei", "Cells", "Cytoplasm")
IMAGE_SUFFIXES = (
    ".tif",
    ".tiff",
    ".ome.tif",
    ".ome.tiff",
    ".png",
    ".zarr",
    ".ome.zarr",
)


def _find(names: Sequence[str], *candidates: str) -> str | None:
    have = set(names)
    for cand in candidates:
        for suffix in SUFFIXES:
            if cand + suffix in have:
                return cand + suffix
    return None


@dataclass
class KeyRoles:
    """Which columns play which role; every field is editable.

    Attributes
    ----------
    image
        Columns that together identify a field of view.
    objects
        Compartment → object number column.
    compartment
        The compartment whose centre and box locate a row.
    center
        ``(x, y)`` centre columns, in pixels.
    bbox
        ``(min_x, min_y, max_x, max_y)`` bounding box columns.
    files, paths
        Channel → image file name column / folder column.
    masks
        Compartment → mask file name column (``Image_ObjectsFileName_*``).
    ome
        Embedded OME-Arrow columns (per-cell crops).
    """

    image: list[str] = field(default_factory=list)
    objects: dict[str, str] = field(default_factory=dict)
    compartment: str | None = None
    center: tuple[str, str] | None = None
    bbox: tuple[str, str, str, str] | None = None
    files: dict[str, str] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)
    masks: dict[str, str] = field(default_factory=dict)
    ome: list[str] = field(default_factory=list)

    @property
    def object(self) -> str | None:
        """The object number column of :attr:`compartment`."""
        return self.objects.get(self.compartment or "")

    def columns(self) -> list[str]:
        """Every column named by a role, once, in a stable order."""
        cols = [*self.image, *self.objects.values()]
        cols += [*(self.center or ()), *(self.bbox or ())]
        cols += [*self.files.values(), *self.paths.values(), *self.masks.values()]
        return list(dict.fromkeys(cols))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def edited(
        self,
        columns: list[str],
        *,
        image: list[str] | None = None,
        object: str | None = None,  # noqa: A002 - the role's name
        center: tuple[str, str] | None = None,
    ) -> KeyRoles:
        """These roles with the image key, the object number column or the
        centre columns replaced (a column the table lacks is named)."""
        from ..errors import ArrowscopeError

        named = [*(image or ()), *([object] if object else []), *(center or ())]
        missing = [c for c in named if c not in columns]
        if missing:
            raise ArrowscopeError(
                "no such column for a key role",
                column=missing[0],
                hint=f"columns: {', '.join(columns[:8])}…",
            )
        out = KeyRoles(**self.to_dict())
        if image:
            out.image = list(image)
        if object:
            comp = out.compartment or "Object"
            out.objects = {**out.objects, comp: object}
            out.compartment = comp
        if center:
            out.center = (center[0], center[1])
            out.bbox = None  # the detected box belongs to the old centre
        return out

    @property
    def has_image_links(self) -> bool:
        return bool(self.files or self.masks or self.ome)


def detect_keys(schema: pa.Schema) -> KeyRoles:
    """Detect key roles from column names (CellProfiler, CytoTable, pycytominer)."""
    names = schema.names
    strings = {
        n
        for n in names
        if pa.types.is_string(schema.field(n).type)
        or pa.types.is_large_string(schema.field(n).type)
    }
    roles = KeyRoles()
    from ..images.schema import iter_ome_columns

    roles.ome = [n for n, has in iter_ome_columns(schema) if has]

    plate = _find(names, "Metadata_Plate", "Image_Metadata_Plate")
    table_no = _find(names, "Metadata_TableNumber", "TableNumber")
    image_no = _find(names, "Metadata_ImageNumber", "ImageNumber")
    if image_no:
        roles.image = [c for c in (plate, table_no, image_no) if c]
    else:
        well = _find(names, "Metadata_Well", "Image_Metadata_Well")
        site = _find(names, "Metadata_Site", "Image_Metadata_Site")
        ids = [
            _find(names, "Metadata_dataset_id", "dataset_id"),
            _find(names, "Metadata_image_id", "image_id"),
        ]
        if well and site:
            roles.image = [c for c in (plate, well, site) if c]
        elif any(ids):
            roles.image = [c for c in ids if c]

    for comp in COMPARTMENTS + tuple(_other_compartments(names)):
        col = _find(
            names,
            f"Metadata_{comp}_Number_Object_Number",
            f"{comp}_Number_Object_Number",
        )
        if col:
            roles.objects[comp] = col
    if not roles.objects:
        col = _find(names, "Metadata_ObjectNumber", "ObjectNumber")
        if col:
            roles.objects["Object"] = col

    for comp in [*roles.objects, *COMPARTMENTS]:
        cx = _find(
            names, f"{comp}_Location_Center_X", f"Metadata_{comp}_Location_Center_X"
        )
        cy = _find(
            names, f"{comp}_Location_Center_Y", f"Metadata_{comp}_Location_Center_Y"
        )
        if cx and cy:
            roles.compartment, roles.center = comp, (cx, cy)
            box = [
                _find(names, f"{comp}_AreaShape_BoundingBox{e}_{a}")
                for e, a in (
                    ("Minimum", "X"),
                    ("Minimum", "Y"),
                    ("Maximum", "X"),
                    ("Maximum", "Y"),
                )
            ]
            if all(box):
                roles.bbox = tuple(box)  # type: ignore[assignment]
            break
    if roles.compartment is None and roles.objects:
        roles.compartment = next(iter(roles.objects))
    # CytoTable >= 1.2.6 records the box it cropped (e.g. the cytoplasm's)
    # instead of the compartments' own bounding boxes: it wins where present.
    source_box = [
        _find(names, f"Metadata_SourceBBox{a}{e}")
        for a, e in (("X", "Min"), ("Y", "Min"), ("X", "Max"), ("Y", "Max"))
    ]
    if all(source_box):
        roles.bbox = tuple(source_box)  # type: ignore[assignment]

    for n in names:
        m = re.fullmatch(r"(?:Metadata_)?Image_FileName_(\w+?)(_x|_y)?", n)
        if m and n in strings and m.group(1) not in roles.files:
            ch = m.group(1)
            roles.files[ch] = n
            path = _find(names, f"Image_PathName_{ch}", f"Metadata_Image_PathName_{ch}")
            if path:
                roles.paths[ch] = path
        m = re.fullmatch(r"(?:Metadata_)?Image_ObjectsFileName_(\w+?)(_x|_y)?", n)
        if m and n in strings:
            roles.masks.setdefault(m.group(1), n)
    for n in names:  # CellProfiler's images loaded from URLs: the full location
        m = re.fullmatch(r"(?:Metadata_)?Image_URL_(\w+?)(_x|_y)?", n)
        if m and n in strings and m.group(1) not in roles.files:
            roles.files[m.group(1)] = n
    return roles


def _other_compartments(names: Iterable[str]) -> list[str]:
    found = []
    for n in names:
        m = re.fullmatch(r"(?:Metadata_)?(\w+?)_Number_Object_Number(?:_x|_y)?", n)
        if m and m.group(1) not in COMPARTMENTS:
            found.append(m.group(1))
    return list(dict.fromkeys(found))


def key_codes(table: pa.Table, columns: Sequence[str]) -> np.ndarray:
    """One int64 per row, equal for rows whose ``columns`` are equal (a null
    is a value of its own): each column dictionary-encoded by Arrow, the
    column codes combined into one integer. Not dense (see
    :func:`group_codes`), but enough to match keys with numpy."""
    import pyarrow.compute as pc

    for name in columns:
        if name not in table.column_names:
            raise SchemaError("group-by column not in the table", column=name)
    combined = np.zeros(table.num_rows, np.int64)
    span = 1
    for name in columns:
        encoded = pc.dictionary_encode(table.column(name)).combine_chunks()
        size = len(encoded.dictionary) + 1  # the last code: null
        column = encoded.indices.fill_null(size - 1).to_numpy(zero_copy_only=False)
        if span * size >= 2**62:  # too many combinations for one integer
            _, combined = np.unique(
                np.stack([combined, column.astype(np.int64)]),
                axis=1,
                return_inverse=True,
            )
            combined = combined.astype(np.int64).ravel()
            span = int(combined.max()) + 1
            continue
        combined = combined * size + column
        span *= size
    return combined


def group_codes(
    table: pa.Table, group_by: Sequence[str]
) -> tuple[np.ndarray, list[tuple[Any, ...]]]:
    """Dense group codes (0..n-1) for ``group_by`` columns, in first-seen
    order, and the group values (a null is a value of its own).

    Each column is dictionary-encoded (Arrow), the column codes are combined
    into one integer per row and numpy finds the groups: a million rows take a
    few int64 arrays, where a hash group-by and join held several times that.
    """
    if table.num_rows == 0:
        key_codes(table, group_by)  # the columns checked all the same
        return np.zeros(0, np.int64), []
    combined = key_codes(table, group_by)
    _, first, inverse = np.unique(combined, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # groups in first-seen order
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    codes = rank[inverse.ravel()].astype(np.int64)
    heads = table.select(list(group_by)).take(pa.array(first[order]))
    values = list(zip(*(heads.column(c).to_pylist() for c in group_by), strict=True))
    return codes, values
