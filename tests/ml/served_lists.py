"""What the shipped model serves for a fixed set of requests, as plain JSON.

``tests/ml/test_served_lists.py`` holds the service to ``tests/data/served_lists.json``: a
refactoring of ``ml`` must leave every served list, score, prediction and reason as it was.
When a change of the model or the ranking means to change the lists, write the file again:
``python -m tests.ml.served_lists`` (and say so in the commit).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ml.serving.constraints import Constraints
from ml.serving.recommender import RecommendationList, Recommender

MODELS = Path(__file__).resolve().parents[2] / "models"
FIXTURE = Path(__file__).resolve().parents[1] / "data" / "served_lists.json"
HISTORY_LENGTHS = (0, 3, 5, 12, 40, 150)


def _list(result: RecommendationList) -> dict[str, Any]:
    return {"source": result.source, "note": result.note,
            "relaxed": [r.reason for r in result.relaxed],
            "items": [[i.movie_id, i.predicted_rating, i.score, i.reason] for i in result.items]}


def served(recommender: Recommender) -> dict[str, Any]:
    """Every request's answer, keyed by a readable name of the request."""
    popular = [m.movie_id for m in recommender.movies()]
    rng = np.random.default_rng(7)
    stars = np.array([1.0, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0])
    out: dict[str, Any] = {"model_version": recommender.model_version,
                           "chart": [[m.movie_id, m.rating_count, m.mean_rating]
                                     for m in recommender.movies()[:30]]}
    for n in HISTORY_LENGTHS:
        films = rng.choice(popular[:2000], size=n, replace=False).tolist()
        ratings = dict(zip(films, rng.choice(stars, size=n).tolist(), strict=True))
        skipped = [m for m in popular[:40] if m not in ratings][:6]
        requests: dict[str, dict[str, Any]] = {
            "default": {}, "rating": {"ranker": "rating"}, "popularity": {"ranker": "popularity"},
            "comedy": {"genre": "Comedy"}, "nineties": {"year_from": 1990, "year_to": 1999},
            "undiversified": {"diversify": False}, "skipped": {"skipped": skipped},
            "excluded": {"exclude": popular[:15]}, "discover": {"discover": 0.6},
            "horror": {"constraints": Constraints(genres=("Horror",))},
            "like_first_but_comedy": {"constraints": Constraints(
                genres=("Comedy",), similar_to=(popular[3],))},
            "like_first_popular": {"ranker": "popularity",
                                   "constraints": Constraints(similar_to=(popular[0],))},
        }
        for name, kwargs in requests.items():
            out[f"{n} ratings, {name}"] = _list(recommender.recommend(ratings, 10, **kwargs))
    for movie_id in popular[:3]:
        out[f"similar {movie_id}"] = [[m.movie_id, c] for m, c in recommender.similar(movie_id, 10)]
        out[f"similar {movie_id} minus"] = [
            [m.movie_id, c] for m, c in recommender.similar(movie_id, 10, exclude=popular[:10])]
    out["onboarding"] = [m.movie_id for m in recommender.onboarding(20)]
    out["onboarding minus"] = [m.movie_id for m in recommender.onboarding(20, popular[:8])]
    return out


def as_json(answers: dict[str, Any]) -> str:
    """One request a line, so a diff of the file names the requests whose answer moved."""
    lines = ",\n".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in answers.items())
    return "{\n" + lines + "\n}\n"


def main() -> None:
    FIXTURE.write_text(as_json(served(Recommender.load(MODELS))), encoding="utf-8")
    print(f"wrote {FIXTURE}")


if __name__ == "__main__":
    main()
