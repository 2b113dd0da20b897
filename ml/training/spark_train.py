"""Train the served model on Spark: ``spark-submit ml/training/spark_train.py --data PATH``.

For ratings past what one box holds: the same models as ``python -m ml.training.train``, written
as the same model directory (``ml.serving.artifacts.save_artifact``), so the API serves it and
``python -m ml.training.promote`` gates it like any candidate (docs/spark.md):

- **Rating model** μ + b_u + b_i + p_u·q_i: the damped biases as Spark aggregations, p_u·q_i by
  MLlib ALS (ALS-WR) on the residuals; ``rounds`` − 1 times the biases are refitted on r − p·q
  and the ALS on the new residuals.
- **Ranking model** (iALS): MLlib ALS with ``implicitPrefs=True``. Divided by α0, our loss is
  Spark's, so each rating is handed to Spark as ±c (``targets_and_confidence``) with
  ``alpha = 1/α0``; the item factors are then rotated (``ml.models.ials.model.rotate``).
- **Item-item term** (``ml.models.ease.sparse``): the head films' Gram matrix XᵀX summed by
  Spark in packed pieces, solved and pruned on the driver (``from_gram``).
- The catalogue, popularity, the chart, the gate's held-out users (``hashed_share``) and the
  sources' sha256, as the one-box trainer computes them.

Only films' arrays reach the driver; the artifact holds no trained users (every person is folded
in). ``--data`` is a MovieLens release folder at any Spark path (a ``ratings.parquet`` folder may
stand in for the ratings file); ``--app-ratings`` a ``python -m db.app_ratings export`` folder.
Run as ``python -m ml.training.spark_train`` it uses ``local[*]`` unless ``--master`` is given.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml.data.app import APP_SOURCE
from ml.data.formats import Dataset, layout_in, load_dataset
from ml.data.merge import USER_ID_STRIDE, describe_sources, merge_datasets
from ml.data.split import hashed_share
from ml.models.ease.model import EASE
from ml.models.ease.sparse import SparseEaseParams, from_gram, head_films
from ml.models.funksvd import FunkSVD
from ml.models.ials.model import (
    IALS,
    MIN_CONFIDENCE,
    NEUTRAL_RATING,
    ImplicitParams,
    rotate,
)
from ml.models.matrix import IdMap
from ml.models.popularity.model import Popularity
from ml.rules import RATING_MAX, RATING_MIN
from ml.serving.artifacts import AppRatings, Artifact, GateHoldout
from ml.serving.ranking import RankingWeights
from ml.training.cli import (
    GATE_SALT,
    CliError,
    add_output_arguments,
    add_ranking_arguments,
    cli_errors,
    ranking_from_arguments,
)
from ml.training.pipeline import base_manifest, catalogue_entries
from ml.training.train import save_trained

log = logging.getLogger(__name__)

ENGINE = "spark"
#: A folder of Parquet files that may stand in for a CSV release's ratings.csv.
_PARQUET = "ratings.parquet"


@dataclass(frozen=True)
class SparkSettings:
    """Hyper-parameters of the Spark training (recorded in the manifest's ``params``), chosen
    on validation carved from ml-1m's training part (``bench/spark_quality.py --validation-only``;
    docs/spark.md lists the trials).
    """

    rank: int = 64
    reg: float = 0.1  # MLlib regParam of the residual ALS (× each row's rating count)
    iterations: int = 10
    bias_damping: float = 5.0
    bias_sweeps: int = 2
    #: Outer rounds: after an ALS fit, μ and the biases are refitted on r − p·q (factors
    #: fixed) and the ALS refitted on the new residuals, so biases and factors are fitted
    #: jointly (block coordinate descent) rather than the factors around fixed damped means.
    rounds: int = 3
    #: Residual ALS fits with seeds seed, seed + 1, … averaged (their factors concatenated
    #: and scaled by 1/√n, so p_u·q_i is the mean of their products).
    ensemble: int = 1
    implicit_rank: int = 64
    implicit_reg: float = 0.1  # MLlib regParam of the implicit ALS
    implicit_iterations: int = 10
    seed: int = 0
    #: Partitions of the ratings (0: Spark's default parallelism, at least 2).
    partitions: int = 0
    #: ALS blocks per side (0: the partitions).
    blocks: int = 0

    def __post_init__(self) -> None:
        if min(self.rank, self.implicit_rank, self.iterations, self.implicit_iterations,
               self.ensemble, self.rounds) < 1:
            raise ValueError("ranks and iterations must be positive")
        if self.reg < 0 or self.implicit_reg < 0 or self.bias_damping < 0:
            raise ValueError("regularisation must be non-negative")


@dataclass(frozen=True)
class RatingsSource:
    """One release read by Spark: the ratings (a DataFrame) and the small files, local."""

    name: str
    ratings: Any  # pyspark DataFrame: user_id, movie_id, rating, timestamp
    dataset: Dataset  # the catalogue only (ratings empty), parsed by ml.data
    described: list[dict[str, Any]]


@dataclass
class SparkFit:
    """The trained artifact and what a benchmark needs to score it in Spark."""

    artifact: Artifact
    holdout: GateHoldout | None
    seconds: dict[str, float] = field(default_factory=dict)
    spark_models: dict[str, Any] = field(default_factory=dict)

    def release(self) -> None:
        """Drop what the fit cached on the executors."""
        for part in self.spark_models.values():
            part.release()


def spark_session(master: str | None = None, app_name: str = "cinematch-train",
                  conf: dict[str, str] | None = None) -> Any:
    """The session ``spark-submit`` configured, or a ``local[*]`` one under plain Python."""
    from pyspark.sql import SparkSession

    # Executors run this module's functions (the gate's hash), so they need this Python's
    # packages: spark-submit's PYSPARK_PYTHON wins, else the driver's own interpreter.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name).config("spark.ui.showConsoleProgress",
                                                            "false")
    if master:
        builder = builder.master(master)
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


# --- reading ---------------------------------------------------------------------------------


def _hadoop_path(spark: Any, path: str) -> tuple[Any, Any]:
    jvm = spark.sparkContext._jvm
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    return hpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), hpath


def _list_names(spark: Any, path: str) -> dict[str, bool]:
    """File and folder names directly in ``path`` (any Hadoop file system), name → is_dir."""
    fs, hpath = _hadoop_path(spark, path)
    if not fs.exists(hpath):
        raise CliError(f"{path}: no such data folder")
    return {status.getPath().getName(): bool(status.isDirectory())
            for status in fs.listStatus(hpath)}


def _sha256_and_files(spark: Any, path: str) -> str:
    """sha256 of a file's bytes (or of a folder's part files in name order), read by the JVM,
    so a file on object storage is hashed without a local copy."""
    sc = spark.sparkContext
    fs, hpath = _hadoop_path(spark, path)
    if fs.getFileStatus(hpath).isDirectory():
        parts = sorted((s.getPath() for s in fs.listStatus(hpath)
                        if s.isFile() and not s.getPath().getName().startswith(("_", "."))),
                       key=lambda p: p.getName())
    else:
        parts = [hpath]
    jvm = sc._jvm
    digest = jvm.java.security.MessageDigest.getInstance("SHA-256")
    for part in parts:  # streamed through the digest inside the JVM, never into Python
        stream = jvm.java.security.DigestInputStream(fs.open(part), digest)
        sink = jvm.java.io.OutputStream.nullOutputStream()
        jvm.org.apache.hadoop.io.IOUtils.copyBytes(stream, sink, 1 << 20, True)
    return bytes(digest.digest()).hex()


def _copy_to_local(spark: Any, path: str, target: Path) -> None:
    fs, hpath = _hadoop_path(spark, path)
    jvm = spark.sparkContext._jvm
    fs.copyToLocalFile(False, hpath, jvm.org.apache.hadoop.fs.Path(str(target)), True)
    target.parent.joinpath(f".{target.name}.crc").unlink(missing_ok=True)


def _join(folder: str, name: str) -> str:
    return folder.rstrip("/") + "/" + name


def read_release(spark: Any, folder: str, scratch: Path, links: str | None = None) -> RatingsSource:
    """A MovieLens release at any Spark path: ratings as a DataFrame, catalogue via ``ml.data``.

    The small files are copied to ``scratch`` beside an empty ratings file of the same name, so
    ``ml.data`` parses and describes them as the one-box trainer does; the ratings file's hash
    and row count come from the JVM and Spark.
    """
    names = _list_names(spark, folder)
    files = {n for n, is_dir in names.items() if not is_dir}
    parquet = _PARQUET in names and "ratings.csv" not in files
    layout = layout_in(Path(folder), files | ({"ratings.csv"} if parquet else set()))
    if layout is None:
        raise CliError(f"{folder} is not a MovieLens folder: expected u.data + u.item, "
                       "movies.dat + ratings*.dat, or movies.csv + ratings.csv "
                       f"(or {_PARQUET}); found {', '.join(sorted(names)[:8]) or 'nothing'}")
    sep, header = layout.ratings.sep, layout.ratings.header
    ratings_name = _PARQUET if parquet else layout.ratings.path.name
    small = [f.path.name for f in (layout.movies, layout.genres, layout.links) if f is not None]
    name = folder.rstrip("/").rsplit("/", 1)[-1]
    local = scratch / name
    local.mkdir(parents=True, exist_ok=False)
    for small_name in small:
        _copy_to_local(spark, _join(folder, small_name), local / small_name)
    placeholder = "ratings.csv" if ratings_name == _PARQUET else ratings_name
    (local / placeholder).write_text("userId,movieId,rating,timestamp\n" if header else "")
    local_links = None
    if links is not None:
        local_links = scratch / f"{name}.links" / "links.csv"
        local_links.parent.mkdir()
        _copy_to_local(spark, links, local_links)
    dataset = load_dataset(local, links=local_links)
    described = describe_sources([local], local_links)
    ratings_path = _join(folder, ratings_name)
    ratings = _read_ratings(spark, ratings_path, sep, header, parquet=ratings_name == _PARQUET)
    for entry in described:
        if entry["path"] == f"{name}/{placeholder}":
            entry.update(path=f"{name}/{ratings_name}", rows=-1,
                         sha256=_sha256_and_files(spark, ratings_path))
    return RatingsSource(name, ratings, dataset, described)


def _read_ratings(spark: Any, path: str, sep: str, header: bool, parquet: bool = False) -> Any:
    """user_id, movie_id (long), rating (float), timestamp (long); malformed lines fail."""
    from pyspark.sql import functions as F

    if parquet:
        frame = spark.read.parquet(path)
        renamed = {"userId": "user_id", "movieId": "movie_id"}
        for old, new in renamed.items():
            if old in frame.columns:
                frame = frame.withColumnRenamed(old, new)
        if "timestamp" not in frame.columns:
            frame = frame.withColumn("timestamp", F.lit(0))
    else:
        schema = "userId LONG, movieId LONG, rating FLOAT, timestamp LONG"
        frame = (spark.read.csv(path, schema=schema, sep=sep, header=header, mode="FAILFAST",
                                encoding="UTF-8" if header else "ISO-8859-1", quote="\u0000")
                 .withColumnRenamed("userId", "user_id").withColumnRenamed("movieId", "movie_id"))
    # ``row``: the file order (increasing along the file's splits), so the gate's held-out
    # ratings come out in the order ml.training.train holds them, and their hash is the same.
    return frame.select(F.col("user_id").cast("long"), F.col("movie_id").cast("long"),
                        F.col("rating").cast("float"), F.col("timestamp").cast("long"),
                        F.monotonically_increasing_id().alias("row"))


def read_app_export(spark: Any, folder: str, scratch: Path) -> tuple[Any, AppRatings]:
    """The service's ratings export (``python -m db.app_ratings export``): users as ``-u``."""
    from pyspark.sql import functions as F

    receipt_path = scratch / "app-receipt.json"
    _copy_to_local(spark, _join(folder, "receipt.json"), receipt_path)
    try:
        receipt = AppRatings.from_json(json.loads(receipt_path.read_text()))
    except (ValueError, json.JSONDecodeError) as error:
        raise CliError(f"{folder}/receipt.json: {error}") from None
    ratings = _read_ratings(spark, _join(folder, "ratings.csv"), ",", header=True)
    return ratings.withColumn("user_id", -F.col("user_id")), receipt


