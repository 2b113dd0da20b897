"""The real API (``api.main.create_app``) behind the UI's own client, for AppTest pages.

The UI's :class:`ui.api_client.ApiClient` sends real HTTP requests; a ``requests`` transport
hands each one to a Starlette ``TestClient`` of the real app on a small trained model, so the
pages are tested against the API's actual answers. :class:`RealApi` also records the requests
the UI made and can play "the service is down", and reads the user's state back over HTTP.

The UI model is the planted tiny model (tests/synthetic.py: Action 1–20, Romance 101–120,
Comedy 201–220, years 1980–1999) with a few films renamed so that the catalogue has what the
pages show: an alternative title, a film of several genres, and a title to misspell.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from fastapi.testclient import TestClient
from requests.adapters import BaseAdapter

from api.main import create_app
from api.settings import Settings
from ml.serving.artifacts import save_artifact
from ml.training.pipeline import fit_artifact
from tests.synthetic import TINY_PARAMS, TINY_WEIGHTS, planted_movies, planted_ratings
from ui.api_client import ApiClient

REAL_BASE_URL = "http://cinematch.test"

#: Films of the UI model that differ from the planted catalogue.
CROUCHING_TIGER = 7  # "Crouching Tiger, Hidden Dragon (Wo hu cang long)": Action, Drama, Romance
GODFATHER = 208  # "Godfather, The", 1987: Comedy and four more genres
RENAMED = {
    CROUCHING_TIGER: ("Crouching Tiger, Hidden Dragon (Wo hu cang long)",
                      ("Action", "Drama", "Romance")),
    GODFATHER: ("Godfather, The", ("Comedy", "Crime", "Drama", "Romance", "War")),
}


def write_ui_model(directory: Path) -> Path:
    """Train the planted model on the UI catalogue and save it as a model directory."""
    movies = planted_movies()
    for movie_id, (title, genres) in RENAMED.items():
        row = movies.index[movies["movie_id"] == movie_id][0]
        movies.at[row, "title"] = title
        movies.at[row, "genres"] = genres
    fitted = fit_artifact(planted_ratings(), movies, TINY_PARAMS, progress=False,
                          ranking_weights=TINY_WEIGHTS)
    fitted.artifact.manifest["metrics"] = {
        "rating": [{"model": "global_mean", "rmse": 0.95, "mae": 0.8},
                   {"model": "funksvd", "rmse": 0.5, "mae": 0.67}],
        "top_n": [{"model": "popularity", "recall_at_10": 0.1, "ndcg_at_10": 0.1,
                   "coverage": 0.2, "n_users": 10},
                  {"model": "funksvd", "recall_at_10": 0.3, "ndcg_at_10": 0.2,
                   "coverage": 0.5, "n_users": 10}],
    }
    fitted.artifact.manifest["trained_at"] = "2026-11-01T09:00:00+00:00"
    return save_artifact(directory, fitted.artifact)


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    query: dict[str, list[str]]


@dataclass
class RealApi:
    """The app behind ``client``, what the UI asked of it, and the users the test made."""

    client: TestClient
    calls: list[Call] = field(default_factory=list)
    #: While True every request gets the 503 a proxy answers for a stopped API.
    down: bool = False
    tokens: dict[int, str] = field(default_factory=dict)

    def ui_client(self, client_address: Callable[[], str | None] = lambda: None) -> ApiClient:
        """The UI's :class:`ApiClient`, talking to this app (for the browser at
        ``client_address()``: none by default)."""

        def session_factory() -> requests.Session:
            http = requests.Session()
            http.mount(REAL_BASE_URL, RealApiAdapter(self))
            return http

        return ApiClient(
            REAL_BASE_URL, session_factory=session_factory, client_address=client_address
        )

    def calls_to(self, path: str) -> list[dict[str, list[str]]]:
        """The query parameters of each request the UI made to ``path``, oldest first."""
        return [call.query for call in self.calls if call.path == path]

    def add_user(self, ratings: dict[int, float] | None = None) -> tuple[int, str]:
        """A new user (``POST /users``) who rated ``ratings``: (user_id, token)."""
        user = self.client.post("/users").json()
        user_id, token = user["user_id"], user["token"]
        self.tokens[user_id] = token
        if ratings:
            body = {"user_id": user_id,
                    "ratings": [{"movie_id": m, "rating": r} for m, r in ratings.items()]}
            answer = self.client.post("/rate", json=body, headers=self.auth(user_id))
            assert answer.status_code == 200, answer.text
        return user_id, token

    def auth(self, user_id: int, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.tokens[user_id]}"}

    def get(self, path: str, user_id: int, token: str | None = None) -> Any:
        answer = self.client.get(path, headers=self.auth(user_id, token))
        assert answer.status_code == 200, answer.text
        return answer.json()

    def ratings_of(self, user_id: int, token: str | None = None) -> dict[int, float]:
        body = self.get(f"/users/{user_id}/ratings?limit=500", user_id, token)
        return {row["movie_id"]: row["rating"] for row in body["ratings"]}

    def on_list(self, user_id: int, kind: str) -> list[int]:
        """The films on the user's ``kind`` list, most recently added first."""
        return [row["movie_id"] for row in self.get(f"/users/{user_id}/{kind}", user_id)["movies"]]

    def movie(self, movie_id: int) -> dict[str, Any]:
        return dict(self.client.get(f"/movies/{movie_id}").json())


class RealApiAdapter(BaseAdapter):
    """A ``requests`` transport answering from the app of ``api``."""

    def __init__(self, api: RealApi) -> None:
        super().__init__()
        self.api = api

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        url = (request.url or "").removeprefix(REAL_BASE_URL)
        split = urlsplit(url)
        self.api.calls.append(Call(request.method or "GET", split.path, parse_qs(split.query)))
        response = requests.Response()
        if self.api.down:  # what the proxy in front of a stopped API answers
            response.status_code = 503
            response._content = b'{"detail": "the API is not running"}'
            response.headers["Content-Type"] = "application/json"
        else:
            answer = self.api.client.request(request.method or "GET", url,
                                             content=request.body, headers=dict(request.headers))
            response.status_code = answer.status_code
            response._content = answer.content
            response.headers.update(answer.headers)
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        """Nothing to release: the TestClient belongs to the fixture."""


@contextmanager
def serve(model_dir: Path, database: Path, **settings: Any) -> Iterator[RealApi]:
    """The real app on ``model_dir`` and a fresh SQLite file, for as long as the block runs."""
    config = Settings(model_dir=model_dir, database_url=f"sqlite:///{database}",
                      create_db=True, **settings)
    with TestClient(create_app(config)) as client:
        yield RealApi(client)


def real_client(
    client: TestClient, client_address: Callable[[], str | None] = lambda: None
) -> ApiClient:
    """The UI's :class:`ApiClient`, talking to the app behind ``client``."""
    return RealApi(client).ui_client(client_address)
