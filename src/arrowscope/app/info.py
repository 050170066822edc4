"""``arrowscope info``: what a file, folder or URI holds, as plain data
(:func:`describe`, the ``--json`` output) or as lines."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def describe(path: Path, table: str | None = None, **links: Any) -> dict[str, Any]:
    """What a file or folder holds, as plain data (the ``info --json`` output).

    A warehouse is described whatever its profiles are: when they cannot be
    opened (several candidate tables, a missing file), the tables are still
    listed and the reason is given.
    """
    from ..core.images.image import open_source
    from ..core.profiles.kinds import resolve

    found = resolve(path)
    if found is None:  # no kind knows it: the store layer opens it or says why
        return _describe_images(open_source(path), path, "OME-Arrow image table")
    kind = found.kind.name
    if found.role == "convert":
        raise found.refusal("view")
    if found.role == "warehouse":
        return _describe_warehouse(Path(found.source), kind, table, links)
    if found.role == "profiles":
        pt = found.open(**links)  # images linked, not embedded
        return {
            "path": str(path),
            "layout": "profile-table",
            "kind": kind,
            **pt.describe(),
        }
    return _describe_images(found.open(), path, kind)


def _describe_warehouse(
    root: Path, kind: str, table: str | None, links: dict[str, Any]
) -> dict[str, Any]:
    """A warehouse's tables, and its profiles when they open."""
    from ..core.errors import ArrowscopeError
    from ..core.profiles.warehouse import open_warehouse

    w = open_warehouse(root)
    facts: dict[str, Any] = {
        "path": str(root),
        "layout": "warehouse",
        "kind": kind,
        "store": w.layout,
        "tables": [
            {
                "namespace": t.namespace,
                "table": t.name,
                "rows": t.rows,
                "role": t.role,
                "files": len(t.files),
            }
            for t in w.tables
        ],
    }
    try:
        pt = w.profiles(table, **links)
    except ArrowscopeError as exc:
        return {**facts, "profiles_problem": str(exc)}
    keys = pt.keys
    return {
        **facts,
        "join_keys": {
            "image": keys.image,
            "object": "Metadata_ObjectID"
            if "Metadata_ObjectID" in pt.columns
            else keys.object,
            "channel": "source_image_column" if pt.link("source images") else None,
        },
        "join_contract": w.join_contract(table),
        "links": pt.link_report(),
        "profiles": pt.describe(),
    }


def _describe_images(src: Any, path: Any, kind: str) -> dict[str, Any]:
    """An image table's or chunk dataset's image columns, levels and keys."""
    from ..core.profiles.table import detect_keys

    columns = []
    for column in src.image_columns:
        metas = src.metas(column)
        real = [m for m in metas if m is not None]
        first = real[0] if real else None
        columns.append(
            {
                "column": column,
                "images": len(real),
                "empty_rows": len(metas) - len(real),
                "dims": "TCZYX",
                "shape": list(first.shape) if first else None,
                "shapes_vary": len({m.shape for m in real}) > 1,
                "dtype": first.dtype.name if first else None,
                "image_type": first.image_type if first else None,
                "rgb": bool(first and first.rgb),
                "physical_size": list(first.physical_size) if first else None,
                "units": list(first.units) if first else None,
                "channels": [c.name for c in first.channels] if first else [],
                "unreadable_rows": {
                    row: str(exc) for row, exc in src.problems.get(column, {}).items()
                },
            }
        )
    out: dict[str, Any] = {
        "path": str(path),
        "layout": "typed-chunk-dataset" if src.kind == "dataset" else src.kind,
        "kind": kind,
        "rows": src.num_rows,
        "row_groups": src.table.num_groups if src.table is not None else None,
        "image_columns": columns,
        "empty_columns": src.empty_columns,
        "other_columns": src.other_columns,
    }
    if src.dataset is not None:
        out["pyramid_levels"] = [
            {"level": k, "shape": list(level.meta(0).shape)}
            for k, level in enumerate(src.dataset.levels, start=1)
            if len(level)
        ]
    if src.table is not None:
        roles = detect_keys(src.table.schema)
        if roles.image or roles.objects:
            out["keys"] = roles.to_dict()
    return out