def union_sources(sources: Sequence[RatingsSource], app: Any | None) -> tuple[Any, Dataset]:
    """All ratings with a ``source`` column, users namespaced as ``ml.data.merge_datasets``
    does (release k's user u is k·10⁹ + u; app users −u), and the merged catalogue."""
    from pyspark.sql import functions as F

    parts = []
    for index, source in enumerate(sources):
        part = source.ratings
        if len(sources) > 1:
            part = part.withColumn("user_id", F.col("user_id") + F.lit(index * USER_ID_STRIDE))
        parts.append(part.withColumn("source", F.lit(source.name))
                     .withColumn("source_rank", F.lit(index)))
    if app is not None:
        parts.append(app.withColumn("source", F.lit(APP_SOURCE))
                     .withColumn("source_rank", F.lit(len(sources))))
    ratings = parts[0]
    for part in parts[1:]:
        ratings = ratings.unionByName(part)
    datasets = [s.dataset for s in sources]
    catalogue = datasets[0] if len(datasets) == 1 else merge_datasets(datasets)
    return ratings, catalogue


def checked_ratings(ratings: Any, known_movies: np.ndarray) -> tuple[Any, dict[str, int]]:
    """Fail on out-of-scale ratings or unknown films (as ``ml.data`` does), keep the latest
    rating of a repeated (user, film) (the later line on a tie), and return them with each
    source's raw row count."""
    from pyspark.sql import functions as F

    spark = ratings.sparkSession
    per_source = ratings.groupBy("source").agg(
        F.count(F.lit(1)).alias("rows"),
        F.sum((~F.col("rating").between(RATING_MIN, RATING_MAX)
               | F.col("rating").isNull()).cast("long")).alias("bad")).collect()
    rows = {r["source"]: int(r["rows"]) for r in per_source}
    bad = sum(int(r["bad"] or 0) for r in per_source)
    if bad:
        example = ratings.filter(~F.col("rating").between(RATING_MIN, RATING_MAX)).first()
        raise CliError(f"{bad} ratings outside {RATING_MIN}–{RATING_MAX} "
                       f"(e.g. {example.asDict() if example else 'a null rating'})")
    movies = spark.createDataFrame([(int(m),) for m in known_movies], "movie_id long")
    unknown = ratings.join(F.broadcast(movies), "movie_id", "left_anti")
    missing = unknown.select("movie_id").distinct().limit(5).collect()
    if missing:
        raise CliError("rated films missing from the catalogue: "
                       + ", ".join(str(r["movie_id"]) for r in missing))
    latest = (ratings.groupBy("user_id", "movie_id")
              .agg(F.max_by(F.struct("rating", "source", "source_rank", "row"),
                            F.struct("timestamp", "row")).alias("kept"))
              .select("user_id", "movie_id", "kept.*"))
    return latest, rows


