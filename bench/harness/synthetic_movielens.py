"""Seeded MovieLens-shaped ratings at any size, written in the ml-32m layout.

Why synthetic: the full releases are not on this machine, yet the question "does training and
serving fit at 32M ratings and 87k films?" needs data of that shape. The shape is what costs
time and memory, so it is copied, not the films:
- film popularity is a power law (a few films hold most ratings, most films have a handful);
- user activity is heavy-tailed (log-normal, at least 20 ratings each as in MovieLens);
- which films a user picks leans towards their favourite taste clusters, and the rating is
  low-rank taste (user · film factors) plus biases plus noise, rounded to half stars 0.5–5;
- the ml-32m sizes: 87,585 films and 200,948 users at 32M ratings; smaller sizes scale films
  as √ratings and users as ratings^0.7 (the issue's 0.47M/15k, 2M/30k, 8.6M/60k).

Files: ``ratings.csv`` (userId,movieId,rating,timestamp), ``movies.csv`` (movieId,title,genres)
and ``links.csv`` (movieId,imdbId,tmdbId), headers as GroupLens writes them. A held-out part
(20% of the ratings of a few thousand evaluation users) is written to another folder, never
inside the data folder, so the real CLI trains on the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pa_csv

#: The ml-32m release: ratings, users and films (GroupLens README).
FULL_RATINGS, FULL_USERS, FULL_FILMS = 32_000_204, 200_948, 87_585
GENRES = ("Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary",
          "Drama", "Fantasy", "Film-Noir", "Horror", "IMAX", "Musical", "Mystery", "Romance",
          "Sci-Fi", "Thriller", "War", "Western")
_WORDS = ("night", "river", "glass", "summer", "empire", "shadow", "letter", "garden", "storm",
          "silver", "winter", "city", "dream", "stranger", "road", "house", "fire", "island",
          "heart", "signal", "harbor", "circus", "valley", "engine", "paper", "mirror", "wolf")
RANK = 8  # dimensions of the simulated taste
N_CLUSTERS = 40  # taste clusters (each film belongs to one; genres follow the cluster)


@dataclass(frozen=True)
class Shape:
    ratings: int
    users: int
    films: int

    @classmethod
    def for_ratings(cls, ratings: int) -> Shape:
        share = min(ratings / FULL_RATINGS, 1.0)
        return cls(ratings, max(int(FULL_USERS * share ** 0.7), 200),
                   max(int(FULL_FILMS * share ** 0.5), 500))


@dataclass(frozen=True)
class Written:
    folder: Path  # ml-32m layout, what ``ml.training.train --data`` reads
    holdout: Path  # userId,movieId,rating: the evaluation users' held-out ratings
    history: Path  # userId,movieId,rating: the same users' ratings left in training
    n_ratings: int
    n_users: int
    n_films: int
    n_holdout: int


def generate(shape: Shape, folder: Path, eval_folder: Path, seed: int = 0,
             eval_users: int = 3000) -> Written:
    """Write ``shape``'s ratings into ``folder``, and into ``eval_folder`` the evaluation
    users' held-out 20% (``holdout.csv``) and the rest of their ratings (``history.csv``);
    memory stays near 40 bytes per rating."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    n_films, n_users = shape.films, shape.users

    # Films: a cluster each, a power-law popularity, taste factors near their cluster's centre.
    cluster = rng.integers(0, N_CLUSTERS, n_films)
    popularity = rng.permutation(n_films).astype(np.float64)
    popularity = (popularity + 10.0) ** -1.1  # Zipf-like: rank r weighs (r + 10)^-1.1
    centres = rng.normal(0.0, 0.6, (N_CLUSTERS, RANK))
    film_taste = (centres[cluster] + rng.normal(0.0, 0.3, (n_films, RANK))).astype(np.float32)
    film_bias = (rng.normal(0.0, 0.35, n_films) + 0.08 * np.log(popularity / popularity.mean())
                 ).astype(np.float32)
    by_cluster = np.argsort(cluster, kind="stable")
    mass = np.cumsum(popularity[by_cluster])
    cluster_end = np.searchsorted(cluster[by_cluster], np.arange(N_CLUSTERS), side="right")
    cluster_hi = mass[cluster_end - 1]
    cluster_lo = np.concatenate([[0.0], cluster_hi[:-1]])

    # Users: heavy-tailed activity scaled to the wanted total, two favourite clusters each.
    activity = rng.lognormal(0.0, 1.4, n_users)
    counts = 20 + activity / activity.sum() * max(shape.ratings - 20 * n_users, 0)
    counts = np.minimum(np.round(counts).astype(np.int64), n_films // 3)
    favourites = rng.integers(0, N_CLUSTERS, (n_users, 2))
    user_taste = rng.normal(0.0, 0.45, (n_users, RANK)).astype(np.float32)
    user_taste += 0.8 * centres[favourites[:, 0]].astype(np.float32)
    user_bias = rng.normal(0.0, 0.35, n_users).astype(np.float32)

    # Draw 60% more picks than needed, keep the first of each (user, film), trim to size.
    draws = np.round(counts * 1.6).astype(np.int64)
    users = np.repeat(np.arange(n_users, dtype=np.int64), draws)
    u = rng.random(len(users))
    mode = rng.random(len(users))
    fav = favourites[users, (mode < 0.3).astype(np.int64)]
    in_cluster = cluster_lo[fav] + u * (cluster_hi[fav] - cluster_lo[fav])
    anywhere = u * mass[-1]
    picks = by_cluster[np.minimum(
        np.searchsorted(mass, np.where(mode < 0.6, in_cluster, anywhere)), n_films - 1)]
    del u, mode, fav, in_cluster, anywhere
    pair = np.unique(users * n_films + picks)
    del users, picks
    if len(pair) > shape.ratings:
        pair = np.sort(rng.choice(pair, shape.ratings, replace=False))
    users, films = pair // n_films, pair % n_films
    del pair

    ratings = np.empty(len(users), dtype=np.float32)
    for start in range(0, len(users), 4_000_000):  # in chunks: a 32M × 8 gather is 1 GB
        s = slice(start, start + 4_000_000)
        who, what = users[s], films[s]
        raw = (3.3 + user_bias[who] + film_bias[what]
               + 0.5 * np.einsum("ij,ij->i", user_taste[who], film_taste[what])
               + rng.normal(0.0, 0.75, len(who)).astype(np.float32))
        ratings[s] = np.clip(np.round(raw * 2.0) / 2.0, 0.5, 5.0)
    timestamps = rng.integers(820_000_000, 1_697_000_000, len(users))

    # 20% of a few thousand users' ratings are held out for RMSE and NDCG@10.
    chosen = rng.choice(n_users, min(eval_users, n_users), replace=False)
    is_eval = np.zeros(n_users, dtype=bool)
    is_eval[chosen] = True
    held = is_eval[users] & (rng.random(len(users)) < 0.2)
    movie_ids = np.arange(1, n_films + 1, dtype=np.int64)
    user_ids = users + 1
    eval_folder.mkdir(parents=True, exist_ok=True)
    holdout, history = eval_folder / "holdout.csv", eval_folder / "history.csv"
    _write(holdout, {"userId": user_ids[held], "movieId": movie_ids[films[held]],
                     "rating": ratings[held]})
    kept = ~held
    known = is_eval[users] & kept
    _write(history, {"userId": user_ids[known], "movieId": movie_ids[films[known]],
                     "rating": ratings[known]})
    del known
    n_holdout = int(held.sum())
    del held
    _write(folder / "ratings.csv", {
        "userId": user_ids[kept], "movieId": movie_ids[films[kept]],
        "rating": ratings[kept], "timestamp": timestamps[kept]})
    _write_movies(folder, rng, cluster, movie_ids)
    n_kept = int(kept.sum())
    return Written(folder, holdout, history, n_kept, len(np.unique(user_ids[kept])),
                   n_films, n_holdout)


def _write(path: Path, columns: dict[str, npt.NDArray[np.generic]]) -> None:
    """CSV without quotes, as GroupLens writes it (pyarrow: ~20x faster than pandas here)."""
    table = pa.table({name: pa.array(values) for name, values in columns.items()})
    if "rating" in columns:  # "4.0", not "4": the MovieLens spelling
        table = table.set_column(
            table.schema.get_field_index("rating"), "rating",
            pa.array(np.char.mod("%.1f", columns["rating"].astype(np.float64))))
    with path.open("wb") as out:  # pyarrow would quote the header names
        out.write((",".join(columns) + "\n").encode())
        pa_csv.write_csv(table, out, pa_csv.WriteOptions(include_header=False,
                                                         quoting_style="none"))


def _write_movies(folder: Path, rng: np.random.Generator, cluster: npt.NDArray[np.int64],
                  movie_ids: npt.NDArray[np.int64]) -> None:
    """Titles with years 1920–2023 (one in twenty a numbered sequel of the film before it),
    genres from the film's cluster, and a tmdb/imdb link for each."""
    cluster_genres = [sorted(set(rng.choice(len(GENRES), rng.integers(1, 4), replace=False)))
                      for _ in range(N_CLUSTERS)]
    years = rng.integers(1920, 2024, len(movie_ids))
    lines = ["movieId,title,genres"]
    previous = ""
    for i, movie_id in enumerate(movie_ids.tolist()):
        if previous and rng.random() < 0.05:
            name = f"{previous} {rng.integers(2, 5)}"
        else:
            a, b = rng.integers(0, len(_WORDS), 2)
            previous = name = f"{_WORDS[a].title()} {_WORDS[b].title()} {movie_id}"
        genres = "|".join(GENRES[g] for g in cluster_genres[cluster[i]])
        lines.append(f"{movie_id},{name} ({years[i]}),{genres}")
    (folder / "movies.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    links = ["movieId,imdbId,tmdbId"] + [f"{m},{m:07d},{100000 + m}" for m in movie_ids.tolist()]
    (folder / "links.csv").write_text("\n".join(links) + "\n", encoding="utf-8")
