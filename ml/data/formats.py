"""MovieLens layouts: read any release folder into one tidy ``Dataset``, checking every line.

Three layouts cover every release: ml-100k (``u.data``/``u.item``), ml-1m and ml-10m (``::``
``.dat`` files in latin-1) and the CSV releases (``ratings.csv``, ``movies.csv``,
``links.csv``). Ratings are parsed with pandas' C engine; when that fails, the file is
re-scanned in Python to report the first bad line as ``DataFormatError("folder/file:LINE:
what is wrong")``. ``read_ratings_file`` is the one ratings reader.
"""

import csv
import io
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, NoReturn

import numpy as np
import pandas as pd

from ml.rules import RATING_MAX, RATING_MIN
from ml.text.titles import ARTICLES

logger = logging.getLogger("ml.data")

FORMAT_100K: Final = "ml-100k"
FORMAT_1M: Final = "ml-1m"
FORMAT_LATEST: Final = "ml-latest"

#: Every release except ml-100k numbers movies the same way, so they can share one catalogue.
MOVIELENS_IDS: Final = "movielens"

RATINGS_COLUMNS: Final = ("user_id", "movie_id", "rating", "timestamp")

_NO_GENRE: Final = frozenset({"(no genres listed)", "unknown"})
#: Newer releases renamed this genre; one spelling keeps a merged catalogue's genre list clean.
_GENRE_ALIASES: Final = {"Children's": "Children"}

# MovieLens files titles under their main word: "Matrix, The (1999)", also before a subtitle
# ("Crow, The: Wicked Prayer") and inside an alternative title:
# "City of Lost Children, The (Cité des enfants perdus, La) (1995)".
_TRAILING_ARTICLE: Final = re.compile(
    r"(^|\()([^()]+?), ("
    + "|".join(re.escape(a.capitalize()) for a in sorted(ARTICLES, key=len, reverse=True))
    + r")(?=\s*(?:\(|\)|:|$))"
)
# Most titles end in "(1995)"; a few series end in a span such as "(2006–2007)".
_TRAILING_YEAR: Final = re.compile(r"^(.*?)\s*\((\d{4})(?:\s*[-–]\s*(?:\d{4})?)?\)$")


