"""In-memory title search over the catalogue, built once at startup.

Titles are folded to lower-case words without accents ("Amélie" -> "amelie"; other scripts
keep their letters, so "東京物語" and "Сталкер" are searchable too) and every word goes into one
sorted list, so a query word is a prefix range found by bisection instead of a scan of every
title. Results are ranked: exact title, then title starting with the query, then the query as
a phrase inside the title, then any title whose words the query's words begin; ties keep the
catalogue's popularity order.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from ml.recommender import Movie

#: Anything but a letter or digit, of any script, separates words.
_NON_WORD = re.compile(r"[\W_]+")
#: Sorts after every character: the end of a prefix range in a sorted list of words.
_AFTER_ALL = "\U0010ffff"
_YEAR_SUFFIX = re.compile(r"\s*\(\d{4}\)\s*$")
_ARTICLES = "the|a|an|le|la|les|l'|il|el|los|las|die|der|das|det|den"
#: MovieLens files titles as "Matrix, The"; people type "the matrix" or just "matrix".
_TRAILING_ARTICLE = re.compile(rf"^(?P<head>.+), (?P<article>{_ARTICLES})$")
_LEADING_ARTICLE = re.compile(rf"^(?:{_ARTICLES})\s+(?P<head>\S.*)$")


def _strip_accents(text: str) -> str:
    # Decomposed before and after case folding: compatibility forms ("𝔉", "ﬁ") fold too.
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def fold(text: str) -> str:
    """Case- and accent-insensitive form of ``text``: lower-case words, single-spaced."""
    return _NON_WORD.sub(" ", _strip_accents(text)).strip()


def _title_forms(title: str) -> tuple[str, ...]:
    """The folded title, its article-first form and its form without the article.

    So "Matrix, The" is an exact match for "matrix", "the matrix" and "matrix the".
    """
    plain = _YEAR_SUFFIX.sub("", _strip_accents(title)).strip()
    forms = [fold(plain)]
    if match := _TRAILING_ARTICLE.match(plain):
        forms += [fold(f"{match['article']} {match['head']}"), fold(match["head"])]
    elif match := _LEADING_ARTICLE.match(plain):
        forms.append(fold(match["head"]))
    return tuple(dict.fromkeys(form for form in forms if form))


@dataclass(frozen=True, slots=True)
class SearchPage:
    """One page of matches plus how many matched in all."""

    total: int
    movies: list[Movie]


class MovieIndex:
    """Search, genre and year filters over ``movies`` (given in popularity order).

    A film is known by its position in that order, so sorting positions sorts by popularity.
    """

    def __init__(self, movies: Sequence[Movie]) -> None:
        self._movies = list(movies)
        self._forms = [_title_forms(movie.title) for movie in self._movies]
        words = sorted(
            {
                (word, index)
                for index, forms in enumerate(self._forms)
                for form in forms
                for word in form.split()
            }
        )
        self._words = [word for word, _ in words]
        self._word_movie = [index for _, index in words]
        titles = sorted(
            {(form, index) for index, forms in enumerate(self._forms) for form in forms}
        )
        self._titles = [form for form, _ in titles]
        self._title_movie = [index for _, index in titles]
        self._by_title: dict[str, set[int]] = defaultdict(set)
        for form, index in titles:
            self._by_title[form].add(index)
        self._by_genre: dict[str, set[int]] = defaultdict(set)
        self._by_year: dict[int, set[int]] = defaultdict(set)
        for index, movie in enumerate(self._movies):
            for genre in movie.genres:
                self._by_genre[genre].add(index)
            if movie.year is not None:
                self._by_year[movie.year].add(index)
        self._genres = {genre.casefold(): genre for genre in self._by_genre}

    def canonical_genre(self, genre: str) -> str | None:
        """The catalogue's spelling of ``genre`` (matched case-insensitively), or None."""
        return self._genres.get(genre.strip().casefold())

    def search(
        self,
        query: str | None = None,
        *,
        genre: str | None = None,
        year: int | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> SearchPage:
        """Matching films, best first; ``genre`` must already be canonical."""
        folded = fold(query) if query else ""
        keep = self._filter(genre, year)
        if folded:
            candidates = self._ranked_matches(folded)
            if keep is not None:
                candidates = [i for i in candidates if i in keep]
        else:
            candidates = range(len(self._movies)) if keep is None else sorted(keep)
        page = candidates[offset : offset + limit]
        return SearchPage(total=len(candidates), movies=[self._movies[i] for i in page])

    def _filter(self, genre: str | None, year: int | None) -> set[int] | None:
        """Positions allowed by the filters, or None when there are no filters."""
        keep: set[int] | None = None
        if genre is not None:
            keep = self._by_genre.get(genre, set())
        if year is not None:
            of_year = self._by_year.get(year, set())
            keep = of_year if keep is None else keep & of_year
        return keep

    def _range(self, keys: list[str], values: list[int], prefix: str) -> set[int]:
        start = bisect_left(keys, prefix)
        end = bisect_left(keys, prefix + _AFTER_ALL, start)
        return set(values[start:end])

    def _ranked_matches(self, folded: str) -> list[int]:
        """Films whose words the query's words begin, ranked by tier then popularity.

        Tiers are set operations (exact and starting titles come from bisection), so a short
        query matching thousands of titles costs a few sorts of integers, not a Python loop.
        """
        tokens = sorted(set(folded.split()), key=len, reverse=True)
        matches = self._range(self._words, self._word_movie, tokens[0])
        for token in tokens[1:]:
            matches &= self._range(self._words, self._word_movie, token)
        starting = self._range(self._titles, self._title_movie, folded) & matches
        exact = self._by_title.get(folded, set()) & matches
        phrase: set[int] = set()
        if len(tokens) > 1:  # one word: every match already starts a word with it
            phrase = {
                i
                for i in matches - starting
                if any(f" {folded}" in f" {form}" for form in self._forms[i])
            }
        rest = matches - starting - phrase
        return [*sorted(exact), *sorted(starting - exact), *sorted(phrase), *sorted(rest)]
