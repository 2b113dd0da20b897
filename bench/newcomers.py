"""Newcomers' lists beside popularity and EASE, every newcomer protocol in one run.

    .venv/bin/python bench/newcomers.py [--data-root DIR] [--newcomers N] [--quick] [--tune]
                                        [--json PATH]

Held-out ml-1m users join with 5 or 10 random ratings or through the onboarding deck (skips
included); every ranker is scored on the rest of their ratings ≥ 4. EASE's λ and, with
``--tune``, the newcomer fields of ``RankingWeights`` are chosen on validation newcomers only.
Protocol and targets: bench/README.md. Results: ``bench/results/newcomers.json``.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench import harness
from bench.ranking import ease_weights
from ml.blas import single_threaded_blas
from ml.data import load_dataset
from ml.data.split import users_holdout
from ml.models.funksvd.model import FunkSVDParams
from ml.models.matrix import IdMap
from ml.rules import POSITIVE_RATING
from ml.serving.artifacts import Artifact
from ml.serving.ranking import RankingWeights, top_n_indices
from ml.serving.recommender import Recommender
from ml.training.metrics import catalogue_coverage, ndcg_at_k, recall_at_k
from ml.training.pipeline import fit_artifact

log = logging.getLogger("bench.newcomers")

RANKING_JSON = harness.RESULTS / "ranking.json"
SEED = 0
TOP_K = 10
PAGE_SIZE = 10
MAX_PAGES = 50
CHART = 500  # "the chart": the most rated films, for the distance-from-the-chart figure
PROTOCOLS = ("random-5", "random-10", "deck-5", "deck-10")
#: protocol → (× best popularity, × EASE) the served list must reach; on the deck the EASE is
#: the one told the skipped films (``DECK_EASE``).
TARGETS = {"random-5": (1.1, 1.1), "random-10": (1.2, 1.05), "deck-5": (1.1, 1.1)}
DECK_EASE = "EASE, skipped excluded"
EASE_RANKERS = ("EASE", DECK_EASE)
#: The reference EASE's variants (kind, λ), the best per protocol chosen on validation
#: newcomers: rating-weighted (the strongest tuned full-history peer, ``bench/ranking.py``, λ
#: 8000 on ml-1m) and binary. With five ratings a larger λ than for full histories wins (EASE
#: leans towards co-occurrence counts, "popular among people who rated your films"), so the
#: grid goes beyond the full-history one.
EASE_GRID: tuple[tuple[str, float], ...] = (
    *(("rating-weighted", l2)
      for l2 in (4000.0, 8000.0, 16000.0, 32000.0, 64000.0, 128000.0, 256000.0, 512000.0,
                 1024000.0)),
    *(("binary", l2) for l2 in (1000.0, 2000.0, 4000.0, 8000.0)),
)
#: The rating-weighted EASE of full histories (bench/ranking.py's λ on ml-1m): how personal
#: an EASE tuned for histories is, beside the one tuned for newcomers.
FULL_HISTORY_EASE = ("EASE, full-history λ", ("rating-weighted", 8000.0))
#: Validation newcomers, held out of the training users (never the test newcomers).
VALIDATION_NEWCOMERS = 300
TARGET_FULL = 1.02
#: The plain ranking settings (no newcomer tuning), for the before/after row (h = 50 is the trained
#: ``ImplicitParams.fold_in_half_ratings``, so the fold-in is the model's own).
PREVIOUS = RankingWeights(rating=0.3, popularity=0.0, rating_at_threshold=0.3,
                          popularity_at_threshold=0.0, fold_in_half_ratings=50.0,
                          skip_confidence=0.0)
#: ``--tune``: RankingWeights fields varied, each grid point on top of the defaults: the
#: weights at five ratings (FunkSVD, popularity, item-item), the item-item term at five
#: ratings up to 4 (with popularity and FunkSVD lowered beside it), the decay, then the
#: fold-in around the best.
TUNE_GRID: tuple[dict[str, float], ...] = (
    *({"rating_at_threshold": r, "popularity_at_threshold": p, "item_item_at_threshold": i}
      for r, p, i in ((1.0, 4.0, 0.0), (1.5, 4.0, 0.0), (1.5, 2.0, 0.0), (1.0, 2.0, 0.0),
                      (1.5, 1.5, 0.0), (1.0, 1.5, 0.0), (1.5, 1.0, 0.0), (1.0, 1.0, 0.0),
                      (1.0, 1.0, 0.25), (1.0, 0.5, 0.0), (1.0, 0.0, 0.0), (1.0, 0.0, 0.25),
                      (1.5, 3.0, 0.0), (2.0, 4.0, 0.0), (2.0, 5.0, 0.0), (1.5, 5.0, 0.0),
                      (1.5, 4.0, 0.5), (1.5, 4.0, 1.0), (1.5, 4.0, 2.0), (1.5, 4.0, 4.0),
                      (1.0, 2.0, 0.5), (1.0, 2.0, 1.0), (1.0, 2.0, 2.0), (1.0, 2.0, 4.0),
                      (0.5, 1.0, 1.0), (0.5, 1.0, 2.0), (0.5, 0.0, 4.0))),
    {"fold_in_half_ratings": 1.0}, {"fold_in_half_ratings": 0.5}, {"skip_confidence": 10.0},
    {"decay": 1.0}, {"decay": 1.5}, {"decay": 3.0},
    {"decay": 1.0, "item_item_at_threshold": 0.5},
    {"fold_in_half_ratings": 1.0, "rating_at_threshold": 1.5},
)

Ranking = Callable[["Session"], list[int]]


@dataclass(frozen=True)
class Session:
    """One newcomer at one point: the films they gave, those they skipped, what they like."""

    protocol: str
    user_id: int
    given: dict[int, float]
    skipped: tuple[int, ...]
    positives: frozenset[int]


@dataclass(frozen=True)
class EaseFit:
    """One EASE variant fitted to the training users: ``kind`` "rating-weighted" (X holds the
    stars, the strongest full-history peer of ``bench/ranking.py``) or "binary" (X is 0/1)."""

    kind: str
    l2: float
    weights: np.ndarray  # B, items × items, zero diagonal (float32)

    @classmethod
    def fit(cls, x: np.ndarray, kind: str, l2: float) -> EaseFit:
        rows = x if kind == "rating-weighted" else (x > 0).astype(np.float32)
        with single_threaded_blas():
            return cls(kind, l2, ease_weights(rows, l2))

    @property
    def label(self) -> str:
        return f"{self.kind} λ={self.l2:g}"

    def scores(self, indices: np.ndarray, ratings: np.ndarray) -> np.ndarray:
        """x_u B for a newcomer who rated ``indices`` with ``ratings``."""
        values = ratings if self.kind == "rating-weighted" else np.ones(len(indices))
        return np.asarray(values, dtype=np.float32) @ self.weights[indices]


@dataclass(frozen=True)
class Setup:
    artifact: Artifact
    x: np.ndarray  # training users × the artifact's films, the stars (0: unrated), float32
    sessions: list[Session]
    #: (EASE ranker, protocol) → the EASE variant it uses there (``tune_ease``).
    eases: dict[tuple[str, str], EaseFit] = field(default_factory=dict)


def prepare(train: pd.DataFrame, newcomers: pd.DataFrame, movies: pd.DataFrame) -> Setup:
    """Fit the model on ``train`` and build every newcomer's sessions (EASE comes later)."""
    started = time.perf_counter()
    with single_threaded_blas():
        fitted = fit_artifact(train, movies, FunkSVDParams(), progress=False)
    artifact = fitted.artifact
    users = IdMap.from_values(train["user_id"].to_numpy())
    x = np.zeros((len(users), len(artifact.items)), dtype=np.float32)
    x[users.indices(train["user_id"].to_numpy()),
      artifact.items.indices(train["movie_id"].to_numpy())] = train["rating"].to_numpy(np.float32)
    log.info("fitted the model on %d ratings in %.0f s", len(train),
             time.perf_counter() - started)
    recommender = Recommender(artifact)
    catalogue = {int(m) for m in artifact.items.ids}
    sessions: list[Session] = []
    for user, rows in newcomers.groupby("user_id"):
        truth = {int(m): float(r) for m, r in zip(rows["movie_id"], rows["rating"], strict=True)
                 if int(m) in catalogue}
        sessions += user_sessions(recommender, int(user), truth)
    return Setup(artifact, x, sessions)


