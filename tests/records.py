"""Hand-built OME-Arrow records for tests of broken and odd files."""

from __future__ import annotations

from typing import Any


def ome_record(planes: list[dict[str, Any]] | None = None, **pixels_meta: Any) -> dict:
    """A one-image record (4x4 uint16 by default) as a plain dict.

    ``pixels_meta`` entries override the defaults; ``planes`` defaults to one
    plane holding 0..15.
    """
    pm: dict[str, Any] = {
        "type": "uint16",
        "size_t": 1,
        "size_c": 1,
        "size_z": 1,
        "size_y": 4,
        "size_x": 4,
        "channels": [],
    }
    pm.update(pixels_meta)
    return {
        "type": "ome.arrow",
        "version": "0.1.0",
        "id": "x",
        "name": "x",
        "image_type": None,
        "acquisition_datetime": None,
        "pixels_meta": pm,
        "chunk_grid": None,
        "chunks": [],
        "planes": planes if planes is not None else [plane(values=list(range(16)))],
        "masks": None,
    }


def plane(t: int = 0, c: int = 0, z: int = 0, value: int = 0, n: int = 16, values=None):
    """One plane entry: ``n`` pixels of ``value`` (or the given ``values``)."""
    return {"t": t, "c": c, "z": z, "pixels": values if values else [value] * n}
