"""Fakes for the UI tests: an in-memory CineMatch API (docs/CONTRACT.md) and a local HTTP server.

``FakeCineMatchApi`` answers the contract's requests with the contract's JSON and semantics
(popularity below the threshold, personalised from it, rated films never returned, 401/403/404,
422 on bad ratings). It is plugged into the *real* ``ApiClient`` through a ``requests``
transport adapter, so AppTest drives the real parsing code without sockets.

The threshold is a constructor argument so a test can prove the UI reads ``ratings_needed``
from the API instead of assuming five.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from requests.adapters import BaseAdapter
from streamlit.testing.v1 import AppTest

from ui.api_client import ApiClient

FAKE_BASE_URL = "http://cinematch.test"

#: ``make_app(user=(id, token), page=...)``, the AppTest factory fixture of conftest.py.
AppFactory = Callable[..., AppTest]

# movie_id, title, year, genres, tmdb_id — in popularity order (most rated first).
CATALOGUE: list[tuple[int, str, int, tuple[str, ...], int | None]] = [
    (2571, "Matrix, The", 1999, ("Action", "Sci-Fi", "Thriller"), 603),
    (260, "Star Wars: Episode IV - A New Hope", 1977, ("Action", "Adventure", "Sci-Fi"), 11),
    (
        1196,
        "Star Wars: Episode V - The Empire Strikes Back",
        1980,
        ("Action", "Adventure", "Sci-Fi"),
        1891,
    ),
    (593, "Silence of the Lambs, The", 1991, ("Drama", "Thriller"), 274),
    (2858, "American Beauty", 1999, ("Comedy", "Drama"), 14),
    (318, "Shawshank Redemption, The", 1994, ("Drama",), 278),
    (858, "Godfather, The", 1972, ("Action", "Crime", "Drama"), 238),
    (296, "Pulp Fiction", 1994, ("Crime", "Drama"), 680),
    (
        1210,
        "Star Wars: Episode VI - Return of the Jedi",
        1983,
        ("Action", "Adventure", "Romance", "Sci-Fi", "War"),
        1892,
    ),
    (480, "Jurassic Park", 1993, ("Action", "Adventure", "Sci-Fi"), 329),
    (2028, "Saving Private Ryan", 1998, ("Action", "Drama", "War"), 857),
    (589, "Terminator 2: Judgment Day", 1991, ("Action", "Sci-Fi", "Thriller"), 280),
    (1, "Toy Story", 1995, ("Animation", "Children's", "Comedy"), 862),
    (608, "Fargo", 1996, ("Crime", "Drama", "Thriller"), 275),
    (110, "Braveheart", 1995, ("Action", "Drama", "War"), 197),
    (1270, "Back to the Future", 1985, ("Comedy", "Sci-Fi"), 105),
    (527, "Schindler's List", 1993, ("Drama", "War"), 424),
    (1617, "L.A. Confidential", 1997, ("Crime", "Film-Noir", "Mystery", "Thriller"), 2118),
    (924, "2001: A Space Odyssey", 1968, ("Drama", "Mystery", "Sci-Fi", "Thriller"), 62),
    (912, "Casablanca", 1942, ("Drama", "Romance", "War"), 289),
    (750, "Dr. Strangelove", 1963, ("Sci-Fi", "War"), 935),
    (1252, "Chinatown", 1974, ("Film-Noir", "Mystery", "Thriller"), 829),
    (2762, "Sixth Sense, The", 1999, ("Thriller",), 745),
    (1097, "E.T. the Extra-Terrestrial", 1982, ("Children's", "Drama", "Fantasy", "Sci-Fi"), 601),
    (1193, "One Flew Over the Cuckoo's Nest", 1975, ("Drama",), 510),
    (541, "Blade Runner", 1982, ("Film-Noir", "Sci-Fi"), 78),
    (919, "Wizard of Oz, The", 1939, ("Adventure", "Children's", "Drama", "Musical"), 630),
    (3114, "Toy Story 2", 1999, ("Animation", "Children's", "Comedy"), 863),
    (1136, "Monty Python and the Holy Grail", 1974, ("Comedy",), 762),
    (3996, "Crouching Tiger, Hidden Dragon", 2000, ("Action", "Drama", "Romance"), None),
]


@dataclass
class FakeUser:
    token: str
    ratings: dict[int, tuple[float, str, str]] = field(default_factory=dict)  # id → (r, c, u)
    #: "hidden" / "watchlist" / "skipped" → {movie_id: added_at}
    lists: dict[str, dict[int, str]] = field(
        default_factory=lambda: {"hidden": {}, "watchlist": {}, "skipped": {}}
    )
    username: str | None = None
    password: str | None = None
    #: Tokens of other devices (POST /sessions); revoked ones are removed.
    more_tokens: set[str] = field(default_factory=set)


@dataclass
class FakeCineMatchApi:
    """The contract, in memory. ``calls`` records (method, path, params) for assertions."""

    threshold: int = 5
    calls: list[tuple[str, str, dict[str, list[str]]]] = field(default_factory=list)
    users: dict[int, FakeUser] = field(default_factory=dict)
    down: bool = False

    def __post_init__(self) -> None:
        self.movies = {
            movie_id: {
                "movie_id": movie_id,
                "title": title,
                "subtitle": FAKE_SUBTITLES.get(movie_id),
                "year": year,
                "genres": list(genres),
                "tmdb_id": tmdb_id,
                "imdb_id": None,
                "rating_count": 1000 - rank * 10,
                "mean_rating": round(4.5 - rank * 0.03, 2),
            }
            for rank, (movie_id, title, year, genres, tmdb_id) in enumerate(CATALOGUE)
        }
        self.popularity = [row[0] for row in CATALOGUE]
        self._lock = threading.Lock()
        self._clock = 0

    # -- helpers for tests ---------------------------------------------------------------

    def add_user(self, ratings: dict[int, float] | None = None) -> tuple[int, str]:
        user_id = len(self.users) + 1
        user = FakeUser(token=f"tok-{user_id}-{secrets.token_hex(4)}")
        self.users[user_id] = user
        for movie_id, rating in (ratings or {}).items():
            stamp = self._stamp()
            user.ratings[movie_id] = (rating, stamp, stamp)
        return user_id, user.token

    def ratings_of(self, user_id: int) -> dict[int, float]:
        return {movie_id: r for movie_id, (r, _, _) in self.users[user_id].ratings.items()}

    def calls_to(self, path: str) -> list[dict[str, list[str]]]:
        return [params for _, p, params in self.calls if p == path]

    # -- dispatch ------------------------------------------------------------------------

    def handle(
        self, method: str, path: str, params: dict[str, list[str]], body: Any, auth: str | None
    ) -> tuple[int, Any]:
        with self._lock:
            self.calls.append((method, path, params))
            if self.down:
                return 503, {"detail": "maintenance"}
            parts = [p for p in path.split("/") if p]
            try:
                return self._route(method, parts, params, body, auth)
            except _HttpError as err:
                return err.status, {"detail": err.detail}

    def _route(
        self, method: str, parts: list[str], q: dict[str, list[str]], body: Any, auth: str | None
    ) -> tuple[int, Any]:
        match method, parts:
            case "GET", ["health"]:
                return 200, {
                    "status": "ok",
                    "model_version": "fake-1",
                    "n_movies": len(self.movies),
                    "n_users": len(self.users),
                    "n_ratings": 0,
                    "database": "ok",
                }
            case "GET", ["decades"]:
                years = {m["year"] for m in self.movies.values() if m.get("year")}
                return 200, {"decades": sorted({y // 10 * 10 for y in years}, reverse=True)}
            case "POST", ["users"]:
                user_id, token = self.add_user()
                return 201, {"user_id": user_id, "token": token}
            case "POST", ["rate"]:
                return 200, self._rate(body, auth)
            case "DELETE", ["users", user_id, "ratings", movie_id]:
                user = self._auth(int(user_id), auth)
                if int(movie_id) not in user.ratings:
                    raise _HttpError(404, f"User {user_id} has not rated movie {movie_id}")
                del user.ratings[int(movie_id)]
                return 200, {
                    "user_id": int(user_id),
                    "movie_id": int(movie_id),
                    **self._standing(user),
                }
            case "GET", ["users", user_id, "ratings"]:
                user = self._auth(int(user_id), auth)
                everything = sorted(
                    user.ratings.items(), key=lambda item: item[1][2], reverse=True
                )
                limit, offset = int(_one(q, "limit", "100")), int(_one(q, "offset", "0"))
                if not 1 <= limit <= 500:
                    raise _HttpError(422, "query parameter limit: at most 500")
                rows = everything[offset : offset + limit]
                return 200, {
                    "user_id": int(user_id),
                    "count": len(rows),
                    "total": len(everything),
                    "limit": limit,
                    "offset": offset,
                    "ratings": [
                        {**self._brief(mid), "rating": r, "created_at": c, "updated_at": u}
                        for mid, (r, c, u) in rows
                    ],
                }
            case "GET", ["recommend"]:
                return 200, self._recommend(q, auth)
            case "GET", ["user", user_id, "stats"]:
                return 200, self._stats(self._auth(int(user_id), auth), int(user_id))
            case "GET", ["movies"]:
                return 200, self._search(q)
            case "GET", ["movies", movie_id]:
                return 200, self._movie(int(movie_id))
            case "GET", ["movies", movie_id, "similar"]:
                return 200, self._similar(int(movie_id), int(_one(q, "n", "10")))
            case "GET", ["genres"]:
                return 200, {
                    "genres": sorted({g for m in self.movies.values() for g in m["genres"]})
                }
            case "GET", ["onboarding", "movies"]:
                n = int(_one(q, "n", "20"))
                exclude = {int(x) for x in q.get("exclude", [])}
                chosen = [self.movies[m] for m in self.popularity if m not in exclude][:n]
                return 200, {"count": len(chosen), "movies": chosen}
            case "GET", ["model", "evaluation"]:
                return 200, FAKE_METRICS
            case ("PUT" | "DELETE"), ["users", user_id, kind, movie_id] if kind in SIGNALS:
                user = self._auth(int(user_id), auth)
                self._movie(int(movie_id))
                listed = user.lists[kind]
                on = method == "PUT"
                changed = (int(movie_id) in listed) != on
                if on:
                    listed.setdefault(int(movie_id), self._stamp())
                else:
                    listed.pop(int(movie_id), None)
                return 200, {"user_id": int(user_id), "movie_id": int(movie_id), "list": kind,
                             "on_list": on, "changed": changed}
            case "GET", ["users", user_id, kind] if kind in SIGNALS:
                user = self._auth(int(user_id), auth)
                rows = sorted(user.lists[kind].items(), key=lambda item: item[1], reverse=True)
                return 200, {"user_id": int(user_id), "list": kind, "count": len(rows),
                             "movies": [{**self.movies[m], "added_at": at} for m, at in rows]}
            case "GET", ["users", user_id, "similar", movie_id]:
                user = self._auth(int(user_id), auth)
                hidden = user.lists["hidden"]
                n = int(_one(q, "n", "10"))
                similar = [row for row in self._similar(int(movie_id), n + len(hidden))["similar"]
                           if row["movie_id"] not in hidden][:n]
                rows = [{**row, "your_rating": self.ratings_of(int(user_id)).get(row["movie_id"]),
                         "on_watchlist": row["movie_id"] in user.lists["watchlist"]}
                        for row in similar]
                return 200, {"user_id": int(user_id), "movie_id": int(movie_id),
                             "count": len(rows), "similar": rows}
            case "GET", ["users", user_id, "onboarding"]:
                user = self._auth(int(user_id), auth)
                n = int(_one(q, "n", "20"))
                exclude = {int(x) for x in q.get("exclude", [])} | set(user.ratings)
                exclude |= set(user.lists["hidden"]) | set(user.lists["skipped"])
                chosen = [self.movies[m] for m in self.popularity if m not in exclude][:n]
                return 200, {"count": len(chosen), "movies": chosen}
            case "GET", ["users", user_id, "credentials"]:
                user = self._auth(int(user_id), auth)
                return 200, {"user_id": int(user_id), "username": user.username}
            case "PUT", ["users", user_id, "credentials"]:
                return 200, self._set_credentials(int(user_id), body, auth)
            case "POST", ["sessions"]:
                return 201, self._sign_in(body)
            case "DELETE", ["sessions", "current"]:
                token = (auth or "").removeprefix("Bearer ")
                for user in self.users.values():
                    if token in user.more_tokens:
                        user.more_tokens.discard(token)
                        return 204, None
                    if token == user.token:
                        user.token = f"revoked-{secrets.token_hex(4)}"
                        return 204, None
                raise _HttpError(401, "this token is unknown or already revoked")
            case "DELETE", ["users", user_id]:
                self._auth(int(user_id), auth)
                del self.users[int(user_id)]
                return 204, None
            case "GET", ["users", user_id, "export"]:
                user = self._auth(int(user_id), auth)
                lines = ["movie_id,imdb_id,tmdb_id,title,year,rating,rated_at,list"]
                lines += [f"{m},,,,,{r},{u},rated" for m, (r, _, u) in user.ratings.items()]
                return 200, _Raw("\n".join(lines) + "\n", "text/csv; charset=utf-8")
            case "POST", ["users", user_id, "import"]:
                return 200, self._import(int(user_id), q, body, auth)
        raise _HttpError(404, "Not Found")

    def _set_credentials(self, user_id: int, body: Any, auth: str | None) -> dict[str, Any]:
        user = self._auth(user_id, auth)
        name, password = str(body["username"]), str(body["password"])
        if len(password) < 10:
            raise _HttpError(422, "password: use 10 to 1024 characters")
        if any(
            u.username and u.username.lower() == name.lower() and u is not user
            for u in self.users.values()
        ):
            raise _HttpError(409, "that username is taken")
        user.username, user.password = name, password
        return {"user_id": user_id, "username": name}

    def _sign_in(self, body: Any) -> dict[str, Any]:
        name = str(body["username"]).lower()
        for user_id, user in self.users.items():
            if (
                user.username
                and user.username.lower() == name
                and user.password == body["password"]
            ):
                token = f"tok-{user_id}-{secrets.token_hex(4)}"
                user.more_tokens.add(token)
                return {"user_id": user_id, "token": token}
        raise _HttpError(401, "wrong username or password")

    def _import(
        self, user_id: int, q: dict[str, list[str]], body: Any, auth: str | None
    ) -> dict[str, Any]:
        """Letterboxd-shaped files only: ``Name,Year,Rating``, matched on exact title."""
        user = self._auth(user_id, auth)
        text = body.get("file", b"").decode() if isinstance(body, dict) else ""
        lines = [line for line in text.splitlines() if line.strip()]
        if not lines or "Name" not in lines[0]:
            raise _HttpError(422, "ratings.csv: line 1: columns of no known export")
        header = lines[0].split(",")
        by_title = {_article_first(m["title"]): m for m in self.movies.values()}
        matched, unmatched = [], []
        for line in lines[1:]:
            row = dict(zip(header, line.split(","), strict=False))
            movie = by_title.get(row["Name"])
            year = int(row["Year"]) if row.get("Year") else None
            if movie is None or movie["year"] != year:
                unmatched.append(
                    {"title": row["Name"], "year": year, "reason": "not in the catalogue"}
                )
                continue
            rating = float(row["Rating"])
            matched.append(
                {
                    "title": row["Name"],
                    "year": year,
                    "movie_id": movie["movie_id"],
                    "rating": rating,
                }
            )
        dry_run = _one(q, "dry_run", "false") == "true"
        new = [m for m in matched if m["movie_id"] not in user.ratings]
        if not dry_run:
            for m in new:
                stamp = self._stamp()
                user.ratings[m["movie_id"]] = (m["rating"], stamp, stamp)
        return {
            "source": "letterboxd",
            "rows": len(lines) - 1,
            "matched": matched,
            "unmatched": unmatched,
            "saved": len(new),
            "unchanged": len(matched) - len(new),
            "dry_run": dry_run,
        }

    # -- endpoints -----------------------------------------------------------------------

    def _auth(self, user_id: int, auth: str | None) -> FakeUser:
        if not auth or not auth.startswith("Bearer "):
            raise _HttpError(401, "Missing or malformed bearer token")
        user = self.users.get(user_id)
        if user is None:
            raise _HttpError(404, f"Unknown user {user_id}")
        presented = auth.removeprefix("Bearer ")
        if presented != user.token and presented not in user.more_tokens:
            raise _HttpError(403, "This token belongs to another user")
        return user

    def _standing(self, user: FakeUser) -> dict[str, Any]:
        total = len(user.ratings)
        return {
            "total_user_ratings": total,
            "ratings_needed": max(0, self.threshold - total),
            "recommendation_mode": "personalized" if total >= self.threshold else "popularity",
        }

    def _rate(self, body: Any, auth: str | None) -> dict[str, Any]:
        user = self._auth(int(body["user_id"]), auth)
        rows = body["ratings"]
        ids = [row["movie_id"] for row in rows]
        if not 1 <= len(rows) <= 200 or len(set(ids)) != len(ids):
            raise _HttpError(422, "ratings must hold 1–200 distinct films")
        for row in rows:
            r = row["rating"]
            if (
                isinstance(r, bool)
                or not isinstance(r, int | float)
                or not (0.5 <= r <= 5.0 and (r * 2).is_integer())
            ):
                raise _HttpError(422, f"rating {r!r} is not 0.5–5.0 in steps of 0.5")
        unknown = [i for i in ids if i not in self.movies]
        if unknown:
            raise _HttpError(404, f"Unknown movie ids: {unknown}")
        for row in rows:
            stamp = row.get("updated_at") or row.get("created_at") or self._stamp()
            first = row.get("created_at") or stamp
            created = user.ratings.get(row["movie_id"], (0, first, stamp))[1]
            user.ratings[row["movie_id"]] = (float(row["rating"]), created, stamp)
        return {"user_id": int(body["user_id"]), "saved": len(rows), **self._standing(user)}

    def _recommend(self, q: dict[str, list[str]], auth: str | None) -> dict[str, Any]:
        user_id = int(_one(q, "user_id", "0"))
        user = self._auth(user_id, auth)
        n = int(_one(q, "n", "10"))
        genre = _one(q, "genre", "")
        year_from = int(_one(q, "year_from", "0") or 0)
        year_to = int(_one(q, "year_to", "9999") or 9999)
        personal = len(user.ratings) >= self.threshold
        never = set(user.ratings) | set(user.lists["hidden"]) | set(user.lists["skipped"])
        order = self.popularity
        if personal and float(_one(q, "discover", "0")) > 0:
            order = list(reversed(order))  # least rated first: the fake's "discover"
        candidates = [
            self.movies[m]
            for m in order
            if m not in never
            and (not genre or genre in self.movies[m]["genres"])
            and year_from <= (self.movies[m]["year"] or 0) <= year_to
        ]
        if personal:
            liked = [m for m, (r, _, _) in user.ratings.items() if r >= 4] or list(user.ratings)
            anchor = self.movies[liked[0]]
            candidates.sort(key=lambda m: -len(set(m["genres"]) & set(anchor["genres"])))
        items = [
            {
                **self._brief(m["movie_id"]),
                "predicted_rating": round(min(5.0, m["mean_rating"]), 2),
                "score": round(1.0 - i / 100, 3),
                "reason": (
                    f"Because you loved {anchor['title']}" if personal else "Popular with everyone"
                ),
            }
            for i, m in enumerate(candidates[:n])
        ]
        return {
            "user_id": user_id,
            "source": "personalized" if personal else "popularity",
            "ratings_needed": max(0, self.threshold - len(user.ratings)),
            "count": len(items),
            "model_version": "fake-1",
            "recommendations": items,
        }

    def _stats(self, user: FakeUser, user_id: int) -> dict[str, Any]:
        values = [r for r, _, _ in user.ratings.values()]
        genres: dict[str, list[float]] = {}
        for movie_id, (r, _, _) in user.ratings.items():
            for g in self.movies[movie_id]["genres"]:
                genres.setdefault(g, []).append(r)
        standing = self._standing(user)
        return {
            "user_id": user_id,
            "total_ratings": len(values),
            "average_rating": round(sum(values) / len(values), 2) if values else None,
            "rating_histogram": [
                {"rating": step / 2, "count": values.count(step / 2)} for step in range(1, 11)
            ],
            "top_genres": [
                {"genre": g, "count": len(rs), "average_rating": round(sum(rs) / len(rs), 2)}
                for g, rs in sorted(genres.items(), key=lambda item: -len(item[1]))
            ],
            "recommendation_type": standing["recommendation_mode"],
            "ratings_needed": standing["ratings_needed"],
        }

    def _search(self, q: dict[str, list[str]]) -> dict[str, Any]:
        query = _one(q, "query", "").lower()
        genre = _one(q, "genre", "")
        year = _one(q, "year", "")
        limit = int(_one(q, "limit", "20"))
        offset = int(_one(q, "offset", "0"))
        hits = [
            self.movies[m]
            for m in self.popularity
            if query in self.movies[m]["title"].lower()
            and (not genre or genre in self.movies[m]["genres"])
            and (not year or self.movies[m]["year"] == int(year))
        ]
        corrected = suggestion = None
        if not hits and query in FAKE_TYPOS:
            corrected = FAKE_TYPOS[query]
            hits = [self.movies[m] for m in self.popularity
                    if corrected in self.movies[m]["title"].lower()]
        if not hits and query:
            suggestion = self.movies[self.popularity[0]]["title"]
        return {
            "total": len(hits),
            "limit": limit,
            "offset": offset,
            "items": hits[offset : offset + limit],
            "corrected_query": corrected,
            "suggestion": suggestion,
        }

    def _movie(self, movie_id: int) -> dict[str, Any]:
        if movie_id not in self.movies:
            raise _HttpError(404, f"Unknown movie {movie_id}")
        return self.movies[movie_id]

    def _similar(self, movie_id: int, n: int) -> dict[str, Any]:
        seed = set(self._movie(movie_id)["genres"])
        scored = sorted(
            (
                (len(seed & set(m["genres"])) / len(seed | set(m["genres"])), m)
                for m in self.movies.values()
                if m["movie_id"] != movie_id
            ),
            key=lambda pair: -pair[0],
        )[:n]
        return {
            "movie_id": movie_id,
            "count": len(scored),
            "similar": [{**m, "similarity": round(s, 3)} for s, m in scored],
        }

    def _brief(self, movie_id: int) -> dict[str, Any]:
        m = self.movies[movie_id]
        return {k: m[k] for k in ("movie_id", "title", "subtitle", "year", "genres", "tmdb_id")}

    def _stamp(self) -> str:
        self._clock += 1
        return datetime.fromtimestamp(1_700_000_000 + self._clock, UTC).isoformat()


SIGNALS = ("hidden", "watchlist", "skipped")
FAKE_SUBTITLES = {3996: "Wo hu cang long"}
#: Misspellings the fake search reads as the real word (the real API corrects any typo).
FAKE_TYPOS = {"godfater": "godfather", "casablanka": "casablanca"}

FAKE_METRICS: dict[str, Any] = {
    "model_version": "funksvd-fake0001",
    "trained_at": "2026-11-01T12:00:00Z",
    "data": {"dataset": "ml-1m", "ratings": 1000209, "split": "random 90/10"},
    "rating": [
        {"model": "global mean", "rmse": 1.117, "mae": 0.934},
        {"model": "bias baseline", "rmse": 0.905, "mae": 0.716},
        {"model": "funksvd", "rmse": 0.857, "mae": 0.673},
    ],
    "top_n": [
        {"model": "popularity", "recall_at_10": 0.125, "ndcg_at_10": 0.119, "coverage": 0.02},
        {
            "model": "funksvd + popularity prior",
            "recall_at_10": 0.16,
            "ndcg_at_10": 0.15,
            "coverage": 0.21,
        },
    ],
}


@dataclass(frozen=True)
class _Raw:
    """A response body that is not JSON (the CSV export)."""

    text: str
    content_type: str


def _article_first(title: str) -> str:
    head, sep, article = title.rpartition(", ")
    return f"{article} {head}" if sep and article in ("The", "A", "An") else title


def _multipart_fields(body: bytes, content_type: str) -> dict[str, bytes]:
    """The parts of a multipart/form-data body by field name (enough for file uploads)."""
    boundary = content_type.split("boundary=", 1)[1].encode()
    fields: dict[str, bytes] = {}
    for part in body.split(b"--" + boundary):
        head, sep, content = part.partition(b"\r\n\r\n")
        if not sep or b'name="' not in head:
            continue
        name = head.split(b'name="', 1)[1].split(b'"', 1)[0].decode()
        fields[name] = content.removesuffix(b"\r\n")
    return fields


class _HttpError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _one(q: dict[str, list[str]], name: str, default: str) -> str:
    values = q.get(name)
    return values[-1] if values else default


# -- plugging the fake into requests ------------------------------------------------------


class FakeApiAdapter(BaseAdapter):
    """A ``requests`` transport that answers from a :class:`FakeCineMatchApi`."""

    def __init__(self, api: FakeCineMatchApi) -> None:
        super().__init__()
        self.api = api

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        split = urlsplit(request.url or "")
        content_type = request.headers.get("Content-Type", "")
        raw = request.body.encode() if isinstance(request.body, str) else request.body
        if content_type.startswith("multipart/form-data") and raw:
            body: Any = _multipart_fields(raw, content_type)
        else:
            body = json.loads(raw) if raw else None
        status, payload = self.api.handle(
            request.method or "GET",
            split.path,
            parse_qs(split.query),
            body,
            request.headers.get("Authorization"),
        )
        response = requests.Response()
        response.status_code = status
        if isinstance(payload, _Raw):
            response._content = payload.text.encode()
            response.headers["Content-Type"] = payload.content_type
        elif payload is None:
            response._content = b""
        else:
            response._content = json.dumps(payload).encode()
            response.headers["Content-Type"] = "application/json"
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        """Nothing to release: no sockets."""


def fake_client(api: FakeCineMatchApi) -> ApiClient:
    """The real :class:`ApiClient`, talking to ``api`` in memory."""

    def session_factory() -> requests.Session:
        http = requests.Session()
        http.mount(FAKE_BASE_URL, FakeApiAdapter(api))
        return http

    return ApiClient(FAKE_BASE_URL, session_factory=session_factory)


# -- a real loopback HTTP server for transport-level tests ---------------------------------


Handler = Callable[[BaseHTTPRequestHandler], None]


@contextmanager
def http_server(handler: Handler) -> Iterator[tuple[str, list[BaseHTTPRequestHandler]]]:
    """Serve ``handler(request)`` on 127.0.0.1:<free port>; yield (base URL, requests seen).

    The request list lets tests assert what was sent (path, headers) or that nothing was.
    """
    seen: list[BaseHTTPRequestHandler] = []

    class _Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self)
            handler(self)

        do_POST = do_GET
        do_PUT = do_GET
        do_DELETE = do_GET

        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def send_json(
    request: BaseHTTPRequestHandler,
    status: int,
    payload: Any,
    headers: dict[str, str] | None = None,
) -> None:
    data = json.dumps(payload).encode()
    request.send_response(status)
    request.send_header("Content-Type", "application/json")
    request.send_header("Content-Length", str(len(data)))
    for name, value in (headers or {}).items():
        request.send_header(name, value)
    request.end_headers()
    request.wfile.write(data)
