"""Which films to ask a newcomer to rate first.

A useful first film is one the person has probably seen (log of its rating count) and whose
rating tells the model something (the length of its factor vector: how much opinions about it
follow taste rather than agree). Rashid et al. (2002) found that log(popularity) × an
informativeness term balances effort and accuracy. Genres are interleaved so a page never reads
as ten dramas.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

#: Only films with at least this share of the most-rated film's count are candidates: the
#: rest are too rarely seen to be worth a newcomer's click.
MIN_COUNT_SHARE = 0.05
#: How strongly each film of a genre already chosen pushes the next one of it down.
GENRE_REPEAT_PENALTY = 0.15


def onboarding_scores(
    counts: npt.NDArray[np.int64], item_factors: npt.NDArray[np.floating],
) -> npt.NDArray[np.float64]:
    """log(1 + count) × factor norm, zero for films below the candidate threshold."""
    counts_f = counts.astype(np.float64)
    informativeness = np.linalg.norm(item_factors, axis=1).astype(np.float64)
    score = np.log1p(counts_f) * informativeness
    if len(counts_f):
        score[counts_f < MIN_COUNT_SHARE * counts_f.max()] = 0.0
    return score


def onboarding_order(
    counts: npt.NDArray[np.int64], item_factors: npt.NDArray[np.floating],
    genres: Sequence[tuple[str, ...]], limit: int = 500,
) -> list[int]:
    """Item indices in the order to show them: best score first, genres kept mixed.

    Greedy: each step takes the film whose score, discounted by how often its genres were
    already picked, is highest. Computed once at load; paging is a slice that skips excluded.
    """
    score = onboarding_scores(counts, item_factors)
    candidates = [int(i) for i in np.argsort(-score, kind="stable")[: limit * 2] if score[i] > 0]
    if not candidates:
        return [int(i) for i in np.argsort(-counts, kind="stable")[:limit]]
    top = max(score[candidates[0]], 1e-12)
    picked: list[int] = []
    seen: Counter[str] = Counter()
    remaining = candidates
    while remaining and len(picked) < limit:
        def discounted(i: int) -> float:
            repeats = max((seen[g] for g in genres[i]), default=0)
            return score[i] / top - GENRE_REPEAT_PENALTY * repeats

        best = max(remaining[:200], key=discounted)
        picked.append(best)
        seen.update(genres[best])
        remaining = [i for i in remaining if i != best]
    return picked
