"""Single-cell profile tables linked to their images by explicit keys.

A :class:`ProfileTable` is a CellProfiler/CytoTable profile table (Parquet,
Arrow IPC or CSV) opened lazily: the footer and the key columns only. Each row
is linked to a field of view by its *image key* columns and to its object by
the compartment's object number and centre — never by row position.

Images are found three ways:

- ``Image_FileName_<Channel>`` (+ ``Image_PathName_<Channel>``) columns; paths
  from another machine are resolved by file name under ``image_root``. Files
  are read lazily through bioio (TIFF, OME-TIFF, OME-Zarr, …) or arrowscope's
  own reader for OME-Parquet;
- an OME-Parquet *image table* (one field of view per row, image and label
  columns) sharing key columns with the profiles — given as ``images=`` or
  recorded in the profile file's metadata under ``arrowscope.images``;
- masks saved by CellProfiler next to the images as
  ``<image file stem>_Mask<Compartment>.tif[f]``, or named by
  ``Image_ObjectsFileName_<Compartment>`` columns. Binary masks are labelled by
  connected components for display (they cannot carry object numbers, so cells
  are matched to components by their centre).
"""

from __future__ import annotations

import json
import os
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path, PurePath, PureWindowsPath
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ArrowscopeError, CorruptFileError, SchemaError

IMAGES_METADATA_KEY = b"arrowscope.images"
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
    return roles


def _other_compartments(names: Iterable[str]) -> list[str]:
    found = []
    for n in names:
        m = re.fullmatch(r"(?:Metadata_)?(\w+?)_Number_Object_Number(?:_x|_y)?", n)
        if m and m.group(1) not in COMPARTMENTS:
            found.append(m.group(1))
    return list(dict.fromkeys(found))


def read_profile_table(path: Path, columns: Sequence[str] | None = None) -> pa.Table:
    """Read ``columns`` (all when None) of a Parquet, Arrow IPC or CSV table."""
    src = TableFile(path)
    return src.read(columns if columns is not None else src.schema.names)


class TableFile:
    """Parquet/IPC via :class:`TableSource` (footer only at open), CSV or in memory."""

    def __init__(self, path: Path | str | pa.Table | Sequence[Path]) -> None:
        from ..images.sources import TableSource, sniff_format

        #: columns kept beside the stored ones (:meth:`add_columns`)
        self.extra: dict[str, pa.Array] = {}
        from ..images.stores import is_uri

        if isinstance(path, pa.Table):
            self.path: Path | None = None
            self.source = TableSource(path)
            self.schema: pa.Schema = path.schema
            return
        from ..images.stores import Store

        if isinstance(path, (list, tuple, Store)):  # a warehouse table's files
            self.source = TableSource(path)
            self.path = Path(self.source.path) if self.source.path else None
            self.schema = self.source.schema
            return
        if is_uri(path):  # a table in object storage (Parquet/IPC/Lance)
            self.path = None
            self.source = TableSource(path)
            self.schema = self.source.schema
            return
        self.path = Path(path)
        if self.path.is_dir() and sniff_format(self.path) == "lance":
            self.source = TableSource(self.path)  # a Lance dataset folder
            self.schema = self.source.schema
            return
        if not self.path.is_file() or self.path.stat().st_size == 0:
            raise not_a_table_error(self.path)
        if sniff_format(self.path) is None:
            if self.path.suffix.lower() not in (".csv", ".tsv", ".gz"):
                raise CorruptFileError(
                    "not a Parquet, Arrow IPC or CSV table",
                    path=self.path,
                    hint="profile tables are .parquet, .arrow/.feather or .csv files",
                )
            import pyarrow.csv as pcsv

            delim = "\t" if ".tsv" in self.path.suffixes else ","
            try:
                table = pcsv.read_csv(
                    self.path, parse_options=pcsv.ParseOptions(delimiter=delim)
                )
            except pa.ArrowInvalid as exc:
                raise CorruptFileError(
                    f"cannot parse the CSV: {exc}", path=self.path
                ) from exc
            self.source = TableSource(table)
        else:
            self.source = TableSource(self.path)
        self.schema = self.source.schema

    def read(self, columns: Sequence[str]) -> pa.Table:
        missing = [c for c in columns if c not in self.schema.names]
        if missing:
            raise SchemaError(
                f"no such column(s): {', '.join(missing[:5])}",
                path=self.path,
                column=missing[0],
            )
        extra = self.extra
        stored = [c for c in columns if c not in extra]
        if len(stored) == len(columns):
            return self.source.read_table(list(columns))
        base = self.source.read_table(stored) if stored else None
        return pa.table(
            {c: extra[c] if c in extra else base.column(c) for c in columns}  # type: ignore[union-attr]
        )

    def add_columns(self, columns: dict[str, pa.Array]) -> None:
        """Columns kept beside the stored ones (joined by key by the caller)."""
        extra = self.extra
        for name, values in columns.items():
            if len(values) != self.source.num_rows:
                raise ValueError(
                    f"column {name}: {len(values)} values for "
                    f"{self.source.num_rows} rows"
                )
            if name in self.schema.names:
                raise ValueError(f"column {name} exists already")
            extra[name] = values
            self.schema = self.schema.append(pa.field(name, values.type))

    @property
    def metadata(self) -> dict[bytes, bytes]:
        return self.source.metadata


# ---------------------------------------------------------------- images


def _leaf_name(value: str) -> str:
    """The file name of a POSIX, Windows or ``file:`` path from another machine."""
    value = value.removeprefix("file:")
    return PureWindowsPath(value).name if "\\" in value else PurePath(value).name


#: CytoTable's label columns of ``source_images``, and the mask names they give.
_MASK_NAMES = {"ome_arrow_label": "label", "ome_arrow_mask": "mask"}


