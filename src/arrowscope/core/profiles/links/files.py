"""CellProfiler's file columns as a link: ``Image_FileName_<ch>`` (with
``Image_PathName_<ch>``) or ``Image_URL_<ch>`` name each field's channel files,
``Image_ObjectsFileName_<c>`` its masks; CellProfiler's ``<stem>_Mask<c>``
files are found beside the images.

Files are found under the roots only (the table's folder, the image and mask
roots given), locally or in object storage (``s3://``, ``gs://``,
``https://``): a table cannot make the viewer open an arbitrary file. Remote
files are read lazily through pyarrow's filesystems: a plane fetches the TIFF's
header and that plane's strips, never the whole object; a prefix is listed
only when bare file names must be matched, once per root.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs

from ...errors import CorruptFileError
from ...images.formats import is_zarr_name
from ...images.locations import (
    Location,
    LocationError,
    parse,
    parse_table_value,
    within_any,
)
from ..keys import IMAGE_SUFFIXES, KeyRoles
from .base import FieldOfView, LinkedRows, leaf_name
from .entries import FieldEntries
from .omezarr import zarr_channel


class FileIndex:
    """Finds files by name under some folders (one directory walk, on demand).

    Only files under the roots are returned: a table naming an absolute path
    or ``../..`` cannot make the viewer open an arbitrary local file. Such a
    path is recorded in :attr:`refused` (and followed only when
    ``allow_outside=True``, an explicit opt-in).
    """

    def __init__(self, roots: Iterable[Path], *, allow_outside: bool = False) -> None:
        self.roots = [Path(r) for r in roots if r and Path(r).is_dir()]
        self._real_roots = [r.resolve() for r in self.roots]
        self.allow_outside = allow_outside
        #: Paths named by the table that exist outside every root (not followed).
        self.refused: list[Path] = []
        self._by_name: dict[str, Path] | None = None
        self._masks: dict[str, dict[str, Path]] = {}
        self._lock = threading.Lock()

    def _index(self) -> dict[str, Path]:
        with self._lock:
            if self._by_name is None:
                self._by_name = {}
                for root in self.roots:
                    for p in sorted(_walk(root)):
                        self._by_name.setdefault(p.name, p)
                # masks by image stem, built in the same pass: looking them up
                # per field of view would rescan every file name each time
                for name, p in self._by_name.items():
                    stem, sep, rest = name.rpartition("_Mask")
                    if sep and p.suffix.lower() in (".tif", ".tiff", ".png"):
                        self._masks.setdefault(stem, {})[rest.split(".")[0]] = p
            return self._by_name

    def inside(self, path: Path) -> bool:
        """Whether ``path`` (symlinks resolved) lies under one of the roots."""
        real = path.resolve()
        return any(real.is_relative_to(r) for r in self._real_roots)

    def _accept(self, path: Path) -> Path | None:
        if not (path.is_file() or (path.is_dir() and is_zarr_name(path.name))):
            return None
        if self.allow_outside or self.inside(path):
            return path
        self.refused.append(path)
        return None

    def find(self, name: str, folder: str | None = None) -> Path | None:
        """``folder/name`` or ``root/name`` if it exists under a root, else a file
        named like ``name``'s last part anywhere under a root."""
        candidates = []
        if folder:
            # file: URLs decoded, Windows separators as separators; a folder
            # that cannot be normalised names nothing
            with contextlib.suppress(LocationError, ValueError):
                candidates.append(parse_table_value(folder).path / name)
        if Path(name).is_absolute():
            candidates.append(Path(name))
        candidates += [root / name for root in self.roots]
        for candidate in dict.fromkeys(candidates):  # root / absolute == absolute
            found = self._accept(candidate)
            if found is not None:
                return found
        hit = self._index().get(leaf_name(name))
        return None if hit is None else self._accept(hit)

    def masks_for(self, stem: str) -> dict[str, Path]:
        """CellProfiler masks ``<stem>_Mask<Compartment>.tif[f]``, by compartment."""
        self._index()
        return dict(self._masks.get(stem, {}))


def _walk(root: Path) -> Iterable[Path]:
    """Files and OME-Zarr folders under ``root`` (not the chunks inside a zarr)."""
    for folder, dirs, names in os.walk(root):
        zarrs = [d for d in dirs if is_zarr_name(d)]
        dirs[:] = [d for d in dirs if not is_zarr_name(d)]
        for name in [*names, *zarrs]:
            yield Path(folder, name)


