"""Full histories: CineMatch's served list against every tuned peer, on three datasets.

    nice -n 10 .venv/bin/python bench/ranking.py [--data-root DIR] [--datasets A,B] [--quick]
                                                 [--tune] [--json PATH] [--merge JSON…]
                                                 [--peers-from JSON]

EASE (weighted and binary), iALS and RP3β, each tuned on validation carved from training,
against ``fit_artifact``'s defaults through ``Recommender.recommend``; the test split is read
once. ``--tune`` reads validation only. Target: ≥ 1.02× the best peer on each dataset.
Protocol: bench/README.md. Results: ``bench/results/ranking.json``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from bench.harness import DATA_ROOT, RESULTS, arguments, load_average, missing_data, now, write_json
from ml.blas import single_threaded_blas
from ml.data import load_dataset
from ml.data.split import random_split, validation_split
from ml.models.contract import UserRatings
from ml.models.ease import EASE
from ml.models.ease.sparse import SparseEaseParams, fit_sparse_ease, spd_inverse
from ml.models.funksvd.model import FunkSVDParams
from ml.models.ials import IALS, ImplicitParams
from ml.models.matrix import IdMap, RatingMatrix
from ml.rules import POSITIVE_RATING
from ml.serving.ranking import RankingWeights, top_n_indices
from ml.serving.recommender import Recommender
from ml.training.metrics import catalogue_coverage, ndcg_at_k, recall_at_k
from ml.training.pipeline import fit_artifact, rating_matrix

log = logging.getLogger("bench.ranking")

DEFAULT_JSON = RESULTS / "ranking.json"
DATASETS = ("ml-1m", "ml-latest-small", "ml-100k")
TEST_FRACTION, SEED = 0.1, 42
VALIDATION_FRACTION, VALIDATION_SEED = 0.1, 7
TOP_K = 10
TARGET_VS_BEST_PEER = 1.02
USER_BLOCK = 512

#: Each peer's grid, searched on validation.
PEER_GRIDS: dict[str, tuple[dict[str, float], ...]] = {
    "EASE, rating-weighted": tuple({"l2": v} for v in (1000.0, 2000.0, 4000.0, 8000.0)),
    "EASE, binary": tuple({"l2": v} for v in (250.0, 500.0, 1000.0)),
    "implicit ALS": tuple({"unobserved_weight": a, "reg": r}
                          for a in (0.1, 0.3) for r in (0.003, 0.01)),
    "RP3beta": tuple({"alpha": a, "beta": b} for a in (0.6, 1.0) for b in (0.25, 0.5)),
}
#: ``--tune``: CineMatch's full-history weights (item-item, FunkSVD, popularity; iALS 1).
BLEND_GRID = tuple({"item_item": e, "rating": r, "popularity": p}
                   for e in (0.0, 0.5, 0.7, 1.0, 1.5) for r in (0.2, 0.3, 0.4)
                   for p in (0.0, 0.05, 0.25))
#: ``--tune``: the item-item term's λ per user (at the default blend).
ITEM_ITEM_GRID = (1.5, 3.0, 6.0)

Scorer = Callable[[npt.NDArray[np.float32]], npt.NDArray[np.float64]]


@dataclass(frozen=True)
class Split:
    """Training ratings on dense indices, and what each measured user wants."""

    train: pd.DataFrame
    users: IdMap
    items: IdMap
    x: npt.NDArray[np.float32]  # users × items, the ratings (0: unrated)
    wanted: dict[int, set[int]]  # user index → positive item indices

    @classmethod
    def of(cls, train: pd.DataFrame, held: pd.DataFrame) -> Split:
        users = IdMap.from_values(train["user_id"].to_numpy())
        items = IdMap.from_values(train["movie_id"].to_numpy())
        x = np.zeros((len(users), len(items)), dtype=np.float32)
        x[users.indices(train["user_id"].to_numpy()),
          items.indices(train["movie_id"].to_numpy())] = train["rating"].to_numpy(np.float32)
        positives = held[held["rating"] >= POSITIVE_RATING]
        u = users.indices(positives["user_id"].to_numpy())
        i = items.indices(positives["movie_id"].to_numpy())
        wanted: dict[int, set[int]] = {}
        for user, item in zip(u.tolist(), i.tolist(), strict=True):
            if user >= 0 and item >= 0:
                wanted.setdefault(user, set()).add(item)
        return cls(train, users, items, x, dict(sorted(wanted.items())))

    @property
    def matrix(self) -> RatingMatrix:
        return rating_matrix(self.train, self.users, self.items)


@dataclass(frozen=True)
class Row:
    """One model measured on one split; ``per_user`` NDCG@10 in ``Split.wanted`` order."""

    model: str
    settings: dict[str, Any]
    ndcg_at_10: float
    recall_at_10: float
    coverage: float
    n_users: int
    per_user: npt.NDArray[np.float64]

    def as_json(self) -> dict[str, Any]:
        return {"model": self.model, "settings": self.settings,
                "ndcg_at_10": round(self.ndcg_at_10, 4),
                "recall_at_10": round(self.recall_at_10, 4),
                "coverage": round(self.coverage, 4), "n_users": self.n_users}


def measure(split: Split, name: str, settings: dict[str, Any],
            lists: list[list[int]]) -> Row:
    """NDCG@10, Recall@10 and coverage of ``lists`` (item indices, one per wanted user)."""
    ndcg = np.array([ndcg_at_k(ranked, wanted, TOP_K)
                     for ranked, wanted in zip(lists, split.wanted.values(), strict=True)])
    recall = [recall_at_k(ranked, wanted, TOP_K)
              for ranked, wanted in zip(lists, split.wanted.values(), strict=True)]
    row = Row(name, settings, float(ndcg.mean()), float(np.mean(recall)),
              catalogue_coverage(lists, len(split.items)), len(lists), ndcg)
    log.info("%s %s: NDCG@10 %.4f", name, settings, row.ndcg_at_10)
    return row


def top_lists(split: Split, scorer: Scorer) -> list[list[int]]:
    """Each wanted user's top-10 by ``scorer`` (rows of X → scores), rated films excluded."""
    users = np.array(list(split.wanted), dtype=np.int64)
    lists = []
    for first in range(0, len(users), USER_BLOCK):
        block = users[first:first + USER_BLOCK]
        scores = scorer(split.x[block])
        for row, user in enumerate(block.tolist()):
            rated = np.flatnonzero(split.x[user])
            lists.append(top_n_indices(scores[row], TOP_K, exclude=rated).tolist())
    return lists