def _one_channel(img: Any, c: int) -> Any:
    """A lazy one-channel view of an image."""
    from ..images.image import ArrayPixels, OMEImage

    T, _, Z, Y, X = img.shape
    meta = replace(
        img.meta, shape=(T, 1, Z, Y, X), channels=img.meta.channels[c : c + 1]
    )
    return OMEImage(meta, ArrayPixels(lambda: img.to_dask()[:, c : c + 1].compute()))


def _asset_image(path: Path) -> Any:
    """An image file (TIFF, OME-TIFF, OME-Zarr) as a lazy OMEImage, via bioio
    (metadata read now, pixels when a plane is shown)."""
    from ..images.convert import _bioimage, _channels
    from ..images.image import ArrayPixels, OMEImage
    from ..images.metadata import Channel, ImageMeta

    bio = _bioimage(path)
    data, names, _ = _channels(bio)
    meta = ImageMeta(
        shape=tuple(int(v) for v in data.shape),  # type: ignore[arg-type]
        dtype=np.dtype(data.dtype),
        name=path.name,
        channels=tuple(Channel(n) for n in names),
    )
    return OMEImage(meta, ArrayPixels(lambda: data.compute()))


def _table_name(location: Any) -> str:
    """A table's file name, for messages (a URI without its query)."""
    return _leaf_name(str(location).split("?", 1)[0])


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
                    for p in sorted(root.rglob("*")):
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
        if not path.is_file():
            return None
        if self.allow_outside or self.inside(path):
            return path
        self.refused.append(path)
        return None

    def resolve(self, name: str, folder: str | None = None) -> Path | None:
        """``folder/name`` or ``root/name`` if it exists under a root, else a file
        named like ``name``'s last part anywhere under a root."""
        candidates = []
        if folder:
            candidates.append(Path(folder.removeprefix("file:")) / name)
        if Path(name).is_absolute():
            candidates.append(Path(name))
        candidates += [root / name for root in self.roots]
        for candidate in dict.fromkeys(candidates):  # root / absolute == absolute
            found = self._accept(candidate)
            if found is not None:
                return found
        hit = self._index().get(_leaf_name(name))
        return None if hit is None else self._accept(hit)

    def masks_for(self, stem: str) -> dict[str, Path]:
        """CellProfiler masks ``<stem>_Mask<Compartment>.tif[f]``, by compartment."""
        self._index()
        return dict(self._masks.get(stem, {}))


_AUXILIARY_NAME = re.compile(r"illum|outline|overlay|mask|label", re.IGNORECASE)
#: Suffixes of files that hold a microscope channel image.
CHANNEL_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".bmp", ".czi", ".nd2")


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


def _stem(name: str) -> str:
    base = _leaf_name(name)
    for suf in sorted(IMAGE_SUFFIXES, key=len, reverse=True):
        if base.lower().endswith(suf):
            return base[: -len(suf)]
    return Path(base).stem


_BIOIO_LOCK = threading.Lock()


def read_plane(path: Path | Any) -> np.ndarray:
    """The first (Y, X) plane of an image file (via arrowscope, tifffile or bioio)
    or of an opened :class:`~arrowscope.core.images.image.OMEImage`."""
    from ..images.image import OMEImage, open_image

    if isinstance(path, OMEImage):
        return np.asarray(path.to_dask()[0, 0, 0])
    name = path.name.lower()
    if name.endswith((".parquet", ".arrow", ".feather")):
        img = open_image(path)
        return np.asarray(img.to_dask()[0, 0, 0])
    if name.endswith((".tif", ".tiff")) and not name.endswith(
        (".ome.tif", ".ome.tiff")
    ):
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


def plane_shape(path: Path) -> tuple[tuple[int, int], np.dtype[Any]]:
    """(Y, X) and dtype of an image file (or an opened image), from its header
    where possible."""
    from ..images.image import OMEImage

    if isinstance(path, OMEImage):
        return (int(path.shape[-2]), int(path.shape[-1])), path.dtype
    name = path.name.lower()
    if name.endswith((".tif", ".tiff")):
        import tifffile

        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            return (int(page.shape[-2]), int(page.shape[-1])), np.dtype(page.dtype)
    plane = read_plane(path)
    return plane.shape[-2:], plane.dtype  # type: ignore[return-value]


def label_binary(mask: np.ndarray) -> np.ndarray:
    """Label a binary mask by 8-connected components; label images pass through."""
    values = np.unique(mask)
    if values.size > 2 or (values.size == 2 and values[0] != 0):
        return mask.astype(np.int32, copy=False)
    from scipy import ndimage

    labels, _ = ndimage.label(mask > 0, structure=np.ones((3, 3), bool))
    return labels.astype(np.int32)


def is_binary(mask: np.ndarray) -> bool:
    values = np.unique(mask)
    return values.size <= 2 and (values.size < 2 or values[0] == 0)


@dataclass
class FieldOfView:
    """One field of view: its key, its rows, its channel images and masks."""

    key: tuple[Any, ...]
    rows: np.ndarray
    channels: dict[str, Path | None] = field(default_factory=dict)
    masks: dict[str, Path] = field(default_factory=dict)
    ome_row: int | None = None  # row of the linked OME-Parquet image table
    #: Files named in ``Image_FileName_*`` that are not microscope channels
    #: (illumination functions, outlines, overlays), found or None.
    auxiliary: dict[str, Path | None] = field(default_factory=dict)

    @property
    def missing(self) -> list[str]:
        """Channels whose image file was not found."""
        return [ch for ch, p in self.channels.items() if p is None]

    @property
    def label(self) -> str:
        return " ".join(str(k) for k in self.key)


@dataclass
class CellLocation:
    """Where a row's cell is: field of view index, centre and box (pixels, y/x)."""

    row: int
    fov: int
    center: tuple[float, float] | None
    bbox: tuple[float, float, float, float] | None  # y0, x0, y1, x1


