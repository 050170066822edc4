"""npe2 writers: napari layers to OME-Parquet, losslessly, with progress.

A layer's settings become OME metadata: ``scale`` → physical sizes, ``units``
→ units, name → image name, colormap → channel colour. Channel layers split
from one source (same ``metadata["arrowscope"]["origin"]``) are merged back
into one multi-channel image.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import UnsupportedError, WriteError
from ..core.images.metadata import rgba_to_uint32
from .layers import NAMESPACE

FullLayerData = tuple[Any, dict[str, Any], str]
_DIM_LETTERS = {
    "t": "T",
    "time": "T",
    "c": "C",
    "channel": "C",
    "z": "Z",
    "y": "Y",
    "x": "X",
}


def write_image(path: str, data: Any, meta: dict[str, Any]) -> list[str]:
    """Write one Image layer to ``path``."""
    return write_layers(path, [(data, meta, "image")])


def write_labels(path: str, data: Any, meta: dict[str, Any]) -> list[str]:
    """Write one Labels layer to ``path`` (image_type ``label``)."""
    return write_layers(path, [(data, meta, "labels")])


def write_layers(path: str, layer_data: Sequence[FullLayerData]) -> list[str]:
    """Write Image/Labels layers to one OME-Parquet file.

    One layer (or the channel layers of one source) becomes a single-image
    file; several become one table row with one OME-Arrow column per image;
    layers with a ``row`` axis (stacked crop tables) become one row per crop.
    """
    return [str(export_layers(path, layer_data))]


EXPORT_FORMATS = {
    "parquet": "OME-Parquet (.ome.parquet)",
    "dataset": "Chunked dataset (folder, for large images)",
    "tiff": "OME-TIFF (.ome.tiff)",
    "zarr": "OME-Zarr (.ome.zarr)",
}


def export_layers(
    path: str | Path,
    layer_data: Sequence[FullLayerData],
    *,
    fmt: str = "parquet",
    compression: str | None = "zstd",
    progress: Any = None,
) -> Path:
    """Write layers as OME-Parquet, a chunk dataset, OME-TIFF or OME-Zarr.

    ``progress(done, total)`` is called as images are written; without it a
    napari progress bar is shown. OME-TIFF and OME-Zarr hold one image (the
    channel layers of one source count as one).
    """
    from ..core.images.writer import (
        write_ome_dataset,
        write_ome_parquet,
        write_ome_table,
    )

    if fmt not in EXPORT_FORMATS:
        raise UnsupportedError(
            f"unknown export format {fmt!r}", hint=", ".join(EXPORT_FORMATS)
        )
    target = Path(path)
    _refuse_unsafe_overwrite(target, layer_data)
    groups = _group_by_origin(layer_data)
    images = {name: _images_for(members) for name, members in groups.items()}
    total = sum(len(rows) for rows in images.values())
    specs = [spec for rows in images.values() for spec in rows if spec is not None]
    if fmt in ("tiff", "zarr"):
        if len(specs) != 1:
            raise UnsupportedError(
                f"OME-{fmt.upper()} holds one image; {len(specs)} were selected",
                path=target,
                hint="select one image (or the channel layers of one image), "
                "or export to OME-Parquet",
            )
        from ..core.images.convert import export_image
        from ..core.images.writer import image_to_write

        spec = dict(specs[0])
        export_image(image_to_write(spec.pop("data"), **spec), target)
        if progress:
            progress(1, 1)
        return target
    bar = _progress(total, f"Saving {target.name}") if progress is None else None
    with bar if bar is not None else contextlib.nullcontext(progress) as tick:
        if fmt == "dataset":
            write_ome_dataset(target, specs, compression=compression, progress=tick)
        elif len(images) == 1 and len(next(iter(images.values()))) == 1:
            (spec,) = next(iter(images.values()))
            write_ome_parquet(target, **spec, compression=compression, progress=tick)
        else:
            lengths = {len(rows) for rows in images.values()}
            if len(lengths) > 1:
                raise UnsupportedError(
                    "the selected layers have different numbers of rows",
                    path=target,
                    hint="save the stacked crop layers of one table together",
                )
            write_ome_table(
                target,
                {_column_name(name): rows for name, rows in images.items()},
                compression=compression,
                progress=tick,
            )
    return target


def _refuse_unsafe_overwrite(target: Path, layer_data: Sequence[FullLayerData]) -> None:
    """A chunk dataset folder cannot be replaced while a layer streams from it."""
    if not target.is_dir():
        return  # a single file is replaced atomically; open readers keep the old one
    for _, meta, _ in layer_data:
        source = (meta.get("metadata") or {}).get(NAMESPACE, {}).get("source")
        if source and Path(source).resolve() == target.resolve():
            raise WriteError(
                "cannot overwrite the dataset folder that a layer is reading from",
                path=target,
                hint="save to a new path, then replace the folder",
            )


def _group_by_origin(
    layer_data: Sequence[FullLayerData],
) -> dict[str, list[FullLayerData]]:
    groups: dict[str, list[FullLayerData]] = {}
    for item in layer_data:
        _, meta, layer_type = item
        if layer_type not in ("image", "labels"):
            raise UnsupportedError(
                f"cannot save a {layer_type} layer to OME-Parquet",
                column=meta.get("name"),
            )
        ns = (meta.get("metadata") or {}).get(NAMESPACE, {})
        origin = (
            ns.get("origin")
            if layer_type == "image" and ns.get("channel_names")
            else None
        )
        key = origin or f"{meta.get('name') or 'image'}#{len(groups)}"
        groups.setdefault(key, []).append(item)
    # A merged group is named after its source column, a single layer after itself.
    named: dict[str, list[FullLayerData]] = {}
    for members in groups.values():
        meta = members[0][1]
        ns = (meta.get("metadata") or {}).get(NAMESPACE, {})
        name = str(
            (ns.get("column") if len(members) > 1 else None)
            or meta.get("name")
            or "image"
        )
        named[name if name not in named else f"{name}_{len(named)}"] = members
    return named


def _column_name(name: str) -> str:
    return re.sub(r"[^0-9A-Za-z_]+", "_", Path(name).name).strip("_") or "image"


def _dims_of(meta: dict[str, Any], ndim: int, rgb: bool) -> str:
    labels = [str(a).lower() for a in (meta.get("axis_labels") or ())]
    spatial = ndim - (1 if rgb else 0)
    if len(labels) == spatial and all(
        lab in _DIM_LETTERS or lab == "row" for lab in labels
    ):
        dims = "".join("R" if lab == "row" else _DIM_LETTERS[lab] for lab in labels)
    else:
        dims = {2: "YX", 3: "ZYX", 4: "TZYX", 5: "TCZYX"}.get(spatial, "")
        if not dims:
            raise UnsupportedError(
                f"cannot map a {spatial}-D layer onto TCZYX",
                hint="name its axes with axis_labels",
            )
    return dims + ("C" if rgb else "")


def _unit_text(unit: Any) -> str | None:
    if unit is None:
        return None
    text = format(unit, "~") if hasattr(unit, "dimensionality") else str(unit)
    return None if text in ("pixel", "px", "") else text


def _color_of(colormap: Any) -> int | None:
    if colormap is None:
        return None
    name = colormap if isinstance(colormap, str) else getattr(colormap, "name", None)
    if isinstance(colormap, dict) and "colors" in colormap:
        return rgba_to_uint32(colormap["colors"][-1])
    if isinstance(name, str) and name.startswith("#") and len(name) == 7:
        return rgba_to_uint32(name)
    if name in ("gray", "grey", None):
        return None
    try:
        from napari.utils.colormaps import ensure_colormap

        return rgba_to_uint32(
            tuple(float(v) for v in ensure_colormap(colormap).colors[-1])
        )
    except (
        Exception
    ):  # an unknown colormap keeps no colour rather than failing the save
        return None


def _full_resolution(data: Any, meta: dict[str, Any]) -> Any:
    """Level 0 of a multiscale layer (a list, or napari's MultiScaleData)."""
    if meta.get("multiscale") or isinstance(data, list | tuple):
        return data[0]
    return data


def _images_for(members: list[FullLayerData]) -> list[dict[str, Any]]:
    """Write specs (one per row) for a group of layers of one source."""
    data0, meta0, layer_type = members[0]
    data0 = _full_resolution(data0, meta0)
    rgb = bool(meta0.get("rgb"))
    dims = _dims_of(
        meta0, np.ndim(data0) if not hasattr(data0, "ndim") else data0.ndim, rgb
    )
    # the layer's own axes, which its scale and units describe one by one (a
    # "c"-labelled axis among them; not an RGB axis, nor stacked channel layers)
    layer_dims = dims[:-1] if rgb else dims
    arrays = [_full_resolution(m[0], m[1]) for m in members]
    if len(members) > 1:
        if any(a.shape != arrays[0].shape for a in arrays):
            raise UnsupportedError(
                "channel layers of one source must have the same shape"
            )
        stack = _stack(arrays)
        dims = "C" + dims
    else:
        stack = arrays[0]
    ns = (meta0.get("metadata") or {}).get(NAMESPACE, {})
    names = _channel_names(members, ns.get("channel_names"))
    colors = (
        [_color_of(m[1].get("colormap")) for m in members]
        if layer_type == "image" and not rgb
        else None
    )
    scale = list(meta0.get("scale") or [1.0] * len(layer_dims))
    units = list(meta0.get("units") or [None] * len(scale))
    size = {d: float(s) for d, s in zip(layer_dims, scale, strict=False)}
    unit = {d: _unit_text(u) for d, u in zip(layer_dims, units, strict=False)}
    physical = tuple(size.get(a) for a in "ZYX")
    if all(v in (None, 1.0) for v in physical) and not any(unit.values()):
        physical = (None, None, None)  # napari's default scale: nothing to record
    spec: dict[str, Any] = {
        "dims": dims.replace("R", ""),
        "name": ns.get("name") or str(meta0.get("name") or "image"),
        "image_type": "label"
        if layer_type == "labels"
        else (ns.get("image_type") or "image"),
        "physical_size": physical if any(v is not None for v in physical) else None,
        "units": tuple(unit.get(a) for a in "ZYX"),
    }
    if rgb:
        spec["channel_names"] = ["R", "G", "B"]
    else:
        n_channels = (
            len(members)
            if len(members) > 1
            else (stack.shape[dims.index("C")] if "C" in dims else 1)
        )
        spec["channel_names"] = names if len(names) == n_channels else None
        spec["channel_colors"] = (
            colors if colors and len(colors) == n_channels else None
        )
    if "R" not in dims:
        return [{"data": stack, **spec}]
    axis = dims.index("R")
    shapes = ns.get("true_shapes")
    crop_dims = dims.replace("R", "")
    rows: list[dict[str, Any] | None] = []
    for r in range(stack.shape[axis]):
        if shapes is not None and shapes[r] is None:
            rows.append(None)  # the source row had no image
            continue
        crop = stack[(slice(None),) * axis + (r,)]
        if shapes is not None:  # undo the padding of the stacked view
            true = dict(zip("TCZYX", shapes[r], strict=True))
            crop = crop[
                tuple(
                    slice(0, true[d]) if d in "TZYX" else slice(None) for d in crop_dims
                )
            ]
        rows.append({"data": crop, **spec, "name": f"{spec['name']}[{r}]"})
    return rows


def _stack(arrays: list[Any]) -> Any:
    if any(hasattr(a, "dask") for a in arrays):
        import dask.array as da

        return da.stack(arrays)
    return np.stack([np.asarray(a) for a in arrays])


def _channel_names(
    members: list[FullLayerData], stored: Sequence[str] | None
) -> list[str]:
    names = []
    for _, meta, _ in members:
        name = str(meta.get("name") or "")
        match = next(
            (s for s in (stored or []) if name == s or name.endswith(" " + s)), None
        )
        names.append(match or name)
    return names


class _progress:
    """A napari progress bar when napari is running; yields ``update(done, total)``."""

    def __init__(self, total: int, description: str) -> None:
        self.total = total
        self.description = description
        self._bar: Any = None

    def __enter__(self) -> Any:
        try:
            from napari.utils import progress

            self._bar = progress(total=self.total, desc=self.description)
        except Exception:  # no napari: progress is optional
            self._bar = None

        def update(done: int, total: int) -> None:
            if self._bar is not None:
                self._bar.total = total
                self._bar.update(done - self._bar.n)

        return update

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.close()
