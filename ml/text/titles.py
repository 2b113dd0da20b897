"""The one title normaliser: how CineMatch reads, folds and shows a film's title.

- ``fold``: lower-case words without accents, keeping every script's letters;
- ``parse_title``: a raw MovieLens title ("Seven (a.k.a. Se7en)", "Matrix, The") split into
  the name shown on a card and its alternative titles;
- ``title_forms``: every folded way a person may write the title, which search and import
  match against.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

#: Anything but a letter or digit, of any script, separates words.
_NON_WORD = re.compile(r"[\W_]+")
#: Articles that MovieLens moves to the end ("Matrix, The") in the languages it files, also
#: before a subtitle and inside an alternative title (``ml.data.formats.parse_title``).
ARTICLES = (
    "the", "a", "an",
    "la", "le", "les", "l'", "un", "une",
    "il", "lo", "gli", "i", "una",
    "el", "los", "las",
    "der", "die", "das", "ein", "eine",
    "de", "het", "den", "det", "en", "ett",
    "o", "os",
)  # fmt: skip
_ARTICLE_PATTERN = "|".join(re.escape(article) for article in ARTICLES)
_TRAILING_ARTICLE = re.compile(rf"^(?P<head>.+),\s*(?P<article>{_ARTICLE_PATTERN})$", re.I)
_LEADING_ARTICLE = re.compile(rf"^(?:{_ARTICLE_PATTERN})(?:\s+|(?<=')|(?<=’))(?P<head>\S.*)$", re.I)
#: A group in parentheses at the very end of a title: an alternative title.
_TRAILING_GROUP = re.compile(r"\s*\((?P<inner>[^()]*)\)\s*$")
_AKA = re.compile(r"^(?:a\.?k\.?a\.?|aka)\s+", re.I)
_YEAR_SUFFIX = re.compile(r"\s*\((?:\d{4})(?:[-–]\d{0,4})?\)\s*$")
#: Roman numerals as title words ("Rocky III"), with the number each stands for.
_ROMAN = ("i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x", "xi", "xii")
ROMAN_NUMERALS = {roman: str(n) for n, roman in enumerate(_ROMAN, start=1)}


@dataclass(frozen=True, slots=True)
class ParsedTitle:
    """A raw catalogue title read as a person would: the name, and what else it is called."""

    title: str
    alternatives: tuple[str, ...]

    @property
    def subtitle(self) -> str | None:
        """The first alternative that is not just the title again, shown under the title."""
        own = fold(self.title)
        return next((alt for alt in self.alternatives if fold(alt) != own), None)


def _strip_accents(text: str) -> str:
    # Decomposed before and after case folding: compatibility forms ("𝔉", "ﬁ") fold too.
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def fold(text: str) -> str:
    """Case- and accent-insensitive form of ``text``: lower-case words, single-spaced."""
    return _NON_WORD.sub(" ", _strip_accents(text)).strip()


def article_first(title: str) -> str:
    """"Matrix, The" → "The Matrix"; a title with its article in front is left alone."""
    title = title.strip()
    if match := _TRAILING_ARTICLE.match(title):
        article = match["article"]
        joiner = "" if article.endswith("'") else " "
        return f"{article}{joiner}{match['head'].strip()}"
    return title


def without_article(title: str) -> str:
    """The title without a leading article ("The Matrix" → "Matrix")."""
    if match := _LEADING_ARTICLE.match(title.strip()):
        return match["head"]
    return title.strip()


@lru_cache(maxsize=65536)
def parse_title(raw: str) -> ParsedTitle:
    """Split ``raw`` into its shown title and alternative titles, articles moved to the front.

    Only groups in parentheses at the *end* are alternatives, so "(500) Days of Summer" keeps
    its number; a trailing year "(1999)" is dropped.
    """
    text = _YEAR_SUFFIX.sub("", raw.strip())
    alternatives: list[str] = []
    while (match := _TRAILING_GROUP.search(text)) and match.start() > 0:
        inner = _AKA.sub("", match["inner"].strip())
        if inner:
            alternatives.insert(0, article_first(inner))
        text = text[: match.start()]
    title = article_first(text) or raw.strip()
    return ParsedTitle(title=title, alternatives=tuple(alternatives))


@lru_cache(maxsize=65536)
def title_forms(raw: str) -> tuple[str, ...]:
    """Every folded form of ``raw`` a person may type, the shown title's first.

    "Matrix, The" gives ("the matrix", "matrix"); "Seven (a.k.a. Se7en)" gives ("seven",
    "se7en").
    """
    parsed = parse_title(raw)
    forms: list[str] = []
    for name in (parsed.title, *parsed.alternatives):
        forms += [fold(name), fold(without_article(name))]
    return tuple(dict.fromkeys(form for form in forms if form))


def compact(folded: str) -> str:
    """A folded title without its spaces: "wall e" → "walle", so "walle" finds WALL·E."""
    return folded.replace(" ", "")
