"""Conversions between OME-Parquet and the formats bioio reads and writes.

bioio reads TIFF, OME-TIFF, OME-Zarr and more; bioio's writers write OME-TIFF
and OME-Zarr (v0.5, Zarr v3). Writes go through a temporary sibling and a
rename, so a failed export never leaves a half-written file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .atomic import atomic_target
from .errors import UnsupportedError, WriteError
from .image import OMEImage, open_image
from .writer import ImageToWrite, image_to_write, write_ome_parquet

OME_SUFFIXES = (".parquet", ".arrow", ".feather")


def is_ome_arrow_path(path: Path) -> bool:
    return (
        path.is_dir()
        and (path / "images.parquet").exists()
        or path.name.lower().endswith(OME_SUFFIXES)
    )


def to_ome_parquet(
    src: Path, dst: Path, *, layout: str = "auto", compression: str | None = "zstd"
) -> Path:
    """Convert anything bioio reads (TIFF, OME-TIFF, OME-Zarr, …) to OME-Parquet."""
    try:
        from bioio import BioImage
    except ImportError as exc:  # pragma: no cover - the io extra is missing
        raise UnsupportedError(
            "reading other formats needs bioio", hint="pip install 'arrowscope[io]'"
        ) from exc
    try:
        image = BioImage(src)
    except Exception as exc:  # bioio raises many types for unreadable input
        raise UnsupportedError(f"bioio cannot read this file: {exc}", path=src) from exc
    data = image.get_image_dask_data("TCZYX")
    pps = image.physical_pixel_sizes
    sizes = (pps.Z, pps.Y, pps.X)
    return write_ome_parquet(
        dst,
        data,
        dims="TCZYX",
        name=src.name,
        channel_names=[str(c) for c in image.channel_names]
        if image.channel_names
        else None,
        physical_size=sizes if any(s is not None for s in sizes) else None,
        units="µm",
        layout=layout,
        compression=compression,
    )


TIFF_SUFFIXES = (".ome.tif", ".ome.tiff", ".tif", ".tiff")
ZARR_SUFFIXES = (".ome.zarr", ".zarr")


def export_image(image: OMEImage | ImageToWrite | Any, dst: Path) -> Path:
    """Write one image to OME-TIFF or OME-Zarr (by suffix) with bioio's writers.

    Channel names and colours, the image name and physical sizes are kept.
    """
    img = image if isinstance(image, ImageToWrite) else image_to_write(image)
    name = dst.name.lower()
    if not name.endswith(TIFF_SUFFIXES + ZARR_SUFFIXES):
        raise UnsupportedError(
            f"cannot write {dst.name}",
            hint="write .ome.parquet, .ome.tiff or .ome.zarr",
        )
    meta = img.meta
    colors = None
    if (
        not meta.rgb
        and meta.channels
        and all(c.color is not None for c in meta.channels)
    ):
        colors = [[(c.color >> s) & 0xFF for s in (24, 16, 8)] for c in meta.channels]  # type: ignore[operator]
    names = [c.name for c in meta.channels] or [f"C{i}" for i in range(meta.shape[1])]
    z, y, x = (v if v is not None else 1.0 for v in meta.physical_size)
    try:
        with atomic_target(dst) as tmp:
            if name.endswith(TIFF_SUFFIXES):
                from bioio_base.types import PhysicalPixelSizes
                from bioio_ome_tiff.writers import OmeTiffWriter

                OmeTiffWriter.save(
                    img.data,
                    str(tmp),
                    dim_order="TCZYX",
                    channel_names=names,
                    image_name=meta.name,
                    physical_pixel_sizes=PhysicalPixelSizes(z, y, x),
                    channel_colors=colors,
                )
            else:
                from bioio_ome_zarr.writers import Channel, OMEZarrWriter

                unit = next((u for u in meta.units if u), None)
                writer = OMEZarrWriter(
                    str(tmp),
                    level_shapes=[tuple(int(n) for n in meta.shape)],
                    dtype=meta.dtype,
                    image_name=meta.name or "image",
                    channels=[
                        Channel(
                            label=n,
                            color=f"{(colors[i] if colors else [255, 255, 255])[0]:02X}"
                            f"{(colors[i] if colors else [255, 255, 255])[1]:02X}"
                            f"{(colors[i] if colors else [255, 255, 255])[2]:02X}",
                        )
                        for i, n in enumerate(names)
                    ],
                    axes_names=list("tczyx"),
                    axes_types=["time", "channel", "space", "space", "space"],
                    axes_units=[None, None, unit, unit, unit],
                    physical_pixel_size=[1.0, 1.0, float(z), float(y), float(x)],
                )
                writer.write_full_volume(img.data)
    except ImportError as exc:
        raise WriteError(
            "writing OME-TIFF/OME-Zarr needs bioio's writers",
            path=dst,
            hint="pip install 'arrowscope[io]'",
        ) from exc
    return dst


def from_ome_parquet(img: OMEImage, dst: Path) -> Path:
    """Write an OME-Arrow image to OME-TIFF or OME-Zarr."""
    return export_image(img, dst)


def convert(
    src: Path, dst: Path, *, layout: str = "auto", compression: str | None = "zstd"
) -> Path:
    """Convert one file in either direction, chosen by the suffixes."""
    if dst.name.lower().endswith(OME_SUFFIXES):
        if is_ome_arrow_path(src):
            return write_ome_parquet(
                dst, open_image(src), layout=layout, compression=compression
            )
        return to_ome_parquet(src, dst, layout=layout, compression=compression)
    return from_ome_parquet(open_image(src), dst)
