"""One location of every kind the front door knows, made from the real files in
../shared/data (copied into a temporary folder; the shared data is never
written). Each builder returns the path a user would give.

The kinds CytoTable, CellProfiler or a microscope write directly are copies
of the real files; the others are made from them the way their writers make
them (a CPA properties file naming the real database, the real warehouse's
data files laid out as an Iceberg warehouse, an iceberg-bioimage manifest
and a Parquet export, real TIFF planes written as OME-Zarr, a chunk dataset
and an OME-TIFF).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from tests.conftest import shared_file

NF1 = ("nf1_cellpainting_shrunken",)
NF1_TABLE = "Plate_2_with_image_data_shrunken.parquet"
HUMAN = ("cellprofiler_csv_examplehuman",)


def _tiff_plane(name: str = "B7_01_1_3_DAPI_001.tif") -> np.ndarray:
    import tifffile

    return tifffile.imread(shared_file(*NF1, "Plate_2_images", name))


def _copy(src: Path, dst: Path) -> Path:
    if src.is_dir():
        shutil.copytree(src, dst)
    else:
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dst)
    return dst


def _data_files(tmp: Path) -> Path:
    return _copy(shared_file("examplehuman_warehouse"), tmp / "warehouse_root")


def iceberg_warehouse(tmp: Path) -> Path:
    from tests.warehouses import to_iceberg

    root = _data_files(tmp)
    to_iceberg(root)
    return root


def manifest_warehouse(tmp: Path) -> Path:
    src = shared_file("examplehuman_warehouse", "warehouse")
    root = tmp / "manifest_root"
    entries = []
    for data in sorted(src.glob("*/*/data")):
        ns, name = data.parent.parent.name, data.parent.name
        (part,) = data.glob("*.parquet")
        _copy(part, root / ns / name / part.name)
        entries.append(
            {
                "table_name": f"{ns}.{name}",
                "role": name,
                "format": "parquet",
                "columns": pq.read_schema(part).names,
            }
        )
    manifest = {"warehouse_root": str(root), "warehouse_spec_version": "1.0.0"}
    (root / "warehouse_manifest.json").write_text(
        json.dumps({**manifest, "tables": entries})
    )
    return root


def parquet_export(tmp: Path) -> Path:
    src = shared_file("examplehuman_warehouse", "warehouse")
    root = tmp / "export"
    root.mkdir()
    for data in sorted(src.glob("*/*/data")):
        (part,) = data.glob("*.parquet")
        shutil.copy(part, root / f"{data.parent.name}.parquet")
    return root


def sqlite(tmp: Path) -> Path:
    return _copy(
        shared_file("cellprofiler_sqlite_nf1", "all_cellprofiler.sqlite"),
        tmp / "db" / "all_cellprofiler.sqlite",
    )


def properties(tmp: Path) -> Path:
    db = sqlite(tmp)
    props = tmp / "nf1.properties"
    props.write_text(
        "# CellProfiler Analyst properties\n"
        "db_type = sqlite\n"
        f"db_sqlite_file = {db.relative_to(tmp)}\n"
        "image_table = Per_Image\n"
        "object_table = Per_Cytoplasm\n"
        "image_id = ImageNumber\n"
        "object_id = Cytoplasm_Number_Object_Number\n"
        "well_id = Image_Metadata_Well\n"
        "image_channel_colors = blue, green, red\n"
    )
    return props


def csv_folder(tmp: Path) -> Path:
    return _copy(shared_file(*HUMAN), tmp / "examplehuman")


def chunk_dataset(tmp: Path) -> Path:
    import arrowscope

    path = tmp / "field.ome.parquet"
    arrowscope.write_ome_parquet(
        path, _tiff_plane(), dims="YX", channel_names=["DAPI"], layout="dataset"
    )
    return path


def zarr_plate(tmp: Path) -> Path:
    from tests.zarrs import write_plate

    planes = [_tiff_plane()[None, None, None, :256, :256]]
    return write_plate(
        tmp / "plate.ome.zarr",
        {("B", 7): planes},
        channels=("DAPI",),
        colors=("0000FF",),
    )


def zarr_image(tmp: Path) -> Path:
    from tests.zarrs import write_image

    return write_image(
        tmp / "field.ome.zarr",
        _tiff_plane()[None, None, None, :256, :256],
        channels=("DAPI",),
        colors=("0000FF",),
    )


def image_table(tmp: Path) -> Path:
    return _copy(
        shared_file("cytodataframe_ome_parquet", "BR00117006.ome.parquet"),
        tmp / "BR00117006.ome.parquet",
    )


def profile_table(tmp: Path) -> Path:
    return _copy(shared_file(*NF1), tmp / "nf1") / NF1_TABLE


def load_data(tmp: Path) -> Path:
    folder = csv_folder(tmp)
    return folder / "Image.csv"


def csv_profiles(tmp: Path) -> Path:
    table = profile_table(tmp)
    out = table.with_suffix(".csv")
    pcsv.write_csv(pq.read_table(table), out)
    return out


def plain_table(tmp: Path) -> Path:
    return _copy(shared_file(*HUMAN, "Nuclei.csv"), tmp / "Nuclei.csv")


def ome_tiff(tmp: Path) -> Path:
    import arrowscope
    from arrowscope.core.images.convert import export_image

    staged = tmp / "staged.ome.parquet"
    arrowscope.write_ome_parquet(
        staged, _tiff_plane(), dims="YX", channel_names=["DAPI"]
    )
    return export_image(arrowscope.open_image(staged), tmp / "field.ome.tiff")


def tiff(tmp: Path) -> Path:
    name = "B7_01_1_3_DAPI_001.tif"
    return _copy(shared_file(*NF1, "Plate_2_images", name), tmp / name)


def png(tmp: Path) -> Path:
    name = "AS_09125_050116030001_D03f00d0_Overlay.png"
    return _copy(shared_file(*HUMAN, name), tmp / name)


#: kind name -> how to make one
BUILDERS: dict[str, Callable[[Path], Path]] = {
    "CytoTable Iceberg warehouse": iceberg_warehouse,
    "iceberg-bioimage warehouse": manifest_warehouse,
    "warehouse data files": _data_files,
    "CytoTable Parquet export": parquet_export,
    "CellProfiler SQLite": sqlite,
    "CellProfiler Analyst properties": properties,
    "CellProfiler CSV folder": csv_folder,
    "OME-Arrow chunk dataset": chunk_dataset,
    "OME-Zarr HCS plate": zarr_plate,
    "OME-Zarr image": zarr_image,
    "OME-Arrow image table": image_table,
    "profile table": profile_table,
    "CellProfiler LoadData / image CSV": load_data,
    "CSV profile table": csv_profiles,
    "profile table without images": plain_table,
    "OME-TIFF image": ome_tiff,
    "TIFF image": tiff,
    "PNG image": png,
}
