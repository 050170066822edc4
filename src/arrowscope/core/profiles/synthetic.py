"""Synthetic Cell Painting-like data for demos, sample data, tests and benchmarks.

Cells are ellipses with a nucleus, cytoplasm and texture; a few planted
outliers are much larger or elongated, so QC has something to find. Features
follow CellProfiler/CytoTable naming.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..images.parquet import write_parquet

CHANNELS = ("DNA", "ER", "Mito")
CHANNEL_COLORS = ("blue", "green", "magenta")


@dataclass
class Field:
    """One synthetic field of view."""

    image: np.ndarray  # (C, Y, X) uint16
    nuclei: np.ndarray  # (Y, X) int32 label image
    cells: list[dict[str, Any]]


def synthetic_field(
    seed: int = 0,
    size: tuple[int, int] = (256, 256),
    n_cells: int = 12,
    outliers: int = 1,
) -> Field:
    """Draw one field: ``n_cells`` cells, the first ``outliers`` of them abnormal."""
    rng = np.random.default_rng(seed)
    Y, X = size
    yy, xx = np.mgrid[0:Y, 0:X]
    image = rng.normal(200, 20, (len(CHANNELS), Y, X))
    nuclei = np.zeros((Y, X), np.int32)
    cells = []
    margin = 24
    for k in range(n_cells):
        label = k + 1
        cy, cx = rng.uniform(margin, Y - margin), rng.uniform(margin, X - margin)
        ry = rng.uniform(6, 9)
        rx = ry * rng.uniform(0.8, 1.2)
        if k < outliers:  # planted: huge or very elongated
            ry, rx = (ry * 2.2, rx * 2.2) if k % 2 == 0 else (ry * 0.6, rx * 2.6)
        angle = rng.uniform(0, np.pi)
        dy, dx = yy - cy, xx - cx
        u = dx * np.cos(angle) + dy * np.sin(angle)
        v = -dx * np.sin(angle) + dy * np.cos(angle)
        r2 = (u / rx) ** 2 + (v / ry) ** 2
        nucleus = (r2 <= 1) & (nuclei == 0)
        nuclei[nucleus] = label
        cell = r2 <= 4
        image[0] += 3000 * np.exp(-r2 * 1.5)
        image[1] += 1200 * cell * (1 + 0.3 * np.sin(u / 2)) * rng.uniform(0.7, 1.3)
        image[2] += 900 * cell * (r2 > 1) * rng.uniform(0.6, 1.4)
        ys, xs = np.nonzero(nuclei == label)
        area = float(ys.size)
        a, b = max(rx, ry), min(rx, ry)
        cells.append(
            {
                "label": label,
                "center_y": float(ys.mean()) if ys.size else cy,
                "center_x": float(xs.mean()) if xs.size else cx,
                "area": area,
                "eccentricity": float(np.sqrt(1 - (b / a) ** 2)),
                "form_factor": float(
                    4
                    * np.pi
                    * area
                    / max(1.0, (2 * np.pi * np.sqrt((a * a + b * b) / 2)) ** 2)
                ),
                "bbox": (
                    int(ys.min()),
                    int(xs.min()),
                    int(ys.max()) + 1,
                    int(xs.max()) + 1,
                )
                if ys.size
                else (0, 0, 1, 1),
                "intensity_dna": float(image[0][ys, xs].mean()) if ys.size else 0.0,
            }
        )
    image = np.clip(image, 0, 65535).astype(np.uint16)
    return Field(image, nuclei, cells)


def synthetic_plate(
    n_fields: int = 4,
    size: tuple[int, int] = (256, 256),
    n_cells: int = 12,
    seed: int = 0,
) -> tuple[list[Field], pa.Table]:
    """Fields of view and a CytoTable-style single-cell profile table."""
    fields = [
        synthetic_field(seed + i, size, n_cells, outliers=1 + (i % 2))
        for i in range(n_fields)
    ]
    rows = []
    for i, f in enumerate(fields):
        well = f"{'ABCDEFGH'[i // 4 % 8]}{i % 4 + 1:02d}"
        for c in f.cells:
            y0, x0, y1, x1 = c["bbox"]
            rows.append(
                {
                    "Metadata_ImageNumber": i + 1,
                    "Metadata_Plate": "SYNTH-1",
                    "Metadata_Well": well,
                    "Metadata_Site": 1,
                    "Metadata_Nuclei_Number_Object_Number": c["label"],
                    "Nuclei_Location_Center_X": c["center_x"],
                    "Nuclei_Location_Center_Y": c["center_y"],
                    "Nuclei_AreaShape_BoundingBoxMinimum_X": x0,
                    "Nuclei_AreaShape_BoundingBoxMinimum_Y": y0,
                    "Nuclei_AreaShape_BoundingBoxMaximum_X": x1,
                    "Nuclei_AreaShape_BoundingBoxMaximum_Y": y1,
                    "Nuclei_AreaShape_Area": c["area"],
                    "Nuclei_AreaShape_FormFactor": c["form_factor"],
                    "Nuclei_AreaShape_Eccentricity": c["eccentricity"],
                    "Nuclei_Intensity_MeanIntensity_DNA": c["intensity_dna"],
                }
            )
    return fields, pa.Table.from_pylist(rows)


#: what :func:`write_demo_plate` writes, by key
DEMO_FILES = {
    "plate": "plate.ome.parquet",
    "crops": "crops.ome.parquet",
    "profiles": "profiles.parquet",
}


def write_demo_plate(
    out_dir: str | Path, n_fields: int = 4, size: tuple[int, int] = (256, 256)
) -> dict[str, Path]:
    """Write the demo plate: a field-of-view table, a crop table and profiles.

    Returns the written paths under keys ``plate`` (one field of view per row,
    image + nuclei label columns), ``crops`` (one cell per row, with its
    features) and ``profiles`` (CytoTable-style Parquet).
    """
    from ..images.writer import write_ome_table

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fields, profiles = synthetic_plate(n_fields, size)
    common = {
        "dims": "CYX",
        "channel_names": list(CHANNELS),
        "channel_colors": list(CHANNEL_COLORS),
        "physical_size": (0.65, 0.65),
        "units": "µm",
    }
    plate = write_ome_table(
        out / DEMO_FILES["plate"],
        {
            "image": [
                {"data": f.image, "name": f"field{i + 1:02d}", **common}
                for i, f in enumerate(fields)
            ],
            "nuclei_LABL": [
                {
                    "data": f.nuclei,
                    "dims": "YX",
                    "name": f"field{i + 1:02d}-nuclei",
                    "image_type": "label",
                    "physical_size": (0.65, 0.65),
                    "units": "µm",
                }
                for i, f in enumerate(fields)
            ],
        },
        extra_columns={"Metadata_ImageNumber": list(range(1, n_fields + 1))},
    )
    crops, labels = [], []
    for f in fields:
        for c in f.cells:
            y0, x0, y1, x1 = c["bbox"]
            y0, x0 = max(0, y0 - 8), max(0, x0 - 8)
            crops.append({"data": f.image[:, y0 : y1 + 8, x0 : x1 + 8], **common})
            labels.append(
                {
                    "data": f.nuclei[y0 : y1 + 8, x0 : x1 + 8],
                    "dims": "YX",
                    "image_type": "label",
                    "physical_size": (0.65, 0.65),
                    "units": "µm",
                }
            )
    crop_table = write_ome_table(
        out / DEMO_FILES["crops"],
        {"cell_OMEArrow_ORIG": crops, "cell_OMEArrow_LABL": labels},
        extra_columns=profiles,
    )
    import json

    from .links import IMAGES_METADATA_KEY

    # link the profiles to their images explicitly, by key, in the file itself
    link = {"path": plate.name, "keys": ["Metadata_ImageNumber"]}
    profiles = profiles.replace_schema_metadata(
        {
            **(profiles.schema.metadata or {}),
            IMAGES_METADATA_KEY: json.dumps(link).encode(),
        }
    )
    profile_path = out / DEMO_FILES["profiles"]
    write_parquet(profiles, profile_path)
    return {"plate": plate, "crops": crop_table, "profiles": profile_path}


def write_cellprofiler_sqlite(
    path: str | Path,
    *,
    images: int = 4,
    cells: int = 6,
    features: int = 4,
    layout: str = "per object type",
    image_folder: str | Path | None = None,
    seed: int = 0,
) -> Path:
    """An SQLite database shaped as CellProfiler's ExportToDatabase writes it.

    ``layout``: ``"per object type"`` (``Per_Image``, ``Per_Nuclei``,
    ``Per_Cells``, ``Per_Cytoplasm``) or ``"single object table"``
    (``Per_Image`` + ``Per_Object``). Nuclei are numbered in another order
    than cells (each cell names its nucleus in ``Cells_Parent_Nuclei``), as
    after CellProfiler's declumping. With ``image_folder``, one 64×64 TIFF
    per image and channel (DNA, Actin) is written there and named by
    ``Image_FileName_*``/``Image_PathName_*``.
    """
    import sqlite3

    path = Path(path)
    rng = np.random.default_rng(seed)
    wells = [f"{'ABCDEFGH'[i // 12 % 8]}{i % 12 + 1:02d}" for i in range(images)]
    channels = ("DNA", "Actin")
    folder = None if image_folder is None else Path(image_folder)
    image_rows = []
    for n in range(1, images + 1):
        row: dict[str, Any] = {
            "ImageNumber": n,
            "Image_Metadata_Plate": "P1",
            "Image_Metadata_Well": wells[n - 1],
            "Image_Metadata_Site": 1,
            "Image_Count_Cells": cells,
        }
        for ch in channels:
            name = f"{wells[n - 1]}_s1_{ch}.tif"
            row[f"Image_FileName_{ch}"] = name
            row[f"Image_PathName_{ch}"] = "/cluster/plate1/images"
            if folder is not None:
                import tifffile

                folder.mkdir(parents=True, exist_ok=True)
                plane = rng.integers(0, 4000, (64, 64), dtype=np.uint16)
                tifffile.imwrite(folder / name, plane)
        image_rows.append(row)
    if path.exists():
        path.unlink()
    conn = sqlite3.connect(path)
    made: set[str] = set()

    def insert(name: str, rows: list[dict[str, Any]], key: tuple[str, ...]) -> None:
        if name not in made:
            _sqlite_table(conn, name, rows[0], key)
            made.add(name)
        _insert(conn, name, rows)

    try:
        insert("Per_Image", image_rows, ("ImageNumber",))
        for n in range(1, images + 1):  # one image at a time: bounded memory
            objects = _objects(rng, n, cells, features)
            if layout == "single object table":
                by_number = {
                    r["Nuclei_Number_Object_Number"]: r for r in objects["Nuclei"]
                }
                merged = [
                    {
                        "ImageNumber": n,
                        "ObjectNumber": cell["Cells_Number_Object_Number"],
                        **by_number[row["Cytoplasm_Parent_Nuclei"]],
                        **cell,
                        **row,
                    }
                    for cell, row in zip(
                        objects["Cells"], objects["Cytoplasm"], strict=True
                    )
                ]
                insert("Per_Object", merged, ("ImageNumber", "ObjectNumber"))
            else:
                for comp, rows in objects.items():
                    key = ("ImageNumber", f"{comp}_Number_Object_Number")
                    insert(f"Per_{comp}", rows, key)
        conn.execute(
            "CREATE TABLE Per_Experiment "
            "(CellProfiler_Version TEXT, Run_Timestamp TEXT)"
        )
        conn.execute("INSERT INTO Per_Experiment VALUES ('4.2.6', '2026-12-06')")
        conn.commit()
    finally:
        conn.close()
    return path


def _objects(
    rng: np.random.Generator, n: int, cells: int, features: int
) -> dict[str, list[dict[str, Any]]]:
    """One image's Nuclei, Cells and Cytoplasm rows, CellProfiler-named."""
    objects: dict[str, list[dict[str, Any]]] = {
        "Nuclei": [],
        "Cells": [],
        "Cytoplasm": [],
    }
    nucleus_of = rng.permutation(cells) + 1  # cell k's nucleus
    for comp, rows in objects.items():
        centres = rng.uniform(8, 56, (cells, 2))
        areas = rng.normal(300, 40, cells)
        values = rng.normal(size=(cells, features))
        for k in range(1, cells + 1):
            number = int(nucleus_of[k - 1]) if comp == "Nuclei" else k
            x, y = (float(v) for v in centres[k - 1])
            row = {"ImageNumber": n, f"{comp}_Number_Object_Number": number}
            row[f"{comp}_Location_Center_X"] = x
            row[f"{comp}_Location_Center_Y"] = y
            for side, value in (("Minimum", -4), ("Maximum", 4)):
                row[f"{comp}_AreaShape_BoundingBox{side}_X"] = int(x) + value
                row[f"{comp}_AreaShape_BoundingBox{side}_Y"] = int(y) + value
            row[f"{comp}_AreaShape_Area"] = float(areas[k - 1])
            for f in range(features):
                row[f"{comp}_Intensity_Feature{f}_DNA"] = float(values[k - 1, f])
            if comp == "Cells":
                row["Cells_Parent_Nuclei"] = int(nucleus_of[k - 1])
            if comp == "Cytoplasm":
                row["Cytoplasm_Parent_Cells"] = k
                row["Cytoplasm_Parent_Nuclei"] = int(nucleus_of[k - 1])
            rows.append(row)
    return objects


