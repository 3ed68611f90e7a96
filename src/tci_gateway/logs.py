"""Structured logging with structlog, and the redaction every line goes through.

Events are snake_case facts (``limit_sync_finished``) with bound context (``run_id``,
``adapter``, ``policy``). Output goes to stderr: console rendering for people, JSON for
machines. Before rendering, :func:`redact` scrubs

* values under secret-looking keys (``authorization``, ``password``, ``*_token``, ...),
* every secret value registered with :func:`register_secret` (configured credentials
  and tokens obtained at run time), wherever it appears in a string,
* ``Bearer``/``Basic`` credentials, ``Authorization:``/``X-Api-Key:`` header lines,
  ``password=...``/``access_token=...`` pairs and JSON members such as
  ``"client_secret": "..."`` in free text (e.g. a token endpoint's body in an error),

and escapes CR/LF so one event is one line. Standard-library loggers (httpx, alembic)
are routed through the same chain. The rendered line is scrubbed once more for
registered secrets, which catches values that are not strings (bytes, URLs, objects
whose ``repr`` holds a secret). :func:`redact_text` applies the same scrubbing to
error messages shown to the user.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

import structlog

REDACTED = "***"

_SECRET_KEY_RE = re.compile(
    r"(authorization|password|passwd|secret|token|api[_-]?key|app[_-]?key|cookie|credential)",
    re.IGNORECASE,
)
_AUTH_RE = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
# The gateway's own API keys (tci_<key id>_<secret>): the secret half, wherever it is.
_API_KEY_RE = re.compile(r"\b(tci_[0-9a-f]{12}_)[A-Za-z0-9_-]{16,}")
# An insurer callback URL's token (/v1/hooks/<insurer>/<token>): it authenticates the hook.
_HOOK_PATH_RE = re.compile(r"(/v1/hooks/[^/\s?#]+/)([^/\s?#\"']+)")
# Names whose value is a secret, as they appear inside free text.
_SENSITIVE_NAMES = (
    r"(?:password|passwd|pwd|secret|token|api[_-]?key|app[_-]?key|authorization|cookie"
    r"|credential|signature)"
)
# password=..., access_token=... (query strings, form bodies, connection strings).
_PAIR_RE = re.compile(
    rf"((?<![\w-])[\w-]{{0,64}}{_SENSITIVE_NAMES}[\w-]{{0,64}}[ \t]*=[ \t]*[\"']?)"
    r"([^\s&\"'\\,;<>]+)",
    re.IGNORECASE,
)
# "client_secret": "...", 'access_token': '...' (JSON bodies, Python reprs).
_MEMBER_RE = re.compile(
    rf"""(["'][\w-]{{0,64}}{_SENSITIVE_NAMES}[\w-]{{0,64}}["']\s*:\s*(["']))((?:(?!\2).)*)(?=\2)""",
    re.IGNORECASE,
)
# Authorization: Token abc / X-Api-Key: abc (header lines in free text).
_HEADER_RE = re.compile(
    r"((?<![\w-])(?:(?:proxy-)?authorization|x-api-key|api-key|x-auth-token|cookie)\s*:\s*"
    r"(?:(?:bearer|basic|token|digest|negotiate|apikey)\s+)?)([^\s\"',;]+)",
    re.IGNORECASE,
)
# scheme://user:password@host (database and proxy URLs).
_USERINFO_RE = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s:@]*:)([^@\s/]+)(@)", re.IGNORECASE)
_MIN_SECRET_LEN = 4

_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Make ``value`` unprintable: it is replaced in every log line and user message."""
    if value and len(value) >= _MIN_SECRET_LEN:
        with _secrets_lock:
            _secrets.add(value)


def _redact_known(text: str) -> str:
    """Scrub registered secrets and ``Bearer``/``Basic`` credentials."""
    with _secrets_lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = _API_KEY_RE.sub(lambda m: m.group(1) + REDACTED, text)
    text = _HOOK_PATH_RE.sub(lambda m: m.group(1) + REDACTED, text)
    return _AUTH_RE.sub(lambda m: f"{m.group(1)} {REDACTED}", text)


def redact_text(text: str) -> str:
    """Scrub registered secrets, auth headers and secret-named pairs from free text."""
    text = _redact_known(text)
    text = _HEADER_RE.sub(lambda m: m.group(1) + REDACTED, text)
    text = _MEMBER_RE.sub(lambda m: m.group(1) + REDACTED, text)
    text = _USERINFO_RE.sub(lambda m: m.group(1) + REDACTED + m.group(3), text)
    return _PAIR_RE.sub(lambda m: m.group(1) + REDACTED, text)


def _one_line(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")


def _scrub(value: Any, key: str | None = None) -> Any:
    if key is not None and _SECRET_KEY_RE.search(key) and value not in (None, "", {}):
        return REDACTED
    if isinstance(value, str):
        return _one_line(redact_text(value))
    if isinstance(value, Mapping):
        return {k: _scrub(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_scrub(v) for v in value]
    if isinstance(value, BaseException):
        return _one_line(redact_text(f"{type(value).__name__}: {value}"))
    return value


def redact(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Any:
    """structlog processor: scrub secrets from every field of the event."""
    for key in list(event_dict):
        if key == "exception" and isinstance(event_dict[key], str):
            # Tracebacks keep their line breaks for people; secrets still go.
            event_dict[key] = redact_text(event_dict[key])
            continue
        event_dict[key] = _scrub(event_dict[key], key if key != "event" else None)
    return event_dict


def _redacting(renderer: Any) -> Any:
    """Wrap a renderer so the rendered line is scrubbed of registered secrets too."""

    def render(logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> Any:
        out = renderer(logger, method, event_dict)
        return _redact_known(out) if isinstance(out, str) else out

    return render


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact,
    ]


LOG_LEVELS = ("debug", "info", "warning", "error")
"""The levels ``--log-level`` and ``[logging] level`` accept."""


def configure_logging(
    fmt: str = "console", level: str = "info", stream: TextIO | None = None
) -> None:
    """Configure structlog and the standard library to write to ``stream`` (stderr).

    Tracebacks are rendered as plain text by ``format_exc_info`` and scrubbed like any
    other field: never rich's pretty tracebacks, which print local variables (a
    settings object holding the database password, a token)."""
    if level.lower() not in LOG_LEVELS:
        raise ValueError(f"log level {level!r} is not one of {', '.join(LOG_LEVELS)}")
    if fmt not in ("console", "json"):
        raise ValueError(f"log format {fmt!r} is neither console nor json")
    out = stream if stream is not None else sys.stderr
    renderer: Any
    if fmt == "json":
        renderer = _redacting(structlog.processors.JSONRenderer())
    else:
        renderer = _redacting(
            structlog.dev.ConsoleRenderer(
                colors=False, exception_formatter=structlog.dev.plain_traceback
            )
        )
    numeric = logging.getLevelNamesMapping()[level.upper()]
    structlog.configure(
        processors=[*_shared_processors(), renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=_shared_processors(),
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    for noisy in ("httpx", "httpcore", "alembic"):
        logging.getLogger(noisy).setLevel(max(numeric, logging.WARNING))


def get_logger(**context: Any) -> Any:
    """A structlog logger with ``context`` bound."""
    return structlog.get_logger("tci").bind(**context)
