"""Full-size training and serving on this machine, on MovieLens-shaped synthetic data.

    nice .venv/bin/python bench/scale.py [--sizes 1M,4M,16M,32M,full-catalogue | --quick]
                                         [--work DIR] [--merge] [--json PATH] [--png PATH]

Per size: seeded data (``bench/harness/synthetic_movielens.py``), ``make train`` timed as a
user runs it, then RMSE, NDCG@10, recommend and search latency (wall and CPU) in process and
the API's memory. Targets: 32M ratings trained in ≤ 15 min and ≤ 8 GB peak; at 87k films API
resident ≤ 1.5 GB, personal recommend p99 ≤ 5 ms, search p99 ≤ 20 ms. Protocol:
bench/README.md. Results: ``bench/results/scale.json`` and ``scale.png``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.harness import REPO, RESULTS, arguments, now, write_json
from bench.harness.api_server import ApiServer
from bench.harness.synthetic_movielens import (
    FULL_FILMS,
    FULL_USERS,
    Shape,
    Written,
    generate,
)
from ml.serving.recommender import Recommender
from ml.text.search import MovieIndex
from ml.training.metrics import ndcg_at_k, rmse

SIZES = {"1M": 1_000_000, "4M": 4_000_000, "16M": 16_000_000, "32M": 32_000_000}
#: The serving side at full size without a full-size training: ml-32m's films and users with
#: 6M ratings (each user still has ~20+), so the 87k-film model is measured sooner.
FULL_CATALOGUE = "full-catalogue"
TARGETS = {"train_minutes_32m": 15.0, "train_peak_gb_32m": 8.0, "api_resident_gb": 1.5,
           "recommend_p99_ms": 5.0, "search_p99_ms": 20.0}
NEWCOMER_RATINGS = 15


@dataclass(frozen=True)
class SizeResult:
    label: str
    ratings: int
    users: int
    films: int
    generate_seconds: float
    train_seconds: float
    train_cpu_seconds: float | None  # None: not recorded (runs before this field existed)
    train_peak_gb: float
    train_flags: str  # TRAIN_ARGS beyond make train's defaults
    funksvd_seconds: float
    ials_seconds: float
    model_megabytes: float
    load_seconds: float
    rmse: float
    ndcg_at_10: float
    ndcg_at_10_popularity: float  # the same users' popularity list: the baseline
    eval_users: int
    recommend_ms: dict[str, float]
    search_ms: dict[str, float]
    onboarding: dict[str, float]
    api_resident_gb: float
    api_peak_gb: float
    load_average: str
    git_commit: str | None = None  # the code that trained it (manifest); None: older runs
    item_item_seconds: float | None = None  # the ranking's item-item term; None: older runs
    train_command: str = "python -m ml.training.train --test-fraction 0 --validation-fraction 0"


def train(folder: Path, out: Path, extra: list[str]) -> tuple[float, float, float]:
    """Run the real CLI; its wall seconds, CPU seconds (user + system: what the run costs
    whatever else shares the cores) and peak resident GB, from this child's own rusage."""
    command = ["make", "--no-print-directory", "train", f"DATA={folder}", f"OUT={out}",
               f"TRAIN_ARGS={' '.join(extra)}"]
    started = time.perf_counter()
    with open(out.parent / "train.log", "w") as log:
        child = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"training failed; see {out.parent / 'train.log'}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 2**20  # KiB → GiB


def percentiles(samples: list[tuple[float, float]]) -> dict[str, float]:
    """p50/p99 of wall time and of this thread's CPU time, in ms. On a shared machine the wall
    p99 mostly measures how long other jobs held the cores; CPU time is the call's own work."""
    wall, cpu = (np.asarray(column) / 1e6 for column in zip(*samples, strict=True))
    return {"p50": round(float(np.percentile(wall, 50)), 3),
            "p99": round(float(np.percentile(wall, 99)), 3),
            "cpu_p50": round(float(np.percentile(cpu, 50)), 3),
            "cpu_p99": round(float(np.percentile(cpu, 99)), 3), "n": len(wall)}


def timed(call: Any, runs: list[Any]) -> list[tuple[float, float]]:
    """(wall ns, CPU ns) of ``call(argument)`` for each argument."""
    samples = []
    for argument in runs:
        wall, cpu = time.perf_counter_ns(), time.thread_time_ns()
        call(argument)
        samples.append((time.perf_counter_ns() - wall, time.thread_time_ns() - cpu))
    return samples