_AUXILIARY_NAME = re.compile(r"illum|outline|overlay|mask|label", re.IGNORECASE)
#: Suffixes of files that hold a microscope channel image.
CHANNEL_SUFFIXES = (
    ".tif",
    ".tiff",
    ".png",
    ".jpg",
    ".jpeg",
    ".bmp",
    ".czi",
    ".nd2",
    ".zarr",
    ".zarr/",
)


def is_auxiliary(channel: str, names: Sequence[Any]) -> bool:
    """Whether an ``Image_FileName_<channel>`` column names no microscope channel.

    CellProfiler tables also name illumination functions (``.npy``,
    ``IllumDNA``) and outline or overlay images there; those are reported
    apart, never as missing channel images.
    """
    if _AUXILIARY_NAME.search(channel):
        return True
    values = [str(v).lower() for v in names if v]
    return bool(values) and not any(v.endswith(CHANNEL_SUFFIXES) for v in values)


def stem(name: str) -> str:
    base = leaf_name(name)
    for suf in sorted(IMAGE_SUFFIXES, key=len, reverse=True):
        if base.lower().endswith(suf):
            return base[: -len(suf)]
    return Path(base).stem


# -- files in object storage ------------------------------------------------------
@dataclass(frozen=True)
class RemoteFile:
    """An image file in object storage, read lazily through a pyarrow
    filesystem: tifffile reads the header, the IFDs and one plane's strips
    or tiles from a random-access handle, each a ranged request."""

    uri: str  # without the connection query, for messages
    fs: Any  # pyarrow.fs.FileSystem
    path: str

    @property
    def name(self) -> str:
        return self.uri.rstrip("/").rsplit("/", 1)[-1]

    def __str__(self) -> str:
        return self.uri

    def _tiff(self) -> tuple[Any, _Blocks]:
        import tifffile

        from ...images.stores import open_remote

        if not self.name.lower().endswith((".tif", ".tiff")):
            raise CorruptFileError(
                "only TIFF files are read from object storage here",
                path=self.uri,
                hint="convert the images to TIFF or OME-Parquet",
            )
        try:
            info = self.fs.get_file_info(self.path)
            if info.type != pafs.FileType.File:
                raise FileNotFoundError(self.path)
            blocks = _Blocks(open_remote(self.fs, info), info.size)
        except FileNotFoundError as exc:
            raise CorruptFileError("no such image file", path=self.uri) from exc
        except OSError as exc:
            raise CorruptFileError(f"cannot open: {exc}", path=self.uri) from exc
        try:
            return tifffile.TiffFile(blocks, name=self.name), blocks
        except (OSError, ValueError, tifffile.TiffFileError) as exc:
            blocks.close()
            raise CorruptFileError(
                f"cannot read the TIFF: {exc}", path=self.uri
            ) from exc

    def read_plane(self) -> np.ndarray:
        tif, blocks = self._tiff()
        with tif:
            page = tif.pages[0]
            # the plane's strips or tiles in one ranged read, then decoded here
            offsets = [int(o) for o in page.dataoffsets]
            counts = [int(c) for c in page.databytecounts]
            if offsets:
                stop = max(o + c for o, c in zip(offsets, counts, strict=True))
                blocks.prefetch(min(offsets), stop)
            return np.asarray(page.asarray())

    def plane_shape(self) -> tuple[tuple[int, int], np.dtype[Any]]:
        tif, _ = self._tiff()
        with tif:
            page = tif.pages[0]
            return (int(page.shape[-2]), int(page.shape[-1])), np.dtype(page.dtype)


class _Blocks(io.RawIOBase):
    """A remote file as tifffile reads it: reads served from fetched blocks
    (64 KiB read-ahead for the header and IFDs, the plane's whole data range
    in one request), so a plane costs a few ranged requests, not one per
    strip."""

    BLOCK = 1 << 14

    def __init__(self, handle: Any, size: int) -> None:
        self._handle = handle
        self._size = size
        self._pos = 0
        self._blocks: list[tuple[int, bytes]] = []

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._size}[whence]
        self._pos = base + offset
        return self._pos

    def prefetch(self, start: int, stop: int) -> None:
        """Fetch what of ``[start, stop)`` is not fetched yet, in one request."""
        pos = self._reach(start)
        if pos < stop:
            self._blocks.append((pos, self._handle.read_at(stop - pos, pos)))
            self._blocks.sort()

    def _reach(self, start: int) -> int:
        """How far from ``start`` the fetched blocks cover without a gap."""
        pos = start
        for at, data in self._blocks:  # sorted by start
            if at <= pos < at + len(data):
                pos = at + len(data)
        return pos

    def _covered(self, start: int, stop: int) -> bytes | None:
        if self._reach(start) < stop:
            return None
        parts, pos = [], start
        for at, data in self._blocks:
            if at <= pos < at + len(data):
                part = data[pos - at : min(stop, at + len(data)) - at]
                parts.append(part)
                pos += len(part)
                if pos >= stop:
                    break
        return b"".join(parts)

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")  # tifffile passes typed arrays
        n = min(view.nbytes, max(0, self._size - self._pos))
        if n == 0:
            return 0
        start, stop = self._pos, self._pos + n
        data = self._covered(start, stop)
        if data is None:
            self.prefetch(start, min(self._size, max(stop, start + self.BLOCK)))
            data = self._covered(start, stop)
            assert data is not None
        view[:n] = data
        self._pos = stop
        return n

    def close(self) -> None:
        self._handle.close()
        super().close()


