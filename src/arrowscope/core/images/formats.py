"""Every storage format arrowscope reads or writes, spelled once.

A :class:`Format` holds what tells it apart — its suffixes, its magic bytes,
the entry that marks a folder of it — and what it needs (the extra, with the
line that installs it). The store layer, ``convert``, the writers, the front
door (:mod:`arrowscope.core.profiles.kinds`), the panels' file dialogs and
napari's reader patterns all take their suffixes and magic from here.

Deciding a format never tries readers in turn: a file is known by its magic
bytes (or, remotely, by a name that says it), a folder by what it holds.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import AccessError
from .locations import special_kind


@dataclass(frozen=True)
class Format:
    """One storage format.

    ``table``: read as a table by the store layer (``open_store``);
    ``writes``: arrowscope writes OME-Arrow tables in it; ``image``: an image
    file or folder that ``convert`` reads (through bioio or arrowscope's
    OME-Zarr reader); ``folder``: the entry inside a folder of this format
    (a Lance dataset's ``_versions``), None for files.
    """

    name: str
    title: str
    suffixes: tuple[str, ...]
    magic: tuple[bytes, ...] = ()
    folder: str | None = None
    table: bool = False
    writes: bool = False
    image: bool = False
    #: the optional extra that brings its reader, and the module it imports
    extra: str | None = None
    module: str | None = None

    def named(self, name: str) -> bool:
        """Whether a file or folder name (or URI path) carries a suffix of this
        format (case-insensitive; a query string and a trailing slash ignored)."""
        return _plain(name).endswith(self.suffixes)

    def has_magic(self, head: bytes) -> bool:
        return any(head.startswith(m) for m in self.magic)

    @property
    def install(self) -> str | None:
        """The line that installs this format's reader, when it is an extra."""
        return f"pip install 'arrowscope[{self.extra}]'" if self.extra else None

    @property
    def patterns(self) -> list[str]:
        """Glob patterns of its names (a file dialog's filter, napari's reader)."""
        return [f"*{s}" for s in self.suffixes]


def _plain(name: str) -> str:
    return name.split("?", 1)[0].split("#", 1)[0].rstrip("/").lower()


PARQUET = Format(
    "parquet",
    "Parquet",
    (".ome.parquet", ".parquet"),
    magic=(b"PAR1",),
    table=True,
    writes=True,
)
IPC = Format(
    "ipc",
    "Arrow IPC",
    (".ome.arrow", ".arrow", ".feather", ".ipc"),
    # the file format's magic, or a stream's continuation marker
    magic=(b"ARROW1", b"\xff\xff\xff\xff"),
    table=True,
    writes=True,
)
LANCE = Format(
    "lance",
    "Lance",
    (".lance",),
    folder="_versions",
    table=True,
    writes=True,
    extra="lance",
    module="lance",
)
VORTEX = Format(
    "vortex",
    "Vortex",
    (".vortex",),
    magic=(b"VTXF",),
    table=True,
    extra="vortex",
    module="vortex",
)
CSV = Format("csv", "CSV", (".csv", ".csv.gz"))
TSV = Format("tsv", "TSV", (".tsv", ".tsv.gz"))
SQLITE = Format(
    "sqlite", "SQLite", (".sqlite", ".sqlite3", ".db"), magic=(b"SQLite format 3\x00",)
)


def _image_format(
    name: str,
    title: str,
    suffixes: tuple[str, ...],
    magic: tuple[bytes, ...],
    module: str,
) -> Format:
    """An image file ``convert`` reads through bioio (the ``io`` extra)."""
    return Format(
        name, title, suffixes, magic=magic, image=True, extra="io", module=module
    )


_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic, BigTIFF
OME_TIFF = _image_format(
    "ome-tiff", "OME-TIFF", (".ome.tif", ".ome.tiff"), _TIFF_MAGIC, "bioio_ome_tiff"
)
TIFF = _image_format("tiff", "TIFF", (".tif", ".tiff"), _TIFF_MAGIC, "bioio_tifffile")
PNG = _image_format("png", "PNG", (".png",), (b"\x89PNG\r\n\x1a\n",), "bioio_imageio")
ZARR = Format(
    "zarr",
    "OME-Zarr",
    (".ome.zarr", ".zarr"),
    folder=".zattrs",  # Zarr v2; v3 folders hold zarr.json
    image=True,
)

#: in the order a name is matched (a longer suffix before its tail)
FORMATS: tuple[Format, ...] = (
    PARQUET,
    IPC,
    LANCE,
    VORTEX,
    CSV,
    TSV,
    SQLITE,
    OME_TIFF,
    TIFF,
    PNG,
    ZARR,
)
#: the store layer's formats (``open_store`` reads them)
TABLE_FORMATS = tuple(f for f in FORMATS if f.table)
#: the formats arrowscope writes an OME-Arrow table in (``copy_table``)
WRITABLE = tuple(f for f in FORMATS if f.writes)
#: image files and folders ``convert`` turns into OME-Parquet (and back)
IMAGE_FORMATS = tuple(f for f in FORMATS if f.image)
#: plain text tables (profile tables, LoadData files)
TEXT_FORMATS = (CSV, TSV)


def by_name(name: str, among: Iterable[Format] = FORMATS) -> Format | None:
    """The format a name says (its longest matching suffix), or None."""
    plain = _plain(name)
    best: tuple[int, Format] | None = None
    for fmt in among:
        for suffix in fmt.suffixes:
            if plain.endswith(suffix) and (best is None or len(suffix) > best[0]):
                best = (len(suffix), fmt)
    return None if best is None else best[1]


def by_magic(head: bytes, among: Iterable[Format] = FORMATS) -> Format | None:
    """The format whose magic bytes ``head`` starts with, or None."""
    return next((f for f in among if f.has_magic(head)), None)


def suffixes(formats: Iterable[Format]) -> tuple[str, ...]:
    """Every suffix of ``formats``, longest first (for ``str.endswith``)."""
    found = {s for f in formats for s in f.suffixes}
    return tuple(sorted(found, key=lambda s: (-len(s), s)))


#: the suffix of OME-Arrow files by name: a broken one is still ours, so its
#: problem gets reported rather than left to other readers
OWN_SUFFIXES = (".ome.parquet", ".ome.arrow")


#: every output ``convert`` writes, as the user would type it
CONVERT_TARGETS = (
    *(" / ".join(f.suffixes) for f in WRITABLE),
    *OME_TIFF.suffixes[-1:],
    *ZARR.suffixes[:1],
)


# ---- zarr folders, known by what they hold (no zarr import) --------------------
ZARR_MARKERS = ("zarr.json", ".zattrs", ".zgroup", ".zarray")


def is_zarr_folder(path: Path) -> bool:
    """Whether a local folder is a zarr group or array (whatever its name)."""
    try:
        return path.is_dir() and any((path / m).is_file() for m in ZARR_MARKERS)
    except OSError:
        return False


def hcs_plate_field(path: Path) -> str | None:
    """For a local zarr folder whose attributes describe an HCS plate, the
    path of its first well's first field (``B/3/0``), else None; only the
    plate's metadata file is read."""
    import json

    for marker in ("zarr.json", ".zattrs"):
        try:
            doc = json.loads((path / marker).read_text())
        except (OSError, ValueError):
            continue
        attrs = doc.get("attributes", doc) if isinstance(doc, dict) else {}
        ome = attrs.get("ome", attrs) if isinstance(attrs, dict) else {}
        if isinstance(ome, dict) and isinstance(ome.get("plate"), dict):
            wells = ome["plate"].get("wells") or [{}]
            well = wells[0].get("path", "A/1") if isinstance(wells[0], dict) else ""
            return f"{well}/0"
    return None


def is_zarr_name(name: str) -> bool:
    """Whether a file name or location names a zarr folder."""
    return name.split("?", 1)[0].rstrip("/").lower().endswith(".zarr")


def denied(path: Any) -> AccessError:
    """The one error for a file that exists but may not be read."""
    return AccessError(
        "cannot be read: permission denied",
        path=path,
        hint="check the file's permissions",
    )


_CONVERT_HINT = "convert it first: arrowscope convert {name} {stem}.ome.parquet"


def describe_foreign(path: Path) -> tuple[str, str | None]:
    """What a path that is not a Parquet/IPC table is, and what to do about it."""
    name, stem = path.name, path.name.split(".")[0] or "image"
    convert = _CONVERT_HINT.format(name=str(path), stem=stem)
    if not os.path.lexists(path):
        return "no such file or folder", None
    kind = special_kind(path)
    if kind is not None:
        return (
            f"is a {kind}, not a file (reading it could wait forever); "
            "nothing was opened",
            "copy the data into a file and open that",
        )
    if path.is_dir():
        field = hcs_plate_field(path)
        if field is not None:
            well = field.replace("/", "")
            return (
                "is an OME-Zarr HCS plate, not an OME-Arrow table",
                f"open it as the images of a profile table (arrowscope view "
                f"--profiles TABLE --image-table {path}), or convert one field: "
                f"arrowscope convert {path}/{field} {well}.ome.parquet",
            )
        if is_zarr_folder(path):
            return "is a Zarr folder, not an OME-Arrow table", _CONVERT_HINT.format(
                name=str(path), stem=stem if path.name != stem else path.name
            )
        return (
            "is a folder, not an OME-Arrow chunk dataset "
            "(it has no images.parquet and chunks.parquet)",
            "open a file inside it, or a chunk dataset folder",
        )
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
        size = path.stat().st_size
    except PermissionError as exc:
        raise denied(str(path)) from exc
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}", None
    if size == 0:
        return "is an empty file", "was it still being written?"
    image = by_magic(head, IMAGE_FORMATS)
    if image is not None:
        title = "TIFF" if image.title.endswith("TIFF") else image.title
        article = "an" if title[0] in "AEIOU" else "a"
        return f"is {article} {title} image, not an OME-Arrow table", convert
    if by_name(name, TEXT_FORMATS) is not None:
        return "is a CSV/TSV table, not an OME-Arrow table", None
    return (
        "is not a Parquet or Arrow IPC file (bad magic bytes)",
        "is the file truncated or of another format?",
    )
