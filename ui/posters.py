"""Film posters: TMDB by tmdb id (a title search finds the wrong poster for remakes), a
persistent cache, and locally drawn art as the fallback.

A grid asks for all its posters at once, on a small shared thread pool with a short timeout
that backs off on 429, into a JSON file cache kept across restarts. Without a key, network or
poster, the card gets an SVG drawn here as a data URI, so a dead TMDB costs one timeout.
"""

from __future__ import annotations

import base64
import email.utils
import json
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Literal

import requests
import streamlit as st

from ui.api_client import FilmLike
from ui.settings import DEFAULT_TMDB_API_BASE, read_setting

log = logging.getLogger(__name__)

IMAGE_BASE = "https://image.tmdb.org/t/p/w342"

LookupKind = Literal["found", "missing", "error"]

#: How long a cached answer is trusted. A found path rarely changes; a film without a poster
#: may get one; an error (TMDB down, 5xx, timeout) is retried soon.
CACHE_TTL_SECONDS: dict[LookupKind, float] = {
    "found": 30 * 24 * 3600.0,
    "missing": 24 * 3600.0,
    "error": 300.0,
}
#: After a timeout, refused connection or 5xx, skip TMDB this long so the rest of a grid
#: (and the next rerun) does not wait on it again.
OUTAGE_PAUSE_SECONDS = 30.0
#: A rejected key will not fix itself; pause longer and say so once in the log.
AUTH_FAILURE_PAUSE_SECONDS = 300.0


@dataclass(frozen=True)
class TmdbSettings:
    """How to reach TMDB. With neither credential the client never touches the network."""

    api_key: str | None = None
    read_token: str | None = None
    api_base: str = DEFAULT_TMDB_API_BASE
    timeout: float = 2.0
    max_retries: int = 2
    #: The longest ``Retry-After`` honoured by sleeping; a longer one means "give up now".
    max_retry_wait: float = 3.0

    @property
    def has_credentials(self) -> bool:
        return bool(self.api_key or self.read_token)


@dataclass(frozen=True)
class CacheEntry:
    kind: LookupKind
    poster_path: str | None
    checked_at: float