class ProfileTable:
    """A profile table opened lazily and linked to its images by key.

    Use :func:`open_profiles`.
    """

    def __init__(
        self,
        path: str | Path | pa.Table | Sequence[Path],
        image_root: str | Path | None = None,
        keys: KeyRoles | dict[str, Any] | None = None,
        *,
        images: str | Path | None = None,
        mask_root: str | Path | None = None,
        allow_outside_roots: bool = False,
        source_images: str | Path | None = None,
        image_crops: str | Path | None = None,
        image_assets: Any = None,
        asset_root: str | Path | None = None,
    ) -> None:
        #: iceberg-bioimage ``image_assets``: one image file (TIFF, OME-TIFF,
        #: OME-Zarr) per ``image_id``, found under ``asset_root``.
        self.image_assets = image_assets
        self.asset_root = Path(asset_root) if asset_root else None
        #: A CytoTable ``source_images`` table: one image per (field, channel).
        self.source_images = source_images
        #: A CytoTable ``image_crops`` table: one stored crop per (object, channel).
        self.image_crops = image_crops
        self._crop_index: tuple[Any, Any] | None = None
        self._crop_source: Any = None
        self._object_ids: Any = None
        self._file = TableFile(
            path
            if isinstance(path, (pa.Table, list, tuple))
            or hasattr(path, "read_group")  # a store (an Iceberg table)
            or _is_uri(path)
            else Path(path)
        )
        self.allow_outside_roots = allow_outside_roots
        self.path: Path | None = self._file.path
        self._source = self._file.source
        self.schema = self._file.schema
        file_meta = self._file.metadata
        if isinstance(keys, dict):
            keys = KeyRoles(**keys)
        self.keys: KeyRoles = keys or detect_keys(self.schema)
        self.image_root = Path(image_root) if image_root else None
        self.mask_root = Path(mask_root) if mask_root else None
        #: The linked OME-Parquet image table: a path, or a URI beside a remote table.
        self.images_path: Path | str | None = (
            None if not images else (images if _is_uri(images) else Path(images))
        )
        self.image_table_keys: list[str] = []
        self.problems: list[str] = []
        link = file_meta.get(IMAGES_METADATA_KEY)
        uri = path if isinstance(path, str) and _is_uri(path) else None
        if self.images_path is None and link and (self.path or uri) is not None:
            spec = _image_link(link)
            if spec is None:
                self.problems.append(
                    f"the file's {IMAGES_METADATA_KEY.decode()} metadata is not a "
                    'valid image link ({"path": …, "keys": […]}); ignored'
                )
            else:
                linked, inside = _linked(self.path, uri, spec["path"])
                if allow_outside_roots or inside:
                    self.images_path = linked
                    self.image_table_keys = list(spec["keys"])
                else:
                    self.problems.append(
                        f"not followed: the image link {spec['path']!r} leaves the "
                        "table's folder; pass allow_outside_roots=True to allow it"
                    )
        #: The warehouse this table was opened from (``open_warehouse``), if any,
        #: and which of its tables (``"profiles.joined_profiles"``).
        self.warehouse: Any = None
        self.warehouse_table: str | None = None
        #: QC flags stored with the table (a warehouse's ``quality_control``
        #: tables), aligned to the rows by key: shown when the table is opened.
        self.stored_flags: pa.Table | None = None
        self._key_table: pa.Table | None = None
        self._image_source: Any = None
        self._fovs: list[FieldOfView] | None = None
        self._fov_of_row: np.ndarray | None = None
        #: problems found on opening (kept when the links are rebuilt)
        self._open_problems: list[str] = list(self.problems)

    @property
    def inputs(self) -> list[Path]:
        """The local files and folders this table reads: never write onto them."""
        found = [self.path, self.images_path, self.image_root, self.mask_root]
        found += [self.asset_root, getattr(self.warehouse, "root", None)]
        return [p for p in found if isinstance(p, Path)]

    # ---- table access
    @property
    def num_rows(self) -> int:
        return int(self._source.num_rows)

    @property
    def columns(self) -> list[str]:
        return list(self.schema.names)

    def read(
        self, columns: Sequence[str], rows: Sequence[int] | np.ndarray | None = None
    ) -> pa.Table:
        """Read ``columns`` (projection), optionally only ``rows`` (in that order)."""
        table = self._file.read(columns)
        if rows is not None:
            table = table.take(pa.array(np.asarray(rows, np.int64)))
        return table

    def note_problem(self, problem: str) -> None:
        """A problem found by the caller that opened this table (a warehouse)."""
        self._open_problems.append(problem)
        self.problems.append(problem)

    def add_columns(self, columns: dict[str, pa.Array]) -> None:
        """Add columns aligned to the rows (flags joined by key, say)."""
        self._file.add_columns(columns)
        self.schema = self._file.schema

    @property
    def key_table(self) -> pa.Table:
        """The key columns of every row (read once)."""
        if self._key_table is None:
            self._key_table = self.read(self.keys.columns())
        return self._key_table

    def invalidate(self) -> None:
        """Forget derived state after :attr:`keys` or the roots were edited."""
        self._key_table = self._fovs = self._fov_of_row = None
        self.problems = list(self._open_problems)

    # ---- fields of view
    @property
    def fields_of_view(self) -> list[FieldOfView]:
        """One entry per distinct image key, in first-seen order."""
        if self._fovs is None:
            self._build_fovs()
        assert self._fovs is not None
        return self._fovs

    @property
    def fov_of_row(self) -> np.ndarray:
        """Field-of-view index of each row (-1 when the row has no image key)."""
        if self._fov_of_row is None:
            self._build_fovs()
        assert self._fov_of_row is not None
        return self._fov_of_row

    def _duplicate_keys(self, kt: pa.Table) -> str | None:
        """A problem naming (image, object) keys that occur more than once."""
        columns = [*self.keys.image, *([self.keys.object] if self.keys.object else [])]
        if not self.keys.object or kt.num_rows < 2:
            return None
        counts = kt.select(columns).group_by(columns).aggregate([([], "count_all")])
        dup = counts.filter(pc.greater(counts["count_all"], 1))
        if dup.num_rows == 0:
            return None
        first = dup.slice(0, 3).to_pylist()
        shown = "; ".join(
            ", ".join(f"{c}={r[c]!r}" for c in columns) + f" ({r['count_all']} rows)"
            for r in first
        )
        return (
            f"{dup.num_rows} (image, object) keys occur more than once, so those "
            f"cells' rows are ambiguous: {shown}"
            + (" …" if dup.num_rows > 3 else "")
            + "; check that the table holds one plate (or add its plate column)"
        )

    def _build_fovs(self) -> None:
        kt = self.key_table
        n = kt.num_rows
        self.problems = list(self._open_problems)
        duplicated = self._duplicate_keys(kt)
        if duplicated is not None:
            import warnings

            self.problems.append(duplicated)
            warnings.warn(duplicated, UserWarning, stacklevel=3)
        if not self.keys.image:
            self._fovs, self._fov_of_row = [], np.full(n, -1, np.int64)
            if self.keys.files or self.images_path:
                self.problems.append(
                    "no image key columns found: rows cannot be linked to images"
                )
            return

        from .qc import group_codes

        valid = np.ones(n, bool)
        for c in self.keys.image:
            valid &= kt.column(c).is_valid().to_numpy(zero_copy_only=False)
        where = np.flatnonzero(valid)
        sub = (
            kt.select(self.keys.image).take(pa.array(where)) if not valid.all() else kt
        )
        codes, keys = group_codes(sub, self.keys.image)  # first-seen order
        fov_of_row = np.full(n, -1, np.int64)
        fov_of_row[where] = codes
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(keys) + 1))
        members = [where[order[bounds[g] : bounds[g + 1]]] for g in range(len(keys))]
        index = dict.fromkeys(keys)
        if (fov_of_row < 0).any():
            self.problems.append(
                f"{int((fov_of_row < 0).sum())} row(s) have an empty image key"
            )
        fovs = [
            FieldOfView(key, rows) for key, rows in zip(index, members, strict=True)
        ]
        self._attach_files(fovs, kt)
        self._attach_image_table(fovs, kt)
        self._attach_source_images(fovs)
        self._attach_image_assets(fovs)
        self._fovs, self._fov_of_row = fovs, fov_of_row

    def _roots(self) -> list[Path]:
        roots = [r for r in (self.image_root, self.mask_root) if r]
        if self.image_root and self.image_root.parent.is_dir():
            roots += [
                p
                for p in sorted(self.image_root.parent.iterdir())
                if p.is_dir() and "mask" in p.name.lower() and p != self.image_root
            ]
        if not roots and self.path is not None:
            roots.append(self.path.parent)
        return roots

    def _attach_files(self, fovs: list[FieldOfView], kt: pa.Table) -> None:
        if not (self.keys.files or self.keys.masks):
            return
        files = FileIndex(self._roots(), allow_outside=self.allow_outside_roots)
        # one row per field names its files: read those rows only
        first = pa.array([int(f.rows[0]) for f in fovs], pa.int64())

        def column(c: str) -> list[Any]:
            return kt.column(c).take(first).to_pylist()

        names = {ch: column(c) for ch, c in self.keys.files.items()}
        folders = {ch: column(c) for ch, c in self.keys.paths.items()}
        mask_names = {comp: column(c) for comp, c in self.keys.masks.items()}
        aux = {ch for ch, col in names.items() if is_auxiliary(ch, col)}
        missing = 0
        for r, fov in enumerate(fovs):  # r: the field's position in ``first``
            refused_before = len(files.refused)
            for ch, col in names.items():
                name = col[r]
                found = (
                    files.resolve(name, folders.get(ch, [None] * (r + 1))[r])
                    if name
                    else None
                )
                if ch in aux:  # illumination functions, outlines: not channels
                    fov.auxiliary[ch] = found
                    continue
                fov.channels[ch] = found
                if found is None and self.source_images is None:
                    missing += 1
                    self.problems.append(
                        f"image not found: {name} (field {fov.label}, channel {ch})"
                    )
                if name:
                    for comp, p in files.masks_for(_stem(name)).items():
                        fov.masks.setdefault(comp, p)
            for comp, col in mask_names.items():
                found = files.resolve(col[r]) if col[r] else None
                if found is not None:
                    fov.masks[comp] = found
                else:
                    self.problems.append(
                        f"mask not found: {col[r]} (field {fov.label})"
                    )
            if not fov.masks and self.keys.files and self.source_images is None:
                self.problems.append(f"no masks found for field {fov.label}")
            for path in files.refused[refused_before:]:
                self.problems.append(
                    f"not followed: {path} lies outside the image root(s) "
                    f"(field {fov.label}); pass allow_outside_roots=True to allow it"
                )
        if missing and self.image_root is None:
            self.problems.append(
                "give the folder that holds the images: --images FOLDER on the "
                "command line, image_root= in Python"
            )

    def _attach_source_images(self, fovs: list[FieldOfView]) -> None:
        """Channels from a CytoTable ``source_images`` table, by image key and
        ``source_image_column`` (keys compared as text: CytoTable casts them)."""
        if self.source_images is None:
            return
        from ..images.image import open_source

        src = open_source(self.source_images)
        shared = [c for c in self.keys.image if c in src.other_columns]
        if not shared or "source_image_column" not in src.other_columns:
            self.problems.append(
                f"{_table_name(self.source_images)} has no source_image_column or "
                f"shares no image key ({', '.join(self.keys.image)})"
            )
            return
        column = "ome_arrow_image" if "ome_arrow_image" in src.image_columns else None
        column = column or src.default_column()
        table = src.read_columns([*shared, "source_image_column"])
        masks = [c for c in _MASK_NAMES if c in src.image_columns]
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
                mask_name = _MASK_NAMES.get(mask_column, mask_column)
                # every channel's row repeats the field's labels: open one
                if mask_name not in fov.masks and metas[mask_column][row] is not None:
                    fov.masks[mask_name] = src.image(mask_column, row)
        for fov in fovs:
            for ch, found in fov.channels.items():
                if found is None:
                    self.problems.append(
                        f"no source image for field {fov.label}, channel {ch}"
                    )
            if not fov.masks:
                self.problems.append(f"no masks found for field {fov.label}")

    def _attach_image_assets(self, fovs: list[FieldOfView]) -> None:
        """Channels from iceberg-bioimage ``image_assets`` rows, matched by
        ``dataset_id``/``image_id`` (as text), each an image file opened
        lazily by bioio; files outside the asset and image roots are reported,
        not opened (unless ``allow_outside_roots``)."""
        if self.image_assets is None or self.source_images is not None or not fovs:
            return
        assets = TableFile(self.image_assets)
        keys = [
            k
            for k in ("dataset_id", "image_id")
            if k in assets.schema.names and k in self.columns
        ]
        if "image_id" not in keys or "uri" not in assets.schema.names:
            self.problems.append(
                "the image_assets table shares no image_id with the profiles "
                "(or has no uri column): no images linked"
            )
            return
        table = assets.read([*keys, "uri"])
        by_key = {
            tuple(str(v) for v in vals): uri
            for *vals, uri in zip(
                *(table.column(c).to_pylist() for c in [*keys, "uri"]), strict=True
            )
        }
        first = pa.array([int(f.rows[0]) for f in fovs], pa.int64())
        mine = self.read(keys).take(first)
        rows = zip(*(mine.column(k).to_pylist() for k in keys), strict=True)
        roots = [r for r in (self.asset_root, self.image_root) if r is not None]
        for fov, vals in zip(fovs, rows, strict=True):
            uri = by_key.get(tuple(str(v) for v in vals))
            if uri is None:
                self.problems.append(f"no image asset for field {fov.label}")
                continue
            path = self._asset_path(str(uri), roots, fov)
            if path is None:
                continue
            try:
                image = _asset_image(path)
            except ArrowscopeError as exc:
                self.problems.append(f"image asset of field {fov.label}: {exc}")
                continue
            for c, name in enumerate(image.channel_names):
                fov.channels[name] = (
                    image if image.shape[1] == 1 else _one_channel(image, c)
                )

    def _asset_path(self, uri: str, roots: list[Path], fov: FieldOfView) -> Path | None:
        if "://" in uri and not uri.startswith("file://"):
            self.problems.append(
                f"image asset {uri} (field {fov.label}) is in object storage; "
                "only local image assets are opened"
            )
            return None
        path = Path(uri.removeprefix("file://"))
        if not path.is_absolute() and roots:
            path = roots[0] / path
        inside = any(path.resolve().is_relative_to(r.resolve()) for r in roots)
        if not inside and not self.allow_outside_roots:
            self.problems.append(
                f"not followed: image asset {uri} lies outside the warehouse and "
                f"image roots (field {fov.label}); pass image_root= or "
                "allow_outside_roots=True to allow it"
            )
            return None
        if not path.exists():
            self.problems.append(f"image asset not found: {uri} (field {fov.label})")
            return None
        return path

    def _attach_image_table(self, fovs: list[FieldOfView], kt: pa.Table) -> None:
        if self.images_path is None:
            return
        src = self.image_source()
        shared = self.image_table_keys or [
            c for c in self.keys.image if c in src.other_columns
        ]
        if not shared:
            self.problems.append(
                f"{_table_name(self.images_path)} shares no key column with the "
                f"profiles ({', '.join(self.keys.image)})"
            )
            return
        keyed = src.read_columns(shared)
        where = {
            tuple(vals): i
            for i, vals in enumerate(
                zip(*(keyed.column(c).to_pylist() for c in shared), strict=True)
            )
        }
        pos = [self.keys.image.index(c) for c in shared if c in self.keys.image]
        for fov in fovs:
            fov.ome_row = where.get(tuple(fov.key[p] for p in pos))
            if fov.ome_row is None:
                self.problems.append(
                    f"field {fov.label} is not in {_table_name(self.images_path)}"
                )

    def image_source(self) -> Any:
        """The linked OME-Parquet image table, opened once (footer only)."""
        if self._image_source is None:
            from ..images.image import open_source

            assert self.images_path is not None
            self._image_source = open_source(self.images_path)
        return self._image_source

    # ---- cells
    def _floats(self, col: str | None) -> np.ndarray | None:
        if col is None:
            return None
        return (
            self.key_table.column(col).cast(pa.float64()).to_numpy(zero_copy_only=False)
        )

    def centers(self) -> np.ndarray:
        """(N, 2) y/x centre of every row in pixels; NaN where unknown."""
        if self.keys.center is None:
            return np.full((self.num_rows, 2), np.nan)
        x, y = (self._floats(c) for c in self.keys.center)
        return np.stack([y, x], axis=1)  # type: ignore[list-item]

    def bboxes(self) -> np.ndarray | None:
        """(N, 4) y0, x0, y1, x1 box of every row in pixels (NaN where unknown)."""
        if self.keys.bbox is None:
            return None
        x0, y0, x1, y1 = (self._floats(c) for c in self.keys.bbox)
        return np.stack([y0, x0, y1, x1], axis=1)  # type: ignore[list-item]

    def locate(self, row: int) -> CellLocation:
        """Field of view, centre (y, x) and box (y0, x0, y1, x1) of ``row``."""
        if not 0 <= row < self.num_rows:
            raise ArrowscopeError(
                f"row {row} is out of range (0..{self.num_rows - 1})", path=self.path
            )
        center = None
        if self.keys.center:
            x, y = (self.key_table.column(c)[row].as_py() for c in self.keys.center)
            if x is not None and y is not None:
                center = (float(y), float(x))
        bbox = None
        if self.keys.bbox:
            x0, y0, x1, y1 = (
                self.key_table.column(c)[row].as_py() for c in self.keys.bbox
            )
            if None not in (x0, y0, x1, y1):
                bbox = (float(y0), float(x0), float(y1), float(x1))
        return CellLocation(row, int(self.fov_of_row[row]), center, bbox)

    # ---- crops
    def crop(self, row: int, channel: str | None = None) -> Any:
        """The crop of ``row``'s cell in ``channel`` (default: the first channel).

        The stored crop where the table is linked to one (CytoTable's
        ``image_crops``, by ``Metadata_ObjectID`` and channel), else a lazy cut
        of the field's image by the row's bounding box (``Metadata_SourceBBox*``
        or the compartment's box). Returns an
        :class:`~arrowscope.core.images.image.OMEImage`.
        """
        channels = self.channel_names
        channel = channel or (channels[0] if channels else None)
        if channel is None or channel not in channels:
            raise ArrowscopeError(
                f"no channel {channel!r}; channels are {channels}", path=self.path
            )
        stored = self.stored_crop(row, channel)
        if stored is not None:
            return stored
        loc = self.locate(row)
        if loc.bbox is None or loc.fov < 0:
            raise ArrowscopeError(
                "this row has no bounding box or field of view to cut a crop from",
                path=self.path,
                row=row,
                hint="the table needs *_AreaShape_BoundingBox* or "
                "Metadata_SourceBBox* columns",
            )
        image = self._channel_image(self.fields_of_view[loc.fov], channel)
        if image is None:
            raise ArrowscopeError(
                f"the field of this row has no {channel!r} image",
                path=self.path,
                row=row,
            )
        y0, x0, y1, x1 = loc.bbox
        return image.sub_image(
            (int(np.floor(y0)), int(np.ceil(y1))),
            (int(np.floor(x0)), int(np.ceil(x1))),
            name=f"row {row} {channel}",
        )

    def stored_crop(self, row: int, channel: str) -> Any:
        """The warehouse's stored crop of ``row`` in ``channel``, or None."""
        if self.image_crops is None or "Metadata_ObjectID" not in self.columns:
            return None
        from ..images.image import open_source

        if self._crop_source is None:
            self._crop_source = open_source(self.image_crops)
            self._object_ids = self.read(["Metadata_ObjectID"]).column(0)
            keys = self._crop_source.read_columns(
                ["Metadata_ObjectID", "source_image_column"]
            )
            # kept as Arrow columns and scanned per lookup (a millisecond for
            # 300k crops) rather than a Python dict of every crop
            self._crop_index = (
                pc.cast(keys.column(0), pa.string()).combine_chunks(),
                keys.column(1).combine_chunks(),
            )
        src = self._crop_source
        assert self._crop_index is not None
        ids, names = self._crop_index
        object_id = self._object_ids[row].as_py()
        if object_id is None:
            return None
        hits = pc.equal(ids, pa.scalar(str(object_id), pa.string()))
        at = None
        for i in np.flatnonzero(hits.fill_null(False).to_numpy(zero_copy_only=False)):
            name = names[int(i)].as_py()
            if (
                name is not None
                and str(name).removeprefix("Image_FileName_") == channel
            ):
                at = int(i)
                break
        if at is None:
            return None
        column = "ome_arrow_image" if "ome_arrow_image" in src.image_columns else None
        return src.image(column or src.default_column(), at)

    def _channel_image(self, fov: FieldOfView, channel: str) -> Any:
        """The field's ``channel`` as a lazy image (opened, or read from its file)."""
        from ..images.image import ArrayPixels, OMEImage
        from ..images.metadata import ImageMeta

        found = fov.channels.get(channel)
        if isinstance(found, OMEImage):
            return found
        if found is not None:
            (Y, X), dtype = plane_shape(found)
            meta = ImageMeta(shape=(1, 1, 1, Y, X), dtype=dtype, name=channel)
            path = found
            return OMEImage(
                meta, ArrayPixels(lambda: read_plane(path)[None, None, None])
            )
        if fov.ome_row is not None and self.images_path is not None:
            src = self.image_source()
            img = src.image(_image_column(src), fov.ome_row)
            if channel in img.channel_names:
                c = img.channel_names.index(channel)
                return _one_channel(img, c)
            return img
        return None

    def object_numbers(self) -> np.ndarray | None:
        col = self.keys.object
        if col is None:
            return None
        return self.key_table.column(col).cast(pa.int64()).fill_null(-1).to_numpy()

    # ---- lazy pixels
    @property
    def channel_names(self) -> list[str]:
        if self.keys.files:
            aux = {ch for fov in self.fields_of_view for ch in fov.auxiliary}
            return [ch for ch in self.keys.files if ch not in aux]
        if self.images_path is not None:
            src = self.image_source()
            col = _image_column(src)
            return src.image(col, 0).channel_names if col else []
        names: list[str] = []  # linked per field (image assets)
        for fov in self.fields_of_view:
            names += [ch for ch in fov.channels if ch not in names]
        return names

    @property
    def mask_names(self) -> list[str]:
        names: list[str] = []
        for fov in self.fields_of_view:
            names += [m for m in fov.masks if m not in names]
        if self.images_path is not None:
            src = self.image_source()
            names += [c for c in _label_columns(src) if c not in names]
        return names

    def plane_shape(self) -> tuple[int, int] | None:
        """(Y, X) of the fields of view, from the first file found (header only)."""
        for fov in self.fields_of_view:
            for p in [*fov.channels.values(), *fov.masks.values()]:
                if p is not None:
                    return plane_shape(p)[0]
            if fov.ome_row is not None and self.images_path is not None:
                src = self.image_source()
                img = src.image(_image_column(src), fov.ome_row)
                return img.shape[-2:]
        return None

    def channel_stack(self, channel: str) -> Any:
        """A lazy (F, Y, X) dask array of ``channel`` over the fields of view.

        Missing images are blank planes (and listed in :attr:`problems`).
        """
        return self._stack(
            lambda fov: self._channel_plane(fov, channel), self._channel_dtype(channel)
        )

    def mask_stack(self, compartment: str) -> Any:
        """A lazy (F, Y, X) int32 label stack of ``compartment`` masks."""
        return self._stack(
            lambda fov: self._mask_plane(fov, compartment), np.dtype(np.int32)
        )

    def _channel_dtype(self, channel: str) -> np.dtype[Any]:
        for fov in self.fields_of_view:
            p = fov.channels.get(channel)
            if p is not None:
                return plane_shape(p)[1]
        if self.images_path is not None:
            src = self.image_source()
            return src.image(_image_column(src), 0).dtype
        return np.dtype(np.uint16)

    def _stack(
        self, plane: Callable[[FieldOfView], np.ndarray | None], dtype: np.dtype[Any]
    ) -> Any:
        import dask
        import dask.array as da

        shape = self.plane_shape()
        if shape is None:
            raise ArrowscopeError(
                "no image or mask of any field of view was found",
                path=self.path,
                hint="give the folder holding the images: --images FOLDER on the "
                "command line, image_root= in Python",
            )

        fovs = self.fields_of_view

        def load(i: int) -> np.ndarray:
            got = plane(fovs[i])
            out = np.zeros(shape, dtype)
            if got is not None:
                h, w = min(shape[0], got.shape[0]), min(shape[1], got.shape[1])
                out[:h, :w] = got[:h, :w]
            return out

        # Named, not tokenized: hashing a field's linked images pickles them
        # (1.7 s for ten fields of a warehouse), for a key nobody shares.
        name = f"arrowscope-plane-{uuid.uuid4().hex}"
        planes = [
            da.from_delayed(
                dask.delayed(load, pure=False)(i, dask_key_name=(name, i)),
                shape,
                dtype,
            )
            for i in range(len(fovs))
        ]
        return da.stack(planes) if planes else da.zeros((0, *shape), dtype)

    def _channel_plane(self, fov: FieldOfView, channel: str) -> np.ndarray | None:
        p = fov.channels.get(channel)
        if p is not None:
            return read_plane(p)
        if fov.ome_row is not None and self.images_path is not None:
            src = self.image_source()
            img = src.image(_image_column(src), fov.ome_row)
            c = img.channel_names.index(channel) if channel in img.channel_names else 0
            return np.asarray(img.to_dask()[0, c, 0])
        return None

    def _mask_plane(self, fov: FieldOfView, compartment: str) -> np.ndarray | None:
        p = fov.masks.get(compartment)
        if p is not None:
            return label_binary(read_plane(p))
        if fov.ome_row is not None and self.images_path is not None:
            src = self.image_source()
            if compartment in _label_columns(src):
                img = src.image(compartment, fov.ome_row)
                return np.asarray(img.to_dask()[0, 0, 0]).astype(np.int32)
        return None

    # ---- link checks
    def link_report(
        self, progress: Callable[[int, int], None] | None = None
    ) -> dict[str, Any]:
        """Count rows and labels that do not match, reading each mask once.

        Returns counts of ``rows_without_image`` (missing channel files or no
        image key), ``rows_not_in_mask`` (object number, or for binary masks
        the centre, not found), ``labels_without_row`` and per-field details.
        """
        fovs = self.fields_of_view
        comp = self.keys.compartment
        mask_name = comp if comp and any(comp in f.masks for f in fovs) else None
        if mask_name is None and self.mask_names:
            mask_name = self.mask_names[0]
        objs = self.object_numbers()
        centers = self.centers()
        no_image = self.fov_of_row < 0
        not_in_mask = 0
        labels_without_row = 0
        details = []
        for i, fov in enumerate(fovs):
            if fov.missing and fov.ome_row is None:
                no_image[fov.rows] = True
            entry: dict[str, Any] = {
                "field": fov.label,
                "rows": len(fov.rows),
                "missing": fov.missing,
            }
            mask = None
            if mask_name is not None:
                p = fov.masks.get(mask_name)
                mask = (
                    read_plane(p) if p is not None else self._mask_plane(fov, mask_name)
                )
            if mask is not None:
                binary = is_binary(mask)
                labels = label_binary(mask) if binary else mask.astype(np.int64)
                present = set(np.unique(labels).tolist()) - {0}
                if binary or objs is None:
                    hit = labels_at(labels, centers[fov.rows])
                    hit_labels = set(hit[hit > 0].tolist())
                    missing_rows = int((hit == 0).sum())
                else:
                    hit_labels = set(objs[fov.rows].tolist()) & present
                    missing_rows = int(
                        sum(1 for v in objs[fov.rows] if v not in present)
                    )
                not_in_mask += missing_rows
                without = len(present - hit_labels)
                labels_without_row += without
                entry.update(
                    labels=len(present),
                    rows_not_in_mask=missing_rows,
                    labels_without_row=without,
                    binary=binary,
                )
            details.append(entry)
            if progress:
                progress(i + 1, len(fovs))
        crops = self._rows_with_crop()
        if crops is not None:
            no_image &= ~crops  # a row's embedded crop is its image
        return {
            "rows": self.num_rows,
            "fields_of_view": len(fovs),
            "rows_without_image": int(no_image.sum()),
            "rows_with_crop": None if crops is None else int(crops.sum()),
            "rows_not_in_mask": not_in_mask,
            "labels_without_row": labels_without_row,
            "mask": mask_name,
            "auxiliary_files": self._auxiliary_counts(),
            "fields": details,
            "problems": list(self.problems),
        }

    def _rows_with_crop(self) -> np.ndarray | None:
        """Rows holding an embedded OME-Arrow crop in any column (None: no crops)."""
        if not self.keys.ome or self.path is None:
            return None
        from ..images.image import open_source

        src = open_source(self.path)
        has = np.zeros(self.num_rows, bool)
        for column in src.image_columns:
            has |= np.array([m is not None for m in src.metas(column)], bool)
        return has

    def _auxiliary_counts(self) -> dict[str, dict[str, int]]:
        """Non-channel files (illumination functions, outlines): found/missing."""
        out: dict[str, dict[str, int]] = {}
        for fov in self.fields_of_view:
            for name, p in fov.auxiliary.items():
                entry = out.setdefault(name, {"found": 0, "missing": 0})
                entry["found" if p is not None else "missing"] += 1
        return out

    def describe(self) -> dict[str, Any]:
        """Key roles and link facts as plain data (for ``arrowscope info``)."""
        return {
            "rows": self.num_rows,
            "columns": len(self.columns),
            "keys": self.keys.to_dict(),
            "fields_of_view": len(self.fields_of_view),
            "channels": self.channel_names,
            "masks": self.mask_names,
            "images": str(self.images_path) if self.images_path else None,
            "problems": list(self.problems),
        }


