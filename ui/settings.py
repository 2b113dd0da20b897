"""Where the UI reads its configuration: the environment first, then ``st.secrets``.

The environment wins so that a deployment (or a test) can override a value without editing
``.streamlit/secrets.toml``; the secrets file is the convenient place for a hosted app.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import streamlit as st

DEFAULT_API_URL = "http://127.0.0.1:8000"
DEFAULT_TMDB_API_BASE = "https://api.themoviedb.org/3"


@dataclass(frozen=True)
class UiSetting:
    """One variable the UI reads (``docs/configuration.md`` is generated from these)."""

    name: str
    default: str | None
    description: str


UI_SETTINGS = (
    UiSetting("CINEMATCH_API_URL", DEFAULT_API_URL, "The API the app calls (HTTP only)."),
    UiSetting("CINEMATCH_CACHE_DIR", None, "Folder of the poster cache (posters.json); unset: "
              "~/.cache/cinematch."),
    UiSetting("TMDB_API_KEY", None, "TMDB v3 API key for posters; without it (or a read "
              "token) every poster is drawn locally."),
    UiSetting("TMDB_READ_TOKEN", None, "TMDB v4 read access token, instead of the key."),
    UiSetting("TMDB_API_BASE", DEFAULT_TMDB_API_BASE, "TMDB's API address."),
)


def read_setting(name: str, default: str | None = None) -> str | None:
    """Return the setting ``name`` from the environment or ``st.secrets``, else ``default``.

    Empty strings count as unset, so ``TMDB_API_KEY=`` in a shell disables the key instead of
    sending an empty one to TMDB.
    """
    value = os.environ.get(name, "").strip()
    if value:
        return value
    try:
        secret = st.secrets.get(name)
    except FileNotFoundError:  # no secrets.toml at all: a normal local setup
        secret = None
    if secret is not None and str(secret).strip():
        return str(secret).strip()
    return default