def tune_ease(validation: Setup) -> tuple[dict[tuple[str, str], tuple[str, float]], list[str]]:
    """Every ``EASE_GRID`` variant on the validation newcomers; for each EASE ranker and
    protocol, the variant with the best NDCG@10 there (as bench/ranking.py tunes its peers)."""
    recommender = Recommender(validation.artifact)
    results: dict[tuple[str, float], dict[str, dict[str, Cell]]] = {}
    for kind, l2 in EASE_GRID:
        started = time.perf_counter()
        fit = EaseFit.fit(validation.x, kind, l2)
        every = {(name, p): fit for name in EASE_RANKERS for p in PROTOCOLS}
        results[(kind, l2)] = measure(replace(validation, eases=every), recommender,
                                      only=EASE_RANKERS)
        log.info("EASE %s on validation newcomers in %.0f s", fit.label,
                 time.perf_counter() - started)
        del fit, every
    chosen = {(name, p): max(results, key=lambda v: results[v][name][p].ndcg_at_10)
              for name in EASE_RANKERS for p in PROTOCOLS if p in results[EASE_GRID[0]][name]}
    lines = [f"{'EASE on validation newcomers, NDCG@10':<44}" + "".join(
        f"{p:>11}" for p in PROTOCOLS)]
    for (kind, l2), table in results.items():
        for name in EASE_RANKERS:
            lines.append(f"{f'{name}: {kind} λ={l2:g}':<44}" + "".join(
                (f"{table[name][p].ndcg_at_10:>10.4f}"
                 + ("*" if chosen.get((name, p)) == (kind, l2) else " "))
                if p in table[name] else f"{'':>11}" for p in PROTOCOLS))
    lines.append("* chosen (the best per ranker and protocol)")
    return chosen, lines


