"""Small OME-Zarr images and HCS plates written by hand with zarr-python
(NGFF 0.5 on zarr v3, 0.4 on zarr v2), for the link and reader tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.fs as pafs
import zarr


def write_image(
    where: Path,
    data: np.ndarray,
    *,
    channels=("DNA", "ER"),
    colors=("0000FF", "00FF00"),
    scale=(1.0, 0.65, 0.65),
    version: str = "0.5",
    levels: int = 2,
    chunks=(1, 1, 1, 32, 32),
) -> Path:
    """A TCZYX image with ``levels`` resolutions (Y/X halved each time)."""
    fmt = 3 if version == "0.5" else 2
    root = zarr.open_group(str(where), mode="w", zarr_format=fmt)
    datasets = []
    for level in range(levels):
        step = 2**level
        arr = data[..., ::step, ::step]
        root.create_array(str(level), data=np.ascontiguousarray(arr), chunks=chunks)
        sz, sy, sx = scale
        datasets.append(
            {
                "path": str(level),
                "coordinateTransformations": [
                    {"type": "scale", "scale": [1.0, 1.0, sz, sy * step, sx * step]}
                ],
            }
        )
    axes = [
        {"name": "t", "type": "time"},
        {"name": "c", "type": "channel"},
        *({"name": a, "type": "space", "unit": "micrometer"} for a in "zyx"),
    ]
    multiscales = [{"name": where.name, "axes": axes, "datasets": datasets}]
    omero = {
        "channels": [
            {"label": n, "color": c} for n, c in zip(channels, colors, strict=True)
        ]
    }
    if version == "0.5":
        multiscales[0]["version"] = "0.5"
        root.attrs["ome"] = {
            "version": "0.5",
            "multiscales": multiscales,
            "omero": omero,
        }
    else:
        multiscales[0]["version"] = "0.4"
        root.attrs.update({"multiscales": multiscales, "omero": omero})
    return where


def write_plate(where: Path, fields: dict[tuple[str, int], list[np.ndarray]], **kw):
    """An HCS plate: ``fields[(row, column)]`` is the list of a well's images."""
    root = zarr.open_group(str(where), mode="w", zarr_format=3)
    rows = sorted({r for r, _ in fields})
    cols = sorted({c for _, c in fields})
    wells = []
    for (r, c), images in fields.items():
        path = f"{r}/{c}"
        wells.append(
            {"path": path, "rowIndex": rows.index(r), "columnIndex": cols.index(c)}
        )
        well = zarr.open_group(str(where / r / str(c)), mode="w", zarr_format=3)
        well.attrs["ome"] = {
            "version": "0.5",
            "well": {"images": [{"path": str(i)} for i in range(len(images))]},
        }
        for i, data in enumerate(images):
            write_image(where / r / str(c) / str(i), data, **kw)
    root.attrs["ome"] = {
        "version": "0.5",
        "plate": {
            "name": where.name,
            "rows": [{"name": r} for r in rows],
            "columns": [{"name": str(c)} for c in cols],
            "wells": wells,
            "field_count": max(len(v) for v in fields.values()),
        },
    }
    return where


def upload_tree(fs: pafs.FileSystem, local: Path, key: str) -> None:
    """Copy a local folder to ``key`` on ``fs`` (a bucket prefix)."""
    pafs.copy_files(
        str(local),
        key,
        source_filesystem=pafs.LocalFileSystem(),
        destination_filesystem=fs,
    )