def info(path: Path, *, as_json: bool, table: str | None = None, **links: Any) -> int:
    import warnings

    with warnings.catch_warnings():
        # what a table warns about is in its problems, printed below once
        warnings.simplefilter("ignore", UserWarning)
        facts = describe(path, table, **links)
    if as_json:
        sys.stdout.write(json.dumps(facts, indent=2, default=str) + "\n")
        return 0
    if facts["layout"] == "warehouse":
        lines = _warehouse_lines(facts)
    elif facts["layout"] == "profile-table":
        lines = _profile_lines(facts)
    else:
        lines = _image_lines(facts)
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def _warehouse_lines(facts: dict[str, Any]) -> list[str]:
    lines = [
        f"{facts['path']}: warehouse, {len(facts['tables'])} tables ({facts['kind']})"
    ]
    lines += [
        f"  {t['namespace']}.{t['table']}: {t['rows']} rows"
        + (f" ({t['role']})" if t["role"] else "")
        for t in facts["tables"]
    ]
    if "profiles_problem" in facts:
        lines.append(f"  profiles: not opened: {facts['profiles_problem']}")
        return lines
    prof = facts["profiles"]
    lines.append(
        f"  profiles: {prof['rows']} rows, {prof['fields_of_view']} fields of "
        f"view, channels {prof['channels']}"
    )
    jk = facts["join_keys"]
    lines.append(
        f"  joins: image by {', '.join(jk['image']) or '(none)'}"
        + (f", objects by {jk['object']}" if jk["object"] else "")
        + (f", channels by {jk['channel']}" if jk["channel"] else "")
    )
    links = facts["links"]
    lines.append(
        "  links: "
        + ", ".join(
            f"{k.replace('_', ' ')} {v}" for k, v in links.items() if isinstance(v, int)
        )
    )
    contract = facts["join_contract"]
    lines.append(
        "  iceberg-bioimage join contract: "
        + ", ".join(
            f"{k} ({c['level']}): {c['column'] or 'missing'}"
            for k, c in contract.items()
        )
    )
    lines += _problems(prof["problems"])
    return lines


def _profile_lines(facts: dict[str, Any]) -> list[str]:
    keys = facts["keys"]
    lines = [
        f"{facts['path']}: {facts['kind']}, {facts['rows']} rows, "
        f"{facts['columns']} columns",
        f"  image key: {', '.join(keys['image']) or '(none found)'}",
        f"  objects: {keys['objects'] or '(none found)'}",
        f"  centre: {keys['center']}, box: {keys['bbox']}",
        f"  fields of view: {facts['fields_of_view']}, "
        f"channels: {facts['channels']}, "
        f"masks: {facts['masks']}",
    ]
    lines += _problems(facts["problems"])
    return lines


def _image_lines(facts: dict[str, Any]) -> list[str]:
    what = "images" if facts["layout"] == "typed-chunk-dataset" else "rows"
    head = f"{facts['path']}: {facts['layout']}, {facts['rows']} {what}"
    if facts["row_groups"] is not None:
        head += f", {facts['row_groups']} row groups"
    lines = [head]
    for c in facts["image_columns"]:
        lines.append(
            f"  {c['column']}: {c['images']} images, TCZYX {c['shape']}"
            f"{' (varies)' if c['shapes_vary'] else ''}, {c['dtype']}, "
            f"scale {c['physical_size']} {c['units']}, channels {c['channels']}"
        )
        for row, problem in list(c["unreadable_rows"].items())[:3]:
            lines.append(f"    row {row} cannot be opened: {problem}")
    for name in facts["empty_columns"]:
        lines.append(f"  {name}: no images")
    if facts.get("pyramid_levels"):
        shapes = ", ".join(
            "×".join(map(str, lvl["shape"][3:])) for lvl in facts["pyramid_levels"]
        )
        lines.append(
            f"  stored pyramid: {len(facts['pyramid_levels'])} levels ({shapes})"
        )
    if facts["other_columns"]:
        lines.append(
            f"  other columns: {len(facts['other_columns'])} "
            f"({', '.join(facts['other_columns'][:6])}…)"
        )
    return lines


def _problems(problems: list[str], shown: int = 10) -> list[str]:
    """The first ``shown`` problems, and how many more there are and where."""
    lines = [f"  problem: {p}" for p in problems[:shown]]
    if len(problems) > shown:
        lines.append(
            f"  … and {len(problems) - shown} more problems (all of them: "
            "arrowscope info --json)"
        )
    return lines
