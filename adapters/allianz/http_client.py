"""The Allianz Trade HTTP client: :class:`~tci_gateway.http.client.ApiClient` with the
Allianz auth (:class:`.auth.AllianzAuth`), its error envelope (:func:`.auth.parse_envelope`)
and per-call extra headers (the callback header of cover POSTs, see :mod:`.webhooks`).

Every call sends ``Authorization: Bearer <token>`` and ``X-Correlation-Id``.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

import httpx

from tci_gateway.errors import ProtocolError, RejectedError
from tci_gateway.http.auth import TokenCache
from tci_gateway.http.client import ApiClient, ApiResponse, ParsedError, Timeouts
from tci_gateway.http.retry import RetryPolicy

from .auth import AllianzAuth, parse_envelope

__all__ = ["AllianzClient", "cover_id_from_url"]

_EXTRA_HEADERS: ContextVar[tuple[str, str, tuple[tuple[str, str], ...]] | None] = ContextVar(
    "allianz_extra_headers", default=None
)


class AllianzClient(ApiClient):
    """:class:`ApiClient` with the Allianz auth and error envelope, and per-call extra
    headers (the callback header of cover POSTs)."""

    def __init__(
        self,
        *,
        adapter: str,
        base_url: str,
        environment: str,
        api_key: str,
        token_path: str,
        transport: httpx.BaseTransport | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        token_cache: TokenCache | None = None,
    ) -> None:
        auth = AllianzAuth(
            adapter=adapter,
            environment=environment,
            base_url=base_url,
            api_key=api_key,
            token_path=token_path,
            cache=token_cache,
        )
        super().__init__(
            adapter=adapter,
            base_url=base_url,
            auth=auth,
            transport=transport,
            timeouts=timeouts,
            retry=retry,
        )
        hooks = self._http.event_hooks
        hooks["request"] = [*hooks.get("request", []), self._add_extra_headers]
        self._http.event_hooks = hooks

    def read_error_envelope(self, payload: Any, fallback: str) -> ParsedError:
        """Read ``{"errors": [{code, message, field}]}`` or ``{"message"}``."""
        return parse_envelope(payload, fallback)

    def validate_response(self, response: httpx.Response, payload: Any) -> None:
        """A non-empty ``errors`` list in a 2xx body is a refusal."""
        if isinstance(payload, dict) and payload.get("errors"):
            ctx: dict[str, Any] = {
                "adapter": self.adapter,
                "status": response.status_code,
                "correlation_id": response.request.headers.get(self.correlation_header),
                "body": response.text,
            }
            try:
                parsed = parse_envelope(payload, "error in a successful answer")
            except ValueError:
                raise ProtocolError("unreadable errors in a successful answer", **ctx) from None
            raise RejectedError(parsed.message, code=parsed.code, details=parsed.details, **ctx)

    def request_with_headers(
        self, method: str, path: str, headers: Mapping[str, str], **kwargs: Any
    ) -> ApiResponse:
        """:meth:`request` with extra headers on this call only (not the token call)."""
        token = _EXTRA_HEADERS.set((method.upper(), path, tuple(headers.items())))
        try:
            return self.request(method, path, **kwargs)
        finally:
            _EXTRA_HEADERS.reset(token)

    @staticmethod
    def _add_extra_headers(request: httpx.Request) -> None:
        extra = _EXTRA_HEADERS.get()
        if extra is None:
            return
        method, path, headers = extra
        if request.method == method and request.url.path.endswith(path):
            for name, value in headers:
                request.headers[name] = value


def cover_id_from_url(url: str | None) -> str | None:
    """The cover id at the end of a job's ``resourceUrl`` (absolute or a path). The
    adapter reads the cover through its own configured route, never the URL's host."""
    if not url:
        return None
    segment = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    return segment if segment and segment.replace("-", "").replace("_", "").isalnum() else None
