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

    ``build(seed, n)``: the estimator for ``n`` training cells.
    ``takes_nan``: the estimator handles missing measurements itself; when
    False they are filled with the training cells' means (:meth:`fill`).
    """

    key: str
    title: str
    build: Callable[[int, int], Any]
    takes_nan: bool

    def fill(self, x: np.ndarray, means: np.ndarray) -> np.ndarray:
        """``x`` as the estimator takes it: NaN filled with ``means`` unless
        the estimator takes NaN."""
        import numpy as np

        return x if self.takes_nan else np.where(np.isnan(x), means, x)


def _boosting(seed: int, n: int) -> Any:
    """Gradient boosting's leaves hold at least 20 cells by default: with the
    few dozen cells a user bins that allows no split at all, so leaves shrink
    with the training set, and so do the bins each feature is cut into (a
    few hundred cells cannot fill 255 bins; 63 gives the same accuracy here
    in a fifth of the time, and the panel retrains on every change)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    leaf = max(2, min(20, n // 10))
    bins = 63 if n < 5000 else 255
    return HistGradientBoostingClassifier(
        random_state=seed, min_samples_leaf=leaf, max_bins=bins
    )


def _forest(seed: int, n: int) -> Any:
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
