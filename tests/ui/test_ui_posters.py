"""Posters: the real client against a fake TMDB on loopback, the file cache, the fallback art."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree

import pytest

from tests.ui.http_stub import http_server, send_json
from ui import posters
from ui.api_client import Movie
from ui.posters import PosterCache, PosterClient, TmdbSettings


def film(movie_id: int, title: str, year: int | None, genres: tuple[str, ...],
         tmdb_id: int | None) -> Movie:
    """A catalogue film as the API answers with it (its poster needs only these fields)."""
    return Movie(movie_id=movie_id, title=title, year=year, genres=list(genres),
                 tmdb_id=tmdb_id, imdb_id=None, rating_count=0, mean_rating=None)


FIGHT_CLUB = film(2959, "Fight Club", 1999, ("Drama",), 550)
POSTER_PATH = "/pB8BM7pdSp6B6Ih7QZ4DrQ3PmJK.jpg"
IMAGE = f"https://image.tmdb.org/t/p/w342{POSTER_PATH}"


def _client(base: str, cache_file: Path, **overrides: object) -> PosterClient:
    settings = TmdbSettings(api_key="k3y", api_base=base, **overrides)  # type: ignore[arg-type]
    return PosterClient(settings, PosterCache(cache_file))


def _tmdb(reply: Callable[[BaseHTTPRequestHandler], tuple[int, object, dict[str, str]]]):
    def handler(request: BaseHTTPRequestHandler) -> None:
        status, payload, headers = reply(request)
        send_json(request, status, payload, headers)

    return handler


def _found(request: BaseHTTPRequestHandler) -> tuple[int, object, dict[str, str]]:
    return 200, {"id": 550, "poster_path": "/pB8BM7pdSp6B6Ih7QZ4DrQ3PmJK.jpg"}, {}


def _is_fallback(source: str) -> bool:
    return source.startswith("data:image/svg+xml;base64,")


def test_found_poster_becomes_a_w342_image_url(tmp_path: Path) -> None:
    with http_server(_tmdb(_found)) as (base, seen):
        sources = _client(base, tmp_path / "p.json").poster_sources([FIGHT_CLUB])
    assert sources == {2959: IMAGE}
    assert urlsplit(seen[0].path).path == "/movie/550"  # by tmdb id, never a title search


@pytest.mark.parametrize(
    "reply",
    [
        lambda r: (404, {"status_message": "The resource you requested could not be found."}, {}),
        lambda r: (200, {"id": 550, "poster_path": None}, {}),
        lambda r: (500, {"status_message": "Internal error"}, {}),
    ],
    ids=["404", "no-poster-path", "500"],
)
def test_missing_or_failed_lookups_fall_back_to_generated_art(
    tmp_path: Path, reply: Callable[[BaseHTTPRequestHandler], tuple[int, object, dict[str, str]]]
) -> None:
    with http_server(_tmdb(reply)) as (base, seen):
        sources = _client(base, tmp_path / "p.json").poster_sources([FIGHT_CLUB])
    assert len(seen) == 1
    assert _is_fallback(sources[2959])


def test_429_waits_for_retry_after_then_succeeds(tmp_path: Path) -> None:
    answers = iter([(429, {"status_message": "slow down"}, {"Retry-After": "1"})])

    def reply(request: BaseHTTPRequestHandler) -> tuple[int, object, dict[str, str]]:
        return next(answers, None) or _found(request)

    waits: list[float] = []
    with http_server(_tmdb(reply)) as (base, seen):
        client = PosterClient(
            TmdbSettings(api_key="k", api_base=base),
            PosterCache(tmp_path / "p.json"),
            sleep=waits.append,
        )
        path = client.poster_paths([550])[550]
    assert path == POSTER_PATH
    assert waits == [1.0]
    assert len(seen) == 2


def test_429_retries_are_bounded_and_a_long_retry_after_is_not_slept(tmp_path: Path) -> None:
    def always_429(request: BaseHTTPRequestHandler) -> tuple[int, object, dict[str, str]]:
        return 429, {}, {"Retry-After": "1"}

    waits: list[float] = []
    with http_server(_tmdb(always_429)) as (base, seen):
        client = PosterClient(
            TmdbSettings(api_key="k", api_base=base, max_retries=2),
            PosterCache(tmp_path / "p.json"),
            sleep=waits.append,
        )
        assert client.poster_paths([550])[550] is None
    assert len(seen) == 3 and waits == [1.0, 1.0]

    def ask_for_an_hour(request: BaseHTTPRequestHandler) -> tuple[int, object, dict[str, str]]:
        return 429, {}, {"Retry-After": "3600"}

    waits.clear()
    with http_server(_tmdb(ask_for_an_hour)) as (base, seen):
        client = PosterClient(
            TmdbSettings(api_key="k", api_base=base),
            PosterCache(tmp_path / "q.json"),
            sleep=waits.append,
        )
        assert _is_fallback(client.poster_sources([FIGHT_CLUB])[2959])
        # TMDB asked for an hour: the next film does not knock again.
        other = film(1, "Toy Story", 1995, ("Animation",), 862)
        assert _is_fallback(client.poster_sources([other])[1])
    assert waits == [] and len(seen) == 1


def test_hanging_tmdb_costs_one_timeout_for_the_whole_grid(tmp_path: Path) -> None:
    release = threading.Event()
    with http_server(lambda request: release.wait(5) and None) as (base, seen):
        client = PosterClient(
            TmdbSettings(api_key="k", api_base=base, timeout=0.3),
            PosterCache(tmp_path / "p.json"),
            max_workers=1,
        )
        films = [film(i, f"Film {i}", 2000, ("Drama",), 100 + i) for i in range(4)]
        started = time.monotonic()
        sources = client.poster_sources(films)
        elapsed = time.monotonic() - started
        release.set()
    assert all(_is_fallback(src) for src in sources.values())
    # One worker, four films: the first timeout pauses TMDB, so the other three are not tried
    # (without the pause this would take 4 × 0.3 s).
    assert len(seen) == 1
    assert elapsed < 1.0


def test_a_failure_is_cached_briefly_then_retried(tmp_path: Path) -> None:
    now = [1_000_000.0]
    replies = iter([(500, {}, {}), (500, {}, {})])

    def reply(request: BaseHTTPRequestHandler) -> tuple[int, object, dict[str, str]]:
        return next(replies, None) or _found(request)

    with http_server(_tmdb(reply)) as (base, seen):
        cache = PosterCache(tmp_path / "p.json", clock=lambda: now[0])
        monotonic = [0.0]
        client = PosterClient(
            TmdbSettings(api_key="k", api_base=base), cache, clock=lambda: monotonic[0]
        )
        assert client.poster_paths([550])[550] is None
        assert client.poster_paths([550])[550] is None  # cached: no second request
        assert len(seen) == 1
        now[0] += posters.CACHE_TTL_SECONDS["error"] + 1
        monotonic[0] += posters.OUTAGE_PAUSE_SECONDS + 1
        assert client.poster_paths([550])[550] is None  # expired: asked again (still failing)
        now[0] += posters.CACHE_TTL_SECONDS["error"] + 1
        monotonic[0] += posters.OUTAGE_PAUSE_SECONDS + 1
        assert client.poster_paths([550])[550] == POSTER_PATH
    assert len(seen) == 3


def test_cache_survives_a_new_client_instance(tmp_path: Path) -> None:
    cache_file = tmp_path / "nested" / "posters.json"
    with http_server(_tmdb(_found)) as (base, seen):
        assert _client(base, cache_file).poster_paths([550])[550] == POSTER_PATH
        assert cache_file.exists()
        assert _client(base, cache_file).poster_paths([550])[550] == POSTER_PATH
    assert len(seen) == 1


def test_api_key_goes_in_the_query_and_read_token_in_a_bearer_header(tmp_path: Path) -> None:
    with http_server(_tmdb(_found)) as (base, seen):
        PosterClient(
            TmdbSettings(api_key="v3-key", api_base=base), PosterCache(tmp_path / "a.json")
        ).poster_paths([550])
        PosterClient(
            TmdbSettings(read_token="v4-token", api_base=base), PosterCache(tmp_path / "b.json")
        ).poster_paths([550])
    key_request, token_request = seen
    assert parse_qs(urlsplit(key_request.path).query) == {"api_key": ["v3-key"]}
    assert key_request.headers.get("Authorization") is None
    assert token_request.headers["Authorization"] == "Bearer v4-token"
    assert "api_key" not in urlsplit(token_request.path).query


def test_without_a_key_no_request_is_ever_made(tmp_path: Path) -> None:
    with http_server(_tmdb(_found)) as (base, seen):
        client = PosterClient(TmdbSettings(api_base=base), PosterCache(tmp_path / "p.json"))
        sources = client.poster_sources([FIGHT_CLUB])
    assert seen == []
    assert _is_fallback(sources[2959])


def test_a_grid_is_fetched_concurrently_with_a_bounded_pool(tmp_path: Path) -> None:
    lock = threading.Lock()
    in_flight = [0]
    peak = [0]

    def slow(request: BaseHTTPRequestHandler) -> tuple[int, object, dict[str, str]]:
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.15)
        with lock:
            in_flight[0] -= 1
        return _found(request)

    films = [film(i, f"Film {i}", 2000, ("Drama",), 100 + i) for i in range(8)]
    with http_server(_tmdb(slow)) as (base, seen):
        client = PosterClient(
            TmdbSettings(api_key="k", api_base=base),
            PosterCache(tmp_path / "p.json"),
            max_workers=3,
        )
        sources = client.poster_sources(films)
    assert len(seen) == 8 and all(src == IMAGE for src in sources.values())
    assert peak[0] == 3  # in parallel, and never more than the pool allows


def test_a_film_without_tmdb_id_gets_art_without_a_lookup(tmp_path: Path) -> None:
    crouching_tiger = film(3996, "Crouching Tiger, Hidden Dragon", 2000, ("Action",), None)
    with http_server(_tmdb(_found)) as (base, seen):
        sources = _client(base, tmp_path / "p.json").poster_sources([crouching_tiger])
    assert seen == [] and _is_fallback(sources[3996])


def _svg(source: str) -> ElementTree.Element:
    return ElementTree.fromstring(base64.b64decode(source.split(",", 1)[1]))


def test_fallback_art_is_valid_svg_with_title_year_and_genre_colours() -> None:
    art = posters.fallback_poster("Tom & Jerry <The Movie>", 1992, ("Animation", "Comedy"))
    root = _svg(art)
    title_lines = [el.text for el in root.iter("{http://www.w3.org/2000/svg}tspan")]
    assert " ".join(title_lines) == "Tom & Jerry <The Movie>"  # escaped, so it parses
    assert "1992" in "".join(root.itertext())
    stops = [el.get("stop-color") for el in root.iter("{http://www.w3.org/2000/svg}stop")]
    assert posters.GENRE_GRADIENTS["Animation"][0] in stops
    horror = _svg(posters.fallback_poster("Halloween", 1978, ("Horror",)))
    horror_stops = [el.get("stop-color") for el in horror.iter("{http://www.w3.org/2000/svg}stop")]
    assert horror_stops != stops


def test_long_titles_wrap_and_end_with_an_ellipsis() -> None:
    lines = posters.wrap_title(
        "Dr. Strangelove or: How I Learned to Stop Worrying and Love the Bomb", 16
    )
    assert len(lines) == 4
    assert all(len(line) <= 16 for line in lines)
    assert lines[-1].endswith("…")


def test_settings_and_cache_location_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TMDB_READ_TOKEN", "tok")
    monkeypatch.setenv("TMDB_API_BASE", "http://127.0.0.1:9/3")
    monkeypatch.setenv("CINEMATCH_CACHE_DIR", str(tmp_path / "c"))
    settings = posters.tmdb_settings()
    assert settings.read_token == "tok" and settings.api_key is None
    assert settings.api_base == "http://127.0.0.1:9/3"
    assert posters.cache_path() == tmp_path / "c" / "posters.json"


def test_a_corrupt_cache_file_is_ignored(tmp_path: Path) -> None:
    cache_file = tmp_path / "posters.json"
    cache_file.write_text("{not json", encoding="utf-8")
    cache = PosterCache(cache_file)
    assert cache.get(550) is None
    cache.put(550, "found", "/x.jpg")
    cache.flush()
    assert PosterCache(cache_file).get(550) is not None
