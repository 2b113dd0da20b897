"""Popularity: the newcomers' list and the baseline every ranker must beat (``ml.models.contract``).

``order="average"`` scores by the Bayesian average of ``ml.models.popularity.model`` (what the app
shows before five ratings), ties broken by rating count then index; ``order="count"`` by the raw
rating count, the stronger top-N baseline on MovieLens. Nobody's ratings change the scores:
the fold-in state is None, and a training user's state is the same None.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt

from ml.models._arrays import fitted, scalar
from ml.models.contract import IntArray, UserRatings
from ml.models.matrix import RatingMatrix
from ml.models.popularity.model import DEFAULT_PRIOR_PERCENTILE, Popularity
from ml.serving.ranking import top_n_indices


@dataclass(frozen=True)
class PopularityParams:
    order: Literal["average", "count"] = "average"
    prior_percentile: float = DEFAULT_PRIOR_PERCENTILE  # m = this percentile of the counts

    def __post_init__(self) -> None:
        if self.order not in ("average", "count"):
            raise ValueError(f"order must be 'average' or 'count', got {self.order!r}")


class PopularityModel:
    """Scores: the Bayesian average (or the count) of every item. State: None."""

    name: ClassVar[str] = "popularity"

    def __init__(self, params: PopularityParams | None = None) -> None:
        self.params = params or PopularityParams()
        self._popularity: Popularity | None = None
        self._scores: npt.NDArray[np.float64] | None = None

    @classmethod
    def of(cls, popularity: Popularity, params: PopularityParams | None = None
           ) -> PopularityModel:
        model = cls(params)
        model._popularity = popularity
        model._scores = _ranking_scores(popularity, model.params)
        return model

    @property
    def popularity(self) -> Popularity:
        return fitted(self._popularity, self.name)

    @property
    def n_items(self) -> int:
        return len(self.popularity.counts)

    def fit(self, matrix: RatingMatrix) -> PopularityModel:
        fitted_popularity = Popularity.from_ratings(matrix.items, matrix.ratings, matrix.n_items,
                                                    self.params.prior_percentile)
        return self._refit(fitted_popularity)

    def _refit(self, popularity: Popularity) -> PopularityModel:
        self._popularity = popularity
        self._scores = _ranking_scores(popularity, self.params)
        return self

    def fold_in(self, user: UserRatings) -> None:
        return None

    def scores(self, state: None = None) -> npt.NDArray[np.float64]:
        return fitted(self._scores, self.name)

    def similar_items(self, item: int, n: int) -> tuple[IntArray, npt.NDArray[np.float64]]:
        """Popularity knows no likeness: the ``n`` most popular other items."""
        scores = self.scores()
        best = top_n_indices(scores, n, exclude=[item])
        return best, scores[best]

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        p = self.popularity
        return {"counts": np.asarray(p.counts, dtype=np.int64),
                "means": np.asarray(p.means, dtype=np.float32),
                "global_mean": scalar(p.global_mean)}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, npt.NDArray[Any]],
                    params: PopularityParams | None = None) -> PopularityModel:
        params = params or PopularityParams()
        popularity = Popularity.from_counts(arrays["counts"], arrays["means"],
                                            float(arrays["global_mean"][0]),
                                            params.prior_percentile)
        return cls.of(popularity, params)


def _ranking_scores(popularity: Popularity, params: PopularityParams
                    ) -> npt.NDArray[np.float64]:
    counts = popularity.counts.astype(np.float64)
    if params.order == "count":
        return counts
    # The same order as ``Popularity.top_n``: ties by count, then by index.
    return popularity.scores + counts / (counts.max(initial=0.0) + 1.0) * 1e-9
