"""bench/learns.py end to end on a tiny generated release: a taste rated by app users through
the API reaches a newcomer's top 10 after the retrain, and not before.

Everything is real: the API process on a SQLite file, ``POST /rate``, ``python -m ml.training.train
--app-ratings``, the store's promotion and ``POST /admin/reload``. If the retrain ignored the
stored ratings (or the reload kept the old model), the "after" lists would hold no taste film.
"""

from __future__ import annotations

import json

from bench import learns
from bench.harness.synthetic_movielens import Shape, generate


def test_a_taste_rated_in_the_app_enters_newcomers_top_10_only_after_the_retrain(tmp_path):
    release = generate(Shape(ratings=20_000, users=250, films=800), tmp_path / "release",
                       tmp_path / "unused", seed=0, eval_users=0).folder
    out = tmp_path / "learns.json"

    assert learns.main(["--quick", "--data", str(release), "--genre", "Documentary",
                        "--json", str(out)]) == 0

    result = json.loads(out.read_text())
    lists = result["newcomers"]["lists"]
    before, after = lists["before"], lists[result["final"]]
    assert before["model_version"] != after["model_version"]
    assert sum(before["hits"]) == 0, "the rare taste was already found before any app rating"
    assert all(h > 0 for h in after["hits"]), after["hits"]
    assert after["recall_at_10"] >= 0.5
    # The retrain read exactly what the simulated users stored through the API.
    (stage,) = result["stages"]
    assert stage["receipt"]["n_ratings"] == stage["app_ratings_stored"]
    assert stage["receipt"]["n_users"] == learns.QUICK.app_users[-1]
    # Everyone else is compared by the promote gate's own code on the held-out users, and
    # the real gate ran on the last version.
    everyone = result["everyone_else"]
    assert everyone["held_out_users"] > 0
    assert result["gate"]["exit_status"] in (0, 1)
    assert "ranking NDCG@10" in everyone[result["final"]]["table"]
    # The gate also scores the popular chart (what everyone sees before their fifth rating):
    # app ratings change it, so a retrain that makes it worse is refused like any other.
    assert "popular chart NDCG@10" in everyone[result["final"]]["table"]
