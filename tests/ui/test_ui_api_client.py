"""ApiClient: every failure becomes a clear ApiError, and requests match the contract."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler

import pytest
import requests
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import Settings
from bench.harness.api_server import free_port
from ml import rules
from tests.ui.http_stub import http_server, send_json
from tests.ui.real_api import REAL_BASE_URL, RealApi, RealApiAdapter, real_client
from ui import api_client
from ui.api_client import ApiClient, ApiError, Credentials


def _closed_port() -> int:
    """A loopback port with nothing listening (bound, read, released)."""
    return free_port()


def test_connection_refused_is_a_clear_unavailable_error() -> None:
    base = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(ApiError) as caught:
        ApiClient(base).genres()
    assert caught.value.kind == "unavailable"
    assert "Can't reach the CineMatch service" in caught.value.message
    assert base in caught.value.message


def test_slow_service_times_out_quickly_with_a_clear_message() -> None:
    release = threading.Event()

    def hang(request: BaseHTTPRequestHandler) -> None:
        release.wait(5)

    with http_server(hang) as (base, _):
        client = ApiClient(base, timeout=(1.0, 0.3))
        started = time.monotonic()
        with pytest.raises(ApiError) as caught:
            client.genres()
        elapsed = time.monotonic() - started
        release.set()
    assert elapsed < 2.0
    assert caught.value.kind == "unavailable"
    assert "taking too long" in caught.value.message


@pytest.mark.parametrize(
    ("status", "payload", "kind", "expected"),
    [
        (
            404,
            {"detail": "Unknown movie ids: [999999]"},
            "not_found",
            "Unknown movie ids: [999999]",
        ),
        (
            422,
            {
                "detail": [
                    {
                        "loc": ["body", "ratings", 0, "rating"],
                        "msg": "Input should be a multiple of 0.5",
                    }
                ]
            },
            "invalid",
            "Input should be a multiple of 0.5",
        ),
        (
            401,
            {"detail": "Missing or malformed bearer token"},
            "auth",
            "Missing or malformed bearer token",
        ),
        (403, {"detail": "This token belongs to another user"}, "auth", "another user"),
        (503, {"detail": "database unreachable"}, "unavailable", "database unreachable"),
        (500, {"detail": "Internal Server Error"}, "server", "(500)"),
    ],
)
def test_error_statuses_surface_the_detail(
    status: int, payload: dict[str, object], kind: str, expected: str
) -> None:
    server = http_server(lambda request: send_json(request, status, payload))
    with server as (base, _), pytest.raises(ApiError) as caught:
        ApiClient(base).rate(Credentials(1, "tok"), {999999: 4.0})
    assert caught.value.kind == kind
    assert caught.value.status == status
    assert expected in caught.value.message


def test_unknown_user_on_a_user_endpoint_means_the_session_is_gone() -> None:
    reply = {"detail": "Unknown user 7"}
    server = http_server(lambda request: send_json(request, 404, reply))
    with server as (base, _), pytest.raises(ApiError) as caught:
        ApiClient(base).user_stats(Credentials(7, "tok"))
    assert caught.value.kind == "auth"


def test_a_body_that_is_not_the_contract_becomes_an_api_error() -> None:
    def html(request: BaseHTTPRequestHandler) -> None:
        request.send_response(200)
        request.send_header("Content-Type", "text/html")
        request.end_headers()
        request.wfile.write(b"<html>proxy login</html>")

    with http_server(html) as (base, _), pytest.raises(ApiError) as caught:
        ApiClient(base).genres()
    assert caught.value.kind == "server"

    server = http_server(lambda request: send_json(request, 200, {"oops": []}))
    with server as (base, _), pytest.raises(ApiError, match="does not understand"):
        ApiClient(base).genres()


def test_token_is_sent_as_bearer_and_ratings_as_numbers() -> None:
    reply = {
        "user_id": 3,
        "saved": 1,
        "total_user_ratings": 1,
        "ratings_needed": 4,
        "recommendation_mode": "popularity",
    }
    bodies: list[bytes] = []

    def rate(request: BaseHTTPRequestHandler) -> None:
        bodies.append(request.rfile.read(int(request.headers["Content-Length"])))
        send_json(request, 200, reply)

    with http_server(rate) as (base, seen):
        progress = ApiClient(base).rate(Credentials(3, "s3cret"), {2571: 4.5})
    assert seen[0].headers["Authorization"] == "Bearer s3cret"
    assert seen[0].path == "/rate"
    assert bodies[0] == b'{"user_id": 3, "ratings": [{"movie_id": 2571, "rating": 4.5}]}'
    assert progress.total_user_ratings == 1
    assert progress.ratings_needed == 4


def test_onboarding_repeats_exclude_as_the_contract_asks(api: RealApi) -> None:
    user_id, token = api.add_user()
    films = api.ui_client().onboarding_for_user(Credentials(user_id, token), n=3, exclude=[2, 1])
    params = api.calls_to(f"/users/{user_id}/onboarding")[-1]
    assert params["exclude"] == ["1", "2"]
    assert params["n"] == ["3"]
    answer = api.get(f"/users/{user_id}/onboarding?n=3&exclude=1&exclude=2", user_id)["movies"]
    assert [film.movie_id for film in films] == [row["movie_id"] for row in answer]
    assert len(films) == 3 and {1, 2}.isdisjoint(film.movie_id for film in films)


def test_the_models_genres_and_metrics_are_asked_for_once_a_while(api: RealApi) -> None:
    """Pages ask on every rerun; the model's facts only change when the API restarts."""
    client = api.ui_client()
    assert client.genres() == client.genres()
    assert client.metrics() == client.metrics()
    assert len(api.calls_to("/genres")) == 1 and len(api.calls_to("/model/evaluation")) == 1


