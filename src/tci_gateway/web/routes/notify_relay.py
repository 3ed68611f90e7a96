"""The periodic work of alerts sent to people, in every serving process: the immediate
alert enqueuer (new alerts since the ``notify:alerts`` cursor) and the outbox relay
(e-mail over SMTP, chat webhooks), both every ``[notify] interval_seconds``. Both are safe
in several processes at once (the cursor's row lock, claims on outbox rows)."""

from __future__ import annotations

from typing import Any

import httpx

from tci_gateway.api.background import PeriodicTask
from tci_gateway.api.context import ApiContext
from tci_gateway.logs import get_logger
from tci_gateway.services import notify, notify_send
from tci_gateway.wiring import notify_compose_options, notify_relay_options, smtp_options

ENQUEUE_TASK = "notify-alerts"
RELAY_TASK = "notify-relay"


def background_tasks(ctx: ApiContext) -> list[PeriodicTask]:
    """This process's immediate-alert enqueuer and message relay."""
    settings = ctx.settings
    conf = settings.notify
    compose = notify_compose_options(settings)
    options = notify_relay_options(conf, ctx.instance)
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
