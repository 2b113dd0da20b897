"""Everything that depends on the model, built together, and swapped together at a reload.

A reload (``POST /admin/reload``, or a replica noticing that ``CINEMATCH_MODEL_DIR`` points
elsewhere) loads the new model in a worker thread while the old one serves, builds every
model-dependent object (search index, intent parser, import catalogue, and *empty* caches),
then replaces ``app.state.services`` in one assignment; a request in flight keeps the services
it saw first (``api.deps``). A directory that fails to load changes nothing. The path is
resolved first, so a symlink switched by ``python -m ml.training.promote`` mid-load cannot mix
two versions.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import gc
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from api import metrics
from api.deps import Services
from api.intent_llm import IntentReader, LlmBounds, LlmIntentClient
from api.settings import Settings
from api.user_cache import UserCache
from ml.serving.artifacts import ArtifactError
from ml.serving.recommender import Recommender, UserProfile
from ml.text.imports import Catalogue as ImportCatalogue
from ml.text.intent import IntentParser
from ml.text.search import MovieIndex

logger = logging.getLogger("api")
#: Seconds an old intent reader stays open after a swap, for requests still using it.
_RETIRE_AFTER_S = 30.0


class ModelReloadError(RuntimeError):
    """The model directory could not be loaded; the model already served goes on serving."""


def model_parts(settings: Settings, model: Recommender) -> dict[str, Any]:
    """The ``Services`` fields built from ``model`` (the lifespan and a reload share this)."""
    movie_index = MovieIndex(model.movies())
    return {
        "recommender": model,
        "movie_index": movie_index,
        "user_cache": UserCache[UserProfile](
            settings.profile_cache_size, settings.list_cache_mb * 1_000_000
        ),
        "intent_reader": intent_reader(settings, model, movie_index),
        "import_catalogue": import_catalogue_builder(model),
    }


def intent_reader(settings: Settings, model: Recommender, index: MovieIndex) -> IntentReader:
    """The offline parser, behind the LLM when both its URL and key are set."""
    parser = IntentParser(index, model.genres())
    if not (settings.llm_url and settings.llm_key):
        return IntentReader(parser)
    llm = LlmIntentClient(settings.llm_url, settings.llm_key.get_secret_value(),
                          settings.llm_model, model.genres(), settings.llm_timeout_s)
    bounds = LlmBounds(settings.llm_cache_ttl_s, settings.llm_limit_per_minute,
                       settings.llm_budget_per_minute)
    return IntentReader(parser, llm, bounds)


def import_catalogue_builder(model: Recommender) -> Callable[[], ImportCatalogue]:
    """The catalogue as imports match it, built at the first import (~0.8 s and ~100k
    objects for 10k films, which a worker that never imports does not pay) and then frozen
    out of the garbage collector's reach like the startup objects."""

    @functools.cache
    def build() -> ImportCatalogue:
        catalogue = ImportCatalogue(model.movies())
        gc.freeze()
        return catalogue

    return build


class ModelSwapper:
    """Reloads the model at ``settings.model_dir`` into a running app, one reload at a time."""

    def __init__(self, app: FastAPI, settings: Settings) -> None:
        self._app = app
        self._settings = settings
        self._lock = asyncio.Lock()
        self.loaded_from = Path(settings.model_dir).resolve()
        self._refused: Path | None = None

    async def reload(self) -> Recommender:
        """Load the model the path points at now and serve it; ModelReloadError if it fails."""
        async with self._lock:
            target = Path(self._settings.model_dir).resolve()
            try:
                started = time.perf_counter()
                model = await run_in_threadpool(Recommender.load, target)
                load_s = time.perf_counter() - started
                parts = await run_in_threadpool(model_parts, self._settings, model)
            except (ArtifactError, OSError, ValueError) as error:
                self._refused = target
                raise ModelReloadError(f"cannot load {target}: {error}") from None
            old: Services = self._app.state.services
            self._app.state.services = dataclasses.replace(old, **parts)
            self.loaded_from, self._refused = target, None
            metrics.model_loaded(model.model_version, load_s, time.time())
            # The new model's objects live as long as it is served: out of the GC's scans, as
            # at start-up (api.main). The old ones are freed by reference counting.
            gc.freeze()
            asyncio.get_running_loop().call_later(
                _RETIRE_AFTER_S, lambda: asyncio.ensure_future(old.intent_reader.aclose())
            )
            logger.info("now serving model %s from %s (was %s)", model.model_version, target,
                        old.recommender.model_version)
            return model

    async def watch(self, interval_s: float) -> None:
        """Reload whenever the model path comes to point at another folder (each replica runs
        this, so a promotion reaches every replica within ``interval_s``)."""
        while True:
            await asyncio.sleep(interval_s)
            target = Path(self._settings.model_dir).resolve()
            if target in (self.loaded_from, self._refused):
                continue
            try:
                await self.reload()
            except ModelReloadError as error:
                logger.error("model path changed but the new model was refused: %s", error)
