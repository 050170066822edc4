"""Turn OME-Arrow images into napari layer data, and napari layers back into images.

Pure functions over numpy/dask and plain dicts: no Qt, no viewer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import ArrowscopeError
from ..core.images.dataset import PYRAMID_MIN_PX, PYRAMID_TOP_PX
from ..core.images.image import OMEImage, OMESource
from ..core.images.metadata import (
    DIMS,
    ImageMeta,
    default_color,
    is_unset_color,
    uint32_to_rgba,
)

LayerData = tuple[Any, dict[str, Any], str]
NAMESPACE = "arrowscope"
_PRIMARIES = {
    (1.0, 0.0, 0.0): "red",
    (0.0, 1.0, 0.0): "green",
    (0.0, 0.0, 1.0): "blue",
    (1.0, 0.0, 1.0): "magenta",
    (0.0, 1.0, 1.0): "cyan",
    (1.0, 1.0, 0.0): "yellow",
    (1.0, 1.0, 1.0): "gray",
}


def colormap_for(color: int | None, index: int, count: int) -> Any:
    """A napari colormap for a stored 0xRRGGBBAA colour (white or none → a default)."""
    if is_unset_color(color):
        return default_color(index, count) if count > 1 else "gray"
    assert color is not None
    r, g, b, _ = uint32_to_rgba(color)
    named = _PRIMARIES.get((r, g, b))
    if named:
        return named
    return {
        "colors": [[0.0, 0.0, 0.0, 1.0], [r, g, b, 1.0]],
        "name": f"#{color >> 8:06x}",
    }


def _axes(meta: ImageMeta) -> list[int]:
    """Indices into TCZYX kept as napari axes (C handled separately)."""
    T, C, Z, _, _ = meta.shape
    keep = []
    if T > 1:
        keep.append(0)
    if Z > 1:
        keep.append(2)
    return keep + [3, 4]


def _scale_units(meta: ImageMeta, axes: list[int]) -> tuple[list[float], list[str]]:
    sizes = {
        2: meta.physical_size[0],
        3: meta.physical_size[1],
        4: meta.physical_size[2],
    }
    units = {2: meta.units[0], 3: meta.units[1], 4: meta.units[2]}
    scale = [1.0 if sizes.get(a) is None else float(sizes[a]) for a in axes]  # type: ignore[arg-type]
    unit = [
        (units.get(a) or "pixel") if sizes.get(a) is not None else "pixel" for a in axes
    ]
    return scale, unit


MULTISCALE_MIN_PX = PYRAMID_MIN_PX  # wider or taller planes: a multiscale layer
MULTISCALE_TOP_PX = PYRAMID_TOP_PX  # the coarsest level is about this size


def pyramid(data: Any, rgb: bool = False) -> list[Any]:
    """Levels of a lazy array, halving Y and X, down to about 1024 pixels.

    The fallback for files without a stored pyramid: strided views of the
    full-resolution array (exact values, no averaging, so labels stay
    labels). Each coarse chunk reads the stored chunks under it, so the
    overview reads every tile once; at full zoom only the tiles on screen are
    read. Datasets written with a stored pyramid (``pyramid=True``, the
    default for planes above :data:`MULTISCALE_MIN_PX`) use it instead (see
    :func:`image_layers`): the overview then reads only the coarsest level.
    """
    yx = (-3, -2) if rgb else (-2, -1)
    levels = [data]
    step = 2
    while max(data.shape[yx[0]], data.shape[yx[1]]) // step >= MULTISCALE_TOP_PX:
        index = [slice(None)] * data.ndim
        index[yx[0]] = index[yx[1]] = slice(None, None, step)
        levels.append(data[tuple(index)])
        step *= 2
    return levels


def _needs_pyramid(data: Any, rgb: bool) -> bool:
    yx = data.shape[-3:-1] if rgb else data.shape[-2:]
    return hasattr(data, "dask") and max(yx) > MULTISCALE_MIN_PX


def _with_pyramids(layers: list[LayerData]) -> list[LayerData]:
    """Make layers whose planes are huge multiscale (see :func:`pyramid`)."""
    out = []
    for arr, kwargs, kind in layers:
        rgb = bool(kwargs.get("rgb"))
        if _needs_pyramid(arr, rgb):
            arr, kwargs = pyramid(arr, rgb), {**kwargs, "multiscale": True}
        out.append((arr, kwargs, kind))
    return out


def _layer_data(
    data: Any,
    meta: ImageMeta,
    *,
    label: str,
    is_label: bool,
    lead_axes: Sequence[tuple[str, str]] = (),
    extra_meta: dict[str, Any],
) -> list[LayerData]:
    """Layer tuples for a (lead..., T, C, Z, Y, X) array."""
    n_lead = len(lead_axes)
    axes = _axes(meta)
    T, C, Z, _, _ = meta.shape
    scale, units = _scale_units(meta, axes)
    labels = [DIMS[a].lower() for a in axes]
    scale = [1.0] * n_lead + scale
    units = ["pixel"] * n_lead + units
    axis_labels = [name for name, _ in lead_axes] + labels
    # Select the kept axes; C moves right after the lead axes.
    index: list[Any] = [slice(None)] * n_lead
    for a in range(5):
        index.append(slice(None) if a in axes or a == 1 else 0)
    data = data[tuple(index)]  # (lead..., [T], C, [Z], Y, X)
    c_pos = n_lead + (1 if 0 in axes else 0)
    base_meta = {
        NAMESPACE: {
            **extra_meta,
            "channel_names": [ch.name for ch in meta.channels] or None,
        }
    }
    common = {"scale": scale, "units": units, "axis_labels": axis_labels}
    if meta.rgb:
        data = (
            np.moveaxis(data, c_pos, -1)
            if isinstance(data, np.ndarray)
            else data.transpose([i for i in range(data.ndim) if i != c_pos] + [c_pos])
        )
        return [
            (
                data,
                {**common, "name": label, "rgb": True, "metadata": base_meta},
                "image",
            )
        ]
    names = _channel_names(meta, label)
    if is_label:
        out = []
        for c in range(C):
            plane = data[tuple([slice(None)] * c_pos + [c])]
            out.append(
                (plane, {**common, "name": names[c], "metadata": base_meta}, "labels")
            )
        return out
    if C == 1:
        data = data[tuple([slice(None)] * c_pos + [0])]
        cmap = colormap_for(meta.channels[0].color if meta.channels else None, 0, 1)
        return [
            (
                data,
                {**common, "name": names[0], "colormap": cmap, "metadata": base_meta},
                "image",
            )
        ]
    cmaps = [
        colormap_for(meta.channels[c].color if c < len(meta.channels) else None, c, C)
        for c in range(C)
    ]
    kwargs = {
        **common,
        "channel_axis": c_pos,
        "name": names,
        "colormap": cmaps,
        "blending": ["translucent_no_depth"] + ["additive"] * (C - 1),
        "metadata": base_meta,
    }
    return [(data, kwargs, "image")]


def _channel_names(meta: ImageMeta, label: str) -> list[str]:
    C = meta.shape[1]
    names = [ch.name for ch in meta.channels[:C]]
    names += [f"C{i}" for i in range(len(names), C)]
    if C == 1:
        return [label]
    generic = all(n == f"C{i}" for i, n in enumerate(names))
    return [f"{label} {n}" for n in names] if generic else names


def image_layers(
    img: OMEImage, *, label: str | None = None, origin: str | None = None
) -> list[LayerData]:
    """Layer tuples for one lazily opened image."""
    label = label if label is not None else (img.name or img.column or "image")
    extra = {
        "source": None if img.path is None else str(img.path),
        "column": img.column,
        "row": img.row,
        "origin": origin or f"{img.path}::{img.column}::{img.row}",
        "image_type": img.image_type,
        "dtype": img.dtype.name,
    }
    levels = [img, *img.levels]
    per_level = [
        _layer_data(
            level.to_dask(errors="blank"),
            img.meta,  # napari takes scale and units from the full resolution
            label=label,
            is_label=img.is_label,
            extra_meta=extra,
        )
        for level in levels
    ]
    if len(per_level) == 1:
        return _with_pyramids(per_level[0])
    # a stored pyramid: each layer gets its data at every level
    return [
        ([tup[0] for tup in same], {**same[0][1], "multiscale": True}, same[0][2])
        for same in zip(*per_level, strict=True)
    ]


def table_layers(
    src: OMESource, column: str, *, label: str | None = None
) -> list[LayerData]:
    """Layer tuples for every row of an image column, stacked on a ``row`` axis."""
    stack, metas = src.stack(column)
    first = next(m for m in metas if m is not None)
    shape = tuple(int(n) for n in stack.shape[1:])
    meta = ImageMeta(
        shape=shape,  # type: ignore[arg-type]
        dtype=stack.dtype,
        name=first.name,
        image_type=first.image_type,
        channels=first.channels,
        physical_size=first.physical_size,
        units=first.units,
        rgb=first.rgb,
    )
    probe = src.image(column, next(i for i, m in enumerate(metas) if m is not None))
    features = None
    if src.other_columns:
        features = src.read_columns(src.other_columns).to_pandas()
    extra = {
        "source": None if src.path is None else str(src.path),
        "column": column,
        "origin": f"{src.path}::{column}",
        "row_axis": 0,
        "table_rows": list(range(len(metas))),
        "true_shapes": [None if m is None else list(m.shape) for m in metas],
        "features": features,
        "image_type": first.image_type,
    }
    return _layer_data(
        stack,
        meta,
        label=label or column,
        is_label=probe.is_label,
        lead_axes=[("row", "pixel")],
        extra_meta=extra,
    )


def _single_label(img: OMEImage, src: OMESource) -> str:
    """A name for the one image of a file: its own name, else its only channel's
    name, else the file name."""
    if img.name:
        return img.name
    names = img.channel_names
    if len(names) == 1 and names[0] != "C0":
        return names[0]
    return Path(str(src.path)).name


#: CytoDataFrame's column suffixes, said in words.
_SUFFIX_WORDS = {"ORIG": "", "LABL": "mask", "COMP": "RGB", "OUTL": "outline"}


def distinct_names(columns: Sequence[str]) -> dict[str, str]:
    """Short layer names that keep what differs between image columns.

    ``Image_FileName_OrigDNA_OMEArrow_LABL`` beside ``…_OrigAGP_OMEArrow_ORIG``
    becomes ``OrigDNA mask`` and ``OrigAGP``: the parts every column shares are
    dropped, so names are not cut to look alike in the layer list. A name that
    would become empty or clash keeps the whole column name.
    """
    parts = {c: [t for t in re.split(r"[_\s]+", c) if t] for c in columns}
    if len(columns) < 2:
        return {c: c for c in columns}
    common = set.intersection(*(set(p) for p in parts.values()))
    out = {}
    for c, tokens in parts.items():
        kept = [_SUFFIX_WORDS.get(t, t) for t in tokens if t not in common]
        out[c] = " ".join(t for t in kept if t) or c
    if len(set(out.values())) < len(out):
        return {c: c for c in columns}
    return out


def source_layers(
    src: OMESource, problems: list[ArrowscopeError] | None = None
) -> list[LayerData]:
    """Layers for everything a source holds: one image, or one stack per column.

    With a ``problems`` list, a column that cannot be shown (no images in any
    row, broken metadata) is skipped and its error appended, so the other
    columns still open; without one, the first such error is raised.
    """
    layers: list[LayerData] = []
    several = len(src.image_columns) > 1
    short = distinct_names(src.image_columns)
    for column in src.image_columns:
        try:
            if src.num_rows == 1:
                img = src.image(column, 0)
                label = short[column] if several else _single_label(img, src)
                layers += image_layers(img, label=label)
            else:
                layers += table_layers(src, column, label=short[column])
        except ArrowscopeError as exc:
            if problems is None:
                raise
            problems.append(exc)
    return layers
