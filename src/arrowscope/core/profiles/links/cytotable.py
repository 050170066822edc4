"""CytoTable's image tables as links: ``source_images`` (one image per field
and channel, by image key and ``source_image_column``) and ``image_crops``
(one stored crop per object and channel, by ``Metadata_ObjectID``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..keys import KeyRoles
from .base import FieldOfView, Link, LinkedRows, table_name
from .entries import FieldEntries

#: CytoTable's label columns of ``source_images``, and the mask names they give.
MASK_NAMES = {"ome_arrow_label": "label", "ome_arrow_mask": "mask"}


def _image_column(src: Any) -> str:
    column = "ome_arrow_image" if "ome_arrow_image" in src.image_columns else None
    return column or src.default_column()


class SourceImagesLink(FieldEntries):
    """Channels and labels of each field from CytoTable's ``source_images``
    (keys compared as text: CytoTable casts them)."""

    kind = "source images"

    def __init__(self, table: Any, keys: KeyRoles) -> None:
        self.table = table
        self.keys = keys

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "table": table_name(self.table)}

    def attach(self, fovs: list[FieldOfView], rows: LinkedRows) -> list[str]:
        from ...images.image import open_source

        src = open_source(self.table)
        shared = [c for c in self.keys.image if c in src.other_columns]
        if not shared or "source_image_column" not in src.other_columns:
            return [
                f"{table_name(self.table)} has no source_image_column or "
                f"shares no image key ({', '.join(self.keys.image)})"
            ]
        column = _image_column(src)
        table = src.read_columns([*shared, "source_image_column"])
        masks = [c for c in MASK_NAMES if c in src.image_columns]
        metas = {c: src.metas(c) for c in masks}
        pos = [self.keys.image.index(c) for c in shared]
        by_key = {tuple(str(fov.key[p]) for p in pos): fov for fov in fovs}
        keys = zip(*(table.column(c).to_pylist() for c in shared), strict=True)
        names = table.column("source_image_column").to_pylist()
        for row, (key, name) in enumerate(zip(keys, names, strict=True)):
            fov = by_key.get(tuple(str(v) for v in key))
            if fov is None or not name:
                continue
            channel = str(name).removeprefix("Image_FileName_")
            if channel in fov.auxiliary:
                continue
            fov.channels[channel] = src.image(column, row)
            for mask_column in masks:  # labels by column name (image_type is null)
                mask_name = MASK_NAMES.get(mask_column, mask_column)
                # every channel's row repeats the field's labels: open one
                if mask_name not in fov.masks and metas[mask_column][row] is not None:
                    fov.masks[mask_name] = src.image(mask_column, row)
        problems = []
        for fov in fovs:
            for ch, found in fov.channels.items():
                if found is None:
                    problems.append(
                        f"no source image for field {fov.label}, channel {ch}"
                    )
            if not fov.masks:
                problems.append(f"no masks found for field {fov.label}")
        return problems


class ImageCropsLink(Link):
    """A cell's stored crop from CytoTable's ``image_crops`` table."""

    kind = "image crops"

    def __init__(self, table: Any) -> None:
        self.table = table
        self._source: Any = None
        self._index: tuple[Any, Any] | None = None
        self._object_ids: Any = None

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "table": table_name(self.table)}

    def stored_crop(self, rows: LinkedRows, row: int, channel: str) -> Any:
        if "Metadata_ObjectID" not in rows.columns:
            return None
        from ...images.image import open_source

        if self._source is None:
            self._source = open_source(self.table)
            self._object_ids = rows.read(["Metadata_ObjectID"]).column(0)
            keys = self._source.read_columns(
                ["Metadata_ObjectID", "source_image_column"]
            )
            # kept as Arrow columns and scanned per lookup (a millisecond for
            # 300k crops) rather than a Python dict of every crop
            self._index = (
                pc.cast(keys.column(0), pa.string()).combine_chunks(),
                keys.column(1).combine_chunks(),
            )
        src = self._source
        assert self._index is not None
        ids, names = self._index
        object_id = self._object_ids[row].as_py()
        if object_id is None:
            return None
        hits = pc.equal(ids, pa.scalar(str(object_id), pa.string()))
        for i in np.flatnonzero(hits.fill_null(False).to_numpy(zero_copy_only=False)):
            name = names[int(i)].as_py()
            if (
                name is not None
                and str(name).removeprefix("Image_FileName_") == channel
            ):
                return src.image(_image_column(src), int(i))
        return None
