"""What every part of the Allianz adapter shares: options, routes, the policy triple,
paging, reading one cover, and the callback (webhook) helpers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from tci_gateway.adapters.contract import CoverRequestResult, PolicyRef
from tci_gateway.adapters.toolkit import Pages, unreadable
from tci_gateway.domain.cover import CoverDecision
from tci_gateway.errors import ConfigError

from .http_client import AllianzClient
from .mapping import MappingError, map_cover
from .options import AllianzOptions
from .portfolio import SearchPaginator, page_records
from .webhooks import build_callback_header, parse_webhook
from .wire import Cover


class AllianzBase:
    """Shared state and helpers of :class:`.client.AllianzAdapter`."""

    def __init__(
        self,
        name: str,
        client: AllianzClient,
        *,
        options: AllianzOptions | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.name = name
        self.client = client
        self.options = options or AllianzOptions()
        self.clock = clock

    @property
    def paths(self) -> Mapping[str, str]:
        """The route table in use (logical name -> path)."""
        return self.options.paths

    def policy_body(self, policy: PolicyRef) -> dict[str, str]:
        """The policy triple from ``external_ref``: ``business_unit_code`` (or the
        option of that name), ``policy_id`` and the optional ``extension_id``. A missing
        one is a :class:`ConfigError`."""
        ref = policy.external_ref
        unit = ref.get("business_unit_code") or self.options.business_unit_code
        policy_id = ref.get("policy_id")
        if not unit or not policy_id:
            missing = [
                n for n, v in (("business_unit_code", unit), ("policy_id", policy_id)) if not v
            ]
            raise ConfigError(
                f"policy {policy.key!r}: Allianz Trade needs {' and '.join(missing)} in the "
                "policy's external_ref (business_unit_code may also be set as the insurer "
                "option business_unit_code; extension_id is optional)"
            )
        body = {"businessUnitCode": unit, "policyId": policy_id}
        if ref.get("extension_id"):
            body["extensionId"] = ref["extension_id"]
        return body

    def pager(self, route: str, body: Mapping[str, Any]) -> Pages:
        """The pages of the search at ``route`` (an idempotent POST of ``body``) with the
        configured paging."""
        opts = self.options
        return Pages(
            self.client,
            self.paths[route],
            SearchPaginator(opts.page_size, opts.first_page),
            method="POST",
            json_body=body,
            records=lambda response: page_records(response.payload),
            max_pages=opts.max_pages,
            idempotent=True,
        )

    def read_cover(self, policy: PolicyRef, cover_id: str) -> CoverDecision:
        """``GET covers/{coverId}`` as a decision in the policy currency."""
        path = self.paths["cover"].replace("{coverId}", quote(cover_id, safe=""))
        response = self.client.request("GET", path)
        message = f"unreadable cover {cover_id}"
        with unreadable(message, adapter=self.name, response=response, also=(MappingError,)):
            cover = Cover.from_record(response.payload)
            return map_cover(
                cover,
                policy.currency,
                status_overrides=self.options.status_overrides,
                observed_at=self.clock(),
            )

    # -- webhooks -----------------------------------------------------------------------

    def callback_headers(self, callback_url: str | None = None) -> dict[str, str]:
        """The callback header for cover POSTs, to ``callback_url`` (the gateway's URL
        for this request) or else the ``callback_url`` option; empty without either."""
        opts = self.options
        url = callback_url or opts.callback_url
        if not url:
            return {}
        value = build_callback_header(
            url,
            time_to_live_hours=opts.callback_ttl_hours,
            extended_notification=opts.callback_extended,
        )
        return {opts.callback_header: value}

    def parse_webhook(
        self,
        headers: Mapping[str, str],
        body: bytes | str | Mapping[str, Any],
        currency: str | None = None,
    ) -> CoverRequestResult:
        """A callback as a result (see :func:`.webhooks.parse_webhook`): functional ->
        the decision; technical -> pending, poll :meth:`request_status` with the job id."""
        return parse_webhook(
            headers,
            body,
            currency=currency,
            status_overrides=self.options.status_overrides,
            reference_field=self.options.reference_field,
            adapter=self.name,
        )

    def close(self) -> None:
        """Close the HTTP client."""
        self.client.close()