def evaluate(model_dir: Path, eval_folder: Path, max_users: int,
             seed: int = 0) -> dict[str, Any]:
    """RMSE, NDCG@10, recommend and search latency, onboarding deck, in this process."""
    started = time.perf_counter()
    recommender = Recommender.load(model_dir)
    load_seconds = time.perf_counter() - started
    artifact = recommender.artifact
    holdout = pd.read_csv(eval_folder / "holdout.csv")
    history = pd.read_csv(eval_folder / "history.csv")
    users = artifact.users.indices(holdout["userId"].to_numpy())
    items = artifact.items.indices(holdout["movieId"].to_numpy())
    predicted = artifact.model.predict_pairs(users, items)
    error = rmse(predicted, holdout["rating"].to_numpy())

    rng = np.random.default_rng(seed)
    positives, histories, chosen = evaluation_users(holdout, history, max_users, rng)
    recommender.recommend(histories[chosen[0]])  # warm-up
    scores, popular_scores, lists = [], [], []
    samples = timed(lambda user: lists.append(recommender.recommend(histories[user], n=10)),
                    chosen)
    for user, listed in zip(chosen, lists, strict=True):
        scores.append(ndcg_at_k([r.movie_id for r in listed.items], positives[user]))
        chart = recommender.recommend(histories[user], n=10, ranker="popularity")
        popular_scores.append(ndcg_at_k([r.movie_id for r in chart.items], positives[user]))
    popular = [m.movie_id for m in recommender.movies()[:2000]]
    newcomers = [dict(zip(rng.choice(popular, NEWCOMER_RATINGS, replace=False).tolist(),
                          rng.choice([2.0, 3.0, 3.5, 4.0, 4.5, 5.0], NEWCOMER_RATINGS).tolist(),
                          strict=True)) for _ in range(300)]
    newcomer = timed(recommender.recommend, newcomers)
    real_clusters = recommender.clusters
    recommender.clusters = np.zeros_like(real_clusters)  # worst case: every film one franchise
    worst = timed(recommender.recommend, newcomers[:100])
    recommender.clusters = real_clusters

    index = MovieIndex(recommender.movies())
    titles = [m.title for m in recommender.movies()]
    picks = rng.choice(len(titles), 200, replace=False)
    queries = ([titles[i] for i in picks[:100]] + [titles[i].split()[0][:3] for i in picks[100:]]
               + ["the", "night", "sh", "a", "empire strikes", "zzzz"])
    index.search(queries[0])
    search = timed(index.search, queries)

    counts = recommender.popularity.counts
    deck = recommender.onboarding(20)
    deck_counts = np.array([m.rating_count for m in deck])
    return {
        "load_seconds": round(load_seconds, 2), "rmse": round(error, 4),
        "ndcg_at_10": round(float(np.mean(scores)), 4),
        "ndcg_at_10_popularity": round(float(np.mean(popular_scores)), 4),
        "eval_users": len(scores),
        "recommend_ms": {"eval users (full histories)": percentiles(samples),
                         f"newcomers ({NEWCOMER_RATINGS} ratings)": percentiles(newcomer),
                         "newcomers, cap worst case (one franchise)": percentiles(worst)},
        "search_ms": percentiles(search),
        "onboarding": {
            "deck_median_ratings": float(np.median(deck_counts)),
            "deck_min_ratings": int(deck_counts.min()),
            "deck_min_popularity_percentile": round(
                float(np.mean(counts <= deck_counts.min()) * 100), 2),
            "catalogue_median_ratings": float(np.median(counts)),
        },
    }


def evaluation_users(holdout: pd.DataFrame, history: pd.DataFrame, max_users: int,
                     rng: np.random.Generator) -> tuple[dict[int, set[int]],
                                                       dict[int, dict[int, float]], list[int]]:
    """Each evaluation user's held-out films rated ≥ 4 and rating history, and up to
    ``max_users`` of the users who have both, drawn with ``rng``."""
    positives = {u: set(g["movieId"]) for u, g in holdout[holdout["rating"] >= 4.0]
                 .groupby("userId")}
    histories = {u: dict(zip(g["movieId"].tolist(), g["rating"].tolist(), strict=True))
                 for u, g in history.groupby("userId")}
    chosen = [u for u in positives if u in histories]
    return positives, histories, [chosen[i] for i in rng.permutation(len(chosen))[:max_users]]


