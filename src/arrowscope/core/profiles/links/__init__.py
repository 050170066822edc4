"""Links from profile rows to images, as plug-ins under one interface.

Each kind reads one way a table names its images (see :class:`Link`):

- :class:`FileColumnsLink`: CellProfiler's file columns, local or remote roots;
- :class:`ImageTableLink`: a linked OME-Parquet table of fields of view;
- :class:`SourceImagesLink` / :class:`ImageCropsLink`: CytoTable's image tables;
- :class:`ImageAssetsLink`: iceberg-bioimage's ``image_assets``;
- :class:`ZarrPlateLink`: an OME-Zarr HCS plate's fields, by well and site
  (OME-Zarr images named by file columns or assets open as :class:`ZarrChannel`).

:func:`build_links` is the one place that picks kinds, from a table and the
user's options (``open_profiles``); a warehouse passes its image tables as
options. Adding a kind is a subclass of :class:`Link` and a line here; another
package adds one through the ``arrowscope.links`` entry-point group: each
entry point a callable ``(keys, *, table_path, table_uri, metadata, options)``
returning a :class:`Link` for the table, or None when it has nothing to link.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..keys import KeyRoles
from .assets import ImageAssetsLink
from .base import FieldOfView, Link, LinkedRows
from .cytotable import ImageCropsLink, SourceImagesLink
from .files import FileColumnsLink, LoadDataLink, RemoteFile
from .image_table import ImageTableLink
from .omezarr import ZarrChannel, ZarrPlateLink

__all__ = [
    "IMAGES_METADATA_KEY",
    "FieldOfView",
    "FileColumnsLink",
    "ImageAssetsLink",
    "ImageCropsLink",
    "ImageTableLink",
    "Link",
    "LinkedRows",
    "LoadDataLink",
    "RemoteFile",
    "SourceImagesLink",
    "ZarrChannel",
    "ZarrPlateLink",
    "build_links",
]

#: A profile file's own link to its OME-Parquet image table (schema metadata):
#: ``{"path": "plate.ome.parquet", "keys": ["Metadata_ImageNumber"]}``.
IMAGES_METADATA_KEY = b"arrowscope.images"


def build_links(
    keys: KeyRoles,
    *,
    table_path: Path | None = None,
    table_uri: str | None = None,
    metadata: dict[bytes, bytes] | None = None,
    image_root: str | Path | None = None,
    images: str | Path | None = None,
    mask_root: str | Path | None = None,
    allow_outside_roots: bool = False,
    source_images: Any = None,
    image_crops: Any = None,
    image_assets: Any = None,
    asset_root: str | Path | None = None,
    load_data: str | Path | None = None,
    **extra: Any,
) -> tuple[list[Link], list[str]]:
    """The links a table's columns, its metadata and the user's options call
    for, and the problems found choosing them. Options no built-in link takes
    (``extra``) are for links other packages register."""
    from ...images.formats import is_zarr_name
    from ...images.stores import is_uri

    links: list[Link] = []
    problems: list[str] = []
    image_table: Path | str | None = None
    table_keys: list[str] = []
    if images:
        image_table = images if is_uri(str(images)) else Path(images)
    elif metadata and IMAGES_METADATA_KEY in metadata:
        image_table, table_keys = _recorded_image_table(
            metadata[IMAGES_METADATA_KEY],
            table_path,
            table_uri,
            allow_outside_roots,
            problems,
        )
    if load_data is not None:
        links.append(
            LoadDataLink(
                load_data if is_uri(str(load_data)) else Path(load_data),
                keys,
                table_path=table_path,
                table_uri=table_uri,
                image_root=image_root,
                allow_outside=allow_outside_roots,
            )
        )
    elif keys.files or keys.masks:
        links.append(
            FileColumnsLink(
                keys,
                table_path=table_path,
                table_uri=table_uri,
                image_root=image_root,
                mask_root=mask_root,
                allow_outside=allow_outside_roots,
                images_elsewhere=source_images is not None,
            )
        )
    if image_table is not None and is_zarr_name(str(image_table)):
        links.append(ZarrPlateLink(image_table, keys))  # an OME-Zarr HCS plate
    elif image_table is not None:
        links.append(ImageTableLink(image_table, keys, table_keys))
    if source_images is not None:
        links.append(SourceImagesLink(source_images, keys))
    elif image_assets is not None:
        given = [r for r in (asset_root, image_root) if r]
        links.append(
            ImageAssetsLink(
                image_assets,
                roots=[Path(r) for r in given if not is_uri(str(r))],
                remote_roots=[str(r) for r in given if is_uri(str(r))],
                allow_outside=allow_outside_roots,
            )
        )
    if image_crops is not None:
        links.append(ImageCropsLink(image_crops))
    links += _plugin_links(
        keys,
        problems,
        table_path=table_path,
        table_uri=table_uri,
        metadata=metadata,
        options={"image_root": image_root, "mask_root": mask_root, **extra},
    )
    return links, problems


#: the entry-point group other packages register link builders in
LINKS_GROUP = "arrowscope.links"


def _plugin_links(keys: KeyRoles, problems: list[str], **context: Any) -> list[Link]:
    """The links other packages' builders make for this table (a builder
    that fails is a problem of the table, never a failure to open it)."""
    from importlib.metadata import entry_points

    from ...errors import ArrowscopeError

    registered = list(entry_points(group=LINKS_GROUP))
    unknown = [k for k in context["options"] if k not in ("image_root", "mask_root")]
    if unknown and not registered:  # a misspelt option is named, never ignored
        raise ArrowscopeError(
            f"no link takes the option {unknown[0]!r}",
            hint="options: image_root, images, mask_root, load_data, "
            "allow_outside_roots, source_images, image_crops, image_assets, "
            "asset_root",
        )
    found: list[Link] = []
    for ep in registered:
        try:
            link = ep.load()(keys, **context)
        except Exception as exc:  # noqa: BLE001 - another package's bug
            problems.append(f"the link {ep.name} ({ep.value}) failed: {exc}")
            continue
        if isinstance(link, Link):
            found.append(link)
        elif link is not None:
            problems.append(f"the link {ep.name} ({ep.value}) returned no Link")
    return found


def _recorded_image_table(
    raw: bytes,
    table_path: Path | None,
    table_uri: str | None,
    allow_outside: bool,
    problems: list[str],
) -> tuple[Path | str | None, list[str]]:
    """The image table a profile file's metadata names, and its key columns;
    (None, []) with the problem noted when it is unusable or leaves the
    table's folder."""
    spec = _image_link(raw)
    if spec is None:
        problems.append(
            f"the file's {IMAGES_METADATA_KEY.decode()} metadata is not a "
            'valid image link ({"path": …, "keys": […]}); ignored'
        )
        return None, []
    if table_path is None and table_uri is None:
        return None, []
    linked, inside = _linked(table_path, table_uri, spec["path"])
    if allow_outside or inside:
        return linked, list(spec["keys"])
    problems.append(
        f"not followed: the image link {spec['path']!r} leaves the "
        "table's folder; pass allow_outside_roots=True to allow it"
    )
    return None, []


def _linked(
    path: Path | None, uri: str | None, relative: str
) -> tuple[Path | str, bool]:
    """Where an image link points, and whether that stays in the table's folder
    (normalised first: ``..``, ``%2e%2e`` and back slashes cannot leave it)."""
    from ...images.locations import LocationError, parse

    if uri is not None:
        folder = parse(uri).parent
        try:
            target = folder.join(relative)
        except LocationError:
            return f"{uri.split('?', 1)[0].rsplit('/', 1)[0]}/{relative}", False
        return target.uri, target.within(folder)
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
