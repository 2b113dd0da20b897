"""The one model contract: every model scores items for a user folded in from their ratings.

After implicit's ``RecommenderBase`` and LensKit's scorer/ranker split; models speak dense
indices only (``ml.models.matrix.IdMap`` maps ids, once, in the caller):

- ``fit(matrix)`` trains on a ``RatingMatrix`` and returns the model;
- ``fold_in(UserRatings) -> state``: a user's opaque state, item side fixed;
- ``scores(state)``: one unclipped float per item, higher is better, NaN = cannot score;
- ``similar_items(item, n)``: the ``n`` items most like ``item``, itself excluded;
- the models the service loads also give ``arrays()`` / ``from_arrays(arrays)``.

``recommend`` cuts scores into a top-N, excluding rated items and applying an ``allowed`` mask
before the cut.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, Self, TypeVar, runtime_checkable

import numpy as np
import numpy.typing as npt

from ml.models.matrix import RatingMatrix
from ml.rules import RATING_MAX, RATING_MIN
from ml.serving.ranking import top_n_indices

IntArray = npt.NDArray[np.int64]
Scores = npt.NDArray[np.floating[Any]]
State = TypeVar("State")
Floating = TypeVar("Floating", bound=np.floating)


@dataclass(frozen=True)
class UserRatings:
    """One user's ratings on internal item indices: what every fold-in reads (unique items, any
    order). ``skipped``: films the user said they have not seen, a signal for models that read
    it (iALS), never excluded from lists by ``recommend`` (the caller decides that).
    """

    items: IntArray
    ratings: npt.NDArray[np.float64]
    skipped: IntArray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    def __post_init__(self) -> None:
        if self.items.ndim != 1 or self.items.shape != self.ratings.shape:
            raise ValueError("items and ratings must be 1-D and the same length")
        if self.skipped.ndim != 1:
            raise ValueError("skipped must be 1-D")

    @classmethod
    def of(cls, items: npt.ArrayLike, ratings: npt.ArrayLike,
           skipped: npt.ArrayLike = ()) -> UserRatings:
        return cls(np.asarray(items, dtype=np.int64), np.asarray(ratings, dtype=np.float64),
                   np.asarray(skipped, dtype=np.int64).reshape(-1))

    @classmethod
    def empty(cls) -> UserRatings:
        return cls.of([], [])

    def __len__(self) -> int:
        return len(self.items)


@runtime_checkable
class Model(Protocol[State]):
    """What every model implements (see the module docstring for the conventions)."""

    #: The model's name in manifests and reports.
    name: ClassVar[str]
    #: The hyper-parameter dataclass ``fit`` uses.
    params: Any

    @property
    def n_items(self) -> int: ...

    def fit(self, matrix: RatingMatrix) -> Self: ...

    def fold_in(self, user: UserRatings) -> State: ...

    def scores(self, state: State) -> Scores: ...

    def similar_items(self, item: int, n: int) -> tuple[IntArray, Scores]: ...


class NotFittedError(RuntimeError):
    """A model was asked to score before ``fit`` or ``from_arrays``."""


def clip_rating(values: npt.NDArray[Floating]) -> npt.NDArray[Floating]:
    """Clip predictions to the rating scale people see (a raw prediction can pass 5 stars)."""
    return np.clip(values, RATING_MIN, RATING_MAX)


def recommend(model: Model[Any], user: UserRatings, n: int, *, state: Any = None,
              allowed: npt.NDArray[np.bool_] | None = None) -> tuple[IntArray, Scores]:
    """The user's top-``n`` item indices and their scores, best first.

    Rated items and items outside ``allowed`` are excluded before the cut; NaN scores are
    never returned. ``state`` is a cached fold-in.
    """
    scores = model.scores(model.fold_in(user) if state is None else state)
    best = top_n_indices(scores, n, exclude=user.items, allowed=allowed)
    return best, scores[best]