class RemoteRoots:
    """Where remote files may be read from, and how to connect to each: the
    table's own folder (and, in object storage, its bucket on the same
    endpoint) and the image roots given as URIs. Every location is normalised
    (:mod:`~arrowscope.core.images.locations`) and compared with the roots by
    path segments; what is fetched is the normalised location, never the raw
    text. A location under none of them is refused (unless ``allow_outside``,
    and then only on a root's own scheme and endpoint); one filesystem per
    root, and one listing per root when bare names must be matched."""

    def __init__(self, roots: Iterable[str], *, allow_outside: bool = False) -> None:
        self.roots: list[Location] = []
        for r in roots:
            if r:
                try:
                    self.roots.append(parse(r))
                except LocationError:
                    continue  # a root that cannot be normalised admits nothing
        self.allow_outside = allow_outside
        #: locations named by the table and not followed, each with the reason
        self.refused: list[str] = []
        self._fs: dict[Location, Any] = {}
        self._listing: dict[Location, dict[str, Location]] = {}
        self._lock = threading.Lock()

    def _connect(self, root: Location) -> Any:
        from ...images.stores import filesystem_of

        with self._lock:
            if root not in self._fs:
                self._fs[root] = filesystem_of(root.uri)[0]
            return self._fs[root]

    def file(self, location: str | Location) -> RemoteFile | None:
        """The remote file at ``location`` (a full URI), if it may be read."""
        try:
            loc = parse(location)
        except LocationError as exc:
            self.refused.append(f"{location} ({exc})")
            return None
        root = within_any(loc, self.roots)
        if root is None:
            same = [r for r in self.roots if r.scheme == loc.scheme]
            if not self.allow_outside or not same:
                self.refused.append(str(loc))
                return None
            root = same[0]  # allowed: read on a root's own connection
        return RemoteFile(loc.uri.split("?", 1)[0], self._connect(root), loc.key)

    def find(self, name: str) -> RemoteFile | None:
        """A file named ``name`` (its last part) under a root: one listing per
        root, made on first need."""
        leaf = leaf_name(name)
        for root in self.roots:
            names = self._list(root)
            if leaf in names:
                return self.file(names[leaf])
        return None

    def _list(self, root: Location) -> dict[str, Location]:
        import pyarrow.fs as pafs

        with self._lock:
            cached = self._listing.get(root)
        if cached is not None:
            return cached
        fs = self._connect(root)
        found: dict[str, Location] = {}
        if not root.is_web:  # a web server cannot be listed
            key = root.key
            try:
                infos = fs.get_file_info(pafs.FileSelector(key, recursive=True))
            except (OSError, pa.ArrowInvalid):
                infos = []
            for info in infos:
                if info.type == pafs.FileType.File:
                    rest = info.path[len(key) :].lstrip("/")
                    try:
                        found.setdefault(info.base_name, root.join(rest))
                    except LocationError:
                        continue
        with self._lock:
            self._listing[root] = found
        return found


def remote_roots(image_root: str | None, table_uri: str | None) -> list[str]:
    """The remote roots of a table's links: the image root given, and the
    table's own folder; in object storage, the table's whole bucket on the same
    endpoint and connection (the Cell Painting Gallery keeps profiles and
    images side by side: ``…/workspace/profiles/`` beside ``…/images/``).
    Another bucket or host is followed only when given as a root."""
    roots = [image_root] if image_root else []
    if table_uri:
        try:
            table = parse(table_uri)
        except LocationError:
            return roots
        home = table.parent if table.is_web else table.top
        roots.append(home.uri)
    return roots


