"""Simulate newcomers onboarding: ``python -m ml.training.simulate_onboarding [--tune] [--quick]``.

Users held out of training (``ml.data.split.users_holdout``) are shown pages of
``Recommender.onboarding`` films, as the app shows them; they rate a film only if they rated it
in reality, and skip it otherwise, until they have 5, 10 and 15 ratings. At each point the
rankers below get their first k ratings (and the films skipped before) and NDCG@10 / Recall@10
are measured on the rest (positives ≥ 4): ``cinematch`` (the served list, with and without
skips), popularity by count and served, ``EASE`` and ``fold-in by rating``. Effort is the pages
shown until the fifth rating, for CineMatch's order and "most popular first". ``bench/newcomers.py``
owns the ranking's newcomer targets; this module owns the onboarding order and its effort.
``--tune`` grid-searches the order's γ on validation newcomers held out of the training users.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ml.blas import single_threaded_blas
from ml.data import load_dataset
from ml.data.split import users_holdout
from ml.models import EASE, Popularity, PopularityParams
from ml.models.contract import Model, UserRatings, recommend
from ml.models.funksvd.model import FunkSVDParams
from ml.rules import POSITIVE_RATING
from ml.serving.artifacts import Artifact
from ml.serving.onboarding import OnboardingParams
from ml.serving.recommender import Recommender
from ml.training.cli import cli_errors
from ml.training.metrics import ndcg_at_k, recall_at_k
from ml.training.pipeline import fit_artifact, rating_matrix

log = logging.getLogger(__name__)

DEFAULT_DATA = Path(__file__).resolve().parents[3] / "shared/data/movielens/ml-1m"
CHECKPOINTS = (5, 10, 15)
TOP_K = 10
PAGE_SIZE = 10
MAX_PAGES = 50
TARGET_AT_5 = 1.10  # × popularity and × EASE, 5 ratings from the deck

#: (given ratings, films skipped before the last of them) → top-10 movie ids.
Ranking = Callable[[dict[int, float], tuple[int, ...]], list[int]]


@dataclass
class Session:
    """One newcomer's onboarding: the films shown and rated, in order, and when."""

    user_id: int
    given: list[tuple[int, float]] = field(default_factory=list)
    pages_at: dict[int, int] = field(default_factory=dict)  # k ratings reached on page p
    shown: list[int] = field(default_factory=list)

    def at(self, k: int) -> tuple[dict[int, float], tuple[int, ...]]:
        """The first ``k`` ratings and the films skipped before the k-th (all skipped films
        shown when fewer than ``k`` were rated)."""
        given = dict(self.given[:k])
        last = (self.shown.index(self.given[k - 1][0]) if len(self.given) >= k
                else len(self.shown) - 1)
        return given, tuple(m for m in self.shown[: last + 1] if m not in given)


def onboard(recommender: Recommender, truth: dict[int, float], page_size: int,
            max_pages: int = MAX_PAGES, user_id: int = -1) -> Session:
    """Show pages until the newcomer has rated max(CHECKPOINTS) films or pages run out."""
    session = Session(user_id)
    shown: set[int] = set()
    for page_number in range(1, max_pages + 1):
        page = recommender.onboarding(page_size, exclude=shown)
        if not page:
            break
        for movie in page:
            shown.add(movie.movie_id)
            session.shown.append(movie.movie_id)
            if movie.movie_id in truth:
                session.given.append((movie.movie_id, truth[movie.movie_id]))
        for k in CHECKPOINTS:
            if len(session.given) >= k:
                session.pages_at.setdefault(k, page_number)
        if len(session.given) >= CHECKPOINTS[-1]:
            break
    return session


def rankers(recommender: Recommender, references: Mapping[str, Model[Any]]) -> dict[str, Ranking]:
    """Every list compared, each from the newcomer's given ratings alone: the served lists
    through ``Recommender.recommend``, the reference models through the model contract."""
    items = recommender.items

    def by_model(model: Model[Any]) -> Ranking:
        def rank(given: dict[int, float], skipped: tuple[int, ...]) -> list[int]:
            idx = items.indices(list(given))
            known = idx >= 0
            skips = items.indices(list(skipped))
            rated = UserRatings.of(idx[known], np.fromiter(given.values(), float)[known],
                                   skips[skips >= 0])
            return [int(m) for m in items.ids[recommend(model, rated, TOP_K)[0]]]
        return rank

    def served(use_skips: bool = False, **options: Any) -> Ranking:
        def rank(given: dict[int, float], skipped: tuple[int, ...]) -> list[int]:
            lists = recommender.recommend(given, TOP_K, skipped=skipped if use_skips else (),
                                          **options)
            return [r.movie_id for r in lists.items]
        return rank

    return {
        "cinematch": served(use_skips=True),
        "cinematch, skips unused": served(),
        "popularity (count)": by_model(references["popularity (count)"]),
        "popularity (served)": served(ranker="popularity"),
        "EASE": by_model(references["EASE"]),
        "fold-in by rating": served(ranker="rating", diversify=False),
    }


