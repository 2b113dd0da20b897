"""The full-size path on a tiny release: download ml-32m, then `make train DATA=...` serves it.

The folder is generated in the ml-32m layout (``ratings.csv``, ``movies.csv``, ``links.csv``,
``tags.csv``, ``README.txt``), zipped and served by a fake GroupLens on 127.0.0.1 (the
``mirror`` fixture), fetched with ``python -m ml.data download ml-32m`` and trained with the
Makefile's own recipe. Films after 2018, which the shipped model lacks, must come out in the
catalogue the service loads.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ml.data import KNOWN_MD5, MIRROR_ENV, load_dataset
from ml.data.cli import main as data_main
from ml.serving.recommender import Recommender
from tests.synthetic import planted_movies, planted_ratings

REPO = Path(__file__).resolve().parents[2]
#: Recent films (title, year, imdb digits, tmdb id) given to the first planted ids.
RECENT = (("Oppenheimer", 2023, "15398776", 872585),
          ("Dune", 2021, "1160419", 438631),
          ("Everything Everywhere All at Once", 2022, "6710474", 545611))
#: Small factor counts: the recipe is the point here, not the accuracy.
FAST = "--n-factors 3 --rank 4 --n-epochs 12 --burn-in 4"


def release_files() -> dict[str, str]:
    """The files of a tiny ml-32m, written the way GroupLens writes them."""
    movies = planted_movies()
    ratings = planted_ratings(n_users=80, per_user=20)
    titles, links = ["movieId,title,genres"], ["movieId,imdbId,tmdbId"]
    for row, movie in enumerate(movies.itertuples()):
        title, year, imdb, tmdb = (RECENT[row] if row < len(RECENT) else
                                   (movie.title, movie.year, f"{movie.movie_id:07d}",
                                    1000 + movie.movie_id))
        titles.append(f'{movie.movie_id},"{title} ({year})",{"|".join(movie.genres)}')
        links.append(f"{movie.movie_id},{imdb},{tmdb}")
    lines = ["userId,movieId,rating,timestamp"] + [
        f"{r.user_id},{r.movie_id},{r.rating:g},{1_700_000_000 + i}"
        for i, r in enumerate(ratings.itertuples())]
    return {"ratings.csv": "\n".join(lines) + "\n", "movies.csv": "\n".join(titles) + "\n",
            "links.csv": "\n".join(links) + "\n",
            "tags.csv": "userId,movieId,tag,timestamp\n1,1,epic,1700000000\n",
            "README.txt": "Summary\n=======\nA tiny stand-in for ml-32m.\n"}


def release_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, text in release_files().items():
            bundle.writestr(f"ml-32m/{name}", text)
    return buffer.getvalue()


def test_ml_32m_and_ml_25m_have_pinned_checksums():
    assert len(KNOWN_MD5["ml-32m"]) == 32 and len(KNOWN_MD5["ml-25m"]) == 32


def test_a_downloaded_ml_32m_trains_with_make_and_serves_recent_films(
    tmp_path: Path, mirror: tuple[str, Path], monkeypatch: pytest.MonkeyPatch,
):
    base_url, served = mirror
    archive = release_zip()
    (served / "ml-32m.zip").write_bytes(archive)
    monkeypatch.setitem(KNOWN_MD5, "ml-32m", hashlib.md5(archive).hexdigest())
    monkeypatch.setenv(MIRROR_ENV, base_url)
    assert data_main(["download", "ml-32m", "--to", str(tmp_path / "data")]) == 0
    release = tmp_path / "data" / "ml-32m"
    assert len(load_dataset(release).ratings) == 80 * 20

    out = tmp_path / "models"
    # -o: the shared virtualenv is set up already; PY: the interpreter running these tests.
    result = subprocess.run(
        ["make", "-o", ".venv/.installed", "train", f"DATA={release}", f"OUT={out}",
         "TEST_FRACTION=0.1", f"TRAIN_ARGS={FAST}", f"PY={sys.executable}"],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]

    recommender = Recommender.load(out)
    assert recommender.n_movies == 60
    oppenheimer = recommender.movie(1)
    assert (oppenheimer.title, oppenheimer.year, oppenheimer.tmdb_id) == (
        "Oppenheimer", 2023, 872585)
    assert {m.year for m in recommender.movies()} >= {2021, 2022, 2023}
    sources = {s["path"]: s for s in recommender.manifest["data"]["sources"]}
    assert set(sources) == {"ml-32m/ratings.csv", "ml-32m/movies.csv", "ml-32m/links.csv"}
    assert sources["ml-32m/ratings.csv"]["rows"] == 80 * 20
    assert recommender.metrics()["rating"][0]["model"] == "global_mean"
    ratings = {1: 5.0, 2: 4.5, 3: 5.0, 101: 1.0, 102: 1.5}
    assert recommender.recommend(ratings, 5).source == "personalized"


def test_make_train_names_a_folder_that_is_not_a_release(tmp_path: Path):
    result = subprocess.run(
        ["make", "-o", ".venv/.installed", "train", f"DATA={tmp_path}",
         f"OUT={tmp_path / 'models'}", f"PY={sys.executable}"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode != 0
    assert f"error: {tmp_path} is not a MovieLens folder" in result.stderr
    assert "Traceback" not in result.stderr