def test_reruns_on_new_threads_reuse_one_http_session(api: RealApi) -> None:
    """Streamlit runs each rerun on a new thread; its requests must not each open a session
    (a new connection, over HTTPS a new handshake)."""
    created = []

    def session_factory() -> requests.Session:
        http = requests.Session()
        http.mount(REAL_BASE_URL, RealApiAdapter(api))
        created.append(http)
        return http

    client = ApiClient(REAL_BASE_URL, session_factory=session_factory)
    for _ in range(3):  # three reruns, one after another
        rerun = threading.Thread(target=lambda: client.search_movies("matrix"))
        rerun.start()
        rerun.join()
    assert len(api.calls_to("/movies")) == 3 and len(created) == 1


def test_every_endpoint_parses_the_contracts_json(
    api: RealApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rules, "PERSONALISATION_THRESHOLD", 2)
    client = api.ui_client()
    creds = client.create_user()
    assert isinstance(creds.token, str)
    client.rate(creds, {1: 5.0})
    progress = client.rate(creds, {2: 3.5})
    assert (progress.total_user_ratings, progress.ratings_needed) == (2, 0)
    assert progress.recommendation_mode == "personalized"

    recs = client.recommend(creds, n=5, genre="Action", year_from=1980, year_to=1989)
    assert recs.source == "personalized"
    assert recs.recommendations
    assert all("Action" in rec.genres for rec in recs.recommendations)
    assert all(1980 <= (rec.year or 0) <= 1989 for rec in recs.recommendations)
    assert {1, 2}.isdisjoint(rec.movie_id for rec in recs.recommendations)

    history = client.user_ratings(creds)
    assert [row.movie_id for row in history] == [2, 1]  # newest first
    stats = client.user_stats(creds)
    assert stats.total_ratings == 2
    assert stats.average_rating == pytest.approx(4.25)
    assert len(stats.rating_histogram) == 10
    assert stats.top_genres[0].genre == "Action"

    found = client.search_movies("film 4", limit=2)
    assert found.total == 3 and len(found.items) == 2
    assert all(film.tmdb_id == 1000 + film.movie_id for film in found.items)
    similar = client.similar_for_user(creds, 1, n=3)
    assert len(similar) == 3 and all(-1 <= s.similarity <= 1 for s in similar)
    assert "Comedy" in client.genres()
    assert client.decades() == [1990, 1980]
    metrics = client.metrics()
    assert metrics.rating[0]["rmse"] > 0 and metrics.top_n

    after = client.delete_rating(creds, 2)
    assert (after.total_user_ratings, after.ratings_needed) == (1, 1)
    with pytest.raises(ApiError) as caught:
        client.delete_rating(creds, 2)
    assert caught.value.kind == "not_found"



def test_user_ratings_follows_the_pages_to_the_end(api: RealApi, monkeypatch) -> None:
    """The API pages ``GET /users/{id}/ratings``; the client asks until it has them all."""
    client = api.ui_client()
    films = [1, 2, 101, 102, 201]
    user_id, token = api.add_user({m: 3.0 for m in films})
    monkeypatch.setattr(api_client, "RATINGS_PAGE", 2)
    rows = client.user_ratings(api_client.Credentials(user_id, token))
    assert sorted(r.movie_id for r in rows) == sorted(films)
    assert len(api.calls_to(f"/users/{user_id}/ratings")) == 3


# -- the browser's address ----------------------------------------------------------------------