def quality(sessions: Iterable[Session], truths: dict[int, dict[int, float]],
            catalogue: set[int], ranking: Ranking, k: int) -> tuple[float, float, int]:
    """Mean NDCG@10 and Recall@10 at k given ratings, and how many newcomers were measured."""
    ndcg, recall = [], []
    for session in sessions:
        if len(session.given) < k:
            continue
        given, skipped = session.at(k)
        positives = {m for m, r in truths[session.user_id].items()
                     if r >= POSITIVE_RATING and m not in given and m in catalogue}
        if not positives:
            continue
        ranked = ranking(given, skipped)
        ndcg.append(ndcg_at_k(ranked, positives, TOP_K))
        recall.append(recall_at_k(ranked, positives, TOP_K))
    if not ndcg:
        return float("nan"), float("nan"), 0
    return float(np.mean(ndcg)), float(np.mean(recall)), len(ndcg)


@dataclass(frozen=True)
class Setup:
    """A model trained without the newcomers, the reference models beside it (popularity by
    count and EASE, on the same training ratings), and the newcomers' ratings."""

    artifact: Artifact
    references: dict[str, Model[Any]]
    truths: dict[int, dict[int, float]]


def prepare(train: pd.DataFrame, newcomers: pd.DataFrame, movies: pd.DataFrame) -> Setup:
    """Train on ``train`` (which holds none of the newcomers) and fit the references beside it."""
    started = time.perf_counter()
    with single_threaded_blas():
        fitted = fit_artifact(train, movies, FunkSVDParams(), progress=False)
    log.info("trained on %d ratings (%d users) in %.0f s", len(train),
             train["user_id"].nunique(), time.perf_counter() - started)
    artifact = fitted.artifact
    matrix = rating_matrix(train, fitted.users, artifact.items)
    truths = {int(u): dict(zip(g["movie_id"].astype(int), g["rating"].astype(float),
                               strict=True))
              for u, g in newcomers.groupby("user_id")}
    references: dict[str, Model[Any]] = {
        "popularity (count)": Popularity(PopularityParams(order="count")).fit(matrix),
        "EASE": EASE().fit(matrix),
    }
    return Setup(artifact, references, truths)


def simulate(setup: Setup, onboarding: OnboardingParams,
             page_size: int) -> tuple[Recommender, list[Session]]:
    """Onboard every newcomer with this onboarding order (and the shipped ranking)."""
    recommender = Recommender(setup.artifact, onboarding=onboarding)
    sessions = [onboard(recommender, truth, page_size, user_id=user)
                for user, truth in setup.truths.items()]
    return recommender, sessions


def pages_to_first_checkpoint(sessions: list[Session]) -> npt.NDArray[np.int64]:
    """Pages each newcomer needed for 5 ratings (MAX_PAGES + 1 when never reached)."""
    return np.array([s.pages_at.get(CHECKPOINTS[0], MAX_PAGES + 1) for s in sessions])


def report(setup: Setup, page_size: int) -> list[str]:
    """The effort and quality table for both strategies, and the targets."""
    catalogue = {int(m) for m in setup.artifact.items.ids}
    lines: list[str] = []
    verdicts: list[str] = []
    effort: dict[str, float] = {}
    for onboarding in (OnboardingParams(), OnboardingParams(strategy="popular")):
        recommender, sessions = simulate(setup, onboarding, page_size)
        pages = pages_to_first_checkpoint(sessions)
        effort[onboarding.strategy] = float(pages.mean())
        lines += ["", f"onboarding: {_label(onboarding)} ({len(sessions)} newcomers, "
                  f"{page_size} films a page)",
                  f"  pages to 5 ratings: mean {pages.mean():.2f}, median "
                  f"{np.median(pages):.0f}, 90th pct {np.percentile(pages, 90):.0f}, "
                  f"never within {MAX_PAGES}: {int((pages > MAX_PAGES).sum())}",
                  f"  {'ranker':<22}" + "".join(f"{f'NDCG k={k}':>11}{f'R k={k}':>9}"
                                               for k in CHECKPOINTS)]
        table: dict[str, dict[int, float]] = {}
        measured: dict[int, int] = {}
        for name, ranking in rankers(recommender, setup.references).items():
            cells, table[name] = "", {}
            for k in CHECKPOINTS:
                ndcg, recall, measured[k] = quality(sessions, setup.truths, catalogue, ranking,
                                                    k)
                table[name][k] = ndcg
                cells += f"{ndcg:>11.4f}{recall:>9.4f}"
            lines.append(f"  {name:<22}{cells}")
        lines.append("  newcomers measured at 5/10/15 ratings: "
                     + "/".join(str(measured[k]) for k in CHECKPOINTS))
        popular = {k: max(table["popularity (count)"][k], table["popularity (served)"][k])
                   for k in CHECKPOINTS}
        ours = table["cinematch"]
        lines.append("  cinematch ÷ best popularity: " + ", ".join(
            f"{ours[k] / popular[k]:.2f}× at {k}" for k in CHECKPOINTS) + "; ÷ EASE: " + ", ".join(
            f"{ours[k] / table['EASE'][k]:.2f}× at {k}" for k in CHECKPOINTS))
        if onboarding.strategy == "informative":
            verdicts += [
                _verdict(f"NDCG@10 at 5 ratings from the deck ≥ {TARGET_AT_5}× popularity",
                         ours[5] >= TARGET_AT_5 * popular[5]),
                _verdict(f"NDCG@10 at 5 ratings from the deck ≥ {TARGET_AT_5}× EASE",
                         ours[5] >= TARGET_AT_5 * table["EASE"][5]),
            ]
    verdicts.append(_verdict("effort (pages to 5 ratings) ≤ most popular first",
                             effort["informative"] <= effort["popular"]))
    return [*lines, "", "targets (CineMatch onboarding, CineMatch ranking; at random and at 10: "
            "bench/newcomers.py):", *verdicts]


