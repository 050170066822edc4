"""Image-linked warehouses, as CytoTable and iceberg-bioimage write them.

Four layouts open the same way (:func:`open_warehouse`), found in this order:

``iceberg``
    CytoTable's Iceberg warehouse: ``[ROOT/]warehouse/catalog.json`` (the
    registry) and per table ``<ns>/<table>/{metadata,data}/``; tables are read
    through pyiceberg (:mod:`.iceberg`), never by globbing their data folder.
``manifest``
    iceberg-bioimage's Parquet warehouse: ``ROOT/warehouse_manifest.json``
    naming ``<ns>.<table>`` entries with a role, stored in ``ROOT/<ns>/<table>/``.
``data-files``
    Only the tables' data files, ``[ROOT/]warehouse/<ns>/<table>/data/*.parquet``
    (pycytominer's test fixture; a warehouse copied without its metadata).
``parquet``
    CytoTable's Parquet export: one folder of ``<table>.parquet`` files, a
    profile table beside ``image_crops.parquet`` / ``source_images.parquet``.

QC flags written back (:meth:`Warehouse.write_quality_control`) become a table
``quality_control.<NAME>`` of the same layout; reopening the warehouse joins
their flag columns onto the profiles by object id.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..errors import (
    ArrowscopeError,
    CorruptFileError,
    SchemaError,
    UnsupportedError,
    WriteError,
)
from .iceberg import REGISTRY

#: Table name (CytoTable) or manifest role (iceberg-bioimage) → workspace role.
ROLES = {
    "joined_profiles": "profiles",
    "profiles": "profiles",
    "image_crops": "crops",
    "source_images": "source images",
    "image_assets": "image assets",
    "chunk_index": "chunk index",
    "quality_control": "quality control",
}
QC_NAMESPACE = "quality_control"
MANIFEST = "warehouse_manifest.json"
#: The join contract of iceberg-bioimage: required and recommended key columns,
#: with the CytoTable/CellProfiler names that stand for them.
JOIN_CONTRACT = {
    "dataset_id": (
        "required",
        ("Metadata_dataset_id", "Metadata_Plate", "Image_Metadata_Plate"),
    ),
    "image_id": ("required", ("Metadata_ImageID", "Metadata_ImageNumber")),
    "plate_id": (
        "recommended",
        ("Metadata_Plate", "Image_Metadata_Plate", "Metadata_plate_id"),
    ),
    "well_id": (
        "recommended",
        ("Metadata_Well", "Image_Metadata_Well", "Metadata_well_id"),
    ),
    "site_id": (
        "recommended",
        ("Metadata_Site", "Image_Metadata_Site", "Metadata_site_id"),
    ),
}


@dataclass(frozen=True)
class WarehouseTable:
    """One table of a warehouse: where it is, how many rows, what it is for."""

    namespace: str
    name: str
    files: tuple[Path, ...]
    rows: int
    role: str | None
    #: The Iceberg table (layout ``iceberg``), read through pyiceberg.
    iceberg: Any = field(default=None, compare=False, repr=False)
    properties: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def identifier(self) -> str:
        return f"{self.namespace}.{self.name}"

    def source(self) -> list[Path] | pa.Table:
        """What the store layer opens: its data files (lazily), or for an
        Iceberg table with deletes the table pyiceberg read."""
        if self.iceberg is not None:
            return self.iceberg.source()  # type: ignore[no-any-return]
        return list(self.files)

    def read(self, columns: Sequence[str] | None = None) -> pa.Table:
        """Columns of every row (the QC tables are small)."""
        from .source import TableRows

        src = TableRows(self.source())
        return src.read(list(columns) if columns is not None else src.schema.names)


class Warehouse:
    """An opened warehouse root: its tables, and the profile workspace."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise CorruptFileError("no such folder", path=self.root)
        self.base = _base(self.root)
        self.registry: Path | None = None
        self.manifest: Path | None = None
        self.views: dict[str, Any] = {}
        self._load()

    def _load(self) -> None:
        """Find the layout and list its tables (again after a write)."""
        if (self.base / REGISTRY).is_file():
            self.layout = "iceberg"
            self.registry = self.base / REGISTRY
            self.tables = self._iceberg_tables()
        elif (self.root / MANIFEST).is_file():
            self.layout = "manifest"
            self.manifest = self.root / MANIFEST
            self.tables = self._manifest_tables()
        elif tables := _data_tables(self.base):  # footers read once
            self.layout = "data-files"
            self.tables = tables
        else:
            self.layout = "parquet"
            self.tables = _export_tables(self.root)
        self.problems = self._missing_tables()
        if not self.tables:
            raise CorruptFileError(
                f"holds no warehouse tables ({REGISTRY}, {MANIFEST}, "
                "<namespace>/<table>/data/*.parquet or joined_profiles/image_crops/"
                "source_images .parquet files)",
                path=self.root,
            )

    def _missing_tables(self) -> list[str]:
        """Tables whose data is gone: a data-files table folder left without
        data files, or a data file a table lists that no longer exists."""
        problems = []
        listed = {(t.namespace, t.name) for t in self.tables}
        if self.layout == "data-files":
            for data in sorted(self.base.glob("*/*/data")):
                key = (data.parent.parent.name, data.parent.name)
                if key not in listed:
                    problems.append(
                        f"table {key[0]}.{key[1]} has no data files left in {data} "
                        "(deleted?); what it holds cannot be shown"
                    )
        for t in self.tables:
            gone = [f for f in t.files if not Path(f).exists()]
            if gone:
                problems.append(
                    f"table {t.identifier} is missing {len(gone)} of its "
                    f"{len(t.files)} data files (first: {gone[0]}); what it holds "
                    "cannot be shown"
                )
        return problems

    # ---- layouts
    def _iceberg_tables(self) -> list[WarehouseTable]:
        from .iceberg import IcebergTable, read_registry

        assert self.registry is not None
        registry = read_registry(self.registry)
        self.views = dict(registry.get("views") or {})
        out = []
        for identifier, location in sorted(registry["tables"].items()):
            namespace, _, name = identifier.rpartition(".")
            table = IcebergTable(self.base, identifier, location, self.registry)
            out.append(
                WarehouseTable(
                    namespace,
                    name,
                    tuple(table.files()) if table.direct else (),
                    table.rows,
                    _role(namespace, name),
                    iceberg=table,
                    properties=table.properties,
                )
            )
        return out

    def _manifest_tables(self) -> list[WarehouseTable]:
        from ..images.parquet import parquet_file

        assert self.manifest is not None
        try:
            payload = json.loads(self.manifest.read_text())
            entries = payload["tables"]
            version = str(payload.get("warehouse_spec_version") or "")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CorruptFileError(
                f"is not a warehouse manifest ({exc})", path=self.manifest
            ) from exc
        if version and version.split(".")[0] not in ("0", "1"):
            raise UnsupportedError(
                f"declares warehouse_spec_version {version}; versions 0.x and 1.x "
                "are read",
                path=self.manifest,
            )
        out = []
        for entry in entries:
            identifier = str(entry.get("table_name", ""))
            parts = identifier.split(".")
            if len(parts) != 2 or not all(parts) or ".." in parts:
                raise CorruptFileError(
                    f"names a table {identifier!r} that is not <namespace>.<table>",
                    path=self.manifest,
                )
            folder = self.root.joinpath(*parts)
            if not folder.resolve().is_relative_to(self.root.resolve()):
                raise CorruptFileError(
                    f"table {identifier} lies outside the warehouse root",
                    path=self.manifest,
                )
            files = tuple(sorted(folder.rglob("*.parquet"))) if folder.is_dir() else ()
            if not files:
                raise CorruptFileError(
                    f"lists table {identifier} but {folder} holds no Parquet files",
                    path=self.manifest,
                )
            rows = sum(parquet_file(f).metadata.num_rows for f in files)
            role = ROLES.get(str(entry.get("role")), entry.get("role"))
            props = {
                "join_keys": json.dumps(entry.get("join_keys", [])),
                **(entry.get("properties") or {}),
            }
            out.append(
                WarehouseTable(parts[0], parts[1], files, rows, role, properties=props)
            )
        return out

    # ---- tables
    def profile_candidates(self) -> list[WarehouseTable]:
        """The tables that can be opened as profiles: the default first, then
        the other profile-like tables (not images, crops or QC tables)."""
        skip = {"crops", "source images", "image assets", "chunk index"}
        found = [
            t for t in self.tables if t.role not in skip and t.namespace != QC_NAMESPACE
        ]
        return sorted(found, key=lambda t: t.role != "profiles")

    def table(self, role_or_name: str) -> WarehouseTable:
        """The one table with this role (``"profiles"``…), name or ``ns.name``."""
        found = [
            t for t in self.tables if role_or_name in (t.role, t.name, t.identifier)
        ]
        if len(found) == 1:
            return found[0]
        if found:
            raise CorruptFileError(
                f"has several {role_or_name!r} tables: {[t.identifier for t in found]}",
                path=self.root,
                hint="choose one: --table NAME on the command line, "
                "open_profiles(root, table='<ns>.<table>') in Python",
            )
        raise CorruptFileError(
            f"has no {role_or_name!r} table; tables are "
            f"{[t.identifier for t in self.tables]}",
            path=self.root,
            hint="choose one: --table NAME on the command line, "
            "open_profiles(root, table='<ns>.<table>') in Python",
        )

    def _optional(self, role: str) -> WarehouseTable | None:
        found = [t for t in self.tables if t.role == role]
        return found[0] if len(found) == 1 else None

    @property
    def quality_control(self) -> list[WarehouseTable]:
        """The QC tables written back into this warehouse."""
        return [t for t in self.tables if t.namespace == QC_NAMESPACE]

    def profiles(self, table: str | None = None, **options: Any) -> Any:
        """The ProfileTable of the warehouse's profiles, linked to its source
        images and crops, with the flags of its QC tables joined by object id.

        The warehouse builds the links (its image tables by role); ``options``
        are ``open_profiles``' (``image_root=``, ``keys=``, …).
        """
        from .table import Origin, ProfileTable

        prof = self.table(table or "profiles")
        for role, option in (
            ("source images", "source_images"),
            ("crops", "image_crops"),
        ):
            found = self._optional(role)
            if found is not None:
                options.setdefault(option, found.source())
        assets = self._optional("image assets")
        if assets is not None and "source_images" not in options:
            options.setdefault("image_assets", assets.source())
            options.setdefault("asset_root", self.root)
        keys = options.pop("keys", None)
        roles = options.pop("roles", None)
        origin = Origin(
            notes=tuple(self.problems),  # first: they explain missing images
            warehouse=self,
            warehouse_table=prof.identifier,
        )
        pt = ProfileTable(
            prof.source(), keys, origin=origin, link_options=options, roles=roles
        )
        for qc in self.quality_control:
            _join_flags(pt, qc)
        return pt

    # ---- reports
    def join_contract(self, table: str | None = None) -> dict[str, Any]:
        """Which iceberg-bioimage join-contract columns the profiles carry:
        ``{key: {"level": required|recommended, "column": name or None}}``."""
        names = set(_schema(self.table(table or "profiles")).names)
        out = {}
        for key, (level, aliases) in JOIN_CONTRACT.items():
            column = (
                key if key in names else next((a for a in aliases if a in names), None)
            )
            out[key] = {"level": level, "column": column}
        return out

    # ---- QC
    def run_qc(
        self,
        conditions: Any = "cosmicqc",
        method: Any = "zscore",
        group_by: Sequence[str] = (),
        nan_policy: Any = "omit",
        *,
        client: Any = None,
        progress: Any = None,
        table: str | None = None,
    ) -> tuple[pa.Table, Any]:
        """QC over the profiles: ``(key columns, QCResult)``, as
        :func:`~arrowscope.core.profiles.batch.run_qc` on the table's data
        files (on a dask cluster with ``client``)."""
        from .batch import qc_table, run_qc

        source = self.table(table or "profiles").source()
        if isinstance(source, list):
            return run_qc(
                source,
                conditions,
                method,
                group_by,
                nan_policy,
                client=client,
                progress=progress,
                name=self.root,
            )
        # an Iceberg table read through pyiceberg (deletes applied): the
        # columns QC needs, in one process
        from .source import TableRows

        return qc_table(
            TableRows(source), conditions, method, group_by, nan_policy, name=self.root
        )

    # ---- writing back
    def write_quality_control(
        self,
        name: str,
        keys: pa.Table,
        result: Any,
        *,
        report: Mapping[str, Any] | None = None,
        overwrite: bool = False,
    ) -> WarehouseTable:
        """Write QC flags as table ``quality_control.<name>`` of this warehouse.

        ``keys``: the key columns of the profile rows (with
        ``Metadata_ObjectID`` when the profiles have it); ``result``: the
        :class:`~arrowscope.core.profiles.qc.QCResult` (or a table of flag
        columns, with the QC ``report`` given apart). The conditions go
        into the table's properties. Iceberg roots: an Iceberg table
        registered in the registry (replaced last, atomically); other layouts:
        a Parquet file in the layout's place (written atomically), and the
        manifest updated for iceberg-bioimage roots. An existing table of that
        name is replaced only with ``overwrite``.
        """
        from .qc import annotation_table, flag_columns

        self.check_quality_control(name, overwrite)
        table = annotation_table(keys, result, path=self.root)
        if self.layout == "manifest":  # iceberg-bioimage's canonical QC column
            flagged = np.zeros(table.num_rows, bool)
            for c in flag_columns(table.column_names):
                flagged |= (
                    table.column(c).fill_null(False).to_numpy(zero_copy_only=False)
                )
            table = table.append_column("qc_pass", pa.array(~flagged))
        report = report if report is not None else getattr(result, "report", {})
        props = {
            "arrowscope.conditions": json.dumps(
                report.get("conditions", {}), default=str, sort_keys=True
            ),
            "arrowscope.kind": "quality_control",
        }
        return self._write_annotation(name, table, props)

    def write_classes(
        self,
        name: str,
        scores: pa.Table,
        classes: list[str],
        *,
        overwrite: bool = False,
    ) -> WarehouseTable:
        """Write a classifier's scores (the rows' keys,
        ``Metadata_predicted_class``, ``Metadata_p_<class>``) as table
        ``quality_control.<name>``, where QC flags go, by the same rules."""
        self.check_quality_control(name, overwrite)
        props = {
            "arrowscope.kind": "classification",
            "arrowscope.classes": json.dumps(list(classes)),
        }
        return self._write_annotation(name, scores, props)

    def _write_annotation(
        self, name: str, table: pa.Table, props: dict[str, str]
    ) -> WarehouseTable:
        identifier = f"{QC_NAMESPACE}.{name}"
        if self.layout == "iceberg":
            from .iceberg import write_table

            assert self.registry is not None
            write_table(self.base, self.registry, identifier, table, props)
        else:
            self._write_parquet_qc(name, table, props)
        self._load()
        return self.table(identifier)

    def check_quality_control(self, name: str, overwrite: bool) -> bool:
        """The write policy for ``quality_control.<name>``: whether it exists
        (and will be replaced); without ``overwrite`` an existing one is a
        :class:`WriteError`."""
        _check_name(name)
        identifier = f"{QC_NAMESPACE}.{name}"
        exists = any(t.identifier == identifier for t in self.tables)
        if exists and not overwrite:
            raise WriteError(
                f"already has table {identifier}; nothing was written",
                path=self.root,
                hint="pass --overwrite (overwrite=True) to replace it, or choose "
                "another name",
            )
        return exists

    def _write_parquet_qc(
        self, name: str, table: pa.Table, props: Mapping[str, str]
    ) -> Path:
        from ..images.atomic import atomic_target
        from ..images.parquet import write_parquet

        meta = {f"arrowscope.qc.{k}": v for k, v in props.items()}
        table = table.replace_schema_metadata(meta)
        if self.layout == "parquet":
            dest = self.root / f"{QC_NAMESPACE}.{name}.parquet"
        elif self.layout == "manifest":
            dest = self.root / QC_NAMESPACE / name / "part-0.parquet"
        else:
            dest = self.base / QC_NAMESPACE / name / "data" / "part-0.parquet"
        dest.parent.mkdir(parents=True, exist_ok=True)
        with atomic_target(dest) as tmp:
            write_parquet(table, tmp, compression="zstd")
        if self.layout == "manifest":
            self._update_manifest(name, table)
        return dest

    def _update_manifest(self, name: str, table: pa.Table) -> None:
        from .iceberg import write_json

        assert self.manifest is not None
        payload = json.loads(self.manifest.read_text())
        identifier = f"{QC_NAMESPACE}.{name}"
        payload["tables"] = [
            t for t in payload.get("tables", []) if t.get("table_name") != identifier
        ]
        keys = [
            c
            for c in ("dataset_id", "image_id", "object_id")
            if c in table.column_names
        ]
        payload["tables"].append(
            {
                "table_name": identifier,
                "role": "quality_control",
                "format": "parquet",
                "join_keys": keys
                or [c for c in table.column_names if c.startswith("Metadata_")][:3],
                "source_type": "arrowscope",
                "row_count": table.num_rows,
                "columns": table.column_names,
            }
        )
        write_json(self.manifest, payload)


