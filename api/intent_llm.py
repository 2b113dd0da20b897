"""Plain-words requests read by an LLM when one is configured, by ``ml.text.intent`` otherwise.

With ``CINEMATCH_LLM_URL`` (an OpenAI-compatible chat-completions endpoint) and
``CINEMATCH_LLM_KEY`` set, the text is sent with a strict JSON schema and the answer is checked
against it (pydantic, extra keys refused) and against the catalogue (known genres; titles
resolved by the offline parser, the rest reported in ``unparsed``). Any failure (connection,
HTTP status, the whole-exchange deadline ``CINEMATCH_LLM_TIMEOUT_S``, invalid JSON or
filters) falls back to the offline parser; the answer says which parser read it.

Upstream calls are paid for, so ``LlmBounds`` answers identical requests (case and blanks
ignored) from a cache, and limits calls per client address and per process a minute; past a
limit the offline parser answers and ``note`` says so. The limits are per process on purpose:
a shared one would cost every reading, cached ones included, a database write.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import httpx
from cachetools import TTLCache
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.metrics import LLM_READS
from ml.text.intent import MAX_QUERY_CHARS, FilmReference, Intent, IntentParser

logger = logging.getLogger(__name__)

ParserName = Literal["offline", "llm"]
#: Connection attempts beyond the first (connect errors only; never a second POST).
CONNECT_RETRIES = 1


class LlmIntent(BaseModel):
    """The JSON the model must answer with (also sent to it as the schema)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    genres: list[str] = Field(max_length=10)
    exclude_genres: list[str] = Field(max_length=10)
    year_from: int | None = Field(ge=1870, le=2100)
    year_to: int | None = Field(ge=1870, le=2100)
    similar_to: list[str] = Field(max_length=5, description="Titles of films named as references")
    mood: str | None = Field(max_length=40)
    unparsed: list[str] = Field(max_length=20)


def response_schema() -> dict[str, Any]:
    """OpenAI's strict structured output: every property required, nullable ones typed so."""
    schema = LlmIntent.model_json_schema()
    schema["required"] = list(schema["properties"])
    schema["additionalProperties"] = False
    return {"name": "film_request", "strict": True, "schema": schema}


@dataclass(frozen=True, slots=True)
class ReadIntent:
    intent: Intent
    parser: ParserName
    #: Why the offline parser answered although an LLM is configured (its limits), if so.
    note: str | None = None


#: What the answer says when a limit kept the request from the LLM.
ADDRESS_LIMITED = (
    "This address asked the LLM too often in the last minute: the offline parser read "
    "this request."
)
BUDGET_SPENT = (
    "The LLM's budget for this minute is spent: the offline parser read this request."
)


def normalised(text: str) -> str:
    """The cache key of a request: case-folded, blanks collapsed, cut to the query limit."""
    return " ".join(text.casefold().split())[:MAX_QUERY_CHARS]


class _Bucket:
    """A token bucket in memory (GCRA): ``per_minute`` a minute, as many at once."""

    def __init__(self, per_minute: float) -> None:
        self.interval = 60.0 / per_minute if per_minute > 0 else 0.0
        self.tolerance = (max(1, int(per_minute)) - 1) * self.interval
        self.tat = 0.0

    def take(self, now: float) -> bool:
        if self.interval == 0.0:
            return False  # a budget of 0: never
        tat = max(self.tat, now)
        if tat - now > self.tolerance:
            return False
        self.tat = tat + self.interval
        return True


