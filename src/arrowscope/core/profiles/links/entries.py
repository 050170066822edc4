"""What a link put in a field of view, read back: a file, a remote file, a
chunked OME-Zarr channel or an opened image.

The links that fill :attr:`FieldOfView.channels` and ``masks`` when they are
attached (files named by columns or LoadData, an OME-Zarr plate, image assets,
CytoTable's source images) answer for those entries through
:class:`FieldEntries`; the profile table asks its links only.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ArrowscopeError, CorruptFileError
from ...images.formats import OME_TIFF, TABLE_FORMATS, TIFF, by_name
from .base import FieldOfView, Link

_BIOIO_LOCK = threading.Lock()


def read_plane(path: Path | Any) -> np.ndarray:
    """The first (Y, X) plane of an image file (via arrowscope, tifffile or bioio)
    or of an opened :class:`~arrowscope.core.images.image.OMEImage`."""
    from ...images.image import OMEImage, open_image

    if isinstance(path, OMEImage):
        return np.asarray(path.to_dask()[0, 0, 0])
    if hasattr(path, "read_plane"):  # a remote file or OME-Zarr channel, lazily
        return np.asarray(path.read_plane())
    fmt = by_name(path.name)
    if fmt in TABLE_FORMATS:
        img = open_image(path)
        return np.asarray(img.to_dask()[0, 0, 0])
    if fmt is TIFF:
        import tifffile

        try:
            with tifffile.TiffFile(path) as tif:
                return np.asarray(tif.pages[0].asarray())
        except (OSError, ValueError, tifffile.TiffFileError) as exc:
            raise CorruptFileError(f"cannot read the TIFF: {exc}", path=path) from exc
    try:
        from bioio import BioImage
    except ImportError as exc:  # pragma: no cover - bioio is a core dependency
        raise ArrowscopeError("reading image files needs bioio", path=path) from exc
    try:
        with _BIOIO_LOCK:  # bioio's plugin lookup is not thread-safe
            img = BioImage(path)
        data = img.get_image_data("YX", T=0, C=0, Z=0)
    except Exception as exc:  # bioio raises many unrelated types for bad files
        raise CorruptFileError(f"cannot read the image: {exc}", path=path) from exc
    return np.asarray(data)


def plane_shape(path: Any) -> tuple[tuple[int, int], np.dtype[Any]]:
    """(Y, X) and dtype of an image file (or an opened image), from its header
    where possible."""
    from ...images.image import OMEImage

    if isinstance(path, OMEImage):
        return (int(path.shape[-2]), int(path.shape[-1])), path.dtype
    if hasattr(path, "plane_shape"):
        return path.plane_shape()  # type: ignore[no-any-return]
    if by_name(path.name) in (TIFF, OME_TIFF):
        import tifffile

        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            return (int(page.shape[-2]), int(page.shape[-1])), np.dtype(page.dtype)
    plane = read_plane(path)
    return plane.shape[-2:], plane.dtype  # type: ignore[return-value]


def entry_image(entry: Any, name: str) -> Any:
    """A field's entry as a lazy :class:`~arrowscope.core.images.image.OMEImage`
    (an opened image as it is; a file read when its pixels are asked for)."""
    from ...images.image import OMEImage
    from ...images.metadata import ImageMeta
    from ...images.pixels import ArrayPixels

    if isinstance(entry, OMEImage):
        return entry
    if hasattr(entry, "image") and callable(entry.image):  # an OME-Zarr channel
        return entry.image()
    (Y, X), dtype = plane_shape(entry)
    meta = ImageMeta(shape=(1, 1, 1, Y, X), dtype=dtype, name=name)
    return OMEImage(meta, ArrayPixels(lambda: read_plane(entry)[None, None, None]))


class FieldEntries(Link):
    """A link that puts each field's images in the field when it is attached,
    and reads them back from there."""

    def channel_image(self, fov: FieldOfView, channel: str) -> Any:
        entry = fov.channels.get(channel)
        return None if entry is None else entry_image(entry, channel)

    def channel_plane(self, fov: FieldOfView, channel: str) -> np.ndarray | None:
        entry = fov.channels.get(channel)
        return None if entry is None else read_plane(entry)

    def mask_plane(self, fov: FieldOfView, name: str) -> np.ndarray | None:
        entry = fov.masks.get(name)
        return None if entry is None else read_plane(entry)

    def plane_shape(self, fov: FieldOfView) -> tuple[int, int] | None:
        for entry in [*fov.channels.values(), *fov.masks.values()]:
            if entry is not None:
                return plane_shape(entry)[0]
        return None

    def field_dtype(self, fov: FieldOfView, channel: str) -> np.dtype[Any] | None:
        entry = fov.channels.get(channel)
        return None if entry is None else plane_shape(entry)[1]
