"""Every kind of location arrowscope knows, each deciding and opening itself.

A :class:`Kind` holds what tells it apart — its storage formats (suffixes and
magic bytes, from :mod:`~arrowscope.core.images.formats`), the file names it
answers to, and a ``matches`` test that reads at most a header, a footer, a
CSV header line or a folder listing — how it opens, what ``info`` says of it,
what ``convert`` makes of it and the extra it needs.

:func:`resolve` makes one :class:`Candidate` of what the user gave (its
:class:`~arrowscope.core.images.locations.Location`, and each fact about it
read at most once: the first bytes, the table schema), asks the kinds in
order and returns a :class:`Resolved`: the kind and where to open it. The
napari reader, ``info``, every command, the panels and ``convert`` take that;
nothing downstream decides again. :meth:`Resolved.open` opens it: an image
source, a :class:`~arrowscope.core.profiles.table.ProfileTable` built
complete by its kind, or a clear error for a kind arrowscope only converts.

Third-party packages add kinds through the ``arrowscope.kinds`` entry-point
group (each entry point a :class:`Kind`, asked before the built-in ones) and
links through ``arrowscope.links`` (see
:func:`~arrowscope.core.profiles.links.build_links`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..images import formats as F
from ..images.formats import Format
from ..images.locations import Location, check_regular, is_remote_text, parse
from .iceberg import REGISTRY
from .warehouse import MANIFEST

if TYPE_CHECKING:
    import pyarrow as pa

logger = logging.getLogger(__name__)

#: what a kind opens as: an image source, a profile table (a warehouse opens
#: its profiles), or nothing (arrowscope converts it, or it belongs elsewhere)
Role = Literal["images", "profiles", "warehouse", "convert"]
#: the entry-point group third parties register kinds in
KINDS_GROUP = "arrowscope.kinds"


class Candidate:
    """A location being decided: what the user gave, normalised once, and the
    facts the kinds ask about it, each read at most once."""

    def __init__(self, given: str | os.PathLike[str], *, remote_schema: bool) -> None:
        self.given = given
        self.text = os.fspath(given)
        self.remote = is_remote_text(self.text)
        self.location: Location | None
        try:
            self.location = parse(self.text)
        except Exception:  # noqa: BLE001 - a bad location: reported when opened
            self.location = None
        self.name = self.text.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1].lower()
        self.path: Path | None = None if self.remote else Path(self.text)
        self._remote_schema = remote_schema

    def named(self, *fmts: Format) -> bool:
        return any(f.named(self.name) for f in fmts)

    @cached_property
    def is_dir(self) -> bool:
        if self.path is None:
            return False
        try:
            return self.path.is_dir()
        except PermissionError:
            return False

    @cached_property
    def is_file(self) -> bool:
        return self.path is not None and self.path.is_file()

    @cached_property
    def head(self) -> bytes:
        """The first 16 bytes of a local file (empty for folders and the
        unreadable, which are reported when opened)."""
        if not self.is_file:
            return b""
        try:
            with open(self.text, "rb") as fh:
                return fh.read(16)
        except OSError:
            return b""

    @cached_property
    def store(self) -> Any:
        """The table store (its footer, IPC schema or Lance manifest read once;
        for a remote location only when a request is allowed), or None. The
        opener of a local table takes this store: a footer is parsed once
        (a JUMP plate's holds 100,000 column chunks, 110 MB in memory)."""
        if self.remote and not self._remote_schema:
            return None
        from ..images.stores import open_store

        try:
            return open_store(self.text)
        except Exception:  # noqa: BLE001 - unreadable: not a table by content
            return None

    @property
    def schema(self) -> pa.Schema | None:
        """The table schema (see :attr:`store`), or None."""
        store = self.store
        return None if store is None else store.schema

    @cached_property
    def text_schema(self) -> pa.Schema | None:
        """A local CSV/TSV file's header, as a schema (None if unreadable)."""
        import pyarrow as pa
        import pyarrow.csv as pcsv

        if not self.is_file:
            return None
        delimiter = "\t" if self.named(F.TSV) else ","
        try:
            with pcsv.open_csv(
                self.text, parse_options=pcsv.ParseOptions(delimiter=delimiter)
            ) as reader:
                return reader.schema
        except (OSError, pa.ArrowInvalid):
            return None


#: a kind's test: False/None (not this kind), True (this location), or the
#: location to open instead (a warehouse's root for its registry file)
Matcher = Callable[[Candidate], "bool | Path | str | None"]


@dataclass(frozen=True)
class Kind:
    """One kind of location.

    ``claimed``: napari's reader takes it when dropped (plain tables without
    images are left to other readers, though ``info``, ``qc`` and
    ``classify`` open them); ``remote``: it can be decided for a URI.
    """

    name: str
    role: Role
    says: str
    matches: Matcher
    formats: tuple[Format, ...] = ()
    names: tuple[str, ...] = ()
    folder: bool = False
    claimed: bool = True
    remote: bool = False
    #: it holds rows of measurements (qc and classify read them)
    rows: bool = True
    #: its rows are cells (classify judges cells; a LoadData file's rows are
    #: fields of view)
    cells: bool = True
    #: what ``convert`` makes of it (None: it is not converted)
    converts_to: str | None = None
    #: what to do with it when it does not open here
    hint: str | None = None
    #: the extra its reader needs
    extra: str | None = None
    #: for CellProfiler's outputs: the ``cellprofiler`` function that reads
    #: it as one joined table (what ``convert`` writes)
    output: str | None = None
    opener: Callable[..., Any] | None = field(default=None, compare=False)

    @property
    def install(self) -> str | None:
        return f"pip install 'arrowscope[{self.extra}]'" if self.extra else None

    @property
    def patterns(self) -> list[str]:
        """The names napari's reader is offered for this kind."""
        return [*(p for f in self.formats for p in f.patterns), *self.names]


@dataclass(frozen=True)
class Resolved:
    """A decided location: its kind, what the user gave, the normalised
    :class:`Location`, and the path or URI to open (a warehouse's root when
    its registry file was given)."""

    kind: Kind
    given: str | os.PathLike[str]
    location: Location | None
    source: Path | str
    #: the local table's store as deciding opened it (its footer read once)
    store: Any = field(default=None, compare=False, repr=False)

    @property
    def role(self) -> Role:
        return self.kind.role

    @property
    def claimed(self) -> bool:
        return self.kind.claimed and self.kind.role != "convert"

    def open(self, **options: Any) -> Any:
        """An image source (``"images"``), a profile table (``"profiles"``,
        ``"warehouse"``; ``options`` as ``open_profiles`` takes them), or the
        reason it does not open here."""
        if self.kind.role == "images":
            from ..images.image import open_source

            return open_source(self.source)
        if self.kind.role == "convert" or self.kind.opener is None:
            raise self.refusal("open")
        return self.kind.opener(self, **options)

    def output(self) -> Any:
        """A CellProfiler output's joined table and what it read
        (:class:`~arrowscope.core.profiles.cellprofiler.CellProfilerOutput`)."""
        from . import cellprofiler

        if self.kind.output is None:
            raise TypeError(f"{self.kind.name} is not a CellProfiler output")
        return getattr(cellprofiler, self.kind.output)(Path(self.source))

    def refusal(self, verb: str, hint: str | None = None) -> Exception:
        """The error for a kind that does not ``verb`` here: what it is, and
        what to do (``hint``, else the kind's own)."""
        from ..errors import NotOmeArrowError

        hint = hint or self.kind.hint
        if self.kind.role == "convert":
            if isinstance(self.source, Path) and hint == _CONVERT:
                stem = self.source.name.split(".")[0] or "image"
                hint = _CONVERT.replace("IMAGE IMAGE", f"{self.source} {stem}")
            elif isinstance(self.source, Path):
                from ..images.formats import describe_foreign

                hint = describe_foreign(self.source)[1] or hint
            return NotOmeArrowError(
                f"is {self.kind.says}, not an OME-Arrow table",
                path=self.source,
                hint=hint,
            )
        return NotOmeArrowError(
            f"is {self.kind.says}: arrowscope does not {verb} it",
            path=self.source,
            hint=hint,
        )


# ---- the built-in kinds' tests -------------------------------------------------
def _registry(c: Candidate) -> Path | None:
    from .warehouse import warehouse_root

    return warehouse_root(c.path) if c.is_file else None


def _layout(layout: str, registry: str | None = None) -> Matcher:
    def matches(c: Candidate) -> Path | bool | None:
        from .warehouse import layout_of, warehouse_root

        if c.path is None:
            return None
        if registry is not None and c.is_file and c.path.name == registry:
            root = warehouse_root(c.path)
            return root if root is not None and layout_of(root) == layout else None
        if not c.is_dir:
            return None
        try:
            return layout_of(c.path) == layout
        except PermissionError as exc:
            from ..errors import unreadable_folder

            raise unreadable_folder(c.path) from exc

    return matches


def _sqlite(c: Candidate) -> bool:
    return c.named(F.SQLITE) and F.SQLITE.has_magic(c.head)


def _properties(c: Candidate) -> bool:
    from .cpa import is_properties

    return (
        c.path is not None and c.name.endswith(".properties") and is_properties(c.path)
    )


def _csv_folder(c: Candidate) -> bool:
    from .cellprofiler import is_csv_export

    if not c.is_dir:
        return False
    try:
        return is_csv_export(c.path)  # type: ignore[arg-type]
    except PermissionError:  # unreadable: reported when it is opened
        return False


def _lance_folder(c: Candidate) -> bool:
    try:
        return c.is_dir and (c.path / (F.LANCE.folder or "")).is_dir()  # type: ignore[operator]
    except PermissionError:
        return False


def _chunk_dataset(c: Candidate) -> bool:
    from ..images.dataset import is_chunk_dataset

    if not c.is_dir or _lance_folder(c):
        return False
    # a dataset folder by name: even one that cannot be read is ours
    return c.name.endswith(F.OWN_SUFFIXES) or is_chunk_dataset(c.path)  # type: ignore[arg-type]


def _zarr_plate(c: Candidate) -> bool:
    from ..images.formats import hcs_plate_field

    return c.is_dir and hcs_plate_field(c.path) is not None  # type: ignore[arg-type]


def _zarr_image(c: Candidate) -> bool:
    from ..images.formats import is_zarr_folder

    return c.is_dir and is_zarr_folder(c.path)  # type: ignore[arg-type]


def _table_named(c: Candidate) -> bool:
    """A table store by its name (or a Lance folder)."""
    return c.named(*F.TABLE_FORMATS) or _lance_folder(c)


def _image_table(c: Candidate) -> bool:
    from ..images.image import has_ome_arrow

    if not _table_named(c) and not (c.is_file and F.by_magic(c.head, F.TABLE_FORMATS)):
        return False
    schema = c.schema
    if schema is None:  # unreadable, or remote by name only: ours by name
        own = c.name.endswith(F.OWN_SUFFIXES)
        return own or (c.remote and not c._remote_schema and c.named(F.LANCE))
    return has_ome_arrow(schema)


def _linked_table(c: Candidate) -> bool:
    from .table import looks_like_profiles

    if not _table_named(c) and not (c.is_file and F.by_magic(c.head, F.TABLE_FORMATS)):
        return False
    schema = c.schema
    return schema is not None and looks_like_profiles(schema, schema.metadata)


def _plain_table(c: Candidate) -> bool:
    return _table_named(c) and c.schema is not None


def _text(c: Candidate) -> bool:
    return c.is_file and c.named(*F.TEXT_FORMATS)


def _load_data(c: Candidate) -> bool:
    """CellProfiler's LoadData CSV: one row per field naming its files
    (``FileName_*``/``PathName_*`` or ``URL_*``), no objects."""
    from .keys import detect_keys

    schema = c.text_schema if _text(c) else None
    if schema is None:
        return False
    names = schema.names
    has_files = any(
        n.startswith(("FileName_", "URL_", "Image_FileName_")) for n in names
    )
    return has_files and not detect_keys(schema).objects


def _linked_text(c: Candidate) -> bool:
    from .table import looks_like_profiles

    schema = c.text_schema if _text(c) else None
    return schema is not None and looks_like_profiles(schema)


def _image_file(fmt: Format) -> Matcher:
    def matches(c: Candidate) -> bool:
        return fmt.has_magic(c.head)  # empty for folders and the unreadable

    return matches


def _ome_tiff(c: Candidate) -> bool:
    return c.named(F.OME_TIFF) and F.OME_TIFF.has_magic(c.head)


def _tiff(c: Candidate) -> bool:
    return F.TIFF.has_magic(c.head) and not c.named(F.OME_TIFF)


# ---- the built-in kinds' openers ------------------------------------------------
def _open_warehouse(
    found: Resolved,
    image_root: Any = None,
    keys: Any = None,
    *,
    table: str | None = None,
    **options: Any,
) -> Any:
    from .warehouse import open_warehouse

    return open_warehouse(found.source).profiles(
        table, image_root=image_root, keys=keys, **options
    )


def _open_table(
    found: Resolved | Any,
    image_root: Any = None,
    keys: Any = None,
    *,
    table: str | None = None,
    roles: dict[str, Any] | None = None,
    **options: Any,
) -> Any:
    """A profile table in one file, folder, URI or in-memory table."""
    from .table import ProfileTable

    _one_table(found, table)
    source = found.source if isinstance(found, Resolved) else found
    if isinstance(source, Path):
        check_regular(source)
    store = getattr(found, "store", None)  # the footer deciding read
    links = {"image_root": image_root, **options}
    return ProfileTable(
        source if store is None else store, keys, link_options=links, roles=roles
    )


def _open_output(
    found: Resolved,
    image_root: Any = None,
    keys: Any = None,
    *,
    table: str | None = None,
    roles: dict[str, Any] | None = None,
    **options: Any,
) -> Any:
    """CellProfiler's SQLite database, CSV export folder or a CPA properties
    file, as one table (objects joined to their image rows)."""
    from .table import Origin, ProfileTable

    _one_table(found, table)
    output = found.output()
    origin = Origin(
        beside=output.beside,
        inputs=tuple(output.inputs),
        notes=tuple(output.notes),
        properties=output.properties,
    )
    links = {"image_root": image_root, **options}
    return ProfileTable(
        output.store, keys, origin=origin, link_options=links, roles=roles
    )


def _one_table(found: Any, table: str | None) -> None:
    if table is not None:
        from ..errors import ArrowscopeError

        source = getattr(found, "source", None)
        raise ArrowscopeError(
            f"table={table!r} chooses a table of a warehouse; this is one table",
            path=source if isinstance(source, (str, Path)) else None,
            hint="leave the table choice out",
        )


_CONVERT = "convert it first: arrowscope convert IMAGE IMAGE.ome.parquet"


def _warehouse_kind(
    name: str,
    says: str,
    layout: str,
    registry: str | None = None,
    extra: str | None = None,
) -> Kind:
    """A warehouse layout: its root folder (or its registry file) opens its
    profiles, linked to the warehouse's images."""
    return Kind(
        name,
        "warehouse",
        says,
        _layout(layout, registry),
        names=(registry,) if registry else (),
        folder=True,
        opener=_open_warehouse,
        extra=extra,
    )


def _image_kind(name: str, says: str, matches: Matcher, fmt: Format) -> Kind:
    """An image file arrowscope converts (and napari's own readers show)."""
    return Kind(
        name,
        "convert",
        says,
        matches,
        formats=(fmt,),
        converts_to=".ome.parquet",
        hint=_CONVERT,
        extra=fmt.extra,
        rows=False,
    )


_PLATE_HINT = (
    "open it as the images of a profile table (arrowscope view --profiles TABLE "
    "--image-table PLATE), or convert one field: arrowscope convert "
    "PLATE/ROW/COL/FIELD FIELD.ome.parquet"
)

#: the built-in kinds, in the order they are asked (the specific before the
#: general: a folder named as a dataset before any listing of it, an image
#: table before a table of profiles, a table of profiles before a plain table)
BUILTIN: tuple[Kind, ...] = (
    Kind(
        "OME-Arrow chunk dataset",
        "images",
        "an OME-Arrow typed chunk dataset (images.parquet + chunks.parquet)",
        _chunk_dataset,
        folder=True,
        rows=False,
        converts_to=".ome.parquet, .ome.tiff, .ome.zarr",
    ),
    _warehouse_kind(
        "CytoTable Iceberg warehouse",
        f"a CytoTable warehouse (an Iceberg registry, {REGISTRY})",
        "iceberg",
        REGISTRY,
        extra="iceberg",
    ),
    _warehouse_kind(
        "iceberg-bioimage warehouse",
        f"an iceberg-bioimage warehouse ({MANIFEST})",
        "manifest",
        MANIFEST,
    ),
    _warehouse_kind(
        "warehouse data files",
        "a warehouse of NAMESPACE/TABLE/data/*.parquet folders (no registry)",
        "data-files",
    ),
    _warehouse_kind(
        "CytoTable Parquet export",
        "CytoTable's Parquet export (image_crops / source_images beside the profiles)",
        "parquet",
    ),
    Kind(
        "CellProfiler SQLite",
        "profiles",
        "a CellProfiler ExportToDatabase SQLite file",
        _sqlite,
        formats=(F.SQLITE,),
        opener=_open_output,
        output="open_sqlite",
        converts_to=".parquet (the joined single-cell table)",
    ),
    Kind(
        "CellProfiler Analyst properties",
        "profiles",
        "a CellProfiler Analyst properties file",
        _properties,
        names=("*.properties",),
        opener=_open_output,
        output="open_properties",
        converts_to=".parquet (the joined single-cell table)",
    ),
    Kind(
        "CellProfiler CSV folder",
        "profiles",
        "a CellProfiler ExportToSpreadsheet folder (Image.csv and object CSVs)",
        _csv_folder,
        folder=True,
        opener=_open_output,
        output="open_csv_folder",
        converts_to=".parquet (the joined single-cell table)",
    ),
    Kind(
        "OME-Zarr HCS plate",
        "convert",
        "an OME-Zarr HCS plate",
        _zarr_plate,
        formats=(F.ZARR,),
        folder=True,
        hint=_PLATE_HINT,
        rows=False,
    ),
    Kind(
        "OME-Zarr image",
        "convert",
        "an OME-Zarr image",
        _zarr_image,
        formats=(F.ZARR,),
        folder=True,
        converts_to=".ome.parquet",
        hint=_CONVERT,
        rows=False,
    ),
    Kind(
        "OME-Arrow image table",
        "images",
        "a table of OME-Arrow images (Parquet, Arrow IPC, Lance or Vortex)",
        _image_table,
        formats=F.TABLE_FORMATS,
        remote=True,
        converts_to=".ome.parquet, .arrow, .lance, .ome.tiff, .ome.zarr",
    ),
    Kind(
        "profile table",
        "profiles",
        "a table of profiles linked to images (file columns, masks, an image table)",
        _linked_table,
        formats=F.TABLE_FORMATS,
        remote=True,
        opener=_open_table,
    ),
    Kind(
        "CellProfiler LoadData / image CSV",
        "profiles",
        "a CellProfiler LoadData or Image.csv file (a row per field naming its images)",
        _load_data,
        formats=F.TEXT_FORMATS,
        opener=_open_table,
        cells=False,
    ),
    Kind(
        "CSV profile table",
        "profiles",
        "a CSV/TSV table of profiles linked to images",
        _linked_text,
        formats=F.TEXT_FORMATS,
        opener=_open_table,
    ),
    Kind(
        "profile table without images",
        "profiles",
        "a table of measurements naming no images",
        lambda c: _plain_table(c) or _text(c),
        formats=(*F.TABLE_FORMATS, *F.TEXT_FORMATS),
        claimed=False,
        remote=True,
        opener=_open_table,
    ),
    _image_kind("OME-TIFF image", "an OME-TIFF image", _ome_tiff, F.OME_TIFF),
    _image_kind("TIFF image", "a TIFF image", _tiff, F.TIFF),
    _image_kind("PNG image", "a PNG image", _image_file(F.PNG), F.PNG),
)

_REGISTERED: list[Kind] = []
_PLUGINS: list[Kind] | None = None


def register(kind: Kind) -> None:
    """Add a kind, asked before the built-in ones (for code that cannot
    declare an entry point; packages use the ``arrowscope.kinds`` group)."""
    _REGISTERED.insert(0, kind)


def kinds() -> list[Kind]:
    """Every kind, in the order :func:`resolve` asks them: registered, then
    entry points, then the built-in ones."""
    return [*_REGISTERED, *_plugin_kinds(), *BUILTIN]


def by_name(name: str) -> Kind:
    """A kind by its name (``"CellProfiler SQLite"``)."""
    for kind in kinds():
        if kind.name == name:
            return kind
    raise KeyError(name)


def _plugin_kinds() -> list[Kind]:
    """Kinds third-party packages declare (loaded once; a broken one is
    logged and left out, never a failure of every open)."""
    global _PLUGINS
    if _PLUGINS is None:
        from importlib.metadata import entry_points

        found: list[Kind] = []
        for ep in entry_points(group=KINDS_GROUP):
            try:
                kind = ep.load()
            except Exception:  # noqa: BLE001 - another package's bug
                logger.warning("arrowscope: the kind %s cannot be loaded", ep.name)
                continue
            if isinstance(kind, Kind):
                found.append(kind)
            else:
                logger.warning("arrowscope: entry point %s is not a Kind", ep.name)
        _PLUGINS = found
    return _PLUGINS


def reader_patterns() -> list[str]:
    """The file names napari's reader is offered: every pattern of a kind it
    claims (napari.yaml lists exactly these; a test holds them equal)."""
    found = {
        p for k in BUILTIN if k.claimed and k.role != "convert" for p in k.patterns
    }
    return sorted(found)


def file_filter(*roles: Role) -> str:
    """A file dialog's filter for the kinds of ``roles`` (each kind's names),
    then every file."""
    chosen = [k for k in kinds() if k.role in roles and k.patterns]
    patterns = list(dict.fromkeys(p for k in chosen for p in k.patterns))
    return f"Tables and CellProfiler output ({' '.join(patterns)});;All files (*)"


def resolve(
    location: str | os.PathLike[str] | Resolved, *, remote_schema: bool = True
) -> Resolved | None:
    """What ``location`` (a path or URI) is, or None when no kind knows it.

    ``remote_schema=False`` decides a URI by its name only (no request), as a
    reader asked about every dropped path must. A folder that exists but
    cannot be entered raises :class:`~arrowscope.core.errors.AccessError`; a
    named pipe or device is refused before anything opens it.
    """
    if isinstance(location, Resolved):
        return location
    c = Candidate(location, remote_schema=remote_schema)
    if c.path is not None:
        check_regular(c.path)
    for kind in kinds():
        if c.remote and not kind.remote:
            continue
        found = kind.matches(c)
        if found is None or found is False:
            continue
        source: Path | str = (
            found
            if isinstance(found, (str, Path)) and not isinstance(found, bool)
            else (c.text if c.remote else Path(c.text))
        )
        opened = c.__dict__.get("store")  # only if deciding opened it
        mine = opened is not None and not c.remote and source == Path(c.text)
        return Resolved(kind, location, c.location, source, opened if mine else None)
    return None
