"""Conversions between OME-Parquet and the formats bioio reads and writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core.errors import UnsupportedError
from ..core.image import OMEImage, open_image
from ..core.writer import write_ome_parquet

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


def from_ome_parquet(img: OMEImage, dst: Path) -> Path:
    """Write an OME-Arrow image to OME-TIFF (``.ome.tif[f]``) with bioio's writer."""
    name = dst.name.lower()
    if not name.endswith((".ome.tif", ".ome.tiff", ".tif", ".tiff")):
        raise UnsupportedError(
            f"cannot write {dst.name}", hint="write .ome.parquet or .ome.tiff"
        )
    from bioio_base.types import PhysicalPixelSizes
    from bioio_ome_tiff.writers import OmeTiffWriter

    z, y, x = img.meta.physical_size
    colors: Any = None
    if not img.rgb and all(c is not None for c in img.channel_colors):
        colors = [[round(v * 255) for v in c[:3]] for c in img.channel_colors]  # type: ignore[index]
    OmeTiffWriter.save(
        img.to_dask(),
        str(dst),
        dim_order="TCZYX",
        channel_names=img.channel_names,
        image_name=img.name,
        physical_pixel_sizes=PhysicalPixelSizes(z, y, x),
        channel_colors=colors,
    )
    return dst


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
