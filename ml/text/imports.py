"""Reading other sites' rating exports: Letterboxd, IMDb, MovieLens and CineMatch's own.

Pure functions from the uploaded bytes to an ``ImportPlan``; the API decides what to write. Any
problem with the *file* (not UTF-8, a NUL byte, unknown columns, a rating off the scale, over
``MAX_ROWS`` rows or ``MAX_FIELD_CHARS`` in a field) raises ``ImportFileError`` naming the
line, so a bad file writes nothing; problems with single films are reported per row.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Literal, Protocol

from ml.rules import EARLIEST_RATING_TIME, RATING_MAX, RATING_MIN, RATING_STEP
from ml.text.matching import NOT_IN_CATALOGUE, CatalogueFilm, TitleMatcher

Source = Literal["letterboxd", "imdb", "movielens", "cinematch"]
SOURCES: tuple[Source, ...] = ("letterboxd", "imdb", "movielens", "cinematch")

#: The largest upload accepted, in bytes (Letterboxd's ratings.csv of 5,000 films is ~400 kB).
MAX_FILE_BYTES = 5 * 1024 * 1024
#: Rows read before the file is refused: more films than anyone rates.
MAX_ROWS = 20_000
#: Longest field accepted: no title or URL comes near it.
MAX_FIELD_CHARS = 1_000

#: The columns each export must have (others are ignored).
REQUIRED_COLUMNS: dict[Source, tuple[str, ...]] = {
    "letterboxd": ("Date", "Name", "Year", "Rating"),
    "imdb": ("Const", "Your Rating", "Date Rated", "Title", "Title Type"),
    "movielens": ("userId", "movieId", "rating", "timestamp"),
    "cinematch": ("movie_id", "imdb_id", "tmdb_id", "title", "year", "rating", "rated_at"),
}
#: Each export as a sentence names it ("not an IMDb export").
EXPORT_NAMES: dict[Source, str] = {"letterboxd": "a Letterboxd", "imdb": "an IMDb",
                                   "movielens": "a MovieLens", "cinematch": "a CineMatch"}
#: CineMatch's export, in order; ``list`` says which list a row belongs to.
EXPORT_COLUMNS = (*REQUIRED_COLUMNS["cinematch"], "list")
RATED = "rated"
#: The unrated lists an export carries, put back on import.
KeptList = Literal["watchlist", "hidden"]
KEPT_LISTS: tuple[KeptList, ...] = ("watchlist", "hidden")
#: IMDb title types that are not films and are reported, not imported.
IMDB_SKIPPED_TYPES = frozenset({
    "tv series", "tv episode", "tv mini series", "tv mini-series", "video game", "podcast series",
    "podcast episode", "tvseries", "tvepisode", "tvminiseries"})
TV_SKIPPED = "TV series and episodes are not imported"
NO_RATING = "no rating (watched only)"
NOT_A_LIST_WE_KEEP = "not a list CineMatch keeps (rated, watchlist or hidden)"


class ImportFileError(ValueError):
    """The file cannot be imported at all; the message says why and where."""


@dataclass(frozen=True, slots=True)
class ImportRow:
    """One row of an export, read but not matched yet."""

    line: int
    title: str
    year: int | None
    rating: float | None
    rated_at: datetime | None
    movie_id: int | None = None
    imdb_id: str | None = None
    skip_reason: str | None = None
    #: A CineMatch export's unrated row: the list it is on (``KEPT_LISTS``).
    listed: KeptList | None = None


@dataclass(frozen=True, slots=True)
class ListedFilm:
    """A film on one of the user's lists in a CineMatch export (no rating)."""

    kind: KeptList
    movie_id: int


@dataclass(frozen=True, slots=True)
class MatchedRating:
    title: str
    year: int | None
    movie_id: int
    rating: float
    rated_at: datetime | None


@dataclass(frozen=True, slots=True)
class Unmatched:
    title: str
    year: int | None
    reason: str


