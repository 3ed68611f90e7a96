"""The Coface HTTP client: :class:`~tci_gateway.http.client.ApiClient` with the Coface
auth (:class:`.auth.CofaceAuth`), the contract-number header and the error envelope.

Every call sends ``Authorization: <idToken>``, ``x-api-key`` and, when a contract is in
scope, ``x-cof-policy-number`` (names per :mod:`.options`). Errors come in a SYNTHETIC
envelope ``{"error": {code, message, details}}`` or, from the API gateway in front, as
``{"message": ...}``; both fill :class:`~tci_gateway.http.client.ParsedError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from tci_gateway.http.client import ApiClient, ApiResponse, ParsedError

from .auth import CofaceAuth, parse_envelope
from .options import CofaceOptions


class CofaceClient(ApiClient):
    """:class:`ApiClient` with the Coface error envelope and the contract-number header
    (signed by :class:`.auth.CofaceAuth`, which holds the adapter's options)."""

    @property
    def options(self) -> CofaceOptions:
        """The adapter's options (those of its auth)."""
        if not isinstance(self.auth, CofaceAuth):
            raise TypeError("a Coface client is signed by CofaceAuth")
        return self.auth.options

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        idempotent: bool | None = None,
        client_reference: str | None = None,
        headers: Mapping[str, str] | None = None,
        policy_number: str | None = None,
    ) -> ApiResponse:
        """:meth:`ApiClient.request` with ``policy_number`` sent as the contract-number
        header (on the login too, when one is needed)."""
        if policy_number:
            headers = {**(headers or {}), self.options.policy_header: policy_number}
        return super().request(
            method,
            path,
            params=params,
            json_body=json_body,
            idempotent=idempotent,
            client_reference=client_reference,
            headers=headers,
        )

    def read_error_envelope(self, payload: Any, fallback: str) -> ParsedError:
        """Read the error envelope; the reason phrase when there is none."""
        return parse_envelope(payload, fallback)

    def validate_response(self, response: httpx.Response, payload: Any) -> None:
        """An ``error`` member in a 2xx body is a refusal."""
        self.refuse_embedded_error(response, payload, "error")
