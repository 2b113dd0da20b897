"""The shipped model: what it was trained on, and fold-in agreeing with training.

Needs the shared MovieLens copies (skips only when ../shared is absent).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ml.data import load_dataset
from ml.models.contract import UserRatings
from ml.models.funksvd import UserVector
from ml.serving.artifacts import GATE_HOLDOUT_KEY, load_artifact
from ml.serving.ranking import top_n_indices

MODELS = Path(__file__).resolve().parents[2] / "models"


@pytest.fixture(scope="module")
def shipped():
    return load_artifact(MODELS)


def test_the_manifest_names_every_source_with_rows_and_checksums(shipped):
    sources = {s["path"]: s for s in shipped.manifest["data"]["sources"]}
    assert sources["ml-1m/ratings_PARTIAL_first487650.dat"]["rows"] == 487_650
    assert sources["ml-latest-small/ratings.csv"]["rows"] == 100_836
    assert all(len(s["sha256"]) == 64 for s in sources.values())
    # Every rating trains, but those of the people held out for the promote gate.
    held_out = shipped.manifest[GATE_HOLDOUT_KEY]["n_ratings"]
    assert 0 < held_out < 0.1 * (487_650 + 100_836)
    assert shipped.manifest["data"]["n_ratings"] + held_out == 487_650 + 100_836
    assert shipped.model.n_items == len(shipped.catalogue) > 10_000
    assert {"rating", "top_n"} <= set(shipped.manifest["metrics"])


def test_training_users_folded_in_from_their_ratings_get_nearly_the_same_list(
        shipped, shared_data: Path):
    """ml-1m users keep their ids in the merged model (source 0 has no offset)."""
    ratings = load_dataset(shared_data / "ml-1m").ratings
    model = shipped.model
    overlaps, gaps = [], []
    for user_id in range(1, 3000, 50):
        if user_id not in shipped.users:  # held out for the promote gate: never trained
            continue
        mine = ratings[ratings["user_id"] == user_id]
        rated = shipped.items.indices(mine["movie_id"].to_numpy())
        row = shipped.users.index(user_id)
        trained = model.predict(UserVector(model.user_factors[row], float(model.user_bias[row])))
        folded = model.predict(model.fold_in(UserRatings.of(rated, mine["rating"].to_numpy())))
        gaps.append(float(np.abs(trained - folded).mean()))
        top_trained = set(top_n_indices(trained, 10, exclude=rated))
        top_folded = set(top_n_indices(folded, 10, exclude=rated))
        overlaps.append(len(top_trained & top_folded) / 10)
    assert np.mean(gaps) < 0.05, np.mean(gaps)  # stars, averaged over every film
    assert np.mean(overlaps) >= 0.7, np.mean(overlaps)


def test_the_onboarding_deck_goes_on_past_its_chosen_films(shipped):
    """Someone who has seen (or skipped) every chosen film still gets films to rate."""
    from ml.serving.recommender import Recommender

    recommender = Recommender(shipped)
    seen: list[int] = []
    for _ in range(60):  # 600 films, past the few hundred the onboarding order picks
        page = recommender.onboarding(10, exclude=seen)
        assert len(page) == 10 and not set(m.movie_id for m in page) & set(seen)
        seen += [m.movie_id for m in page]
    assert recommender.onboarding(-1) == []
