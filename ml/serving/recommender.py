"""The one object the API holds: a loaded model that answers "what should this person watch".

It speaks raw MovieLens ids at its edge and dense indices inside, and uses every model through
``ml.models.contract``. Everything a request needs is precomputed at load, so a request is two
fold-ins (FunkSVD for the ★ shown, iALS for the order) plus a few vectorised passes. Lists are
ranked by one of ``ml.serving.ranking.RANKERS``: popularity below the personalisation
threshold, the ranking score from it on (FunkSVD's predicted rating alone stays selectable).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from ml.blas import single_threaded_blas
from ml.models.contract import UserRatings, clip_rating
from ml.models.funksvd import UserVector
from ml.rules import is_personal
from ml.serving.artifacts import Artifact, CatalogueEntry, load_artifact
from ml.serving.constraints import (
    MIN_MATCHES,
    Constraints,
    Relaxation,
    pull_towards,
    reference_cosines,
)
from ml.serving.discover import DISCOVER_WEIGHT, discover_scores
from ml.serving.diversity import capped_from_order, capped_top_n, franchise_clusters
from ml.serving.likeness import GenreSpace, request_scores
from ml.serving.onboarding import OnboardingParams, onboarding_order
from ml.serving.ranking import (
    BlendScorer,
    Ranker,
    RankingWeights,
    RowScores,
    top_n_indices,
    zscore,
)
from ml.serving.reasons import Neighbourhoods, neighbour_count, personal_reasons
from ml.text.titles import parse_title

Source = Literal["popularity", "personalized"]

#: A personal list is ranked among the catalogue's most rated films, this many of them,
#: unless its filters leave fewer there: it bounds the factors a list reads at any catalogue
#: size (``bench/serving_87k.py`` measures the lists that change). The MovieLens copies are
#: ranked in full.
PERSONAL_POOL = 20_000


@dataclass(frozen=True)
class Movie(CatalogueEntry):
    """A catalogue entry with what the ratings say about it."""

    rating_count: int = 0
    mean_rating: float | None = None

    @property
    def label(self) -> str:
        """"Alien (1979)": how a film is named in reasons (its title without alternatives)."""
        title = parse_title(self.title).title
        return title if self.year is None else f"{title} ({self.year})"


@dataclass(frozen=True)
class Recommendation:
    movie_id: int
    predicted_rating: float
    score: float
    reason: str | None


@dataclass(frozen=True)
class RecommendationList:
    source: Source
    items: list[Recommendation]
    #: Constraints of a plain-words request loosened to fill the list (``ml.serving.constraints``).
    relaxed: tuple[Relaxation, ...] = ()
    #: Why the list is empty, when it is.
    note: str | None = None


@dataclass(frozen=True)
class UserProfile:
    """A user's fold-in results and the ratings they came from (dense indices): ``vector``
    (FunkSVD) and ``choice_vector`` (iALS, skips included) depend only on the ratings and skips,
    so the API caches a profile until they change.
    """

    vector: UserVector
    rated_indices: npt.NDArray[np.int64]
    rated_values: npt.NDArray[np.float64]
    choice_vector: npt.NDArray[np.float64]


class Recommender:
    """Popularity below the personalisation threshold, the ranking score from it on."""

    def __init__(self, artifact: Artifact, *, weights: RankingWeights | None = None,
                 onboarding: OnboardingParams | None = None,
                 discover_weight: float = DISCOVER_WEIGHT) -> None:
        """``weights``, ``onboarding`` and ``discover_weight`` replace the tuned defaults
        (for simulations and benchmarks)."""
        self.discover_weight = discover_weight
        self.artifact = artifact
        #: The rating model (the ★ shown, neighbours, reasons).
        self.funksvd = artifact.model
        self.items = artifact.items
        self.manifest: dict[str, Any] = artifact.manifest
        self.model_version = str(artifact.manifest.get("model_version", "unknown"))
        self.popularity = artifact.popularity
        #: The ranking score's item-item term (``ml.models.ease.sparse``), None in older models.
        self.item_item = artifact.item_item
        self.weights = weights or artifact.ranking_weights
        #: The ranking model, folding in with the fold-in settings of ``weights``.
        self.ials = artifact.implicit.serving(self.weights.fold_in_half_ratings,
                                              self.weights.skip_confidence)
        pop = self.popularity
        self._movies = tuple(
            _movie(entry, int(pop.counts[i]), pop.means[i])
            for i, entry in enumerate(artifact.catalogue)
        )
        # Neighbours, reasons and franchise checks use the rating model's item space: films
        # close there are liked by the same people, which is what "because you loved" means.
        self.unit_factors = self.funksvd.unit_item_factors
        #: Franchise / near-duplicate cluster of every film (``ml.serving.diversity``).
        self.clusters = franchise_clusters([e.title for e in artifact.catalogue],
                                           self.unit_factors)
        #: Each film's nearest neighbours there: a reason names a loved film only among them.
        k = neighbour_count(len(self._movies))
        self.neighbourhoods = Neighbourhoods(
            self.unit_factors, k,
            artifact.neighbour_edges if artifact.neighbour_edges_k == k else None)
        self._labels = [m.label for m in self._movies]
        self._film_genres = [e.genres for e in artifact.catalogue]
        self._log_popularity_z = zscore(np.log1p(pop.counts.astype(np.float64)))
        self._years = np.array(
            [-1 if e.year is None else e.year for e in artifact.catalogue], dtype=np.int64)
        genres = sorted({g for e in artifact.catalogue for g in e.genres})
        self._genre_masks = {
            g: np.array([g in e.genres for e in artifact.catalogue]) for g in genres
        }
        self._genres_lower = {g.lower(): g for g in genres}
        #: What films are (their genres), for requests like "like Alien but funnier".
        self.genre_space = GenreSpace([e.genres for e in artifact.catalogue])
        # The chart counts the MovieLens sources only when the model learnt from the service
        # (``Artifact.chart``); everything else uses all ratings.
        self._popularity_order = top_n_indices(artifact.chart_popularity.scores(),
                                               len(self._movies))
        self._blend = BlendScorer(self.ials.item_factors, self.funksvd.item_factors,
                                  self.funksvd.item_bias, self._log_popularity_z, self.weights)
        #: The personal lists' films (``PERSONAL_POOL``), None: every film.
        self._pool_blend: BlendScorer | None = None
        #: Each pool film's position in the item-item term's head (the head's size: outside).
        self._pool_head: npt.NDArray[np.int64] | None = None
        if len(self._movies) > PERSONAL_POOL:
            pool = np.sort(np.argsort(-pop.counts, kind="stable")[:PERSONAL_POOL])
            self._pool_blend = BlendScorer(
                self.ials.item_factors, self.funksvd.item_factors, self.funksvd.item_bias,
                self._log_popularity_z, self.weights, rows=pool.astype(np.int64))
            sparse = self.item_item.sparse if self.item_item is not None else None
            if sparse is not None:
                head_of = np.full(self.n_movies, len(sparse.head), dtype=np.int64)
                head_of[sparse.head] = np.arange(len(sparse.head))
                self._pool_head = head_of[pool]
        chosen = onboarding_order(
            pop.counts, self.ials, [e.genres for e in artifact.catalogue], onboarding)
        # The chosen order covers the first few hundred films; someone who has seen them all
        # goes on through the rest of the catalogue, most popular first, not to an empty deck.
        in_chosen = set(chosen)
        self._onboarding_order = list(chosen) + [
            int(i) for i in self._popularity_order if int(i) not in in_chosen]

    @classmethod
    def load(cls, model_dir: str | Path) -> Recommender:
        return cls(load_artifact(model_dir))

    @property
    def n_movies(self) -> int:
        return len(self._movies)

    def movie(self, movie_id: int) -> Movie:
        return self._movies[self.items.index(movie_id)]

    def unknown_movie_ids(self, movie_ids: Iterable[int]) -> list[int]:
        return [m for m in movie_ids if m not in self.items]

    def known_ratings(self, ratings: Mapping[int, float]) -> dict[int, float]:
        """``ratings`` without films this catalogue lacks (rated under an older model): what
        the list and the personalisation threshold are computed from."""
        known = self.items.indices(_ids(ratings)) >= 0
        if known.all():
            return dict(ratings)
        return {m: r for (m, r), keep in zip(ratings.items(), known.tolist(), strict=True)
                if keep}

    def movies(self) -> list[Movie]:
        """The whole catalogue, most popular first."""
        return [self._movies[i] for i in self._popularity_order]

    def genres(self) -> list[str]:
        return list(self._genre_masks)

    def decades(self) -> list[int]:
        """The decades the catalogue has films from, newest first (1990 for the 1990s)."""
        known = self._years[self._years >= 0]
        return sorted({int(year) // 10 * 10 for year in np.unique(known)}, reverse=True)

    def canonical_genre(self, genre: str) -> str | None:
        """The catalogue's spelling of ``genre`` (case-insensitive), or None if unknown."""
        return self._genres_lower.get(genre.strip().lower())

    def metrics(self) -> dict[str, Any]:
        return dict(self.manifest.get("metrics", {}))

    def profile(self, ratings: Mapping[int, float], skipped: Collection[int] = ()) -> UserProfile:
        """Fold the user's ratings (and the films they skipped as "haven't seen it") into both
        models; unknown movie ids are ignored."""
        # One vectorised id lookup: a dict lookup per film cost a 3,000-film history 0.6 ms.
        indices = self.items.indices(_ids(ratings))
        values = np.fromiter(ratings.values(), dtype=np.float64, count=len(ratings))
        known = indices >= 0
        skips = self.items.indices(sorted(skipped)) if skipped else np.empty(0, dtype=np.int64)
        rated = UserRatings.of(indices[known], values[known], skips[skips >= 0])
        with single_threaded_blas():  # small solves: see ml/blas.py
            return UserProfile(self.funksvd.fold_in(rated), rated.items, rated.ratings,
                               self.ials.fold_in(rated))

    def recommend(
        self, ratings: Mapping[int, float], n: int = 10, *, genre: str | None = None,
        year_from: int | None = None, year_to: int | None = None,
        profile: UserProfile | None = None, ranker: Ranker | None = None,
        diversify: bool = True, constraints: Constraints | None = None,
        skipped: Collection[int] = (), exclude: Collection[int] = (), discover: float = 0.0,
    ) -> RecommendationList:
        """Top-``n`` films for someone with these ratings, filters applied before the cut.

        ``ranker`` defaults to popularity below the personalisation threshold and "blend" from
        it on; ``diversify`` keeps at most two films of a franchise; ``constraints`` filter and
        pull the list; ``skipped`` (films not seen) is ignored when ``profile`` is given (it
        holds them); ``exclude`` are movie ids never to return; ``discover`` (0–1) moves a
        personal list away from the most rated films.
        """
        ratings = self.known_ratings(ratings)
        allowed = self._filter_mask(genre, year_from, year_to)
        excluded = self._excluded_indices(exclude)
        ranker = ranker or ("blend" if is_personal(len(ratings)) else "popularity")
        if constraints is not None and not constraints.is_empty:
            return self._for_request(ratings, n, constraints, allowed,
                                     profile or self._profile_if_personal(ratings, ranker, skipped),
                                     ranker, diversify, excluded)
        if ranker == "popularity":
            return self._popular(ratings, n, allowed, genre, diversify, excluded)
        profile = profile or self.profile(ratings, skipped)
        with single_threaded_blas():
            never = (profile.rated_indices if len(excluded) == 0
                     else np.concatenate([profile.rated_indices, excluded]))
            best = np.empty(0, dtype=np.int64)
            for pooled in ((True, False) if ranker == "blend" and self._pool_blend is not None
                           else (False,)):
                # The pool's scores are cut where they are (``rows``), unless the discover
                # order needs them spread over the catalogue.
                rows = (self._pool_blend.rows if pooled and discover == 0.0
                        and self._pool_blend is not None else None)
                if ranker == "rating":
                    score = self.funksvd.scores(profile.vector)
                else:
                    score = self._blend_scores(profile, profile.choice_vector, pooled,
                                               spread=rows is None)
                score = discover_scores(score, self._log_popularity_z, discover, exclude=never,
                                        allowed=allowed, weight=self.discover_weight)
                best = self._cut(score, n, never, allowed, diversify, rows)
                if len(best) >= n:
                    break
            predicted = self.funksvd.predict(profile.vector, best)
            reasons = self._personal_reasons(best, profile)
            shown = score[best] if rows is None else score[np.searchsorted(rows, best)]
        return RecommendationList("personalized", _items(
            self.items.ids[best], predicted, shown, reasons))

    def similar(self, movie_id: int, n: int = 10,
                exclude: Collection[int] = ()) -> list[tuple[Movie, float]]:
        """Films closest to ``movie_id`` by cosine in factor space, minus ``exclude`` (movie
        ids); KeyError if unknown."""
        index = self.items.index(movie_id)
        excluded = self._excluded_indices(exclude)
        with single_threaded_blas():
            best, cosines = self.funksvd.similar_items(index, n + len(excluded))
        if len(excluded):
            keep = ~np.isin(best, excluded)
            best, cosines = best[keep][:n], cosines[keep][:n]
        return [(self._movies[i], round(float(c), 4)) for i, c in zip(best, cosines, strict=True)]

    def onboarding(self, n: int = 20, exclude: Collection[int] = ()) -> list[Movie]:
        """Well-known, informative films of mixed genres, minus those shown or rated."""
        excluded = {self.items.get(m) for m in exclude}
        picked = [i for i in self._onboarding_order if i not in excluded][: max(n, 0)]
        return [self._movies[i] for i in picked]

    def _profile_if_personal(self, ratings: Mapping[int, float], ranker: Ranker,
                             skipped: Collection[int]) -> UserProfile | None:
        return None if ranker == "popularity" else self.profile(ratings, skipped)

    def _for_request(self, ratings: Mapping[int, float], n: int, constraints: Constraints,
                     allowed: npt.NDArray[np.bool_] | None, profile: UserProfile | None,
                     ranker: Ranker, diversify: bool,
                     excluded: npt.NDArray[np.int64]) -> RecommendationList:
        """``recommend`` inside a request's constraints, relaxed if too few films pass.

        The reference films themselves are left out (asked for "like Alien", Alien is known).
        Reasons say why each film fits the request, then why it fits the person ("Crime,
        1976, like Heat · Because you loved The Godfather (1972)").
        """
        rated = self.items.indices(list(ratings))
        references = self.items.indices(list(constraints.similar_to))
        references = references[references >= 0]
        exclude = np.concatenate([rated, references, excluded])
        available = (np.ones(self.n_movies, dtype=bool) if allowed is None else allowed.copy())
        available[exclude[exclude >= 0]] = False
        mask, relaxed = constraints.relaxed_mask(
            self._genre_masks, self._years, available, min(n, MIN_MATCHES),
            filtered=allowed is not None)
        with single_threaded_blas():
            if ranker == "popularity":
                score = self._like_references(
                    zscore(self.popularity.average), references, constraints, mask)
                best = self._cut(score, n, exclude, mask, diversify)
                shown = self.popularity.average[best]
                predicted, person = shown, ["Among the highest rated"] * len(best)
                source: Source = "popularity"
            else:
                profile = profile or self.profile(ratings)
                choice = profile.choice_vector
                if len(references):
                    choice = pull_towards(choice, self.ials.item_factors[references])
                personal = (self.funksvd.scores(profile.vector) if ranker == "rating"
                            else self._blend_scores(profile, choice))
                score = self._like_references(personal, references, constraints, mask)
                best = self._cut(score, n, exclude, mask, diversify)
                predicted = self.funksvd.predict(profile.vector, best)
                person = self._personal_reasons(best, profile)
                source = "personalized"
        nearest: list[str | None] = [None] * len(best)
        if len(references) and len(best):
            cosines = self.unit_factors[best] @ self.unit_factors[references].T
            nearest = [parse_title(self._movies[references[k]].title).title
                       for k in np.argmax(cosines, axis=1)]
        reasons = [
            f"{constraints.request_reason(self._movies[i], ref)} · {why}"
            for i, ref, why in zip(best.tolist(), nearest, person, strict=True)
        ]
        items = _items(self.items.ids[best], clip_rating(predicted), score[best], reasons)
        if items:
            return RecommendationList(source, items, relaxed)
        # Empty: because the person has rated (or set aside) every film that matches, or
        # because none matches at all?
        catalogue = np.ones(self.n_movies, dtype=bool) if allowed is None else allowed.copy()
        catalogue[references] = False
        matching, _ = constraints.relaxed_mask(self._genre_masks, self._years, catalogue,
                                               min(n, MIN_MATCHES))
        return RecommendationList(source, items, relaxed, constraints.empty_reason(
            rated_them_all=bool(matching.any()), filtered=allowed is not None))

    def _like_references(self, score: npt.NDArray[np.floating], references: npt.NDArray[np.int64],
                         constraints: Constraints, mask: npt.NDArray[np.bool_]
                         ) -> npt.NDArray[np.float64]:
        """``score`` reordered towards films like the reference films in what they are and in
        who rates them (``ml.serving.likeness``); ``score`` itself when the request names none."""
        if not len(references):
            return np.asarray(score, dtype=np.float64)
        return request_scores(
            score, self.genre_space.likeness(references, constraints.genres),
            reference_cosines(self.unit_factors, references), self._log_popularity_z, mask)

    def _blend_scores(self, profile: UserProfile, choice_vector: npt.NDArray[np.float64],
                      pooled: bool = False, spread: bool = True) -> npt.NDArray[np.float32]:
        """The ranking score of every film for ``profile`` (with this iALS vector); with
        ``pooled``, of the ``PERSONAL_POOL`` films only, every other film at -inf (or, without
        ``spread``, the pool's scores alone, in the order of its rows)."""
        blend = self._pool_blend if pooled and self._pool_blend is not None else self._blend
        item_item: npt.NDArray[np.floating] | RowScores | None = None
        sparse = self.item_item.sparse if self.item_item is not None else None
        if blend.rows is not None and sparse is not None and self._pool_head is not None:
            # The pool's films only (a catalogue-sized array of mostly zeros cost a list at
            # 87k films four passes over it).
            item_item = RowScores.of_head(
                sparse.head_scores(profile.rated_indices, profile.rated_values),
                self.n_movies, self._pool_head)
        elif self.item_item is not None:
            rated = UserRatings(profile.rated_indices, profile.rated_values)
            item_item = self.item_item.scores(self.item_item.fold_in(rated))
        score = blend.scores(choice_vector, profile.vector.factors,
                             len(profile.rated_indices), item_item)
        if blend.rows is None or not spread:
            return score
        out = np.full(self.n_movies, -np.inf, dtype=np.float32)
        out[blend.rows] = score
        return out

    def _cut(self, score: npt.NDArray[np.floating], n: int, exclude: npt.ArrayLike,
             allowed: npt.NDArray[np.bool_] | None, diversify: bool,
             rows: npt.NDArray[np.int64] | None = None) -> npt.NDArray[np.int64]:
        """The list's films; ``rows``: the films ``score`` is of (default every film)."""
        if diversify:
            return capped_top_n(score, n, self.clusters, exclude=exclude, allowed=allowed,
                                rows=rows)
        return top_n_indices(score, n, exclude=exclude, allowed=allowed, rows=rows)

    def _excluded_indices(self, movie_ids: Collection[int]) -> npt.NDArray[np.int64]:
        """Dense indices of the catalogue's films among ``movie_ids`` (unknown ids dropped)."""
        if not movie_ids:
            return np.empty(0, dtype=np.int64)
        indices = self.items.indices(list(movie_ids))
        return indices[indices >= 0].astype(np.int64)

    def _popular(self, ratings: Mapping[int, float], n: int,
                 allowed: npt.NDArray[np.bool_] | None, genre: str | None,
                 diversify: bool, excluded: npt.NDArray[np.int64]) -> RecommendationList:
        rated = self.items.indices(list(ratings))
        if len(excluded):
            rated = np.concatenate([rated, excluded])
        best = capped_from_order(self._popularity_order, n,
                                 self.clusters if diversify else None,
                                 exclude=rated, allowed=allowed)
        canonical = self.canonical_genre(genre) if genre else None
        reason = f"Loved by fans of {canonical}" if canonical else "Among the highest rated"
        scores = self.popularity.average[best]
        return RecommendationList("popularity", _items(
            self.items.ids[best], clip_rating(scores), scores, [reason] * len(best)))

    def _personal_reasons(self, best: npt.NDArray[np.int64], profile: UserProfile) -> list[str]:
        """Why each pick fits the person, naming a film they rated only when it holds
        (``ml.serving.reasons``: rated ``POSITIVE_RATING`` or more, and among the pick's
        neighbours)."""
        return personal_reasons(best, profile.rated_indices, profile.rated_values,
                                self.neighbourhoods, self._labels, self._film_genres,
                                self._genre_masks)

    def _filter_mask(self, genre: str | None, year_from: int | None,
                     year_to: int | None) -> npt.NDArray[np.bool_] | None:
        """The plain filters as ``Constraints`` (an unknown genre matches no film), None
        without any."""
        if not genre and year_from is None and year_to is None:
            return None
        genres = ((self.canonical_genre(genre) or genre),) if genre else ()
        return Constraints(genres, (), year_from, year_to).mask(self._genre_masks, self._years)


def _items(movie_ids: npt.NDArray[np.int64], predicted: npt.NDArray[np.floating],
           scores: npt.NDArray[np.floating], reasons: list[str]) -> list[Recommendation]:
    """The list's entries, rounded for display in one vectorised pass."""
    shown = np.round(predicted.astype(np.float64), 2).tolist()
    rounded = np.round(scores.astype(np.float64), 4).tolist()
    return [
        Recommendation(movie_id=m, predicted_rating=p, score=s, reason=r)
        for m, p, s, r in zip(movie_ids.tolist(), shown, rounded, reasons, strict=True)
    ]


def _ids(ratings: Mapping[int, float]) -> npt.NDArray[np.int64]:
    """The movie ids of ``ratings`` as one array, in the mapping's order."""
    return np.fromiter(ratings.keys(), dtype=np.int64, count=len(ratings))


def _movie(entry: CatalogueEntry, count: int, mean: float) -> Movie:
    return Movie(
        **asdict(entry), rating_count=count,
        mean_rating=None if count == 0 or not np.isfinite(mean) else round(float(mean), 3),
    )
