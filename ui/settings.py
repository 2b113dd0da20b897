"""Where the UI reads its configuration: the environment first, then ``st.secrets``.

The environment wins so that a deployment (or a test) can override a value without editing
``.streamlit/secrets.toml``; the secrets file is the convenient place for a hosted app.
"""

from __future__ import annotations

import os

import streamlit as st


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
