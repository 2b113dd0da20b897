"""Typed service settings, read once from the environment with safe development defaults."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasGenerator, Field, SecretStr, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from db.session import SQLITE_BUSY_TIMEOUT_MS
from db.settings import DatabaseSettings

DEFAULT_CORS_ORIGINS = ("http://localhost:8501", "http://127.0.0.1:8501")


class Settings(DatabaseSettings):
    """Everything that differs between a laptop, the test suite and the container
    (``DATABASE_URL`` included, from ``DatabaseSettings``); ``model_dir`` is read from
    ``CINEMATCH_MODEL_DIR``, and so on for every field."""

    model_config = SettingsConfigDict(
        populate_by_name=True,
        extra="ignore",
        alias_generator=AliasGenerator(validation_alias=lambda name: f"CINEMATCH_{name.upper()}"),
    )

    model_dir: Path = Field(
        default=Path("models"),
        description="Directory of the trained artifact (manifest.json and arrays).",
    )
    create_db: bool = Field(
        default=False,
        description="Create a new, empty SQLite file when DATABASE_URL names none (make run "
        "sets it). Off, a missing file stops the start with a clear error: a database that "
        "vanished must not be silently replaced by an empty one.",
    )
    migrate_on_start: bool = Field(
        default=True,
        description="Apply pending Alembic migrations when the API starts; false for hosts "
        "that run `make migrate` (python -m db.migrate) as a separate step.",
    )
    sqlite_synchronous: Literal["NORMAL", "FULL"] = Field(
        default="FULL",
        description="SQLite durability: FULL survives a power cut; NORMAL (WAL) may lose the "
        "last commits then. docs/operations.md, 'Durability', has the measured cost.",
    )
    cors_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        default=DEFAULT_CORS_ORIGINS,
        description="Comma-separated browser origins allowed to call the API.",
    )
    max_body_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        description="Largest request body accepted (413 above); 200 ratings take about 8 kB.",
    )
    write_limit_per_minute: float = Field(
        default=60.0,
        ge=0,
        description="Sustained writes (POST /rate, DELETE) allowed per user a minute, shared "
        "by every API process through the database (429 above); 0 turns the limit off.",
    )
    write_limit_burst: int = Field(
        default=30,
        ge=1,
        description="Writes a user may make back to back before the per-minute rate applies.",
    )
    import_max_bytes: int = Field(
        default=5 * 1024 * 1024,
        ge=1024,
        le=5 * 1024 * 1024,
        description="Largest CSV accepted by POST /users/{id}/import (413 above).",
    )
    signin_limit_per_minute: float = Field(
        default=5.0,
        ge=0,
        description="Sign-in attempts a minute per username (and four times that per "
        "address), shared by every API process; 0 turns the limit off.",
    )
    signin_limit_burst: int = Field(
        default=5,
        ge=1,
        description="Sign-in attempts per username before the per-minute rate applies "
        "(four times that per address).",
    )
    signup_limit_per_hour: float = Field(
        default=20.0,
        ge=0,
        description="Sign-ups (POST /users) allowed per client address an hour, shared by "
        "every API process (429 above); 0 turns the limit off.",
    )
    signup_limit_burst: int = Field(
        default=20,
        ge=1,
        description="Sign-ups one address may make back to back (a household's worth).",
    )
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Comma-separated addresses or networks of the load balancers whose "
        "X-Forwarded-For names the client (e.g. 10.0.0.0/8). Empty: the header is ignored, "
        "the connecting address is the client.",
    )
    max_ratings_per_user: int = Field(
        default=20_000,
        ge=1,
        description="Most ratings one user may hold (409 above); MovieLens' keenest rater "
        "has under 8,000.",
    )
    sqlite_busy_timeout_ms: int = Field(
        default=SQLITE_BUSY_TIMEOUT_MS,
        ge=0,
        description="How long a write waits for SQLite's lock before answering 503.",
    )
    profile_cache_size: int = Field(
        default=10_000,
        ge=0,
        description="How many users' folded-in profiles and served lists to keep in memory "
        "(0 disables the cache).",
    )
    list_cache_mb: int = Field(
        default=64,
        ge=0,
        description="Memory for served /recommend lists, in MB (0 recomputes every list).",
    )
    llm_url: str | None = Field(
        default=None,
        description="An OpenAI-compatible chat-completions URL that reads /intent and "
        "/recommend?q= requests; unset, the offline parser (ml/text/intent.py) does.",
    )
    llm_key: SecretStr | None = Field(
        default=None,
        description="Bearer key for CINEMATCH_LLM_URL (both must be set to use the LLM).",
    )
    llm_model: str = Field(
        default="gpt-4o-mini",
        description="Model name sent to CINEMATCH_LLM_URL.",
    )
    llm_timeout_s: float = Field(
        default=2.0,
        gt=0,
        le=30,
        description="Whole-exchange deadline for the LLM; past it the offline parser answers.",
    )
    llm_cache_ttl_s: float = Field(
        default=600.0,
        ge=0,
        description="Seconds an LLM reading is reused for the same request (case and blanks "
        "ignored); 0 turns the cache off.",
    )
    llm_limit_per_minute: float = Field(
        default=10.0,
        ge=0,
        description="LLM calls one client address may cause a minute, per API process; past "
        "it the offline parser answers (and says so). 0 turns this limit off.",
    )
    llm_budget_per_minute: float = Field(
        default=60.0,
        ge=0,
        description="LLM calls one API process may make a minute, whoever asks; past it the "
        "offline parser answers (and says so).",
    )
    admin_token: SecretStr | None = Field(
        default=None,
        description="The operator's bearer token for /admin routes (model reload); unset, "
        "those routes do not exist (404).",
    )
    model_watch_s: float = Field(
        default=0.0,
        ge=0,
        description="Every this many seconds, reload the model if CINEMATCH_MODEL_DIR now "
        "points at another folder (a promoted version); 0 turns watching off.",
    )

    @field_validator("cors_origins", "trusted_proxies", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(origin.strip() for origin in value.split(",") if origin.strip())
        return value

    @field_validator("cors_origins")
    @classmethod
    def _no_wildcard(cls, origins: tuple[str, ...]) -> tuple[str, ...]:
        # "*" would answer any site's credentialed requests; list origins explicitly.
        if "*" in origins:
            raise ValueError("CINEMATCH_CORS_ORIGINS must list origins explicitly, not '*'")
        return origins


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (cached: the environment is read once)."""
    return Settings()
