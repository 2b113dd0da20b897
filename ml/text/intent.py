"""Plain words → constraints: "something scary from the 90s" → Horror, 1990–1999.

An offline, deterministic parser: the words it knows are data in ``intent_words.toml``,
reference films are found by the catalogue's typo-tolerant title search
(``ml.text.search.MovieIndex``), and every word it could not use comes back in ``unparsed``.
It reads the request in passes over folded words, each claiming the words it used:

1. reference films after "like", "similar to", "loved"...: the longest run of words that is a
   catalogue title (the most-rated film of that title), through words such as "in" or "with"
   only when that gives a title exactly ("Men in Black");
2. years: "90s", "early 80s", "since 1995", "before 1960", "between 1980 and 1990", "old"...;
3. negations ("no", "not", "without"...) exclude the genres named in the next few words;
   "less gory" cannot be a filter and stays unparsed;
4. genre and mood words, longest phrase first, misspellings corrected as title search does.

A genre both asked for and excluded stays asked for. Genres listed together are meant
together (``ml.serving.constraints`` relaxes that when too few films match). docs/app.md has
the figures of ``bench/intent.py``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path

from rapidfuzz import process
from rapidfuzz.distance import OSA

from ml.serving.recommender import Movie
from ml.text.search import MovieIndex, typo_budget
from ml.text.titles import fold, title_forms

WORDS_FILE = Path(__file__).with_name("intent_words.toml")
#: Longest request the parser accepts (the API says 422 beyond it).
MAX_QUERY_CHARS = 300
#: Words after a trigger read as a title at most ("like the good the bad and the ugly").
MAX_TITLE_WORDS = 8
#: Words a negation reaches past to find the genre it negates ("not in the mood for drama").
NEGATION_REACH = 4
#: "6 year old", "ten years old": an age, not an era.
AGE_WORDS = frozenset({"year", "years", "yr", "yrs"})
#: Title searches one request may cost: "like godfatherr like godfatherr…" repeated to 300
#: characters took 185 ms of CPU unbounded; a real request needs a few (8 per named film at
#: most, its longest run of words first).
MAX_TITLE_LOOKUPS = 24
#: Misspelt words (and titles looked up) whose reading is remembered.
CORRECTION_CACHE = 4096

_YEAR = r"(1[89]\d\d|20[0-3]\d)"
_DECADE = r"(?:(1[89]|20)?(\d)0 ?s)"
_DECADE_RE = re.compile(rf"^(?:(?P<part>early|mid|late) )?(?:the )?{_DECADE}$")


@dataclass(frozen=True, slots=True)
class FilmReference:
    movie_id: int
    title: str
    year: int | None


@dataclass(frozen=True, slots=True)
class Intent:
    """What a request asked for, in the catalogue's genre names."""

    query: str
    genres: tuple[str, ...] = ()
    exclude_genres: tuple[str, ...] = ()
    year_from: int | None = None
    year_to: int | None = None
    similar_to: tuple[FilmReference, ...] = ()
    mood: str | None = None
    unparsed: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        """True when nothing in the request can constrain a list."""
        return not (self.genres or self.exclude_genres or self.similar_to
                    or self.year_from is not None or self.year_to is not None)


@dataclass(frozen=True)
class Vocabulary:
    """``intent_words.toml`` read once: phrase → genres and mood, eras, decades, filler."""

    phrases: dict[tuple[str, ...], tuple[tuple[str, ...], str | None]]
    eras: dict[tuple[str, ...], tuple[int | None, int | None]]
    decade_words: dict[str, int]
    filler: frozenset[str]
    reference_triggers: tuple[tuple[str, ...], ...]
    title_stops: frozenset[str]
    not_a_title: frozenset[str]
    like_subjects: frozenset[str]
    negations: tuple[tuple[str, ...], ...]
    negation_skips: frozenset[str]
    softeners: frozenset[str]
    longest: int = 1


