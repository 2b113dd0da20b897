"""The shipped model serves exactly the lists recorded in ``tests/data/served_lists.json``.

Every list, predicted rating, score, reason, neighbour and onboarding film of a fixed set of
requests (``tests/ml/served_lists.py``): the models and the ranking are reached through other
code paths after a refactoring, and a user must not see a single film or star move.
"""

from __future__ import annotations

import json

import pytest

from ml.serving.recommender import Recommender
from tests.ml.served_lists import FIXTURE, MODELS, served


@pytest.fixture(scope="module")
def answers() -> dict:
    return served(Recommender.load(MODELS))


def test_the_fixture_is_of_the_shipped_model(answers):
    assert json.loads(FIXTURE.read_text(encoding="utf-8"))["model_version"] == answers[
        "model_version"], "the shipped model changed: python -m tests.ml.served_lists"


def test_every_request_is_answered_as_recorded(answers):
    recorded = json.loads(FIXTURE.read_text(encoding="utf-8"))
    assert recorded.keys() == answers.keys()
    moved = [name for name in recorded if recorded[name] != answers[name]]
    assert not moved, f"{len(moved)} answers moved, e.g. {moved[:5]}"