def ease_weights(x: npt.NDArray[np.float32], l2: float) -> npt.NDArray[np.float32]:
    """EASE's B for the user × item matrix ``x`` (binary or rating-weighted)."""
    gram = x.T @ x  # float32 throughout: half the time; λ keeps it well conditioned
    gram[np.diag_indices_from(gram)] += l2
    precision = spd_inverse(gram)
    precision /= -np.diag(precision)
    precision[np.diag_indices_from(precision)] = 0.0
    return precision


def rp3beta_weights(x: npt.NDArray[np.float32], alpha: float,
                    beta: float) -> npt.NDArray[np.float64]:
    """RP3β (Paudel et al. 2016): W = (P_iu P_ui)^α / pop_j^β, zero diagonal, binary X."""
    binary = (x > 0).astype(np.float64)
    user_degree = np.maximum(binary.sum(axis=1, keepdims=True), 1.0)
    item_degree = np.maximum(binary.sum(axis=0), 1.0)
    walk = (binary / item_degree).T @ (binary / user_degree)  # item → user → item
    weights = np.power(walk, alpha) / np.power(item_degree, beta)[None, :]
    weights[np.diag_indices_from(weights)] = 0.0
    return weights


def peer_scorer(split: Split, peer: str, settings: dict[str, float]) -> Scorer:
    """Fit ``peer`` with ``settings`` to ``split``'s training part; return its scorer.

    One BLAS thread: on the shared two cores OpenBLAS's spinning threads made the inverses
    3x slower than one thread."""
    with single_threaded_blas():
        return _fitted_peer(split, peer, settings)