class PosterCache:
    """A thread-safe map tmdb_id → lookup result, persisted as one small JSON file.

    A flush merges with the file on disk and replaces it whole, so processes sharing it never
    read half a file nor erase each other's entries. Without a writable path it is in memory.
    """

    def __init__(self, path: Path | None, *, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[int, CacheEntry] = self._read_file()
        self._dirty = False

    def get(self, tmdb_id: int) -> CacheEntry | None:
        """The entry for ``tmdb_id`` if it is still fresh, else ``None``."""
        with self._lock:
            entry = self._entries.get(tmdb_id)
        if entry is None:
            return None
        if self._clock() - entry.checked_at > CACHE_TTL_SECONDS[entry.kind]:
            return None
        return entry

    def put(self, tmdb_id: int, kind: LookupKind, poster_path: str | None) -> None:
        with self._lock:
            self._entries[tmdb_id] = CacheEntry(kind, poster_path, self._clock())
            self._dirty = True

    def flush(self) -> None:
        """Write the cache to disk if anything changed since the last flush."""
        if self.path is None:
            return
        with self._lock:
            if not self._dirty:
                return
            merged = {**self._read_file(), **self._entries}
            self._entries = merged
            payload = {
                str(tmdb_id): {"kind": e.kind, "path": e.poster_path, "at": e.checked_at}
                for tmdb_id, e in merged.items()
            }
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp_name = tempfile.mkstemp(dir=self.path.parent, suffix=".tmp")
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    json.dump(payload, handle, separators=(",", ":"))
                os.replace(tmp_name, self.path)
                self._dirty = False
            except OSError as exc:
                log.warning(
                    "Poster cache %s is not writable (%s); keeping it in memory", self.path, exc
                )
                self.path = None

    def _read_file(self) -> dict[int, CacheEntry]:
        if self.path is None or not self.path.exists():
            return {}
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            return {
                int(key): CacheEntry(value["kind"], value.get("path"), float(value["at"]))
                for key, value in raw.items()
                if value.get("kind") in CACHE_TTL_SECONDS
            }
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("Ignoring unreadable poster cache %s (%s)", self.path, exc)
            return {}


class PosterClient:
    """Finds poster URLs by tmdb id; :meth:`poster_sources` is what the pages call."""

    def __init__(
        self,
        settings: TmdbSettings,
        cache: PosterCache,
        *,
        max_workers: int = 8,
        session_factory: Callable[[], requests.Session] = requests.Session,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.cache = cache
        self._session_factory = session_factory
        self._sleep = sleep
        self._clock = clock
        self._local = threading.local()
        # One bounded pool for every session keeps us well under TMDB's ~40 req/s.
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="tmdb")
        self._pause_lock = threading.Lock()
        self._paused_until = 0.0

    def poster_sources(self, films: Sequence[FilmLike]) -> dict[int, str]:
        """movie_id → an image URL, or a generated SVG data URI when there is no poster."""
        tmdb_ids = {film.tmdb_id for film in films if film.tmdb_id is not None}
        paths = self.poster_paths(tmdb_ids)
        sources: dict[int, str] = {}
        for film in films:
            path = paths.get(film.tmdb_id) if film.tmdb_id is not None else None
            sources[film.movie_id] = (
                image_url(path) if path else fallback_poster(film.title, film.year, film.genres)
            )
        return sources

    def poster_paths(self, tmdb_ids: Iterable[int]) -> dict[int, str | None]:
        """tmdb_id → ``poster_path`` (``None`` if unknown), fetching misses concurrently."""
        result: dict[int, str | None] = {}
        misses: list[int] = []
        for tmdb_id in tmdb_ids:
            entry = self.cache.get(tmdb_id)
            if entry is None:
                misses.append(tmdb_id)
            else:
                result[tmdb_id] = entry.poster_path
        if misses and self.settings.has_credentials:
            for tmdb_id, path in zip(misses, self._pool.map(self._lookup, misses), strict=True):
                result[tmdb_id] = path
            self.cache.flush()
        for tmdb_id in misses:
            result.setdefault(tmdb_id, None)
        return result

    def _lookup(self, tmdb_id: int) -> str | None:
        """Ask TMDB for one film, record the answer in the cache and return the path."""
        if self._paused():
            return None
        kind, path = self._fetch(tmdb_id)
        self.cache.put(tmdb_id, kind, path)
        return path

    def _fetch(self, tmdb_id: int) -> tuple[LookupKind, str | None]:
        settings = self.settings
        url = f"{settings.api_base.rstrip('/')}/movie/{int(tmdb_id)}"
        params: dict[str, str] = {}
        headers = {"Accept": "application/json"}
        if settings.read_token:
            headers["Authorization"] = f"Bearer {settings.read_token}"
        elif settings.api_key:
            params["api_key"] = settings.api_key
        retries = 0
        while True:
            try:
                response = self._session().get(
                    url, params=params, headers=headers, timeout=settings.timeout
                )
            except requests.RequestException as exc:
                log.info("TMDB unreachable for %s (%s); pausing lookups", tmdb_id, exc)
                self._pause(OUTAGE_PAUSE_SECONDS)
                return "error", None
            if response.status_code != 429:
                return self._interpret(tmdb_id, response)
            wait = retry_after_seconds(response.headers.get("Retry-After"))
            if retries >= settings.max_retries or wait > settings.max_retry_wait:
                # Out of patience: leave TMDB alone for as long as it asked.
                self._pause(wait)
                return "error", None
            retries += 1
            self._sleep(wait)

    def _interpret(
        self, tmdb_id: int, response: requests.Response
    ) -> tuple[LookupKind, str | None]:
        status = response.status_code
        if status == 404:
            return "missing", None
        if status in (401, 403):
            log.warning(
                "TMDB rejected the configured credentials (%s); using generated art", status
            )
            self._pause(AUTH_FAILURE_PAUSE_SECONDS)
            return "error", None
        if status != 200:
            log.info("TMDB answered %s for %s", status, tmdb_id)
            if status >= 500:
                self._pause(OUTAGE_PAUSE_SECONDS)
            return "error", None
        try:
            poster_path = response.json().get("poster_path")
        except (ValueError, AttributeError):
            return "error", None
        if isinstance(poster_path, str) and poster_path.startswith("/"):
            return "found", poster_path
        return "missing", None

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._session_factory()
            self._local.session = session
        return session

    def _paused(self) -> bool:
        with self._pause_lock:
            return self._clock() < self._paused_until

    def _pause(self, seconds: float) -> None:
        with self._pause_lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)