def with_eases(setup: Setup, chosen: dict[tuple[str, str], tuple[str, float]]) -> Setup:
    """``setup`` with the chosen EASE variants fitted to its training users."""
    name, full = FULL_HISTORY_EASE
    chosen = {**chosen, **{(name, p): full for p in PROTOCOLS}}
    fits = {variant: EaseFit.fit(setup.x, *variant) for variant in sorted(set(chosen.values()))}
    return replace(setup, eases={key: fits[variant] for key, variant in chosen.items()})


def user_sessions(recommender: Recommender, user: int, truth: dict[int, float]) -> list[Session]:
    """This newcomer's random and deck sessions (those with at least one positive left)."""
    out: list[Session] = []
    order = np.random.default_rng(user).permutation(sorted(truth))
    shown = deck_order(recommender, truth)
    for k in (5, 10):
        picks: dict[str, tuple[dict[int, float], tuple[int, ...]]] = {
            f"random-{k}": ({int(m): truth[int(m)] for m in order[:k]}, ())}
        rated_at = [j for j, m in enumerate(shown) if m in truth]
        if len(rated_at) >= k:
            before = shown[: rated_at[k - 1] + 1]
            picks[f"deck-{k}"] = ({m: truth[m] for m in before if m in truth},
                                  tuple(m for m in before if m not in truth))
        for protocol, (given, skipped) in picks.items():
            if len(given) < k:
                continue
            positives = frozenset(m for m, r in truth.items()
                                  if r >= POSITIVE_RATING and m not in given)
            if positives:
                out.append(Session(protocol, user, given, skipped, positives))
    return out


def deck_order(recommender: Recommender, truth: dict[int, float]) -> list[int]:
    """The films the deck shows this newcomer, page by page, until they have rated 10."""
    shown: list[int] = []
    rated = 0
    for _ in range(MAX_PAGES):
        page = recommender.onboarding(PAGE_SIZE, exclude=set(shown))
        if not page:
            break
        shown += [m.movie_id for m in page]
        rated += sum(m.movie_id in truth for m in page)
        if rated >= 10:
            break
    return shown


