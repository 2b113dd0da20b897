"""Structured logs: one JSON object per line on stderr, tagged with the request id, never a token.

Every record the API process writes (its own, and uvicorn's once the app is imported) is
``{"ts", "level", "logger", "msg", "request_id", ...extra fields}``; the request id (the one
``X-Request-ID`` carries) reaches records logged anywhere during the request, threadpool
included, through a context variable. No code logs headers or bodies, and as a second line
of defence the formatter masks anything shaped like ``Bearer <token>`` or ``token=<value>``.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

#: The id of the request being served by the current task or thread, if any.
request_id_var: ContextVar[str | None] = ContextVar("cinematch_request_id", default=None)

ACCESS_LOGGER = "api.access"

_BEARER = re.compile(r"(?i)\b(bearer\s+)[^\s\"',;]+")
_SECRET_PARAMETER = re.compile(
    r"(?i)\b((?:access_|refresh_|id_)?token|api_key|apikey|secret|password)=[^&\s\"',;]+"
)
_BLANK_RECORD = logging.LogRecord("", logging.INFO, "", 0, "", None, None)
#: Attributes every record has (and uvicorn's coloured copy of the message); any other
#: attribute was passed as ``extra=`` and becomes a field of the JSON line.
_RECORD_ATTRIBUTES = frozenset(vars(_BLANK_RECORD)) | {"message", "color_message", "taskName"}


def redact(text: str) -> str:
    """``text`` with bearer credentials and secret-looking parameters masked."""
    text = _BEARER.sub(r"\1[redacted]", text)
    return _SECRET_PARAMETER.sub(r"\1=[redacted]", text)


class JsonFormatter(logging.Formatter):
    """Render a record as one line of JSON (newlines in tracebacks stay escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and key not in entry:
                entry[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: int = logging.INFO) -> None:
    """Make the process log JSON lines to stderr (idempotent): a JSON handler on the root
    logger unless logging is already configured (pytest, ``--log-config``), JSON for uvicorn's
    handlers, and our access line (with request id and duration) instead of uvicorn's,
    following its ``--log-level`` and ``--no-access-log``."""
    root = logging.getLogger()
    if not root.handlers:
        stderr = logging.StreamHandler(sys.stderr)
        stderr.setFormatter(JsonFormatter())
        root.addHandler(stderr)
        root.setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error"):
        for handler in logging.getLogger(name).handlers:
            handler.setFormatter(JsonFormatter())
    uvicorn_access = logging.getLogger("uvicorn.access")
    # uvicorn --no-access-log leaves its access logger with no handlers and no propagation.
    access_wanted = bool(uvicorn_access.handlers) or uvicorn_access.propagate
    access = logging.getLogger(ACCESS_LOGGER)
    access.disabled = not access_wanted
    access.setLevel(uvicorn_access.level or logging.INFO)
    uvicorn_access.disabled = True
    logging.getLogger("api").setLevel(level)
