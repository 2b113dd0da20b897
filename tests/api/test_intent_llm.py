"""The optional LLM reader, against a fake OpenAI-compatible server on 127.0.0.1.

Each path of the fake server answers one way: a valid reading, invalid JSON, a schema
violation, a genre the catalogue lacks, an HTTP 500, or no answer for longer than the
deadline. Only the valid one is used; every other falls back to the offline parser.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import Settings
from bench.harness.api_server import free_port

KEY = "test-key-not-a-secret"
VALID = {"genres": ["comedy"], "exclude_genres": [], "year_from": 1990, "year_to": 1999,
         "similar_to": ["Romance Film 2", "No Such Film"], "mood": "light",
         "unparsed": ["tonight"]}
#: Longer than the deadline the tests set.
HANG_S = 3.0


def _chat(content: str) -> bytes:
    return json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}
                      ).encode()


class FakeLlm(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeLlm.seen.append({"path": self.path, "auth": self.headers["Authorization"],
                             "body": body})
        answers = {
            "/valid": (200, _chat(json.dumps(VALID))),
            "/invalid-json": (200, _chat("{genres: comedy")),
            "/schema-violation": (200, _chat(json.dumps({**VALID, "year_from": "1990"}))),
            "/extra-key": (200, _chat(json.dumps({**VALID, "rating": 5}))),
            "/unknown-genre": (200, _chat(json.dumps({**VALID, "genres": ["Telenovela"]}))),
            "/error": (500, b'{"error": "overloaded"}'),
            "/not-chat": (200, b'{"id": 1}'),
        }
        if self.path == "/hang":
            time.sleep(HANG_S)
            status, payload = answers["/valid"]
        else:
            status, payload = answers[self.path]
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def fake_llm() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeLlm)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def client_for(settings: Settings, url: str, timeout_s: float = 2.0) -> TestClient:
    configured = Settings(**{**settings.model_dump(), "llm_url": url, "llm_key": KEY,
                             "llm_timeout_s": timeout_s})
    return TestClient(create_app(configured))


def read(settings: Settings, url: str, q: str, timeout_s: float = 2.0) -> dict:
    with client_for(settings, url, timeout_s) as client:
        response = client.get("/intent", params={"q": q})
    assert response.status_code == 200, response.text
    return response.json()


def test_a_valid_answer_is_used_in_catalogue_terms(settings, fake_llm):
    FakeLlm.seen.clear()
    body = read(settings, f"{fake_llm}/valid", "something light from the 90s like Romance Film 2")
    assert body["parser"] == "llm"
    assert body["genres"] == ["Comedy"] and (body["year_from"], body["year_to"]) == (1990, 1999)
    assert body["similar_to"] == [{"movie_id": 102, "title": "Romance Film 2", "year": 1981,
                                   "name": "Romance Film 2"}]
    assert body["unparsed"] == ["tonight", "No Such Film"]
    (call,) = FakeLlm.seen
    assert call["auth"] == f"Bearer {KEY}"
    schema = call["body"]["response_format"]["json_schema"]
    assert schema["strict"] is True and schema["schema"]["additionalProperties"] is False
    assert "Action, Comedy, Romance" in call["body"]["messages"][0]["content"]


@pytest.mark.parametrize("path", ["/invalid-json", "/schema-violation", "/extra-key",
                                  "/unknown-genre", "/error", "/not-chat", "/missing"])
def test_a_bad_answer_falls_back_to_the_offline_parser(settings, fake_llm, path):
    body = read(settings, f"{fake_llm}{path}", "a comedy from the 90s")
    assert body["parser"] == "offline"
    assert body["genres"] == ["Comedy"] and body["year_from"] == 1990


def test_a_server_slower_than_the_deadline_falls_back(settings, fake_llm):
    body = read(settings, f"{fake_llm}/hang", "a comedy from the 90s", timeout_s=2.0)
    assert body["parser"] == "offline" and body["genres"] == ["Comedy"]


def test_nothing_listening_falls_back(settings):
    port = free_port()  # a port that was free a moment ago, now closed
    body = read(settings, f"http://127.0.0.1:{port}/v1/chat/completions", "romance")
    assert body["parser"] == "offline" and body["genres"] == ["Romance"]


def test_recommend_uses_the_llm_reading(settings, fake_llm):
    with client_for(settings, f"{fake_llm}/valid") as client:
        user = client.post("/users").json()
        response = client.get("/recommend", params={"user_id": user["user_id"], "q": "light",
                                                     "n": 4},
                              headers={"Authorization": f"Bearer {user['token']}"})
    body = response.json()
    assert body["intent"]["parser"] == "llm"
    assert all(r["genres"] == ["Comedy"] and 1990 <= r["year"] <= 1999
               for r in body["recommendations"])


def test_without_url_and_key_the_llm_is_never_called(settings, fake_llm):
    FakeLlm.seen.clear()
    half = Settings(**{**settings.model_dump(), "llm_url": f"{fake_llm}/valid"})
    with TestClient(create_app(half)) as client:
        assert client.get("/intent", params={"q": "comedy"}).json()["parser"] == "offline"
    assert FakeLlm.seen == []


# --- bounded upstream calls: cache, per-address limit, budget a minute ---------------------------


def bounded_client(settings: Settings, url: str, **bounds: float) -> TestClient:
    configured = Settings(**{**settings.model_dump(), "llm_url": url, "llm_key": KEY, **bounds})
    return TestClient(create_app(configured))


def test_identical_requests_make_one_upstream_call(settings, fake_llm):
    FakeLlm.seen.clear()
    variants = ["a comedy from the 90s", "A Comedy from the 90s", "  a comedy   from the 90s "]
    with bounded_client(settings, f"{fake_llm}/valid") as client:
        bodies = [
            client.get("/intent", params={"q": variants[i % 3]}).json() for i in range(30)
        ]
    assert len(FakeLlm.seen) == 1
    assert {b["parser"] for b in bodies} == {"llm"} and {b["note"] for b in bodies} == {None}


def test_one_address_gets_its_share_then_the_offline_parser_says_so(settings, fake_llm):
    FakeLlm.seen.clear()
    with bounded_client(settings, f"{fake_llm}/valid", llm_limit_per_minute=3) as client:
        bodies = [client.get("/intent", params={"q": f"comedy number {i}"}).json()
                  for i in range(10)]
        other = TestClient(client.app, client=("203.0.113.5", 40000))
        elsewhere = other.get("/intent", params={"q": "comedy from elsewhere"}).json()
    assert len(FakeLlm.seen) == 4  # 3 for the first address, 1 for the other
    assert [b["parser"] for b in bodies] == ["llm"] * 3 + ["offline"] * 7
    assert all("too often" in b["note"] for b in bodies[3:])
    assert elsewhere["parser"] == "llm"


def test_past_the_budget_a_minute_the_offline_parser_answers_and_says_so(settings, fake_llm):
    FakeLlm.seen.clear()
    with bounded_client(settings, f"{fake_llm}/valid", llm_limit_per_minute=0,
                        llm_budget_per_minute=5) as client:
        bodies = []
        for i in range(12):  # from twelve addresses: only the budget can stop them
            who = TestClient(client.app, client=(f"192.0.2.{i + 1}", 40000))
            bodies.append(who.get("/intent", params={"q": f"romance number {i}"}).json())
        recommend_user = client.post("/users").json()
        listed = client.get(
            "/recommend", params={"user_id": recommend_user["user_id"], "q": "one more"},
            headers={"Authorization": f"Bearer {recommend_user['token']}"},
        ).json()
    assert len(FakeLlm.seen) == 5
    assert [b["parser"] for b in bodies] == ["llm"] * 5 + ["offline"] * 7
    assert all("budget" in b["note"] for b in bodies[5:])
    assert listed["intent"]["parser"] == "offline" and "budget" in listed["intent"]["note"]


def test_an_infinite_budget_is_no_budget():
    """CINEMATCH_LLM_BUDGET_PER_MINUTE=inf passes the settings' check (≥ 0): it means no
    limit, and must neither refuse nor fail."""
    from api.intent_llm import LlmBounds

    bounds = LlmBounds(0, 0, float("inf"))
    assert all(bounds.refusal(f"192.0.2.{i}") is None for i in range(1000))
    assert Settings(CINEMATCH_LLM_BUDGET_PER_MINUTE="inf").llm_budget_per_minute == float("inf")