@cache
def vocabulary(path: Path = WORDS_FILE) -> Vocabulary:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    phrases: dict[tuple[str, ...], tuple[tuple[str, ...], str | None]] = {}
    for genre, words in data["genres"].items():
        for word in words:
            known, mood = phrases.get(tuple(word.split()), ((), None))
            phrases[tuple(word.split())] = (tuple(dict.fromkeys((*known, genre))), mood)
    for word, meaning in data["moods"].items():
        phrases[tuple(word.split())] = (tuple(meaning["genres"]), meaning["mood"])
    eras = {tuple(word.split()): (e.get("year_from"), e.get("year_to"))
            for word, e in data["eras"].items()}
    grammar = data["grammar"]
    return Vocabulary(
        phrases=phrases, eras=eras, decade_words=dict(data["decade_words"]),
        filler=frozenset(data["filler"]["words"]),
        reference_triggers=_longest_first(grammar["reference_triggers"]),
        title_stops=frozenset(grammar["title_stops"]),
        not_a_title=frozenset(grammar["not_a_title"]),
        like_subjects=frozenset(grammar["like_subjects"]),
        negations=_longest_first(grammar["negations"]),
        negation_skips=frozenset(grammar["negation_skips"]),
        softeners=frozenset(grammar["softeners"]),
        longest=max(len(p) for p in (*phrases, *eras)),
    )


def _longest_first(phrases: Iterable[str]) -> tuple[tuple[str, ...], ...]:
    return tuple(sorted((tuple(p.split()) for p in phrases), key=len, reverse=True))