class LlmBounds:
    """The cache and the two limits in front of the LLM (see the module docstring)."""

    def __init__(
        self,
        cache_ttl_s: float,
        per_address_per_minute: float,
        budget_per_minute: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self.cache: TTLCache[str, LlmIntent] | None = (
            TTLCache(10_000, cache_ttl_s, timer=clock) if cache_ttl_s > 0 else None
        )
        self._per_address = per_address_per_minute
        # Idle addresses' buckets are forgotten after a minute (then they are full anyway).
        self._addresses: TTLCache[str, _Bucket] = TTLCache(100_000, 60.0, timer=clock)
        # An infinite budget (``inf``) is no budget at all.
        self._budget = _Bucket(budget_per_minute) if math.isfinite(budget_per_minute) else None

    def cached(self, key: str) -> LlmIntent | None:
        return None if self.cache is None else self.cache.get(key)

    def keep(self, key: str, answer: LlmIntent) -> None:
        if self.cache is not None:
            self.cache[key] = answer

    def refusal(self, address: str | None) -> str | None:
        """None when this address may make one more upstream call now (and it is counted),
        else what the answer should say."""
        now = self._clock()
        if address is not None and self._per_address > 0:
            bucket = self._addresses.get(address)
            if bucket is None:
                bucket = self._addresses[address] = _Bucket(self._per_address)
            if not bucket.take(now):
                return ADDRESS_LIMITED
        if self._budget is not None and not self._budget.take(now):
            return BUDGET_SPENT
        return None


class LlmIntentClient:
    """One OpenAI-compatible endpoint, asked to fill ``LlmIntent`` for a request."""

    def __init__(self, url: str, key: str, model: str, genres: list[str],
                 timeout_s: float = 2.0) -> None:
        self.url = url
        self.model = model
        self.genres = genres
        self.timeout_s = timeout_s
        self._client = httpx.AsyncClient(
            headers={"Authorization": f"Bearer {key}"},
            timeout=httpx.Timeout(timeout_s),
            transport=httpx.AsyncHTTPTransport(retries=CONNECT_RETRIES),
        )

    async def ask(self, text: str) -> LlmIntent:
        """The model's reading of ``text``; raises on any failure (the caller falls back)."""
        body = {
            "model": self.model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": (
                    "Turn a film request into filters. Genres and exclude_genres use only "
                    f"these names: {', '.join(self.genres)}. Years are inclusive release "
                    "years (the 90s is 1990-1999). similar_to lists film titles the request "
                    "names as references. Words you cannot use go to unparsed.")},
                {"role": "user", "content": text},
            ],
            "response_format": {"type": "json_schema", "json_schema": response_schema()},
        }
        response = await asyncio.wait_for(self._client.post(self.url, json=body),
                                          self.timeout_s)
        response.raise_for_status()
        content = response.json()["choices"][0]["message"]["content"]
        return LlmIntent.model_validate(json.loads(content))

    async def aclose(self) -> None:
        await self._client.aclose()


class IntentReader:
    """The offline parser, or the LLM first when one is configured (within ``bounds``;
    none given: no cache and no limits)."""

    def __init__(self, parser: IntentParser, llm: LlmIntentClient | None = None,
                 bounds: LlmBounds | None = None) -> None:
        self.parser = parser
        self.llm = llm
        self.bounds = bounds or LlmBounds(0, 0, math.inf)
        self._genres = {g.casefold(): g for g in (llm.genres if llm else [])}

    async def read(self, text: str, address: str | None = None) -> ReadIntent:
        """``text`` as filters; ``address`` is the client's, for the per-address limit."""
        if self.llm is None:
            return ReadIntent(self.parser.parse(text), "offline")
        key = normalised(text)
        cached = self.bounds.cached(key)
        if cached is not None:
            LLM_READS.labels("cache").inc()
            return ReadIntent(self._from_llm(text, cached), "llm")
        refusal = self.bounds.refusal(address)
        if refusal is not None:
            LLM_READS.labels("limited").inc()
            return ReadIntent(self.parser.parse(text), "offline", refusal)
        try:
            answer = await self.llm.ask(text[:MAX_QUERY_CHARS])
            read = ReadIntent(self._from_llm(text, answer), "llm")
        except (httpx.HTTPError, TimeoutError, ValueError, KeyError, IndexError,
                TypeError, ValidationError) as error:
            LLM_READS.labels("failed").inc()
            logger.warning("LLM intent failed (%s); using the offline parser",
                           type(error).__name__)
            return ReadIntent(self.parser.parse(text), "offline")
        LLM_READS.labels("upstream").inc()
        self.bounds.keep(key, answer)  # only an answer that read as valid filters
        return read

    def _from_llm(self, text: str, answer: LlmIntent) -> Intent:
        """The model's answer in catalogue terms; an unknown genre makes it invalid."""
        genres = tuple(sorted({self._genre(g) for g in answer.genres}))
        excluded = tuple(sorted({self._genre(g) for g in answer.exclude_genres} - set(genres)))
        films: list[FilmReference] = []
        unparsed = list(answer.unparsed)
        for title in answer.similar_to:
            movie = self.parser.film(title)
            if movie is None:
                unparsed.append(title)
            else:
                films.append(FilmReference(movie.movie_id, movie.title, movie.year))
        low, high = answer.year_from, answer.year_to
        if low is not None and high is not None and low > high:
            raise ValueError(f"year_from {low} is after year_to {high}")
        return Intent(query=text.strip()[:MAX_QUERY_CHARS], genres=genres,
                      exclude_genres=excluded, year_from=low, year_to=high,
                      similar_to=tuple(films), mood=answer.mood, unparsed=tuple(unparsed))

    def _genre(self, name: str) -> str:
        genre = self._genres.get(name.strip().casefold())
        if genre is None:
            raise ValueError(f"the model answered a genre the catalogue lacks: {name!r}")
        return genre

    async def aclose(self) -> None:
        if self.llm is not None:
            await self.llm.aclose()
