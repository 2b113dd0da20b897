"""Typed service settings, read once from the environment with safe development defaults."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from db.session import SQLITE_BUSY_TIMEOUT_MS

DEFAULT_CORS_ORIGINS = ("http://localhost:8501", "http://127.0.0.1:8501")


class Settings(BaseSettings):
    """Everything that differs between a laptop, the test suite and the container."""

    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore")

    model_dir: Path = Field(
        default=Path("models"),
        validation_alias="CINEMATCH_MODEL_DIR",
        description="Directory of the trained artifact (manifest.json and arrays).",
    )
    database_url: str = Field(
        default="sqlite:///data/cinematch.db",
        validation_alias="DATABASE_URL",
        description="Any SQLAlchemy URL; a SQLite file's directory is created on start.",
    )
    cors_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        default=DEFAULT_CORS_ORIGINS,
        validation_alias="CINEMATCH_CORS_ORIGINS",
        description="Comma-separated browser origins allowed to call the API.",
    )
    max_body_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        validation_alias="CINEMATCH_MAX_BODY_BYTES",
        description="Largest request body accepted (413 above); 200 ratings take about 8 kB.",
    )
    write_limit_per_minute: float = Field(
        default=60.0,
        ge=0,
        validation_alias="CINEMATCH_WRITE_LIMIT_PER_MINUTE",
        description="Sustained writes (POST /rate, DELETE) allowed per user a minute, per "
        "worker process (429 above); 0 turns the limit off.",
    )
    write_limit_burst: int = Field(
        default=30,
        ge=1,
        validation_alias="CINEMATCH_WRITE_LIMIT_BURST",
        description="Writes a user may make back to back before the per-minute rate applies.",
    )
    import_max_bytes: int = Field(
        default=5 * 1024 * 1024,
        ge=1024,
        le=5 * 1024 * 1024,
        validation_alias="CINEMATCH_IMPORT_MAX_BYTES",
        description="Largest CSV accepted by POST /users/{id}/import (413 above).",
    )
    signin_limit_per_minute: float = Field(
        default=5.0,
        ge=0,
        validation_alias="CINEMATCH_SIGNIN_LIMIT_PER_MINUTE",
        description="Sign-in attempts a minute per username (and four times that per "
        "address), per worker process; 0 turns the limit off.",
    )
    signin_limit_burst: int = Field(
        default=5,
        ge=1,
        validation_alias="CINEMATCH_SIGNIN_LIMIT_BURST",
        description="Sign-in attempts per username before the per-minute rate applies "
        "(four times that per address).",
    )
    sqlite_busy_timeout_ms: int = Field(
        default=SQLITE_BUSY_TIMEOUT_MS,
        ge=0,
        validation_alias="CINEMATCH_SQLITE_BUSY_TIMEOUT_MS",
        description="How long a write waits for SQLite's lock before answering 503.",
    )
    profile_cache_size: int = Field(
        default=10_000,
        ge=0,
        validation_alias="CINEMATCH_PROFILE_CACHE_SIZE",
        description="How many users' folded-in profiles and served lists to keep in memory "
        "(0 disables the cache).",
    )
    list_cache_mb: int = Field(
        default=64,
        ge=0,
        validation_alias="CINEMATCH_LIST_CACHE_MB",
        description="Memory for served /recommend lists, in MB (0 recomputes every list).",
    )
    llm_url: str | None = Field(
        default=None,
        validation_alias="CINEMATCH_LLM_URL",
        description="An OpenAI-compatible chat-completions URL that reads /intent and "
        "/recommend?q= requests; unset, the offline parser (ml/intent.py) does.",
    )
    llm_key: SecretStr | None = Field(
        default=None,
        validation_alias="CINEMATCH_LLM_KEY",
        description="Bearer key for CINEMATCH_LLM_URL (both must be set to use the LLM).",
    )
    llm_model: str = Field(
        default="gpt-4o-mini",
        validation_alias="CINEMATCH_LLM_MODEL",
        description="Model name sent to CINEMATCH_LLM_URL.",
    )
    llm_timeout_s: float = Field(
        default=2.0,
        gt=0,
        le=30,
        validation_alias="CINEMATCH_LLM_TIMEOUT_S",
        description="Whole-exchange deadline for the LLM; past it the offline parser answers.",
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(origin.strip() for origin in value.split(",") if origin.strip())
        return value

    @field_validator("cors_origins")
    @classmethod
    def _no_wildcard(cls, origins: tuple[str, ...]) -> tuple[str, ...]:
        # The seed service answered any site's credentialed requests; list origins explicitly.
        if "*" in origins:
            raise ValueError("CINEMATCH_CORS_ORIGINS must list origins explicitly, not '*'")
        return origins


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (cached: the environment is read once)."""
    return Settings()
