"""The real API (``api.main.create_app``) as a ``requests`` transport, for AppTest pages.

The UI's own :class:`ui.api_client.ApiClient` sends real HTTP requests; this adapter hands
each one to a Starlette ``TestClient`` of the real app on the tiny planted model, so the
pages are tested against the API's actual answers instead of a hand-written fake.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests
from fastapi.testclient import TestClient
from requests.adapters import BaseAdapter

from ui.api_client import ApiClient

REAL_BASE_URL = "http://cinematch.test"


class RealApiAdapter(BaseAdapter):
    """A ``requests`` transport answering from the app behind ``client``."""

    def __init__(self, client: TestClient) -> None:
        super().__init__()
        self.client = client

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        url = (request.url or "").removeprefix(REAL_BASE_URL)
        answer = self.client.request(request.method or "GET", url, content=request.body,
                                     headers=dict(request.headers))
        response = requests.Response()
        response.status_code = answer.status_code
        response._content = answer.content
        response.headers.update(answer.headers)
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        """Nothing to release: the TestClient belongs to the fixture."""


def real_client(
    client: TestClient, client_address: Callable[[], str | None] = lambda: None
) -> ApiClient:
    """The UI's :class:`ApiClient`, talking to the real app in memory (for the browser at
    ``client_address()``: none by default)."""

    def session_factory() -> requests.Session:
        http = requests.Session()
        http.mount(REAL_BASE_URL, RealApiAdapter(client))
        return http

    return ApiClient(
        REAL_BASE_URL, session_factory=session_factory, client_address=client_address
    )
