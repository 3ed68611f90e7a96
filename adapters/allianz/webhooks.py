"""Allianz Trade callbacks (design guidelines, H): the header sent with a cover POST and
the notification Allianz posts back.

The callback goes in a header of the POST: a JSON object ``{callbackUrl (https),
timeToLive (hours), extendedNotification}``, stringified, then base64-encoded. The
header's *name* is not public: :data:`~.options.DEFAULT_CALLBACK_HEADER` (SYNTHETIC),
option ``callback_header``. "Technical" notifications say a job finished; "functional"
ones (``extendedNotification``) carry the decision. Allianz calls 1 + 2 retries, 30 s
apart, and only whitelisted domains. No signature scheme is documented: authenticate
the receiving endpoint otherwise (for example a secret in the callback URL's path).

The notification body is SYNTHETIC: ``{jobId, jobStatusCode, resourceUrl,
notificationTypeCode?, customerReference?, cover?}`` (``cover`` shaped like ``GET
covers/{coverId}``). See ``fixtures/allianz/webhook_*.json``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from tci_gateway.adapters.contract import CoverRequestResult
from tci_gateway.adapters.toolkit import unreadable
from tci_gateway.domain.cover import CoverStatus
from tci_gateway.errors import ConfigError, ProtocolError
from tci_gateway.http.jsonexact import dumps, loads

from .mapping import JOB_PENDING, MappingError, map_cover
from .options import DEFAULT_REFERENCE_FIELD, check_callback_url
from .wire import Notification

NOTIFICATION_TYPE_HEADER = "X-Notification-Type"  # SYNTHETIC: technical | functional


def build_callback_header(
    callback_url: str, *, time_to_live_hours: int = 24, extended_notification: bool = True
) -> str:
    """The callback header's value: base64 of ``{"callbackUrl", "timeToLive",
    "extendedNotification"}``. ``callback_url`` must be ``https``."""
    check_callback_url(callback_url)
    if isinstance(time_to_live_hours, bool) or time_to_live_hours <= 0:
        raise ConfigError("the callback timeToLive must be a positive number of hours")
    payload = {
        "callbackUrl": callback_url,
        "timeToLive": int(time_to_live_hours),
        "extendedNotification": bool(extended_notification),
    }
    return base64.b64encode(dumps(payload).encode()).decode("ascii")


def decode_callback_header(value: str) -> dict[str, Any]:
    """The JSON object inside a callback header; ``ValueError`` when it is not one."""
    try:
        decoded = loads(base64.b64decode(value.strip(), validate=True))
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError(f"callback header is not base64 JSON: {exc}") from exc
    if not isinstance(decoded, dict):
        raise ValueError("callback header is not a JSON object")
    url = decoded.get("callbackUrl")
    if not isinstance(url, str):
        raise ValueError("callback header has no callbackUrl")
    try:
        check_callback_url(url)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    ttl = decoded.get("timeToLive")
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl <= 0:
        raise ValueError("callback header timeToLive must be a positive whole number of hours")
    if not isinstance(decoded.get("extendedNotification", False), bool):
        raise ValueError("callback header extendedNotification must be true or false")
    return decoded


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def parse_webhook(
    headers: Mapping[str, str],
    body: bytes | str | Mapping[str, Any],
    *,
    currency: str | None = None,
    status_overrides: Mapping[str, CoverStatus] | None = None,
    reference_field: str = DEFAULT_REFERENCE_FIELD,
    adapter: str = "allianz",
) -> CoverRequestResult:
    """A callback as a :class:`CoverRequestResult` for the job it names.

    A functional notification (with ``cover``) gives the decision, in ``currency`` (the
    policy currency; else the cover's own currency code). A technical one (job id only)
    gives a pending result: poll ``request_status(policy, jobId)``. An unreadable body
    is a :class:`ProtocolError`."""
    ctx: dict[str, Any] = {"adapter": adapter}
    try:
        payload = dict(body) if isinstance(body, Mapping) else loads(body)
        notification = Notification.from_record(payload)
    except (ValueError, UnicodeDecodeError) as exc:  # ValidationError is a ValueError
        raise ProtocolError(f"unreadable callback: {type(exc).__name__}", **ctx) from exc
    reference = payload.get(reference_field)
    client_reference = str(reference) if reference is not None else ""
    kind = (_header(headers, NOTIFICATION_TYPE_HEADER) or "").strip().lower()
    job_status = (notification.jobStatusCode or "processed").strip().casefold()
    cover = notification.cover
    if kind == "technical" or cover is None or job_status in JOB_PENDING:
        return CoverRequestResult(client_reference, notification.jobId, pending=True)
    limits = cover.limits
    agg = cover.creditLimitsAggregation
    own = next((lim.currencyCode for lim in limits if lim.currencyCode), None)
    target = currency or own or (agg.currencyCode if agg is not None else None)
    if target is None:
        raise ProtocolError("the callback's cover has no currency: pass currency=", **ctx)
    with unreadable("unreadable cover in the callback", adapter=adapter, also=(MappingError,)):
        decision = map_cover(cover, target.upper(), status_overrides=status_overrides)
    return CoverRequestResult(
        client_reference, notification.jobId, pending=False, decision=decision
    )