def _base(root: Path) -> Path:
    return root / "warehouse" if (root / "warehouse").is_dir() else root


def _role(namespace: str, name: str) -> str | None:
    if namespace == QC_NAMESPACE:
        return "quality control"
    return ROLES.get(name)


def _schema(table: WarehouseTable) -> pa.Schema:
    from .source import TableRows

    return TableRows(table.source()).schema


def _check_name(name: str) -> None:
    import re

    if not re.fullmatch(r"[A-Za-z0-9_-]+", name or ""):
        raise ArrowscopeError(
            f"QC table name {name!r}: use letters, digits, '_' and '-' only"
        )


def _data_tables(base: Path) -> list[WarehouseTable]:
    from ..images.parquet import parquet_file

    out = []
    if not base.is_dir():
        return out
    for namespace in sorted(p for p in base.iterdir() if p.is_dir()):
        for table in sorted(p for p in namespace.iterdir() if p.is_dir()):
            files = tuple(sorted((table / "data").glob("*.parquet")))
            if not files:
                continue
            if any((table / "metadata").glob("*.metadata.json")):
                # the data folder of an Iceberg table also holds files that
                # its snapshots no longer use: only its metadata tells which
                raise CorruptFileError(
                    f"table {namespace.name}.{table.name} has Iceberg metadata but "
                    f"the warehouse has no registry ({base / REGISTRY})",
                    path=base,
                    hint=f"restore {REGISTRY} from a copy of the warehouse; its "
                    "data files alone may hold deleted or replaced rows",
                )
            rows = sum(parquet_file(f).metadata.num_rows for f in files)
            out.append(
                WarehouseTable(
                    namespace.name,
                    table.name,
                    files,
                    rows,
                    _role(namespace.name, table.name),
                )
            )
    return out


