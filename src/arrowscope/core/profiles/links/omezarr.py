"""OME-Zarr as link targets: a channel of an OME-Zarr image named by a
table's file columns or ``image_assets`` (local or remote), and an OME-Zarr
HCS plate (plate → wells → fields) as the fields of view of a profile table
keyed by plate/well/site.

Nothing is opened when a link attaches beyond what names the channels (one
image's metadata); a field's image is opened on first need, once, and a
plane reads only the chunks under it at full resolution (the resolution the
table's coordinates are in); the reduced levels go to the viewer.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ArrowscopeError
from ..keys import KeyRoles, _find
from .base import FieldOfView, LinkedRows, table_name
from .entries import FieldEntries

_OPENED: dict[tuple[int, str], Any] = {}
_OPENED_LOCK = threading.Lock()
_KEEP = 256  # opened images remembered (metadata and array handles only)


def _open(fs: Any, path: str, uri: str) -> Any:
    """The OME-Zarr image at ``path`` on ``fs`` (None: local), opened once."""
    from ...images.omezarr import open_ome_zarr

    key = (id(fs), path)
    with _OPENED_LOCK:
        hit = _OPENED.get(key)
    if hit is not None:
        return hit[1]
    image = open_ome_zarr(path, fs, shown=uri)
    with _OPENED_LOCK:
        if len(_OPENED) >= _KEEP:
            _OPENED.pop(next(iter(_OPENED)))
        _OPENED[key] = (fs, image)  # the filesystem is kept alive with its id
    return image


class ZarrChannel:
    """One channel of an OME-Zarr image, found but not opened: ``channel``
    by name, else the only channel, else the ``position``-th."""

    def __init__(
        self, uri: str, fs: Any, path: str, channel: str, position: int
    ) -> None:
        self.uri, self.fs, self.path = uri, fs, path
        self.channel, self.position = channel, position

    @property
    def name(self) -> str:
        return table_name(self.uri)

    def __str__(self) -> str:
        return self.uri

    def __repr__(self) -> str:
        return f"ZarrChannel({self.uri!r}, {self.channel!r})"

    def image(self) -> Any:
        """The channel as a lazy one-channel OMEImage, with its levels."""
        image = _open(self.fs, self.path, self.uri)
        names = image.channel_names
        if self.channel in names:
            return image.channel(names.index(self.channel))
        if image.shape[1] == 1:
            return image
        if self.position < image.shape[1]:
            return image.channel(self.position)
        raise ArrowscopeError(
            f"has no channel {self.channel!r} (channels: {names})", path=self.uri
        )

    def read_plane(self) -> np.ndarray:
        image = self.image()
        *_, Y, X = image.shape
        return image.read(((0, 1), (0, 1), (0, 1), (0, Y), (0, X)))[0, 0, 0]

    def plane_shape(self) -> tuple[tuple[int, int], np.dtype[Any]]:
        image = self.image()
        return (int(image.shape[-2]), int(image.shape[-1])), image.dtype


def zarr_channel(found: Any, channel: str, position: int) -> ZarrChannel:
    """A found local path or remote file that is a zarr folder, as a channel."""
    if isinstance(found, Path):
        return ZarrChannel(str(found), None, str(found.resolve()), channel, position)
    return ZarrChannel(found.uri, found.fs, found.path, channel, position)


class ZarrPlateLink(FieldEntries):
    """The fields of view of a profile table from an OME-Zarr HCS plate.

    Each field's well (``B03``, ``B3``, ``B/3``) names the plate's well; its
    site names the well's field: sites counted from 1 (CellProfiler's
    convention) are the well's first, second… image; a table whose sites
    start at 0 counts from 0.
    """

    kind = "OME-Zarr plate"

    def __init__(self, location: str | Path, keys: KeyRoles) -> None:
        self.location = location
        self.keys = keys
        self._plate: Any = None
        self._channels: list[str] | None = None

    def options(self) -> dict[str, Any]:
        return {"images": str(self.location)}

    def inputs(self) -> list[Path]:
        return [self.location] if isinstance(self.location, Path) else []

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "plate": str(self.location)}
        if self._plate is not None:
            out["wells"] = len(self._plate.wells)
        return out

    def channel_names(self) -> list[str] | None:
        return self._channels

    def _columns(self, rows: LinkedRows) -> tuple[str | None, str | None]:
        names = rows.columns
        well = _find(names, "Metadata_Well", "Image_Metadata_Well", "Metadata_well")
        site = _find(names, "Metadata_Site", "Image_Metadata_Site", "Metadata_Field")
        return well, site

    def attach(self, fovs: list[FieldOfView], rows: LinkedRows) -> list[str]:
        import pyarrow as pa

        from ...images.omezarr import OmeZarrPlate

        if not fovs:
            return []
        well_col, site_col = self._columns(rows)
        if well_col is None:
            return [
                f"the table has no well column to find its fields in the plate "
                f"{table_name(self.location)} (Metadata_Well): no images linked"
            ]
        try:
            self._plate = plate = OmeZarrPlate(str(self.location))
        except ArrowscopeError as exc:
            return [f"{exc}"]
        first = pa.array([int(f.rows[0]) for f in fovs], pa.int64())
        table = rows.read([c for c in (well_col, site_col) if c]).take(first)
        wells = table.column(well_col).to_pylist()
        sites = table.column(site_col).to_pylist() if site_col else [None] * len(fovs)
        numbers = [int(s) for s in sites if s is not None]
        base = 0 if numbers and min(numbers) == 0 else 1
        problems: list[str] = [
            f"not followed: the plate {table_name(self.location)} lists {why}"
            for why in plate.refused
        ]
        for fov, well, site in zip(fovs, wells, sites, strict=True):
            path = plate.well_path(str(well)) if well is not None else None
            if path is None:
                problems.append(
                    f"well {well} (field {fov.label}) is not in the plate "
                    f"{table_name(self.location)}"
                )
                continue
            index = int(site) - base if site is not None else 0
            try:
                fields = plate.fields(path)
            except ArrowscopeError as exc:
                problems.append(f"well {well} (field {fov.label}): {exc}")
                continue
            if not 0 <= index < len(fields):
                problems.append(
                    f"site {site} (field {fov.label}) is not one of the "
                    f"{len(fields)} field(s) of well {well} in the plate"
                )
                continue
            location = plate.field_location(fields[index])
            if self._channels is None:  # the plate's channels, from one field
                try:
                    image = plate.open_field(fields[index])
                except ArrowscopeError as exc:
                    problems.append(f"field {fov.label}: {exc}")
                    continue
                self._channels = list(image.channel_names)
            fs, path = plate.field_store(fields[index])
            for k, ch in enumerate(self._channels):
                fov.channels[ch] = ZarrChannel(location, fs, path, ch, k)
        return problems

    def covers(self, fov: FieldOfView) -> bool:
        return any(isinstance(v, ZarrChannel) for v in fov.channels.values())