# --- training --------------------------------------------------------------------------------


def user_indices(ratings: Any, gate_users: float, gate_salt: int) -> Any:
    """(user_id, user_index, held) for every user: a dense int index for MLlib, and whether
    the promote gate holds them out (``hashed_share`` below ``gate_users``, never app users)."""
    # Sorted first: zipWithIndex follows the partitions' order, so a recomputed partition
    # (an evicted cache block, a lost executor) gets the same indices again.
    users = ratings.select("user_id").distinct().orderBy("user_id")

    def label(rows: Iterator[tuple[Any, int]]) -> Iterator[tuple[int, int, bool]]:
        chunk = list(rows)
        if not chunk:
            return iter(())
        ids = np.array([row[0]["user_id"] for row in chunk], dtype=np.int64)
        held = (hashed_share(ids, gate_salt) < gate_users) & (ids > 0)
        return zip(ids.tolist(), (row[1] for row in chunk), held.tolist(), strict=True)

    indexed = users.rdd.zipWithIndex().mapPartitions(label)
    return ratings.sparkSession.createDataFrame(
        indexed, "user_id long, user_index int, held boolean")


def fit_biases(ratings: Any, damping: float, sweeps: int) -> tuple[float, Any, Any]:
    """μ and the damped biases (``BiasBaseline.fit`` in Spark): (mu, users (user_index,
    b_u), items (item_index, b_i))."""
    from pyspark.sql import functions as F

    mu = float(ratings.agg(F.avg("rating")).first()[0])
    users: Any = None
    items: Any = None
    for _ in range(sweeps):
        stale = (users, items)
        left = ratings if users is None else ratings.join(users, "user_index")
        bu = F.col("b_u") if users is not None else F.lit(0.0)
        items = (left.groupBy("item_index")
                 .agg((F.sum(F.col("rating") - mu - bu) / (F.count(F.lit(1)) + damping))
                      .alias("b_i"))).cache()
        users = (ratings.join(F.broadcast(items), "item_index").groupBy("user_index")
                 .agg((F.sum(F.col("rating") - mu - F.col("b_i"))
                       / (F.count(F.lit(1)) + damping)).alias("b_u"))).cache()
        users.count()  # both materialised, so the previous sweep's can go
        for old in stale:
            if old is not None:
                old.unpersist()
    return mu, users, items


