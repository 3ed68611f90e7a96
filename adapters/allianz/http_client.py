"""The Allianz Trade HTTP client: :class:`~tci_gateway.http.client.ApiClient` with the
Allianz auth (:class:`.auth.AllianzAuth`) and its error envelope
(:func:`.auth.parse_envelope`). The callback header of cover POSTs (:mod:`.webhooks`)
goes in ``request(..., headers=...)``.

Every call sends ``Authorization: Bearer <token>`` and ``X-Correlation-Id``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

from tci_gateway.http.client import ApiClient, ParsedError

from .auth import parse_envelope

__all__ = ["AllianzClient", "cover_id_from_url"]


class AllianzClient(ApiClient):
    """:class:`ApiClient` with the Allianz error envelope (built with
    :meth:`ApiClient.from_context` and :class:`.auth.AllianzAuth`)."""

    def read_error_envelope(self, payload: Any, fallback: str) -> ParsedError:
        """Read ``{"errors": [{code, message, field}]}`` or ``{"message"}``."""
        return parse_envelope(payload, fallback)

    def validate_response(self, response: httpx.Response, payload: Any) -> None:
        """A non-empty ``errors`` list in a 2xx body is a refusal."""
        self.refuse_embedded_error(response, payload, "errors")


def cover_id_from_url(url: str | None) -> str | None:
    """The cover id at the end of a job's ``resourceUrl`` (absolute or a path). The
    adapter reads the cover through its own configured route, never the URL's host."""
    if not url:
        return None
    segment = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    return segment if segment and segment.replace("-", "").replace("_", "").isalnum() else None