def not_followed(where: Any, field: str) -> str:
    """The problem reported for a link that leaves the roots: where it
    pointed, and the two ways to allow it."""
    return (
        f"not followed: {where} lies outside the image roots (field {field}); "
        "give its folder or bucket as a root (--images on the command line, "
        "image_root= in Python) or pass allow_outside_roots=True to follow it"
    )


def _is_remote(text: str | None) -> bool:
    from ...images.stores import is_uri

    return bool(text) and is_uri(str(text))


class FileColumnsLink(FieldEntries):
    """Channel and mask files named by the table's CellProfiler columns."""

    kind = "files"

    def __init__(
        self,
        keys: KeyRoles,
        *,
        table_path: Path | None = None,
        table_uri: str | None = None,
        image_root: str | Path | None = None,
        mask_root: str | Path | None = None,
        allow_outside: bool = False,
        images_elsewhere: bool = False,
    ) -> None:
        self.keys = keys
        self.table_path = table_path
        self.table_uri = table_uri
        remote_root = image_root if _is_remote(str(image_root or "")) else None
        self.image_root = (
            None if image_root is None or remote_root else Path(image_root)
        )
        self.remote_root = str(remote_root) if remote_root else None
        self.mask_root = Path(mask_root) if mask_root else None
        self.allow_outside = allow_outside
        #: another link gives the images (CytoTable's source_images): a file
        #: not found here is no problem
        self.images_elsewhere = images_elsewhere
        self._auxiliary: set[str] = set()

    def options(self) -> dict[str, Any]:
        root = self.remote_root or self.image_root
        return {
            "image_root": None if root is None else str(root),
            "mask_root": None if self.mask_root is None else str(self.mask_root),
        }

    def inputs(self) -> list[Path]:
        return [r for r in (self.image_root, self.mask_root) if r is not None]

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "channels": dict(self.keys.files),
            "masks": dict(self.keys.masks),
            "roots": [str(r) for r in self._roots()] + self._remote_roots(),
        }

    def channel_names(self) -> list[str] | None:
        if not self.keys.files:
            return None
        return [ch for ch in self.keys.files if ch not in self._auxiliary]

    def _names_files(self) -> bool:
        return bool(self.keys.files or self.keys.masks)

    def _file_names(
        self, fovs: list[FieldOfView], rows: LinkedRows, problems: list[str]
    ) -> tuple[dict[str, list[Any]], dict[str, list[Any]], dict[str, list[Any]]]:
        """Per channel (and mask), the file name and folder of each field: from
        the field's first row (one row per field names its files)."""
        kt = rows.key_table
        first = pa.array([int(f.rows[0]) for f in fovs], pa.int64())

        def column(c: str) -> list[Any]:
            return kt.column(c).take(first).to_pylist()

        return (
            {ch: column(c) for ch, c in self.keys.files.items()},
            {ch: column(c) for ch, c in self.keys.paths.items()},
            {comp: column(c) for comp, c in self.keys.masks.items()},
        )

    def _roots(self) -> list[Path]:
        roots = [r for r in (self.image_root, self.mask_root) if r]
        if self.image_root and self.image_root.parent.is_dir():
            roots += [
                p
                for p in sorted(self.image_root.parent.iterdir())
                if p.is_dir() and "mask" in p.name.lower() and p != self.image_root
            ]
        if not roots and self.table_path is not None and self.remote_root is None:
            roots.append(self.table_path.parent)
        return roots

    def _remote_roots(self) -> list[str]:
        return remote_roots(self.remote_root, self.table_uri)

    def attach(self, fovs: list[FieldOfView], rows: LinkedRows) -> list[str]:
        problems: list[str] = []
        if not self._names_files() or not fovs:
            return problems
        files = FileIndex(self._roots(), allow_outside=self.allow_outside)
        remote = RemoteRoots(self._remote_roots(), allow_outside=self.allow_outside)
        names, folders, mask_names = self._file_names(fovs, rows, problems)
        self._auxiliary = {ch for ch, col in names.items() if is_auxiliary(ch, col)}

        def locate(name: str, folder: str | None) -> Any:
            if _is_remote(name):  # Image_URL_<ch>: the full location
                return remote.file(str(name))
            if _is_remote(folder):
                try:
                    where = parse(str(folder)).join(str(name))
                except LocationError as exc:
                    remote.refused.append(f"{folder} + {name} ({exc})")
                    return None
                return remote.file(where)
            if self.remote_root is not None:
                return remote.find(name)
            return files.find(name, folder)

        channels = list(names)

        def find(name: str, folder: str | None, channel: str = "") -> Any:
            found = locate(name, folder)
            if found is not None and is_zarr_name(str(name)):  # an OME-Zarr image
                at = channels.index(channel) if channel in channels else 0
                return zarr_channel(found, channel, at)
            return found

        missing = 0
        for r, fov in enumerate(fovs):  # r: the field's position in ``first``
            for ch, col in names.items():
                name = col[r]
                folder = folders[ch][r] if ch in folders else None
                found = find(name, folder, ch) if name else None
                if ch in self._auxiliary:  # illumination functions, outlines
                    fov.auxiliary[ch] = found
                    continue
                fov.channels[ch] = found
                if found is None and not self.images_elsewhere:
                    missing += 1
                    problems.append(
                        f"image not found: {name} (field {fov.label}, channel {ch})"
                    )
                if name and not _is_remote(name) and not _is_remote(folder):
                    for comp, p in files.masks_for(stem(name)).items():
                        fov.masks.setdefault(comp, p)
            for comp, col in mask_names.items():
                found = find(col[r], None) if col[r] else None
                if found is not None:
                    fov.masks[comp] = found
                else:
                    problems.append(f"mask not found: {col[r]} (field {fov.label})")
            if not fov.masks and names and not self.images_elsewhere:
                problems.append(f"no masks found for field {fov.label}")
            for path in [*files.refused, *remote.refused]:
                problems.append(not_followed(path, fov.label))
            files.refused.clear()
            remote.refused.clear()
        if missing and self.image_root is None and self.remote_root is None:
            problems.append(
                "give the folder that holds the images: --images FOLDER on the "
                "command line, image_root= in Python"
            )
        return problems