def _als(settings: SparkSettings, rank: int, reg: float, iterations: int, rating_col: str,
         implicit: bool = False, alpha: float = 1.0, blocks: int = 10) -> Any:
    from pyspark.ml.recommendation import ALS

    return ALS(rank=rank, maxIter=iterations, regParam=reg, implicitPrefs=implicit, alpha=alpha,
               userCol="user_index", itemCol="item_index", ratingCol=rating_col,
               numUserBlocks=blocks, numItemBlocks=blocks, seed=settings.seed,
               coldStartStrategy="drop", checkpointInterval=5)


def _item_array(frame: Any, n_items: int, width: int, column: str = "features") -> np.ndarray:
    """An (item index, value) DataFrame, index first, collected into a dense float array one
    partition at a time (a million films' rows as Python objects would be gigabytes)."""
    out = np.zeros((n_items, width) if width else n_items, dtype=np.float64)
    for row in frame.toLocalIterator():
        out[row[0]] = row[column]
    return out


@dataclass
class Prepared:
    """The training ratings on dense indices, cached on the executors, and the films' ids."""

    train: Any  # user_index, item_index, rating, source
    users: Any  # user_id, user_index, held
    items: IdMap
    item_frame: Any  # movie_id, item_index
    n_ratings: int
    n_users: int
    holdout: GateHoldout | None
    partitions: int
    blocks: int
    seconds: float

    def release(self) -> None:
        self.train.unpersist()
        self.users.unpersist()


@dataclass
class RatingFit:
    """The rating model's film arrays, and its Spark parts (user side stays there)."""

    model: FunkSVD
    mu: float
    user_bias: Any  # user_index, b_u (cached)
    item_bias: Any  # item_index, b_i (cached)
    als: list[Any]  # pyspark ALSModels, averaged
    seconds: float

    def release(self) -> None:
        self.user_bias.unpersist()
        self.item_bias.unpersist()