class IntentParser:
    """Parses requests against one catalogue: its genres and its title search."""

    def __init__(self, index: MovieIndex, genres: Iterable[str] | None = None) -> None:
        self.index = index
        catalogue = set(genres) if genres is not None else {
            g for movie in index.movies for g in movie.genres}
        # "Children's" in ml-1m and "Children" later: either spelling is the catalogue's.
        by_key = {_genre_key(g): g for g in catalogue}
        words = vocabulary()
        self._phrases = {
            phrase: (tuple(by_key[_genre_key(g)] for g in named if _genre_key(g) in by_key), mood)
            for phrase, (named, mood) in words.phrases.items()
        }
        self._words = words
        known = {w for p in (*words.phrases, *words.eras) for w in p} | set(words.decade_words)
        known |= {w for t in (*words.reference_triggers, *words.negations) for w in t}
        known |= words.softeners
        self._known = frozenset(known | words.filler)
        # Filler is a target too, so "somthing" reads as "something", not as "nothing".
        self._correctable_by_letter: dict[str, list[str]] = {}
        for word in sorted(w for w in self._known if len(w) >= 4):
            self._correctable_by_letter.setdefault(word[0], []).append(word)
        #: Corrections of words seen lately; bounded, since requests are anyone's text.
        self.corrected = lru_cache(maxsize=CORRECTION_CACHE)(self._closest_known)
        self._film_of = lru_cache(maxsize=CORRECTION_CACHE)(self._film_named)

    def clear_caches(self) -> None:
        """Forget remembered corrections and title look-ups (for honest benchmarks)."""
        self.corrected.cache_clear()
        self._film_of.cache_clear()

    def parse(self, text: str) -> Intent:
        """The constraints in ``text``; never raises on odd input (an empty intent)."""
        query = text.strip()[:MAX_QUERY_CHARS]
        # Not "." (it is in titles: "Mr. Smith Goes to Washington", "E.T.").
        clauses = [fold(c).split() for c in re.split(r"[,;!?()\n]+", query)]
        state = _State()
        for words in clauses:
            if words:
                self._clause(words, state)
        genres = tuple(dict.fromkeys(state.genres))
        excluded = tuple(dict.fromkeys(g for g, _ in state.excluded if g not in genres))
        # "scary but not too gory": the exclusion gives way to the genre asked for; say so.
        overruled = dict.fromkeys(said for g, said in state.excluded if g in genres)
        state.unparsed.extend(overruled)
        year_from, year_to = state.year_from, state.year_to
        if year_from is not None and year_to is not None and year_from > year_to:
            year_from, year_to = year_to, year_from
        return Intent(
            query=query, genres=tuple(sorted(genres)), exclude_genres=tuple(sorted(excluded)),
            year_from=year_from, year_to=year_to,
            similar_to=tuple({f.movie_id: f for f in state.films}.values()),
            mood=state.mood, unparsed=tuple(state.unparsed),
        )

    def _clause(self, words: list[str], state: _State) -> None:
        used = [False] * len(words)
        self._references(words, used, state)
        typed = words
        words = [w if used[i] else self._correct(w) for i, w in enumerate(words)]
        self._years(words, used, state, typed)
        self._negations(words, used, state)
        self._genre_words(words, used, state)
        # Unclaimed words as typed, in runs ("black and white"), filler trimmed from the ends.
        filler = self._words.filler
        run: list[tuple[str, str]] = []  # (as typed, as read)
        for pair, claimed in zip([*zip(typed, words, strict=True), ("", "")], [*used, True],
                                 strict=True):
            if not claimed:
                run.append(pair)
                continue
            while run and run[-1][1] in filler:
                run.pop()
            while run and run[0][1] in filler:
                run.pop(0)
            if run:
                state.unparsed.append(" ".join(typed_word for typed_word, _ in run))
            run = []

    def _correct(self, word: str) -> str:
        """A misspelt known word ("comdey") as that word; other words unchanged."""
        if word in self._known or word.isdigit():
            return word
        return self.corrected(word)

    def _closest_known(self, word: str) -> str:
        budget = typo_budget(word)
        if not budget:
            return word
        # People rarely mistype a word's first letter; requiring it keeps real words from
        # becoming vocabulary ("sense" is not "tense").
        same_start = self._correctable_by_letter.get(word[0], [])
        found = process.extractOne(word, same_start, scorer=OSA.distance, score_cutoff=budget)
        return found[0] if found else word

    # Reference films -----------------------------------------------------------------
    def _references(self, words: list[str], used: list[bool], state: _State) -> None:
        i = 0
        while i < len(words):
            trigger = _starts(words, i, self._words.reference_triggers)
            if trigger is None:
                i += 1
                continue
            start = i + len(trigger)
            end = start
            while (end < len(words) and end - start < MAX_TITLE_WORDS
                   and words[end] not in self._words.title_stops):
                end += 1
            # Titles may hold a stop word ("Men in Black", "From Russia with Love"): a longer
            # run through stop words counts when it is exactly a title.
            through = min(len(words), start + MAX_TITLE_WORDS)
            found = None
            if (start < through and words[start] not in self._words.not_a_title
                    and not self._is_taste(words, i, trigger)):
                found = self._exact_title(words[start:through], max(end - start + 1, 2))
                if found is None and start < end:
                    found = self._longest_title(words[start:end], state)
            if found is None:
                i += 1
                continue
            movie, length = found
            state.films.append(FilmReference(movie.movie_id, movie.title, movie.year))
            for k in range(i, start + length):
                used[k] = True
            i = start + length

    def _is_taste(self, words: Sequence[str], i: int, trigger: tuple[str, ...]) -> bool:
        """"I like horror", "I'd like a comedy", "loved westerns": a verb naming a taste.

        "like" after a person is the verb (its object is read as genre words); after a noun
        or at the start it compares ("movies like Heat"). The other triggers are verbs whose
        object is a title unless it begins with a genre word.
        """
        if trigger == ("like",):
            return i > 0 and words[i - 1] in self._words.like_subjects
        return self._phrase_at(list(words), i + len(trigger)) is not None

    def _longest_title(self, span: Sequence[str], state: _State) -> tuple[Movie, int] | None:
        for length in range(len(span), 0, -1):
            if state.title_lookups >= MAX_TITLE_LOOKUPS:
                return None
            state.title_lookups += 1
            movie = self.film(" ".join(span[:length]))
            if movie is not None:
                return movie, length
        return None

    def _exact_title(self, span: Sequence[str], shortest: int) -> tuple[Movie, int] | None:
        """The longest run of at least ``shortest`` words of ``span`` that is exactly a title
        (one dictionary look-up per length, no typo search), the most-rated of several."""
        for length in range(len(span), shortest - 1, -1):
            films = self.index.titled(" ".join(span[:length]))
            if films:
                return max(films, key=lambda m: m.rating_count), length
        return None

    def film(self, text: str) -> Movie | None:
        """The film ``text`` names: an exact title (typos corrected), else the title it
        begins when only its last word is unfinished; the most-rated of several."""
        return self._film_of(fold(text))

    def _film_named(self, folded: str) -> Movie | None:
        if len(folded) < 2 or all(w in self._words.filler for w in folded.split()):
            return None
        page = self.index.search(folded, limit=50)
        read = page.corrected_query or folded
        exact = [m for m in page.movies if read in title_forms(m.title)]
        if not exact and len(read) >= 6:
            exact = [m for m in page.movies
                     if any((f.startswith(read) and len(read) >= 0.8 * len(f)) or
                            f.startswith(read + " ") for f in title_forms(m.title))]
        if not exact:
            return None
        return max(exact, key=lambda m: m.rating_count)

    # Years -----------------------------------------------------------------------------
    def _years(self, words: list[str], used: list[bool], state: _State,
               typed_words: list[str]) -> None:
        i = 0
        while i < len(words):
            if used[i]:
                i += 1
                continue
            hit = self._year_at(words, i)
            if hit is None or (i > 0 and words[i - 1] in AGE_WORDS):  # "my 6 year old"
                i += 1
                continue
            (low, high), length = hit
            negation = self._negation_before(words, i)
            start = i if negation is None else negation
            for k in range(start, i + length):
                used[k] = True
            i += length
            if negation is not None:
                # "not an old one", "nothing too recent": the years outside that era.
                if low is not None and high is None:
                    high, low = low - 1, None
                elif high is not None and low is None:
                    low, high = high + 1, None
                else:  # "not the 90s" is two ranges: said, but not as a filter
                    state.unparsed.append(" ".join(typed_words[start:i]))
                    continue
            state.add_years(low, high)

    def _negation_before(self, words: list[str], i: int) -> int | None:
        """Where a negation of the phrase at ``i`` starts ("not an old one"), if any."""
        k = i
        while k > 0 and i - k < NEGATION_REACH and words[k - 1] in self._words.negation_skips:
            k -= 1
        for negation in self._words.negations:
            start = k - len(negation)
            if start >= 0 and tuple(words[start:k]) == negation:
                return start
        return None

    def _year_at(self, words: list[str], i: int
                 ) -> tuple[tuple[int | None, int | None], int] | None:
        """The year range starting at word ``i`` and how many words it took."""
        for length in (5, 4, 3, 2, 1):
            chunk = " ".join(words[i:i + length])
            if len(words[i:i + length]) < length:
                continue
            parsed = self._year_phrase(chunk)
            if parsed is not None:
                return parsed, length
        return None

    def _year_phrase(self, chunk: str) -> tuple[int | None, int | None] | None:
        if m := re.fullmatch(rf"(?:between|from) (?:the )?{_YEAR} (?:and|to|until) {_YEAR}",
                             chunk):
            return int(m[1]), int(m[2])
        if m := re.fullmatch(rf"{_YEAR} {_YEAR}", chunk):
            return int(m[1]), int(m[2])
        if m := re.fullmatch(r"(before|pre|until|till|up to|older than) (?:the )?(.+)", chunk):
            span = self._year_phrase(m[2])
            if span is not None and span[0] is not None:
                return None, span[0] - 1 if m[1] not in ("until", "till", "up to") else span[1]
        if m := re.fullmatch(r"(after|post|since|newer than) (?:the )?(.+)", chunk):
            span = self._year_phrase(m[2])
            if span is not None and span[1] is not None:
                return (span[1] + 1 if m[1] in ("after", "post", "newer than") else span[0]), None
        if m := re.fullmatch(rf"{_YEAR} (?:on|onwards|onward|or later|and later|and after)",
                             chunk):
            return int(m[1]), None
        if m := re.fullmatch(_YEAR, chunk):
            return int(m[1]), int(m[1])
        if m := _DECADE_RE.fullmatch(chunk):
            century, digit = m[2], int(m[3])
            start = (int(century) * 100 if century else (2000 if digit < 2 else 1900)) + digit * 10
            return _part(start, m["part"])
        if m := re.fullmatch(r"(?:(early|mid|late) )?(?:the )?(\w+)", chunk):
            decade = self._words.decade_words.get(m[2])
            if decade is not None:
                return _part(decade, m[1])
        era = self._words.eras.get(tuple(chunk.split()))
        return era

    # Negations and genre words ---------------------------------------------------------
    def _negations(self, words: list[str], used: list[bool], state: _State) -> None:
        for i in range(len(words)):
            if used[i]:
                continue
            if words[i] in self._words.softeners:
                self._soften(words, used, i, state)
                continue
            negation = _starts(words, i, self._words.negations)
            if negation is None:
                continue
            j = i + len(negation)
            reached = 0
            found = False
            while j < len(words) and reached < NEGATION_REACH and not used[j]:
                phrase = self._phrase_at(words, j)
                if phrase is not None:
                    genres, length = phrase
                    said = " ".join(words[i:j + length])
                    state.excluded.extend((genre, said) for genre in genres)
                    for k in range(j, j + length):
                        used[k] = True
                    found = True
                    j += length
                    continue
                if words[j] in ("or", "and", "nor") and found:
                    j += 1
                    continue
                if words[j] not in self._words.negation_skips:
                    break
                reached += 1
                j += 1
            if found:
                for k in range(i, i + len(negation)):
                    used[k] = True

    def _soften(self, words: list[str], used: list[bool], i: int, state: _State) -> None:
        """"less gory": kept whole in ``unparsed``, so it neither asks for nor bans Horror."""
        phrase = self._phrase_at(words, i + 1)
        if phrase is not None:
            length = phrase[1]
            state.unparsed.append(" ".join(words[i:i + 1 + length]))
            for k in range(i, i + 1 + length):
                used[k] = True

    def _genre_words(self, words: list[str], used: list[bool], state: _State) -> None:
        i = 0
        while i < len(words):
            phrase = None if used[i] else self._phrase_at(words, i, used)
            if phrase is None:
                i += 1
                continue
            genres, length = phrase
            state.genres.extend(genres)
            mood = self._phrases[tuple(words[i:i + length])][1]
            state.mood = state.mood or mood
            for k in range(i, i + length):
                used[k] = True
            i += length

    def _phrase_at(self, words: list[str], i: int, used: list[bool] | None = None
                   ) -> tuple[tuple[str, ...], int] | None:
        """The longest known genre phrase starting at ``i`` that names a catalogue genre."""
        for length in range(min(self._words.longest, len(words) - i), 0, -1):
            if used is not None and any(used[i:i + length]):
                continue
            meaning = self._phrases.get(tuple(words[i:i + length]))
            if meaning is not None and meaning[0]:
                return meaning[0], length
        return None