@dataclass(slots=True)
class ImportPlan:
    """What a file means for the catalogue: one rating per film (the newest row wins)."""

    source: Source
    rows: int
    matched: list[MatchedRating] = field(default_factory=list)
    unmatched: list[Unmatched] = field(default_factory=list)
    listed: list[ListedFilm] = field(default_factory=list)


class Catalogue:
    """What an import needs of the catalogue, built once per model."""

    def __init__(self, films: Sequence[_Film]) -> None:
        self.matcher = TitleMatcher(films)
        self.movie_ids = frozenset(film.movie_id for film in films)
        self.by_imdb = {_imdb_number(f.imdb_id): f.movie_id for f in films if f.imdb_id}
        self.by_imdb.pop(None, None)


class _Film(CatalogueFilm, Protocol):
    """A catalogue entry with its IMDb id (``ml.serving.artifacts.CatalogueEntry`` has it)."""

    @property
    def imdb_id(self) -> str | None: ...


def plan_import(data: bytes, source: Source | Literal["auto"], catalogue: Catalogue) -> ImportPlan:
    """Read ``data`` as ``source`` (or the export its header names) and match every row."""
    text = _decode(data)
    # strict: a quote never closed is an error, not a field swallowing every later row.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header = _header(reader)
    chosen = detect_source(header) if source == "auto" else source
    missing = [c for c in REQUIRED_COLUMNS[chosen] if c not in header]
    if missing:
        expected = ",".join(REQUIRED_COLUMNS[chosen])
        raise ImportFileError(f"line 1: not {EXPORT_NAMES[chosen]} export: missing column(s) "
                              f"{', '.join(missing)} (expected {expected})")
    rows = list(_READERS[chosen](_records(reader, header)))
    plan = ImportPlan(source=chosen, rows=len(rows))
    best: dict[int, MatchedRating] = {}
    for row in rows:
        if row.skip_reason is not None:
            plan.unmatched.append(Unmatched(row.title, row.year, row.skip_reason))
            continue
        movie_id = _movie_of(row, catalogue)
        if isinstance(movie_id, str):
            plan.unmatched.append(Unmatched(row.title, row.year, movie_id))
            continue
        if row.listed is not None:
            plan.listed.append(ListedFilm(row.listed, movie_id))
            continue
        assert row.rating is not None
        found = MatchedRating(row.title, row.year, movie_id, row.rating, row.rated_at)
        kept = best.get(movie_id)
        if kept is None or _later(found.rated_at, kept.rated_at):
            best[movie_id] = found
    plan.matched = sorted(best.values(), key=lambda m: m.movie_id)
    return plan


def detect_source(header: Sequence[str]) -> Source:
    """The export whose columns ``header`` has, or an error listing what each needs."""
    for source in SOURCES[::-1]:  # cinematch before movielens: the most specific first
        if all(column in header for column in REQUIRED_COLUMNS[source]):
            return source
    known = "; ".join(f"{s}: {','.join(c)}" for s, c in REQUIRED_COLUMNS.items())
    raise ImportFileError(f"line 1: columns of no known export ({known})")


def _movie_of(row: ImportRow, catalogue: Catalogue) -> int | str:
    """The row's movie id, or why it has none."""
    if row.movie_id is not None:
        return row.movie_id if row.movie_id in catalogue.movie_ids else NOT_IN_CATALOGUE
    if row.imdb_id is not None:
        found = catalogue.by_imdb.get(_imdb_number(row.imdb_id))
        return NOT_IN_CATALOGUE if found is None else found
    match = catalogue.matcher.match(row.title, row.year)
    return match.movie_id if match.movie_id is not None else (match.reason or NOT_IN_CATALOGUE)


def _later(a: datetime | None, b: datetime | None) -> bool:
    return a is not None and (b is None or a > b)


# --- reading the file ---------------------------------------------------------------------------


