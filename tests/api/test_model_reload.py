"""Hot swap of the model: /admin/reload, the replica watcher, and what a switch must never do.

A "new version" here is the tiny model with slightly moved item biases (so its arrays, and
the version named after their hash, differ), behind a symlink switched the way
``ml.serving.model_store`` switches ``current``. A manifest whose version was merely edited is
refused on load.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import Settings
from bench.harness.api_server import ApiServer, Request, call_json
from ml.serving.artifacts import ArtifactError, load_artifact, model_version, save_artifact

ADMIN = "operator-secret-token-0123456789"


#: The versions the store's two models are served under (their arrays' hashes).
VERSIONS: dict[str, str] = {}


def version_dir(tiny_model_dir: Path, root: Path, name: str, nudge: float) -> Path:
    """The tiny model with its item biases moved by ``nudge``: another model, another version
    (a manifest is refused unless its version is its arrays' hash)."""
    artifact = load_artifact(tiny_model_dir)
    model = dataclasses.replace(artifact.model, item_bias=artifact.model.item_bias + nudge)
    VERSIONS[name] = model_version(model)
    manifest = {**artifact.manifest, "model_version": VERSIONS[name]}
    return save_artifact(root / name, dataclasses.replace(artifact, model=model, manifest=manifest))


def point(link: Path, target: Path) -> None:
    """Switch ``link`` to ``target`` atomically (as ``ml.serving.model_store`` does)."""
    temporary = link.with_name(f".{link.name}.tmp")
    if temporary.is_symlink():
        temporary.unlink()
    temporary.symlink_to(target)
    os.replace(temporary, link)


@pytest.fixture
def store(tiny_model_dir: Path, tmp_path: Path) -> dict[str, Path]:
    first = version_dir(tiny_model_dir, tmp_path, "first", 0.001)
    second = version_dir(tiny_model_dir, tmp_path, "second", 0.002)
    broken = Path(shutil.copytree(first, tmp_path / "broken"))
    (broken / "factors.npz").write_bytes(b"not a model")
    current = tmp_path / "current"
    point(current, first)
    return {"first": first, "second": second, "broken": broken, "current": current}


def settings_for(store: dict[str, Path], tmp_path: Path, **extra: object) -> Settings:
    return Settings(
        model_dir=store["current"], database_url=f"sqlite:///{tmp_path / 'reload.db'}",
        create_db=True, signup_limit_per_hour=0, **extra,
    )


def admin(token: str = ADMIN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_without_an_admin_token_the_route_does_not_exist(store, tmp_path):
    with TestClient(create_app(settings_for(store, tmp_path))) as client:
        assert client.post("/admin/reload", headers=admin()).status_code == 404


def test_the_route_needs_the_operators_token(store, tmp_path):
    with TestClient(create_app(settings_for(store, tmp_path, admin_token=ADMIN))) as client:
        missing = client.post("/admin/reload")
        assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
        assert client.post("/admin/reload", headers=admin("wrong")).status_code == 403
        user = client.post("/users").json()  # a user's token is not the operator's
        assert client.post("/admin/reload", headers=admin(user["token"])).status_code == 403


def personal_list(client: TestClient) -> tuple[dict, dict[str, str]]:
    user = client.post("/users").json()
    headers = {"Authorization": f"Bearer {user['token']}"}
    ratings = [{"movie_id": m, "rating": 5.0} for m in (1, 2, 3, 4, 5)]
    client.post("/rate", json={"user_id": user["user_id"], "ratings": ratings}, headers=headers)
    return user, headers


def test_a_reload_serves_the_new_version_and_drops_the_old_lists(store, tmp_path):
    with TestClient(create_app(settings_for(store, tmp_path, admin_token=ADMIN))) as client:
        user, headers = personal_list(client)
        before = client.get(f"/recommend?user_id={user['user_id']}", headers=headers).json()
        assert before["model_version"] == VERSIONS["first"]
        point(store["current"], store["second"])
        reloaded = client.post("/admin/reload", headers=admin())
        assert reloaded.status_code == 200
        assert reloaded.json()["model_version"] == VERSIONS["second"]
        assert reloaded.json()["previous_model_version"] == VERSIONS["first"]
        assert client.get("/health").json()["model_version"] == VERSIONS["second"]
        # The same user and ratings: the cached list of the old model is not served.
        after = client.get(f"/recommend?user_id={user['user_id']}", headers=headers).json()
        assert after["model_version"] == VERSIONS["second"]


def test_a_bad_model_directory_is_refused_and_the_old_model_keeps_serving(store, tmp_path):
    with TestClient(create_app(settings_for(store, tmp_path, admin_token=ADMIN))) as client:
        point(store["current"], store["broken"])
        refused = client.post("/admin/reload", headers=admin())
        assert refused.status_code == 409
        assert "broken" in refused.json()["detail"]
        assert f"still serving {VERSIONS['first']}" in refused.json()["detail"]
        assert client.get("/health").json()["model_version"] == VERSIONS["first"]
        assert client.get("/movies/1").status_code == 200


def test_three_clients_asking_for_lists_see_no_failure_across_reloads(store, tmp_path):
    with TestClient(create_app(settings_for(store, tmp_path, admin_token=ADMIN))) as client:
        user, headers = personal_list(client)
        statuses: Counter[int] = Counter()
        versions: Counter[str] = Counter()
        stop = threading.Event()

        def ask() -> None:
            while not stop.is_set():
                response = client.get(f"/recommend?user_id={user['user_id']}", headers=headers)
                statuses[response.status_code] += 1
                if response.status_code == 200:
                    versions[response.json()["model_version"]] += 1

        askers = [threading.Thread(target=ask) for _ in range(3)]
        for thread in askers:
            thread.start()
        for target in ("second", "first", "second", "first", "second"):
            point(store["current"], store[target])
            assert client.post("/admin/reload", headers=admin()).status_code == 200
        stop.set()
        for thread in askers:
            thread.join(timeout=30)
        assert set(statuses) == {200}, statuses
        assert set(versions) == {VERSIONS["first"], VERSIONS["second"]}


def test_two_replicas_watching_the_path_both_switch(store, tmp_path):
    servers = [
        ApiServer(store["current"], tmp_path / "replicas.db",
                  log_path=tmp_path / f"replica-{i}.log",
                  env={"CINEMATCH_MODEL_WATCH_S": "0.2", "CINEMATCH_SIGNUP_LIMIT_PER_HOUR": "0"})
        for i in range(2)
    ]
    try:
        for server in servers:
            server.start()
        health = Request("GET", "/health")
        assert {call_json(s.port, health)["model_version"] for s in servers} == {VERSIONS["first"]}
        point(store["current"], store["second"])
        deadline = time.monotonic() + 30
        seen: set[str] = set()
        while time.monotonic() < deadline:
            seen = {call_json(s.port, health)["model_version"] for s in servers}
            if seen == {VERSIONS["second"]}:
                break
            time.sleep(0.2)
        assert seen == {VERSIONS["second"]}, [s.log_tail() for s in servers]
    finally:
        for server in servers:
            server.stop()


def test_a_manifest_whose_version_was_edited_is_refused_on_load(tiny_model_dir, tmp_path):
    folder = Path(shutil.copytree(tiny_model_dir, tmp_path / "edited"))
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["model_version"] = "funksvd-0000000000"
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="model_version 'funksvd-0000000000' does not match"):
        load_artifact(folder)
