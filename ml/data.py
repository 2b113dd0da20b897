"""Load MovieLens releases into one tidy shape, merge them, and fetch them from GroupLens.

Every release GroupLens has published uses one of three layouts: ml-100k (``u.data``/``u.item``),
ml-1m and ml-10m (``::``-separated ``.dat`` files in latin-1), and the CSV releases (ml-latest,
ml-latest-small, ml-20m, ml-25m, ml-32m). The trainer should not care which one it was given, so
``load_dataset`` detects the layout from the folder's contents and returns a ``Dataset`` whose
``ratings`` and ``movies`` frames always have the same columns and dtypes.

Files are parsed with pandas' C engine because ml-25m has 25 million lines. A malformed file must
still be easy to fix by hand, so when the fast path fails the file is re-scanned in Python to
report the first offending line as ``DataFormatError("folder/file:LINE: what is wrong")``.

Run ``python -m ml.data download ml-1m --to DIR`` to fetch a release, and
``python -m ml.data info PATH`` to see what a folder holds.
"""

import argparse
import csv
import hashlib
import http.client
import io
import logging
import os
import re
import sys
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, NoReturn

import numpy as np
import pandas as pd
from tqdm import tqdm

from ml.rules import RATING_MAX, RATING_MIN

logger = logging.getLogger(__name__)

FORMAT_100K: Final = "ml-100k"
FORMAT_1M: Final = "ml-1m"
FORMAT_LATEST: Final = "ml-latest"

#: Every release except ml-100k numbers movies the same way, so they can share one catalogue.
MOVIELENS_IDS: Final = "movielens"

#: Merged user ids are ``source_index * USER_ID_STRIDE + user_id``; no release has 10**9 users.
USER_ID_STRIDE: Final = 10**9

RATINGS_COLUMNS: Final = ("user_id", "movie_id", "rating", "timestamp")

DEFAULT_MIRROR: Final = "https://files.grouplens.org/datasets/movielens"
#: Points downloads at another server (a local mirror, or a fake one in tests).
MIRROR_ENV: Final = "CINEMATCH_DATA_MIRROR"
#: Seconds to wait for a connection, and for each read once connected. Short so that a machine
#: without network fails at once instead of hanging.
DOWNLOAD_TIMEOUT: Final = 5.0
DOWNLOADABLE: Final = ("ml-100k", "ml-1m", "ml-latest-small", "ml-25m", "ml-32m")
#: md5 of the official zips as GroupLens publishes them in ``<name>.zip.md5``. ml-latest-small
#: is left out on purpose: GroupLens regenerates it now and then, so its published ``.md5`` file
#: is fetched and trusted instead of a pin that would go stale.
KNOWN_MD5: Final[dict[str, str]] = {
    "ml-100k": "0e33842e24a9c977be4e0107933c0723",
    "ml-1m": "c4d9eecfca2ab87c1945afe126590906",
    "ml-25m": "6b51fb2759a8657d3bfcbfc42b592ada",
    "ml-32m": "d472be332d4daa821edc399621853b57",
}
_CHUNK_BYTES: Final = 1 << 20

_NO_GENRE: Final = frozenset({"(no genres listed)", "unknown"})
#: Newer releases renamed this genre; one spelling keeps a merged catalogue's genre list clean.
_GENRE_ALIASES: Final = {"Children's": "Children"}

# MovieLens files titles under their main word: "Matrix, The (1999)", also before a subtitle
# ("Crow, The: Wicked Prayer") and inside an alternative title:
# "City of Lost Children, The (Cité des enfants perdus, La) (1995)".
_ARTICLES: Final = (
    "The", "A", "An",
    "La", "Le", "Les", "L'", "Un", "Une",
    "Il", "Lo", "Gli", "I", "Una",
    "El", "Los", "Las",
    "Der", "Die", "Das", "Ein", "Eine",
    "De", "Het", "Den", "Det", "En", "Ett",
    "O", "Os",
)  # fmt: skip
_TRAILING_ARTICLE: Final = re.compile(
    r"(^|\()([^()]+?), ("
    + "|".join(re.escape(a) for a in sorted(_ARTICLES, key=len, reverse=True))
    + r")(?=\s*(?:\(|\)|:|$))"
)
# Most titles end in "(1995)"; a few series end in a span such as "(2006–2007)".
_TRAILING_YEAR: Final = re.compile(r"^(.*?)\s*\((\d{4})(?:\s*[-–]\s*(?:\d{4})?)?\)$")


class DataFormatError(ValueError):
    """A data file is not what its release promises; the message names the file and line."""


