"""Small warehouses in CytoTable 1.2.6's layouts, built for the tests.

CytoTable itself cannot build one here (its CellProfiler input path needs
DuckDB's sqlite extension, which cannot be downloaded), so these follow the
facts measured on its output (see ../shared/FORMAT.md and issue 15):

- ``source_images``: one row per (field, channel); image keys cast to strings;
  ``source_image_column`` = ``Image_FileName_<channel>``; the label image in
  ``ome_arrow_label``; OME-Arrow structs without the null-typed ``masks``.
- ``image_crops``: one row per (object, channel) keyed by ``Metadata_ObjectID``.
- ``joined_profiles``: integer keys, ``Metadata_ObjectID`` and
  ``Metadata_SourceBBox{X,Y}{Min,Max}`` (max exclusive).

:func:`data_files` writes the data-files layout with arrowscope's writers;
:func:`to_iceberg` turns it into an Iceberg warehouse the way CytoTable's
writer does, through pyiceberg: unsigned types widened to signed ones (pixels
``list<int32>``), tables at ``warehouse/<ns>/<table>``, and a registry
``warehouse/catalog.json`` of absolute ``file://`` metadata locations with a
``profile_with_images`` entry.
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import arrowscope

FIELDS = (1, 2)
CHANNELS = ("DNA", "ER")
SHAPE = (32, 40)
#: (object number, centre x, centre y, box x0, y0, x1, y1) per field.
OBJECTS = ((1, 10.0, 8.0, 5, 4, 15, 12), (2, 28.0, 25.0, 22, 20, 35, 30))


def object_id(field: int, number: int) -> str:
    return f"obj-{uuid.uuid5(uuid.NAMESPACE_URL, f'{field}/{number}')}"


def data_files(root: Path, rng: np.random.Generator, *, crops: bool = True) -> dict:
    """Write the data-files layout under ``root``; returns the pixels written."""
    base = root / "warehouse"
    images, labels = {}, {}
    for f in FIELDS:
        lab = np.zeros(SHAPE, np.uint16)
        for n, *_, x0, y0, x1, y1 in OBJECTS:
            lab[y0:y1, x0:x1] = n
        labels[f] = lab
        for ch in CHANNELS:
            images[f, ch] = rng.integers(0, 4000, SHAPE, dtype=np.uint16)
    keys = [(f, ch) for f in FIELDS for ch in CHANNELS]
    folder = base / "images" / "source_images" / "data"
    folder.mkdir(parents=True)
    arrowscope.write_ome_table(
        folder / "part-0.parquet",
        {
            "ome_arrow_image": [
                {"data": images[k], "dims": "YX", "image_type": None} for k in keys
            ],
            "ome_arrow_label": [
                {"data": labels[k[0]], "dims": "YX", "image_type": None} for k in keys
            ],
        },
        extra_columns={
            "Metadata_ImageNumber": [str(f) for f, _ in keys],
            "source_image_column": [f"Image_FileName_{ch}" for _, ch in keys],
        },
    )
    rows = [(f, *o) for f in FIELDS for o in OBJECTS]
    if crops:
        crop_rows = [(r, ch) for r in rows for ch in CHANNELS]
        folder = base / "images" / "image_crops" / "data"
        folder.mkdir(parents=True)
        arrowscope.write_ome_table(
            folder / "part-0.parquet",
            {
                "ome_arrow_image": [
                    {
                        "data": images[r[0], ch][r[5] : r[7], r[4] : r[6]],
                        "dims": "YX",
                        "image_type": None,
                    }
                    for r, ch in crop_rows
                ]
            },
            extra_columns={
                "Metadata_ImageNumber": [str(r[0]) for r, _ in crop_rows],
                "Metadata_ObjectID": [object_id(r[0], r[1]) for r, _ in crop_rows],
                "source_image_column": [f"Image_FileName_{ch}" for _, ch in crop_rows],
            },
        )
    area = [100.0, 104.0, 98.0, 400.0]  # the last cell is large
    profiles = pa.table(
        {
            "Metadata_ImageNumber": [r[0] for r in rows],
            "Metadata_ObjectNumber": [r[1] for r in rows],
            "Metadata_ObjectID": [object_id(r[0], r[1]) for r in rows],
            "Metadata_Plate": ["P1"] * len(rows),
            "Metadata_Well": ["A01", "A01", "B02", "B02"],
            "Nuclei_Location_Center_X": [r[2] for r in rows],
            "Nuclei_Location_Center_Y": [r[3] for r in rows],
            "Metadata_SourceBBoxXMin": [r[4] for r in rows],
            "Metadata_SourceBBoxYMin": [r[5] for r in rows],
            "Metadata_SourceBBoxXMax": [r[6] for r in rows],
            "Metadata_SourceBBoxYMax": [r[7] for r in rows],
            "Nuclei_AreaShape_Area": area,
            "Nuclei_AreaShape_FormFactor": [0.9, 0.91, 0.89, 0.9],
            "Nuclei_AreaShape_Eccentricity": [0.5, 0.52, 0.49, 0.5],
            **{f"Image_FileName_{ch}": [f"{ch}.tif"] * len(rows) for ch in CHANNELS},
        }
    )
    folder = base / "profiles" / "joined_profiles" / "data"
    folder.mkdir(parents=True)
    pq.write_table(profiles, folder / "part-0.parquet")
    return {"images": images, "labels": labels, "profiles": profiles}


def iceberg_types(dtype: pa.DataType) -> pa.DataType:
    """What CytoTable stores in Iceberg: no null-typed fields, no unsigned types."""
    if pa.types.is_struct(dtype):
        return pa.struct(
            [
                pa.field(f.name, iceberg_types(f.type), f.nullable)
                for f in dtype
                if not pa.types.is_null(f.type)
            ]
        )
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
        return pa.list_(iceberg_types(dtype.value_type))
    if dtype in (pa.uint8(), pa.uint16(), pa.int8(), pa.int16()):
        return pa.int32()
    if dtype in (pa.uint32(), pa.uint64()):
        return pa.int64()
    if pa.types.is_dictionary(dtype):
        return iceberg_types(dtype.value_type)
    return dtype


def catalog(base: Path):
    from pyiceberg.catalog.sql import SqlCatalog

    return SqlCatalog(
        "tests", uri="sqlite:///:memory:", warehouse=base.resolve().as_uri()
    )


def take_tables(base: Path) -> dict[tuple[str, str], pa.Table]:
    """Read and remove the data-files tables under ``base``, typed as Iceberg
    stores them: ``{(namespace, table): table}``."""
    tables = {}
    for data in sorted(base.glob("*/*/data")):
        table = pa.concat_tables(
            pq.read_table(f) for f in sorted(data.glob("*.parquet"))
        )
        schema = pa.schema(
            [pa.field(f.name, iceberg_types(f.type), f.nullable) for f in table.schema]
        )
        key = (data.parent.parent.name, data.parent.name)
        tables[key] = table.cast(schema).replace_schema_metadata(None)
        shutil.rmtree(data.parent)
    return tables


def to_iceberg(root: Path) -> Path:
    """Turn the data-files layout under ``root`` into an Iceberg warehouse;
    returns the registry path."""
    base = root / "warehouse"
    cat = catalog(base)
    registry = {"namespaces": [], "properties": {}, "tables": {}, "views": {}}
    for (namespace, name), table in take_tables(base).items():
        if namespace not in [n for (n,) in cat.list_namespaces()]:
            cat.create_namespace(namespace)
        t = cat.create_table(
            (namespace, name),
            schema=table.schema,
            location=(base / namespace / name).resolve().as_uri(),
        )
        t.append(table)
        registry["namespaces"].append(namespace)
        registry["tables"][f"{namespace}.{name}"] = cat.load_table(
            (namespace, name)
        ).metadata_location
    registry["namespaces"] = sorted(set(registry["namespaces"]))
    registry["views"]["profiles.profile_with_images"] = {
        "kind": "profile_with_images",
        "base_table": "profiles.joined_profiles",
        "image_table": "images.image_crops",
        "bbox_column_map": {},
    }
    path = base / "catalog.json"
    path.write_text(json.dumps(registry, indent=2, sort_keys=True))
    return path


def with_cytotable(root: Path) -> Path:
    """Turn the data-files layout into an Iceberg warehouse written by
    CytoTable 1.2.6's own registry catalog (``cytotable.warehouse.iceberg``),
    as its ``write_iceberg_warehouse`` does after the CellProfiler join."""
    from cytotable.warehouse.iceberg import catalog as cytotable_catalog

    base = root / "warehouse"
    tables = take_tables(base)
    bundle = cytotable_catalog(root)
    for namespace in sorted({ns for ns, _ in tables}):
        bundle.create_namespace(namespace)
    for (namespace, name), table in tables.items():
        bundle.create_table((namespace, name), table.schema).append(table)
    return base / "catalog.json"


def load(registry: Path, identifier: str):
    """A pyiceberg table of the registry, through a catalog that can commit."""
    cat = catalog(registry.parent)
    namespace, name = identifier.split(".")
    cat.create_namespace(namespace)
    location = json.loads(registry.read_text())["tables"][identifier]
    return cat, cat.register_table((namespace, name), location)


def commit(registry: Path, identifier: str, table) -> None:
    """Record a table's new metadata location in the registry (as CytoTable does)."""
    data = json.loads(registry.read_text())
    data["tables"][identifier] = table.metadata_location
    registry.write_text(json.dumps(data, indent=2, sort_keys=True))


