"""Scoring with a trained classifier, out of core: every row a row group
at a time (here or on a dask cluster), cells to fetch next, the rows a model
reads kept in a cache, and the per-group summary of the scores.

The model itself (labels, training, saving) is in
:mod:`~arrowscope.core.profiles.classify`; this module needs only its
``predict``, ``features`` and ``classes``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..errors import ArrowscopeError, SchemaError

PREDICTED = "Metadata_predicted_class"
#: the features' float64 matrix of one prediction, at most (about)
SCORE_BYTES = 32 * 2**20
#: the table is scored in spans of about this many bytes of the columns read
SCAN_BYTES = 64 * 2**20
#: cells to fetch are predicted in spans of about this many bytes of features
FETCH_BYTES = 16 * 2**20
PROB_PREFIX = "Metadata_p_"


def score_schema(
    schema: pa.Schema, keys: Sequence[str], classes: Sequence[str]
) -> pa.Schema:
    """The scores' columns: the keys, the predicted class, p per class."""
    return pa.schema(
        [
            *(schema.field(k) for k in keys),
            pa.field(PREDICTED, pa.string()),
            *(pa.field(f"{PROB_PREFIX}{c}", pa.float64()) for c in classes),
        ]
    )


def score_group(
    store: Any,
    span: range,
    trained: Any,
    keys: Sequence[str],
    threads: int | None = None,
) -> pa.Table:
    """The scores of a span of groups (:meth:`Store.spans`): here,
    its rows predicted a slice per thread on the cores this process may use;
    on a dask worker (or with ``threads=1``) on one thread, dask being the
    one level of parallelism."""
    part = store.read_span(span, [*keys, *trained.features])
    best, proba = predict_rows(trained, part, threads)
    n = len(trained.classes)
    cols = [part.column(k) for k in keys]
    cols.append(pa.array(list(best), pa.string()))
    cols += [pa.array(proba[:, i]) for i in range(n)]
    schema = score_schema(part.schema, keys, trained.classes)
    return pa.Table.from_arrays(cols, schema=schema.remove_metadata())