class DataFormatError(ValueError):
    """A data file is not what its release promises; the message names the file and line."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """One MovieLens release (or several merged), in the shape the trainer expects.

    ``ratings``: ``user_id`` int64, ``movie_id`` int64, ``rating`` float32, ``timestamp`` int64,
    in file order (merged datasets add a categorical ``source``). ``movies``: the catalogue,
    sorted by ``movie_id``: ``title`` (article in front, no year), ``year`` Int64, ``genres``
    tuple, ``tmdb_id`` Int64, ``imdb_id`` str or None. ``movie_id_space`` keeps catalogues of
    different numberings (ml-100k's) from being merged.
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
    layout = layout_in(path, names)
    if layout is None:
        raise DataFormatError(_unknown_folder_message(path, names))
    return layout


def layout_in(path: Path, names: set[str]) -> _Layout | None:
    """The release layout of a folder holding the files ``names``, None when it is none."""
    layouts: list[_Layout] = []
    links = _csv_file(path / "links.csv") if "links.csv" in names else None
    if {"u.data", "u.item"} <= names:
        genres = _TextFile(path / "u.genre", "|", "latin-1", header=False)
        layouts.append(_Layout(FORMAT_100K, _TextFile(path / "u.data", "\t", "latin-1", False),
                               _TextFile(path / "u.item", "|", "latin-1", header=False),
                               genres if "u.genre" in names else None, links=None))
    dat_ratings = sorted(n for n in names if n.startswith("ratings") and n.endswith(".dat"))
    if "movies.dat" in names and dat_ratings:
        if len(dat_ratings) > 1:
            raise DataFormatError(
                f"{path}: several ratings files ({', '.join(dat_ratings)}); keep exactly one")
        layouts.append(_Layout(FORMAT_1M, _TextFile(path / dat_ratings[0], "::", "latin-1", False),
                               _TextFile(path / "movies.dat", "::", "latin-1", header=False),
                               None, links))
    if {"ratings.csv", "movies.csv"} <= names:
        layouts.append(_Layout(FORMAT_LATEST, _csv_file(path / "ratings.csv"),
                               _csv_file(path / "movies.csv"), None, links))
    if len(layouts) > 1:
        found = " and ".join(layout.format for layout in layouts)
        raise DataFormatError(f"{path}: holds the files of both {found}; keep one release")
    return layouts[0] if layouts else None


def _unknown_folder_message(path: Path, names: set[str]) -> str:
    message = (f"{path} is not a MovieLens folder: expected u.data + u.item (ml-100k), "
               "movies.dat + ratings*.dat (ml-1m) or ratings.csv + movies.csv "
               f"(ml-latest, ml-25m, ml-32m); found {', '.join(sorted(names)[:8]) or 'no files'}")
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

    ``links`` is an extra ``links.csv`` for releases without one (ml-1m); it wins over the
    folder's own. A repeated (user, movie) keeps the latest rating (the later line on a tie),
    with a warning. Raises ``DataFormatError`` naming the file and line for a malformed file, a
    rating off the scale or a rated movie missing from the movie file.
    """
    folder = Path(path)
    layout = _find_layout(folder)
    if links is not None and layout.format == FORMAT_100K:
        raise DataFormatError(f"{folder}: ml-100k numbers movies its own way, so a MovieLens "
                              "links file cannot be applied to it")
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
            return (f"{f.label}:{number}: expected {width} fields separated by "
                    f"{f.separator_name}, got {len(fields)}")
        for index, name, check in checks:
            problem = check(name, fields[index].strip())
            if problem is not None:
                return f"{f.label}:{number}: {problem}"
    return f"{f.label}: could not be parsed"


def _fail_at_first_bad_row(f: _TextFile, width: int, checks: Sequence[tuple[int, str, _Check]],
                           cause: Exception | None = None) -> NoReturn:
    message = _first_bad_row(f, width, checks)
    if cause is not None and message.endswith("could not be parsed"):
        message += f" ({cause})"
    raise DataFormatError(message) from None


# --- ratings -------------------------------------------------------------------------------


_RATING_DTYPES: Final = {"user_id": "int64", "movie_id": "int64", "rating": "float32",
                         "timestamp": "int64"}
#: How the CSV releases spell our rating columns.
_CSV_RATING_NAMES: Final = {"user_id": "userId", "movie_id": "movieId", "rating": "rating",
                            "timestamp": "timestamp"}


def _rating_checks(positions: Sequence[int], names: Sequence[str]) -> list[tuple[int, str, _Check]]:
    return [(at, name, _rating if name == "rating" else _integer)
            for at, name in zip(positions, names, strict=True)]


def _parse_plain_ratings(f: _TextFile) -> pd.DataFrame:
    source: Path | io.BytesIO = f.path
    sep = f.sep
    if len(sep) > 1:
        # pandas splits on a multi-character separator only with its slow Python engine; a
        # one-byte stand-in that never occurs in MovieLens keeps the C engine (10x faster).
        source = io.BytesIO(f.path.read_bytes().replace(sep.encode(), b"\x1f"))
        sep = "\x1f"
    return pd.read_csv(source, sep=sep, header=None, names=list(RATINGS_COLUMNS), index_col=False,
                       dtype=_RATING_DTYPES, quoting=csv.QUOTE_NONE, engine="c")


def read_ratings_file(path: str | Path) -> pd.DataFrame:
    """A loose ratings file, checked like a release's: a CSV ``userId,movieId,rating[,timestamp]``
    or ml-100k's tab-separated ``u.data`` and folds. A missing timestamp reads as 0; repeated
    (user, movie) pairs keep the latest rating.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such ratings file")
    with p.open("rb") as handle:
        first = handle.readline()
    tabbed = b"\t" in first and b"," not in first
    f = _TextFile(p, "\t", "latin-1", header=False) if tabbed else _csv_file(p)
    return _keep_latest_rating(_read_ratings(f, timestamp_optional=True), f)


def _read_ratings(f: _TextFile, timestamp_optional: bool = False) -> pd.DataFrame:
    """Parse a ratings file with pandas' C engine; on any error, find the line in Python."""
    if f.header:
        names = list(_CSV_RATING_NAMES.values())
        if timestamp_optional and "timestamp" not in _header(f, names[:3]):
            names = names[:3]
        columns = _header(f, names)
        width = len(columns)
        checks = _rating_checks([columns.index(n) for n in names], names)
    else:
        width = len(RATINGS_COLUMNS)
        checks = _rating_checks(range(width), RATINGS_COLUMNS)
    try:
        if f.header:
            dtypes = {_CSV_RATING_NAMES[c]: t for c, t in _RATING_DTYPES.items()
                      if _CSV_RATING_NAMES[c] in names}
            frame = pd.read_csv(f.path, header=0, dtype=dtypes, encoding="utf-8", engine="c")
            frame = frame.rename(columns={v: k for k, v in _CSV_RATING_NAMES.items()})
            if "timestamp" not in frame.columns:
                frame["timestamp"] = np.zeros(len(frame), dtype=np.int64)
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
        f"{examples}{', ...' if len(missing) > 5 else ''})")


