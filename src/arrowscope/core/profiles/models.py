"""The classifier's models, by name: each with its estimator and its policy for
missing measurements. The command line's ``--model`` choices, the panel's
list and the trainer all read this one registry; it imports nothing heavy
(scikit-learn is imported when a model is built).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class Model:
    """A classifier model.

    ``build(seed, n, fine)``: the estimator for ``n`` training cells;
    ``fine``: for a model fitted once to score a screen (the command line),
    not refitted on every change (the panel).
    ``takes_nan``: the estimator handles missing measurements itself; when
    False they are filled with the training cells' means (:meth:`fill`).
    """

    key: str
    title: str
    build: Callable[[int, int, bool], Any]
    takes_nan: bool

    def fill(self, x: np.ndarray, means: np.ndarray) -> np.ndarray:
        """``x`` as the estimator takes it: NaN filled with ``means`` unless
        the estimator takes NaN."""
        import numpy as np

        return x if self.takes_nan else np.where(np.isnan(x), means, x)


def _boosting(seed: int, n: int, fine: bool = False) -> Any:
    """Gradient boosting's leaves hold at least 20 cells by default: with the
    few dozen cells a user bins that allows no split at all, so leaves shrink
    with the training set. The panel retrains on every change, so there each
    feature is cut into 63 bins below 5,000 cells (half the fit time of 255
    for 300 cells); a fit made once to score a screen (``fine``) takes 255,
    scikit-learn's default (0.947 against 0.945 on the planted 200,000-cell
    plate of ``bench_classify.py``, where pandas + scikit-learn gets 0.947)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    leaf = max(2, min(20, n // 10))
    bins = 255 if fine or n >= 5000 else 63
    return HistGradientBoostingClassifier(
        random_state=seed, min_samples_leaf=leaf, max_bins=bins
    )


def _forest(seed: int, n: int, fine: bool = False) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    from .batch import usable_cores

    return RandomForestClassifier(
        n_estimators=200, random_state=seed, n_jobs=usable_cores()
    )


MODELS: dict[str, Model] = {
    m.key: m
    for m in (
        Model("gbt", "gradient boosting", _boosting, takes_nan=True),
        Model("rf", "random forest", _forest, takes_nan=False),
    )
}
#: the model trained when none is named
DEFAULT_MODEL = "gbt"


def model(key: str) -> Model:
    """A model by its key, or an error naming the keys there are."""
    from ..errors import ArrowscopeError

    found = MODELS.get(key)
    if found is None:
        raise ArrowscopeError(
            f"unknown model {key!r}", hint=f"one of: {', '.join(MODELS)}"
        )
    return found
