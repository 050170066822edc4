"""Masks as label images: binary masks labelled by connected components."""

from __future__ import annotations

import numpy as np


def label_binary(mask: np.ndarray) -> np.ndarray:
    """Label a binary mask by 8-connected components; label images pass through."""
    values = np.unique(mask)
    if values.size > 2 or (values.size == 2 and values[0] != 0):
        return mask.astype(np.int32, copy=False)
    from scipy import ndimage

    labels, _ = ndimage.label(mask > 0, structure=np.ones((3, 3), bool))
    return labels.astype(np.int32)


def is_binary(mask: np.ndarray) -> bool:
    values = np.unique(mask)
    return values.size <= 2 and (values.size < 2 or values[0] == 0)