#: The other tables of CytoTable 1.2.6's image-linked Parquet export
EXPORT_ROLES = {
    "joined_raw": "profiles without object ids",
    "profile_with_images": "profiles × images (a row per cell and channel)",
}


def _export_tables(folder: Path) -> list[WarehouseTable]:
    """CytoTable's Parquet export: ``image_crops.parquet``/``source_images.parquet``
    beside the profile tables.

    CytoTable 1.2.6 writes five files: ``joined_raw`` (the CellProfiler join),
    ``joined_profiles`` (adds ``Metadata_ObjectID``), ``profile_with_images``
    (one row per cell and channel), ``image_crops`` and ``source_images``. The
    profiles are the table the crops link to by ``Metadata_ObjectID``
    (``joined_profiles``); the others are listed with their roles and can be
    chosen by name.
    """
    from ..images.parquet import parquet_file

    files = sorted(folder.glob("*.parquet"))
    names = {f.name.removesuffix(".parquet"): f for f in files}
    if not ({"image_crops", "source_images"} & set(names)):
        return []
    out = []
    candidates = []
    for stem, f in names.items():
        namespace, _, name = stem.rpartition(".")
        if namespace and namespace != QC_NAMESPACE:
            namespace, name = "", stem
        role = _role(namespace, name)
        rows = parquet_file(f).metadata.num_rows
        ns = namespace or (
            "images" if name in ("image_crops", "source_images") else "profiles"
        )
        table = WarehouseTable(ns, name, (f,), rows, role)
        if role is None and not namespace:
            candidates.append(table)
        out.append(table)
    if not any(t.role == "profiles" for t in out):
        chosen = _export_profiles(candidates, names.get("image_crops"))
        out = [
            WarehouseTable(t.namespace, t.name, t.files, t.rows, "profiles")
            if t is chosen
            else t
            for t in out
        ]
    return [
        WarehouseTable(t.namespace, t.name, t.files, t.rows, EXPORT_ROLES[t.name])
        if t.role is None and t.name in EXPORT_ROLES
        else t
        for t in out
    ]


