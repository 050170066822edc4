"""Conversions between OME-Parquet and the formats bioio reads and writes.

bioio reads TIFF, OME-TIFF, OME-Zarr and more; bioio's writers write OME-TIFF
and OME-Zarr (v0.5, Zarr v3). Writes go through a temporary sibling and a
rename, so a failed export never leaves a half-written file.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from ..errors import UnsupportedError, WriteError
from .atomic import atomic_target
from .formats import (
    CONVERT_TARGETS,
    IMAGE_FORMATS,
    OME_TIFF,
    TABLE_FORMATS,
    TIFF,
    WRITABLE,
    ZARR,
    by_name,
    suffixes,
)
from .image import OMEImage, open_source
from .writer import ImageToWrite, copy_table, image_to_write, write_ome_parquet

#: the tables convert writes (and the names of OME-Arrow tables it reads)
OME_SUFFIXES = suffixes(WRITABLE)
#: the image files convert writes, one per image
TIFF_SUFFIXES = suffixes((OME_TIFF, TIFF))
ZARR_SUFFIXES = ZARR.suffixes
logger = logging.getLogger("arrowscope")


def is_ome_arrow_path(path: Path | str) -> bool:
    """Whether a path or URI names an OME-Arrow table, dataset or Lance folder."""
    if isinstance(path, str):  # a URI
        return by_name(path, WRITABLE) is not None
    from .dataset import is_chunk_dataset

    return (
        path.is_dir()
        and (is_chunk_dataset(path) or (path / "_versions").is_dir())
        or by_name(path.name, TABLE_FORMATS) is not None
    )


_GENERIC_CHANNEL = re.compile(r"^Channel:\d+:\d+$")


def _bioimage(src: Path) -> Any:
    """Open ``src`` with bioio, choosing the reader by suffix where it is clear.

    Plain TIFFs go straight to the tifffile reader: letting bioio try the
    OME-TIFF reader first logs a "failed to parse XML" line per file.
    """
    try:
        from bioio import BioImage
    except ImportError as exc:  # pragma: no cover - the io extra is missing
        raise UnsupportedError(
            "reading other formats needs bioio", hint="pip install 'arrowscope[io]'"
        ) from exc
    fmt = by_name(src.name, IMAGE_FORMATS)
    reader: Any = None
    if fmt in (OME_TIFF, TIFF):
        import importlib

        reader = importlib.import_module(fmt.module or "").Reader
    try:
        return BioImage(src, reader=reader) if reader else BioImage(src)
    except Exception as exc:  # bioio raises many types for unreadable input
        first = str(exc).split(". ", 1)[0]  # not its list of plugins to install
        raise UnsupportedError(
            f"bioio cannot read this file: {first}", path=src
        ) from exc


def _channels(image: Any) -> tuple[Any, list[str], list[str] | None]:
    """TCZYX pixels, channel names and colours, samples (RGB) kept as channels."""
    names = [str(c) for c in (image.channel_names or [])]
    order = image.dims.order
    samples = image.dims.S if "S" in order else 1
    if samples > 1:
        data = image.get_image_dask_data("TCZYXS")
        T, C, Z, Y, X, S = data.shape
        data = data.transpose(0, 1, 5, 2, 3, 4).reshape(T, C * S, Z, Y, X)
        tags = "RGBA"[:S] if S in (3, 4) else [str(i) for i in range(S)]
        base = [n if not _GENERIC_CHANNEL.match(n) else "" for n in names] or [""]
        names = [
            f"{base[c] if c < len(base) else ''}{t}" for c in range(C) for t in tags
        ]
        colors = ["red", "green", "blue", "gray"][:S] * C if S in (3, 4) else None
        return data, names, colors
    data = image.get_image_dask_data("TCZYX")
    C = data.shape[1]
    names = [
        f"C{i}" if i >= len(names) or _GENERIC_CHANNEL.match(names[i]) else names[i]
        for i in range(C)
    ]
    return data, names, None


def to_ome_parquet(
    src: Path, dst: Path, *, layout: str = "auto", compression: str | None = "zstd"
) -> Path:
    """Convert anything bioio reads (TIFF, OME-TIFF, OME-Zarr, …) to OME-Parquet.

    RGB(A) samples become channels R, G, B (A); channels without names in the
    file are called C0…Cn.
    """
    from .formats import is_zarr_folder
    from .omezarr import open_ome_zarr

    if is_zarr_folder(src):  # read by arrowscope: any name, plates refused
        return write_ome_parquet(
            dst, open_ome_zarr(src), layout=layout, compression=compression
        )
    image = _bioimage(src)
    data, names, colors = _channels(image)
    pps = image.physical_pixel_sizes
    sizes = (pps.Z, pps.Y, pps.X)
    return write_ome_parquet(
        dst,
        data,
        dims="TCZYX",
        name=src.name,
        channel_names=names,
        channel_colors=colors,
        physical_size=sizes if any(s is not None for s in sizes) else None,
        units="µm",
        layout=layout,
        compression=compression,
    )


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


def convert(
    src: Path, dst: Path, *, layout: str = "auto", compression: str | None = "zstd"
) -> list[Path]:
    """Convert one source in either direction, chosen by the suffixes.

    A table of several images (or of images with other columns, such as a
    CytoDataFrame crop table) is converted whole: table output keeps every
    row and column (the images are copied as they are stored, losslessly);
    OME-TIFF/OME-Zarr output gets one file per image, named by column and
    row. Output that cannot hold what the source holds is refused, never
    written in part. Returns the files written.
    """
    check_target(dst)
    if not is_ome_arrow_path(src):
        if not dst.name.lower().endswith(OME_SUFFIXES):
            raise UnsupportedError(
                f"cannot convert {src.name} to {dst.name}",
                hint="one side must be OME-Parquet (.ome.parquet)",
            )
        return [to_ome_parquet(src, dst, layout=layout, compression=compression)]
    source = open_source(src)
    images = list(source.iter_images())
    if not images:
        raise UnsupportedError("holds no readable image to convert", path=src)
    extra = source.other_columns
    if len(images) == 1 and not extra:
        info = images[0]
        image = source.image(info.column, info.row)
        if dst.name.lower().endswith(OME_SUFFIXES):
            return [
                write_ome_parquet(dst, image, layout=layout, compression=compression)
            ]
        return [export_image(image, dst)]
    what = f"{len(images)} images in {len(source.image_columns)} column(s)"
    if extra:
        what += f" and {len(extra)} other column(s)"
    if dst.name.lower().endswith(OME_SUFFIXES):
        if layout == "dataset" or source.dataset is not None:
            raise UnsupportedError(
                f"holds {what}; a chunk dataset holds images only and the rest "
                "would be lost, so nothing was written",
                path=src,
                hint="convert to a table (--layout nested), or to .ome.tiff for "
                "one file per image",
            )
        return [copy_table(source, dst, compression=compression)]
    logger.info(
        "%s holds %s: writing one %s file per image (%s, …), not %s",
        src,
        what,
        _suffix(dst),
        _per_image_name(dst, images[0].column, images[0].row),
        dst.name,
    )
    if extra:
        logger.info(
            "%s: %d other column(s) (%s…) are not carried into %s files; convert "
            "to .ome.parquet to keep them",
            src,
            len(extra),
            ", ".join(extra[:3]),
            _suffix(dst),
        )
    out = []
    for info in images:
        target = dst.with_name(_per_image_name(dst, info.column, info.row))
        out.append(export_image(source.image(info.column, info.row), target))
    return out


#: every suffix convert writes, as the user would type it
TARGETS = CONVERT_TARGETS


def check_target(dst: Path) -> None:
    """Refuse an output suffix convert cannot write, before anything is read."""
    if not dst.name.lower().endswith(OME_SUFFIXES + TIFF_SUFFIXES + ZARR_SUFFIXES):
        raise UnsupportedError(
            f"cannot write {dst.name!r}: not a format convert writes; nothing was "
            "written",
            path=dst,
            hint=f"name the output {', '.join(TARGETS)}",
        )


def _suffix(dst: Path) -> str:
    name = dst.name.lower()
    return next((s for s in TIFF_SUFFIXES + ZARR_SUFFIXES if name.endswith(s)), "")


def _per_image_name(dst: Path, column: str, row: int) -> str:
    suffix = _suffix(dst)
    stem = dst.name[: len(dst.name) - len(suffix)] if suffix else dst.stem
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", column)
    return f"{stem}_{safe}_r{row:05d}{dst.name[len(stem) :]}"


def per_image_outputs(src: Path, dst: Path) -> list[Path]:
    """The files :func:`convert` would write (to check for existing ones first)."""
    check_target(dst)
    if not is_ome_arrow_path(src) or dst.name.lower().endswith(OME_SUFFIXES):
        return [dst]
    source = open_source(src)
    images = list(source.iter_images())
    if len(images) == 1 and not source.other_columns:
        return [dst]
    return [dst.with_name(_per_image_name(dst, i.column, i.row)) for i in images]
