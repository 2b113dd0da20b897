"""Typed service settings, read once from the environment with safe development defaults."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

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
    profile_cache_size: int = Field(
        default=10_000,
        ge=0,
        validation_alias="CINEMATCH_PROFILE_CACHE_SIZE",
        description="How many users' folded-in profiles to keep in memory (0 disables).",
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