def prepare(spark: Any, ratings: Any, settings: SparkSettings, gate_users: float = 0.0,
            gate_salt: int = GATE_SALT) -> Prepared:
    """Index users and films, hold the gate's users out (their ratings to the driver), cache."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    started = time.perf_counter()
    for name, value, kind in (("source", None, "string"), ("source_rank", 0, "int"),
                              ("row", 0, "long")):
        if name not in ratings.columns:
            ratings = ratings.withColumn(name, F.lit(value).cast(kind))
    partitions = settings.partitions or max(spark.sparkContext.defaultParallelism, 2)
    blocks = settings.blocks or partitions
    if spark.conf.get("spark.sql.shuffle.partitions") == "200":  # Spark's default: not chosen
        spark.conf.set("spark.sql.shuffle.partitions", str(partitions))
    users = user_indices(ratings, gate_users, gate_salt).persist(StorageLevel.MEMORY_AND_DISK)
    joined = ratings.join(users, "user_id")
    holdout = None
    if gate_users > 0:
        held = np.array([tuple(r) for r in joined.filter("held").orderBy("source_rank", "row")
                         .select("user_id", "movie_id", "rating").collect()],
                        dtype=np.float64).reshape(-1, 3)
        holdout = GateHoldout(gate_users, gate_salt, held[:, 0].astype(np.int64),
                              held[:, 1].astype(np.int64), held[:, 2].astype(np.float32))
        log.info("held out for the promote gate: %d users (%d ratings)",
                 len(np.unique(held[:, 0])), len(held))
    kept = joined.filter(~F.col("held"))
    movie_ids = np.sort(np.array([r["movie_id"] for r in
                                  kept.select("movie_id").distinct().collect()], dtype=np.int64))
    item_frame = spark.createDataFrame(
        [(int(m), i) for i, m in enumerate(movie_ids.tolist())], "movie_id long, item_index int")
    train = (kept.join(F.broadcast(item_frame), "movie_id")
             .select("user_index", "item_index", "rating", "source")
             .repartition(partitions, "user_index")
             .persist(StorageLevel.MEMORY_AND_DISK))
    n_ratings = train.count()
    if n_ratings == 0:
        raise CliError("no ratings to train on")
    n_users = train.select("user_index").distinct().count()
    return Prepared(train, users, IdMap(movie_ids), item_frame, n_ratings, n_users, holdout,
                    partitions, blocks, time.perf_counter() - started)


def fit_rating_model(prepared: Prepared, settings: SparkSettings) -> RatingFit:
    """μ and the damped biases, then MLlib ALS (ALS-WR) on the residuals (``ensemble`` fits
    with successive seeds, averaged); ``rounds`` > 1 refits the biases on r − p·q and the
    ALS on the new residuals, alternately."""
    from pyspark.sql import functions as F

    started = time.perf_counter()
    n_items, k = len(prepared.items), settings.rank * settings.ensemble
    mu, user_bias, item_bias = fit_biases(prepared.train, settings.bias_damping,
                                          settings.bias_sweeps)
    models: list[Any] = []
    for _ in range(settings.rounds):
        fitted = None
        if models:  # the biases refitted on each rating less the current factors' product
            fitted = (_with_dot(prepared.train, models)
                      .select("user_index", "item_index",
                              (F.col("rating") - F.col("dot")).alias("rating"))
                      .cache())
            stale = (user_bias, item_bias)
            mu, user_bias, item_bias = fit_biases(fitted, settings.bias_damping,
                                                  settings.bias_sweeps)
            for frame in stale:
                frame.unpersist()
        residuals = (prepared.train.join(user_bias, "user_index")
                     .join(F.broadcast(item_bias), "item_index")
                     .select("user_index", "item_index",
                             (F.col("rating") - mu - F.col("b_u") - F.col("b_i"))
                             .alias("residual"))).cache()
        residuals.count()  # materialised (and the biases with it) before ``fitted`` goes
        if fitted is not None:
            fitted.unpersist()
        models = [_als(replace(settings, seed=settings.seed + s), settings.rank, settings.reg,
                       settings.iterations, "residual", blocks=prepared.blocks).fit(residuals)
                  for s in range(settings.ensemble)]
        residuals.unpersist()
    item_factors = np.hstack([_item_array(m.itemFactors, n_items, settings.rank)
                              for m in models]) / np.sqrt(settings.ensemble)
    model = FunkSVD(
        global_mean=mu,
        user_factors=np.zeros((0, k), dtype=np.float32),
        user_bias=np.zeros(0, dtype=np.float32),
        item_factors=item_factors.astype(np.float32),
        item_bias=_item_array(item_bias, n_items, 0, "b_i").astype(np.float32),
        # The served fold-in is the training's user solve: ALS-WR's ridge per rating on the
        # factors, and the damping on the bias.
        fold_in_reg=np.append(np.zeros(k), settings.bias_damping).astype(np.float32),
        fold_in_reg_per_rating=settings.reg,
    )
    return RatingFit(model, mu, user_bias, item_bias, models, time.perf_counter() - started)


def _with_dot(frame: Any, models: Sequence[Any]) -> Any:
    """``frame`` (with user_index, item_index) plus ``dot``: the mean over ``models`` of
    p_u·q_i, computed on the executors (a user or film a model lacks counts 0)."""
    from pyspark.sql import functions as F

    dots = []
    for k, als in enumerate(models):
        p, q = f"p{k}", f"q{k}"
        frame = (frame.join(als.userFactors.toDF("user_index", p), "user_index", "left")
                 .join(F.broadcast(als.itemFactors.toDF("item_index", q)), "item_index", "left"))
        dots.append(F.when(F.col(p).isNotNull() & F.col(q).isNotNull(), F.aggregate(
            F.zip_with(p, q, lambda a, b: a * b), F.lit(0.0), lambda acc, x: acc + x))
            .otherwise(F.lit(0.0)))
    dot = sum(dots[1:], dots[0]) / len(dots)
    return frame.withColumn("dot", dot).drop(*[f"{c}{k}" for k in range(len(models))
                                               for c in "pq"])


def fit_ranking_model(prepared: Prepared, settings: SparkSettings,
                      implicit_params: ImplicitParams) -> tuple[IALS, float]:
    """MLlib implicit ALS on ±confidence (module docstring), rotated for the fold-in."""
    from pyspark.sql import functions as F

    started = time.perf_counter()
    liked = F.col("rating") >= implicit_params.dislike_below
    distance = F.col("rating") - NEUTRAL_RATING
    confidence = F.greatest(
        F.when(liked, 1.0 + implicit_params.rating_confidence * distance)
        .otherwise(1.0 + implicit_params.rating_confidence * F.abs(distance)),
        F.lit(MIN_CONFIDENCE))
    signed = prepared.train.select("user_index", "item_index",
                                   F.when(liked, confidence).otherwise(-confidence)
                                   .alias("signed"))
    als = _als(settings, settings.implicit_rank, settings.implicit_reg,
               settings.implicit_iterations, "signed", implicit=True,
               alpha=1.0 / implicit_params.unobserved_weight,
               blocks=prepared.blocks).fit(signed)
    factors = _item_array(als.itemFactors, len(prepared.items), settings.implicit_rank)
    served = replace(implicit_params, n_factors=settings.implicit_rank)
    return rotate(factors, served), time.perf_counter() - started


def popularity_of(prepared: Prepared) -> tuple[Popularity, Popularity | None]:
    """Counts and means of every film (all ratings), and the chart's (MovieLens ratings only)
    when the service's ratings are in, else None (``ml.training.pipeline.chart_popularity``)."""
    from pyspark.sql import functions as F

    n_items = len(prepared.items)
    movielens = F.coalesce(F.col("source") != APP_SOURCE, F.lit(True))
    counted = prepared.train.groupBy("item_index").agg(
        F.count(F.lit(1)).alias("n"), F.avg("rating").alias("mean"),
        F.sum(movielens.cast("long")).alias("n_ml"),
        F.avg(F.when(movielens, F.col("rating"))).alias("mean_ml")).collect()
    counts = np.zeros(n_items, dtype=np.int64)
    means = np.full(n_items, np.nan)
    ml_counts = np.zeros(n_items, dtype=np.int64)
    ml_means = np.full(n_items, np.nan)
    for row in counted:
        k = row["item_index"]
        counts[k], means[k] = row["n"], row["mean"]
        ml_counts[k] = row["n_ml"] or 0
        ml_means[k] = np.nan if row["mean_ml"] is None else row["mean_ml"]
    popularity = Popularity.from_counts(
        counts, means, float(np.nansum(means * counts) / max(counts.sum(), 1)))
    if (counts == ml_counts).all():
        return popularity, None
    return popularity, Popularity.from_counts(ml_counts, ml_means, popularity.global_mean)


