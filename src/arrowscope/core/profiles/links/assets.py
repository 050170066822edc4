"""iceberg-bioimage's ``image_assets`` as a link: one image (TIFF, OME-TIFF,
OME-Zarr) per ``image_id``, local or in object storage, confined to the
warehouse and image roots. OME-Zarr is read by arrowscope (chunks, levels),
remote TIFFs through the store layer, other local files by bioio."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ...errors import ArrowscopeError
from ...images.locations import LocationError, parse, parse_table_value, within_any
from ...images.stores import is_uri
from .base import FieldOfView, LinkedRows
from .entries import FieldEntries
from .files import RemoteFile, RemoteRoots, not_followed


def asset_image(path: Path) -> Any:
    """An image file (TIFF, OME-TIFF, OME-Zarr) as a lazy OMEImage, via bioio
    (metadata read now, pixels when a plane is shown)."""
    from ...images.convert import _bioimage, _channels
    from ...images.image import OMEImage
    from ...images.metadata import Channel, ImageMeta
    from ...images.pixels import ArrayPixels

    bio = _bioimage(path)
    data, names, _ = _channels(bio)
    meta = ImageMeta(
        shape=tuple(int(v) for v in data.shape),  # type: ignore[arg-type]
        dtype=np.dtype(data.dtype),
        name=path.name,
        channels=tuple(Channel(n) for n in names),
    )
    return OMEImage(meta, ArrayPixels(lambda: data.compute()))


class ImageAssetsLink(FieldEntries):
    """Channels of each field from the image file its ``image_assets`` row names
    (matched by ``dataset_id``/``image_id`` as text)."""

    kind = "image assets"

    def __init__(
        self,
        assets: Any,
        *,
        roots: list[Path],
        remote_roots: list[str] = (),  # type: ignore[assignment]
        allow_outside: bool = False,
    ) -> None:
        self.assets = assets
        self.roots = roots
        self.remote_roots = list(remote_roots)
        self.allow_outside = allow_outside

    def inputs(self) -> list[Path]:
        return list(self.roots)

    def describe(self) -> dict[str, Any]:
        roots = [str(r) for r in self.roots] + self.remote_roots
        return {"kind": self.kind, "roots": roots}

    def attach(self, fovs: list[FieldOfView], rows: LinkedRows) -> list[str]:
        from ..source import TableRows

        if not fovs:
            return []
        assets = TableRows(self.assets)
        keys = [
            k
            for k in ("dataset_id", "image_id")
            if k in assets.schema.names and k in rows.columns
        ]
        if "image_id" not in keys or "uri" not in assets.schema.names:
            return [
                "the image_assets table shares no image_id with the profiles "
                "(or has no uri column): no images linked"
            ]
        table = assets.read([*keys, "uri"])
        by_key = {
            tuple(str(v) for v in vals): uri
            for *vals, uri in zip(
                *(table.column(c).to_pylist() for c in [*keys, "uri"]), strict=True
            )
        }
        first = pa.array([int(f.rows[0]) for f in fovs], pa.int64())
        mine = rows.read(keys).take(first)
        values = zip(*(mine.column(k).to_pylist() for k in keys), strict=True)
        problems: list[str] = []
        remote = RemoteRoots(self.remote_roots, allow_outside=self.allow_outside)
        for fov, vals in zip(fovs, values, strict=True):
            uri = by_key.get(tuple(str(v) for v in vals))
            if uri is None:
                problems.append(f"no image asset for field {fov.label}")
                continue
            found = (
                self._remote(str(uri), fov, remote, problems)
                if is_uri(str(uri))
                else self._path(str(uri), fov, problems)
            )
            if found is None:
                continue
            try:
                image = _open_asset(found)
            except ArrowscopeError as exc:
                problems.append(f"image asset of field {fov.label}: {exc}")
                continue
            for c, name in enumerate(image.channel_names):
                fov.channels[name] = image.channel(c)
        return problems

    def _remote(
        self, uri: str, fov: FieldOfView, remote: RemoteRoots, problems: list[str]
    ) -> RemoteFile | None:
        found = remote.file(uri)
        if found is None:
            where = remote.refused.pop() if remote.refused else uri
            problems.append(not_followed(f"image asset {where}", fov.label))
        return found

    def _path(self, uri: str, fov: FieldOfView, problems: list[str]) -> Path | None:
        try:
            folder = parse(self.roots[0]) if self.roots else None
            path = parse_table_value(uri, folder).path
        except LocationError as exc:
            problems.append(f"image asset of field {fov.label}: {exc}")
            return None
        roots = [parse(r) for r in self.roots]
        if within_any(parse(path), roots) is None and not self.allow_outside:
            problems.append(not_followed(f"image asset {uri}", fov.label))
            return None
        if not path.exists():
            problems.append(f"image asset not found: {uri} (field {fov.label})")
            return None
        return path


def _open_asset(found: Path | RemoteFile) -> Any:
    """An asset as a lazy OMEImage: OME-Zarr by arrowscope (local or remote),
    a remote TIFF through the store layer, other local files by bioio."""
    from ...images.formats import is_zarr_name
    from ...images.image import OMEImage
    from ...images.metadata import ImageMeta
    from ...images.omezarr import open_ome_zarr
    from ...images.pixels import ArrayPixels

    if isinstance(found, Path):
        if is_zarr_name(found.name):
            return open_ome_zarr(found)
        return asset_image(found)
    if is_zarr_name(found.name):
        return open_ome_zarr(found.path, found.fs, shown=found.uri)
    (Y, X), dtype = found.plane_shape()
    meta = ImageMeta(shape=(1, 1, 1, Y, X), dtype=dtype, name=found.name)
    return OMEImage(meta, ArrayPixels(lambda: found.read_plane()[None, None, None]))
