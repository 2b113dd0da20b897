"""The database layer's one setting: ``DATABASE_URL``, read here and nowhere else (the API's
settings extend this class; ``python -m db.migrate``, ``db.app_ratings`` and ``alembic`` build it).
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///data/cinematch.db"


class DatabaseSettings(BaseSettings):
    """Where the ratings, users and tokens live."""

    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore")

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        validation_alias="DATABASE_URL",
        description="Any SQLAlchemy URL; a SQLite file's directory is created on start.",
    )