def retry_after_seconds(value: str | None, *, default: float = 1.0) -> float:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    return max(0.0, when.timestamp() - time.time())


def image_url(poster_path: str) -> str:
    return f"{IMAGE_BASE}{poster_path}"


# -- generated poster art ---------------------------------------------------------------

#: Two stops (top, bottom) per genre: deep, desaturated hues that sit well on near-black.
GENRE_GRADIENTS: dict[str, tuple[str, str]] = {
    "Action": ("#2a0707", "#8b1e1e"),
    "Adventure": ("#0c2418", "#2e6b4a"),
    "Animation": ("#151a45", "#4b3f9e"),
    "Children": ("#0f2a50", "#3f7cac"),
    "Children's": ("#0f2a50", "#3f7cac"),
    "Comedy": ("#2e2004", "#a8790c"),
    "Crime": ("#080808", "#3d2b1f"),
    "Documentary": ("#161e1f", "#4a5a5c"),
    "Drama": ("#150f1d", "#5c3d6e"),
    "Fantasy": ("#190d3c", "#6a3fa0"),
    "Film-Noir": ("#030303", "#3a3a3a"),
    "Horror": ("#070000", "#5c0a0a"),
    "IMAX": ("#0a1620", "#2d5d7c"),
    "Musical": ("#240c27", "#8e3b7a"),
    "Mystery": ("#08141f", "#24435e"),
    "Romance": ("#260812", "#9b2f4d"),
    "Sci-Fi": ("#03141f", "#0f5e7a"),
    "Thriller": ("#0d0f13", "#47303a"),
    "War": ("#17170f", "#5a5a3c"),
    "Western": ("#221205", "#8a5a2b"),
}
_TRAILING_ALIAS = re.compile(r"^(\S.*?\S)\s+\([^()]+\)$")
DEFAULT_GRADIENT = ("#0f1419", "#2a2f38")
_GOLD = "#d4af37"
_GOLD_LIGHT = "#f4e4a6"


def gradient_for(genres: Sequence[str]) -> tuple[str, str]:
    """The first of a film's genres that has a palette decides its poster colours."""
    palettes = (GENRE_GRADIENTS[genre] for genre in genres if genre in GENRE_GRADIENTS)
    return next(palettes, DEFAULT_GRADIENT)


def wrap_title(title: str, width: int, max_lines: int = 4) -> list[str]:
    """Greedy word wrap for SVG (which cannot wrap text), ending in … when it overflows."""
    lines: list[str] = []
    current = ""
    for word in title.split():
        if len(word) > width:
            word = word[: width - 1] + "…"
        candidate = f"{current} {word}".strip()
        if len(candidate) <= width:
            current = candidate
            continue
        lines.append(current)
        current = word
    if current:
        lines.append(current)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: width - 1].rstrip() + "…"
    return lines or [""]


def poster_title(title: str) -> str:
    """The title without MovieLens's trailing alternate title, for the art's few words:
    "Battle Royale (Batoru rowaiaru)" → "Battle Royale"."""
    match = _TRAILING_ALIAS.match(title)
    return match.group(1) if match else title


