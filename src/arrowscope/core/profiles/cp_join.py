"""How CellProfiler's per-object tables become one row per object, as
CytoTable joins them (the same for the SQLite and the CSV layouts), and how
CSV columns are named as CytoTable names them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

IMAGE_NUMBER = "Metadata_ImageNumber"
#: the image columns that come along: how rows find their images and wells
_IMAGE_LINKS = re.compile(
    r"^(FileName|PathName|URL|ObjectsFileName|ObjectsPathName|Metadata)_"
)
#: CytoTable joins rows of the first compartment present to the others
_BASES = ("Cytoplasm", "Cells", "Nuclei")


# -- the join, the same for both layouts ----------------------------------------
@dataclass
class Join:
    """How compartment tables become one row per object of ``base``."""

    base: str
    #: compartment → (the base's parent column, the compartment's object column)
    parents: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: compartments that could not be joined, with why
    left_out: dict[str, str] = field(default_factory=dict)


def plan_join(columns: dict[str, list[str]], object_column: dict[str, str]) -> Join:
    """Pick the base compartment and the parent links (CytoTable's joins).

    ``columns``: each compartment's (output-named) columns; ``object_column``:
    each compartment's object number column (output-named).
    """
    base = next((b for b in _BASES if b in columns), next(iter(columns)))
    join = Join(base)
    for comp in columns:
        if comp == base:
            continue
        parent = next(
            (
                c
                for c in columns[base]
                if c.endswith(f"{base}_Parent_{comp}")  # Metadata_… in CSV exports
            ),
            None,
        )
        if parent is None or comp not in object_column:
            join.left_out[comp] = (
                f"no {base}_Parent_{comp} column links its objects to {base} rows"
            )
            continue
        join.parents[comp] = (parent, object_column[comp])
    return join


def join_tables(
    image: pa.Table, parts: dict[str, pa.Table], join: Join, schema: pa.Schema
) -> pa.Table:
    """One row per base object, in (image, object) order: its parents' columns
    (left joins: a missing parent leaves nulls) and its image's columns."""
    base = parts[join.base]
    order = "__arrowscope_row"
    out = base.append_column(order, pa.array(np.arange(base.num_rows), pa.int64()))
    for comp, (parent, obj) in join.parents.items():
        right = parts[comp]
        right = right.append_column("__key", right.column(obj))
        # the parent's own object number is the join (CytoTable drops it)
        taken = set(out.column_names)
        right = right.select(
            [c for c in right.column_names if c == IMAGE_NUMBER or c not in taken]
        )
        right = right.rename_columns(
            ["__image" if c == IMAGE_NUMBER else c for c in right.column_names]
        )
        out = out.join(
            right,
            keys=[IMAGE_NUMBER, parent],
            right_keys=["__image", "__key"],
            join_type="left outer",
            use_threads=False,
        )
    if image.num_rows:
        image = image.rename_columns(
            ["__image" if c == IMAGE_NUMBER else c for c in image.column_names]
        )
        out = out.join(
            image,
            keys=[IMAGE_NUMBER],
            right_keys=["__image"],
            join_type="left outer",
            use_threads=False,
        )
    out = out.take(pc.sort_indices(out.column(order)))
    have = set(out.column_names)
    missing = [f for f in schema if f.name not in have]
    for f in missing:  # an image table without rows for these images
        out = out.append_column(f, pa.nulls(out.num_rows, f.type))
    return out.select(schema.names).cast(schema)


#: CytoTable's cellprofiler_csv identifying columns
_CSV_IDENTIFYING = (
    "ImageNumber",
    "ObjectNumber",
    "Metadata_Well",
    "Metadata_Plate",
    "Parent_Cells",
    "Parent_Nuclei",
)


def cytotable_name(column: str, group: str) -> str:
    """A CSV column renamed as CytoTable's ``cellprofiler_csv`` preset renames
    it (``group``: ``Image`` or the compartment)."""
    ident = column in _CSV_IDENTIFYING
    if not ident and not column.startswith(group):
        return f"{group}_{column}"
    if ident and column.startswith(group):
        return f"Metadata_{column}"
    if (
        ident
        and not column.startswith("Metadata_")
        and "Image" not in column
        and not any(k in column for k in ("ObjectNumber", "TableNumber"))
    ):
        return f"Metadata_{group}_{column}"
    if ident and not column.startswith("Metadata_"):
        return f"Metadata_{column}"
    return column