def _export_profiles(
    candidates: list[WarehouseTable], crops: Path | None
) -> WarehouseTable | None:
    """The export's profile table when none is named ``joined_profiles``: the
    only candidate, else the one table that carries the crops' link column."""
    if len(candidates) == 1:
        return candidates[0]
    if crops is None:
        return None
    from ..images.parquet import parquet_file

    if "Metadata_ObjectID" not in parquet_file(crops).schema_arrow.names:
        return None
    linked = [
        t
        for t in candidates
        if t.name not in EXPORT_ROLES
        and "Metadata_ObjectID" in parquet_file(t.files[0]).schema_arrow.names
    ]
    return linked[0] if len(linked) == 1 else None


_LAYOUT_KEY = re.compile(r"^(Image_)?Metadata_(Plate|Well|Site|Field)$")


def _join_flags(pt: Any, qc: WarehouseTable) -> None:
    """Add a QC table's flag columns (or a classifier's scores: predicted
    class and probabilities) to the profiles, matched by object id (or,
    without one, by the keys both share), never by position."""
    from .qc import flag_columns

    schema = _schema(qc)
    flags = flag_columns(schema.names)
    scores = [
        c
        for c in schema.names
        if c == "Metadata_predicted_class" or c.startswith("Metadata_p_")
    ]
    # a catalog of fields or wells (``qc --level``) is keyed by plate, well
    # and site; a cell-level table by the cells' keys
    where = [c for c in pt.columns if _LAYOUT_KEY.match(c)]
    keys = (
        ["Metadata_ObjectID"]
        if "Metadata_ObjectID" in schema.names and "Metadata_ObjectID" in pt.columns
        else [
            c
            for c in dict.fromkeys([*pt.keys.columns(), *where])
            if c in schema.names and c not in flags
        ]
    )
    if not keys:
        pt.note_problem(
            f"QC table {qc.identifier} shares no key with the profiles; not shown"
        )
        return
    if not flags and not scores:
        pt.note_problem(
            f"QC table {qc.identifier} holds no flag or class columns; not shown"
        )
        return
    stored = qc.read([*keys, *flags, *scores])
    mine = pt.read(keys)
    stored = stored.append_column("__qc_row", pa.array(np.arange(stored.num_rows)))
    mine = mine.append_column("__row", pa.array(np.arange(mine.num_rows)))
    try:
        joined = mine.join(stored, keys=keys, join_type="left outer")
    except pa.ArrowInvalid as exc:
        raise SchemaError(
            f"QC table {qc.identifier}: its keys do not match the profiles' ({exc})",
            column=keys[0],
        ) from exc
    if joined.num_rows != mine.num_rows:
        pt.note_problem(f"QC table {qc.identifier} has duplicated keys; not shown")
        return
    joined = joined.sort_by("__row")
    missing = int(joined.column("__qc_row").null_count)
    if missing:
        pt.note_problem(
            f"QC table {qc.identifier}: {missing} profile row(s) have no flags"
        )
    extra = {}
    for c in [*flags, *scores]:
        name = c if c not in pt.columns else f"{qc.name}:{c}"
        extra[name] = joined.column(c).combine_chunks()
    pt.add_columns(extra)
    if not flags:  # a classifier's scores: columns to browse, not flags
        return
    pt.add_stored_flags(pa.table({c: joined.column(c).fill_null(False) for c in flags}))


