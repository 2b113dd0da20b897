""""Like X but Y": what a film *is*, so a request's list keeps both halves.

"Like Alien but funnier" asks for a comedy with Alien's premise, not for what Alien's raters
also rated, so content carries the "like X" half:

- ``GenreSpace``: every film as its genres weighted by rarity (IDF), and a film's likeness to
  the reference films as the cosine over the genres the request did not ask for;
- ``request_scores``: the order inside the request's filters, z-scored over the films that
  pass them:

      z(the person's score) + LIKENESS_WEIGHT · z(likeness) + REFERENCE_WEIGHT · z(cosine to X
      in the rating model) + KNOWN_WEIGHT · z(log(1 + number of ratings))

The weights were chosen on the ``dev`` half of ``tests/data/like_but.jsonl`` and measured on
the rest by ``bench/intent.py``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np
import numpy.typing as npt

#: Weight of the reference films' genre likeness (z-scored over the films that pass); chosen
#: on the dev half of tests/data/like_but.jsonl with the shipped model (2 gave dev 89%, 3 gave 94%).
LIKENESS_WEIGHT = 3.0
#: Weight of the cosine to the reference films in the rating model's item space.
REFERENCE_WEIGHT = 1.0
#: Weight of how many people rated a film (log), so a request's list names films people know.
KNOWN_WEIGHT = 1.0
#: Catalogue "genres" that say how a film was shown, not what it is.
FORMAT_GENRES = frozenset({"IMAX", "(no genres listed)"})

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


class GenreSpace:
    """Films as rarity-weighted genre vectors: the content half of "like X"."""

    def __init__(self, film_genres: Sequence[Collection[str]]) -> None:
        self.genres = tuple(sorted({g for genres in film_genres for g in genres}
                                   - FORMAT_GENRES))
        column = {g: j for j, g in enumerate(self.genres)}
        has = np.zeros((len(film_genres), len(self.genres)), dtype=np.float32)
        for i, genres in enumerate(film_genres):
            for g in genres:
                if g in column:
                    has[i, column[g]] = 1.0
        films_with = has.sum(axis=0)
        idf = np.log(max(len(film_genres), 1) / np.maximum(films_with, 1.0))
        self._weighted = has * idf.astype(np.float32)
        # Squared norms once: a request only subtracts its asked genres' columns.
        self._squared_norms = np.einsum("ij,ij->i", self._weighted, self._weighted)

    def likeness(self, references: npt.NDArray[np.int64],
                 asked: Collection[str] = ()) -> FloatArray:
        """Each film's cosine to the reference films' mean genre vector, over the genres not
        in ``asked``; zeros when the references have no other genre (nothing to be like)."""
        n = len(self._weighted)
        if len(references) == 0:
            return np.zeros(n, dtype=np.float64)
        asked_columns = [j for j, g in enumerate(self.genres) if g in asked]
        target = self._weighted[references].mean(axis=0)
        target[asked_columns] = 0.0
        target_norm = float(np.linalg.norm(target))
        if target_norm == 0.0:
            return np.zeros(n, dtype=np.float64)
        dots = (self._weighted @ (target / target_norm)).astype(np.float64)
        squared = self._squared_norms
        if asked_columns:
            dropped = self._weighted[:, asked_columns]
            squared = squared - np.einsum("ij,ij->i", dropped, dropped)
        norms = np.sqrt(np.maximum(squared, 0.0))
        return dots / np.where(norms > 1e-12, norms, 1.0)


def request_scores(base: npt.ArrayLike, likeness: FloatArray, reference_cosine: FloatArray,
                   log_popularity: FloatArray, passing: BoolArray) -> FloatArray:
    """The order of a list asked to be like reference films (module docstring), each term
    z-scored over the ``passing`` films."""
    return (_z_over(np.asarray(base, dtype=np.float64), passing)
            + LIKENESS_WEIGHT * _z_over(likeness, passing)
            + REFERENCE_WEIGHT * _z_over(reference_cosine, passing)
            + KNOWN_WEIGHT * _z_over(log_popularity, passing))


def _z_over(values: FloatArray, passing: BoolArray) -> FloatArray:
    """(x − mean) / std with both taken over the ``passing`` entries (others still scored)."""
    chosen = values[passing] if passing.any() else values
    std = float(chosen.std())
    return (values - float(chosen.mean())) / (std if std > 1e-12 else 1.0)