def api_memory(model_dir: Path, work: Path) -> tuple[float, float]:
    """Start the API on the model; its resident and peak GB after start-up and a few calls."""
    server = ApiServer(model_dir, work / "api.db").start(timeout=600)  # 87k films load slowly
    try:
        for path in ("/movies?query=night", "/onboarding/movies", "/recommend",
                     "/movies?query=empire"):
            # /recommend without a token answers 401: the point is the memory.
            with contextlib.suppress(OSError):
                urllib.request.urlopen(server.url + path, timeout=30).read()
        status = Path(f"/proc/{server.pid}/status").read_text()
    finally:
        server.stop()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    kib = {key: int(fields[key].split()[0]) for key in ("VmRSS", "VmHWM")}
    return kib["VmRSS"] / 2**20, kib["VmHWM"] / 2**20


def run_size(label: str, work: Path, eval_users: int, extra: list[str]) -> SizeResult:
    shape = (Shape(6_000_000, FULL_USERS, FULL_FILMS) if label == FULL_CATALOGUE
             else Shape.for_ratings(SIZES[label]))
    folder, eval_folder, model_dir = work / "data", work / "eval", work / "model"
    started = time.perf_counter()
    reused = (folder / "ratings.csv").is_file() and (eval_folder / "holdout.csv").is_file()
    if reused:  # generated by an earlier run into --work (same seed and shape)
        print(f"[{label}] reusing the data in {folder}", flush=True)
        ids = pd.read_csv(folder / "ratings.csv", usecols=["userId", "movieId"])
        written = Written(folder, eval_folder / "holdout.csv", eval_folder / "history.csv",
                          len(ids), ids["userId"].nunique(), ids["movieId"].nunique(),
                          len(pd.read_csv(eval_folder / "holdout.csv")))
        del ids
    else:
        print(f"[{label}] generating {shape}", flush=True)
        written = generate(shape, folder, eval_folder)
    generate_seconds = time.perf_counter() - started
    print(f"[{label}] training on {written.n_ratings:,} ratings", flush=True)
    load_average = " ".join(f"{v:.2f}" for v in os.getloadavg())
    train_seconds, cpu_seconds, peak_gb = train(folder, model_dir, extra)
    manifest = json.loads((model_dir / "manifest.json").read_text())
    if not reused:
        shutil.rmtree(folder)  # the ratings are not needed any more; the disk is shared
    print(f"[{label}] trained in {train_seconds:.0f} s, peak {peak_gb:.2f} GB; evaluating",
          flush=True)
    figures = evaluate(model_dir, eval_folder, eval_users)
    resident, peak = api_memory(model_dir, work)
    model_bytes = sum(f.stat().st_size for f in model_dir.iterdir())
    load_average += " → " + " ".join(f"{v:.2f}" for v in os.getloadavg())
    return SizeResult(
        label=label, ratings=written.n_ratings, users=written.n_users, films=written.n_films,
        generate_seconds=round(generate_seconds, 1), train_seconds=round(train_seconds, 1),
        train_cpu_seconds=round(cpu_seconds, 1), train_peak_gb=round(peak_gb, 3),
        train_flags=" ".join(extra),
        funksvd_seconds=float(manifest["training"]["seconds"]),
        ials_seconds=float(manifest["ranking"]["seconds"]),
        item_item_seconds=manifest["ranking"].get("item_item_seconds"),
        train_command="make train DATA=… (default flags)",
        model_megabytes=round(model_bytes / 1e6, 1), api_resident_gb=round(resident, 3),
        api_peak_gb=round(peak, 3), load_average=load_average,
        git_commit=str(manifest.get("git_commit", "unknown"))[:10], **figures,
    )