def rankers(setup: Setup, recommender: Recommender) -> dict[str, Ranking]:
    items = recommender.items
    counts = recommender.popularity.counts.astype(np.float64)

    def indices(movie_ids: list[int] | tuple[int, ...]) -> np.ndarray:
        idx = items.indices(list(movie_ids))
        return idx[idx >= 0]

    def by_scores(scores: Callable[[Session], np.ndarray], with_skips: bool = False) -> Ranking:
        def rank(session: Session) -> list[int]:
            exclude = indices(list(session.given) + (list(session.skipped) if with_skips else []))
            best = top_n_indices(scores(session), TOP_K, exclude=exclude)
            return [int(m) for m in items.ids[best]]
        return rank

    def served(use_skips: bool, target: Recommender = recommender, **options: Any) -> Ranking:
        def rank(session: Session) -> list[int]:
            # As the API does: skipped films are heard by the ranking and never listed.
            skipped = session.skipped if use_skips else ()
            lists = target.recommend(session.given, TOP_K, skipped=skipped, exclude=skipped,
                                     **options)
            return [r.movie_id for r in lists.items]
        return rank

    def ease(name: str) -> Callable[[Session], np.ndarray]:
        def scores(session: Session) -> np.ndarray:
            given = items.indices(list(session.given))
            ratings = np.array(list(session.given.values()))
            known = given >= 0
            return setup.eases[(name, session.protocol)].scores(given[known], ratings[known])
        return scores

    return {
        "cinematch": served(True),
        "cinematch, skips unused": served(False),
        "cinematch before #13": served(False, Recommender(setup.artifact, weights=PREVIOUS)),
        "popularity (count)": by_scores(lambda s: counts),
        "popularity (served)": served(False, ranker="popularity"),
        "EASE": by_scores(ease("EASE")),
        DECK_EASE: by_scores(ease(DECK_EASE), with_skips=True),
        FULL_HISTORY_EASE[0]: by_scores(ease(FULL_HISTORY_EASE[0])),
    }


@dataclass(frozen=True)
class Cell:
    ndcg_at_10: float
    recall_at_10: float
    in_chart: float  # share of the list among the CHART most rated films
    n: int
    overlap: float  # mean share of top-10 films two newcomers' lists have in common
    coverage: float  # share of the catalogue in any of the lists


def measure(setup: Setup, recommender: Recommender,
            only: tuple[str, ...] | None = None) -> dict[str, dict[str, Cell]]:
    """ranker → protocol → figures (deck-only rankers only on deck protocols)."""
    counts = recommender.popularity.counts
    chart = {int(m) for m in recommender.items.ids[np.argsort(-counts, kind="stable")[:CHART]]}
    table: dict[str, dict[str, Cell]] = {}
    with single_threaded_blas():
        for name, rank in rankers(setup, recommender).items():
            if only is not None and name not in only:
                continue
            table[name] = {}
            for protocol in PROTOCOLS:
                if protocol.startswith("random") and "skip" in name:
                    continue
                ndcg, recall, in_chart, lists = [], [], [], []
                for session in setup.sessions:
                    if session.protocol != protocol:
                        continue
                    ranked = rank(session)
                    lists.append(ranked)
                    ndcg.append(ndcg_at_k(ranked, set(session.positives), TOP_K))
                    recall.append(recall_at_k(ranked, set(session.positives), TOP_K))
                    in_chart.append(float(np.mean([m in chart for m in ranked])) if ranked else 0.0)
                table[name][protocol] = Cell(
                    round(float(np.mean(ndcg)), 4), round(float(np.mean(recall)), 4),
                    round(float(np.mean(in_chart)), 3), len(ndcg),
                    round(mean_pairwise_overlap(lists), 4),
                    round(catalogue_coverage(lists, recommender.n_movies), 4))
    return table


def mean_pairwise_overlap(lists: list[list[int]]) -> float:
    """Mean over every pair of lists of the share of TOP_K films they have in common."""
    if len(lists) < 2:
        return 0.0
    films = {m: k for k, m in enumerate(sorted({m for ranked in lists for m in ranked}))}
    member = np.zeros((len(lists), len(films)))
    for row, ranked in enumerate(lists):
        member[row, [films[m] for m in ranked]] = 1.0
    shared = member @ member.T
    pairs = len(lists) * (len(lists) - 1)
    return float((shared.sum() - np.trace(shared)) / pairs / TOP_K)