def _sqlite_table(
    conn: Any, name: str, row: dict[str, Any], key: tuple[str, ...]
) -> None:
    """CellProfiler's DDL: declared types and a primary key on the object key."""

    def declared(value: Any) -> str:
        if isinstance(value, str):
            return "TEXT"
        return "INTEGER" if isinstance(value, int) else "float"

    ddl = ", ".join(f'"{c}" {declared(v)}' for c, v in row.items())
    pk = ", ".join(f'"{c}"' for c in key)
    conn.execute(f'CREATE TABLE "{name}" ({ddl}, PRIMARY KEY ({pk}))')


def _insert(conn: Any, name: str, rows: list[dict[str, Any]]) -> None:
    columns = list(rows[0])
    marks = ", ".join("?" for _ in columns)
    conn.executemany(
        f'INSERT INTO "{name}" VALUES ({marks})',
        [tuple(r[c] for c in columns) for r in rows],
    )


@dataclass
class ScreenTruth:
    """What :func:`write_qc_screen` planted, by (plate, well, site)."""

    blurred: set[tuple[str, str, int]]
    saturated: set[tuple[str, str, int]]
    empty: set[tuple[str, str, int]]
    #: the plate with an edge effect (fewer cells in its outer wells)
    edge_plate: str
    #: the plate whose perturbation labels are rotated by 180 degrees
    rotated_plate: str
    perturbations: int