@dataclass
class _State:
    genres: list[str] = field(default_factory=list)
    #: (genre, the words that excluded it)
    excluded: list[tuple[str, str]] = field(default_factory=list)
    year_from: int | None = None
    year_to: int | None = None
    films: list[FilmReference] = field(default_factory=list)
    mood: str | None = None
    unparsed: list[str] = field(default_factory=list)
    title_lookups: int = 0
    _years_seen: bool = False

    def add_years(self, low: int | None, high: int | None) -> None:
        """Several year phrases widen to cover all ("80s or 90s"); bounds combine."""
        if not self._years_seen:
            self.year_from, self.year_to, self._years_seen = low, high, True
            return
        if low is not None and self.year_from is not None:
            low = min(low, self.year_from)
        if high is not None and self.year_to is not None:
            high = max(high, self.year_to)
        self.year_from = low if low is not None else self.year_from
        self.year_to = high if high is not None else self.year_to


def _part(start: int, part: str | None) -> tuple[int, int]:
    """A decade, or its early (0–3), mid (4–6) or late (7–9) years."""
    offsets = {None: (0, 9), "early": (0, 3), "mid": (4, 6), "late": (7, 9)}[part]
    return start + offsets[0], start + offsets[1]


def _starts(words: Sequence[str], i: int, phrases: Iterable[tuple[str, ...]]
            ) -> tuple[str, ...] | None:
    for phrase in phrases:
        if tuple(words[i:i + len(phrase)]) == phrase:
            return phrase
    return None


def _genre_key(genre: str) -> str:
    key = re.sub(r"[^a-z]", "", genre.lower())
    return key.removesuffix("s") if key == "childrens" else key