def ratios(table: dict[str, dict[str, Cell]], protocol: str) -> tuple[float, float]:
    """(cinematch ÷ the better popularity, cinematch ÷ EASE) on ``protocol``; on the deck,
    the EASE told the skipped films."""
    ours = table["cinematch"][protocol].ndcg_at_10
    popular = max(table["popularity (count)"][protocol].ndcg_at_10,
                  table["popularity (served)"][protocol].ndcg_at_10)
    ease = DECK_EASE if protocol.startswith("deck") and DECK_EASE in table else "EASE"
    return ours / popular, ours / table[ease][protocol].ndcg_at_10


def serving_us(setup: Setup, recommender: Recommender, runs: int) -> dict[str, float]:
    """Median µs of ``recommend`` for deck-5 and random-10 newcomers (fold-ins included)."""
    out = {}
    for protocol in ("deck-5", "random-10"):
        sessions = [s for s in setup.sessions if s.protocol == protocol][:runs]
        for s in sessions[:20]:
            recommender.recommend(s.given, TOP_K, skipped=s.skipped)
        samples = []
        for s in sessions:
            started = time.perf_counter_ns()
            recommender.recommend(s.given, TOP_K, skipped=s.skipped)
            samples.append((time.perf_counter_ns() - started) / 1000)
        out[protocol] = round(statistics.median(samples), 1)
    return out


def full_histories() -> dict[str, Any] | None:
    """bench/ranking.py's served list against the best tuned peer per dataset, from its JSON."""
    if not RANKING_JSON.is_file():
        return None
    data = json.loads(RANKING_JSON.read_text())
    if "datasets" not in data:
        return None
    return {"generated_at": data.get("generated_at"), "datasets": {
        record["dataset"]: {"ratio": record["ratio_to_best_peer"],
                            "best_peer": record["best_peer"],
                            "in_standard_errors":
                                record["paired_vs_best_peer"]["in_standard_errors"],
                            "target_met": record["target_met"]}
        for record in data["datasets"] if "test" in record}}


def report(setup: Setup, table: dict[str, dict[str, Cell]], timings: dict[str, float],
           full: dict[str, Any] | None) -> list[str]:
    lines = [f"{'NDCG@10 (Recall@10)':<26}" + "".join(f"{p:>17}" for p in PROTOCOLS)]
    for name, cells in table.items():
        lines.append(f"{name:<26}" + "".join(
            f"{f'{cells[p].ndcg_at_10:.4f} ({cells[p].recall_at_10:.3f})':>17}" if p in cells
            else f"{'':>17}" for p in PROTOCOLS))
    lines.append(f"{'newcomers measured':<26}" + "".join(
        f"{table['cinematch'][p].n:>17}" for p in PROTOCOLS))
    lines += ["", f"share of the top-10 among the {CHART} most rated films: " + ", ".join(
        f"{name} {cells['random-5'].in_chart:.2f}" for name, cells in table.items()
        if "random-5" in cells) + " (random-5)"]
    lines += ["", "random-5, how personal: mean pairwise overlap of the top-10s, catalogue "
              "coverage: " + "; ".join(
                  f"{name} {cells['random-5'].overlap:.3f}, {cells['random-5'].coverage:.3f}"
                  for name, cells in table.items() if "random-5" in cells)]
    lines += ["", "cinematch ÷ best popularity, ÷ EASE (deck: the EASE told the skips): "
              + "; ".join("{}: {:.2f}×, {:.2f}×".format(p, *ratios(table, p))
                          for p in PROTOCOLS)]
    deck = {name: table[name]["deck-5"].ndcg_at_10 for name in
            ("cinematch", "cinematch, skips unused", "EASE", "EASE, skipped excluded")}
    lines.append(f"deck-5: cinematch ÷ EASE with the skipped films excluded "
                 f"{deck['cinematch'] / deck['EASE, skipped excluded']:.2f}×; without sending "
                 f"the skips {deck['cinematch, skips unused'] / deck['EASE']:.2f}× EASE")
    lines.append("serving (Recommender.recommend, top 10, median µs): " + ", ".join(
        f"{k}: {v:.0f}" for k, v in timings.items()))
    lines += ["", "targets:"]
    for protocol, (vs_pop, vs_ease) in TARGETS.items():
        pop_ratio, ease_ratio = ratios(table, protocol)
        ease = DECK_EASE if protocol.startswith("deck") else "EASE"
        lines.append(_verdict(f"{protocol}: ≥ {vs_pop}× popularity ({pop_ratio:.2f}×) and ≥ "
                              f"{vs_ease}× {ease} ({ease_ratio:.2f}×)",
                              pop_ratio >= vs_pop and ease_ratio >= vs_ease))
    ours, ease_overlap = (table[n]["random-5"].overlap for n in ("cinematch", "EASE"))
    full_overlap = table[FULL_HISTORY_EASE[0]]["random-5"].overlap
    lines.append(_verdict(f"random-5: top-10 overlap ≤ EASE's ({ours:.3f} vs {ease_overlap:.3f}; "
                          f"the full-history EASE's {full_overlap:.3f})", ours <= ease_overlap))
    if full is None:
        lines.append("  full histories: run bench/ranking.py first (no bench/results/ranking.json)")
    else:
        for name, figures in full["datasets"].items():
            lines.append(_verdict(
                f"full histories, {name} (bench/ranking.py, {full['generated_at']}): "
                f"{figures['ratio']:.4f}× {figures['best_peer']} ≥ {TARGET_FULL}×, paired "
                f"{figures['in_standard_errors']:.1f} SE > 2", figures["target_met"]))
    return lines


