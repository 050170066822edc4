"""The shape every link shares: fields of view, and the Link interface.

A link finds a profile table's images for its fields of view: it attaches
channels and masks to each field, reports what is missing, can give a cell's
stored crop, and describes itself. :class:`~arrowscope.core.profiles.table.ProfileTable`
holds a list of links and asks them in turn; it knows no link kind by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePath, PureWindowsPath
from typing import Any, ClassVar, Protocol

import numpy as np
import pyarrow as pa

from ..keys import KeyRoles


@dataclass
class FieldOfView:
    """One field of view: its key, its rows, its channel images and masks.

    A channel or mask is a file (a local ``Path`` or a remote location) or an
    opened lazy image; ``None`` where the link named one that was not found.
    """

    key: tuple[Any, ...]
    rows: np.ndarray
    channels: dict[str, Any] = field(default_factory=dict)
    masks: dict[str, Any] = field(default_factory=dict)
    #: Files named in ``Image_FileName_*`` that are not microscope channels
    #: (illumination functions, outlines, overlays), found or None.
    auxiliary: dict[str, Any] = field(default_factory=dict)

    @property
    def missing(self) -> list[str]:
        """Channels whose image was not found."""
        return [ch for ch, p in self.channels.items() if p is None]

    @property
    def label(self) -> str:
        return "/".join(str(k) for k in self.key)


class LinkedRows(Protocol):
    """What a link may ask of the table it links (a ProfileTable)."""

    keys: KeyRoles
    path: Path | None

    @property
    def columns(self) -> list[str]: ...

    @property
    def key_table(self) -> pa.Table: ...

    def read(self, columns: list[str]) -> pa.Table: ...


class Link:
    """A way from profile rows to images. Subclasses override what they give.

    ``attach`` is called once per build of the fields of view and returns the
    problems found (shown by ``info``, the Profiles panel and drag-and-drop).
    The pixel methods return None for what the link does not provide, so
    the table asks the next link.
    """

    #: what the link is, for ``info`` and the link report
    kind: ClassVar[str] = "link"

    def attach(self, fovs: list[FieldOfView], rows: LinkedRows) -> list[str]:
        return []

    def describe(self) -> dict[str, Any]:
        """Plain facts for ``arrowscope info``."""
        return {"kind": self.kind}

    def inputs(self) -> list[Path]:
        """Local files and folders the link reads (never written onto)."""
        return []

    def options(self) -> dict[str, Any]:
        """The ``open_profiles`` options that rebuild this link."""
        return {}

    def covers(self, fov: FieldOfView) -> bool:
        """Whether this link gives ``fov`` its images (it is not missing)."""
        return False

    def channel_names(self) -> list[str] | None:
        return None

    def mask_names(self) -> list[str]:
        return []

    def channel_image(self, fov: FieldOfView, channel: str) -> Any:
        return None

    def channel_plane(self, fov: FieldOfView, channel: str) -> np.ndarray | None:
        return None

    def mask_plane(self, fov: FieldOfView, name: str) -> np.ndarray | None:
        return None

    def plane_shape(self, fov: FieldOfView) -> tuple[int, int] | None:
        return None

    def channel_dtype(self, channel: str) -> np.dtype[Any] | None:
        return None

    def field_dtype(self, fov: FieldOfView, channel: str) -> np.dtype[Any] | None:
        """The dtype of ``channel`` in one field, when the link knows it there."""
        return None

    def stored_crop(self, rows: LinkedRows, row: int, channel: str) -> Any:
        return None


def leaf_name(value: str) -> str:
    """The file name of a POSIX, Windows or ``file:`` path from another machine."""
    value = value.removeprefix("file:")
    return PureWindowsPath(value).name if "\\" in value else PurePath(value).name


def table_name(location: Any) -> str:
    """A table's file name, for messages (a URI without its query)."""
    return leaf_name(str(location).split("?", 1)[0])
