"""Pixel readers: what decodes a TCZYX region of one image — a table cell, a
channel or a crop of another reader, a numpy array loaded on first read, a
padded stack of a column's images — and the dask blocks that ask them.

Every reader decodes only the stored planes or chunks under the region asked.
"""

from __future__ import annotations

import warnings
from typing import Any, Protocol

import numpy as np

from ..errors import ArrowscopeError, ImageNotFoundError
from .codec import RecordPixels, Region
from .metadata import ImageMeta
from .sources import TableSource


class PixelReader(Protocol):
    """Something that decodes a TCZYX region of one image."""

    def read(self, region: Region) -> np.ndarray: ...


class NestedReader:
    """Reads one table cell; the row group is decoded once and cached."""

    def __init__(
        self, source: TableSource, column: str, row: int, meta: ImageMeta
    ) -> None:
        self.source = source
        self.column = column
        self.row = row
        self.meta = meta

    def read(self, region: Region) -> np.ndarray:
        group, offset = self.source.locate(self.row)
        cell = self.source.read_group(group, self.column, ("planes", "chunks")).slice(
            offset, 1
        )
        where = {"path": self.source.path, "column": self.column, "row": self.row}
        if not cell.is_valid()[0].as_py():
            raise ImageNotFoundError("this row holds no image", **where)
        return RecordPixels(cell, self.meta, where).read(region)


class BlankOnError:
    """A pixel reader that turns decode errors into zeros and one warning."""

    def __init__(self, reader: PixelReader) -> None:
        self.reader = reader
        self.source = getattr(reader, "source", None)
        self.warned = False

    def read(self, region: Region) -> np.ndarray:
        try:
            return self.reader.read(region)
        except ArrowscopeError as exc:
            if not self.warned:
                self.warned = True
                warnings.warn(f"{exc} (shown blank)", stacklevel=2)
            meta = getattr(self.reader, "meta", None)
            dtype = meta.dtype if meta is not None else np.uint8
            return np.zeros(tuple(b - a for a, b in region), dtype=dtype)


def read_block(
    reader: PixelReader, block_info: dict[Any, Any] | None = None
) -> np.ndarray:
    assert block_info is not None
    region = tuple(tuple(loc) for loc in block_info[None]["array-location"])
    return reader.read(region)


def block_sizes(size: int, step: int) -> tuple[int, ...]:
    step = max(1, min(step, size))
    return tuple(min(step, size - i) for i in range(0, size, step))


class ChannelReader:
    """Reads one channel of an image from the image's own reader."""

    def __init__(self, base: PixelReader, c: int) -> None:
        self.base = base
        self.source = getattr(base, "source", None)
        self.c = c

    def read(self, region: Region) -> np.ndarray:
        t, (c0, c1), z, y, x = region
        return self.base.read((t, (self.c + c0, self.c + c1), z, y, x))


class OffsetReader:
    """Reads a region of a sub-image from the image it was cut from."""

    def __init__(self, base: PixelReader, dy: int, dx: int) -> None:
        self.base = base
        self.source = getattr(base, "source", None)
        self.dy, self.dx = dy, dx

    def read(self, region: Region) -> np.ndarray:
        t, c, z, (y0, y1), (x0, x1) = region
        shifted = (t, c, z, (y0 + self.dy, y1 + self.dy), (x0 + self.dx, x1 + self.dx))
        return self.base.read(shifted)


class ArrayPixels:
    """Pixels of a TCZYX numpy array, loaded on first read (e.g. from a file)."""

    def __init__(self, load: Any) -> None:
        self._load = load
        self._array: np.ndarray | None = None

    def read(self, region: Region) -> np.ndarray:
        if self._array is None:
            self._array = np.asarray(self._load())
        return self._array[tuple(slice(a, b) for a, b in region)].copy()


class StackReader:
    """Reads rows of one image column into a padded (R, T, C, Z, Y, X) stack."""

    def __init__(
        self,
        source: Any,  # an OMESource
        column: str,
        metas: list[ImageMeta | None],
        dtype: np.dtype[Any],
    ) -> None:
        self.source = source
        self.column = column
        self.metas = metas
        self.dtype = dtype
        self._warned: set[int] = set()

    def read_block(self, block_info: dict[Any, Any] | None = None) -> np.ndarray:
        assert block_info is not None
        loc = block_info[None]["array-location"]
        (r0, r1), *region = loc
        out = np.zeros(tuple(b - a for a, b in loc), dtype=self.dtype)
        for row in range(r0, r1):
            meta = self.metas[row]
            if meta is None:
                continue  # a row without an image stays blank
            # Clip the padded region to this row's true extent.
            clipped = [
                (a, min(b, n)) for (a, b), n in zip(region, meta.shape, strict=True)
            ]
            if any(a >= b for a, b in clipped):
                continue
            try:
                pixels = self.source.image(self.column, row, rgb=meta.rgb).read(
                    tuple(clipped)
                )
            except ArrowscopeError as exc:
                if row not in self._warned:
                    self._warned.add(row)
                    warnings.warn(f"{exc} (shown blank)", stacklevel=2)
                continue
            out[(row - r0, *(slice(0, b - a) for a, b in clipped))] = pixels
        return out