def tune(validation: Setup, chosen: dict[tuple[str, str], tuple[str, float]]) -> list[str]:
    """Each grid point's NDCG@10 on validation newcomers and its random-5 overlap; the best is
    the one whose worst target protocol is closest to its bar (NDCG@10 ÷ the target × the
    stronger reference), among the points whose overlap is at most EASE's (point 4's target),
    or among all if none is."""
    setup = with_eases(validation, chosen)
    base = measure(setup, Recommender(setup.artifact),
                   only=("popularity (count)", "popularity (served)", "EASE", DECK_EASE,
                         FULL_HISTORY_EASE[0]))
    bars = {p: max(max(base["popularity (count)"][p].ndcg_at_10,
                       base["popularity (served)"][p].ndcg_at_10) * vs_pop,
                   base[DECK_EASE if p.startswith("deck") else "EASE"][p].ndcg_at_10 * vs_ease)
            for p, (vs_pop, vs_ease) in TARGETS.items()}
    ease_overlap = base["EASE"]["random-5"].overlap
    lines = [f"{'reference':<62}" + "".join(f"{p:>10}" for p in PROTOCOLS) + "   overlap"]
    for name, cells in base.items():
        lines.append(f"{name:<62}" + "".join(f"{cells[p].ndcg_at_10:>10.4f}" if p in cells
                                             else f"{'':>10}" for p in PROTOCOLS)
                     + (f"{cells['random-5'].overlap:>10.3f}" if "random-5" in cells else ""))
    lines.append(f"{'bar (target × the stronger reference)':<62}"
                 + "".join(f"{bars[p]:>10.4f}" if p in bars else f"{'':>10}" for p in PROTOCOLS))
    points: list[tuple[bool, float, RankingWeights]] = []
    measured: dict[RankingWeights, str] = {}
    for change in ({}, *TUNE_GRID):
        weights = replace(RankingWeights(), **change)
        label = ", ".join(f"{k}={v:g}" for k, v in change.items()) or "shipped defaults"
        if weights in measured:  # a point the defaults already are: measured once
            lines.append(f"{label:<62}  = {measured[weights]}")
            continue
        measured[weights] = label
        cells = measure(setup, Recommender(setup.artifact, weights=weights),
                        only=("cinematch",))["cinematch"]
        worst = min(cells[p].ndcg_at_10 / bars[p] for p in TARGETS)
        overlap = cells["random-5"].overlap
        points.append((overlap <= ease_overlap, worst, weights))
        lines.append(f"{label:<62}" + "".join(f"{cells[p].ndcg_at_10:>10.4f}" for p in PROTOCOLS)
                     + f"{overlap:>10.3f}  worst ÷ bar {worst:.3f}, coverage "
                       f"{cells['random-5'].coverage:.3f}")
    personal, worst, best = max(points, key=lambda point: point[:2])
    lines.append(f"best ({'overlap ≤ EASE' if personal else 'no point has overlap ≤ EASE'}, "
                 f"worst ÷ bar {worst:.3f}): {best}")
    lines.append(f"shipped: {RankingWeights()}")
    return lines


