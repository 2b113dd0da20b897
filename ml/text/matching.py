"""Which catalogue film a title and year written by another site means, or honestly none.

Every title is read by ``ml.text.titles`` and reduced to a *key*: its folded words without
spaces, "and" dropped and Roman numerals as digits. A film is looked up in tiers, the first
tier with any candidate deciding:

1. a full title or alternative title (with or without its article) and the same year;
2. the part before a colon or the last part after one ("Star Wars", "The Empire Strikes
   Back"), same year;
3. a full title with the year one off (or an entry without a year), only when that title
   names a single film in the whole catalogue and the year is not past its newest film.

A tier that finds several films is *ambiguous* and matches nothing: a wrong match costs a
person more than a missing one. Without a year, only a title naming one film matches.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from ml.text.titles import ROMAN_NUMERALS, fold, parse_title, without_article

_DROPPED_WORDS = frozenset({"and"})
#: Where a title splits into a series name and an episode name.
_CUTS = re.compile(r"\s*:\s*|\s+[-–]\s+")

NOT_IN_CATALOGUE = "not in the catalogue"
AMBIGUOUS = "ambiguous: several films match this title and year"
NO_TITLE = "no title"


class CatalogueFilm(Protocol):
    """What matching needs of a catalogue entry (``ml.serving.artifacts.CatalogueEntry`` has it)."""

    @property
    def movie_id(self) -> int: ...
    @property
    def title(self) -> str: ...
    @property
    def year(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class Match:
    """The film a title means (``movie_id``), or None with the ``reason`` why not."""

    movie_id: int | None
    reason: str | None = None


def title_key(text: str) -> str:
    """The comparable form of one title: folded words, "and" dropped, numerals as digits,
    joined without spaces ("Lock, Stock & Two Smoking Barrels" and "Lock, Stock and Two
    Smoking Barrels" agree; so do "WALL·E" and "WALL-E")."""
    words = (ROMAN_NUMERALS.get(word, word) for word in fold(text).split())
    return "".join(word for word in words if word not in _DROPPED_WORDS)


def full_keys(raw: str) -> set[str]:
    """Keys of every full name ``raw`` carries: title and alternatives, with and without
    their article."""
    parsed = parse_title(raw)
    names = (parsed.title, *parsed.alternatives)
    keys = {title_key(form) for name in names for form in (name, without_article(name))}
    keys.discard("")
    return keys


def part_keys(raw: str) -> set[str]:
    """Keys of the parts of a title cut at a colon or dash: every head ("Star Wars", "Avengers:
    Infinity War" of "... - Part I") and every tail ("The Empire Strikes Back"), with and
    without their article."""
    parsed = parse_title(raw)
    keys: set[str] = set()
    for name in (parsed.title, *parsed.alternatives):
        for cut in _CUTS.finditer(name):
            for part in (name[: cut.start()], name[cut.end() :]):
                keys |= {title_key(part), title_key(without_article(part.strip()))}
    keys.discard("")
    return keys - full_keys(raw)


class TitleMatcher:
    """Looks titles up in a catalogue (built once; ~10k films take a fraction of a second)."""

    def __init__(self, films: Iterable[CatalogueFilm]) -> None:
        self._full: dict[str, list[tuple[int, int | None]]] = defaultdict(list)
        self._parts: dict[str, list[tuple[int, int | None]]] = defaultdict(list)
        years = []
        for film in films:
            for key in full_keys(film.title):
                self._full[key].append((film.movie_id, film.year))
            for key in part_keys(film.title):
                self._parts[key].append((film.movie_id, film.year))
            if film.year is not None:
                years.append(film.year)
        self.newest_year = max(years, default=None)

    def match(self, title: str, year: int | None) -> Match:
        """The one film ``title`` (``year``) means, or a reason why none is chosen."""
        keys = full_keys(title)
        if not keys:
            return Match(None, NO_TITLE)
        if year is None:
            films = _ids(self._full, keys, lambda _year: True)
            if len(films) == 1:
                return Match(films.pop())
            return Match(None, AMBIGUOUS if films else NOT_IN_CATALOGUE)
        same_year = _ids(self._full, keys, lambda y: y == year)
        if not same_year:
            query_parts = part_keys(title)
            same_year = _ids(self._parts, keys, lambda y: y == year) | _ids(
                self._full, query_parts, lambda y: y == year
            )
        if same_year:
            return _one(same_year)
        if self.newest_year is not None and year > self.newest_year:
            return Match(None, NOT_IN_CATALOGUE)
        # The title as written ("The King of Comedy") decides which films share its name;
        # without its article only when nothing has it as written ("King of Comedy" is
        # another film).
        as_written = {title_key(parse_title(title).title)} & self._full.keys()
        name = as_written or keys
        anywhere = _ids(self._full, name, lambda _year: True)
        if len(anywhere) == 1:
            # One film of this name: near enough in year, or a catalogue entry with no year.
            near = _ids(self._full, name, lambda y: y is None or abs(y - year) == 1)
            if near:
                return Match(near.pop())
        return Match(None, NOT_IN_CATALOGUE)


def _ids(
    index: dict[str, list[tuple[int, int | None]]],
    keys: Iterable[str],
    year_ok: Callable[[int | None], bool],
) -> set[int]:
    return {movie_id for key in keys for movie_id, year in index.get(key, ()) if year_ok(year)}


def _one(films: set[int]) -> Match:
    if len(films) == 1:
        return Match(next(iter(films)))
    return Match(None, AMBIGUOUS)