def _decode(data: bytes) -> str:
    if not data.strip():
        raise ImportFileError("the file is empty")
    if len(data) > MAX_FILE_BYTES:
        raise ImportFileError(f"the file is over {MAX_FILE_BYTES // (1024 * 1024)} MB")
    if b"\x00" in data:
        raise ImportFileError("this is not a CSV text file (it holds binary data)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ImportFileError("this is not a UTF-8 CSV text file (undecodable byte at offset "
                              f"{error.start})") from None


def _header(reader: Iterator[list[str]]) -> list[str]:
    try:
        header = next(reader, None)
    except csv.Error as error:
        raise ImportFileError(f"line 1: unreadable CSV ({error})") from None
    if not header or not any(cell.strip() for cell in header):
        raise ImportFileError("the file is empty")
    if any(len(cell) > MAX_FIELD_CHARS for cell in header):
        raise ImportFileError(f"line 1: a field is longer than {MAX_FIELD_CHARS} characters")
    return [cell.strip() for cell in header]


def _records(reader: Iterator[list[str]],
             header: list[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """``(line number, {column: value})`` per non-blank row, with the caps enforced."""
    count = 0
    while True:
        first_line = _line(reader) + 1  # where the next row starts
        try:
            row = next(reader, None)
        except csv.Error as error:
            unclosed = "unexpected end of data" in str(error)
            raise ImportFileError(
                f"line {first_line}: a quote opened on this line is never closed" if unclosed
                else f"line {_line(reader)}: unreadable CSV ({error})") from None
        if row is None:
            return
        line = _line(reader)
        count += 1  # blank rows count too: a file of empty lines is a bomb as well
        if count > MAX_ROWS:
            raise ImportFileError(f"the file has more than {MAX_ROWS} rows; split it")
        if not any(cell.strip() for cell in row):
            continue
        if any(len(cell) > MAX_FIELD_CHARS for cell in row):
            raise ImportFileError(f"line {line}: a field is longer than {MAX_FIELD_CHARS} "
                                  "characters")
        if len(row) > len(header) + 5:
            raise ImportFileError(f"line {line}: {len(row)} fields for {len(header)} columns")
        yield line, dict(zip(header, (cell.strip() for cell in row), strict=False))


def _line(reader: Iterator[list[str]]) -> int:
    return int(getattr(reader, "line_num", 0))


def _rating(text: str, line: int, *, scale: float = 1.0) -> float:
    """A rating on the product's scale from ``text`` (divided by ``scale``), or a file error."""
    try:
        value = float(text) / scale
    except ValueError:
        raise ImportFileError(f"line {line}: rating {text!r} is not a number") from None
    steps = (value - RATING_MIN) / RATING_STEP if math.isfinite(value) else -1.0
    on_step = math.isclose(steps, round(steps), abs_tol=1e-9)
    if not (RATING_MIN <= value <= RATING_MAX) or not on_step:
        low, high = RATING_MIN * scale, RATING_MAX * scale
        raise ImportFileError(f"line {line}: rating {text} is off the scale ({low:g} to {high:g}"
                              f" in steps of {RATING_STEP * scale:g})")
    return RATING_MIN + round(steps) * RATING_STEP


def _year(text: str, line: int) -> int | None:
    if not text:
        return None
    if not text.isdecimal() or not 1870 <= int(text) <= 2100:
        raise ImportFileError(f"line {line}: year {text!r} is not a year")
    return int(text)


def _day(text: str, line: int) -> datetime | None:
    """A ``YYYY-MM-DD`` day (Letterboxd, IMDb) as midnight UTC; ISO datetimes are accepted."""
    if not text:
        return None
    try:
        parsed = (datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
                  if len(text) == 10 else datetime.fromisoformat(text))
    except ValueError:
        raise ImportFileError(f"line {line}: date {text!r} is not YYYY-MM-DD") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if parsed < EARLIEST_RATING_TIME:  # compared before converting: year 1 cannot be
        raise ImportFileError(f"line {line}: date {text!r} is before {EARLIEST_RATING_TIME.year}")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # past year 9999 in UTC
        raise ImportFileError(f"line {line}: date {text!r} is out of range") from None


def _int(text: str, line: int, what: str) -> int:
    if not text.isdecimal() or len(text) > 18:
        raise ImportFileError(f"line {line}: {what} {text!r} is not a positive whole number")
    return int(text)


def _imdb_number(text: str | None) -> int | None:
    digits = (text or "").strip().lower().removeprefix("tt")
    return int(digits) if digits.isdecimal() and len(digits) <= 18 else None


def _letterboxd(records: Iterator[tuple[int, dict[str, str]]]) -> Iterator[ImportRow]:
    for line, r in records:
        title, year = r.get("Name", ""), _year(r.get("Year", ""), line)
        if not r.get("Rating"):  # diary.csv and watched.csv have unrated rows
            yield ImportRow(line, title, year, None, None, skip_reason=NO_RATING)
            continue
        rating = _rating(r["Rating"], line)
        yield ImportRow(line, title, year, rating, _day(r.get("Date", ""), line))


def _imdb(records: Iterator[tuple[int, dict[str, str]]]) -> Iterator[ImportRow]:
    for line, r in records:
        title, year = r.get("Title", ""), _year(r.get("Year", ""), line)
        const = r.get("Const", "")
        if _imdb_number(const) is None:
            raise ImportFileError(f"line {line}: {const!r} is not an IMDb id (tt1234567)")
        rating = _rating(r.get("Your Rating", ""), line, scale=2.0)
        if r.get("Title Type", "").strip().lower() in IMDB_SKIPPED_TYPES:
            yield ImportRow(line, title, year, rating, None, skip_reason=TV_SKIPPED)
            continue
        rated_at = _day(r.get("Date Rated", ""), line)
        yield ImportRow(line, title, year, rating, rated_at, imdb_id=const)


def _movielens(records: Iterator[tuple[int, dict[str, str]]]) -> Iterator[ImportRow]:
    users: set[str] = set()
    for line, r in records:
        users.add(r.get("userId", ""))
        if len(users) > 1:
            raise ImportFileError(f"line {line}: the file holds several MovieLens users' ratings; "
                                  "import one user's ratings.csv")
        movie_id = _int(r.get("movieId", ""), line, "movieId")
        timestamp = _int(r.get("timestamp", ""), line, "timestamp") if r.get("timestamp") else None
        rated_at = None if timestamp is None else datetime.fromtimestamp(min(timestamp, 2**33), UTC)
        rating = _rating(r.get("rating", ""), line)
        yield ImportRow(line, f"movie {movie_id}", None, rating, rated_at, movie_id=movie_id)


def _cinematch(records: Iterator[tuple[int, dict[str, str]]]) -> Iterator[ImportRow]:
    for line, r in records:
        title, year = r.get("title", ""), _year(r.get("year", ""), line)
        listed = r.get("list", "") or RATED
        kept = next((kind for kind in KEPT_LISTS if kind == listed), None)
        if listed != RATED and kept is None:
            yield ImportRow(line, title, year, None, None, skip_reason=NOT_A_LIST_WE_KEEP)
            continue
        movie_id = _int(r.get("movie_id", ""), line, "movie_id")
        if kept is not None:
            yield ImportRow(line, title, year, None, None, movie_id=movie_id, listed=kept)
            continue
        rating = _rating(r.get("rating", ""), line)
        rated_at = _day(r.get("rated_at", ""), line)
        yield ImportRow(line, title, year, rating, rated_at, movie_id=movie_id)


_READERS = {"letterboxd": _letterboxd, "imdb": _imdb, "movielens": _movielens,
            "cinematch": _cinematch}