#: The onboarding variants ``--tune`` compares: (first-page γ, later γ).
ONBOARDING_GRID = ((1.0, 1.0), (1.5, 1.5), (2.0, 2.0), (6.0, 0.5), (6.0, 0.75), (6.0, 1.0))


def tune(setup: Setup, page_size: int) -> list[str]:
    """A grid over the onboarding γ, on validation newcomers.

    The rule: the onboarding with the best mean NDCG@10 at 5/10/15 among those needing no more
    pages than "most popular first".
    """
    catalogue = {int(m) for m in setup.artifact.items.ids}
    header = "".join(f"{f'NDCG k={k}':>11}" for k in CHECKPOINTS) + f"{'mean':>8}"
    lines = ["", f"{'onboarding (γ first page, later)':<34}{'pages':>7}{header}"]
    baseline = pages_to_first_checkpoint(
        simulate(setup, OnboardingParams(strategy="popular"), page_size)[1]).mean()
    lines.append(f"{'most popular first':<34}{baseline:>7.3f}")
    best_onboarding: tuple[float, OnboardingParams] | None = None
    for first, later in ONBOARDING_GRID:
        onboarding = OnboardingParams(first_page_seen_exponent=first, seen_exponent=later)
        recommender, sessions = simulate(setup, onboarding, page_size)
        pages = pages_to_first_checkpoint(sessions).mean()
        served = rankers(recommender, setup.references)["cinematch"]
        scores = [quality(sessions, setup.truths, catalogue, served, k)[0] for k in CHECKPOINTS]
        mean = float(np.mean(scores))
        lines.append(f"{_label(onboarding):<34}{pages:>7.3f}"
                     + "".join(f"{s:>11.4f}" for s in scores) + f"{mean:>8.4f}")
        if pages <= baseline and (best_onboarding is None or mean > best_onboarding[0]):
            best_onboarding = (mean, onboarding)
    chosen = best_onboarding[1] if best_onboarding else OnboardingParams()
    lines += [f"chosen: {chosen} (ranking weights: bench/newcomers.py --tune)"]
    return lines


def _label(onboarding: OnboardingParams) -> str:
    if onboarding.strategy == "popular":
        return "most popular first"
    return (f"informative (γ {onboarding.first_page_seen_exponent:g}, "
            f"{onboarding.seen_exponent:g})")


def _verdict(label: str, ok: bool) -> str:
    return f"  {label}: {'met' if ok else 'NOT met'}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.training.simulate_onboarding",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="a MovieLens folder")
    parser.add_argument("--newcomers", type=int, default=300, help="users held out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--page-size", type=int, default=PAGE_SIZE)
    parser.add_argument("--tune", action="store_true",
                        help="tune the onboarding order on validation newcomers instead")
    parser.add_argument("--quick", action="store_true", help="100 newcomers")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with cli_errors():
        dataset = load_dataset(args.data)
        n = 100 if args.quick else args.newcomers
        train, newcomers = users_holdout(dataset.ratings, n, args.seed)
        if args.tune:  # validation newcomers come out of the training users only
            train, newcomers = users_holdout(train, n, args.seed + 1)
        setup = prepare(train, newcomers, dataset.movies)
        lines = tune(setup, args.page_size) if args.tune else report(setup, args.page_size)
        print(f"{dataset.name}: {len(dataset.ratings)} ratings; "
              f"{'validation' if args.tune else 'test'} newcomers held out of training")
        print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