class LoadDataLink(FileColumnsLink):
    """CellProfiler's LoadData input (``Metadata_Plate/Well/Site``,
    ``FileName_<ch>``, ``PathName_<ch>``, with or without ``_Illum*``
    columns) as the image link of a table that has only plate/well/site keys:
    each field's row of the load_data file names its files."""

    kind = "load_data"

    def __init__(self, location: Path | str, keys: KeyRoles, **options: Any) -> None:
        super().__init__(keys, **options)
        self.location = location
        self._channels: list[str] | None = None

    def options(self) -> dict[str, Any]:
        return {**super().options(), "load_data": str(self.location)}

    def inputs(self) -> list[Path]:
        own = [self.location] if isinstance(self.location, Path) else []
        return [*super().inputs(), *own]

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "file": str(self.location),
            "roots": super().describe()["roots"],
        }

    def _names_files(self) -> bool:
        return True

    def channel_names(self) -> list[str] | None:
        if self._channels is None:
            return None
        return [ch for ch in self._channels if ch not in self._auxiliary]

    def _roots(self) -> list[Path]:
        roots = super()._roots()
        if isinstance(self.location, Path) and self.location.parent not in roots:
            roots.append(self.location.parent)
        return roots

    def _file_names(
        self, fovs: list[FieldOfView], rows: LinkedRows, problems: list[str]
    ) -> tuple[dict[str, list[Any]], dict[str, list[Any]], dict[str, list[Any]]]:
        from ..source import TableRows

        source = TableRows(self.location)
        have = source.schema.names
        join = []
        for c in self.keys.image:  # the profile's key, as load_data names it
            options = [c, c.removeprefix("Image_"), f"Metadata_{c.split('_')[-1]}"]
            found = next((o for o in options if o in have), None)
            if found is None:
                problems.append(
                    f"{leaf_name(str(self.location))} has no column for the image "
                    f"key {c}: no images linked"
                )
                return {}, {}, {}
            join.append(found)
        channels = [
            n.removeprefix("FileName_") for n in have if n.startswith("FileName_")
        ]
        self._channels = channels
        table = source.read(
            [*join, *(f"FileName_{ch}" for ch in channels)]
            + [f"PathName_{ch}" for ch in channels if f"PathName_{ch}" in have]
        )
        where = {
            tuple(str(v) for v in key): i
            for i, key in enumerate(
                zip(*(table.column(c).to_pylist() for c in join), strict=True)
            )
        }
        at = []
        for fov in fovs:
            i = where.get(tuple(str(v) for v in fov.key))
            if i is None:
                problems.append(
                    f"field {fov.label} is not in {leaf_name(str(self.location))}"
                )
            at.append(i)

        def pick(column: str) -> list[Any]:
            values = table.column(column).to_pylist()
            return [None if i is None else values[i] for i in at]

        names = {ch: pick(f"FileName_{ch}") for ch in channels}
        folders = {
            ch: pick(f"PathName_{ch}")
            for ch in channels
            if f"PathName_{ch}" in table.column_names
        }
        return names, folders, {}