def labels_at(labels: np.ndarray, yx: np.ndarray) -> np.ndarray:
    """The label under each (y, x) centre; 0 when outside, NaN or background."""
    out = np.zeros(len(yx), np.int64)
    ok = np.isfinite(yx).all(axis=1)
    iy = np.round(np.where(ok, yx[:, 0], -1)).astype(np.int64)
    ix = np.round(np.where(ok, yx[:, 1], -1)).astype(np.int64)
    ok &= (iy >= 0) & (iy < labels.shape[0]) & (ix >= 0) & (ix < labels.shape[1])
    out[ok] = labels[iy[ok], ix[ok]]
    return out


def _image_column(src: Any) -> str | None:
    for col in src.image_columns:
        if col not in _label_columns(src):
            return col
    return None


def _label_columns(src: Any) -> list[str]:
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


def open_profiles(
    path: str | Path | pa.Table,
    image_root: str | Path | None = None,
    keys: KeyRoles | dict[str, Any] | None = None,
    *,
    table: str | None = None,
    **links: Any,
) -> ProfileTable:
    """Open a profile table lazily (footer; key columns on first use).

    ``table``: for a warehouse root, which of its tables holds the profiles
    (``"joined_raw"``, ``"profiles.joined_profiles"``…) when not the default.

    Parameters
    ----------
    path
        Parquet, Arrow IPC or CSV profile table (or an in-memory table).
    image_root
        Folder under which image and mask files are looked up by name (paths
        recorded on another machine are resolved here).
    keys
        Key roles to use instead of the detected ones.
    **links
        ``images=``: an OME-Parquet table of fields of view (image and label
        columns) sharing key columns with the profiles; ``mask_root=``:
        another folder to search for masks; ``allow_outside_roots=True``:
        follow absolute or ``..`` paths the table names outside the roots
        (by default they are reported in ``problems`` and not opened);
        ``source_images=``: a CytoTable ``source_images`` table (one image per
        field and channel). A CytoTable warehouse root opens its profiles
        linked to its source images (see :func:`open_warehouse`).
    """
    if (
        isinstance(path, (str, os.PathLike))
        and not _is_uri(path)
        and Path(path).is_dir()
    ):
        from .warehouse import is_warehouse, open_warehouse

        if is_warehouse(path):
            return open_warehouse(path).profiles(  # type: ignore[no-any-return]
                table, image_root=image_root, keys=keys, **links
            )
    if table is not None:
        raise ArrowscopeError(
            f"table={table!r} chooses a table of a warehouse; this is one table",
            path=None if isinstance(path, pa.Table) else path,
            hint="leave the table choice out",
        )
    return ProfileTable(path, image_root, keys, **links)


