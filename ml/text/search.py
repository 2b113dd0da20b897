"""Title search over the catalogue, built once at startup: prefix, exact and typo-tolerant.

Every alternative title and article form (``ml.text.titles``) goes into one sorted word list,
so a query word is a prefix range found by bisection. Tiers: exact title, title starting with
the query, the query as a phrase, then titles whose words the query's words begin; ties keep
popularity order. A query word that begins no title word is replaced by the closest title
words within ``typo_budget`` edits; numbers and Roman numerals stand for each other, and titles
are also indexed without spaces ("walle"). ``suggest`` offers "did you mean".
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rapidfuzz import process
from rapidfuzz.distance import OSA

from ml.serving.recommender import Movie
from ml.text.titles import ROMAN_NUMERALS, compact, fold, parse_title, title_forms

#: Sorts after every character: the end of a prefix range in a sorted list of words.
_AFTER_ALL = "\U0010ffff"
#: "4" and "iv" are the same word in a title.
NUMERAL_ALIASES = {**ROMAN_NUMERALS, **{n: roman for roman, n in ROMAN_NUMERALS.items()}}
#: How many corrections of one misspelt word are tried.
MAX_CORRECTIONS = 5


def typo_budget(word: str) -> int:
    """Edits allowed when correcting ``word``: none for short words and numbers (a year typed
    is meant), where a correction is a guess."""
    if word.isdigit():
        return 0
    if len(word) >= 8:
        return 2
    return 1 if len(word) >= 4 else 0


@dataclass(frozen=True, slots=True)
class SearchPage:
    """One page of matches, how many matched in all, and how the query was read.

    ``corrected_query`` is set when the matches needed typo corrections ("godfather" for
    "godfater"); ``suggestion`` is the closest title when nothing matched at all.
    """

    total: int
    movies: list[Movie]
    corrected_query: str | None = None
    suggestion: str | None = None


class MovieIndex:
    """Search, genre and year filters over ``movies`` (given in popularity order).

    A film is known by its position in that order, so sorting positions sorts by popularity.
    """

    def __init__(self, movies: Sequence[Movie]) -> None:
        self._movies = list(movies)
        self._forms = [self._searchable_forms(movie.title) for movie in self._movies]
        words = sorted({(word, index) for index, forms in enumerate(self._forms)
                        for form in forms for word in self._words_of(form)})
        self._words = [word for word, _ in words]
        self._word_movie = [index for _, index in words]
        self._vocabulary = sorted({word for word, _ in words})
        self._vocabulary_by_length: dict[int, list[str]] = defaultdict(list)
        for word in self._vocabulary:
            self._vocabulary_by_length[len(word)].append(word)
        titles = sorted({(form, index) for index, forms in enumerate(self._forms)
                         for form in forms})
        self._titles = [form for form, _ in titles]
        self._title_movie = [index for _, index in titles]
        self._by_title: dict[str, set[int]] = defaultdict(set)
        self._by_compact: dict[str, set[int]] = defaultdict(set)
        for form, index in titles:
            self._by_title[form].add(index)
            self._by_compact[compact(form)].add(index)
        self._shown_titles = [forms[0] for forms in self._forms]
        self._by_genre: dict[str, set[int]] = defaultdict(set)
        self._by_year: dict[int, set[int]] = defaultdict(set)
        for index, movie in enumerate(self._movies):
            for genre in movie.genres:
                self._by_genre[genre].add(index)
            if movie.year is not None:
                self._by_year[movie.year].add(index)
        self._genres = {genre.casefold(): genre for genre in self._by_genre}

    @staticmethod
    def _searchable_forms(title: str) -> tuple[str, ...]:
        """``title_forms`` plus the title as filed ("shawshank redemption the")."""
        return tuple(dict.fromkeys((*title_forms(title), fold(title))))

    @staticmethod
    def _words_of(form: str) -> Iterable[str]:
        words = form.split()
        yield from words
        yield from (NUMERAL_ALIASES[w] for w in words if w in NUMERAL_ALIASES)
        if len(words) > 1:
            yield compact(form)

    @property
    def movies(self) -> list[Movie]:
        """The catalogue in popularity order (the order positions refer to)."""
        return self._movies

    def titled(self, folded: str) -> list[Movie]:
        """Films one of whose title forms is exactly ``folded`` (no typo correction)."""
        return [self._movies[i] for i in sorted(self._by_title.get(folded, ()))]

    def canonical_genre(self, genre: str) -> str | None:
        """The catalogue's spelling of ``genre`` (matched case-insensitively), or None."""
        return self._genres.get(genre.strip().casefold())

    def search(self, query: str | None = None, *, genre: str | None = None,
               year: int | None = None, limit: int = 20, offset: int = 0) -> SearchPage:
        """Matching films, best first; ``genre`` must already be canonical. A query of only
        spaces is no query (the whole catalogue); one with no letter or digit ("!!!", an
        emoji) matches nothing."""
        typed = (query or "").strip()
        folded = fold(typed) if typed else ""
        keep = self._filter(genre, year)
        corrected: str | None = None
        suggestion: str | None = None
        candidates: list[int]
        if typed and not folded:
            candidates = []
        elif folded:
            candidates, corrected = self._ranked_matches(folded)
            if keep is not None:
                candidates = [i for i in candidates if i in keep]
            if not candidates:
                suggestion = self.suggest(folded)
        else:
            candidates = list(range(len(self._movies))) if keep is None else sorted(keep)
        page = candidates[offset : offset + limit]
        return SearchPage(len(candidates), [self._movies[i] for i in page], corrected, suggestion)

    def suggest(self, query: str) -> str | None:
        """The title sharing most words with ``query``, allowing one more typo than search.

        For a "did you mean" when nothing matched: each query word votes for the films its
        closest title words appear in; the film with most votes (then the most popular) wins,
        if at least half the words voted for it.
        """
        tokens = fold(query).split()
        votes: Counter[int] = Counter()
        for token in set(tokens):
            words = [token] if self._has_prefix(token) else self._corrections(token, extra=1)
            votes.update(set().union(*(self._word_matches(w) for w in words)))
        if not votes:
            return None
        best, count = min(votes.items(), key=lambda vote: (-vote[1], vote[0]))
        if 2 * count < len(set(tokens)):
            return None
        return parse_title(self._movies[best].title).title

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

    def _has_prefix(self, prefix: str) -> bool:
        start = bisect_left(self._vocabulary, prefix)
        return start < len(self._vocabulary) and self._vocabulary[start].startswith(prefix)

    def _corrections(self, word: str, *, extra: int = 0) -> list[str]:
        """Title words within ``word``'s typo budget (plus ``extra``), closest first."""
        budget = typo_budget(word) + extra
        if budget == 0:
            return []
        # Only words within the budget in length can be within it in edits.
        nearby = [
            candidate
            for length in range(len(word) - budget, len(word) + budget + 1)
            for candidate in self._vocabulary_by_length.get(length, ())
        ]
        found = process.extract(word, nearby, scorer=OSA.distance, score_cutoff=budget,
                                limit=MAX_CORRECTIONS)
        return [candidate for candidate, _, _ in sorted(found, key=lambda hit: hit[1])]

    def _word_matches(self, word: str) -> set[int]:
        return self._range(self._words, self._word_movie, word)

    def _ranked_matches(self, folded: str) -> tuple[list[int], str | None]:
        """Films whose words the query's words begin, ranked by tier then popularity.

        Tiers are set operations (exact and starting titles come from bisection), so a short
        query matching thousands of titles costs a few sorts of integers, not a Python loop.
        Returns the ranking and the corrected query when typos had to be corrected.
        """
        tokens = folded.split()
        corrections: dict[str, list[str]] = {}
        for token in set(tokens):
            if not self._has_prefix(token):
                corrections[token] = self._corrections(token)
                if not corrections[token]:
                    return [], None
        matches: set[int] | None = None
        for token in sorted(set(tokens), key=len, reverse=True):
            if token in corrections:
                found = set().union(*(self._word_matches(w) for w in corrections[token]))
            else:
                found = self._word_matches(token)
            matches = found if matches is None else matches & found
        if not matches:
            return [], None
        if not corrections:
            return self._tiers(folded, matches), None
        chosen = {token: next((w for w in words if self._word_matches(w) & matches), words[0])
                  for token, words in corrections.items()}
        corrected = " ".join(chosen.get(token, token) for token in tokens)
        return self._tiers(corrected, matches), corrected

    def _tiers(self, folded: str, matches: set[int]) -> list[int]:
        starting = self._range(self._titles, self._title_movie, folded) & matches
        exact = (self._by_title.get(folded, set()) | self._by_compact.get(compact(folded), set()))
        exact &= matches
        phrase: set[int] = set()
        if " " in folded:  # one word: every match already starts a word with it
            phrase = {i for i in matches - starting - exact
                      if any(f" {folded}" in f" {form}" for form in self._forms[i])}
        rest = matches - starting - phrase - exact
        return [*sorted(exact), *sorted(starting - exact), *sorted(phrase), *sorted(rest)]