def write_qc_screen(
    out_dir: str | Path,
    *,
    plates: int = 3,
    rows: int = 8,
    columns: int = 12,
    sites: int = 2,
    size: int = 96,
    defects: int = 6,
    seed: int = 0,
) -> tuple[Path, ScreenTruth]:
    """A small screen with known defects, for judging field and well QC:
    ``plates`` plates of ``rows`` × ``columns`` wells, ``sites`` fields a well
    (one DNA TIFF each, in ``images/``), cells per field in a CytoTable-like
    profile table (``profiles.parquet``) naming each field's file.

    Planted: ``defects`` blurred fields and ``defects`` saturated fields per
    plate, ``defects`` empty fields (no cells, a dark image), an edge effect
    (half the cells in the outer wells of one plate), perturbations in four
    replicate wells a plate with distinct profiles, and one plate whose
    perturbation labels are rotated by 180° against its wells. Returns the
    profile table and what was planted.
    """
    import tifffile
    from scipy import ndimage

    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    wells = [f"{chr(65 + r)}{c + 1:02d}" for r in range(rows) for c in range(columns)]
    n_pert = len(wells) // 4
    layout = {w: f"P{i % n_pert:03d}" for i, w in enumerate(wells)}
    signature = rng.normal(0, 1, (n_pert, 8))  # each perturbation's profile
    truth = ScreenTruth(set(), set(), set(), "plate1", f"plate{plates}", n_pert)
    table: dict[str, list[Any]] = {}
    for p in range(1, plates + 1):
        plate = f"plate{p}"
        fields = [(w, s) for w in wells for s in range(1, sites + 1)]
        picks = rng.permutation(len(fields))
        blurred = {fields[i] for i in picks[:defects]}
        saturated = {fields[i] for i in picks[defects : 2 * defects]}
        empty = {fields[i] for i in picks[2 * defects : 3 * defects]}
        for w, s in fields:
            key = (plate, w, s)
            r, c = ord(w[0]) - 65, int(w[1:]) - 1
            edge = r in (0, rows - 1) or c in (0, columns - 1)
            count = 2 if (w, s) in empty else 40  # an empty field: a cell or two
            if plate == truth.edge_plate and edge and count:
                count //= 2
            image, centers = _field_image(rng, size, count)
            if (w, s) in blurred:
                image = ndimage.gaussian_filter(image.astype(float), 3)
                truth.blurred.add(key)
            if (w, s) in saturated:
                image = np.minimum(image, np.percentile(image, 85))
                truth.saturated.add(key)
            if (w, s) in empty:
                truth.empty.add(key)
            name = f"{plate}_{w}_s{s}_DNA.tif"
            tifffile.imwrite(out / "images" / name, image.astype(np.uint16))
            # the rotated plate's wells hold what the opposite well says
            held = layout[w]
            if plate == truth.rotated_plate:
                held = layout[f"{chr(65 + rows - 1 - r)}{columns - c:02d}"]
            profile = signature[int(held[1:])]
            for k in range(count):
                row = {
                    "Metadata_Plate": plate,
                    "Metadata_Well": w,
                    "Metadata_Site": s,
                    "Metadata_Perturbation": layout[w],
                    "Image_FileName_DNA": name,
                    "Image_PathName_DNA": "images",
                    "Nuclei_Number_Object_Number": k + 1,
                    # each row is a nucleus drawn in its field
                    "Nuclei_Location_Center_X": float(centers[k, 1]),
                    "Nuclei_Location_Center_Y": float(centers[k, 0]),
                }
                for f in range(8):
                    row[f"Cells_Feature_{f}"] = float(profile[f] + rng.normal(0, 0.7))
                for name_, value in row.items():
                    table.setdefault(name_, []).append(value)
    path = out / "profiles.parquet"
    write_parquet(pa.table(table), path)
    return path, truth


def _field_image(
    rng: np.random.Generator, size: int, cells: int
) -> tuple[np.ndarray, np.ndarray]:
    """A field of ``cells`` bright nuclei (sharp discs) on camera noise, and
    their (y, x) centres."""
    image = rng.normal(200, 20, (size, size))
    yy, xx = np.mgrid[0:size, 0:size]
    centers = rng.uniform(4, size - 4, (cells, 2))
    for cy, cx in centers:
        image[(yy - cy) ** 2 + (xx - cx) ** 2 < 9] += rng.uniform(2000, 4000)
    return np.clip(image, 0, 65535), centers
