"""``python -m ml.training.promote``: the gate scores both models on users neither trained on,
switches only when no figure is worse, refuses models it cannot compare fairly, and rolls back."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from db.migrate import upgrade
from db.session import create_db_engine, create_session_factory
from ml.serving.artifacts import app_ratings_of, load_artifact, load_holdout
from ml.serving.model_store import ModelStore
from tests.learning.test_retrain_cli import REPO, app_user, movielens_folder, run

GATE = ["--n-factors", "3", "--rank", "4", "--n-epochs", "8", "--burn-in", "3",
        "--test-fraction", "0", "--validation-fraction", "0", "--gate-users", "0.25"]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return movielens_folder(tmp_path)


def train(data: Path, store: Path, *extra: str) -> Path:
    result = run("-m", "ml.training.train", "--data", str(data), "--store", str(store), *GATE,
                 *extra)
    assert result.returncode == 0, result.stderr
    return Path(result.stdout.strip().splitlines()[-1])


def promote(*args: str):
    return run("-m", "ml.training.promote", *args)


def test_held_out_users_are_left_out_of_training_the_same_way_every_time(data, tmp_path):
    store = tmp_path / "store"
    first, second = train(data, store), train(data, store, "--seed", "7")
    held = load_holdout(first)
    assert held.sha256 == load_holdout(second).sha256
    users = set(np.unique(held.user_ids).tolist())
    assert 5 <= len(users) <= 25  # ~25% of 60
    for version in (first, second):
        assert not users & set(load_artifact(version).users.ids.tolist())


def test_the_first_model_is_promoted_without_comparison(data, tmp_path):
    candidate = train(data, tmp_path / "store")
    result = promote(str(candidate))
    assert result.returncode == 0, result.stderr
    assert "without a comparison" in result.stdout and "POST /admin/reload" in result.stdout
    assert ModelStore(tmp_path / "store").current() == candidate.name


def test_an_equal_model_passes_and_a_worse_one_is_refused_with_the_table(data, tmp_path):
    store = ModelStore(tmp_path / "store")
    served = train(data, store.root)
    assert promote(str(served)).returncode == 0
    worse = train(data, store.root, "--reg", "500")  # shrunk towards the mean: worse RMSE
    result = promote(str(worse))
    assert result.returncode == 1, result.stderr
    assert "RMSE" in result.stdout and "newcomer NDCG@10" in result.stdout
    assert "WORSE" in result.stdout and "refused" in result.stdout
    assert store.current() == served.name
    same = train(data, store.root)  # the same data and seed: the same figures
    result = promote(str(same), "--tolerance", "0")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "+0.00%" in result.stdout and "WORSE" not in result.stdout
    assert store.current() == same.name


def test_rollback_goes_back_and_keep_spares_what_rollback_needs(data, tmp_path):
    store = ModelStore(tmp_path / "store")
    first = train(data, store.root)
    assert promote(str(first)).returncode == 0
    refused = train(data, store.root, "--reg", "500")
    assert promote(str(refused)).returncode == 1
    second = train(data, store.root)
    result = promote(str(second), "--tolerance", "0", "--keep", "1")
    assert result.returncode == 0, result.stderr
    assert set(store.versions()) == {first.name, second.name}  # the refused one went first
    result = promote("--rollback", "--store", str(store.root))
    assert result.returncode == 0, result.stderr
    assert store.current() == first.name
    assert "rolled back" in result.stdout


@pytest.mark.parametrize(("served_args", "expected"), [
    (["--gate-users", "0"], "the served model holds no users out"),
    (["--gate-salt", "1"], "held out different users"),
])
def test_models_that_may_have_seen_the_test_users_are_not_compared(
    data, tmp_path, served_args, expected,
):
    store = ModelStore(tmp_path / "store")
    served = train(data, store.root, *served_args)
    assert promote(str(served)).returncode == 0
    result = promote(str(train(data, store.root)))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: cannot compare")
    assert expected in result.stderr and "Traceback" not in result.stderr
    assert store.current() == served.name


def test_different_movielens_files_are_not_compared(data, tmp_path):
    store = ModelStore(tmp_path / "store")
    served = train(data, store.root)
    assert promote(str(served)).returncode == 0
    candidate = train(data, store.root)
    manifest = json.loads((candidate / "manifest.json").read_text())
    manifest["data"]["sources"][0]["sha256"] = "0" * 64
    (candidate / "manifest.json").write_text(json.dumps(manifest))
    result = promote(str(candidate))
    assert result.returncode == 2 and "different MovieLens files" in result.stderr


def test_usage_errors_are_one_line(tmp_path):
    for args, expected in ((["--rollback"], "which model store"),
                           ([str(tmp_path / "none"), "--store", str(tmp_path)],
                            "no such model directory"),
                           ([], "CANDIDATE directory or --rollback")):
        result = promote(*args)
        assert result.returncode == 2 and expected in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


def test_make_retrain_gates_a_retrain_with_the_apps_ratings_against_the_served_model(
    data, tmp_path,
):
    url = f"sqlite:///{tmp_path / 'app.db'}"
    engine = create_db_engine(url)
    upgrade(engine)
    sessions = create_session_factory(engine)
    fan = app_user(sessions, {1: 5.0, 2: 5.0, 3: 4.5, 101: 1.0, 102: 1.0, 103: 1.5})
    engine.dispose()
    shipped = tmp_path / "models"
    result = run("-m", "ml.training.train", "--data", str(data), "--out", str(shipped), *GATE)
    assert result.returncode == 0, result.stderr
    store = tmp_path / "store"
    make = subprocess.run(
        ["make", "-o", ".venv/.installed", "retrain", f"DATA={data}", f"OUT={shipped}",
         f"MODEL_STORE={store}", f"DATABASE_URL={url}", "TEST_FRACTION=0", "TOLERANCE=0.5",
         "TRAIN_ARGS=" + " ".join(GATE)],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert make.returncode == 0, make.stdout + make.stderr
    assert "newcomer NDCG@10" in make.stdout and "promoted" in make.stdout
    served = ModelStore(store)
    assert len(served.versions()) == 2 and len(served.history()) == 2
    artifact = load_artifact(served.current_link)
    receipt = app_ratings_of(artifact.manifest)
    assert receipt is not None and receipt.n_ratings == 6 and -fan in artifact.users
