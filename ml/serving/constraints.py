"""A request's constraints applied to a ranking: a filter mask, relaxation, a pull to films.

- a boolean mask over the catalogue: every asked genre present, no excluded genre, the year
  in range; combined with the other filters before the top-n cut;
- relaxation when fewer than ``min(n, MIN_MATCHES)`` unrated films pass, each step named in
  the answer: ``genres_any`` (any asked genre), ``years_widened`` (by ``YEAR_WIDENING``),
  ``years`` (dropped), ``genres`` (dropped). Exclusions are never relaxed; if they leave
  nothing, the list is empty and ``empty_reason`` says why;
- a pull towards reference films: their unit factors' mean blended into the user's vector,
  and the list reordered by ``ml.serving.likeness``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

#: A constrained list is relaxed when fewer films than this (or n, if smaller) pass.
MIN_MATCHES = 5
#: Years added on each side of the asked range before the years are dropped.
YEAR_WIDENING = 10
#: Share of a personal user's direction given to the reference films' mean direction.
REFERENCE_PULL = 0.5

RelaxationStep = Literal["genres_any", "years_widened", "years", "genres"]
RELAXATION_ORDER: tuple[RelaxationStep, ...] = ("genres_any", "years_widened", "years", "genres")

BoolArray = npt.NDArray[np.bool_]


class _Film(Protocol):
    genres: tuple[str, ...]
    year: int | None


class _Reference(Protocol):
    @property
    def movie_id(self) -> int: ...


class _Intent(Protocol):
    @property
    def genres(self) -> tuple[str, ...]: ...
    @property
    def exclude_genres(self) -> tuple[str, ...]: ...
    @property
    def year_from(self) -> int | None: ...
    @property
    def year_to(self) -> int | None: ...

    @property
    def similar_to(self) -> Sequence[_Reference]: ...


@dataclass(frozen=True, slots=True)
class Relaxation:
    """One constraint loosened, and a sentence a person can read about it."""

    step: RelaxationStep
    reason: str


@dataclass(frozen=True, slots=True)
class Constraints:
    """Filters and reference films (movie ids) from one request."""

    genres: tuple[str, ...] = ()
    exclude_genres: tuple[str, ...] = ()
    year_from: int | None = None
    year_to: int | None = None
    similar_to: tuple[int, ...] = ()

    @classmethod
    def of(cls, intent: _Intent) -> Constraints:
        return cls(tuple(intent.genres), tuple(intent.exclude_genres), intent.year_from,
                   intent.year_to, tuple(f.movie_id for f in intent.similar_to))

    @property
    def filters(self) -> bool:
        return bool(self.genres or self.exclude_genres or self.year_from is not None
                    or self.year_to is not None)

    @property
    def is_empty(self) -> bool:
        return not (self.filters or self.similar_to)

    def admits(self, film: _Film) -> bool:
        """The same test as ``mask``, for one film (what the benchmark counts)."""
        if any(g not in film.genres for g in self.genres):
            return False
        if any(g in film.genres for g in self.exclude_genres):
            return False
        if self.year_from is None and self.year_to is None:
            return True
        return film.year is not None and _in_years(film.year, self.year_from, self.year_to)

    def years_label(self) -> str | None:
        if self.year_from is None and self.year_to is None:
            return None
        if self.year_from is None:
            return f"up to {self.year_to}"
        if self.year_to is None:
            return f"from {self.year_from}"
        if self.year_from == self.year_to:
            return str(self.year_from)
        return f"{self.year_from}–{self.year_to}"

    def mask(self, genre_masks: Mapping[str, BoolArray], years: npt.NDArray[np.int64],
             *, any_genre: bool = False, widen: int = 0, use_years: bool = True,
             use_genres: bool = True) -> BoolArray:
        """Films meeting the constraints (``years`` holds -1 where unknown)."""
        n = len(years)
        mask = np.ones(n, dtype=bool)
        empty = np.zeros(n, dtype=bool)
        if use_genres and self.genres:
            asked = [genre_masks.get(g, empty) for g in self.genres]
            mask &= np.logical_or.reduce(asked) if any_genre else np.logical_and.reduce(asked)
        for genre in self.exclude_genres:
            mask &= ~genre_masks.get(genre, empty)
        if use_years and (self.year_from is not None or self.year_to is not None):
            low = -10**9 if self.year_from is None else self.year_from - widen
            high = 10**9 if self.year_to is None else self.year_to + widen
            mask &= (years >= low) & (years <= high) & (years >= 0)
        return mask

    def relaxed_mask(self, genre_masks: Mapping[str, BoolArray], years: npt.NDArray[np.int64],
                     available: BoolArray, wanted: int, *, filtered: bool = False,
                     ) -> tuple[BoolArray, tuple[Relaxation, ...]]:
        """The tightest mask leaving ``wanted`` available films, and the steps it took.

        ``available`` marks films the list may hold at all (other filters, not yet rated);
        ``filtered``: the page's filters are part of it, and the reasons say so.
        """
        options: dict[str, object] = {}
        mask = self.mask(genre_masks, years) & available
        steps: list[Relaxation] = []
        for step in RELAXATION_ORDER:
            found = int(mask.sum())
            if found >= wanted or not self._applies(step):
                continue
            options.update(_STEP_OPTIONS[step])
            steps.append(Relaxation(step, self._reason(step, found, filtered)))
            mask = self.mask(genre_masks, years, **options) & available  # type: ignore[arg-type]
        return mask, tuple(steps)

    def _applies(self, step: RelaxationStep) -> bool:
        if step == "genres_any":
            return len(self.genres) > 1
        if step in ("years_widened", "years"):
            return self.year_from is not None or self.year_to is not None
        return bool(self.genres)

    def _reason(self, step: RelaxationStep, found: int, filtered: bool = False) -> str:
        films = f"{found} film{'s' if found != 1 else ''}"
        if filtered:
            films += " within your filters"
        verb = "is" if found == 1 else "are"
        if step == "genres_any":
            return (f"Only {films} {verb} {' and '.join(self.genres)} at once: showing films "
                    f"that are any of them")
        if step == "years_widened":
            return (f"Only {films} matched {self.years_label()}: widened by "
                    f"{YEAR_WIDENING} years each side")
        if step == "years":
            return f"Still only {films} with the years: the years were dropped"
        return f"Only {films} matched the genres: the genres were dropped"

    def empty_reason(self, *, rated_them_all: bool, filtered: bool) -> str:
        """Why a list came back empty after every relaxation: the person has rated (or set
        aside) every film that matches, or no film matches at all; ``filtered``: the page's
        own filters (genre, decade) narrowed the catalogue too."""
        where = " within your filters" if filtered else ""
        if self.exclude_genres:
            excluded = (f"{', '.join(self.exclude_genres)} "
                        f"{'is' if len(self.exclude_genres) == 1 else 'are'} excluded")
            if rated_them_all:
                return f"No film you have not rated is left{where} once {excluded}"
            return f"No film is left{where} once {excluded}"
        if rated_them_all:
            return f"You have rated every film that matches{where}"
        return f"No film matches this request{where}"

    def request_reason(self, film: _Film, reference: str | None) -> str:
        """Why ``film`` fits the request: its matching genres, its year, the film it is like
        ("Crime, 1976, like Heat")."""
        parts = [g for g in self.genres if g in film.genres]
        if self.years_label() is not None and film.year is not None and _in_years(
                film.year, self.year_from, self.year_to):
            parts.append(str(film.year))
        if self.exclude_genres and not parts:
            parts.append(f"no {', '.join(self.exclude_genres)}")
        if reference:
            parts.append(f"like {reference}")
        # Short: a card shows two lines, and the person's reason follows.
        return ", ".join(parts) if parts else "Closest to your request"


def pull_towards(vector: npt.NDArray[np.float64], references: npt.NDArray[np.floating],
                 share: float = REFERENCE_PULL) -> npt.NDArray[np.float64]:
    """``vector`` turned towards the mean direction of ``references`` (rows), norm kept.

    Directions are blended, not raw vectors, so a user with a long history and a film with
    large factors weigh what ``share`` says, whatever their norms.
    """
    norm = float(np.linalg.norm(vector))
    target = _unit(_unit_rows(references).mean(axis=0))
    if norm == 0.0:
        return target
    blended = (1.0 - share) * vector / norm + share * target
    return _unit(blended) * norm


def reference_cosines(unit_factors: npt.NDArray[np.floating],
                      reference_indices: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Each film's cosine to the reference films' mean direction."""
    return unit_factors @ _unit(unit_factors[reference_indices].mean(axis=0))


def _in_years(year: int, low: int | None, high: int | None) -> bool:
    return (low is None or year >= low) and (high is None or year <= high)


def _unit(vector: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def _unit_rows(rows: npt.NDArray[np.floating]) -> npt.NDArray[np.floating]:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.where(norms > 0, norms, 1.0)


_STEP_OPTIONS: dict[RelaxationStep, dict[str, object]] = {
    "genres_any": {"any_genre": True},
    "years_widened": {"widen": YEAR_WIDENING},
    "years": {"use_years": False},
    "genres": {"use_genres": False},
}