def not_a_table_error(path: Path) -> ArrowscopeError:
    """Why ``path`` cannot be opened as a profile table: missing, a folder (an
    OME-Zarr image, a folder of images), or an empty file."""
    if not path.exists():
        return CorruptFileError("no such file", path=path)
    if path.is_dir():
        kind = (
            "an OME-Zarr image"
            if path.name.lower().endswith(".zarr")
            else "a folder that is not a warehouse"
        )
        return CorruptFileError(
            f"is {kind}, not a profile table",
            path=path,
            hint="a profile table is a Parquet, Arrow IPC or CSV file, or a "
            "warehouse root; images open with 'arrowscope view'",
        )
    if path.stat().st_size == 0:
        return CorruptFileError(
            "is an empty file", path=path, hint="was it still being written?"
        )
    return CorruptFileError("cannot be read as a table", path=path)


def is_text_table(path: Path) -> bool:
    """Whether ``path`` is a CSV/TSV table (by suffix; ``.gz`` allowed): a
    profile table that holds no images, wherever it is opened."""
    name = path.name.lower().removesuffix(".gz")
    return path.is_file() and name.endswith((".csv", ".tsv"))


def _is_uri(path: Any) -> bool:
    from ..images.stores import is_uri

    return is_uri(path)


def _linked(
    path: Path | None, uri: str | None, relative: str
) -> tuple[Path | str, bool]:
    """Where an image link points, and whether that stays in the table's folder."""
    if uri is not None:
        base, _, query = uri.partition("?")
        parts = [p for p in relative.split("/") if p not in ("", ".")]
        inside = ".." not in parts and not relative.startswith("/")
        target = base.rsplit("/", 1)[0] + "/" + "/".join(parts)
        return (f"{target}?{query}" if query else target), inside
    assert path is not None
    linked = path.parent / relative
    return linked, linked.resolve().is_relative_to(path.parent.resolve())


def _image_link(raw: bytes) -> dict[str, Any] | None:
    """The ``arrowscope.images`` link of a profile file, or None if unusable."""
    try:
        spec = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(spec, dict) or not isinstance(spec.get("path"), str):
        return None
    keys = spec.get("keys", [])
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        return None
    return {"path": spec["path"], "keys": keys}


def looks_like_profiles(
    schema: pa.Schema, metadata: dict[bytes, bytes] | None = None
) -> bool:
    """Whether a table's schema shows image links (file columns, masks, image table)."""
    if metadata and IMAGES_METADATA_KEY in metadata:
        return True
    roles = detect_keys(schema)
    return bool(roles.image and (roles.files or roles.masks))
