"""Reading exports: every format, and every bad file refused with the line that is wrong."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ml.serving.artifacts import CatalogueEntry
from ml.text.imports import (
    MAX_FIELD_CHARS,
    MAX_FILE_BYTES,
    MAX_ROWS,
    NO_RATING,
    TV_SKIPPED,
    Catalogue,
    ImportFileError,
    plan_import,
)
from ml.text.matching import NOT_IN_CATALOGUE

CATALOGUE = Catalogue(
    [
        CatalogueEntry(47, "Seven (a.k.a. Se7en)", 1995, ("Thriller",), 807, "0114369"),
        CatalogueEntry(1219, "Psycho", 1960, ("Horror",), 539, "0054215"),
        CatalogueEntry(2389, "Psycho", 1998, ("Horror",), 11252, "0155975"),
        CatalogueEntry(2571, "Matrix, The", 1999, ("Sci-Fi",), 603, "0133093"),
    ]
)

LETTERBOXD = """Date,Name,Year,Letterboxd URI,Rating
2024-01-05,Se7en,1995,https://boxd.it/29Hq,4.5
2024-01-06,Psycho,1998,https://boxd.it/1W8a,2
2024-01-07,Parasite,2019,https://boxd.it/hTha,5
"""
IMDB = """Const,Your Rating,Date Rated,Title,Original Title,URL,Title Type,IMDb Rating,Year
tt0133093,9,2023-03-01,The Matrix,The Matrix,https://www.imdb.com/title/tt0133093/,Movie,8.7,1999
tt0054215,10,2023-03-02,Psycho,Psycho,https://www.imdb.com/title/tt0054215/,Movie,8.5,1960
tt0903747,10,2023-03-03,Breaking Bad,Breaking Bad,https://imdb.com/tt0903747/,TV Series,9.5,2008
tt9999999,6,2023-03-04,Unknown,Unknown,https://www.imdb.com/title/tt9999999/,Movie,5.0,2021
"""
MOVIELENS = (
    "userId,movieId,rating,timestamp\n7,47,4.0,964982703\n7,2571,5.0,964981247\n7,999,3.0,1\n"
)
CINEMATCH = (
    "movie_id,imdb_id,tmdb_id,title,year,rating,rated_at,list\n"
    "47,tt0114369,807,Seven (a.k.a. Se7en),1995,4.5,2024-05-01T10:00:00+00:00,rated\n"
    "1219,tt0054215,539,Psycho,1960,,,watchlist\n"
    "47,tt0114369,807,Seven (a.k.a. Se7en),1995,,,hidden\n"
    "1219,tt0054215,539,Psycho,1960,,,favourites\n"
)


def plan(text: str | bytes, source: str = "auto"):
    data = text.encode() if isinstance(text, str) else text
    return plan_import(data, source, CATALOGUE)  # type: ignore[arg-type]


def test_letterboxd_by_title_and_year() -> None:
    result = plan(LETTERBOXD)
    assert result.source == "letterboxd" and result.rows == 3
    assert [(m.movie_id, m.rating) for m in result.matched] == [(47, 4.5), (2389, 2.0)]
    assert result.matched[0].rated_at == datetime(2024, 1, 5, tzinfo=UTC)
    assert [(u.title, u.year, u.reason) for u in result.unmatched] == [
        ("Parasite", 2019, NOT_IN_CATALOGUE)
    ]


def test_letterboxd_diary_rows_without_rating_are_reported() -> None:
    result = plan("Date,Name,Year,Letterboxd URI,Rating\n2024-01-05,Se7en,1995,u,\n")
    assert result.matched == [] and result.unmatched[0].reason == NO_RATING


def test_imdb_by_id_halved_and_tv_skipped() -> None:
    result = plan(IMDB)
    assert result.source == "imdb"
    assert [(m.movie_id, m.rating) for m in result.matched] == [(1219, 5.0), (2571, 4.5)]
    assert {u.title: u.reason for u in result.unmatched} == {
        "Breaking Bad": TV_SKIPPED,
        "Unknown": NOT_IN_CATALOGUE,
    }


def test_movielens_ratings_and_unknown_ids() -> None:
    result = plan(MOVIELENS)
    assert result.source == "movielens"
    assert [(m.movie_id, m.rating) for m in result.matched] == [(47, 4.0), (2571, 5.0)]
    assert result.matched[0].rated_at == datetime.fromtimestamp(964982703, UTC)
    assert [u.reason for u in result.unmatched] == [NOT_IN_CATALOGUE]


def test_cinematch_export_round_trip_and_lists() -> None:
    result = plan(CINEMATCH)
    assert result.source == "cinematch"
    assert [(m.movie_id, m.rating) for m in result.matched] == [(47, 4.5)]
    assert [(f.kind, f.movie_id) for f in result.listed] == [("watchlist", 1219), ("hidden", 47)]
    assert [(u.title, u.reason) for u in result.unmatched] == [
        ("Psycho", "not a list CineMatch keeps (rated, watchlist or hidden)")]


def test_the_newest_row_of_a_film_wins() -> None:
    text = (
        "Date,Name,Year,Letterboxd URI,Rating\n"
        "2024-01-05,Se7en,1995,u,2\n2024-02-05,Seven,1995,u,5\n"
    )
    assert [(m.movie_id, m.rating) for m in plan(text).matched] == [(47, 5.0)]


def test_a_named_source_must_fit_the_file() -> None:
    with pytest.raises(ImportFileError, match="not an IMDb export: missing column"):
        plan(LETTERBOXD, "imdb")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"\n\n  \n", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        ("Titel;Jahr\n".encode("utf-16"), "binary"),
        (b"Date,Name,Year,Rating\n2024-01-01,Caf\xe9,1995,4\n", "UTF-8"),
        (b"a,b,c\n1,2,3\n", "columns of no known export"),
        (b"Date,Name,Year,Letterboxd URI,Rating\n2024-01-05,Se7en,1995,u,7\n", "line 2: rating 7"),
        (b"Date,Name,Year,Letterboxd URI,Rating\n2024-01-05,Se7en,1995,u,4.3\n", "off the scale"),
        (b"Date,Name,Year,Letterboxd URI,Rating\n2024-01-05,Se7en,1995,u,nan\n", "off the scale"),
        (b"Date,Name,Year,Letterboxd URI,Rating\n2024-01-05,Se7en,1995,u,four\n", "not a number"),
        (
            b"Const,Your Rating,Date Rated,Title,Title Type\ntt1,11,2020-01-01,X,Movie\n",
            "rating 11",
        ),
        (b"Const,Your Rating,Date Rated,Title,Title Type\nnope,8,2020-01-01,X,Movie\n", "IMDb id"),
        (b"userId,movieId,rating,timestamp\n1,1,4,1\n2,1,4,1\n", "several MovieLens users"),
        (b"userId,movieId,rating,timestamp\n1,-1,4,1\n", "movieId"),
        (b"Date,Name,Year,Letterboxd URI,Rating\n01/05/2024,Se7en,1995,u,4\n", "date"),
        (b"Date,Name,Year,Letterboxd URI,Rating\n2024-01-05,Se7en,95,u,4\n", "year"),
        # Digits int() cannot read, though str.isdigit() says they are digits.
        ("Date,Name,Year,Letterboxd URI,Rating\n2024-01-05,Se7en,¹⁹⁹⁵,u,4\n".encode(), "year"),
        ("userId,movieId,rating,timestamp\n1,²,4,1\n".encode(), "movieId"),
        # Dates before ratings existed, or past what UTC can hold.
        (b"Date,Name,Year,Letterboxd URI,Rating\n1969-12-31,Se7en,1995,u,4\n", "before 1970"),
        (b"Date,Name,Year,Letterboxd URI,Rating\n0001-01-01T00:00:00+05:00,Se7en,1995,u,4\n",
         "before 1970"),
        (b"Date,Name,Year,Letterboxd URI,Rating\n9999-12-31T23:59:59-14:00,Se7en,1995,u,4\n",
         "out of range"),
        # A quote never closed would swallow every later row into one title.
        (b'Date,Name,Year,Letterboxd URI,Rating\n2024-01-05,"Heat,1995,u,4\n'
         b"2024-01-05,Alien,1979,u,4\n", "line 2: a quote opened on this line is never closed"),
    ],
)
def test_bad_files_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(ImportFileError, match=message):
        plan(data)


def test_csv_bombs_are_refused() -> None:
    header = b"userId,movieId,rating,timestamp\n"
    with pytest.raises(ImportFileError, match=f"more than {MAX_ROWS} rows"):
        plan(header + b"1,1,4,1\n" * (MAX_ROWS + 1))
    with pytest.raises(ImportFileError, match=f"more than {MAX_ROWS} rows"):
        plan(header + b"\n" * (MAX_ROWS + 1))
    huge = b"x" * (MAX_FIELD_CHARS + 1)
    with pytest.raises(ImportFileError, match="longer than"):
        plan(b"Date,Name,Year,Letterboxd URI,Rating\n2024-01-05," + huge + b",1995,u,4\n")
    with pytest.raises(ImportFileError, match=r"unreadable CSV|longer than"):
        plan(b'Date,Name,Year,Letterboxd URI,Rating\n2024-01-05,"' + b"y" * 200_000 + b"\n")
    with pytest.raises(ImportFileError, match="over 5 MB"):
        plan(header + b"1,1,4,1\n" * (MAX_FILE_BYTES // 8 + 1))
