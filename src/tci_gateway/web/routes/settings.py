"""A person's alert settings (``/settings/alerts``): where their messages go (an e-mail
address, a chat webhook URL), on which channels, digest and/or immediate messages, and
which policies, buyer tiers and alert kinds they follow (none ticked under "all" means
only those ticked; "all" includes ones added later). Saved with the person's own form
(CSRF-checked, any role) and audited as ``web_preferences_changed``.

A chat webhook URL is a secret (whoever has it may post to the channel): the page never
shows it back, only its host; leaving the field empty keeps it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tci_gateway.api.context import ApiContext, Ctx
from tci_gateway.api.routes.subscriptions import check_url
from tci_gateway.domain.alerts import AlertKind
from tci_gateway.http.addresses import non_public_addresses
from tci_gateway.ledger import notifications as sql
from tci_gateway.ledger.users import SignedIn, set_contact
from tci_gateway.ledger.web_tables import NotificationPreferenceRow
from tci_gateway.services.notify import kind_label
from tci_gateway.services.notify_send import safe_url
from tci_gateway.services.webhooks import SubscriptionError
from tci_gateway.web import audit
from tci_gateway.web.render import page
from tci_gateway.web.session import Member, Viewer

router = APIRouter()
PATH = "/settings/alerts"
_EMAIL = re.compile(r"^[^@\s<>\"(),;:]+@[^@\s<>\"(),;:]+\.[^@\s<>\"(),;:]+$")


def check_webhook_url(url: str, *, allow_private: bool = False) -> str | None:
    """Why ``url`` cannot be a chat webhook (``None``: it can): the API's rule for ERP
    webhook URLs (https, or plain http to a loopback host; no credentials, no fragment),
    and, unless ``allow_private`` (``[notify] private_chat_webhooks``), a host that
    resolves to public addresses only."""
    try:
        check_url(url)
    except SubscriptionError as exc:
        return f"The chat webhook URL is refused: {exc.reason}."
    private = [] if allow_private else non_public_addresses(url)
    if private:
        return (
            f"The chat webhook URL is refused: its host resolves to a non-public address "
            f"({', '.join(private)}); a chat server inside the network needs "
            "[notify] private_chat_webhooks = true."
        )
    return None


def _choices(ctx: ApiContext) -> dict[str, list[tuple[str, str]]]:
    settings = ctx.settings
    tiers = set(settings.escalation.tiers) | {settings.escalation.default_tier}
    return {
        "policies": [(key, key) for key in sorted(settings.policies)],
        "tiers": [(t, t) for t in sorted(tiers)],
        "kinds": [(k.value, kind_label(k.value)) for k in AlertKind],
    }


def _view(prefs: NotificationPreferenceRow | None) -> dict[str, Any]:
    if prefs is None:  # the defaults of a person who never saved
        return {
            "email": False,
            "chat": False,
            "digest": True,
            "immediate": True,
            "policies": None,
            "tiers": None,
            "kinds": None,
        }
    return {
        "email": prefs.email,
        "chat": prefs.chat,
        "digest": prefs.digest,
        "immediate": prefs.immediate,
        "policies": prefs.policies,
        "tiers": prefs.tiers,
        "kinds": prefs.kinds,
    }


def _render(
    request: Request,
    ctx: Ctx,
    me: SignedIn,
    *,
    prefs: dict[str, Any] | None = None,
    email: str | None = None,
    errors: Sequence[str] = (),
    saved: bool = False,
) -> HTMLResponse:
    with ctx.ledger.reading() as session:
        stored = _view(sql.get_preferences(session, me.user.id))
        messages = sql.recent(session, me.user.id, 10)
        shown = [
            {
                "subject": m.subject,
                "channel": m.channel.value,
                "state": m.state.value,
                "attempts": m.attempts,
                "error": m.last_error or "",
                "at": m.sent_at or m.created_at,
            }
            for m in messages
        ]
    webhook = me.user.chat_webhook_url
    return page(
        request,
        "settings_alerts.html",
        me,
        status_code=422 if errors else 200,
        title="Alert settings",
        prefs=prefs or stored,
        address=me.user.email if email is None else email,
        webhook=safe_url(webhook) if webhook else "",
        choices=_choices(ctx),
        immediate_kinds=[kind_label(k) for k in ctx.settings.notify.immediate_kinds],
        smtp_configured=bool(ctx.settings.notify.smtp_host),
        errors=list(errors),
        saved=saved,
        messages=shown,
    )


@router.get(PATH, response_class=HTMLResponse)
def alert_settings(request: Request, ctx: Ctx, me: Viewer, saved: int = 0) -> Response:
    """The signed-in person's alert settings and their latest messages."""
    return _render(request, ctx, me, saved=bool(saved))


def _chosen(
    every: str | None, picked: list[str], allowed: Sequence[tuple[str, str]]
) -> list[str] | None:
    """``None`` (every one, also future ones) when "all" is ticked, else the ticked ones
    that exist."""
    if every:
        return None
    known = {value for value, _ in allowed}
    return [v for v in dict.fromkeys(picked) if v in known]


Flag = Annotated[str | None, Form()]
Picks = Annotated[list[str], Form()]


@router.post(PATH)
def save_alert_settings(
    request: Request,
    ctx: Ctx,
    me: Member,
    email: Annotated[str, Form(max_length=400)] = "",
    chat_webhook_url: Annotated[str, Form(max_length=4096)] = "",
    clear_chat_webhook: Flag = None,
    channel_email: Flag = None,
    channel_chat: Flag = None,
    digest: Flag = None,
    immediate: Flag = None,
    all_policies: Flag = None,
    all_tiers: Flag = None,
    all_kinds: Flag = None,
    policies: Picks = [],  # noqa: B006 (FastAPI copies defaults)
    tiers: Picks = [],  # noqa: B006
    kinds: Picks = [],  # noqa: B006
) -> Response:
    """Save the person's alert settings (their own form), audited."""
    choices = _choices(ctx)
    email = email.strip()
    webhook = chat_webhook_url.strip()
    prefs = {
        "email": bool(channel_email),
        "chat": bool(channel_chat),
        "digest": bool(digest),
        "immediate": bool(immediate),
        "policies": _chosen(all_policies, policies, choices["policies"]),
        "tiers": _chosen(all_tiers, tiers, choices["tiers"]),
        "kinds": _chosen(all_kinds, kinds, choices["kinds"]),
    }
    errors: list[str] = []
    if email and (len(email) > 320 or not _EMAIL.match(email)):
        errors.append(f"{email!r} is not an e-mail address (name@example.com).")
    allow_private = ctx.settings.notify.private_chat_webhooks
    if webhook and (problem := check_webhook_url(webhook, allow_private=allow_private)):
        errors.append(problem)
    if errors:
        return _render(request, ctx, me, prefs=prefs, email=email, errors=errors)
    url = None if clear_chat_webhook else (webhook or me.user.chat_webhook_url)
    with ctx.ledger.unit_of_work() as session:
        set_contact(session, me.user.id, email=email or None, chat_webhook_url=url)
        sql.save_preferences(session, me.user.id, now=ctx.now(), **prefs)
        audit.record(
            session,
            ctx,
            request,
            me,
            "web_preferences_changed",
            {
                **prefs,
                "email_address": "set" if email else "none",
                "chat_webhook": safe_url(url) if url else "none",
            },
        )
    return RedirectResponse(f"{PATH}?saved=1", status_code=303)
