"""Which films to ask a newcomer to rate first.

A useful first film is one the person has probably seen and whose rating tells the ranking model
(``ml.models.ials.model``) the most. Each step takes the film with the largest

    P(seen)^γ · log(1 + zᵢᵀ A⁻¹ zᵢ),    P(seen) ∝ its rating count,

A being the fold-in's precision after the films already picked, then adds it to A
(Sherman–Morrison), so the next film is informative about *other* directions of taste (Rashid
et al. 2002 balance popularity and informativeness the same way). A light penalty on genres
already on the page keeps each page mixed. The order is computed once at load; paging is a
slice that skips excluded films. γ was chosen by ``ml.training.simulate_onboarding --tune``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from ml.blas import single_threaded_blas
from ml.models.ials import IALS

Strategy = Literal["popular", "informative"]

#: Films shown at once in the app (two rows of five): genres are mixed within such a window.
PAGE_SIZE = 10


@dataclass(frozen=True)
class OnboardingParams:
    """The strategy and its γ on the first page (get the newcomer going) and after it (learn
    their taste); chosen on validation newcomers by ``python -m ml.training.simulate_onboarding
    --tune``.
    """

    strategy: Strategy = "informative"
    first_page_seen_exponent: float = 1.0
    seen_exponent: float = 1.0


#: Each film of a genre already in the current page multiplies a candidate's score by this.
GENRE_REPEAT_DISCOUNT = 0.85
#: Candidates are the most-rated films, this many times the order's length.
CANDIDATE_FACTOR = 3
#: The prior's ridge is the training ridge of a newcomer with this many ratings.
TYPICAL_RATINGS = 10


def onboarding_order(
    counts: npt.NDArray[np.int64], implicit: IALS, genres: Sequence[tuple[str, ...]],
    params: OnboardingParams | None = None, limit: int = 500,
) -> list[int]:
    """Item indices in the order to show them (at most ``limit``)."""
    params = params or OnboardingParams()
    by_count = [int(i) for i in np.argsort(-counts, kind="stable") if counts[i] > 0]
    if params.strategy == "popular":
        return by_count[:limit]
    candidates = np.array(by_count[: limit * CANDIDATE_FACTOR], dtype=np.int64)
    if len(candidates) == 0:
        return []
    seen_share = counts[candidates] / counts[candidates].max()
    z = implicit.item_factors[candidates].astype(np.float64)
    precision = (implicit.unobserved_weight * implicit.gram_eigenvalues
                 + implicit.ridge(TYPICAL_RATINGS))
    covariance = np.diag(1.0 / precision)
    leverage = np.einsum("ij,jk,ik->i", z, covariance, z)
    membership = _genre_matrix([genres[i] for i in candidates])
    on_page = np.zeros(membership.shape[1])
    available = np.ones(len(candidates), dtype=bool)
    picked: list[int] = []
    with single_threaded_blas():  # 500 small k × k updates: see ml/blas.py
        while len(picked) < min(limit, len(candidates)):
            best = _next_film(seen_share, leverage, membership, on_page, available,
                              params, len(picked))
            available[best] = False
            picked.append(int(candidates[best]))
            on_page = (np.zeros_like(on_page) if len(picked) % PAGE_SIZE == 0
                       else on_page + membership[best])
            direction = covariance @ z[best]  # Sherman–Morrison: A⁻¹ after adding z zᵀ
            denominator = 1.0 + z[best] @ direction
            covariance -= np.outer(direction, direction) / denominator
            leverage -= (z @ direction) ** 2 / denominator
    return picked


def _next_film(seen_share: npt.NDArray[np.float64], leverage: npt.NDArray[np.float64],
               membership: npt.NDArray[np.float64], on_page: npt.NDArray[np.float64],
               available: npt.NDArray[np.bool_], params: OnboardingParams,
               position: int) -> int:
    """The candidate with the largest P(seen)^γ · log(1 + leverage), genre-discounted."""
    repeats = (membership * on_page).max(axis=1, initial=0.0)
    gamma = params.first_page_seen_exponent if position < PAGE_SIZE else params.seen_exponent
    gain = seen_share ** gamma * np.log1p(np.maximum(leverage, 0.0))
    gain *= GENRE_REPEAT_DISCOUNT ** repeats
    gain[~available] = -np.inf
    return int(np.argmax(gain))


def _genre_matrix(genres: Sequence[tuple[str, ...]]) -> npt.NDArray[np.float64]:
    """One row per film, one 0/1 column per genre."""
    names = sorted({g for film in genres for g in film})
    column = {g: j for j, g in enumerate(names)}
    matrix = np.zeros((len(genres), max(len(names), 1)))
    for i, film in enumerate(genres):
        matrix[i, [column[g] for g in film]] = 1.0
    return matrix
