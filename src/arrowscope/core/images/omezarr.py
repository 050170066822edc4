"""OME-Zarr images and HCS plates, read lazily through the store layer's
filesystems (local, or any ``pyarrow.fs`` filesystem: S3, GCS, HTTP).

zarr-python decodes the chunks (every codec and layout it knows, NGFF 0.4
and 0.5); :class:`ArrowZarrStore` gives it the bytes, each key one ranged
read, so opening reads the group and array metadata only and a plane reads
only the chunks under it. Resolution levels become the image's ``levels``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow.fs as pafs

from ..errors import (
    ArrowscopeError,
    CorruptFileError,
    NotOmeArrowError,
    UnsupportedError,
)
from .locations import LocationError, posix_relative
from .metadata import Channel, ImageMeta

if TYPE_CHECKING:  # image.py imports dask: only when an image is opened
    from .codec import Region
    from .image import OMEImage

DIMS = "tczyx"


def _zarr() -> Any:
    try:
        import zarr
    except ImportError as exc:  # pragma: no cover - zarr comes with the io extra
        raise UnsupportedError(
            "reading OME-Zarr needs the 'zarr' package",
            hint="pip install 'arrowscope[io]'",
        ) from exc
    return zarr


def _store_class() -> type:
    from zarr.abc.store import (
        OffsetByteRequest,
        RangeByteRequest,
        Store,
        SuffixByteRequest,
    )

    class ArrowZarrStore(Store):
        """A read-only zarr store over a pyarrow filesystem folder."""

        supports_writes = False
        supports_deletes = False
        supports_partial_writes = False
        supports_listing = True

        def __init__(self, fs: pafs.FileSystem, root: str) -> None:
            super().__init__(read_only=True)
            self.fs = fs
            self.root = root.rstrip("/")

        def __eq__(self, other: object) -> bool:
            return (
                isinstance(other, ArrowZarrStore)
                and other.fs is self.fs
                and other.root == self.root
            )

        def __hash__(self) -> int:
            return hash((id(self.fs), self.root))

        def _path(self, key: str) -> str:
            """The store's ``key`` under its root; a key leaving the root (a
            ``..`` from a plate's or a dataset's path) is refused."""
            if not key:
                return self.root
            return f"{self.root}/{posix_relative(key)}"

        def _read(self, key: str, byte_range: Any) -> bytes | None:
            path = self._path(key)
            try:
                handle = self.fs.open_input_file(path)
            except FileNotFoundError:
                return None
            except OSError as exc:  # S3 says "Path does not exist" as OSError
                if "does not exist" in str(exc) or "not found" in str(exc).lower():
                    return None
                raise
            with handle:
                if byte_range is None:
                    return bytes(handle.read())
                if isinstance(byte_range, RangeByteRequest):
                    n = byte_range.end - byte_range.start
                    return bytes(handle.read_at(n, byte_range.start))
                if isinstance(byte_range, OffsetByteRequest):
                    handle.seek(byte_range.offset)
                    return bytes(handle.read())
                if isinstance(byte_range, SuffixByteRequest):
                    size = handle.size()
                    start = max(0, size - byte_range.suffix)
                    return bytes(handle.read_at(size - start, start))
                raise TypeError(f"unknown byte range {byte_range!r}")

        async def get(self, key: str, prototype: Any, byte_range: Any = None) -> Any:
            data = await asyncio.to_thread(self._read, key, byte_range)
            return None if data is None else prototype.buffer.from_bytes(data)

        async def get_partial_values(
            self, prototype: Any, key_ranges: Iterable[tuple[str, Any]]
        ) -> list[Any]:
            return [await self.get(k, prototype, r) for k, r in key_ranges]

        async def exists(self, key: str) -> bool:
            info = await asyncio.to_thread(self.fs.get_file_info, self._path(key))
            return bool(info.type != pafs.FileType.NotFound)

        async def set(self, key: str, value: Any) -> None:
            raise PermissionError("this OME-Zarr store is read-only")

        async def delete(self, key: str) -> None:
            raise PermissionError("this OME-Zarr store is read-only")

        async def list(self) -> AsyncIterator[str]:
            async for key in self.list_prefix(""):
                yield key

        async def list_prefix(self, prefix: str) -> AsyncIterator[str]:
            base = self._path(prefix.strip("/"))
            selector = pafs.FileSelector(base, recursive=True, allow_not_found=True)
            infos = await asyncio.to_thread(self.fs.get_file_info, selector)
            for info in infos:
                if info.type == pafs.FileType.File:
                    yield info.path[len(self.root) + 1 :]

        async def list_dir(self, prefix: str) -> AsyncIterator[str]:
            base = self._path(prefix.strip("/"))
            selector = pafs.FileSelector(base, allow_not_found=True)
            infos = await asyncio.to_thread(self.fs.get_file_info, selector)
            for info in infos:
                yield info.base_name

    return ArrowZarrStore


_STORE: type | None = None


def zarr_store(location: str | Path, filesystem: pafs.FileSystem | None = None) -> Any:
    """A read-only zarr store for a local or remote folder (a path or URI)."""
    global _STORE
    from .stores import filesystem_of

    if _STORE is None:
        _STORE = _store_class()
    fs, path = filesystem_of(location, filesystem)
    if fs is None:
        fs, path = pafs.LocalFileSystem(), str(Path(path).resolve())
    return _STORE(fs, path)


def _attributes(location: str | Path, store: Any) -> tuple[Any, dict[str, Any]]:
    """The root group and its NGFF attributes (0.5's ``ome`` key or 0.4's top level)."""
    zarr = _zarr()
    try:
        group = zarr.open_group(store, mode="r")
    except FileNotFoundError as exc:
        raise CorruptFileError(
            "no OME-Zarr group here (no zarr.json or .zgroup)", path=str(location)
        ) from exc
    except Exception as exc:  # noqa: BLE001 - zarr raises many kinds for bad metadata
        raise CorruptFileError(
            f"cannot read the OME-Zarr metadata: {exc}", path=str(location)
        ) from exc
    attrs = dict(group.attrs.asdict())
    return group, dict(attrs.get("ome", attrs))


def _axes(multiscale: dict[str, Any], ndim: int) -> list[str]:
    axes = multiscale.get("axes")
    if axes is None:  # NGFF 0.1-0.3: always tczyx, trailing
        return list(DIMS[-ndim:])
    return [str(a["name"] if isinstance(a, dict) else a).lower() for a in axes]


def _scale(dataset: dict[str, Any]) -> list[float] | None:
    for transform in dataset.get("coordinateTransformations", []):
        if transform.get("type") == "scale":
            return [float(v) for v in transform["scale"]]
    return None


def _channels(ome: dict[str, Any], count: int) -> tuple[Channel, ...]:
    listed = (ome.get("omero") or {}).get("channels") or []
    out = []
    for i in range(count):
        spec = listed[i] if i < len(listed) else {}
        name = str(spec.get("label") or f"C{i}")
        color = spec.get("color")
        try:
            packed = int(str(color), 16) << 8 | 0xFF if color else None
        except ValueError:
            packed = None
        out.append(Channel(name, color=packed))
    return tuple(out)


#: the most one read of an OME-Zarr region may allocate (a plane of a
#: 46,000 x 46,000 uint16 image); a larger declared plane is refused
READ_BUDGET = 4 << 30


class _ZarrPixels:
    """Reads TCZYX regions from a zarr array whose axes are ``axes``; a
    region's size is checked against :data:`READ_BUDGET` before anything is
    allocated, and a broken chunk is an error naming the image."""

    def __init__(self, array: Any, axes: list[str], where: str) -> None:
        self.array = array
        self.axes = axes
        self.where = where
        self._lock = threading.Lock()

    def read(self, region: Region) -> np.ndarray:
        by_axis = dict(zip(DIMS, region, strict=True))
        index = tuple(slice(*by_axis[a]) for a in self.axes)
        count = 1
        for a, b in region:
            count *= max(0, int(b) - int(a))
        need = count * self.array.dtype.itemsize
        if need > READ_BUDGET:
            raise CorruptFileError(
                f"a read of {'x'.join(str(b - a) for a, b in region)} pixels "
                f"({need / 2**30:.1f} GiB) is more than arrowscope reads at once "
                f"({READ_BUDGET / 2**30:.0f} GiB); nothing was allocated",
                path=self.where,
                hint="is the declared shape right? convert the image with "
                "smaller chunks or planes",
            )
        try:
            data = np.asarray(self.array[index])
        except ArrowscopeError:
            raise
        except Exception as exc:  # noqa: BLE001 - codecs raise zlib.error, ValueError…
            raise CorruptFileError(
                f"a chunk cannot be read ({type(exc).__name__}: {exc})",
                path=self.where,
                hint="the file may be truncated or corrupt",
            ) from exc
        for k, axis in enumerate(DIMS):  # insert the axes the array lacks
            if axis not in self.axes:
                data = np.expand_dims(data, k)
        return data


def open_ome_zarr(
    location: str | Path,
    filesystem: pafs.FileSystem | None = None,
    *,
    shown: str | None = None,
) -> OMEImage:
    """An OME-Zarr image (NGFF 0.4 or 0.5) as a lazy :class:`OMEImage`.

    Reads the group and array metadata only; its reduced resolutions become
    ``levels``. A plate or a folder of images is refused with what to do;
    metadata of the wrong shape is an error naming the image.
    ``shown``: the location to name in errors (a URI, not a bucket key).
    """
    where = shown or str(location)
    try:
        return _open_ome_zarr(location, filesystem, where)
    except ArrowscopeError:
        raise
    except (KeyError, TypeError, AttributeError, ValueError, IndexError) as exc:
        raise CorruptFileError(
            f"its OME-Zarr metadata is malformed ({type(exc).__name__}: {exc})",
            path=where,
        ) from exc


def _open_ome_zarr(
    location: str | Path, filesystem: pafs.FileSystem | None, where: str
) -> OMEImage:
    from .image import OMEImage

    store = zarr_store(location, filesystem)
    group, ome = _attributes(where, store)
    if "plate" in ome:
        raise NotOmeArrowError(
            "is an OME-Zarr HCS plate, not one image",
            path=where,
            hint="open it as the images of a profile table "
            "(--image-table PLATE.zarr), or open one field: PLATE.zarr/A/1/0",
        )
    multiscales = ome.get("multiscales")
    if not multiscales:
        raise NotOmeArrowError(
            "is a zarr group without OME-Zarr multiscales metadata",
            path=where,
        )
    multiscale = multiscales[0]
    datasets = multiscale.get("datasets") or []
    images: list[OMEImage] = []
    for dataset in datasets:
        array = _level(group, dataset, where)
        axes = _axes(multiscale, array.ndim)
        unknown = [a for a in axes if a not in DIMS]
        if unknown or len(axes) != array.ndim:
            raise UnsupportedError(
                f"axes {axes} are not a subset of t, c, z, y, x",
                path=where,
            )
        sizes = dict(zip(axes, array.shape, strict=True))
        shape = tuple(int(sizes.get(a, 1)) for a in DIMS)
        chunks = dict(zip(axes, array.chunks, strict=True))
        if not images:
            scale = dict(zip(axes, _scale(dataset) or [], strict=False))
            units = {
                str(a.get("name")).lower(): a.get("unit")
                for a in multiscale.get("axes") or []
                if isinstance(a, dict)
            }
            meta = ImageMeta(
                shape=shape,  # type: ignore[arg-type]
                dtype=np.dtype(array.dtype),
                name=multiscale.get("name") or _leaf(location),
                channels=_channels(ome, shape[1]),
                physical_size=tuple(scale.get(a) for a in "zyx"),  # type: ignore[arg-type]
                units=tuple(units.get(a) for a in "zyx"),  # type: ignore[arg-type]
            )
        else:
            from dataclasses import replace

            meta = replace(images[0].meta, shape=shape)  # type: ignore[arg-type]
        images.append(
            OMEImage(
                meta,
                _ZarrPixels(array, axes, where),
                chunk_zyx=(
                    int(chunks.get("z", 1)),
                    int(chunks.get("y", shape[3])),
                    int(chunks.get("x", shape[4])),
                ),
                column=str(dataset["path"]),
            )
        )
    if not images:
        raise CorruptFileError("its multiscales list no datasets", path=where)
    images[0].levels = images[1:]
    return images[0]


def _level(group: Any, dataset: Any, where: str) -> Any:
    """A resolution level's array, its metadata checked: a path inside the
    image, a numeric dtype, whole non-negative sizes."""
    try:
        path = posix_relative(str(dataset["path"]))
    except (LocationError, KeyError, TypeError) as exc:
        raise CorruptFileError(
            f"names a resolution level that is not inside the image ({exc})",
            path=where,
        ) from exc
    try:
        array = group[path]
    except KeyError as exc:
        raise CorruptFileError(
            f"names resolution level {path!r}, which is missing", path=where
        ) from exc
    except ArrowscopeError:
        raise
    except Exception as exc:  # noqa: BLE001 - zarr raises many kinds for bad metadata
        raise CorruptFileError(
            f"resolution level {path!r} has unreadable array metadata "
            f"({type(exc).__name__}: {exc})",
            path=where,
        ) from exc
    try:
        dtype = np.dtype(array.dtype)
        shape = tuple(int(n) for n in array.shape)
    except Exception as exc:  # noqa: BLE001 - a dtype numpy cannot name
        raise UnsupportedError(
            f"resolution level {path!r} has an unusable dtype or shape ({exc})",
            path=where,
        ) from exc
    if dtype.kind not in "biuf":
        raise UnsupportedError(
            f"resolution level {path!r} stores {dtype} values, not numbers",
            path=where,
            hint="arrowscope shows bool, integer and float images",
        )
    if any(n < 0 for n in shape):
        raise CorruptFileError(
            f"resolution level {path!r} declares a negative size {shape}", path=where
        )
    return array


def _leaf(location: str | Path) -> str:
    return str(location).split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]


@dataclass
class OmeZarrPlate:
    """An OME-Zarr HCS plate: wells by name, each well's fields, opened lazily
    (the plate's metadata at open; a well's when one of its fields is asked)."""

    location: str
    filesystem: Any = None

    def __post_init__(self) -> None:
        self._store = zarr_store(self.location, self.filesystem)
        _, ome = _attributes(self.location, self._store)
        plate = ome.get("plate")
        if not plate:
            raise NotOmeArrowError(
                "is not an OME-Zarr HCS plate (no plate metadata)", path=self.location
            )
        self.name = plate.get("name")
        #: well path ("A/1") by its normalized name (row letter, column number)
        self.wells: dict[tuple[str, int], str] = {}
        #: well paths the plate lists that leave it (``..``, absolute, URIs)
        self.refused: list[str] = []
        for well in plate.get("wells", []):
            try:
                path = posix_relative(str(well["path"]))
            except (LocationError, KeyError, TypeError) as exc:
                self.refused.append(f"well {well!r}: {exc}")
                continue
            row, _, column = path.partition("/")
            key = _well_key(row, column)
            if key is not None:
                self.wells[key] = path
        self._fields: dict[str, list[str]] = {}
        self._lock = threading.Lock()

    def well_path(self, well: str) -> str | None:
        """The plate's path of a well named ``B03``, ``B3``, ``B/3`` or ``B_03``."""
        text = str(well).strip().replace("/", "").replace("_", "").replace("-", "")
        head = text.rstrip("0123456789")
        return self.wells.get(_well_key(head, text[len(head) :]) or ("", -1))

    def fields(self, well_path: str) -> list[str]:
        """The field (image) paths of a well, in the well's order."""
        with self._lock:
            if well_path not in self._fields:
                loc = _join(self.location, well_path)
                _, ome = _attributes(loc, _sub_store(self._store, well_path))
                images = (ome.get("well") or {}).get("images") or []
                fields = []
                for image in images:
                    try:
                        field = posix_relative(str(image["path"]))
                    except (LocationError, KeyError, TypeError) as exc:
                        raise CorruptFileError(
                            f"well {well_path} lists a field outside the plate "
                            f"({exc}); nothing of it was read",
                            path=self.location,
                        ) from exc
                    fields.append(f"{well_path}/{field}")
                self._fields[well_path] = fields
            return self._fields[well_path]

    def field_location(self, field_path: str) -> str:
        return _join(self.location, field_path)

    def field_store(self, field_path: str) -> tuple[pafs.FileSystem, str]:
        """The filesystem and path of a field, on the plate's own connection."""
        return self._store.fs, f"{self._store.root}/{field_path}"

    def open_field(self, field_path: str) -> OMEImage:
        fs, path = self.field_store(field_path)
        return open_ome_zarr(path, fs)


def _well_key(row: str, column: str) -> tuple[str, int] | None:
    try:
        return row.upper(), int(column)
    except ValueError:
        return None


def _sub_store(store: Any, path: str) -> Any:
    return type(store)(store.fs, f"{store.root}/{path}")


def _join(location: str, path: str) -> str:
    base, sep, query = str(location).partition("?")
    return f"{base.rstrip('/')}/{path}{sep}{query}"
