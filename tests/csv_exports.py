"""A small CellProfiler ExportToSpreadsheet folder, written as CellProfiler
writes it (``Image.csv`` and one CSV per object), with knobs for the ways real
folders differ: a UTF-8 byte-order mark, Windows line ends."""

from __future__ import annotations

from pathlib import Path


def write_csv_export(
    folder: Path,
    *,
    images: int = 2,
    cells: int = 3,
    bom: bool = False,
    crlf: bool = False,
    image_rows: list[str] | None = None,
    nuclei_rows: list[str] | None = None,
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    end = "\r\n" if crlf else "\n"
    head = "\ufeff" if bom else ""
    image = image_rows or [
        "ImageNumber,Metadata_Plate,Metadata_Well,FileName_DNA,PathName_DNA"
    ] + [f"{i},P1,A0{i},img{i}.tif,/data" for i in range(1, images + 1)]
    nuclei = nuclei_rows or [
        "ImageNumber,ObjectNumber,AreaShape_Area,Location_Center_X,Location_Center_Y"
    ] + [
        f"{i},{k},{100 + 10 * k + i},{5.0 * k},{6.0 * k}"
        for i in range(1, images + 1)
        for k in range(1, cells + 1)
    ]
    for name, lines in (("Image.csv", image), ("Nuclei.csv", nuclei)):
        (folder / name).write_bytes((head + end.join(lines) + end).encode("utf-8"))
    return folder