def _ui_of_api(tiny_model_dir, tmp_path, *, trusted: tuple[str, ...]):
    """The real API in memory (its TestClient connects as "testclient", the UI server's
    address here), allowing 2 sign-ups per address, and a UI client for a browser whose
    address the test sets in ``browser[0]``."""
    settings = Settings(
        model_dir=tiny_model_dir,
        database_url=f"sqlite:///{tmp_path / 'ui-addresses.db'}",
        create_db=True,
        signup_limit_burst=2,
        trusted_proxies=trusted,
    )
    browser: list[str | None] = [None]
    return TestClient(create_app(settings)), browser


def _sign_ups(ui: ApiClient, n: int) -> list[int]:
    statuses = []
    for _ in range(n):
        try:
            ui.create_user()
            statuses.append(201)
        except ApiError as error:
            statuses.append(error.status or 0)
    return statuses


def test_each_browser_has_its_own_sign_up_bucket_when_the_api_trusts_the_ui(
    tiny_model_dir, tmp_path
):
    api, browser = _ui_of_api(tiny_model_dir, tmp_path, trusted=("testclient",))
    with api:
        ui = real_client(api, client_address=lambda: browser[0])
        browser[0] = "198.51.100.1"
        assert _sign_ups(ui, 3) == [201, 201, 429]
        browser[0] = "198.51.100.2"  # another visitor of the same UI
        assert _sign_ups(ui, 3) == [201, 201, 429]


def test_an_untrusted_senders_forwarded_address_is_ignored(tiny_model_dir, tmp_path):
    api, browser = _ui_of_api(tiny_model_dir, tmp_path, trusted=())
    with api:
        ui = real_client(api, client_address=lambda: browser[0])
        browser[0] = "198.51.100.1"
        assert _sign_ups(ui, 2) == [201, 201]
        browser[0] = "198.51.100.2"  # counted as the UI server's address: the same bucket
        assert _sign_ups(ui, 1) == [429]


def test_the_ui_names_the_browser_in_x_forwarded_for_and_nothing_without_one(api: RealApi):
    seen: list[str | None] = []

    class Recorder(RealApiAdapter):
        def send(self, request, **kwargs):
            seen.append(request.headers.get("X-Forwarded-For"))
            return super().send(request, **kwargs)

    def session_factory() -> requests.Session:
        http = requests.Session()
        http.mount(REAL_BASE_URL, Recorder(api))
        return http

    for address in ("203.0.113.7", None):
        ApiClient(
            REAL_BASE_URL, session_factory=session_factory, client_address=lambda a=address: a
        ).health()
    assert seen == ["203.0.113.7", None]


class IdleClosingServer:
    """A keep-alive HTTP server that answers the first request on each connection and
    closes the connection, unanswered, when a second one arrives on it: what a client meets
    when the server's idle timeout fires just as a pooled connection is reused."""

    #: One answer that reads as /health, POST /users and PUT /users/1/hidden/5 alike.
    BODY = (b'{"status": "ok", "model_version": "m1", "n_movies": 1, "n_users": 1, '
            b'"n_ratings": 1, "database": "ok", "user_id": 1, "token": "t", "movie_id": 5, '
            b'"list": "hidden", "on_list": true, "changed": true}')

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.requests: list[str] = []
        self.dropped = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._connection, args=(conn,), daemon=True).start()

    def _connection(self, conn: socket.socket) -> None:
        with conn:
            for answered in (False, True):
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                self.requests.append(data.split(b" ", 1)[0].decode())
                if answered:
                    self.dropped += 1
                    return  # closed without an answer
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Connection: keep-alive\r\nContent-Length: "
                    + str(len(self.BODY)).encode() + b"\r\n\r\n" + self.BODY
                )

    def close(self) -> None:
        self.listener.close()


def test_a_stale_kept_alive_connection_is_retried_once_for_idempotent_requests() -> None:
    server = IdleClosingServer()
    try:
        client = ApiClient(server.url, client_address=lambda: None)
        for _ in range(3):  # each call after the first meets a connection closed under it
            assert client.health().model_version == "m1"
        assert server.dropped == 2 and server.requests == ["GET"] * 5
        assert client.set_signal(Credentials(1, "t"), "hidden", 5, on=True) is True
    finally:
        server.close()


def test_a_request_that_is_not_idempotent_is_never_sent_twice() -> None:
    server = IdleClosingServer()
    try:
        client = ApiClient(server.url, client_address=lambda: None)
        client.health()
        with pytest.raises(ApiError) as caught:
            client.create_user()  # POST on the stale connection: it may have been acted on
        assert caught.value.kind == "unavailable"
        assert server.requests == ["GET", "POST"]
    finally:
        server.close()