def fallback_poster_svg(title: str, year: int | None, genres: Sequence[str]) -> str:
    """A 2:3 poster drawn as SVG markup: gradient by genre, serif title, gold rules, year."""
    top, bottom = gradient_for(genres)
    title = poster_title(title)
    size = 34 if len(title) <= 18 else 28 if len(title) <= 40 else 23
    width_chars = {34: 13, 28: 16, 23: 20}[size]
    lines = wrap_title(title, width_chars)
    line_height = size * 1.18
    first_y = 225 - (len(lines) - 1) * line_height / 2
    title_text = "".join(
        f'<tspan x="150" y="{first_y + i * line_height:.1f}">{escape(line)}</tspan>'
        for i, line in enumerate(lines)
    )
    genre_line = escape(" · ".join(genres[:2]).upper())
    year_text = escape(str(year)) if year else ""
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 300 450" width="300" height="450">'
        "<defs>"
        f'<linearGradient id="bg" x1="0" y1="0" x2="0.35" y2="1">'
        f'<stop offset="0" stop-color="{top}"/><stop offset="1" stop-color="{bottom}"/>'
        "</linearGradient>"
        '<radialGradient id="glow" cx="0.5" cy="0.42" r="0.65">'
        '<stop offset="0" stop-color="#ffffff" stop-opacity="0.10"/>'
        '<stop offset="1" stop-color="#000000" stop-opacity="0.55"/>'
        "</radialGradient>"
        "</defs>"
        '<rect width="300" height="450" fill="url(#bg)"/>'
        '<rect width="300" height="450" fill="url(#glow)"/>'
        f'<rect x="14" y="14" width="272" height="422" fill="none" stroke="{_GOLD}" '
        'stroke-opacity="0.55" stroke-width="1"/>'
        # A small gold ornament, low enough that a card's corner chip never covers it.
        f'<line x1="112" y1="66" x2="140" y2="66" stroke="{_GOLD}" stroke-opacity="0.7"/>'
        f'<path d="M150 60 L156 66 L150 72 L144 66 Z" fill="{_GOLD}" fill-opacity="0.85"/>'
        f'<line x1="160" y1="66" x2="188" y2="66" stroke="{_GOLD}" stroke-opacity="0.7"/>'
        f'<text text-anchor="middle" fill="{_GOLD_LIGHT}" '
        "font-family=\"'Playfair Display', 'Didot', Georgia, 'Times New Roman', serif\" "
        f'font-size="{size}" font-weight="700">{title_text}</text>'
        f'<line x1="120" y1="372" x2="180" y2="372" stroke="{_GOLD}" stroke-opacity="0.7"/>'
        f'<text x="150" y="398" text-anchor="middle" fill="#c0c0c0" '
        'font-family="Helvetica, Arial, sans-serif" font-size="15" letter-spacing="3">'
        f"{year_text}</text>"
        f'<text x="150" y="420" text-anchor="middle" fill="#c0c0c0" fill-opacity="0.7" '
        'font-family="Helvetica, Arial, sans-serif" font-size="10.5" letter-spacing="2">'
        f"{genre_line}</text>"
        "</svg>"
    )


def fallback_poster(title: str, year: int | None, genres: Sequence[str]) -> str:
    """:func:`fallback_poster_svg` as a ``data:`` URI that an ``<img>`` can show."""
    svg = fallback_poster_svg(title, year, genres)
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


# -- the shared instance ----------------------------------------------------------------


def cache_path() -> Path:
    """``$CINEMATCH_CACHE_DIR/posters.json``, else ``~/.cache/cinematch/posters.json``."""
    folder = read_setting("CINEMATCH_CACHE_DIR")
    base = Path(folder).expanduser() if folder else Path.home() / ".cache" / "cinematch"
    return base / "posters.json"


def tmdb_settings() -> TmdbSettings:
    return TmdbSettings(
        api_key=read_setting("TMDB_API_KEY"),
        read_token=read_setting("TMDB_READ_TOKEN"),
        api_base=read_setting("TMDB_API_BASE", DEFAULT_TMDB_API_BASE) or DEFAULT_TMDB_API_BASE,
    )


@st.cache_resource(show_spinner=False)
def _shared_poster_client(settings: TmdbSettings, path: str) -> PosterClient:
    return PosterClient(settings, PosterCache(Path(path)))


def get_poster_client() -> PosterClient:
    """One poster client (pool + cache) per configuration, shared by every session."""
    return _shared_poster_client(tmdb_settings(), str(cache_path()))