#: Values per piece of a packed partial Gram matrix (float64: 4 MB), the unit Spark shuffles
#: and the driver receives: small beside an executor's memory, whatever the head's size.
GRAM_PIECE = 2**19
#: Film pairs summed at once in a partition (about 40 bytes each in flight).
GRAM_PAIRS_PER_CHUNK = 2_000_000


def upper_offsets(n: int) -> np.ndarray:
    """Where row a of an n × n upper triangle (a ≤ b) starts in its packed form, rows one
    after the other: (a, b) is at ``upper_offsets(n)[a] + b − a``; n(n + 1)/2 values in all."""
    a = np.arange(n, dtype=np.int64)
    return a * n - a * (a - 1) // 2


def partial_gram(users: np.ndarray, heads: np.ndarray, values: np.ndarray, n_head: int,
                 chunk: int = GRAM_PAIRS_PER_CHUNK) -> np.ndarray:
    """The upper triangle (a ≤ b) of Σ_u x_u x_uᵀ over the head films, packed
    (``upper_offsets``, float64), from every rating of these users (a user's ratings must not be
    split between two calls). The pairs are enumerated ``chunk`` at a time, in numpy so the
    executors need nothing past it (``ml.training.kernels.head_gram`` in numba on one box).
    """
    offsets = upper_offsets(n_head)
    gram = np.zeros(n_head * (n_head + 1) // 2)
    if len(users) == 0:
        return gram
    order = np.lexsort((heads, users))
    users, heads = users[order], heads[order].astype(np.int64)
    values = values[order].astype(np.float64)
    n = len(users)
    starts = np.flatnonzero(np.concatenate([[True], users[1:] != users[:-1]]))
    ends = np.append(starts[1:], n)
    # Rating p pairs with itself and its user's later ratings: ``count[p]`` pairs.
    count = np.repeat(ends, ends - starts) - np.arange(n)
    total = np.cumsum(count)
    lo = 0
    while lo < n:
        hi = max(int(np.searchsorted(total, total[lo] - count[lo] + chunk, "right")), lo + 1)
        counts = count[lo:hi]
        first = np.repeat(np.arange(lo, hi), counts)
        second = first + (np.arange(len(first)) - np.repeat(np.cumsum(counts) - counts, counts))
        a, b = heads[first], heads[second]
        np.add.at(gram, offsets[a] + b - a, values[first] * values[second])
        lo = hi
    return gram


def add_piece(gram: np.ndarray, offsets: np.ndarray, start: int, piece: np.ndarray) -> None:
    """Write the packed upper triangle's values ``start`` to ``start + len(piece)`` into the
    square ``gram``'s upper triangle (``offsets``: ``upper_offsets`` of its size)."""
    n = len(gram)
    end = start + len(piece)
    row = int(np.searchsorted(offsets, start, "right")) - 1
    while row < n and offsets[row] < end:
        lo, hi = max(start, int(offsets[row])), min(end, int(offsets[row]) + n - row)
        column = row + lo - int(offsets[row])
        gram[row, column:column + hi - lo] = piece[lo - start:hi - start]
        row += 1


def mirror_upper(gram: np.ndarray, rows: int = 256) -> None:
    """Copy the upper triangle of the square ``gram`` onto its lower one, in place, by blocks."""
    n = len(gram)
    for a in range(0, n, rows):
        b = min(a + rows, n)
        diagonal = gram[a:b, a:b]
        diagonal[np.tril_indices(b - a, -1)] = diagonal.T[np.tril_indices(b - a, -1)]
        gram[b:, a:b] = gram[a:b, b:].T


def _gram_pieces(rows: Iterator[Any], n_head: int,
                 rows_at_once: int = 1_000_000) -> Iterator[tuple[int, np.ndarray]]:
    """A partition's (user_index, head, r) rows, every rating of its users, as its packed
    partial Gram in pieces: (k, values k·GRAM_PIECE onwards); all-zero pieces are left out."""
    from itertools import islice

    parts = []
    while True:
        taken = np.array(list(islice(rows, rows_at_once)), dtype=np.float64).reshape(-1, 3)
        if len(taken) == 0:
            break
        parts.append((taken[:, 0].astype(np.int32), taken[:, 1].astype(np.int32),
                      taken[:, 2]))
    if not parts:
        return
    users, heads, values = (np.concatenate(column) for column in zip(*parts, strict=True))
    del parts
    gram = partial_gram(users, heads, values, n_head)
    del users, heads, values
    for k, start in enumerate(range(0, len(gram), GRAM_PIECE)):
        piece = gram[start:start + GRAM_PIECE]
        if piece.any():
            yield k, piece.copy()


def fit_item_item(prepared: Prepared, counts: np.ndarray,
                  params: SparseEaseParams) -> tuple[EASE, float]:
    """The ranking score's item-item term: the head films from ``counts``, their Gram matrix
    summed by Spark (each partition's users into a packed partial Gram, ``partial_gram``, its
    4 MB pieces summed by ``reduceByKey`` and streamed to the driver), then solved and pruned by
    the one-box code. Sums of products of half stars are exact in float64, so the Gram matrix is
    the one-box one.
    """
    from pyspark.sql import functions as F

    started = time.perf_counter()
    head = head_films(counts, params)
    n_head = len(head)
    spark = prepared.train.sparkSession
    head_frame = spark.createDataFrame([(int(i), h) for h, i in enumerate(head.tolist())],
                                       "item_index int, head int")
    rated = (prepared.train.join(F.broadcast(head_frame), "item_index")
             .select("user_index", "head", F.col("rating").cast("double").alias("r"))
             .repartition(prepared.partitions, "user_index"))  # each user's ratings together
    n_pieces = -(-(n_head * (n_head + 1) // 2) // GRAM_PIECE)
    # One piece a reduce task: each shuffle block and each result the driver fetches is 4 MB.
    summed = (rated.rdd.mapPartitions(lambda rows: _gram_pieces(rows, n_head))
              .reduceByKey(np.add, numPartitions=n_pieces))
    gram = np.zeros((n_head, n_head))
    offsets = upper_offsets(n_head)
    for k, piece in summed.toLocalIterator():
        add_piece(gram, offsets, k * GRAM_PIECE, piece)
    mirror_upper(gram)
    model = EASE(params, sparse=from_gram(gram, head, len(prepared.items), prepared.n_users,
                                          params, started))
    return model, time.perf_counter() - started


def fit_spark(spark: Any, ratings: Any, movies: pd.DataFrame, settings: SparkSettings,
              implicit_params: ImplicitParams, weights: RankingWeights,
              gate_users: float = 0.0, gate_salt: int = GATE_SALT,
              sources: list[dict[str, Any]] | None = None,
              item_item_params: SparseEaseParams | None = None) -> SparkFit:
    """Train both models and the item-item term on ``ratings`` (user_id, movie_id, rating[,
    source, source_rank, row]) and package them as ``ml.training.pipeline.fit_artifact`` does
    (module docstring)."""
    started = time.perf_counter()
    cpu = [_jvm_cpu_seconds(spark)]
    prepared = prepare(spark, ratings, settings, gate_users, gate_salt)
    cpu.append(_jvm_cpu_seconds(spark))
    rating = fit_rating_model(prepared, settings)
    cpu.append(_jvm_cpu_seconds(spark))
    implicit, implicit_seconds = fit_ranking_model(prepared, settings, implicit_params)
    cpu.append(_jvm_cpu_seconds(spark))
    stage = time.perf_counter()
    popularity, chart = popularity_of(prepared)
    seconds = {"prepare": prepared.seconds, "rating_model": rating.seconds,
               "ranking_model": implicit_seconds, "popularity": time.perf_counter() - stage}
    item_item_params = item_item_params or SparseEaseParams()
    item_item, seconds["item_item"] = fit_item_item(prepared, popularity.counts,
                                                    item_item_params)
    known = [c for c in cpu if c is not None]
    if len(known) == len(cpu):  # local mode: the executors run in the driver's JVM
        seconds.update({f"{name}_jvm_cpu": known[k + 1] - known[k] for k, name in
                        enumerate(("prepare", "rating_model", "ranking_model"))})
    artifact = package(spark, prepared, rating.model, implicit, popularity, chart, movies,
                       settings, implicit_params, weights, sources, item_item,
                       item_item_params)
    artifact.manifest["training"] = {
        "seconds": round(time.perf_counter() - started, 2),
        "stages": {name: round(s, 2) for name, s in seconds.items()}}
    artifact.manifest["ranking"]["seconds"] = round(implicit_seconds, 2)
    artifact.manifest["ranking"]["item_item_seconds"] = round(seconds["item_item"], 2)
    return SparkFit(artifact, prepared.holdout, seconds, {
        "rating": rating, "prepared": prepared})


def _jvm_cpu_seconds(spark: Any) -> float | None:
    """CPU seconds (user + system) of the driver's JVM so far, from /proc; None when the JVM
    is not on this host's /proc or the master is not local (executors elsewhere)."""
    if not spark.sparkContext.master.startswith("local"):
        return None
    try:
        pid = int(spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid())
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def package(spark: Any, prepared: Prepared, model: FunkSVD, implicit: IALS,
            popularity: Popularity, chart: Popularity | None, movies: pd.DataFrame,
            settings: SparkSettings, implicit_params: ImplicitParams, weights: RankingWeights,
            sources: list[dict[str, Any]] | None = None, item_item: EASE | None = None,
            item_item_params: SparseEaseParams | None = None) -> Artifact:
    """The served artifact of these film arrays, with the manifest ``ml.training.train`` writes plus
    the engine."""
    served = replace(implicit_params, n_factors=settings.implicit_rank)
    if item_item is not None:
        item_item_params = item_item_params or SparseEaseParams()
    manifest = base_manifest(model, asdict(settings), popularity, served, weights,
                             item_item_params if item_item is not None else None, sources,
                             prepared.n_ratings, prepared.n_users, len(prepared.items))
    manifest["engine"] = {"name": ENGINE, "spark_version": spark.version,
                          "master": spark.sparkContext.master,
                          "default_parallelism": spark.sparkContext.defaultParallelism,
                          "partitions": prepared.partitions, "blocks": prepared.blocks}
    return Artifact(model, prepared.items, catalogue_entries(movies, prepared.items),
                    popularity, manifest, IdMap(np.zeros(0, np.int64)), implicit, chart,
                    item_item)


def spark_rmse(prepared: Prepared, rating: RatingFit, test: Any) -> float:
    """RMSE of ``test`` (user_id, movie_id, rating) with the trained user vectors, computed on
    the executors: μ + b_u + b_i + p_u·q_i, clipped, a missing term counting 0 (as
    ``FunkSVD.predict_pairs``)."""
    from pyspark.sql import functions as F

    frame = _with_dot(test.join(prepared.users.select("user_id", "user_index"), "user_id", "left")
                      .join(F.broadcast(prepared.item_frame), "movie_id", "left")
                      .join(rating.user_bias, "user_index", "left")
                      .join(F.broadcast(rating.item_bias), "item_index", "left"), rating.als)
    pred = (F.lit(rating.mu) + F.coalesce(F.col("b_u"), F.lit(0.0))
            + F.coalesce(F.col("b_i"), F.lit(0.0)) + F.col("dot"))
    clipped = F.least(F.greatest(pred, F.lit(RATING_MIN)), F.lit(RATING_MAX))
    return float(frame.agg(F.sqrt(F.avg((clipped - F.col("rating")) ** 2))).first()[0])


# --- command line ------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.training.spark_train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", action="append", required=True,
                        help="a MovieLens release folder at any Spark path; repeat to merge")
    parser.add_argument("--links", help="an extra links.csv (movieId→tmdbId), any Spark path")
    parser.add_argument("--app-ratings", metavar="EXPORT_DIR",
                        help="a `python -m db.app_ratings export` folder (ratings.csv, "
                             "receipt.json) at any Spark path")
    add_output_arguments(parser)
    parser.add_argument("--master", help="Spark master when not run by spark-submit "
                                         "(default: spark-submit's, else local[*])")
    parser.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE",
                        help="a Spark setting for a session this command starts (e.g. "
                             "spark.driver.memory=4g); under spark-submit pass its --conf")
    defaults = SparkSettings()
    for name, value in asdict(defaults).items():
        parser.add_argument("--" + name.replace("_", "-"), type=type(value), default=value)
    parser.add_argument("--unobserved-weight", type=float,
                        default=ImplicitParams().unobserved_weight,
                        help="iALS α0 (Spark's alpha is 1/α0)")
    add_ranking_arguments(parser)
    parser.add_argument("--popularity-at-threshold", type=float,
                        default=RankingWeights().popularity_at_threshold,
                        help="the ranking score's popularity prior at five ratings "
                             "(RankingWeights.popularity_at_threshold)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with cli_errors():
        settings = SparkSettings(**{name: getattr(args, name) for name in asdict(defaults)})
        implicit, weights = ranking_from_arguments(args)
        implicit = replace(implicit, unobserved_weight=args.unobserved_weight)
        weights = replace(weights, popularity_at_threshold=args.popularity_at_threshold)
        conf = dict(item.split("=", 1) for item in args.conf if "=" in item)
        spark = spark_session(args.master, conf=conf)
        spark.sparkContext.setLogLevel("WARN")
        started = time.perf_counter()
        scratch = Path(tempfile.mkdtemp(prefix="cinematch-spark."))
        try:
            sources = [read_release(spark, folder, scratch, args.links) for folder in args.data]
            app, receipt = (read_app_export(spark, args.app_ratings, scratch)
                            if args.app_ratings else (None, None))
            raw, catalogue = union_sources(sources, app)
            ratings, rows = checked_ratings(raw, catalogue.movies["movie_id"].to_numpy())
            described = []
            for source in sources:
                for entry in source.described:
                    if entry["rows"] == -1:  # the ratings file: counted by Spark
                        entry["rows"] = rows.get(source.name, 0)
                    described.append(entry)
            log.info("training on Spark %s (%s)…", spark.version, spark.sparkContext.master)
            fit = fit_spark(spark, ratings, catalogue.movies, settings, implicit, weights,
                            args.gate_users, args.gate_salt, described)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        save_trained(fit.artifact, fit.holdout, receipt, args.out, args.store, started)
        fit.release()
    return 0


if __name__ == "__main__":
    sys.exit(main())
