"""Batch work over many profile files: QC on one machine or a dask cluster.

QC statistics must be global (over every row of every file), so the
distributed path runs in two passes over partitions (one Parquet row group
each): pass 1 returns per-group partial moments (count, mean, M2 — combined
with Chan's parallel formula) or, for robust scores, the values themselves;
pass 2 evaluates the conditions on each partition with the global statistics.
Only the needed columns are ever read.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import ArrowscopeError, SchemaError
from ..images.parquet import parquet_file
from ..images.sources import sniff_format
from .keys import detect_keys, group_codes
from .qc import (
    Method,
    NanPolicy,
    QCResult,
    check_qc_columns,
    compute_flags,
    feature_values,
    load_conditions,
)
from .source import read_profile_table


@dataclass(frozen=True)
class Partition:
    """One row group of one file (``group=None``: the whole file)."""

    path: Path
    group: int | None
    rows: int

    def read(self, columns: Sequence[str]) -> pa.Table:
        if self.group is None:
            return read_profile_table(self.path, columns)
        return parquet_file(self.path).read_row_group(self.group, columns=list(columns))


def partitions(paths: Sequence[Path]) -> list[Partition]:
    """Row-group partitions of Parquet files (whole files otherwise), in order."""
    out = []
    for p in paths:
        p = Path(p)
        if sniff_format(p) == "parquet":
            meta = pq.read_metadata(p)
            out += [
                Partition(p, g, meta.row_group(g).num_rows)
                for g in range(meta.num_row_groups)
            ]
        else:
            out.append(Partition(p, None, read_profile_table(p, []).num_rows))
    return out


def common_schema(paths: Sequence[Path]) -> pa.Schema:
    """The schema shared by ``paths`` (the first file's; others need its columns)."""
    from .source import TableRows

    schemas = [TableRows(Path(p)).schema for p in paths]
    first = schemas[0]
    for p, s in zip(paths[1:], schemas[1:], strict=True):
        missing = [n for n in first.names if n not in s.names]
        if missing:
            raise SchemaError(
                f"lacks {len(missing)} column(s) of {Path(paths[0]).name}",
                path=p,
                column=missing[0],
            )
    return first


def annotation_keys(schema: pa.Schema, roles: Any = None) -> list[str]:
    """Key columns for an annotation file: image key + object number, or
    Metadata_* (``roles``: the table's key roles, when not the detected ones)."""
    roles = roles if roles is not None else detect_keys(schema)
    keys = [*roles.image, *roles.objects.values()]
    if keys and "Metadata_ObjectID" in schema.names:  # CytoTable's object id
        keys.insert(0, "Metadata_ObjectID")
    if not keys:
        keys = [
            n for n in schema.names if n.startswith("Metadata_") and "_cqc_" not in n
        ]
    if not keys:
        raise SchemaError(
            "no key columns (image number, object number or Metadata_*) to annotate by",
            hint="add Metadata_ImageNumber and an object number column",
        )
    return list(dict.fromkeys(keys))


def _partial(
    part: Partition,
    features: list[str],
    group_by: list[str],
    method: Method,
    nan_policy: NanPolicy,
) -> dict[str, dict[tuple[Any, ...], Any]]:
    table = part.read([*features, *group_by])
    codes, values = (
        group_codes(table, group_by)
        if group_by
        else (np.zeros(table.num_rows, np.int64), [()])
    )
    out: dict[str, dict[tuple[Any, ...], Any]] = {}
    for f in features:
        x_all = feature_values(table, f)
        out[f] = {}
        for g, key in enumerate(values):
            x = x_all[codes == g]
            has_nan = bool(np.isnan(x).any())
            x = x[~np.isnan(x)]
            if method == "robust":
                out[f][key] = (x, has_nan)
            else:
                mean = float(x.mean()) if x.size else 0.0
                out[f][key] = (x.size, mean, float(((x - mean) ** 2).sum()), has_nan)
    return out


def _combine(
    parts: list[dict[str, dict[tuple[Any, ...], Any]]],
    method: Method,
    nan_policy: NanPolicy,
) -> dict[str, dict[tuple[Any, ...], tuple[float, float, int]]]:
    from .qc import MAD_TO_SD

    merged: dict[str, dict[tuple[Any, ...], Any]] = {}
    for part in parts:
        for f, groups in part.items():
            acc = merged.setdefault(f, {})
            for key, val in groups.items():
                if method == "robust":
                    prev = acc.get(key, ([], False))
                    acc[key] = (prev[0] + [val[0]], prev[1] or val[1])
                    continue
                n_b, m_b, m2_b, nan_b = val
                n_a, m_a, m2_a, nan_a = acc.get(key, (0, 0.0, 0.0, False))
                n = n_a + n_b
                if n == 0:
                    acc[key] = (0, 0.0, 0.0, nan_a or nan_b)
                    continue
                delta = m_b - m_a
                acc[key] = (
                    n,
                    m_a + delta * n_b / n,
                    m2_a + m2_b + delta * delta * n_a * n_b / n,
                    nan_a or nan_b,
                )
    stats: dict[str, dict[tuple[Any, ...], tuple[float, float, int]]] = {}
    for f, groups in merged.items():
        stats[f] = {}
        for key, val in groups.items():
            has_nan = val[-1]
            if nan_policy == "propagate" and has_nan:
                stats[f][key] = (np.nan, np.nan, 0)
            elif method == "robust":
                x = np.concatenate(val[0]) if val[0] else np.empty(0)
                if x.size == 0:
                    stats[f][key] = (np.nan, np.nan, 0)
                else:
                    med = float(np.median(x))
                    stats[f][key] = (
                        med,
                        MAD_TO_SD * float(np.median(np.abs(x - med))),
                        x.size,
                    )
            elif method == "raw":
                stats[f][key] = (0.0, 1.0, val[0])
            else:
                n, mean, m2, _ = val
                stats[f][key] = (
                    (mean, float(np.sqrt(m2 / n)), n) if n else (np.nan, np.nan, 0)
                )
    return stats


def _flags(
    part: Partition,
    conditions: Any,
    method: Method,
    group_by: list[str],
    nan_policy: NanPolicy,
    stats: Any,
    keys: list[str],
    features: list[str],
) -> tuple[pa.Table, QCResult]:
    table = part.read(list(dict.fromkeys([*keys, *features, *group_by])))
    result = compute_flags(
        table, conditions, method, group_by or None, nan_policy, stats=stats
    )
    return table.select(keys), result


def qc_table(
    source: Any,
    conditions: Any = "cosmicqc",
    method: Method = "zscore",
    group_by: Sequence[str] = (),
    nan_policy: NanPolicy = "omit",
    *,
    roles: Any = None,
    name: str | Path | None = None,
) -> tuple[pa.Table, QCResult]:
    """QC in this process over one opened table (a ``ProfileTable``, a
    ``TableRows``, anything with ``schema`` and ``read(columns)``): a
    CellProfiler database, CSV folder or properties file, a table in a bucket,
    an Iceberg table. Only the key, feature and group columns are read."""
    conds = load_conditions(conditions, method)
    keys = annotation_keys(source.schema, roles)
    features = list(dict.fromkeys(f for c in conds for f in c.features))
    check_qc_columns(source.schema.names, features, group_by, path=name)
    table = source.read(list(dict.fromkeys([*keys, *features, *group_by])))
    result = compute_flags(table, conds, method, list(group_by) or None, nan_policy)
    return table.select(keys), result


def run_qc(
    paths: Sequence[str | Path],
    conditions: Any = "cosmicqc",
    method: Method = "zscore",
    group_by: Sequence[str] = (),
    nan_policy: NanPolicy = "omit",
    *,
    client: Any = None,
    progress: Callable[[int, int], None] | None = None,
    name: str | Path | None = None,
) -> tuple[pa.Table, QCResult]:
    """QC over one or many profile files; returns (key columns, result).

    ``name``: what errors call the input (a warehouse root rather than one of
    its data files).

    With a dask.distributed ``client`` both passes run on the cluster, one
    task per row group; without, the needed columns of every file are read
    here and evaluated at once (identical flags).
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise ArrowscopeError("no input tables given")
    for p in paths:
        if not p.is_file() or p.stat().st_size == 0:
            from .source import not_a_table_error

            raise not_a_table_error(p)
    schema = common_schema(paths)
    keys = annotation_keys(schema)
    conds = load_conditions(conditions, method)
    features = list(dict.fromkeys(f for c in conds for f in c.features))
    check_qc_columns(
        schema.names, features, group_by, path=paths[0] if name is None else name
    )
    by = list(group_by)
    if client is None:
        columns = list(dict.fromkeys([*keys, *features, *by]))
        tables = []
        for i, p in enumerate(paths):
            tables.append(read_profile_table(p, columns))
            if progress:
                progress(i + 1, len(paths))
        table = pa.concat_tables(tables, promote_options="permissive")
        result = compute_flags(table, conds, method, by or None, nan_policy)
        return table.select(keys), result

    parts = partitions(paths)
    futures = client.map(
        _partial,
        parts,
        features=features,
        group_by=by,
        method=method,
        nan_policy=nan_policy,
        pure=False,
    )
    partials = _gather(client, futures, progress, len(parts) * 2, 0)
    stats = _combine(partials, method, nan_policy)
    futures = client.map(
        _flags,
        parts,
        conditions=conds,
        method=method,
        group_by=by,
        nan_policy=nan_policy,
        stats=stats,
        keys=keys,
        features=features,
        pure=False,
    )
    results = _gather(client, futures, progress, len(parts) * 2, len(parts))
    key_table = pa.concat_tables([k for k, _ in results], promote_options="permissive")
    flags = pa.concat_tables([r.flags for _, r in results])
    scores = pa.concat_tables([r.scores for _, r in results])
    report = _merge_reports([r.report for _, r in results], stats)

    return key_table, QCResult(flags, scores, report)


def _gather(
    client: Any,
    futures: list[Any],
    progress: Callable[[int, int], None] | None,
    total: int,
    done: int,
) -> list[Any]:
    from distributed import as_completed

    for i, _ in enumerate(as_completed(futures)):
        if progress:
            progress(done + i + 1, total)
    return client.gather(futures)


def _merge_reports(
    reports: list[dict[str, Any]], stats: dict[str, Any]
) -> dict[str, Any]:
    rows = sum(r["rows"] for r in reports)
    out = dict(reports[0])
    out["rows"] = rows
    out["conditions"] = {}
    for name in reports[0]["conditions"]:
        flagged = sum(r["conditions"][name]["flagged"] for r in reports)
        out["conditions"][name] = {
            "clauses": reports[0]["conditions"][name]["clauses"],
            "flagged": flagged,
            "percent": round(100.0 * flagged / max(1, rows), 4),
        }
    out["features"] = {
        f: {
            "missing": sum(r["features"][f]["missing"] for r in reports),
            "used": int(sum(v[2] for v in stats[f].values())),
        }
        for f in reports[0]["features"]
    }
    out["partitions"] = len(reports)
    return out


def usable_cores() -> int:
    """The cores this process may use: its CPU affinity, capped by a cgroup
    CPU quota (a container's ``--cpus``), at least 1. ``os.cpu_count()`` says
    how many the machine has, which is not what a process on a shared or
    limited machine gets. ``ARROWSCOPE_THREADS=N`` caps it further."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    for path, parse in (
        ("/sys/fs/cgroup/cpu.max", lambda t: t.split()),  # cgroup v2
        ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", lambda t: [t.strip(), None]),
    ):
        try:
            with open(path) as fh:
                quota, period = parse(fh.read())
        except (OSError, ValueError):
            continue
        if quota in ("max", "-1"):
            break
        if period is None:
            try:
                with open("/sys/fs/cgroup/cpu/cpu.cfs_period_us") as fh:
                    period = fh.read().strip()
            except OSError:
                break
        with contextlib.suppress(ValueError, ZeroDivisionError):
            cores = min(cores, max(1, int(int(quota) / int(period))))
        break
    limit = os.environ.get("ARROWSCOPE_THREADS", "")
    if limit.strip().isdigit() and int(limit) > 0:  # the user's cap
        cores = min(cores, int(limit))
    return max(1, cores)


def one_level(threads: int | None = None, *, openmp_only: bool = False) -> Any:
    """A context in which the native thread pools (OpenMP of gradient
    boosting, BLAS) use at most ``threads`` (default: the cores this process
    may use): one level of parallelism at a time, so a busy machine slows a
    fit in proportion to its share, not several-fold from threads spinning
    against each other. Inside a dask task the caller passes 1.

    ``openmp_only``: for threads of one pool, each limiting itself. OpenMP's
    thread count belongs to the calling thread; BLAS's is the process's, and
    threads setting and restoring it across each other would leave it wrong."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(
        limits=threads or usable_cores(), user_api="openmp" if openmp_only else None
    )


#: below this many training cells a model is fitted on one thread: a fit of
#: 300 cells × 200 features takes as long on two (OpenMP's hundreds of short
#: parallel regions cost what they save), and on a busy machine each region
#: waits for a thread the scheduler has put aside (two threads: 1.1–2.3 s
#: beside two busy processes, one thread 0.9 s; 0.5 s quiet either way)
SMALL_FIT = 500


def fit_threads(cells: int) -> int:
    """Threads to fit a model on ``cells`` training cells (see :data:`SMALL_FIT`)."""
    return 1 if cells < SMALL_FIT else usable_cores()


def connect(scheduler: str | None = None, workers: int | None = None) -> Any:
    """A dask.distributed client: to ``scheduler``, or a LocalCluster of ``workers``."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ArrowscopeError(
            "running on a dask cluster needs dask.distributed",
            hint="pip install 'arrowscope[distributed]'",
        ) from exc
    if scheduler:
        try:
            return Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise ArrowscopeError(
                f"cannot reach the dask scheduler at {scheduler}: {exc}"
            ) from exc
    cluster = LocalCluster(
        n_workers=workers or 2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.WARNING,
    )
    return Client(cluster)


def _convert_one(
    src: Path, dst: Path, layout: str, compression: str | None
) -> str | None:
    from ..images.convert import convert

    try:
        convert(src, dst, layout=layout, compression=compression)
    except ArrowscopeError as exc:
        return str(exc)
    return None


def convert_many(
    jobs: Sequence[tuple[Path, Path]],
    *,
    layout: str = "auto",
    compression: str | None = "zstd",
    client: Any = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[tuple[Path, str]]:
    """Convert ``(src, dst)`` pairs, on ``client`` when given, else in threads.

    Returns the failures as ``(src, message)``; the other files are written.
    """
    total = len(jobs)
    if client is not None:
        futures = client.map(
            _convert_one,
            [s for s, _ in jobs],
            [d for _, d in jobs],
            layout=layout,
            compression=compression,
            pure=False,
        )
        results = _gather(client, futures, progress, total, 0)
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=2) as pool:
            results = []
            for i, res in enumerate(
                pool.map(lambda j: _convert_one(j[0], j[1], layout, compression), jobs)
            ):
                results.append(res)
                if progress:
                    progress(i + 1, total)
    return [(src, msg) for (src, _), msg in zip(jobs, results, strict=True) if msg]