def predict_rows(
    trained: Any, part: pa.Table, threads: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Predicted class and probabilities of every row of ``part``, a slice at
    a time: the float64 matrices of the slices in work stay near
    SCORE_BYTES together whatever the size of the file's row groups.

    The slices are shared out to a pool of threads, each predicting on one
    OpenMP thread, rather than each prediction spreading over the cores: a
    forest of boosted trees is a few hundred short parallel regions per
    slice, each waiting for its slowest thread, and on a busy machine that
    thread is often one the scheduler put aside. Quiet, both take the same
    time (200,000 cells, 100 trees: 0.36 s on two cores)."""
    from .batch import one_level, usable_cores

    workers = threads or usable_cores()
    width = 8 * max(1, len(trained.features))
    step = max(256, SCORE_BYTES // (width * workers))
    slices = [part.slice(s, step) for s in range(0, part.num_rows, step)]

    def predict(piece: pa.Table) -> tuple[np.ndarray, np.ndarray]:
        # OpenMP's thread count is the calling thread's own; BLAS (unused
        # here) is the process's and is left alone
        with one_level(1, openmp_only=True):
            return trained.predict(piece)

    if workers == 1 or len(slices) == 1:
        done = [predict(piece) for piece in slices]
    else:  # a few threads a group: nothing to keep between groups
        with ThreadPoolExecutor(
            workers, thread_name_prefix="arrowscope-predict"
        ) as pool:
            done = list(pool.map(predict, slices))
    n = len(trained.classes)
    if not done:
        return np.empty(0, object), np.empty((0, n))
    return np.concatenate([d[0] for d in done]), np.concatenate([d[1] for d in done])


def score_all(
    source: Any,
    trained: Any,
    out: str | Path,
    *,
    keys: Sequence[str],
    progress: Callable[[int, int], None] | None = None,
    cancel: Any = None,
    client: Any = None,
) -> Path:
    """Score every row of ``source`` (a TableSource) into ``out``: keys,
    ``Metadata_predicted_class`` and one ``Metadata_p_<class>`` per class.
    The rows are read in spans of about :data:`SCAN_BYTES` of the columns the
    model reads, however the file's groups were written (one huge row group
    is read in a few passes, a Lance table's rows thousands at a time), so
    memory stays near one span (with ``client``, a dask cluster scores a few
    spans per worker at a time and they are written in order). ``progress``
    is called with the cells scored and the table's cells; the file is
    written atomically (a cancel leaves no file)."""
    from ..images.atomic import atomic_target
    from ..images.parquet import parquet_writer

    store = source.store
    spans = store.spans([*keys, *trained.features], SCAN_BYTES)
    schema = score_schema(source.schema, keys, trained.classes).remove_metadata()
    parts = (
        _scored_on(client, store, spans, trained, keys)
        if client is not None
        else (score_group(store, span, trained, keys) for span in spans)
    )
    with (
        atomic_target(Path(out)) as tmp,
        parquet_writer(tmp, schema, compression="zstd") as writer,
    ):
        done, total = 0, source.num_rows
        for _ in spans:
            if cancel is not None and cancel.is_set():
                _cancel(parts)
                raise ArrowscopeError(
                    "scoring cancelled; nothing was written", path=out
                )
            part = next(parts)
            writer.write_table(part)
            done += part.num_rows
            if progress is not None:
                progress(done, total)
    return Path(out)


def _scored_on(
    client: Any, store: Any, spans: list[range], trained: Any, keys: Sequence[str]
) -> Any:
    """Scores of each span in order, computed on a dask cluster: a window of
    two spans per worker in flight, so the client holds a few spans only."""
    from collections import deque

    workers = max(1, len(client.scheduler_info().get("workers", {})))
    window = 2 * workers
    [store_f, model_f] = client.scatter([store, trained], broadcast=True)
    pending: deque[Any] = deque()
    submitted = 0
    try:
        for _ in spans:
            while submitted < len(spans) and len(pending) < window:
                pending.append(
                    client.submit(
                        score_group,
                        store_f,
                        spans[submitted],
                        model_f,
                        list(keys),
                        1,
                        pure=False,
                    )
                )
                submitted += 1
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()


def _cancel(parts: Any) -> None:
    close = getattr(parts, "close", None)
    if close is not None:
        close()  # a generator's finally cancels what is in flight


#: how cells are fetched into the gallery (CellProfiler Analyst's fetch)
FETCH_HOW = ("random", "class", "uncertain")


def fetch_rows(
    source: Any,
    n: int,
    how: str = "random",
    *,
    trained: Any | None = None,
    cls: str | None = None,
    pool: np.ndarray | None = None,
    exclude: np.ndarray | None = None,
    look_at: int = 2000,
    seed: int | None = None,
) -> np.ndarray:
    """``n`` table rows to look at next: at random; predicted as ``cls``; or
    those the model is least sure of (active learning). ``pool``: a boolean
    mask of the rows to fetch from (a well, field, filter or gate);
    ``exclude``: rows not to fetch again (already binned).

    Predictions are made a span of rows at a time, in random order, and
    stop as soon as ``n`` cells of the class are found (or, for uncertainty,
    after ``look_at`` rows, at least 20 per cell asked): a fetch never reads
    the whole table when it need not.
    """
    if how not in FETCH_HOW:
        raise ValueError(f"how must be one of {FETCH_HOW}, not {how!r}")
    rng = np.random.default_rng(seed)
    allowed = np.ones(source.num_rows, bool) if pool is None else np.asarray(pool, bool)
    if exclude is not None:
        allowed &= ~np.asarray(exclude, bool)
    if how == "random":
        rows = np.flatnonzero(allowed)
        return rng.permutation(rows)[:n].astype(np.int64)
    if trained is None:
        raise ArrowscopeError(
            "fetching by class or by uncertainty needs a trained model",
            hint="train on the binned cells first",
        )
    if how == "class" and cls not in trained.classes:
        raise ArrowscopeError(
            f"the model knows no class {cls!r} (classes: {trained.classes})"
        )
    starts = np.concatenate([[0], np.cumsum(source.store.group_rows)]).astype(np.int64)
    found: list[np.ndarray] = []
    scores: list[np.ndarray] = []
    seen = 0
    budget = max(look_at, 20 * n)
    # spans, not groups: a Lance or Vortex table with images is a row a group
    spans = source.store.spans(list(trained.features), FETCH_BYTES)
    for k in rng.permutation(len(spans)):
        span = spans[int(k)]
        lo, hi = int(starts[span.start]), int(starts[span.stop])
        mine = np.flatnonzero(allowed[lo:hi])
        if not len(mine):
            continue
        part = source.store.read_span(span, list(trained.features))
        part = part.take(pa.array(mine))
        if how == "class":
            best, _ = trained.predict(part)
            hit = mine[best == cls] + lo
            found.append(rng.permutation(hit))
            if sum(len(f) for f in found) >= n:
                break
        else:
            found.append(mine + lo)
            scores.append(trained.uncertainty(part))
            seen += len(mine)
            if seen >= budget:
                break
    if not found:
        return np.empty(0, np.int64)
    rows = np.concatenate(found)
    if how == "class":
        return rows[:n].astype(np.int64)
    order = np.argsort(-np.concatenate(scores), kind="stable")
    return rows[order[:n]].astype(np.int64)


def take_rows(source: Any, rows: np.ndarray, columns: Sequence[str]) -> pa.Table:
    """``columns`` of ``rows`` (in that order; a row may come twice), reading
    only the groups that hold them, each once: a few hundred labelled cells
    of a million-row table never load it whole."""
    rows = np.asarray(rows, np.int64)
    unique, back = np.unique(rows, return_inverse=True)
    table = source.store.take(unique, list(columns))
    return table.take(pa.array(back.astype(np.int64)))


class RowCache:
    """Columns of rows already read (training cells, the gallery, the cells in
    view), kept as Arrow so a retrain or a refresh reads only rows it has not
    seen: a row group of a 2,000-feature table is hundreds of megabytes to
    decode. At most ``limit`` rows are kept (the oldest go first)."""

    def __init__(self, source: Any, limit: int = 20_000) -> None:
        self.source = source
        self.limit = limit
        self.columns: list[str] = []
        self._table: pa.Table | None = None
        self._where: dict[int, int] = {}

    def get(self, rows: np.ndarray, columns: Sequence[str]) -> pa.Table:
        """``columns`` of ``rows`` (in that order), reading only what is new."""
        rows = np.asarray(rows, np.int64)
        if not set(columns) <= set(self.columns):  # new columns: start again
            self.columns = list(dict.fromkeys([*self.columns, *columns]))
            self._table, self._where = None, {}
        new = [r for r in dict.fromkeys(rows.tolist()) if r not in self._where]
        if new:
            fresh = take_rows(self.source, np.asarray(new, np.int64), self.columns)
            base = 0 if self._table is None else self._table.num_rows
            self._table = (
                fresh if self._table is None else pa.concat_tables([self._table, fresh])
            )
            self._where.update({r: base + i for i, r in enumerate(new)})
            if len(self._where) > self.limit:
                self._trim()
        assert self._table is not None
        at = pa.array([self._where[int(r)] for r in rows], pa.int64())
        return self._table.select(list(columns)).take(at)

    def _trim(self) -> None:
        assert self._table is not None
        keep = list(self._where.items())[-self.limit // 2 :]
        self._table = self._table.take(pa.array([i for _, i in keep], pa.int64()))
        self._where = {r: i for i, (r, _) in enumerate(keep)}


def class_summary(
    scores: pa.Table, classes: Sequence[str], by: Sequence[str]
) -> pa.Table:
    """Per group (``by``: image, well or plate columns) the number of cells,
    the count and share of each class, and its enrichment: the group's share
    over the share among all cells of the same plate (or of the table)."""
    from .keys import group_codes

    missing = [c for c in by if c not in scores.column_names]
    if missing:
        raise SchemaError("no such column to summarise by", column=missing[0])
    predicted = np.asarray(scores.column(PREDICTED).to_pylist(), object)
    codes, groups = group_codes(scores, list(by))
    plate = next((c for c in by if "plate" in c.lower()), None)
    plate_codes = (
        group_codes(scores, [plate])[0] if plate else np.zeros(len(codes), np.int64)
    )
    out: dict[str, Any] = {c: [g[i] for g in groups] for i, c in enumerate(by)}
    n = np.bincount(codes, minlength=len(groups))
    out["cells"] = n
    group_plate = np.zeros(len(groups), np.int64)
    group_plate[codes] = plate_codes
    plate_n = np.bincount(plate_codes)
    for cls in classes:
        hit = predicted == cls
        count = np.bincount(codes, weights=hit, minlength=len(groups)).astype(np.int64)
        share = count / np.maximum(n, 1)
        plate_share = np.bincount(plate_codes, weights=hit) / np.maximum(plate_n, 1)
        base = plate_share[group_plate]
        out[f"{cls}_cells"] = count
        out[f"{cls}_share"] = share
        out[f"{cls}_enrichment"] = np.divide(
            share, base, out=np.full(len(groups), np.nan), where=base > 0
        )
    return pa.table(out)


def write_class_summary(
    pt: Any,
    scores: pa.Table,
    classes: Sequence[str],
    out: str | Path,
    by: Sequence[str] | None = None,
) -> tuple[Path, list[str]]:
    """:func:`class_summary` of a scored table, written to ``out`` (Parquet,
    CSV or TSV by suffix, atomically). ``by``: default plate and well, else
    the image key. The scores are in the table's row order."""
    from .qc import _write_table

    groups = summary_groups(pt, by)
    table = pt.read(groups).append_column(PREDICTED, scores.column(PREDICTED))
    summary = class_summary(table, classes, groups)
    return _write_table(summary, Path(out)), groups


def summary_groups(pt: Any, by: Sequence[str] | None = None) -> list[str]:
    """The columns a class summary groups by: ``by`` (each checked against the
    table, before any work), else the properties' plate and well, else the
    table's plate and well, else its image key."""
    import difflib

    from .keys import _find

    names = pt.columns
    groups = list(by or [])
    for c in groups:
        if c not in names:
            close = difflib.get_close_matches(c, names, n=3)
            raise SchemaError(
                "no such column to summarise by",
                column=c,
                hint=f"did you mean {', '.join(close)}?"
                if close
                else "give plate, well or image key columns of the table",
            )
    if not groups and pt.plate_keys is not None:  # a properties file's plate/well
        groups = [c for c in pt.plate_keys if c]
    if not groups:
        groups = [
            c
            for c in (
                _find(names, "Metadata_Plate", "Image_Metadata_Plate"),
                _find(names, "Metadata_Well", "Image_Metadata_Well"),
            )
            if c
        ]
        if len(groups) < 2:  # no wells: per image
            groups += [c for c in pt.keys.image if c not in groups]
    return groups