def _fitted_peer(split: Split, peer: str, settings: dict[str, float]) -> Scorer:
    x = split.x
    if peer == "EASE, rating-weighted":
        b = ease_weights(x, settings["l2"])
        return lambda rows: rows @ b
    if peer == "EASE, binary":
        b = ease_weights((x > 0).astype(np.float32), settings["l2"])
        return lambda rows: (rows > 0).astype(np.float32) @ b
    if peer == "RP3beta":
        w = rp3beta_weights(x, settings["alpha"], settings["beta"]).astype(np.float32)
        return lambda rows: (rows > 0).astype(np.float32) @ w
    if peer == "implicit ALS":
        params = ImplicitParams(rating_confidence=0.0, dislike_below=0.0,
                                fold_in_half_ratings=0.0, **settings)
        model = IALS(params).fit(split.matrix)

        def scores(rows: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
            vectors = np.array([model.fold_in(UserRatings.of(np.flatnonzero(r), r[r > 0]))
                                for r in rows])
            return vectors @ model.item_factors.T.astype(np.float64)
        return scores
    raise ValueError(peer)


def tune_peers(split: Split) -> dict[str, list[Row]]:
    """Every peer's grid measured on ``split`` (the validation split)."""
    return {peer: [measure(split, peer, settings, top_lists(split, peer_scorer(split, peer,
                                                                               settings)))
                   for settings in grid]
            for peer, grid in PEER_GRIDS.items()}


def cinematch_lists(split: Split, movies: pd.DataFrame,
                    recommender: Recommender | None = None) -> list[list[int]]:
    """Each wanted user's served top-10 (``Recommender.recommend``), as item indices."""
    if recommender is None:
        with single_threaded_blas():
            recommender = Recommender(fit_artifact(split.train, movies, FunkSVDParams(),
                                                   progress=False).artifact)
    lists = []
    for user in split.wanted:
        rated = np.flatnonzero(split.x[user])
        history = {int(m): float(r) for m, r in zip(
            split.items.ids[rated].tolist(), split.x[user, rated].tolist(), strict=True)}
        served = recommender.recommend(history, TOP_K)
        lists.append(split.items.indices([r.movie_id for r in served.items]).tolist())
    return lists


def paired(ours: Row, peer: Row) -> dict[str, float]:
    """Mean per-user NDCG@10 difference (ours − peer) and its standard error."""
    diff = ours.per_user - peer.per_user
    se = float(diff.std(ddof=1) / np.sqrt(len(diff)))
    return {"difference": round(float(diff.mean()), 4), "standard_error": round(se, 4),
            "in_standard_errors": round(float(diff.mean()) / se, 2) if se > 0 else 0.0}


def run_dataset(folder: Path, tune: bool,
                earlier: dict[str, Any] | None = None) -> dict[str, Any]:
    """One dataset: validation (peers tuned), then the test split once (unless ``tune``).

    ``earlier``: this dataset's record of an earlier run (``--peers-from``), whose peers'
    choices on validation are taken as they were instead of tuning them again."""
    started = time.perf_counter()
    dataset = load_dataset(folder)
    train, test = random_split(dataset.ratings, TEST_FRACTION, SEED)
    if earlier is None:
        fit, held = validation_split(train, VALIDATION_FRACTION, VALIDATION_SEED)
        validation = Split.of(fit, held)
        tuned = tune_peers(validation)
        best = {peer: max(rows, key=lambda r: r.ndcg_at_10) for peer, rows in tuned.items()}
        record: dict[str, Any] = {
            "dataset": folder.name, "ratings": len(dataset.ratings),
            "validation": {peer: [r.as_json() for r in rows] for peer, rows in tuned.items()},
            "chosen": {peer: row.settings for peer, row in best.items()}}
    else:
        chosen = earlier["chosen"]
        best = {peer: Row(peer, chosen[peer], 0.0, 0.0, 0.0, 0, np.empty(0))
                for peer in PEER_GRIDS}
        record = {"dataset": folder.name, "ratings": len(dataset.ratings),
                  "validation": earlier["validation"], "chosen": chosen,
                  "peers_chosen_in": earlier["peers_chosen_in"]}
    if tune:
        record["blend_grid"] = tune_blend(validation, dataset.movies, best)
        record["seconds"] = round(time.perf_counter() - started, 1)
        return record
    split = Split.of(train, test)
    rows = [measure(split, peer, row.settings, top_lists(split, peer_scorer(split, peer,
                                                                            row.settings)))
            for peer, row in best.items()]
    with single_threaded_blas():
        artifact = fit_artifact(split.train, dataset.movies, FunkSVDParams(),
                                progress=False).artifact
    ours = measure(split, "CineMatch", {"ml.training.train": "defaults"},
                   cinematch_lists(split, dataset.movies, Recommender(artifact)))
    # What the stored item-item term's size budget and float16 weights cost: the same model
    # with every neighbour kept (up to SparseEaseParams.neighbours) in float32.
    full = EASE(replace(SparseEaseParams(), max_weights=2**62),
                sparse=fit_sparse_ease(split.matrix, replace(SparseEaseParams(),
                                                             max_weights=2**62),
                                       weight_dtype=np.float32))
    full_row = measure(split, "CineMatch, item-item unbudgeted float32", {},
                       cinematch_lists(split, dataset.movies,
                                       Recommender(replace(artifact, item_item=full))))
    served_term = artifact.item_item.sparse if artifact.item_item is not None else None
    record["item_item_weights"] = {"served": len(served_term.weights) if served_term else 0,
                                   "unbudgeted": len(full.sparse.weights) if full.sparse else 0}
    record["served_vs_unbudgeted_float32"] = {"ndcg_at_10": round(full_row.ndcg_at_10, 4),
                                              **paired(ours, full_row)}
    best_peer = max(rows, key=lambda r: r.ndcg_at_10)
    versus = paired(ours, best_peer)
    record["test"] = [r.as_json() for r in (ours, *rows)]
    record["best_peer"] = best_peer.model
    record["ratio_to_best_peer"] = round(ours.ndcg_at_10 / best_peer.ndcg_at_10, 4)
    record["paired_vs_best_peer"] = versus
    record["target_met"] = bool(record["ratio_to_best_peer"] >= TARGET_VS_BEST_PEER
                                and versus["in_standard_errors"] > 2)
    record["test_users"] = len(split.wanted)
    record["seconds"] = round(time.perf_counter() - started, 1)
    return record


def tune_blend(validation: Split, movies: pd.DataFrame,
               best: dict[str, Row]) -> list[dict[str, Any]]:
    """CineMatch on the validation split under each ``BLEND_GRID`` and ``ITEM_ITEM_GRID``
    point, as ratios to the best peer there."""
    bar = max(r.ndcg_at_10 for r in best.values())
    with single_threaded_blas():
        fitted = fit_artifact(validation.train, movies, FunkSVDParams(), progress=False)
    out = []
    defaults = RankingWeights()
    for change in BLEND_GRID:
        recommender = Recommender(fitted.artifact, weights=replace(defaults, **change))
        row = measure(validation, "CineMatch", change, cinematch_lists(validation, movies,
                                                                       recommender))
        out.append({**change, "ndcg_at_10": round(row.ndcg_at_10, 4),
                    "ratio": round(row.ndcg_at_10 / bar, 4)})
    matrix = validation.matrix
    for l2 in ITEM_ITEM_GRID:
        item_item = EASE(replace(SparseEaseParams(), l2_per_user=l2)).fit(matrix)
        recommender = Recommender(replace(fitted.artifact, item_item=item_item))
        row = measure(validation, "CineMatch", {"l2_per_user": l2},
                      cinematch_lists(validation, movies, recommender))
        out.append({"l2_per_user": l2, "ndcg_at_10": round(row.ndcg_at_10, 4),
                    "ratio": round(row.ndcg_at_10 / bar, 4)})
    return out


def report(records: list[dict[str, Any]], tune: bool) -> list[str]:
    lines = []
    for record in records:
        lines += ["", f"{record['dataset']} ({record['ratings']} ratings; "
                      f"{record['seconds']:.0f} s)",
                  "peers chosen on validation: " + "; ".join(
                      f"{peer} {settings}" for peer, settings in record["chosen"].items())]
        if tune:
            grid = sorted(record["blend_grid"], key=lambda r: -r["ratio"])
            lines += [f"  {r}" for r in grid[:8]]
            continue
        lines.append(f"{'model':<24}{'NDCG@10':>9}{'Recall@10':>11}{'coverage':>10}")
        for row in record["test"]:
            lines.append(f"{row['model']:<24}{row['ndcg_at_10']:>9.4f}"
                         f"{row['recall_at_10']:>11.4f}{row['coverage']:>10.4f}")
        versus = record["paired_vs_best_peer"]
        lines.append(
            f"CineMatch ÷ {record['best_peer']}: {record['ratio_to_best_peer']:.4f}×; paired "
            f"difference {versus['difference']:+.4f} ± {versus['standard_error']:.4f} "
            f"({versus['in_standard_errors']:.1f} SE, {record['test_users']} users); target "
            f"≥ {TARGET_VS_BEST_PEER}× and > 2 SE: "
            f"{'met' if record['target_met'] else 'NOT met'}")
        if "served_vs_unbudgeted_float32" in record:
            full = record["served_vs_unbudgeted_float32"]
            weights = record["item_item_weights"]
            lines.append(
                f"served item-item term ({weights['served']:,} float16 weights) against "
                f"{weights['unbudgeted']:,} in float32: NDCG@10 {full['ndcg_at_10']:.4f} "
                f"unbudgeted; paired difference {full['difference']:+.4f} ± "
                f"{full['standard_error']:.4f} ({full['in_standard_errors']:.1f} SE)")
    if tune:
        lines += ["", "blend grid, mean ratio to the best peer over the datasets:"]
        keys: dict[str, list[float]] = {}
        for record in records:
            for point in record["blend_grid"]:
                label = json.dumps({k: v for k, v in point.items()
                                    if k not in ("ndcg_at_10", "ratio")})
                keys.setdefault(label, []).append(point["ratio"])
        for label, ratios in sorted(keys.items(), key=lambda kv: -np.mean(kv[1]))[:10]:
            lines.append(f"  {np.mean(ratios):.4f} (min {min(ratios):.4f}) {label}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = arguments(__doc__, "ml-100k only, nothing written", "ranking")
    parser.add_argument("--data-root", type=Path, default=DATA_ROOT)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--tune", action="store_true",
                        help="validation only: the peers' and CineMatch's grids")
    parser.add_argument("--merge", type=Path, nargs="+", metavar="JSON",
                        help="join the datasets of earlier runs' --json files (run apart, "
                             "e.g. in parallel) into one result; nothing is measured")
    parser.add_argument("--peers-from", type=Path, metavar="JSON",
                        help="take the peers' settings chosen on validation from an earlier "
                             "run's results instead of tuning them again (the test split is "
                             "still measured here, for every model)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    earlier: dict[str, dict[str, Any]] = {}
    if args.peers_from:
        previous = json.loads(args.peers_from.read_text())
        earlier = {d["dataset"]: {**d, "peers_chosen_in": d.get(
            "peers_chosen_in", f"{args.peers_from.name} of {previous['generated_at']}")}
            for d in previous["datasets"]}
    if args.merge:
        parts = [json.loads(path.read_text()) for path in args.merge]
        merged = {**parts[0], "datasets": [d for part in parts for d in part["datasets"]]}
        print("\n".join(report(merged["datasets"], False)))
        write_json(args.json or DEFAULT_JSON, merged)
        return 0
    names = ["ml-100k"] if args.quick else [name for name in args.datasets.split(",") if name]
    if missing_data(args.data_root, *names):
        return 2
    records = [run_dataset(args.data_root / name, args.tune, earlier.get(name))
               for name in names]
    lines = [f"{os.cpu_count()} CPUs (shared), load {load_average():.1f}; "
             f"random 90/10 per user (seed {SEED}), positives ≥ {POSITIVE_RATING:g}"]
    lines += report(records, args.tune)
    print("\n".join(lines))
    record = {"generated_at": now(),
              "protocol": {"test_fraction": TEST_FRACTION, "seed": SEED,
                           "validation_fraction": VALIDATION_FRACTION,
                           "validation_seed": VALIDATION_SEED, "top_k": TOP_K,
                           "positive_rating": POSITIVE_RATING},
              "cinematch_defaults": {"ranking_weights": asdict(RankingWeights()),
                                     "item_item": asdict(SparseEaseParams())},
              "load_average": load_average(), "datasets": records}
    write_json(args.json or (None if args.tune or names != list(DATASETS) else DEFAULT_JSON),
               record)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
