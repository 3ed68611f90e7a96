"""The periodic work of alerts sent to people, in every serving process: the immediate
alert enqueuer (new alerts since the ``notify:alerts`` cursor) and the outbox relay
(e-mail over SMTP, chat webhooks), both every ``[notify] interval_seconds``. Both are safe
in several processes at once (the cursor's row lock, claims on outbox rows)."""

from __future__ import annotations

import os
from typing import Any

import httpx

from tci_gateway.api.background import PeriodicTask
from tci_gateway.api.context import ApiContext
from tci_gateway.config import NotifySettings, Settings
from tci_gateway.logs import get_logger
from tci_gateway.services import notify, notify_send

ENQUEUE_TASK = "notify-alerts"
RELAY_TASK = "notify-relay"


def compose_options(settings: Settings) -> notify.ComposeOptions:
    """What composing messages needs from the configuration."""
    return notify.ComposeOptions(
        immediate_kinds=frozenset(settings.notify.immediate_kinds),
        default_tier=settings.escalation.default_tier,
        workspace_url=settings.api.public_url,
    )


def smtp_options(conf: NotifySettings) -> notify_send.SmtpOptions:
    """The SMTP options, credentials read from the environment now."""
    return notify_send.SmtpOptions(
        host=conf.smtp_host,
        port=conf.smtp_port,
        starttls=conf.starttls,
        username=os.environ.get(conf.smtp_username_env) or None,
        password=os.environ.get(conf.smtp_password_env) or None,
        from_address=conf.from_address,
        timeout=conf.timeout_seconds,
    )


def relay_options(conf: NotifySettings, instance: str) -> notify_send.RelayOptions:
    return notify_send.RelayOptions(
        instance=(instance or "tci")[:64],
        max_attempts=conf.max_attempts,
        backoff_initial=conf.backoff_initial_seconds,
        backoff_max=conf.backoff_max_seconds,
        # Longer than one send can take (connect, TLS, send: each within the timeout).
        lease_seconds=max(60.0, 4 * conf.timeout_seconds),
    )


def background_tasks(ctx: ApiContext) -> list[PeriodicTask]:
    """This process's immediate-alert enqueuer and message relay."""
    settings = ctx.settings
    conf = settings.notify
    compose = compose_options(settings)
    options = relay_options(conf, ctx.instance)
    state: dict[str, Any] = {}

    def enqueue() -> None:
        report = notify.enqueue_immediate(ctx.ledger, compose, now=ctx.now())
        if report.total:
            get_logger(task=ENQUEUE_TASK).info(
                "notify_enqueued", alerts=report.alerts, people=report.people, **report.queued
            )

    def send() -> None:
        client = state.get("client")
        if not isinstance(client, httpx.Client):
            client = state["client"] = notify_send.make_client(conf.timeout_seconds)
        senders = notify_send.Senders(smtp=smtp_options(conf), chat=client)
        report = notify_send.relay(ctx.ledger, senders, options, now=ctx.now)
        if report.handled:
            get_logger(task=RELAY_TASK).info(
                "notify_relay_pass", sent=report.sent, retried=report.retried, failed=report.failed
            )

    return [
        PeriodicTask(ENQUEUE_TASK, conf.interval_seconds, enqueue),
        PeriodicTask(RELAY_TASK, conf.interval_seconds, send),
    ]