def plot(results: list[SizeResult], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scaled = [r for r in results if r.label in SIZES]
    extra = [r for r in results if r.label not in SIZES]
    ratings = [r.ratings / 1e6 for r in scaled]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(ratings, [r.train_seconds / 60 for r in scaled], "o-", label="train (both)")
    left.plot(ratings, [r.funksvd_seconds / 60 for r in scaled], "s--", label="FunkSVD")
    left.plot(ratings, [r.ials_seconds / 60 for r in scaled], "^--", label="iALS")
    timed_cpu = [r for r in scaled if r.train_cpu_seconds is not None]
    left.plot([r.ratings / 1e6 for r in timed_cpu],
              [(r.train_cpu_seconds or 0.0) / 60 for r in timed_cpu], "d:",
              label="train CPU time (user + sys)")
    right.plot(ratings, [r.train_peak_gb for r in scaled], "o-", label="training peak RSS")
    right.plot(ratings, [r.api_resident_gb for r in scaled], "s-", label="API resident")
    for r in extra:  # the full catalogue on fewer ratings: a point, not part of the curve
        left.plot([r.ratings / 1e6], [r.train_seconds / 60], "kx", label=f"{r.label} (87k films)")
        right.plot([r.ratings / 1e6], [r.api_resident_gb], "kx",
                   label=f"{r.label}: API resident")
    left.axhline(TARGETS["train_minutes_32m"], color="grey", lw=0.8, ls=":")
    left.set(xlabel="ratings (millions)", ylabel="minutes", title="training wall time")
    left.legend()
    right.axhline(TARGETS["train_peak_gb_32m"], color="grey", lw=0.8, ls=":")
    right.set(xlabel="ratings (millions)", ylabel="GB", title="memory")
    right.legend()
    figure.suptitle("CineMatch on MovieLens-shaped data, 2 shared cores (bench/scale.py)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = arguments(__doc__, "the 1M size only")
    parser.add_argument("--sizes", default=",".join(SIZES),
                        help=f"comma-separated, of {', '.join(SIZES)}, {FULL_CATALOGUE}")
    parser.add_argument("--work", type=Path,
                        help="scratch folder, kept; data already generated there is reused "
                             "(default: a temp folder, removed)")
    parser.add_argument("--eval-users", type=int, default=1000)
    parser.add_argument("--train-flags", default="",
                        help="more ml.training.train flags, e.g. '--n-epochs 8' for serving "
                             "figures only")
    parser.add_argument("--json", type=Path, default=RESULTS / "scale.json")
    parser.add_argument("--png", type=Path, default=RESULTS / "scale.png")
    parser.add_argument("--merge", action="store_true",
                        help="keep the other sizes already in --json (replace only those run)")
    args = parser.parse_args(argv)
    labels = ["1M"] if args.quick else [s.strip() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in labels if s not in SIZES and s != FULL_CATALOGUE]
    if unknown or not labels:
        parser.error(f"unknown size {unknown}; pick from {', '.join(SIZES)}")
    kept = earlier_results(args.json, labels) if args.merge else []
    results: list[SizeResult] = []
    # With --work, data generated there by an earlier run is reused (and kept).
    scratch = args.work or Path(tempfile.mkdtemp(prefix="cinematch-scale-"))
    try:
        for label in labels:
            results.append(run_size(label, scratch / label, args.eval_users,
                                    args.train_flags.split()))
            print(json.dumps(asdict(results[-1])), flush=True)
            write(ordered([*kept, *results]), args.json, args.png)
    finally:
        if args.work is None:
            shutil.rmtree(scratch, ignore_errors=True)
    print(summary(results))
    return 0


def earlier_results(path: Path, replaced: list[str]) -> list[SizeResult]:
    """The sizes of an earlier run in ``path`` other than ``replaced`` (``--merge``)."""
    if not path.is_file():
        return []
    sizes = json.loads(path.read_text())["sizes"]
    names = {f.name for f in fields(SizeResult)}
    return [SizeResult(**{k: v for k, v in size.items() if k in names}
                       | {k: None for k in names - size.keys()})
            for size in sizes if size["label"] not in replaced]


def ordered(results: list[SizeResult]) -> list[SizeResult]:
    """By number of ratings: the plot's x axis."""
    return sorted(results, key=lambda r: r.ratings)


def write(results: list[SizeResult], json_path: Path, png_path: Path) -> None:
    write_json(json_path, {"generated_at": now(), "cpus": os.cpu_count(), "targets": TARGETS,
                           "sizes": [asdict(r) for r in results]})
    plot(results, png_path)


def summary(results: list[SizeResult]) -> str:
    lines = ["| ratings | films | users | train wall (CPU) | peak RSS | RMSE | NDCG@10 "
             "(popularity) | API RSS | recommend p50/p99 (CPU p99) | search p99 (CPU p99) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        rec = r.recommend_ms[f"newcomers ({NEWCOMER_RATINGS} ratings)"]
        lines.append(
            f"| {r.ratings / 1e6:.2f} M | {r.films:,} | {r.users:,} | {r.train_seconds / 60:.1f} "
            f"({'-' if r.train_cpu_seconds is None else f'{r.train_cpu_seconds / 60:.1f}'}) min | "
            f"{r.train_peak_gb:.2f} GB | {r.rmse:.4f} | "
            f"{r.ndcg_at_10:.4f} "
            f"({r.ndcg_at_10_popularity:.4f}) | {r.api_resident_gb:.2f} GB | "
            f"{rec['p50']:.2f}/{rec['p99']:.2f} ({rec['cpu_p99']:.2f}) ms | "
            f"{r.search_ms['p99']:.2f} ({r.search_ms['cpu_p99']:.2f}) ms |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
