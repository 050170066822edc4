"""Teach a classifier from a few judged cells, then score every cell.

The workflow of CellProfiler Analyst's Classifier on today's tables: cells are
put in classes (bins) *by key* — a labels table holds the profile table's key
columns and a ``Metadata_class`` column — a scikit-learn model is trained on
their features (gradient boosting by default, a random forest as an option),
cross-validated, and then every row is scored out of core, a span of rows
at a time (:func:`~arrowscope.core.profiles.scoring.score_all`), into a table
of keys, ``Metadata_predicted_class`` and one ``Metadata_p_<class>`` column
per class.

A model is never saved as a pickle: :meth:`TrainedModel.save` writes what
rebuilds it (the training rows' keys, classes and features, the parameters and
library versions) and :func:`load_model` retrains it, identically.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..errors import ArrowscopeError, SchemaError
from .batch import fit_threads, one_level
from .cpa import CLASS_COLUMN
from .labels import match_labels, read_labels
from .models import DEFAULT_MODEL, MODELS
from .models import model as model_of
from .scoring import PREDICTED, PROB_PREFIX, score_all, take_rows

__all__ = [
    "CLASS_COLUMN",
    "MAX_FEATURES",
    "MODELS",
    "PREDICTED",
    "PROB_PREFIX",
    "TrainedModel",
    "classify_table",
    "cross_validate",
    "feature_columns",
    "load_model",
    "match_labels",
    "read_labels",
    "train",
    "train_table",
]

FORMAT = "arrowscope.classifier/1"
#: features a model uses at most: the ones that separate the bins best
#: (ANOVA F on the training cells). Scoring reads only these columns.
MAX_FEATURES = 200
#: refits on resampled training cells that judge how sure the model is
COMMITTEE = 6


def _sklearn() -> Any:
    # OpenMP threads that wait for work spin only briefly, then sleep: on a
    # machine other work keeps busy, threads spinning for long take the cores
    # from it and from each other (a fit several times slower than its
    # share); never spinning costs the quiet machine a wake-up per parallel
    # region. GNU libgomp (Linux wheels) and LLVM/Intel OpenMP (macOS), set
    # before the runtime loads; a user's own setting is kept.
    os.environ.setdefault("GOMP_SPINCOUNT", "20000")
    os.environ.setdefault("KMP_BLOCKTIME", "1")
    try:
        import sklearn
    except ImportError as exc:  # pragma: no cover - the classify extra has it
        raise ArrowscopeError(
            "the classifier needs scikit-learn",
            hint="pip install 'arrowscope[classify]'",
        ) from exc
    return sklearn


_IMPORTING = threading.Lock()  # held while scikit-learn loads on its thread


def _sklearn_meanwhile() -> None:
    """Import scikit-learn on a thread (0.6 s in a fresh process, most of it
    SciPy) while the labelled cells are read: reading them is Arrow's C++
    decoding, which runs without the GIL. Each return from Arrow waits for
    the GIL while the import holds it, up to the switch interval (5 ms), so
    the interval is 0.5 ms until the import ends. Nothing to do once it is
    imported or loading (a retrain, a second panel); the fit imports it again
    and reports what failed."""
    if "sklearn" in sys.modules or not _IMPORTING.acquire(blocking=False):
        return
    interval = sys.getswitchinterval()

    def load() -> None:
        try:
            _sklearn()
            import sklearn.ensemble  # noqa: F401
            import sklearn.feature_selection  # noqa: F401
        except Exception:  # noqa: BLE001 - the fit says why
            pass
        finally:
            sys.setswitchinterval(interval)
            _IMPORTING.release()

    sys.setswitchinterval(min(interval, 0.0005))
    threading.Thread(target=load, name="arrowscope-import-sklearn").start()


#: columns that say where a cell is or how it was counted, not what it looks
#: like: left out of the features by default (regular expressions on the
#: whole name; ``bookkeeping=True`` keeps them). A model that learns from a
#: cell's position learns the plate layout, not the phenotype.
BOOKKEEPING = (
    r".*_Location_.*",  # centres and centres of mass
    r".*_AreaShape_BoundingBox.*",  # the box: position and extent in the field
    r".*_AreaShape_Center_[XYZ]",
    r".*_Parent_.*",  # the number of the parent object
    r".*_Number_Object_Number",
    r".*(ObjectNumber|ImageNumber|TableNumber)",
)


def feature_columns(
    schema: pa.Schema,
    keys: Sequence[str] = (),
    ignore: Sequence[str] = (),
    *,
    bookkeeping: bool = False,
) -> list[str]:
    """Numeric feature columns: not metadata, not keys, not ignored (a CPA
    properties file's ``classifier_ignore_columns`` are regular expressions),
    and not positions or bookkeeping (:data:`BOOKKEEPING`) unless
    ``bookkeeping=True``."""
    rules = [*ignore, *([] if bookkeeping else BOOKKEEPING)]
    patterns = [re.compile(p) for p in rules]
    out = []
    for f in schema:
        numeric = pa.types.is_floating(f.type) or pa.types.is_integer(f.type)
        if not numeric or f.name in keys or f.name.startswith(("Metadata_", "Image_")):
            continue
        if f.name.endswith(("_Number_Object_Number", "ImageNumber", "ObjectNumber")):
            continue
        if any(p.fullmatch(f.name) for p in patterns):
            continue
        out.append(f.name)
    return out


def _estimator(key: str, seed: int, n: int = 1000, fine: bool = False) -> Any:
    """The estimator of model ``key`` for ``n`` training cells (``fine``: a
    fit made once, to score a screen)."""
    _sklearn()
    return model_of(key).build(seed, n, fine)


def _matrix(table: pa.Table, features: Sequence[str]) -> np.ndarray:
    """The features as one float64 matrix, filled a column at a time (one
    copy of the data, not three; numpy widens float32 and integers as it
    copies, so no float64 column is made first); null and ±inf are NaN (no
    measurement: a numeric column's nulls come out of Arrow as NaN).

    Column-major, as Arrow keeps the columns: every cell goes down the same
    first branches of a tree, so with each feature's values side by side a
    prediction reads memory in order (200,000 cells × 200 features through
    100 boosted trees: 0.34 s, against 1.25 s row-major)."""
    x = np.empty((table.num_rows, len(features)), order="F")
    for j, f in enumerate(features):
        x[:, j] = table.column(f).to_numpy()
    np.copyto(x, np.nan, where=np.isinf(x))
    return x


@dataclass
class TrainedModel:
    """A trained classifier, what it learned from, and how well it does."""

    classes: list[str]
    features: list[str]
    model: str
    seed: int
    estimator: Any = field(repr=False)
    #: the training rows: the table's keys, class and features (rebuilds it)
    training: pa.Table = field(repr=False)
    #: the training features' means: what fills a random forest's missing values
    means: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    cv_accuracy: float | None = None
    confusion: list[list[int]] = field(default_factory=list)
    importances: dict[str, float] = field(default_factory=dict)
    #: every feature it chose from (``features``: the ones it uses)
    candidates: list[str] = field(default_factory=list)
    max_features: int | None = MAX_FEATURES
    #: fitted once to score a screen (finer bins), not refitted on each change
    fine: bool = False
    #: what the user should know of the training (features left out, class
    #: names that look like typos of others), each said once
    notes: list[str] = field(default_factory=list)
    _committee: list[Any] | None = field(default=None, repr=False)

    def predict(self, table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
        """Predicted class and per-class probabilities of the rows of ``table``."""
        x = model_of(self.model).fill(_matrix(table, self.features), self.means)
        proba = self.estimator.predict_proba(x) if len(x) else np.empty((0, 0))
        order = [list(self.estimator.classes_).index(c) for c in self.classes]
        if not len(x):
            return np.empty(0, object), np.empty((0, len(self.classes)))
        proba = proba[:, order]
        return np.asarray(self.classes, object)[np.argmax(proba, axis=1)], proba

    def uncertainty(self, table: pa.Table) -> np.ndarray:
        """1 - the committee's top class probability: what active learning
        fetches first (:meth:`committee_proba`)."""
        return 1.0 - self.committee_proba(table).max(axis=1)

    def committee_proba(self, table: pa.Table, members: int = COMMITTEE) -> np.ndarray:
        """Per-class probabilities averaged over the model and ``members``
        refits on bootstrap resamples of its training cells.

        Trees trained on a few well-separated cells all split at the same
        place, so every cell gets ~100 %: useless for "which cells is the model
        least sure of". Refits on resampled training sets split at different
        places within the gap between the classes: cells there get split
        votes, cells far from it keep near-certain ones (query by committee).
        The refits are made once per model, on first use."""
        x = model_of(self.model).fill(_matrix(table, self.features), self.means)
        if not len(x):
            return np.empty((0, len(self.classes)))
        total = np.zeros((len(x), len(self.classes)))
        for estimator in [self.estimator, *self._refits(members)]:
            proba = estimator.predict_proba(x)
            known = list(estimator.classes_)
            for j, c in enumerate(self.classes):
                if c in known:
                    total[:, j] += proba[:, known.index(c)]
        return total / total.sum(axis=1, keepdims=True)

    def _refits(self, members: int) -> list[Any]:
        if self._committee is None:
            y = np.asarray(self.training.column(CLASS_COLUMN).to_pylist(), object)
            x = _matrix(self.training, self.features)
            x = model_of(self.model).fill(x, self.means)
            rng = np.random.default_rng(self.seed)
            fits = []
            for m in range(members):
                # a bootstrap of each class (every class stays in every refit)
                picks = np.concatenate(
                    [
                        rng.choice(np.flatnonzero(y == c), (y == c).sum())
                        for c in self.classes
                    ]
                )
                estimator = _estimator(
                    self.model, self.seed + 1 + m, len(picks), self.fine
                )
                with warnings.catch_warnings(), one_level(fit_threads(len(picks))):
                    warnings.simplefilter("ignore", UserWarning)
                    warnings.simplefilter("ignore", RuntimeWarning)
                    fits.append(estimator.fit(x[picks], y[picks]))
            self._committee = fits
        return self._committee

    def save(self, path: str | Path) -> Path:
        """What rebuilds the model (no pickle): JSON, written atomically."""
        import sklearn

        from ..images.atomic import atomic_target

        payload = {
            "format": FORMAT,
            "model": self.model,
            "seed": self.seed,
            "classes": self.classes,
            "features": self.candidates or self.features,
            "max_features": self.max_features,
            "fine": self.fine,
            "versions": {"scikit-learn": sklearn.__version__},
            "cv_accuracy": self.cv_accuracy,
            "training": self.training.to_pylist(),
        }
        path = Path(path)
        with atomic_target(path) as tmp:
            tmp.write_text(json.dumps(payload, default=str))
        return path


def train(
    picked: pa.Table,
    classes: np.ndarray,
    *,
    keys: Sequence[str],
    features: Sequence[str],
    model: str = DEFAULT_MODEL,
    seed: int = 0,
    folds: int = 5,
    max_features: int | None = MAX_FEATURES,
    order: Sequence[str] | None = None,
    fine: bool = False,
) -> TrainedModel:
    """Train on the labelled rows ``picked`` (keys and features) of classes
    ``classes`` (listed in ``order``, the bins' order, else sorted);
    cross-validated accuracy and confusion matrix where every class has at
    least two cells (``folds=0``: none, the quick retrain). ``fine``: a fit
    made once to score a screen (see :mod:`~arrowscope.core.profiles.models`).

    With more than ``max_features`` candidate features, the model uses the
    ``max_features`` that best separate the classes on the training cells
    (chosen again inside each cross-validation fold, so the accuracy is not
    flattered by the choice).
    """
    _sklearn()
    if not features:
        raise ArrowscopeError("no numeric feature columns to train on")
    x = _matrix(picked.select(list(features)), features)
    notes = _class_name_notes(classes)
    # a feature with no value among the labelled cells (a tracking column
    # empty in the first frame) or one value for all teaches nothing and
    # breaks the binning of a small set: left out, and said once
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        empty = ~np.isfinite(x).any(axis=0)
        flat = ~empty & (np.nanmax(x, axis=0) == np.nanmin(x, axis=0))
    for what, mask in (("no value", empty), ("one value", flat)):
        if mask.any():
            left = [f for f, m in zip(features, mask, strict=True) if m]
            notes.append(
                f"left out {len(left)} feature(s) with {what} among the "
                f"labelled cells: {', '.join(left[:5])}"
                + (f" and {len(left) - 5} more" if len(left) > 5 else "")
            )
    keep = ~(empty | flat)
    if not keep.any():
        raise ArrowscopeError(
            "no feature has two different values among the labelled cells",
            hint="label more cells, or other ones",
        )
    features = [f for f, k in zip(features, keep, strict=True) if k]
    x = x[:, keep]
    picked = picked.select([*keys, *features])
    present = set(classes.tolist())
    names = [c for c in (order or []) if c in present]
    names += sorted(present - set(names))
    k = max_features if max_features and len(features) > max_features else None
    chosen = _select(x, classes, k)
    used = [features[i] for i in chosen]
    fit_x = x[:, chosen]
    estimator = _estimator(model, seed, len(classes), fine)
    trained = TrainedModel(
        names,
        used,
        model,
        seed,
        estimator,
        picked.append_column(CLASS_COLUMN, pa.array(list(classes), pa.string())),
    )
    trained.candidates = list(features)
    trained.max_features = max_features
    trained.fine = fine
    with np.errstate(all="ignore"):  # an all-NaN feature has no mean: 0
        trained.means = np.nan_to_num(np.nanmean(fit_x, axis=0))
    fit_x = model_of(model).fill(fit_x, trained.means)
    trained.notes = notes
    # sklearn's advice is not ours
    with warnings.catch_warnings(), one_level(fit_threads(len(classes))):
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        estimator.fit(fit_x, classes)
        trained.importances = _importances(estimator, fit_x, classes, used, seed)
        if folds:
            cross_validate(trained, x, classes, k, folds)
    return trained


def _class_name_notes(classes: np.ndarray) -> list[str]:
    """Class names of one or two cells that look like a typo of a larger
    class's name (``mitotc`` beside ``mitotic``)."""
    import difflib

    counts: dict[str, int] = {}
    for c in classes.tolist():
        counts[c] = counts.get(c, 0) + 1
    notes = []
    for name, n in counts.items():
        if n > 2:
            continue
        bigger = [c for c, m in counts.items() if m > n and c != name]
        low = {c.lower(): c for c in bigger}
        close = difflib.get_close_matches(name.lower(), list(low), n=1, cutoff=0.8)
        if close:
            other = low[close[0]]
            notes.append(
                f"class {name!r} ({n} cell{'s' if n > 1 else ''}) looks like a "
                f"typo of {other!r} ({counts[other]} cells); trained as its "
                "own class"
            )
    return notes


def cross_validate(
    trained: TrainedModel,
    x: np.ndarray | None = None,
    classes: np.ndarray | None = None,
    k: int | None = None,
    folds: int = 5,
) -> TrainedModel:
    """Fill in ``cv_accuracy`` and ``confusion`` (stratified ``folds``-fold,
    features chosen within each fold); a no-op where a class has fewer than
    two cells. Run after a quick retrain (``folds=0``) to keep it interactive."""
    from sklearn.metrics import confusion_matrix
    from sklearn.model_selection import StratifiedKFold

    if x is None or classes is None:
        features = trained.candidates or trained.features
        x = _matrix(trained.training, features)
        classes = np.asarray(trained.training.column(CLASS_COLUMN).to_pylist(), object)
        mf = trained.max_features
        k = mf if mf and len(features) > mf else None
    names = trained.classes
    counts = [int((classes == c).sum()) for c in names]
    n_folds = min(folds, min(counts))
    if n_folds < 2:
        return trained
    guess = np.empty(len(classes), object)
    splits = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=trained.seed)
    for fit_rows, test_rows in splits.split(x, classes):
        chosen = _select(x[fit_rows], classes[fit_rows], k)
        fx, tx = x[np.ix_(fit_rows, chosen)], x[np.ix_(test_rows, chosen)]
        with np.errstate(all="ignore"):
            means = np.nan_to_num(np.nanmean(fx, axis=0))
        fill = model_of(trained.model).fill
        fx, tx = fill(fx, means), fill(tx, means)
        est = _estimator(trained.model, trained.seed, len(fit_rows), trained.fine)
        with warnings.catch_warnings(), one_level(fit_threads(len(fit_rows))):
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            guess[test_rows] = est.fit(fx, classes[fit_rows]).predict(tx)
    trained.cv_accuracy = float((guess == classes).mean())
    trained.confusion = confusion_matrix(classes, guess, labels=names).tolist()
    return trained


def _f_scores(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """How well each feature alone separates the classes (ANOVA F), NaN-safe."""
    from sklearn.feature_selection import f_classif

    with np.errstate(all="ignore"):
        filled = np.where(np.isnan(x), np.nanmean(x, axis=0), x)
        return np.nan_to_num(f_classif(np.nan_to_num(filled), y)[0])


def _select(x: np.ndarray, y: np.ndarray, k: int | None) -> np.ndarray:
    """The column indices of the ``k`` best-separating features (all: None),
    in the table's order."""
    if k is None or x.shape[1] <= k:
        return np.arange(x.shape[1])
    best = np.argsort(-_f_scores(x, y), kind="stable")[:k]
    return np.sort(best)


def _importances(
    estimator: Any, x: np.ndarray, y: np.ndarray, features: Sequence[str], seed: int
) -> dict[str, float]:
    values = getattr(estimator, "feature_importances_", None)
    if values is None:
        # gradient boosting keeps no importances; permuting 2,000 features
        # costs thousands of predictions: rank by how well each feature alone
        # separates the classes (ANOVA F), cheap and readable
        values = _f_scores(x, y)
    ranked = sorted(zip(features, values, strict=True), key=lambda t: -t[1])
    return {name: float(v) for name, v in ranked[:20]}


def load_model(path: str | Path) -> TrainedModel:
    """Rebuild a model saved by :meth:`TrainedModel.save` (retrained from its
    stored training rows, with its parameters)."""
    try:
        payload = json.loads(Path(path).read_text())
        if payload.get("format") != FORMAT:
            raise ValueError(f"not an {FORMAT} file")
        training = pa.Table.from_pylist(payload["training"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ArrowscopeError(f"not a saved classifier ({exc})", path=path) from exc
    classes = np.asarray(training.column(CLASS_COLUMN).to_pylist(), object)
    keys = [
        c
        for c in training.column_names
        if c not in payload["features"] and c != CLASS_COLUMN
    ]
    return train(
        training,
        classes,
        keys=keys,
        features=payload["features"],
        model=payload["model"],
        seed=payload["seed"],
        max_features=payload.get("max_features", MAX_FEATURES),
        order=payload.get("classes"),
        fine=bool(payload.get("fine", False)),
    )


def classify_table(
    location: Any,
    labels: str | Path | pa.Table | None,
    out: str | Path,
    *,
    features: Sequence[str] | None = None,
    model: str = DEFAULT_MODEL,
    ignore: Sequence[str] = (),
    seed: int = 0,
    folds: int = 5,
    progress: Callable[[int, int], None] | None = None,
    cancel: Any = None,
    client: Any = None,
    overwrite: bool = True,
    also_writes: Sequence[str | Path] = (),
    before_training: Callable[[Any], None] | None = None,
    **options: Any,
) -> TrainedModel:
    """The ``arrowscope classify`` job: open ``location`` (anything
    ``open_profiles`` opens, or an opened table), match the labels by key,
    train, score every row into ``out`` (on a dask cluster with ``client``).
    Returns the trained model (accuracy, confusion, importances).

    ``labels``: a labels table or file, a CPA training set, or None for the
    training set a CPA properties file names. ``folds``: the cross-validation
    of the model (0: none, one fit only). The properties'
    ``classifier_ignore_columns`` are ignored as well as ``ignore``.

    ``out`` (and ``also_writes``, the caller's other outputs) is never one of
    the files the job reads — the table, a CellProfiler database, a CSV
    folder, a properties file, its training set, the labels, a warehouse —
    whatever ``overwrite`` says, and never replaced when ``overwrite=False``;
    checked before any work. ``before_training(pt)``: the caller's own checks
    on the opened table, run before training.
    """
    from ..images.atomic import check_outputs
    from .batch import annotation_keys
    from .resolve import open_profiles
    from .table import ProfileTable

    pt = (
        location
        if isinstance(location, ProfileTable) and not options
        else open_profiles(location, **options)
    )
    read = [*pt.inputs, *([labels] if isinstance(labels, (str, Path)) else [])]
    for target in check_outputs([out, *also_writes], read, overwrite=overwrite):
        logging.getLogger("arrowscope").info("replacing %s", target)
    if before_training is not None:
        before_training(pt)
    source = pt._file.source
    keys = annotation_keys(pt.schema, pt.keys)
    if labels is None:
        if pt.training_set is None:
            raise ArrowscopeError(
                "no labels: give a labels file (or a CPA training set)",
                path=location,
                hint="--labels FILE",
            )
        labels = pt.training_set
    object_key = [*pt.keys.image, *([pt.keys.object] if pt.keys.object else [])]
    label_table = (
        labels if isinstance(labels, pa.Table) else read_labels(labels, object_key)
    )
    path = None if isinstance(labels, pa.Table) else labels
    trained = train_table(
        pt,
        label_table,
        features=features,
        model=model,
        ignore=ignore,
        seed=seed,
        path=path,
        folds=folds,
        fine=True,  # fitted once, to score every row
    )
    score_all(
        source,
        trained,
        out,
        keys=keys,
        progress=progress,
        cancel=cancel,
        client=client,
    )
    return trained


def train_table(
    pt: Any,
    labels: pa.Table,
    *,
    features: Sequence[str] | None = None,
    model: str = DEFAULT_MODEL,
    ignore: Sequence[str] = (),
    seed: int = 0,
    path: Any = None,
    folds: int = 5,
    max_features: int | None = MAX_FEATURES,
    cache: Any = None,
    order: Sequence[str] | None = None,
    bookkeeping: bool = False,
    fine: bool = False,
) -> TrainedModel:
    """Train on the rows of profile table ``pt`` that ``labels`` names by key
    (the labels' key columns and ``Metadata_class``): only those rows' key and
    feature columns are read, each row group holding some once
    (:meth:`~arrowscope.core.images.storebase.Store.take`). ``order``: the classes'
    order (the bins'); ``bookkeeping=True`` keeps positions and object
    numbers among the features (:data:`BOOKKEEPING`)."""
    from .batch import annotation_keys

    keys = annotation_keys(pt.schema, pt.keys)
    known = pt.key_table  # read once per table, kept: a retrain reads no keys
    key_table = (
        known.select(keys) if set(keys) <= set(known.column_names) else pt.read(keys)
    )
    rows, classes = match_labels(key_table, labels, path=path)
    ignore = [*ignore, *pt.classifier_ignore]
    chosen = (
        list(features)
        if features
        else feature_columns(pt.schema, keys, ignore, bookkeeping=bookkeeping)
    )
    missing = [f for f in chosen if f not in pt.columns]
    if missing:
        raise SchemaError(
            "feature column not in the table", column=missing[0], path=pt.path
        )
    columns = [*keys, *chosen]
    _sklearn_meanwhile()
    picked = (
        cache.get(rows, columns)
        if cache is not None
        else take_rows(pt._file.source, rows, columns)
    )
    return train(
        picked,
        classes,
        keys=keys,
        features=chosen,
        model=model,
        seed=seed,
        folds=folds,
        max_features=max_features,
        order=order,
        fine=fine,
    )