def holdouts(ratings: pd.DataFrame, n_test: int, n_validation: int
             ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(training ratings, test newcomers, the training ratings without the validation
    newcomers, validation newcomers). Validation newcomers come out of the training users
    only: EASE's λ (and, with ``--tune``, the ranking weights) are chosen on them, and the test
    newcomers are measured once."""
    train, test = users_holdout(ratings, n_test, SEED)
    fit_part, validation = users_holdout(train, n_validation, SEED + 1)
    return train, test, fit_part, validation


def main(argv: list[str] | None = None) -> int:
    parser = harness.arguments(__doc__, "100 newcomers", "newcomers")
    parser.add_argument("--data-root", type=Path, default=harness.DATA_ROOT)
    parser.add_argument("--newcomers", type=int, default=150, help="users held out")
    parser.add_argument("--tune", action="store_true",
                        help="grid-search on validation newcomers instead (test never seen)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if harness.missing_data(args.data_root, "ml-1m"):
        return 2
    dataset = load_dataset(args.data_root / "ml-1m")
    n = 100 if args.quick else args.newcomers
    n_validation = 100 if args.quick else VALIDATION_NEWCOMERS
    train, newcomers, fit_part, held = holdouts(dataset.ratings, n, n_validation)
    validation = prepare(fit_part, held, dataset.movies)
    chosen, ease_lines = tune_ease(validation)
    load = f"{os.cpu_count()} CPUs (shared), load {harness.load_average():.1f}"
    if args.tune:
        header = (f"ml-1m partial ({len(dataset.ratings)} ratings): "
                  f"{held['user_id'].nunique()} validation newcomers held out of the training "
                  f"users (seed {SEED + 1}); {load}")
        print("\n".join([header, "", *ease_lines, "", *tune(validation, chosen)]))
        return 0
    del validation
    setup = with_eases(prepare(train, newcomers, dataset.movies), chosen)
    header = (f"ml-1m partial ({len(dataset.ratings)} ratings): {newcomers['user_id'].nunique()} "
              f"test newcomers held out of training (seed {SEED}); EASE's λ chosen on "
              f"{held['user_id'].nunique()} validation newcomers held out of the training "
              f"users (seed {SEED + 1}); {load}")
    recommender = Recommender(setup.artifact)
    table = measure(setup, recommender)
    timings = serving_us(setup, recommender, 100 if args.quick else 300)
    full = full_histories()
    print("\n".join([header, f"ranking weights: {recommender.weights}", "", *ease_lines, "",
                     *report(setup, table, timings, full)]))
    harness.write_json(args.json or (None if args.quick else harness.RESULTS / "newcomers.json"), {
        "generated_at": harness.now(),
        "data": "ml-1m partial", "newcomers": int(newcomers["user_id"].nunique()),
        "seed": SEED, "load_average": harness.load_average(),
        "weights": asdict(recommender.weights),
        "ease_chosen_on_validation": {f"{name} / {p}": {"kind": kind, "l2": l2}
                                      for (name, p), (kind, l2) in chosen.items()},
        "ndcg_at_10": {name: {p: asdict(c) for p, c in cells.items()}
                       for name, cells in table.items()},
        "ratios": {p: dict(zip(("vs_popularity", "vs_ease"),
                               (round(x, 3) for x in ratios(table, p)), strict=True))
                   for p in PROTOCOLS},
        "serving_us": timings, "full_histories": full,
    })
    return 0


def _verdict(label: str, ok: bool) -> str:
    return f"  {label}: {harness.verdict(ok)}"


if __name__ == "__main__":
    raise SystemExit(main())
