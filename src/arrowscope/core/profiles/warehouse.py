"""Image-linked warehouses as CytoTable writes them, opened as one workspace.

This first layout is the one pycytominer's test fixture and a copied
warehouse without its Iceberg metadata have: ``warehouse/<namespace>/<table>/
data/*.parquet`` (namespaces ``profiles`` and ``images``; tables
``joined_profiles``, ``image_crops``, ``source_images``). The Iceberg catalog
(``catalog.json`` + table metadata, read through pyiceberg) is not read yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CorruptFileError, UnsupportedError

#: Table name → role in the workspace.
ROLES = {
    "joined_profiles": "profiles",
    "image_crops": "crops",
    "source_images": "source images",
}


@dataclass(frozen=True)
class WarehouseTable:
    """One table of a warehouse: where it is, how many rows, what it is for."""

    namespace: str
    name: str
    files: tuple[Path, ...]
    rows: int
    role: str | None


class Warehouse:
    """An opened warehouse root: its tables, and the profile workspace."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        base = self.root / "warehouse" if (self.root / "warehouse").is_dir() else None
        base = base or self.root
        if (base / "catalog.json").is_file():
            raise UnsupportedError(
                "is an Iceberg warehouse (catalog.json); reading its catalog is not "
                "supported yet",
                path=self.root,
                hint="its data files open directly with open_profiles/open_image",
            )
        self.tables = _data_tables(base)
        if not self.tables:
            raise CorruptFileError(
                "holds no warehouse tables (<namespace>/<table>/data/*.parquet)",
                path=self.root,
            )

    def table(self, role_or_name: str) -> WarehouseTable:
        """The table with this role (``"profiles"``…) or name."""
        for t in self.tables:
            if role_or_name in (t.role, t.name):
                return t
        raise CorruptFileError(
            f"has no {role_or_name!r} table; tables are "
            f"{[f'{t.namespace}.{t.name}' for t in self.tables]}",
            path=self.root,
        )

    def profiles(self, **links: Any) -> Any:
        """The ProfileTable of the warehouse's profiles, linked to its source images."""
        from .table import open_profiles

        profiles = _single_file(self.table("profiles"))
        for role, link in (
            ("source images", "source_images"),
            ("crops", "image_crops"),
        ):
            found = [t for t in self.tables if t.role == role]
            if found:
                links.setdefault(link, _single_file(found[0]))
        return open_profiles(profiles, **links)


def _data_tables(base: Path) -> list[WarehouseTable]:
    from ..images.parquet import parquet_file

    out = []
    for namespace in sorted(p for p in base.iterdir() if p.is_dir()):
        for table in sorted(p for p in namespace.iterdir() if p.is_dir()):
            files = tuple(sorted((table / "data").glob("*.parquet")))
            if not files:
                continue
            rows = sum(parquet_file(f).metadata.num_rows for f in files)
            out.append(
                WarehouseTable(
                    namespace.name, table.name, files, rows, ROLES.get(table.name)
                )
            )
    return out


def _single_file(table: WarehouseTable) -> Path:
    if len(table.files) != 1:
        raise UnsupportedError(
            f"table {table.namespace}.{table.name} has {len(table.files)} data files; "
            "tables of several files are not supported yet",
        )
    return table.files[0]


def is_warehouse(path: str | Path) -> bool:
    """Cheap check: a folder laid out as ``[warehouse/]<ns>/<table>/data/``."""
    root = Path(path)
    base = root / "warehouse" if (root / "warehouse").is_dir() else root
    if not base.is_dir():
        return False
    return any(
        (table / "data").is_dir()
        for namespace in base.iterdir()
        if namespace.is_dir()
        for table in namespace.iterdir()
        if table.is_dir()
    )


def open_warehouse(root: str | Path) -> Warehouse:
    """Open a CytoTable warehouse root (the data-files layout; see the module)."""
    return Warehouse(root)
