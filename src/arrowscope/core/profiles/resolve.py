"""One front door for "what is this path": the napari reader, the command
line and the API all ask :func:`resolve`, then open what it found with
:func:`open_location` — never by trying readers until one works.

A location is one of four kinds (or None: not arrowscope's):

- ``"warehouse"``: a CytoTable / iceberg-bioimage warehouse root (or its
  ``catalog.json`` / ``warehouse_manifest.json``, which resolve to the root);
- ``"chunk dataset"``: an OME-Arrow typed chunk dataset folder;
- ``"image table"``: a table holding OME-Arrow images (``.ome.parquet`` and
  any Parquet/IPC/Vortex/Lance table with an OME-Arrow column);
- ``"profile table"``: a table whose rows link to images elsewhere (file
  columns, an image table, CSV from CellProfiler), including CellProfiler's
  own SQLite database, CSV export folder and a CPA properties file.

Deciding reads the suffix, the folder's shape and at most a table's footer
or schema: never pixels, never rows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa

from .iceberg import REGISTRY
from .keys import KeyRoles
from .warehouse import MANIFEST

if TYPE_CHECKING:  # the table is opened lazily: resolve() reads no rows
    from .table import ProfileTable

Kind = Literal["warehouse", "chunk dataset", "image table", "profile table"]

#: table suffixes looked at (others are never ours)
SUFFIXES = (".parquet", ".arrow", ".feather", ".ipc", ".csv", ".tsv", ".vortex")
#: ours by name: a broken one is still ours, so its problem gets reported
OWN_SUFFIXES = (".ome.parquet", ".ome.arrow")
#: the files that name a warehouse (an Iceberg registry, an iceberg-bioimage
#: manifest): opening one opens its warehouse
_REGISTRIES = (REGISTRY, MANIFEST)


@dataclass(frozen=True)
class Resolved:
    """What a location is, and where to open it from (a warehouse's root)."""

    kind: Kind
    location: Path | str


def resolve(location: str | Path, *, remote_schema: bool = True) -> Resolved | None:
    """What ``location`` (a path or URI) holds, or None when it is not ours.

    ``remote_schema=False`` decides a URI by its name only (no request), as a
    reader asked about every dropped path must. A folder that exists but
    cannot be entered raises :class:`~arrowscope.core.errors.AccessError`.
    """
    from ..images.locations import check_regular
    from ..images.stores import is_uri

    text = str(location)
    name = text.split("?", 1)[0].rstrip("/").lower()
    if is_uri(text):
        if not name.endswith((*SUFFIXES, ".lance")):
            return None
        if not remote_schema:
            ours = name.endswith((*OWN_SUFFIXES, ".lance"))
            return Resolved("image table", text) if ours else None
        return _by_schema(text, name)  # one footer read
    path = Path(text)
    check_regular(path)  # a pipe or device is refused before any open
    if is_cellprofiler_output(path):
        return Resolved("profile table", path)
    if path.name in _REGISTRIES:
        from .warehouse import warehouse_root

        root = warehouse_root(path)
        return None if root is None else Resolved("warehouse", root)
    if path.is_dir():
        from ..images.dataset import is_chunk_dataset
        from .warehouse import is_warehouse

        if name.endswith(OWN_SUFFIXES) and not _is_lance(path):
            # a dataset folder by name: even one that cannot be read is ours
            return Resolved("chunk dataset", path)
        if is_chunk_dataset(path):
            return Resolved("chunk dataset", path)
        if is_warehouse(path):
            return Resolved("warehouse", path)
        return _by_schema(path, name)  # a Lance dataset folder
    if not name.endswith(SUFFIXES + (".csv.gz", ".tsv.gz")):
        return None
    if name.endswith((".csv", ".tsv", ".csv.gz", ".tsv.gz")):
        return Resolved("profile table", path) if _text_is_profiles(path) else None
    found = _by_schema(path, name)
    if found is None and name.endswith(OWN_SUFFIXES):
        return Resolved("image table", path)
    return found


def is_cellprofiler_output(path: Path) -> bool:
    """CellProfiler's SQLite database, its CSV export folder, or a CPA
    properties file: profile tables, by their header or their files."""
    from .cellprofiler import SQLITE_SUFFIXES, is_csv_export, is_sqlite
    from .cpa import is_properties

    name = path.name.lower()
    if name.endswith(SQLITE_SUFFIXES):
        return is_sqlite(path)
    if is_properties(path):
        return True
    try:
        return path.is_dir() and is_csv_export(path)
    except PermissionError:  # unreadable: reported when it is opened
        return False


def _is_lance(path: Path) -> bool:
    try:
        return path.joinpath("_versions").is_dir()
    except PermissionError:  # unreadable: reported when it is opened
        return False


def _by_schema(location: str | Path, name: str) -> Resolved | None:
    """Decide by the table's schema (a footer or header read), None when it
    is not a table or not ours."""
    from ..images.image import has_ome_arrow
    from ..images.stores import open_store
    from .table import looks_like_profiles

    try:
        schema = open_store(location).schema
    except Exception:  # noqa: BLE001 - unreadable: ours only by name
        ours = name.endswith(OWN_SUFFIXES)
        return Resolved("image table", location) if ours else None
    if has_ome_arrow(schema):
        return Resolved("image table", location)
    if looks_like_profiles(schema, schema.metadata):
        return Resolved("profile table", location)
    return None


def _text_is_profiles(path: Path) -> bool:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    from .table import looks_like_profiles

    delimiter = "\t" if ".tsv" in path.name.lower() else ","
    try:
        with pcsv.open_csv(
            path, parse_options=pcsv.ParseOptions(delimiter=delimiter)
        ) as reader:
            return looks_like_profiles(reader.schema)
    except (OSError, pa.ArrowInvalid):
        return False


def open_location(location: str | Path, **options: Any) -> Any:
    """Open what :func:`resolve` finds: an image source (image tables and chunk
    datasets), or a :class:`~arrowscope.core.profiles.table.ProfileTable`
    (profile tables and warehouses, linked to their images). ``options`` go
    to ``open_profiles`` for profile tables."""
    from ..errors import NotOmeArrowError
    from ..images.image import open_source

    found = resolve(location)
    if found is None:
        raise NotOmeArrowError(
            "holds neither OME-Arrow images nor an image-linked profile table",
            path=location,
            hint="run 'arrowscope info' on it",
        )
    if found.kind in ("warehouse", "profile table"):
        return open_profiles(found.location, **options)
    return open_source(found.location)


def open_profiles(
    path: str | Path | pa.Table,
    image_root: str | Path | None = None,
    keys: KeyRoles | dict[str, Any] | None = None,
    *,
    table: str | None = None,
    **options: Any,
) -> ProfileTable:
    """Open a profile table lazily (footer; key columns on first use), linked
    to its images.

    Parameters
    ----------
    path
        Parquet, Arrow IPC, Lance or CSV profile table, local or a URI (or an
        in-memory table); a warehouse root opens the warehouse's profiles.
    image_root
        Folder (or ``s3://…`` URI) under which image and mask files are found
        by name (paths recorded on another machine are resolved here).
    keys
        Key roles to use instead of the detected ones.
    table
        For a warehouse root: which of its tables holds the profiles
        (``"joined_raw"``, ``"profiles.joined_profiles"``…), if not the default.
    **options
        ``images=``: an OME-Parquet table of fields of view (image and label
        columns) sharing key columns with the profiles; ``mask_root=``:
        another folder to search for masks; ``allow_outside_roots=True``:
        follow absolute or ``..`` paths (or other buckets) the table names
        outside the roots (by default they are reported in ``problems`` and
        not opened); ``source_images=``, ``image_crops=``: CytoTable image
        tables; ``image_assets=``, ``asset_root=``: iceberg-bioimage's.
    """
    from ..errors import ArrowscopeError
    from ..images.stores import is_uri

    if (
        isinstance(path, (str, os.PathLike))
        and not is_uri(path)
        and Path(path).is_dir()
    ):
        from .warehouse import is_warehouse, open_warehouse

        if is_warehouse(path):
            return open_warehouse(path).profiles(  # type: ignore[no-any-return]
                table, image_root=image_root, keys=keys, **options
            )
    if table is not None:
        raise ArrowscopeError(
            f"table={table!r} chooses a table of a warehouse; this is one table",
            path=None if isinstance(path, pa.Table) else path,
            hint="leave the table choice out",
        )
    from .links import build_links
    from .table import ProfileTable

    output = None
    if isinstance(path, (str, os.PathLike)) and not is_uri(path):
        from ..images.locations import check_regular
        from .cellprofiler import open_output

        check_regular(path)
        output = open_output(Path(path))
    if output is not None:  # CellProfiler's own SQLite, CSV folder, properties
        pt = ProfileTable(output.store, keys)
        pt.source_inputs = list(output.inputs)
        props = output.properties
        if props is not None:
            if keys is None:
                pt.keys = props.keys(pt.keys, pt.columns)
            pt.channel_colors = props.channel_colors
            pt.classifier_ignore = props.ignore
            pt.training_set = props.training_set
            pt.properties = props.path
            pt.plate_keys = props.plate_keys(pt.columns)
    else:
        pt = ProfileTable(path, keys)
    pt.links, problems = build_links(
        pt.keys,
        table_path=output.beside if output is not None else pt.path,
        table_uri=pt.uri,
        metadata=pt.metadata,
        image_root=image_root,
        **options,
    )
    for problem in [*(output.notes if output is not None else []), *problems]:
        pt.note_problem(problem)
    return pt