class DownloadError(RuntimeError):
    """A release could not be fetched, verified or unpacked."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """One MovieLens release (or several merged), in the shape the trainer expects.

    ``ratings``: ``user_id`` int64, ``movie_id`` int64, ``rating`` float32, ``timestamp`` int64
    (seconds since the epoch), in file order; merged datasets add a categorical ``source``.
    ``movies``: the whole catalogue, rated or not, sorted by ``movie_id``: ``title`` (article
    moved to the front, year removed), ``year`` Int64, ``genres`` tuple of str, ``tmdb_id``
    Int64 and ``imdb_id`` str or None (zero-padded digits, as in ``links.csv``).
    ``movie_id_space`` says which numbering ``movie_id`` uses, so that catalogues that only
    look alike (ml-100k's ids are its own) are never merged.
    """

    name: str
    ratings: pd.DataFrame
    movies: pd.DataFrame
    movie_id_space: str = MOVIELENS_IDS


@dataclass(frozen=True)
class _TextFile:
    """How one delimited file of a release is written."""

    path: Path
    sep: str
    encoding: str
    header: bool

    @property
    def label(self) -> str:
        """Folder and file name: enough to find the file, short enough for an error line."""
        return f"{self.path.parent.name}/{self.path.name}"

    @property
    def separator_name(self) -> str:
        return "a tab" if self.sep == "\t" else repr(self.sep)


@dataclass(frozen=True)
class _Layout:
    """The files one release folder is read from."""

    format: str
    ratings: _TextFile
    movies: _TextFile
    genres: _TextFile | None
    links: _TextFile | None

    def files(self) -> list[_TextFile]:
        return [f for f in (self.ratings, self.movies, self.genres, self.links) if f is not None]


def _csv_file(path: Path) -> _TextFile:
    # utf-8-sig: a BOM left by a spreadsheet must not become part of the first column name.
    return _TextFile(path, ",", "utf-8-sig", header=True)


def _find_layout(path: Path) -> _Layout:
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if not path.is_dir():
        raise DataFormatError(f"{path} is a file; pass the folder of a MovieLens release")
    names = {p.name for p in path.iterdir() if p.is_file()}
    layouts: list[_Layout] = []
    if {"u.data", "u.item"} <= names:
        layouts.append(
            _Layout(
                FORMAT_100K,
                ratings=_TextFile(path / "u.data", "\t", "latin-1", header=False),
                movies=_TextFile(path / "u.item", "|", "latin-1", header=False),
                genres=_TextFile(path / "u.genre", "|", "latin-1", header=False)
                if "u.genre" in names
                else None,
                links=None,
            )
        )
    dat_ratings = sorted(n for n in names if n.startswith("ratings") and n.endswith(".dat"))
    if "movies.dat" in names and dat_ratings:
        if len(dat_ratings) > 1:
            raise DataFormatError(
                f"{path}: several ratings files ({', '.join(dat_ratings)}); keep exactly one"
            )
        layouts.append(
            _Layout(
                FORMAT_1M,
                ratings=_TextFile(path / dat_ratings[0], "::", "latin-1", header=False),
                movies=_TextFile(path / "movies.dat", "::", "latin-1", header=False),
                genres=None,
                links=_csv_file(path / "links.csv") if "links.csv" in names else None,
            )
        )
    if {"ratings.csv", "movies.csv"} <= names:
        layouts.append(
            _Layout(
                FORMAT_LATEST,
                ratings=_csv_file(path / "ratings.csv"),
                movies=_csv_file(path / "movies.csv"),
                genres=None,
                links=_csv_file(path / "links.csv") if "links.csv" in names else None,
            )
        )
    if len(layouts) > 1:
        found = " and ".join(layout.format for layout in layouts)
        raise DataFormatError(f"{path}: holds the files of both {found}; keep one release")
    if not layouts:
        raise DataFormatError(_unknown_folder_message(path, names))
    return layouts[0]


def _unknown_folder_message(path: Path, names: set[str]) -> str:
    message = (
        f"{path} is not a MovieLens folder: expected u.data + u.item (ml-100k), "
        "movies.dat + ratings*.dat (ml-1m) or ratings.csv + movies.csv "
        f"(ml-latest, ml-25m, ml-32m); found {', '.join(sorted(names)[:8]) or 'no files'}"
    )
    releases = []
    for child in sorted(p for p in path.iterdir() if p.is_dir()):
        try:
            _find_layout(child)
        except (DataFormatError, OSError):
            continue
        releases.append(child.name)
    if releases:
        message += f"; did you mean {path / releases[0]}?"
    return message


def detect_format(path: str | Path) -> str:
    """Name the layout of a release folder: "ml-100k", "ml-1m" or "ml-latest".

    ml-10m reads as "ml-1m" and ml-20m/25m/32m as "ml-latest": the files are written the same way.
    """
    return _find_layout(Path(path)).format


def load_dataset(path: str | Path, links: str | Path | None = None) -> Dataset:
    """Read a release folder into a ``Dataset``, checking every line.

    ``links`` is an extra ``links.csv`` (movieId,imdbId,tmdbId) for releases that ship without
    one, such as ml-1m: the ml-25m file maps every MovieLens id. When the folder has its own
    links.csv too, the explicit file wins and the folder's fills its gaps.

    If a user rated the same movie twice, only the rating with the latest timestamp is kept (the
    later line on a tie), because a recommender should learn what the user thinks now. The
    number dropped is logged as a warning.

    Raises ``DataFormatError`` naming the file and line when a file is malformed, a rating lies
    outside the product's scale, or a rated movie is missing from the movie file.
    """
    folder = Path(path)
    layout = _find_layout(folder)
    if links is not None and layout.format == FORMAT_100K:
        raise DataFormatError(
            f"{folder}: ml-100k numbers movies its own way, so a MovieLens links file "
            "cannot be applied to it"
        )
    movies = _read_movies(layout)
    ratings = _read_ratings(layout.ratings)
    _check_rated_movies_exist(ratings, movies, layout)
    ratings = _keep_latest_rating(ratings, layout.ratings)
    link_files = [_csv_file(Path(links))] if links is not None else []
    if layout.links is not None:
        link_files.append(layout.links)
    movies = _attach_links(movies, [_read_links(f) for f in link_files])
    id_space = FORMAT_100K if layout.format == FORMAT_100K else MOVIELENS_IDS
    return Dataset(folder.resolve().name, ratings, movies, movie_id_space=id_space)


def merge_datasets(datasets: Sequence[Dataset]) -> Dataset:
    """Combine releases into one training set.

    Users are never shared between releases (user 1 of ml-1m is not user 1 of ml-latest-small),
    so each source's ids are offset by ``index * USER_ID_STRIDE`` and a categorical ``source``
    column names the release. Movies are shared, so catalogues are unioned on ``movie_id``:
    for title, genres and year the last dataset that has a value wins, so pass the newest release
    last; TMDB and IMDb ids are kept from whichever release has them.

    Raises ``ValueError`` for datasets in different id spaces (ml-100k with anything else) and
    for datasets whose names clash, since ``source`` must tell them apart.
    """
    if not datasets:
        raise ValueError("merge_datasets needs at least one dataset")
    spaces = {d.movie_id_space for d in datasets}
    if len(spaces) > 1:
        names = ", ".join(f"{d.name} ({d.movie_id_space} ids)" for d in datasets)
        raise ValueError(
            f"cannot merge {names}: ml-100k numbers movies differently from the other releases"
        )
    names = [d.name for d in datasets]
    if len(set(names)) != len(names):
        raise ValueError(f"cannot merge datasets with the same name: {', '.join(names)}")
    sources = pd.CategoricalDtype(names)
    parts = []
    for index, dataset in enumerate(datasets):
        ratings = dataset.ratings
        if "source" in ratings.columns:
            raise ValueError(f"{dataset.name} is already merged; merge the releases in one call")
        if len(ratings) and int(ratings["user_id"].max()) >= USER_ID_STRIDE:
            raise ValueError(f"{dataset.name} has user ids of {USER_ID_STRIDE} or more")
        part = ratings.loc[:, list(RATINGS_COLUMNS)]
        part["user_id"] = part["user_id"] + index * USER_ID_STRIDE
        part["source"] = pd.Categorical.from_codes(np.full(len(part), index), dtype=sources)
        parts.append(part)
    ratings = pd.concat(parts, ignore_index=True)
    # groupby().last() takes each column's last non-null value: later titles win, and an id
    # known to any release survives.
    stacked = pd.concat([d.movies for d in datasets], ignore_index=True)
    movies = stacked.groupby("movie_id", sort=True).last().reset_index()
    return Dataset("+".join(names), ratings, _typed_movies(movies), datasets[0].movie_id_space)


# --- reading lines -------------------------------------------------------------------------


def _decoded_lines(f: _TextFile) -> Iterator[str]:
    with f.path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                yield raw.decode(f.encoding)
            except UnicodeDecodeError:
                raise DataFormatError(f"{f.label}:{number}: not valid {f.encoding} text") from None


def _numbered_rows(f: _TextFile) -> Iterator[tuple[int, list[str]]]:
    """Yield (line number, fields) for every non-blank line, the header included.

    Blank lines are skipped the way pandas skips them, so row i of a parsed frame is the i-th
    row yielded here after the header.
    """
    for number, line in enumerate(_decoded_lines(f), start=1):
        text = line.rstrip("\r\n")
        if not text.strip(" "):
            continue
        fields = next(csv.reader([text])) if f.sep == "," else text.split(f.sep)
        yield number, fields


def _data_rows(f: _TextFile) -> Iterator[tuple[int, list[str]]]:
    rows = _numbered_rows(f)
    if f.header:
        next(rows, None)
    return rows


def _line_of_row(f: _TextFile, row: int) -> int:
    """The line number of the ``row``-th data row (0-based), for pointing at a bad value."""
    for index, (number, _) in enumerate(_data_rows(f)):
        if index == row:
            return number
    return row + 1 + int(f.header)  # pandas and the scan disagreed; the best estimate


def _header(f: _TextFile, required: Sequence[str]) -> list[str]:
    """The file's column names, after checking the required ones are all there."""
    first = next(_numbered_rows(f), None)
    if first is None:
        raise DataFormatError(f"{f.label}:1: empty file; expected a header {','.join(required)}")
    number, columns = first
    for name in required:
        if name not in columns:
            raise DataFormatError(f"{f.label}:{number}: missing column {name!r}")
    return columns


# --- checking values when the fast path fails --------------------------------------------

_Check = Callable[[str, str], str | None]


def _integer(name: str, text: str) -> str | None:
    try:
        value = int(text)
    except ValueError:
        return f"{name} {text!r} is not an integer"
    if not -(2**63) <= value < 2**63:
        return f"{name} {text!r} is too large"
    return None


def _optional_integer(name: str, text: str) -> str | None:
    return _integer(name, text) if text.strip() else None


def _rating(name: str, text: str) -> str | None:
    try:
        value = float(text)
    except ValueError:
        return f"{name} {text!r} is not a number"
    if not RATING_MIN <= value <= RATING_MAX:  # also false for NaN
        return f"{name} {text!r} is outside {RATING_MIN}–{RATING_MAX}"
    return None


def _first_bad_row(f: _TextFile, width: int, checks: Sequence[tuple[int, str, _Check]]) -> str:
    """Describe the first line that is malformed, or say that none could be pinned down."""
    for number, fields in _data_rows(f):
        if len(fields) != width:
            return (
                f"{f.label}:{number}: expected {width} fields separated by "
                f"{f.separator_name}, got {len(fields)}"
            )
        for index, name, check in checks:
            problem = check(name, fields[index].strip())
            if problem is not None:
                return f"{f.label}:{number}: {problem}"
    return f"{f.label}: could not be parsed"


def _fail_at_first_bad_row(
    f: _TextFile,
    width: int,
    checks: Sequence[tuple[int, str, _Check]],
    cause: Exception | None = None,
) -> NoReturn:
    message = _first_bad_row(f, width, checks)
    if cause is not None and message.endswith("could not be parsed"):
        message += f" ({cause})"
    raise DataFormatError(message) from None


# --- ratings -------------------------------------------------------------------------------


_RATING_DTYPES: Final = {
    "user_id": "int64",
    "movie_id": "int64",
    "rating": "float32",
    "timestamp": "int64",
}
#: How the CSV releases spell our rating columns.
_CSV_RATING_NAMES: Final = {
    "user_id": "userId",
    "movie_id": "movieId",
    "rating": "rating",
    "timestamp": "timestamp",
}


def _rating_checks(positions: Sequence[int], names: Sequence[str]) -> list[tuple[int, str, _Check]]:
    return [
        (at, name, _rating if name == "rating" else _integer)
        for at, name in zip(positions, names, strict=True)
    ]


def _parse_plain_ratings(f: _TextFile) -> pd.DataFrame:
    source: Path | io.BytesIO = f.path
    sep = f.sep
    if len(sep) > 1:
        # pandas splits on a multi-character separator only with its slow Python engine; a
        # one-byte stand-in that never occurs in MovieLens keeps the C engine (10x faster).
        source = io.BytesIO(f.path.read_bytes().replace(sep.encode(), b"\x1f"))
        sep = "\x1f"
    return pd.read_csv(
        source,
        sep=sep,
        header=None,
        names=list(RATINGS_COLUMNS),
        index_col=False,
        dtype=_RATING_DTYPES,
        quoting=csv.QUOTE_NONE,
        engine="c",
    )


def _read_ratings(f: _TextFile) -> pd.DataFrame:
    """Parse a ratings file with pandas' C engine; on any error, find the line in Python."""
    if f.header:
        names = list(_CSV_RATING_NAMES.values())
        columns = _header(f, names)
        width = len(columns)
        checks = _rating_checks([columns.index(n) for n in names], names)
    else:
        width = len(RATINGS_COLUMNS)
        checks = _rating_checks(range(width), RATINGS_COLUMNS)
    try:
        if f.header:
            frame = pd.read_csv(
                f.path,
                header=0,
                dtype={_CSV_RATING_NAMES[c]: t for c, t in _RATING_DTYPES.items()},
                encoding="utf-8",
                engine="c",
            )
            frame = frame.rename(columns={v: k for k, v in _CSV_RATING_NAMES.items()})
            frame = frame.loc[:, list(RATINGS_COLUMNS)]
        else:
            frame = _parse_plain_ratings(f)
    except (ValueError, OverflowError) as exc:
        _fail_at_first_bad_row(f, width, checks, exc)
    if not frame["rating"].between(RATING_MIN, RATING_MAX).all():
        _fail_at_first_bad_row(f, width, checks)
    return frame


def _check_rated_movies_exist(ratings: pd.DataFrame, movies: pd.DataFrame, layout: _Layout) -> None:
    unknown = ~ratings["movie_id"].isin(movies["movie_id"])
    if not unknown.any():
        return
    row = int(np.flatnonzero(unknown.to_numpy())[0])
    movie = int(ratings["movie_id"].iat[row])
    missing = np.unique(ratings.loc[unknown, "movie_id"].to_numpy())
    examples = ", ".join(str(m) for m in missing[:5])
    raise DataFormatError(
        f"{layout.ratings.label}:{_line_of_row(layout.ratings, row)}: movie {movie} is rated "
        f"but not in {layout.movies.label} ({len(missing)} rated movie ids are missing: "
        f"{examples}{', ...' if len(missing) > 5 else ''})"
    )


def _keep_latest_rating(ratings: pd.DataFrame, f: _TextFile) -> pd.DataFrame:
    pairs = ["user_id", "movie_id"]
    if not ratings.duplicated(pairs).any():
        return ratings
    by_time = ratings.sort_values("timestamp", kind="stable")
    kept = by_time.drop_duplicates(pairs, keep="last").index.sort_values()
    logger.warning(
        "%s: %d repeated (user, movie) ratings dropped; kept the latest of each",
        f.label,
        len(ratings) - len(kept),
    )
    return ratings.loc[kept].reset_index(drop=True)


# --- movies --------------------------------------------------------------------------------


def parse_title(raw: str) -> tuple[str, int | None]:
    """Split a MovieLens title into a display title and its year.

    "Matrix, The (1999)" becomes ("The Matrix", 1999), and the article of an alternative title
    moves too: "Postman, The (Postino, Il) (1994)" becomes ("The Postman (Il Postino)", 1994).
    """
    text = " ".join(raw.split())
    text = text.replace("( ", "(").replace(" )", ")")
    year: int | None = None
    match = _TRAILING_YEAR.match(text)
    if match and match.group(1):
        text, year = match.group(1), int(match.group(2))

    def front(m: re.Match[str]) -> str:
        article = m.group(3)
        joiner = "" if article.endswith("'") else " "
        return f"{m.group(1)}{article}{joiner}{m.group(2)}"

    return _TRAILING_ARTICLE.sub(front, text), year


def _genres(names: Sequence[str]) -> tuple[str, ...]:
    return tuple(
        _GENRE_ALIASES.get(g, g) for g in (n.strip() for n in names) if g and g not in _NO_GENRE
    )


# (line number, movie id text, raw title, genres, year to use when the title has none)
_MovieRow = tuple[int, str, str, tuple[str, ...], int | None]


def _movie_rows_100k(layout: _Layout) -> Iterator[_MovieRow]:
    f = layout.movies
    genre_names = _read_100k_genres(layout)
    for number, fields in _data_rows(f):
        _expect_width(f, number, fields, 5 + len(genre_names))
        flags = fields[5:]
        if any(flag not in ("0", "1") for flag in flags):
            raise DataFormatError(f"{f.label}:{number}: genre flags must be 0 or 1")
        genres = _genres([g for g, flag in zip(genre_names, flags, strict=True) if flag == "1"])
        # A few ml-100k titles lack "(year)"; the release date ("01-Jan-1995") still has it.
        release = fields[2].strip()
        year = int(release[-4:]) if release[-4:].isdigit() else None
        yield number, fields[0], fields[1], genres, year


def _movie_rows_1m(layout: _Layout) -> Iterator[_MovieRow]:
    f = layout.movies
    for number, fields in _data_rows(f):
        _expect_width(f, number, fields, 3)
        yield number, fields[0], fields[1], _genres(fields[2].split("|")), None


def _movie_rows_csv(layout: _Layout) -> Iterator[_MovieRow]:
    f = layout.movies
    columns = _header(f, ("movieId", "title", "genres"))
    at_id, at_title, at_genres = (columns.index(c) for c in ("movieId", "title", "genres"))
    for number, fields in _data_rows(f):
        _expect_width(f, number, fields, len(columns))
        genres = _genres(fields[at_genres].split("|"))
        yield number, fields[at_id], fields[at_title], genres, None


def _read_movies(layout: _Layout) -> pd.DataFrame:
    """Parse the movie file line by line: it is small, and titles need Python anyway."""
    f = layout.movies
    rows = {
        FORMAT_100K: _movie_rows_100k,
        FORMAT_1M: _movie_rows_1m,
        FORMAT_LATEST: _movie_rows_csv,
    }[layout.format](layout)
    records: list[tuple[int, str, int | None, tuple[str, ...]]] = []
    first_line: dict[int, int] = {}
    for number, id_text, raw_title, genres, fallback_year in rows:
        problem = _integer("movie id", id_text.strip())
        if problem is not None:
            raise DataFormatError(f"{f.label}:{number}: {problem}")
        movie_id = int(id_text)
        if movie_id in first_line:
            raise DataFormatError(
                f"{f.label}:{number}: movie id {movie_id} repeats line {first_line[movie_id]}"
            )
        first_line[movie_id] = number
        title, year = parse_title(raw_title)
        records.append((movie_id, title, year if year is not None else fallback_year, genres))
    movies = pd.DataFrame.from_records(records, columns=["movie_id", "title", "year", "genres"])
    movies["tmdb_id"] = None
    movies["imdb_id"] = None
    return _typed_movies(movies.sort_values("movie_id", ignore_index=True))


def _expect_width(f: _TextFile, number: int, fields: list[str], width: int) -> None:
    if len(fields) != width:
        raise DataFormatError(
            f"{f.label}:{number}: expected {width} fields separated by {f.separator_name}, "
            f"got {len(fields)}"
        )


def _read_100k_genres(layout: _Layout) -> list[str]:
    """ml-100k's genre flags are positional; u.genre names them in order."""
    f = layout.genres
    if f is None:
        raise DataFormatError(
            f"{layout.movies.path.parent.name}/u.genre: missing; it names the genre flags of u.item"
        )
    named: list[tuple[int, str]] = []
    for number, fields in _data_rows(f):
        _expect_width(f, number, fields, 2)
        problem = _integer("genre index", fields[1].strip())
        if problem is not None:
            raise DataFormatError(f"{f.label}:{number}: {problem}")
        named.append((int(fields[1]), fields[0].strip()))
    if sorted(i for i, _ in named) != list(range(len(named))):
        raise DataFormatError(f"{f.label}: genre indexes must run 0..{len(named) - 1}")
    return [name for _, name in sorted(named)]


def _typed_movies(movies: pd.DataFrame) -> pd.DataFrame:
    """Give the catalogue its documented dtypes; missing ids are <NA> and None, never NaN."""
    return pd.DataFrame(
        {
            "movie_id": movies["movie_id"].astype("int64").to_numpy(),
            "title": movies["title"].astype(str).to_numpy(),
            "year": pd.array(movies["year"].tolist(), dtype="Int64"),
            "genres": pd.Series([tuple(g) for g in movies["genres"]], dtype=object),
            "tmdb_id": pd.array(movies["tmdb_id"].tolist(), dtype="Int64"),
            "imdb_id": pd.Series(
                [None if pd.isna(v) else str(v) for v in movies["imdb_id"]], dtype=object
            ),
        }
    )


# --- links ---------------------------------------------------------------------------------


def _read_links(f: _TextFile) -> pd.DataFrame:
    """movie_id → tmdb_id (Int64) and imdb_id (7-digit string, leading zeros kept)."""
    wanted = ["movieId", "imdbId", "tmdbId"]
    columns = _header(f, wanted)
    checks = [
        (columns.index("movieId"), "movieId", _integer),
        (columns.index("imdbId"), "imdbId", _optional_integer),
        (columns.index("tmdbId"), "tmdbId", _optional_integer),
    ]
    try:
        frame = pd.read_csv(
            f.path,
            header=0,
            dtype={"movieId": "int64", "imdbId": "str", "tmdbId": "Int64"},
            encoding="utf-8",
            engine="c",
        )
    except (ValueError, OverflowError) as exc:
        _fail_at_first_bad_row(f, len(columns), checks, exc)
    repeated = frame["movieId"].duplicated()
    if repeated.any():
        row = int(np.flatnonzero(repeated.to_numpy())[0])
        movie_id = frame["movieId"].iat[row]
        raise DataFormatError(
            f"{f.label}:{_line_of_row(f, row)}: movie id {movie_id} is listed twice"
        )
    imdb = [None if pd.isna(v) else str(v).strip().zfill(7) for v in frame["imdbId"]]
    return pd.DataFrame(
        {
            "movie_id": frame["movieId"].to_numpy(),
            "tmdb_id": frame["tmdbId"].array,
            "imdb_id": pd.Series(imdb, dtype=object),
        }
    )


def _attach_links(movies: pd.DataFrame, links: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Fill tmdb_id/imdb_id from link tables; the first table with a value for a movie wins."""
    if not links:
        return movies
    stacked = pd.concat(links, ignore_index=True)
    best = stacked.groupby("movie_id").first()
    found = best.reindex(movies["movie_id"].to_numpy())
    movies = movies.copy()
    movies["tmdb_id"] = found["tmdb_id"].to_numpy()
    movies["imdb_id"] = found["imdb_id"].to_numpy()
    return _typed_movies(movies)


# --- provenance ----------------------------------------------------------------------------


def _digest_and_rows(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    rows = 0
    with path.open("rb") as handle:
        for line in handle:
            digest.update(line)
            if line.strip(b" \r\n"):
                rows += 1
    return digest.hexdigest(), rows


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in chunks, so a manifest can pin the exact data trained on."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def describe_sources(
    dataset_paths: Sequence[str | Path], links: str | Path | None = None
) -> list[dict[str, str | int]]:
    """List every file ``load_dataset`` reads for these folders (and ``links``), for a manifest.

    Each entry is ``{"path": "ml-1m/movies.dat", "rows": 3883, "sha256": ...}``; ``rows``
    counts non-blank lines after the header, which is the number of ratings for a ratings file.
    """
    files = [f for p in dataset_paths for f in _find_layout(Path(p)).files()]
    if links is not None:
        files.append(_csv_file(Path(links)))
    described: list[dict[str, str | int]] = []
    seen: set[Path] = set()
    for f in files:
        resolved = f.path.resolve()
        if resolved in seen:
            continue
        seen.add(resolved)
        digest, rows = _digest_and_rows(f.path)
        described.append({"path": f.label, "rows": rows - int(f.header), "sha256": digest})
    return described


# --- download ------------------------------------------------------------------------------


def _open_url(url: str, timeout: float) -> http.client.HTTPResponse:
    """Open an http(s) URL, turning every way it can fail into one readable DownloadError."""
    if not url.startswith(("http://", "https://")):
        raise DownloadError(f"cannot download {url}: only http and https are supported")
    try:
        return urllib.request.urlopen(url, timeout=timeout)
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"download of {url} failed (HTTP {exc.code} {exc.reason})") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise DownloadError(
            f"download of {url} failed ({reason}); no network? pass a local --data DIR instead"
        ) from None


def _published_md5(url: str, timeout: float) -> str:
    """Read GroupLens' ``<zip>.md5``, written either as "MD5 (x.zip) = hex" or "hex  x.zip"."""
    with _open_url(url, timeout) as response:
        text = response.read(4096).decode("ascii", errors="replace")
    match = re.search(r"\b[0-9a-fA-F]{32}\b", text)
    if match is None:
        raise DownloadError(f"{url} holds no md5 checksum")
    return match.group(0).lower()


def _fetch(url: str, target: Path, timeout: float, label: str) -> str:
    """Stream ``url`` into ``target`` with a progress bar; return the md5 of what was written."""
    digest = hashlib.md5(usedforsecurity=False)
    with _open_url(url, timeout) as response, target.open("wb") as out:
        size = int(response.headers.get("Content-Length") or 0) or None
        bar = tqdm(
            total=size, unit="B", unit_scale=True, unit_divisor=1024, desc=label, disable=None
        )
        with bar:
            try:
                while chunk := response.read(_CHUNK_BYTES):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
            except OSError as exc:
                raise DownloadError(f"download of {url} broke off ({exc}); run it again") from None
    return digest.hexdigest()


def download(
    name: str,
    to: str | Path,
    *,
    base_url: str | None = None,
    timeout: float = DOWNLOAD_TIMEOUT,
) -> Path:
    """Fetch GroupLens' ``<name>.zip`` into ``to``, verify its md5, unpack it, return the folder.

    The md5 is pinned in ``KNOWN_MD5``; for a release without a pin (ml-latest-small) the
    ``<name>.zip.md5`` GroupLens publishes beside the zip is fetched first. A mismatch deletes
    the download, so a corrupt archive is never unpacked or left behind; so does any other
    failure. The zip itself is removed after unpacking: the folder is what loaders read.
    ``base_url`` (or ``$CINEMATCH_DATA_MIRROR``) replaces the GroupLens address.
    """
    if name not in DOWNLOADABLE:
        raise DownloadError(f"unknown release {name!r}; choose one of {', '.join(DOWNLOADABLE)}")
    base = (base_url or os.environ.get(MIRROR_ENV) or DEFAULT_MIRROR).rstrip("/")
    url = f"{base}/{name}.zip"
    expected = KNOWN_MD5.get(name) or _published_md5(f"{url}.md5", timeout)
    folder = Path(to)
    folder.mkdir(parents=True, exist_ok=True)
    archive = folder / f"{name}.zip"
    partial = folder / f"{name}.zip.part"
    try:
        actual = _fetch(url, partial, timeout, name)
        if actual != expected:
            raise DownloadError(
                f"checksum mismatch for {url}: expected md5 {expected}, got {actual}; "
                "the download was deleted"
            )
        partial.replace(archive)
    finally:
        partial.unlink(missing_ok=True)
    try:
        with zipfile.ZipFile(archive) as bundle:
            bundle.extractall(folder)  # refuses absolute and ".." member paths
    except zipfile.BadZipFile as exc:
        raise DownloadError(f"{archive} is not a valid zip ({exc})") from None
    finally:
        archive.unlink(missing_ok=True)
    release = folder / name
    if not release.is_dir():
        raise DownloadError(f"{name}.zip did not contain a {name}/ folder")
    return release


# --- command line --------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetSummary:
    """What ``python -m ml.data info`` reports about a dataset."""

    name: str
    ratings: int
    users: int
    movies: int
    rated_movies: int
    rating_values: tuple[float, ...]
    first_day: str | None
    last_day: str | None
    with_tmdb_id: int


def _utc_day(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).date().isoformat()


def summarize(dataset: Dataset) -> DatasetSummary:
    """Counts, rating values and date range of a dataset."""
    ratings, movies = dataset.ratings, dataset.movies
    stamps = ratings["timestamp"]
    return DatasetSummary(
        name=dataset.name,
        ratings=len(ratings),
        users=int(ratings["user_id"].nunique()),
        movies=len(movies),
        rated_movies=int(ratings["movie_id"].nunique()),
        rating_values=tuple(sorted(float(r) for r in ratings["rating"].unique())),
        first_day=_utc_day(int(stamps.min())) if len(stamps) else None,
        last_day=_utc_day(int(stamps.max())) if len(stamps) else None,
        with_tmdb_id=int(movies["tmdb_id"].notna().sum()),
    )


def _info_lines(summary: DatasetSummary, layout_format: str) -> list[str]:
    values = summary.rating_values
    scale = (
        f"{values[0]:g}–{values[-1]:g} ({', '.join(f'{v:g}' for v in values)})" if values else "-"
    )
    return [
        f"{summary.name}: format {layout_format}",
        f"ratings: {summary.ratings}",
        f"users: {summary.users}",
        f"movies: {summary.movies} in the catalogue, {summary.rated_movies} rated",
        f"rating scale: {scale}",
        f"dates: {summary.first_day or '-'} to {summary.last_day or '-'} (UTC)",
        f"tmdb ids: {summary.with_tmdb_id} of {summary.movies} movies",
    ]


class _OneLineParser(argparse.ArgumentParser):
    """Usage mistakes are reported like every other CLI error: one line, exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="python -m ml.data", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    fetch = commands.add_parser("download", help="fetch and unpack a release from GroupLens")
    fetch.add_argument("name", choices=DOWNLOADABLE)
    fetch.add_argument(
        "--to", type=Path, default=Path("data"), help="folder to unpack into (default: data)"
    )
    info = commands.add_parser("info", help="describe a release folder")
    info.add_argument("path", type=Path)
    info.add_argument("--links", type=Path, help="links.csv mapping movie ids to TMDB/IMDb")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m ml.data``; returns the exit code (2 on any error)."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "download":
            release = download(args.name, args.to)
            print(f"{args.name} is in {release} (format {detect_format(release)})")
        else:
            dataset = load_dataset(args.path, links=args.links)
            print("\n".join(_info_lines(summarize(dataset), detect_format(args.path))))
    except (DataFormatError, DownloadError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