def _keep_latest_rating(ratings: pd.DataFrame, f: _TextFile) -> pd.DataFrame:
    pairs = ["user_id", "movie_id"]
    if not ratings.duplicated(pairs).any():
        return ratings
    by_time = ratings.sort_values("timestamp", kind="stable")
    kept = by_time.drop_duplicates(pairs, keep="last").index.sort_values()
    logger.warning("%s: %d repeated (user, movie) ratings dropped; kept the latest of each",
                   f.label, len(ratings) - len(kept))
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
    stripped = (n.strip() for n in names)
    return tuple(_GENRE_ALIASES.get(g, g) for g in stripped if g and g not in _NO_GENRE)


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
    reader = {FORMAT_100K: _movie_rows_100k, FORMAT_1M: _movie_rows_1m,
              FORMAT_LATEST: _movie_rows_csv}[layout.format]
    rows = reader(layout)
    records: list[tuple[int, str, int | None, tuple[str, ...]]] = []
    first_line: dict[int, int] = {}
    for number, id_text, raw_title, genres, fallback_year in rows:
        problem = _integer("movie id", id_text.strip())
        if problem is not None:
            raise DataFormatError(f"{f.label}:{number}: {problem}")
        movie_id = int(id_text)
        if movie_id in first_line:
            raise DataFormatError(
                f"{f.label}:{number}: movie id {movie_id} repeats line {first_line[movie_id]}")
        first_line[movie_id] = number
        title, year = parse_title(raw_title)
        records.append((movie_id, title, year if year is not None else fallback_year, genres))
    movies = pd.DataFrame.from_records(records, columns=["movie_id", "title", "year", "genres"])
    movies["tmdb_id"] = None
    movies["imdb_id"] = None
    return _typed_movies(movies.sort_values("movie_id", ignore_index=True))


def _expect_width(f: _TextFile, number: int, fields: list[str], width: int) -> None:
    if len(fields) != width:
        raise DataFormatError(f"{f.label}:{number}: expected {width} fields separated by "
                              f"{f.separator_name}, got {len(fields)}")


def _read_100k_genres(layout: _Layout) -> list[str]:
    """ml-100k's genre flags are positional; u.genre names them in order."""
    f = layout.genres
    if f is None:
        raise DataFormatError(f"{layout.movies.path.parent.name}/u.genre: missing; it names the "
                              "genre flags of u.item")
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
    imdb = [None if pd.isna(v) else str(v) for v in movies["imdb_id"]]
    return pd.DataFrame({
        "movie_id": movies["movie_id"].astype("int64").to_numpy(),
        "title": movies["title"].astype(str).to_numpy(),
        "year": pd.array(movies["year"].tolist(), dtype="Int64"),
        "genres": pd.Series([tuple(g) for g in movies["genres"]], dtype=object),
        "tmdb_id": pd.array(movies["tmdb_id"].tolist(), dtype="Int64"),
        "imdb_id": pd.Series(imdb, dtype=object),
    })


# --- links ---------------------------------------------------------------------------------


def _read_links(f: _TextFile) -> pd.DataFrame:
    """movie_id → tmdb_id (Int64) and imdb_id (7-digit string, leading zeros kept)."""
    wanted = ["movieId", "imdbId", "tmdbId"]
    columns = _header(f, wanted)
    checks = [(columns.index("movieId"), "movieId", _integer),
              (columns.index("imdbId"), "imdbId", _optional_integer),
              (columns.index("tmdbId"), "tmdbId", _optional_integer)]
    try:
        frame = pd.read_csv(f.path, header=0, encoding="utf-8", engine="c",
                            dtype={"movieId": "int64", "imdbId": "str", "tmdbId": "Int64"})
    except (ValueError, OverflowError) as exc:
        _fail_at_first_bad_row(f, len(columns), checks, exc)
    repeated = frame["movieId"].duplicated()
    if repeated.any():
        row = int(np.flatnonzero(repeated.to_numpy())[0])
        movie_id = frame["movieId"].iat[row]
        raise DataFormatError(f"{f.label}:{_line_of_row(f, row)}: movie id {movie_id} is "
                              "listed twice")
    imdb = [None if pd.isna(v) else str(v).strip().zfill(7) for v in frame["imdbId"]]
    return pd.DataFrame({"movie_id": frame["movieId"].to_numpy(),
                         "tmdb_id": frame["tmdbId"].array,
                         "imdb_id": pd.Series(imdb, dtype=object)})


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
