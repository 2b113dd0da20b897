"""Spark local[2] beside the one-box trainer on MovieLens-shaped sets, and top-N past 87k films.

    nice -n 10 .venv/bin/python bench/spark_scale.py [--sizes 1M,4M,8.6M] [--driver-memory 3g]
                                                     [--scoring-only | --training-only]
                                                     [--work DIR] [--json PATH]

Part 1 times both trainers on the same synthetic data, back to back (wall, CPU, peak RSS, the
ALS stages' throughput per core); part 2 times exact top-N scoring of the served stacked
factors at 87k, 250k and 1M films, beside a faiss IVF index where the p99 passes 5 ms.
Protocol: bench/README.md. Results: ``bench/results/spark_scale.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

if "--scoring-only" in sys.argv:
    # A request is scored on one thread, as the API runs (api/__init__.py sets the same).
    for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_variable] = "1"

import numpy as np

from bench.harness import REPO, RESULTS, now, write_json
from bench.harness.spark_cluster import spark_env
from bench.harness.synthetic_movielens import Shape, generate
from bench.scale import percentiles, timed, train
from ml.serving.ranking import top_n_indices
from ml.training.spark_train import SparkSettings

SIZES = {"1M": 1_000_000, "4M": 4_000_000, "8.6M": 8_600_000}
FILM_COUNTS = (87_585, 250_000, 1_000_000)
#: Widths of the served stacked factors (iALS 128, FunkSVD 64 + bias, log popularity).
STACKED = 128 + 65 + 1
LATENCY_BUDGET_MS = 5.0
NPROBES = (8, 32, 64)


def _tree_usage(root: int) -> tuple[int, dict[int, float]]:
    """Summed resident bytes of ``root`` and every descendant, and each one's CPU seconds so
    far (user + system, from /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    cpu: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, parent = int(entry), int(fields[1])
        children.setdefault(parent, []).append(pid)
        rss[pid] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        cpu[pid] = (int(fields[11]) + int(fields[12])) / tick
    total, stack, tree_cpu = 0, [root], {}
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        if pid in cpu:
            tree_cpu[pid] = cpu[pid]
        stack.extend(children.get(pid, []))
    return total, tree_cpu


def train_spark(folder: Path, out: Path, driver_memory: str) -> dict[str, Any]:
    """``python -m ml.training.spark_train`` on local[2]: wall seconds, peak tree RSS, the
    manifest's stage times."""
    command = [sys.executable, "-m", "ml.training.spark_train", "--master", "local[2]",
               "--data", str(folder), "--out", str(out), "--gate-users", "0",
               "--conf", f"spark.driver.memory={driver_memory}"]
    peak = 0
    cpu: dict[int, float] = {}  # the last CPU seconds seen of each process of the tree
    started = time.perf_counter()
    with open(out.parent / "spark.log", "w") as log:
        child = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                 env=spark_env())
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                rss, seen = _tree_usage(child.pid)
                peak = max(peak, rss)
                cpu.update(seen)
                time.sleep(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = child.wait()
        done.set()
        sampler.join()
    seconds = time.perf_counter() - started
    if code != 0:
        raise RuntimeError(f"Spark training failed; see {out.parent / 'spark.log'}")
    manifest = json.loads((out / "manifest.json").read_text())
    return {"seconds": round(seconds, 1), "cpu_seconds": round(sum(cpu.values()), 1),
            "peak_gb": round(peak / 2**30, 3), "stages": manifest["training"]["stages"]}


def training_curve(labels: list[str], work: Path,
                   driver_memory: str) -> Iterator[dict[str, Any]]:
    """One row per size, as soon as it is measured."""
    settings = SparkSettings()
    for label in labels:
        folder = work / label
        written = generate(Shape.for_ratings(SIZES[label]), folder / "data", folder / "eval")
        load = [os.getloadavg()]
        one_seconds, one_cpu, one_peak = train(folder / "data", folder / "one-box", [])
        load.append(os.getloadavg())
        spark = train_spark(folder / "data", folder / "spark", driver_memory)
        load.append(os.getloadavg())
        stages = spark["stages"]
        # Rating-iterations per CPU-second of the JVM (the executors' own work, whatever else
        # shares the cores); wall-based (× 2 cores) where the CPU time is unknown.
        per_core = {
            "rating_als": written.n_ratings * settings.iterations * settings.rounds
            * settings.ensemble / stages.get("rating_model_jvm_cpu", stages["rating_model"] * 2),
            "implicit_als": written.n_ratings * settings.implicit_iterations
            / stages.get("ranking_model_jvm_cpu", stages["ranking_model"] * 2),
        }
        row = {
            "label": label, "spark_settings": asdict(settings), "ratings": written.n_ratings,
            "users": written.n_users, "films": written.n_films,
            "one_box": {"seconds": round(one_seconds, 1), "cpu_seconds": round(one_cpu, 1),
                        "peak_gb": round(one_peak, 3)},
            "spark_local2": spark,
            "spark_over_one_box": {"seconds": round(spark["seconds"] / one_seconds, 2),
                                   "cpu_seconds": round(spark["cpu_seconds"] / one_cpu, 2),
                                   "peak_memory": round(spark["peak_gb"] / one_peak, 2)},
            "spark_rating_iterations_per_core_second": {k: round(v) for k, v in
                                                        per_core.items()},
            # 1-, 5- and 15-minute load averages before the one-box run, between, after.
            "load_average": [[round(x, 1) for x in point] for point in load],
        }
        print(json.dumps(row), flush=True)
        shutil.rmtree(folder, ignore_errors=True)
        yield row


def clustered_factors(n: int, width: int, rng: np.random.Generator,
                      clusters: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Film vectors around cluster centres (tastes), and their centres, float32."""
    centres = rng.normal(0.0, 1.0, (clusters, width)).astype(np.float32)
    films = centres[rng.integers(0, clusters, n)] + rng.normal(0.0, 0.6, (n, width)).astype(
        np.float32)
    return np.ascontiguousarray(films), centres


def scoring(requests: int = 300, seed: int = 0) -> list[dict[str, Any]]:
    """Exact top-10 per request at each catalogue size; the ANN index where it is too slow."""
    import faiss

    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(seed)
    rows = []
    for n_films in FILM_COUNTS:
        rows.append(score_size(n_films, rng, requests))
        print(json.dumps(rows[-1]), flush=True)
    return rows


def score_size(n_films: int, rng: np.random.Generator, requests: int) -> dict[str, Any]:
    import faiss

    films, centres = clustered_factors(n_films, STACKED, rng)
    queries = (0.8 * centres[rng.integers(0, len(centres), requests)]
               + rng.normal(0.0, 0.5, (requests, STACKED))).astype(np.float32)
    history = [rng.choice(n_films, 60, replace=False) for _ in range(requests)]

    def exact(k: int) -> np.ndarray:
        return top_n_indices(films @ queries[k], 10, exclude=history[k])

    exact(0)
    samples = timed(exact, list(range(requests)))
    truth = [exact(k) for k in range(requests)]
    row: dict[str, Any] = {"films": n_films, "width": STACKED,
                           "item_arrays_mb": round(films.nbytes / 2**20, 1),
                           "exact_ms": percentiles(samples)}
    if row["exact_ms"]["p99"] <= LATENCY_BUDGET_MS and n_films < 250_000:
        return row
    nlist = int(4 * np.sqrt(n_films))
    started = time.perf_counter()
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(STACKED), STACKED, nlist,
                               faiss.METRIC_INNER_PRODUCT)
    index.train(films[rng.choice(n_films, min(n_films, 40 * nlist), replace=False)])
    index.add(films)
    row["ivf"] = {"index": f"faiss IndexIVFFlat(nlist={nlist}, inner product)",
                  "build_seconds": round(time.perf_counter() - started, 1), "by_nprobe": []}
    for nprobe in NPROBES:
        index.nprobe = nprobe
        found: list[np.ndarray] = []

        def approximate(k: int, found: list[np.ndarray] = found) -> None:
            # 10 + the history's length, then the rated films dropped, as served.
            _, ids = index.search(queries[k:k + 1], 10 + len(history[k]))
            found.append(ids[0][~np.isin(ids[0], history[k])][:10])

        ann_samples = timed(approximate, list(range(requests)))
        recall = np.mean([len(set(found[k].tolist()) & set(truth[k].tolist())) / 10
                          for k in range(requests)])
        row["ivf"]["by_nprobe"].append({"nprobe": nprobe, "recall_at_10": round(float(recall), 4),
                                        "ms": percentiles(ann_samples)})
    return row


def _write(path: Path, result: dict[str, Any], part: str) -> None:
    """Write ``result``, keeping the other part as the file has it now (the two parts may
    be run apart) and, for training, the sizes another run wrote meanwhile (sizes may be run
    in separate processes at once)."""
    if path.exists():
        kept = json.loads(path.read_text())
        other = "scoring" if part == "training" else "training"
        result = {**result, other: kept.get(other, result[other])}
        if part == "training":
            rows = {r["label"]: r for r in kept.get("training", [])}
            rows.update({r["label"]: r for r in result["training"]})
            result["training"] = [rows[k] for k in SIZES if k in rows]
    write_json(path, result)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(SIZES))
    parser.add_argument("--driver-memory", default="3g")
    parser.add_argument("--scoring-only", action="store_true")
    parser.add_argument("--training-only", action="store_true")
    parser.add_argument("--work", type=Path)
    parser.add_argument("--json", type=Path, default=RESULTS / "spark_scale.json")
    args = parser.parse_args(argv)
    labels = [s.strip() for s in args.sizes.split(",") if s.strip()]
    earlier = json.loads(args.json.read_text()) if args.json.exists() else {}
    result: dict[str, Any] = {
        "generated_at": now(),
        "cpus": os.cpu_count(),
        "note": "shared machine, loaded by other jobs: read the ratios; times are indicative",
        "spark_settings": asdict(SparkSettings()),
        "training": earlier.get("training", []), "scoring": earlier.get("scoring", []),
    }
    if not args.scoring_only:
        scratch = Path(tempfile.mkdtemp(prefix="cinematch-spark-scale-", dir=args.work))
        try:
            done: dict[str, Any] = {}  # this run's sizes; _write keeps the file's others
            for row in training_curve(labels, scratch, args.driver_memory):
                done[row["label"]] = row
                result["training"] = [done[k] for k in SIZES if k in done]
                _write(args.json, result, "training")
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    if args.scoring_only:
        result["scoring"] = scoring()
        _write(args.json, result, "scoring")
    if not args.scoring_only and not args.training_only:  # one BLAS thread: its own process
        subprocess.run([sys.executable, __file__, "--scoring-only", "--json", str(args.json)],
                       check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
