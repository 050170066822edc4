"""The front door: open what a path, URI or decided location holds.

:func:`~arrowscope.core.profiles.kinds.resolve` decides what a location is
(once: the suffix, the folder's shape, at most a header, a footer or a
schema; never pixels, never rows); :func:`open_location` and
:func:`open_profiles` open it through its kind. The napari reader, ``info``,
every command and the panels come in here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from .keys import KeyRoles
from .kinds import Resolved, resolve

if TYPE_CHECKING:  # the table is opened lazily: resolve() reads no rows
    from .table import ProfileTable

__all__ = ["Resolved", "open_location", "open_profiles", "resolve"]


def open_location(location: str | Path | Resolved, **options: Any) -> Any:
    """Open what a location holds: an image source (image tables and chunk
    datasets) or a :class:`~arrowscope.core.profiles.table.ProfileTable`
    (profile tables, CellProfiler output, warehouses, linked to their
    images). ``options`` go to ``open_profiles`` for profile tables."""
    from ..errors import NotOmeArrowError

    found = resolve(location)
    if found is None:
        raise NotOmeArrowError(
            "holds neither OME-Arrow images nor a profile table",
            path=location,
            hint="run 'arrowscope info' on it",
        )
    return found.open(**options)


def open_profiles(
    path: str | Path | pa.Table | Resolved,
    image_root: str | Path | None = None,
    keys: KeyRoles | dict[str, Any] | None = None,
    *,
    table: str | None = None,
    roles: dict[str, Any] | None = None,
    **options: Any,
) -> ProfileTable:
    """Open a profile table lazily (footer; key columns on first use), linked
    to its images.

    Parameters
    ----------
    path
        Parquet, Arrow IPC, Lance, Vortex or CSV profile table, local or a URI
        (or an in-memory table); CellProfiler's SQLite database, CSV export
        folder or a CPA properties file; a warehouse root opens the
        warehouse's profiles. A location :func:`resolve` decided opens
        without being decided again.
    image_root
        Folder (or ``s3://…`` URI) under which image and mask files are found
        by name (paths recorded on another machine are resolved here).
    keys
        Key roles to use instead of the detected ones.
    table
        For a warehouse root: which of its tables holds the profiles
        (``"joined_raw"``, ``"profiles.joined_profiles"``…), if not the default.
    roles
        Key roles edited over the detected ones: ``image`` (columns),
        ``object`` (the object number column), ``center`` (x and y columns).
    **options
        ``images=``: an OME-Parquet table of fields of view (image and label
        columns) sharing key columns with the profiles; ``mask_root=``:
        another folder to search for masks; ``allow_outside_roots=True``:
        follow absolute or ``..`` paths (or other buckets) the table names
        outside the roots (by default they are reported in ``problems`` and
        not opened); ``load_data=``: CellProfiler's LoadData file;
        ``source_images=``, ``image_crops=``: CytoTable image tables;
        ``image_assets=``, ``asset_root=``: iceberg-bioimage's.
    """
    from .kinds import _open_table

    if roles:
        options["roles"] = roles
    if isinstance(path, pa.Table):
        return _open_table(path, image_root, keys, table=table, **options)  # type: ignore[no-any-return]
    found = resolve(path)
    if found is None or found.role == "images":
        # an image table with feature columns (crops beside their rows), or
        # no kind knows it: opened as a table, which names what is wrong
        # (the decision's store is reused: its footer is not read again)
        return _open_table(found or path, image_root, keys, table=table, **options)  # type: ignore[no-any-return]
    if found.role == "convert" or found.kind.opener is None:
        raise found.refusal("open as a profile table")
    return found.kind.opener(found, image_root, keys, table=table, **options)  # type: ignore[no-any-return]