def is_warehouse(path: str | Path) -> bool:
    """Cheap check: a folder in one of the layouts (see the module); a folder
    that cannot be entered is an :class:`AccessError`, not "no"."""
    root = Path(path)
    try:
        return root.is_dir() and _has_warehouse_layout(root)
    except PermissionError as exc:
        from ..errors import unreadable_folder

        raise unreadable_folder(root) from exc


def _has_warehouse_layout(root: Path) -> bool:
    return layout_of(root) is not None


#: the warehouse layouts, as :func:`layout_of` names them
LAYOUTS = ("iceberg", "manifest", "data-files", "parquet")


def layout_of(root: Path) -> str | None:
    """Which layout a folder holds (``"iceberg"``: CytoTable's registry;
    ``"manifest"``: iceberg-bioimage's; ``"data-files"``: Iceberg-style table
    folders without a registry; ``"parquet"``: CytoTable's Parquet export),
    from its listing only; None when it is no warehouse."""
    base = _base(root)
    if (base / REGISTRY).is_file():
        return "iceberg"
    if (root / MANIFEST).is_file():
        return "manifest"
    if base.is_dir() and any(
        (table / "data").is_dir()
        for namespace in base.iterdir()
        if namespace.is_dir()
        for table in namespace.iterdir()
        if table.is_dir()
    ):
        return "data-files"
    if any((root / f"{t}.parquet").is_file() for t in ("image_crops", "source_images")):
        return "parquet"
    return None


def warehouse_root(path: str | Path) -> Path | None:
    """The warehouse root a path names: the root itself, or its registry
    (``catalog.json``) or manifest file."""
    p = Path(path)
    if p.is_file() and p.name == REGISTRY:
        root = p.parent.parent if p.parent.name == "warehouse" else p.parent
        return root if is_warehouse(root) else None
    if p.is_file() and p.name == MANIFEST:
        return p.parent
    return p if is_warehouse(p) else None


def open_warehouse(root: str | Path) -> Warehouse:
    """Open a warehouse root (or its ``catalog.json``) in any of the layouts."""
    found = warehouse_root(root)
    return Warehouse(found if found is not None else root)
