"""A linked OME-Parquet image table as a link: one field of view per row of
the image table, matched by shared key columns (``arrowscope.images`` in the
profile file's metadata, or ``images=`` / ``--images``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..keys import KeyRoles
from .base import FieldOfView, Link, LinkedRows, table_name


def image_column(src: Any) -> str | None:
    for col in src.image_columns:
        if col not in label_columns(src):
            return col
    return None


def label_columns(src: Any) -> list[str]:
    out = []
    for col in src.image_columns:
        metas = [m for m in src.metas(col) if m is not None]
        low = col.lower()
        if metas and (
            (metas[0].image_type or "").lower()
            in ("label", "labels", "mask", "segmentation")
            or low.endswith("_labl")
            or "mask" in low
        ):
            out.append(col)
    return out


class ImageTableLink(Link):
    """Fields of view from an OME-Parquet table (local path or URI)."""

    kind = "image table"

    def __init__(
        self, location: Path | str, keys: KeyRoles, table_keys: list[str] | None = None
    ) -> None:
        self.location = location
        self.keys = keys
        #: the keys the link names (``arrowscope.images``), else the shared ones
        self.table_keys = list(table_keys or [])
        self._source: Any = None
        self._row: dict[tuple[Any, ...], int] = {}

    def source(self) -> Any:
        """The image table, opened once (footer only)."""
        if self._source is None:
            from ...images.image import open_source

            self._source = open_source(self.location)
        return self._source

    def options(self) -> dict[str, Any]:
        return {"images": str(self.location)}

    def inputs(self) -> list[Path]:
        return [self.location] if isinstance(self.location, Path) else []

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "table": str(self.location),
            "keys": self.table_keys or None,
        }

    def attach(self, fovs: list[FieldOfView], rows: LinkedRows) -> list[str]:
        src = self.source()
        shared = self.table_keys or [
            c for c in self.keys.image if c in src.other_columns
        ]
        if not shared:
            return [
                f"{table_name(self.location)} shares no key column with the "
                f"profiles ({', '.join(self.keys.image)})"
            ]
        keyed = src.read_columns(shared)
        where = {
            tuple(vals): i
            for i, vals in enumerate(
                zip(*(keyed.column(c).to_pylist() for c in shared), strict=True)
            )
        }
        pos = [self.keys.image.index(c) for c in shared if c in self.keys.image]
        problems = []
        self._row = {}
        for fov in fovs:
            at = where.get(tuple(fov.key[p] for p in pos))
            if at is None:
                problems.append(
                    f"field {fov.label} is not in {table_name(self.location)}"
                )
            else:
                self._row[fov.key] = at
        return problems

    def covers(self, fov: FieldOfView) -> bool:
        return fov.key in self._row

    def _image(self, fov: FieldOfView) -> Any:
        at = self._row.get(fov.key)
        if at is None:
            return None
        src = self.source()
        return src.image(image_column(src), at)

    def channel_names(self) -> list[str] | None:
        src = self.source()
        col = image_column(src)
        return src.image(col, 0).channel_names if col else []

    def mask_names(self) -> list[str]:
        return label_columns(self.source())

    def channel_image(self, fov: FieldOfView, channel: str) -> Any:
        img = self._image(fov)
        if img is None or channel not in img.channel_names:
            return None  # not this link's channel: the table asks the next one
        return img.channel(img.channel_names.index(channel))

    def channel_plane(self, fov: FieldOfView, channel: str) -> np.ndarray | None:
        img = self._image(fov)
        if img is None or channel not in img.channel_names:
            return None
        c = img.channel_names.index(channel)
        return np.asarray(img.to_dask()[0, c, 0])

    def mask_plane(self, fov: FieldOfView, name: str) -> np.ndarray | None:
        at = self._row.get(fov.key)
        src = self.source()
        if at is None or name not in label_columns(src):
            return None
        img = src.image(name, at)
        return np.asarray(img.to_dask()[0, 0, 0]).astype(np.int32)

    def plane_shape(self, fov: FieldOfView) -> tuple[int, int] | None:
        img = self._image(fov)
        return None if img is None else tuple(img.shape[-2:])  # type: ignore[return-value]

    def channel_dtype(self, channel: str) -> np.dtype[Any] | None:
        src = self.source()
        return np.dtype(src.image(image_column(src), 0).dtype)