def relayout(tmp_path, kind):
    """The synthetic tables as iceberg-bioimage's manifest layout or as
    CytoTable's Parquet export (one folder of <table>.parquet files)."""
    import json
    import shutil

    src = tmp_path / "src"
    data_files(src, np.random.default_rng(5))
    root = tmp_path / kind
    root.mkdir()
    entries = []
    for data in sorted((src / "warehouse").glob("*/*/data")):
        ns, name = data.parent.parent.name, data.parent.name
        (part,) = data.glob("*.parquet")
        if kind == "parquet":
            shutil.copy(part, root / f"{name}.parquet")
            continue
        (root / ns / name).mkdir(parents=True)
        shutil.copy(part, root / ns / name / "part-0123.parquet")
        entries.append(
            {
                "table_name": f"{ns}.{name}",
                "role": name,
                "format": "parquet",
                "join_keys": ["Metadata_ImageNumber"],
                "columns": pq.read_schema(part).names,
            }
        )
    if kind == "manifest":
        manifest = {"warehouse_root": str(root), "warehouse_spec_version": "1.0.0"}
        (root / "warehouse_manifest.json").write_text(
            json.dumps({**manifest, "tables": entries})
        )
    return root


def cytotable_export(tmp_path):
    """CytoTable 1.2.6's image-linked Parquet export: five files, three of
    them profile tables."""
    import pyarrow.compute as pc

    root = relayout(tmp_path, "parquet")
    profiles = pq.read_table(root / "joined_profiles.parquet")
    pq.write_table(
        profiles.drop_columns(["Metadata_ObjectID"]), root / "joined_raw.parquet"
    )
    per_channel = pa.concat_tables(
        profiles.append_column(
            "source_image_column", pa.array([ch] * profiles.num_rows)
        )
        for ch in ("DNA", "ER")
    )
    pq.write_table(per_channel, root / "profile_with_images.parquet")
    assert pc.count(per_channel["Metadata_ObjectID"]).as_py() == 2 * profiles.num_rows
    return root, profiles
