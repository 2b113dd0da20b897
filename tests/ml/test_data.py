"""Contracts of ml.data: every MovieLens layout loads into one shape, bad files fail on a line.

Each test writes a tiny release into tmp_path in the exact bytes GroupLens uses (latin-1 and
"::" for ml-1m, CRLF CSV for ml-latest), so the parsers are tested on what they will meet.
The last test checks the real shared copies when they are present.
"""

import hashlib
import io
import logging
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from bench.harness.api_server import free_port
from ml import data
from ml.data import (
    DataFormatError,
    Dataset,
    DownloadError,
    describe_sources,
    detect_format,
    load_dataset,
    merge_datasets,
    parse_title,
    sha256_file,
)
from ml.data import cli as data_cli

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared/data/movielens"

GENRES_100K = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
]  # fmt: skip


# --- writing tiny releases -----------------------------------------------------------------


def write_100k(folder: Path, ratings: list[str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)

    def item(movie_id: int, title: str, date: str, genres: set[str]) -> str:
        flags = "|".join("1" if g in genres else "0" for g in GENRES_100K)
        return f"{movie_id}|{title}|{date}||http://us.imdb.com/M/title-exact?x|{flags}"

    items = [
        item(1, "Toy Story (1995)", "01-Jan-1995", {"Animation", "Children's", "Comedy"}),
        item(2, "Cité des enfants perdus, La (1995)", "01-Jan-1995", {"Sci-Fi"}),
        item(3, "Usual Suspects, The", "14-Aug-1995", {"Crime", "Thriller"}),
        item(4, "unknown", "", {"unknown"}),
    ]
    (folder / "u.item").write_bytes(("\n".join(items) + "\n").encode("latin-1"))
    genre_lines = [f"{g}|{i}" for i, g in enumerate(GENRES_100K)]
    (folder / "u.genre").write_text("\n".join(genre_lines) + "\n\n", encoding="latin-1")
    if ratings is None:
        ratings = ["1\t1\t5\t881250949", "1\t2\t3\t881250950", "2\t3\t4\t881250951"]
    (folder / "u.data").write_text("\n".join(ratings) + "\n")
    return folder


def write_1m(
    folder: Path, ratings: list[str] | None = None, ratings_name: str = "ratings.dat"
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    movies = [
        "1::Toy Story (1995)::Animation|Children's|Comedy",
        "2::Amélie (Fabuleux destin d'Amélie Poulain, Le) (2001)::Comedy|Romance",
        "2571::Matrix, The (1999)::Action|Sci-Fi|Thriller",
    ]
    (folder / "movies.dat").write_bytes(("\n".join(movies) + "\n").encode("latin-1"))
    if ratings is None:
        ratings = ["1::1::5::978300760", "1::2571::4::978300761", "2::2::3::978300762"]
    (folder / ratings_name).write_text("\n".join(ratings) + "\n")
    return folder


def write_csv(path: Path, lines: list[str]) -> None:
    """GroupLens writes its CSV releases with CRLF line endings and UTF-8."""
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"))


def write_latest(
    folder: Path,
    ratings: list[str] | None = None,
    movies: list[str] | None = None,
    links: list[str] | None = None,
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if ratings is None:
        ratings = [
            "userId,movieId,rating,timestamp",
            "1,1,4.0,964982703",
            "1,2571,5.0,964981247",
            "2,1,3.5,1445714835",
            "2,193609,0.5,1537109082",
        ]
    if movies is None:
        movies = [
            "movieId,title,genres",
            "1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy",
            '2571,"Matrix, The (1999)",Action|Sci-Fi|Thriller',
            "193609,Andrew Dice Clay: Dice Rules (1991),(no genres listed)",
        ]
    write_csv(folder / "ratings.csv", ratings)
    write_csv(folder / "movies.csv", movies)
    if links is not None:
        write_csv(folder / "links.csv", links)
    return folder


# --- format detection ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("writer", "expected"),
    [(write_100k, "ml-100k"), (write_1m, "ml-1m"), (write_latest, "ml-latest")],
)
def test_detect_format_recognises_each_layout(
    tmp_path: Path, writer: Callable[[Path], Path], expected: str
) -> None:
    folder = writer(tmp_path / "release")
    assert detect_format(folder) == expected


def test_detect_format_accepts_any_single_ratings_dat_name(tmp_path: Path) -> None:
    folder = write_1m(tmp_path / "ml-1m", ratings_name="ratings_PARTIAL_first3.dat")
    assert detect_format(folder) == "ml-1m"
    assert len(load_dataset(folder).ratings) == 3


def test_several_ratings_dat_files_are_refused(tmp_path: Path) -> None:
    folder = write_1m(tmp_path / "ml-1m")
    (folder / "ratings_old.dat").write_text("1::1::5::978300760\n")
    with pytest.raises(DataFormatError, match=r"several ratings files.*ratings\.dat.*keep exactly"):
        detect_format(folder)


def test_unknown_folder_names_what_was_expected_and_found(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataFormatError, match=r"not a MovieLens folder.*u\.data.*found notes\.txt"):
        load_dataset(tmp_path)


def test_parent_of_a_release_suggests_the_release_folder(tmp_path: Path) -> None:
    write_1m(tmp_path / "ml-1m")
    with pytest.raises(DataFormatError, match=r"did you mean .*ml-1m\?"):
        detect_format(tmp_path)


def test_missing_folder_is_a_file_not_found_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        detect_format(tmp_path / "nope")


# --- loading each layout -------------------------------------------------------------------


def assert_documented_dtypes(dataset: Dataset) -> None:
    assert list(dataset.ratings.columns) == ["user_id", "movie_id", "rating", "timestamp"]
    assert dataset.ratings.dtypes.astype(str).tolist() == ["int64", "int64", "float32", "int64"]
    movies = dataset.movies
    assert list(movies.columns) == ["movie_id", "title", "year", "genres", "tmdb_id", "imdb_id"]
    assert str(movies["movie_id"].dtype) == "int64"
    assert str(movies["year"].dtype) == "Int64"
    assert str(movies["tmdb_id"].dtype) == "Int64"
    assert all(isinstance(g, tuple) for g in movies["genres"])
    assert all(v is None or isinstance(v, str) for v in movies["imdb_id"])
    assert movies["movie_id"].is_monotonic_increasing


def test_ml100k_reads_latin1_titles_genre_flags_and_years(tmp_path: Path) -> None:
    dataset = load_dataset(write_100k(tmp_path / "ml-100k"))
    assert_documented_dtypes(dataset)
    assert dataset.name == "ml-100k"
    assert dataset.movie_id_space == "ml-100k"
    movies = dataset.movies.set_index("movie_id")
    assert movies.loc[1, "title"] == "Toy Story"
    assert movies.loc[1, "genres"] == ("Animation", "Children", "Comedy")
    assert movies.loc[2, "title"] == "La Cité des enfants perdus"
    # No "(year)" in the title: the release-date column supplies it.
    assert (movies.loc[3, "title"], movies.loc[3, "year"]) == ("The Usual Suspects", 1995)
    assert movies.loc[4, "genres"] == ()
    assert pd.isna(movies.loc[4, "year"])
    assert dataset.ratings["rating"].tolist() == [5.0, 3.0, 4.0]


def test_ml1m_reads_double_colon_latin1_files(tmp_path: Path) -> None:
    dataset = load_dataset(write_1m(tmp_path / "ml-1m"))
    assert_documented_dtypes(dataset)
    movies = dataset.movies.set_index("movie_id")
    assert movies.loc[2, "title"] == "Amélie (Le Fabuleux destin d'Amélie Poulain)"
    assert movies.loc[2, "year"] == 2001
    assert movies.loc[2571, "title"] == "The Matrix"
    assert movies.loc[2571, "genres"] == ("Action", "Sci-Fi", "Thriller")
    assert dataset.ratings.to_dict("list") == {
        "user_id": [1, 1, 2],
        "movie_id": [1, 2571, 2],
        "rating": [5.0, 4.0, 3.0],
        "timestamp": [978300760, 978300761, 978300762],
    }
    assert movies["tmdb_id"].isna().all()


def test_latest_reads_crlf_csv_quoted_titles_and_links(tmp_path: Path) -> None:
    folder = write_latest(
        tmp_path / "ml-latest-small",
        links=["movieId,imdbId,tmdbId", "1,0114709,862", "2571,0133093,603", "193609,0101726,"],
    )
    dataset = load_dataset(folder)
    assert_documented_dtypes(dataset)
    movies = dataset.movies.set_index("movie_id")
    assert movies.loc[2571, "title"] == "The Matrix"
    assert movies.loc[193609, "genres"] == ()
    assert movies.loc[1, "imdb_id"] == "0114709"  # leading zero kept
    assert movies.loc[2571, "tmdb_id"] == 603
    assert pd.isna(movies.loc[193609, "tmdb_id"])
    assert dataset.ratings["rating"].tolist() == [4.0, 5.0, 3.5, 0.5]


def test_catalogue_keeps_movies_nobody_rated(tmp_path: Path) -> None:
    dataset = load_dataset(write_1m(tmp_path / "ml-1m", ratings=["1::1::5::978300760"]))
    assert dataset.movies["movie_id"].tolist() == [1, 2, 2571]


def test_explicit_links_file_maps_ml1m_ids(tmp_path: Path) -> None:
    links = tmp_path / "links.csv"
    write_csv(links, ["movieId,imdbId,tmdbId", "1,114709,862", "2571,0133093,603"])
    dataset = load_dataset(write_1m(tmp_path / "ml-1m"), links=links)
    movies = dataset.movies.set_index("movie_id")
    assert movies.loc[1, "imdb_id"] == "0114709"  # padded to IMDb's seven digits
    assert movies.loc[2571, "tmdb_id"] == 603
    assert pd.isna(movies.loc[2, "tmdb_id"])
    assert movies.loc[2, "imdb_id"] is None


def test_explicit_links_win_and_folder_links_fill_gaps(tmp_path: Path) -> None:
    folder = write_latest(
        tmp_path / "ml-latest-small",
        links=["movieId,imdbId,tmdbId", "1,0114709,1111", "2571,0133093,603"],
    )
    explicit = tmp_path / "links.csv"
    write_csv(explicit, ["movieId,imdbId,tmdbId", "1,0114709,862", "2571,0133093,"])
    movies = load_dataset(folder, links=explicit).movies.set_index("movie_id")
    assert movies.loc[1, "tmdb_id"] == 862
    assert movies.loc[2571, "tmdb_id"] == 603


def test_links_are_refused_for_ml100k(tmp_path: Path) -> None:
    links = tmp_path / "links.csv"
    write_csv(links, ["movieId,imdbId,tmdbId", "1,0114709,862"])
    with pytest.raises(DataFormatError, match="ml-100k numbers movies its own way"):
        load_dataset(write_100k(tmp_path / "ml-100k"), links=links)


def test_repeated_rating_keeps_the_latest_and_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ratings = [
        "userId,movieId,rating,timestamp",
        "1,1,2.0,300",
        "1,1,4.5,100",  # later line, earlier time: superseded by the line above
        "1,2571,3.0,50",
        "1,2571,1.0,60",
    ]
    with caplog.at_level(logging.WARNING, logger="ml.data"):
        dataset = load_dataset(write_latest(tmp_path / "ml-latest", ratings=ratings))
    assert dataset.ratings[["movie_id", "rating", "timestamp"]].values.tolist() == [
        [1, 2.0, 300],
        [2571, 1.0, 60],
    ]
    assert "2 repeated (user, movie) ratings dropped" in caplog.text


# --- titles --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "title", "year"),
    [
        ("Toy Story (1995)", "Toy Story", 1995),
        ("Matrix, The (1999)", "The Matrix", 1999),
        ("Usual Suspects, The", "The Usual Suspects", None),
        ("Walk in the Clouds, A (1995)", "A Walk in the Clouds", 1995),
        ("Awfully Big Adventure, An (1995)", "An Awfully Big Adventure", 1995),
        ("Misérables, Les (1995)", "Les Misérables", 1995),
        ("Boot, Das (1981)", "Das Boot", 1981),
        ("Enfer, L' (1994)", "L'Enfer", 1994),
        ("Postman, The (Postino, Il) (1994)", "The Postman (Il Postino)", 1994),
        ("Hate (Haine, La) (1995)", "Hate (La Haine)", 1995),
        ("Crow, The: Wicked Prayer (2005)", "The Crow: Wicked Prayer", 2005),
        (
            "Lord of the Rings: The Two Towers, The (2002)",
            "The Lord of the Rings: The Two Towers",
            2002,
        ),
        (
            "Strike! (a.k.a. All I Wanna Do, The Hairy Bird) (1998)",
            "Strike! (a.k.a. All I Wanna Do, The Hairy Bird)",
            1998,
        ),
        ("  Blind Side, The  (2009) ", "The Blind Side", 2009),
        ("Death Note: Desu nôto (2006–2007)", "Death Note: Desu nôto", 2006),
        ("Babylon 5", "Babylon 5", None),
    ],
)
def test_parse_title_moves_articles_and_splits_the_year(
    raw: str, title: str, year: int | None
) -> None:
    assert parse_title(raw) == (title, year)


# --- malformed files -----------------------------------------------------------------------


def test_missing_ratings_column_names_file_and_column(tmp_path: Path) -> None:
    ratings = ["userId,movieId,stars,timestamp", "1,1,4.0,964982703"]
    folder = write_latest(tmp_path / "ml-latest", ratings=ratings)
    with pytest.raises(DataFormatError) as error:
        load_dataset(folder)
    assert str(error.value) == "ml-latest/ratings.csv:1: missing column 'rating'"


def test_missing_movies_column_names_file_and_column(tmp_path: Path) -> None:
    folder = write_latest(tmp_path / "ml-latest", movies=["movieId,title", "1,Toy Story (1995)"])
    with pytest.raises(
        DataFormatError, match=r"^ml-latest/movies\.csv:1: missing column 'genres'$"
    ):
        load_dataset(folder)


def test_short_1m_line_names_file_line_and_separator(tmp_path: Path) -> None:
    ratings = ["1::1::5::978300760", "1::2571::4::978300761", "2::2::3"]
    folder = write_1m(tmp_path / "ml-1m", ratings=ratings)
    with pytest.raises(DataFormatError) as error:
        load_dataset(folder)
    assert str(error.value) == "ml-1m/ratings.dat:3: expected 4 fields separated by '::', got 3"


def test_long_csv_line_is_reported_not_silently_truncated(tmp_path: Path) -> None:
    ratings = ["userId,movieId,rating,timestamp", "1,1,4.0,964982703", "1,2571,5.0,964981247,9"]
    folder = write_latest(tmp_path / "ml-latest", ratings=ratings)
    with pytest.raises(DataFormatError, match=r"ratings\.csv:3: expected 4 fields .*got 5"):
        load_dataset(folder)


def test_rating_that_is_not_a_number_names_line(tmp_path: Path) -> None:
    ratings = [
        "userId,movieId,rating,timestamp",
        "1,1,4.0,964982703",
        "",  # a blank line must not shift the reported line number
        "1,2571,5.0,964981247",
        "2,1,abc,1445714835",
    ]
    folder = write_latest(tmp_path / "ml-latest", ratings=ratings)
    with pytest.raises(
        DataFormatError, match=r"^ml-latest/ratings\.csv:5: rating 'abc' is not a number$"
    ):
        load_dataset(folder)


@pytest.mark.parametrize("bad", ["0", "5.5", "-1", "nan"])
def test_rating_outside_the_scale_names_line(tmp_path: Path, bad: str) -> None:
    ratings = ["1::1::5::978300760", "", f"1::2571::{bad}::978300761"]
    folder = write_1m(tmp_path / "ml-1m", ratings=ratings)
    with pytest.raises(
        DataFormatError, match=rf"ratings\.dat:3: rating '{bad}' is outside 0\.5–5\.0"
    ):
        load_dataset(folder)


def test_non_integer_user_in_100k_names_line(tmp_path: Path) -> None:
    folder = write_100k(tmp_path / "ml-100k", ratings=["1\t1\t5\t881250949", "x\t2\t3\t881250950"])
    with pytest.raises(DataFormatError, match=r"u\.data:2: user_id 'x' is not an integer"):
        load_dataset(folder)


def test_rated_movie_missing_from_catalogue_names_line_and_id(tmp_path: Path) -> None:
    ratings = ["1::1::5::978300760", "", "1::999::4::978300761", "1::998::4::978300761"]
    folder = write_1m(tmp_path / "ml-1m", ratings=ratings)
    with pytest.raises(
        DataFormatError,
        match=r"ratings\.dat:3: movie 999 is rated but not in ml-1m/movies\.dat "
        r"\(2 rated movie ids are missing: 998, 999\)",
    ):
        load_dataset(folder)


def test_malformed_movie_line_names_line(tmp_path: Path) -> None:
    folder = write_1m(tmp_path / "ml-1m")
    with (folder / "movies.dat").open("ab") as handle:
        handle.write("3::Broken (1999)\n".encode("latin-1"))
    with pytest.raises(
        DataFormatError, match=r"movies\.dat:4: expected 3 fields separated by '::', got 2"
    ):
        load_dataset(folder)


def test_repeated_movie_id_names_both_lines(tmp_path: Path) -> None:
    movies = ["movieId,title,genres", "1,Toy Story (1995),Comedy", "1,Toy Story (1995),Comedy"]
    folder = write_latest(
        tmp_path / "ml-latest", ratings=["userId,movieId,rating,timestamp"], movies=movies
    )
    with pytest.raises(DataFormatError, match=r"movies\.csv:3: movie id 1 repeats line 2"):
        load_dataset(folder)


def test_ml100k_without_u_genre_says_what_is_missing(tmp_path: Path) -> None:
    folder = write_100k(tmp_path / "ml-100k")
    (folder / "u.genre").unlink()
    with pytest.raises(DataFormatError, match=r"ml-100k/u\.genre: missing"):
        load_dataset(folder)


def test_bad_links_row_names_line(tmp_path: Path) -> None:
    links = tmp_path / "links" / "links.csv"
    links.parent.mkdir()
    write_csv(links, ["movieId,imdbId,tmdbId", "1,0114709,862", "2571,0133093,six"])
    with pytest.raises(
        DataFormatError, match=r"^links/links\.csv:3: tmdbId 'six' is not an integer$"
    ):
        load_dataset(write_1m(tmp_path / "ml-1m"), links=links)


# --- merging -------------------------------------------------------------------------------


def test_merge_namespaces_users_and_unions_movies(tmp_path: Path) -> None:
    links = tmp_path / "links.csv"
    write_csv(links, ["movieId,imdbId,tmdbId", "2,0211915,194"])
    old = load_dataset(write_1m(tmp_path / "ml-1m"), links=links)
    new = load_dataset(write_latest(tmp_path / "ml-latest-small"))
    merged = merge_datasets([old, new])

    assert merged.name == "ml-1m+ml-latest-small"
    ratings = merged.ratings
    assert len(ratings) == len(old.ratings) + len(new.ratings)
    assert isinstance(ratings["source"].dtype, pd.CategoricalDtype)
    assert list(ratings["source"].cat.categories) == ["ml-1m", "ml-latest-small"]
    assert str(ratings["user_id"].dtype) == "int64"
    by_source = ratings.groupby("source", observed=True)["user_id"].unique()
    assert sorted(by_source["ml-1m"]) == [1, 2]
    assert sorted(by_source["ml-latest-small"]) == [1_000_000_001, 1_000_000_002]
    assert ratings["user_id"].nunique() == 4  # user 1 of each release stays two people

    movies = merged.movies.set_index("movie_id")
    assert sorted(movies.index) == [1, 2, 2571, 193609]
    # ml-latest-small came last, so its genres win for the movie both releases list ...
    assert movies.loc[1, "genres"] == ("Adventure", "Animation", "Children", "Comedy", "Fantasy")
    # ... but the TMDB id only ml-1m's links knew survives, and ml-1m-only movies stay.
    assert movies.loc[2, "tmdb_id"] == 194
    assert movies.loc[2, "title"] == "Amélie (Le Fabuleux destin d'Amélie Poulain)"
    assert str(movies["tmdb_id"].dtype) == "Int64"


def test_merge_refuses_ml100k_with_other_releases(tmp_path: Path) -> None:
    small = load_dataset(write_100k(tmp_path / "ml-100k"))
    one_m = load_dataset(write_1m(tmp_path / "ml-1m"))
    with pytest.raises(ValueError, match="ml-100k numbers movies differently"):
        merge_datasets([one_m, small])


def test_merge_refuses_two_datasets_with_one_name(tmp_path: Path) -> None:
    one_m = load_dataset(write_1m(tmp_path / "ml-1m"))
    with pytest.raises(ValueError, match="same name"):
        merge_datasets([one_m, one_m])


# --- provenance ----------------------------------------------------------------------------


def test_describe_sources_lists_each_file_read_with_rows_and_sha256(tmp_path: Path) -> None:
    folder = write_latest(
        tmp_path / "ml-latest-small", links=["movieId,imdbId,tmdbId", "1,0114709,862"]
    )
    sources = describe_sources([folder])
    assert [s["path"] for s in sources] == [
        "ml-latest-small/ratings.csv",
        "ml-latest-small/movies.csv",
        "ml-latest-small/links.csv",
    ]
    assert [s["rows"] for s in sources] == [4, 3, 1]
    expected = hashlib.sha256((folder / "ratings.csv").read_bytes()).hexdigest()
    assert sources[0]["sha256"] == expected == sha256_file(folder / "ratings.csv")


def test_describe_sources_counts_rows_without_blank_lines_and_adds_links(tmp_path: Path) -> None:
    links = tmp_path / "links" / "links.csv"
    links.parent.mkdir()
    write_csv(links, ["movieId,imdbId,tmdbId", "1,0114709,862", "2,0211915,194"])
    sources = describe_sources(
        [write_100k(tmp_path / "ml-100k"), write_1m(tmp_path / "ml-1m")], links=links
    )
    assert {s["path"]: s["rows"] for s in sources} == {
        "ml-100k/u.data": 3,
        "ml-100k/u.item": 4,
        "ml-100k/u.genre": 19,  # the file ends with a blank line
        "ml-1m/ratings.dat": 3,
        "ml-1m/movies.dat": 3,
        "links/links.csv": 2,
    }


# --- command line --------------------------------------------------------------------------


def test_info_prints_format_counts_scale_and_dates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_latest(tmp_path / "ml-latest-small")
    assert data_cli.main(["info", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "format ml-latest" in out
    assert "ratings: 4\n" in out
    assert "users: 2\n" in out
    assert "movies: 3 in the catalogue, 3 rated" in out
    assert "rating scale: 0.5–5 (0.5, 3.5, 4, 5)" in out
    assert "dates: 2000-07-30 to 2018-09-16" in out


def test_cli_error_is_one_line_exit_2_without_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ml.data", "info", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: ") and "not a MovieLens folder" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_usage_error_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        data_cli.main(["download", "ml-7m", "--to", "x"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1


# --- download ------------------------------------------------------------------------------


def closed_port() -> int:
    return free_port()


def fake_release_zip(name: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr(f"{name}/movies.dat", "1::Toy Story (1995)::Animation\n")
        bundle.writestr(f"{name}/ratings.dat", "1::1::5::978300760\n")
    return buffer.getvalue()


def test_download_offline_fails_fast_with_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(data.MIRROR_ENV, f"http://127.0.0.1:{closed_port()}")
    started = time.monotonic()
    code = data_cli.main(["download", "ml-1m", "--to", str(tmp_path / "data")])
    assert time.monotonic() - started < 5
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "download of" in err and "failed" in err and "--data DIR" in err
    assert list((tmp_path / "data").iterdir()) == []


def test_download_from_a_silent_server_times_out(tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        base_url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        with pytest.raises(DownloadError, match="timed out"):
            data.download("ml-1m", tmp_path / "data", base_url=base_url, timeout=0.5)
    assert time.monotonic() - started < 3
    assert list((tmp_path / "data").iterdir()) == []


def test_download_checksum_mismatch_deletes_the_file(
    tmp_path: Path, mirror: tuple[str, Path]
) -> None:
    base_url, served = mirror
    (served / "ml-1m.zip").write_bytes(fake_release_zip("ml-1m"))
    target = tmp_path / "data"
    with pytest.raises(DownloadError, match=r"checksum mismatch .*expected md5 c4d9eecf"):
        data.download("ml-1m", target, base_url=base_url)
    assert list(target.iterdir()) == []


def test_download_extracts_a_verified_archive(
    tmp_path: Path,
    mirror: tuple[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    base_url, served = mirror
    archive = fake_release_zip("ml-1m")
    (served / "ml-1m.zip").write_bytes(archive)
    monkeypatch.setitem(data.KNOWN_MD5, "ml-1m", hashlib.md5(archive).hexdigest())
    monkeypatch.setenv(data.MIRROR_ENV, base_url)
    target = tmp_path / "data"
    assert data_cli.main(["download", "ml-1m", "--to", str(target)]) == 0
    assert f"ml-1m is in {target / 'ml-1m'} (format ml-1m)" in capsys.readouterr().out
    assert sorted(p.name for p in target.iterdir()) == ["ml-1m"]  # zip removed once unpacked
    assert len(load_dataset(target / "ml-1m").ratings) == 1


@pytest.mark.parametrize(
    "published", ["MD5 (ml-latest-small.zip) = {md5}\n", "{md5}  ml-latest-small.zip\n"]
)
def test_download_without_a_pin_checks_the_published_md5(
    tmp_path: Path, mirror: tuple[str, Path], published: str
) -> None:
    base_url, served = mirror
    archive = fake_release_zip("ml-latest-small")
    (served / "ml-latest-small.zip").write_bytes(archive)
    (served / "ml-latest-small.zip.md5").write_text(
        published.format(md5=hashlib.md5(archive).hexdigest())
    )
    release = data.download("ml-latest-small", tmp_path / "data", base_url=base_url)
    assert (release / "movies.dat").exists()

    (served / "ml-latest-small.zip.md5").write_text(published.format(md5="0" * 32))
    with pytest.raises(DownloadError, match="checksum mismatch"):
        data.download("ml-latest-small", tmp_path / "again", base_url=base_url)
    assert list((tmp_path / "again").iterdir()) == []


# --- the real shared copies ----------------------------------------------------------------


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} is absent")
def test_real_shared_movielens_counts() -> None:
    small = load_dataset(SHARED / "ml-100k")
    assert (len(small.ratings), small.ratings["user_id"].nunique(), len(small.movies)) == (
        100_000,
        943,
        1682,
    )

    started = time.perf_counter()
    one_m = load_dataset(SHARED / "ml-1m", links=SHARED / "links/links.csv")
    assert time.perf_counter() - started < 5  # about 0.4 s; pandas' slow engine takes ~10x
    assert (len(one_m.ratings), len(one_m.movies)) == (487_650, 3883)

    latest = load_dataset(SHARED / "ml-latest-small")
    assert (len(latest.ratings), latest.ratings["user_id"].nunique(), len(latest.movies)) == (
        100_836,
        610,
        9742,
    )

    merged = merge_datasets([one_m, latest])
    assert merged.ratings["user_id"].nunique() == 2999 + 610
    assert len(merged.ratings) == 487_650 + 100_836
    movies = merged.movies.set_index("movie_id")
    assert movies.loc[2571, "title"] == "The Matrix"
    covered = movies.loc[one_m.movies["movie_id"], "tmdb_id"].notna().sum()
    assert covered >= 3800
