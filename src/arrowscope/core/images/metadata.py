"""Image metadata: the part of an OME-Arrow record that is not pixels."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import SchemaError, UnsupportedError

DIMS = "TCZYX"
RGBA = tuple[float, float, float, float]

#: Colours given to channels that carry none (or white), by channel count.
_DEFAULT_COLORS: dict[int, tuple[str, ...]] = {
    1: ("gray",),
    2: ("magenta", "green"),
    3: ("blue", "green", "red"),
}
_NAMED: dict[str, RGBA] = {
    "gray": (1.0, 1.0, 1.0, 1.0),
    "red": (1.0, 0.0, 0.0, 1.0),
    "green": (0.0, 1.0, 0.0, 1.0),
    "blue": (0.0, 0.0, 1.0, 1.0),
    "magenta": (1.0, 0.0, 1.0, 1.0),
    "cyan": (0.0, 1.0, 1.0, 1.0),
    "yellow": (1.0, 1.0, 0.0, 1.0),
}


def rgba_to_uint32(color: Any) -> int:
    """Pack a colour (name, hex string, 0-1 or 0-255 RGB(A) tuple) into 0xRRGGBBAA."""
    if isinstance(color, (int, np.integer)):
        return int(color) & 0xFFFFFFFF
    if isinstance(color, str):
        text = color.strip().lower()
        if text in _NAMED:
            return rgba_to_uint32(_NAMED[text])
        if text.startswith("#") and len(text) in (7, 9):
            value = int(text[1:], 16)
            return (value << 8 | 0xFF) if len(text) == 7 else value
        raise UnsupportedError(
            f"unknown colour {color!r}", hint="use a name, #RRGGBB or an RGBA tuple"
        )
    values = [float(v) for v in color]
    if len(values) == 3:
        values.append(1.0 if max(values) <= 1.0 else 255.0)
    if len(values) != 4:
        raise UnsupportedError(f"a colour needs 3 or 4 components, got {color!r}")
    scale = 255.0 if max(values) <= 1.0 else 1.0
    r, g, b, a = (min(255, max(0, round(v * scale))) for v in values)
    return (r << 24) | (g << 16) | (b << 8) | a


def uint32_to_rgba(value: int) -> RGBA:
    """Unpack 0xRRGGBBAA into an RGBA tuple of floats in 0-1."""
    value = int(value) & 0xFFFFFFFF
    return (
        ((value >> 24) & 0xFF) / 255.0,
        ((value >> 16) & 0xFF) / 255.0,
        ((value >> 8) & 0xFF) / 255.0,
        (value & 0xFF) / 255.0,
    )


def is_unset_color(value: int | None) -> bool:
    """Whether a stored colour means "no preference" (missing or opaque white)."""
    return value is None or value == 0xFFFFFFFF


def default_color(index: int, count: int) -> str:
    """A distinct display colour for channel ``index`` of ``count``."""
    palette = _DEFAULT_COLORS.get(
        count, ("cyan", "magenta", "yellow", "red", "green", "blue")
    )
    return palette[index % len(palette)]


@dataclass(frozen=True)
class Channel:
    """One channel's metadata.

    ``color`` is the packed 0xRRGGBBAA value exactly as stored, or None when
    the file gives none. OME-Arrow writers store white for "unset"; viewers
    show white as gray (see :func:`is_unset_color`).
    """

    name: str
    id: str | None = None
    color: int | None = None
    emission_um: float | None = None
    excitation_um: float | None = None
    illumination: str | None = None

    @property
    def rgba(self) -> RGBA | None:
        """The colour as RGBA floats, or None when unset."""
        return None if self.color is None else uint32_to_rgba(self.color)


#: ``image_type`` values that mean "integer labels, not intensities".
LABEL_TYPES = frozenset({"label", "labels", "mask", "masks", "segmentation"})


@dataclass(frozen=True)
class ImageMeta:
    """Everything about one image except its pixels.

    Shapes and sizes are always in TCZYX order; ``physical_size`` and
    ``units`` in ZYX order.
    """

    shape: tuple[int, int, int, int, int]
    dtype: np.dtype[Any]
    name: str | None = None
    id: str | None = None
    image_type: str | None = None
    channels: tuple[Channel, ...] = ()
    physical_size: tuple[float | None, float | None, float | None] = (None, None, None)
    units: tuple[str | None, str | None, str | None] = (None, None, None)
    acquisition_datetime: _dt.datetime | None = None
    rgb: bool = False
    #: An RGB composite stored as one interleaved (Y, X, 3) plane per (t, z).
    interleaved: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        """Size of the whole image in memory, in bytes."""
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize


def dtype_from_name(
    name: str | None, *, where: dict[str, Any] | None = None
) -> np.dtype[Any]:
    """Parse a ``pixels_meta.type`` string into a numpy dtype (little-endian)."""
    aliases = {
        "float": "float32",
        "double": "float64",
        "bit": "bool",
        "boolean": "bool",
    }
    text = (name or "uint16").strip().lower()
    text = aliases.get(text, text)
    try:
        dtype = np.dtype(text)
    except TypeError as exc:
        raise UnsupportedError(
            f"unknown pixel type {name!r}",
            hint="expected a numpy dtype name such as uint16 or float32",
            **(where or {}),
        ) from exc
    if dtype.kind not in "biuf":
        raise UnsupportedError(f"unsupported pixel type {name!r}", **(where or {}))
    return dtype.newbyteorder("<") if dtype.itemsize > 1 else dtype


def _opt_float(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if np.isnan(value) else value


def size_field(pm: dict[str, Any], axis: str, where: dict[str, Any]) -> int:
    """``size_<axis>`` of a pixels_meta (or images.parquet row), checked."""
    value = pm.get(f"size_{axis.lower()}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise SchemaError(
            f"pixels_meta.size_{axis.lower()} is {value!r}, not a whole number",
            hint="the file's metadata is broken; re-export it",
            **where,
        )
    if value <= 0:
        raise SchemaError(
            f"pixels_meta.size_{axis.lower()} is {value}: sizes must be positive",
            **where,
        )
    return int(value)


def physical_sizes(
    pm: dict[str, Any],
) -> tuple[tuple[float | None, ...], tuple[Any, ...] | None]:
    """(z, y, x) sizes with unusable values dropped, and the raw values if any were."""
    raw = tuple(pm.get(f"physical_size_{a}") for a in "zyx")
    sizes = tuple(_opt_float(v) for v in raw)
    good = tuple(
        None if s is None or not (np.isfinite(s) and s > 0) else s for s in sizes
    )
    dropped = any(v is not None and g is None for v, g in zip(raw, good, strict=True))
    return good, (raw if dropped else None)


def meta_from_record(record: dict[str, Any], *, where: dict[str, Any]) -> ImageMeta:
    """Build :class:`ImageMeta` from a record dict (pixels fields not needed).

    ``where`` (path/column/row) is only used to label errors. Sizes that are
    not positive whole numbers are a :class:`SchemaError`; physical sizes that
    are not positive finite numbers are dropped (``extra["bad_physical_size"]``
    keeps what was stored); null channel entries get default names.
    """
    pm = record.get("pixels_meta")
    if not isinstance(pm, dict) or not pm:
        raise SchemaError("the record has no pixels_meta", **where)
    shape = tuple(size_field(pm, a, where) for a in DIMS)
    dtype = dtype_from_name(pm.get("type"), where=where)
    channels = []
    raw_channels = pm.get("channels")
    for i, ch in enumerate(raw_channels if isinstance(raw_channels, list) else []):
        ch = ch if isinstance(ch, dict) else {}
        color = ch.get("color_rgba")
        color = None if not isinstance(color, int) else int(color) & 0xFFFFFFFF
        channels.append(
            Channel(
                name=str(ch.get("name") or f"C{i}"),
                id=ch.get("id"),
                color=color,
                emission_um=_opt_float(ch.get("emission_um")),
                excitation_um=_opt_float(ch.get("excitation_um")),
                illumination=ch.get("illumination"),
            )
        )
    sizes, bad = physical_sizes(pm)
    units = tuple(
        u if isinstance(u, str) and u else None
        for u in (pm.get(f"physical_size_{a}_unit") for a in "zyx")
    )
    name = record.get("name")
    return ImageMeta(
        shape=shape,  # type: ignore[arg-type]
        dtype=dtype,
        name=name if isinstance(name, str) else None,
        id=record.get("id"),
        image_type=record.get("image_type"),
        channels=tuple(channels),
        physical_size=sizes,  # type: ignore[arg-type]
        units=units,  # type: ignore[arg-type]
        acquisition_datetime=record.get("acquisition_datetime"),
        extra={"bad_physical_size": bad} if bad else {},
    )
