"""What the model classes share: scalars as plain arrays, and the not-fitted check."""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import numpy.typing as npt

from ml.models.contract import NotFittedError

T = TypeVar("T")


def scalar(value: float) -> npt.NDArray[np.float64]:
    """A scalar as a one-element array: model files hold plain arrays only (no pickle)."""
    return np.array([value], dtype=np.float64)


def fitted(value: T | None, name: str) -> T:
    """``value``, or a clear error when the model was neither fitted nor loaded."""
    if value is None:
        raise NotFittedError(f"{name}: call fit(matrix) or from_arrays(...) first")
    return value
