"""Which alerts go to whom: the daily digest per person and immediate messages, queued in
the outbox (``notifications``) that :mod:`tci_gateway.services.notify_send` relays.

A person receives an alert when it passes their filters (:func:`wants`): its policy is
among theirs, its buyer's tier among theirs (a buyer without a tier is of the default
tier), its kind among theirs; an empty filter (``None``) lets everything through, and an
alert without a policy (or without a buyer) passes the policy (or tier) filter: it
concerns every policy (a failed scheduler job, a disabled ERP webhook).

**Digest**: one message per person, channel and business date (event id
``digest:<date>``) listing the date's alerts they want; none when they want none.
**Immediate**: one message per alert of a kind in ``immediate_kinds`` (event id
``alert:<id>``), found by following the alerts table with the cursor ``notify:alerts``
(``event_cursors``), advanced in the transaction that queues the messages. On PostgreSQL an
alert committed late below ids already seen is caught the way the ERP webhook producer
does it (:mod:`tci_gateway.services.webhook_events`): the ids seen last are read again
until every transaction open when they were seen has ended. Messages are unique per
(person, channel, event id), so reading again or running twice queues nothing twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from importlib.resources import files
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy.orm import Session

from tci_gateway.ledger import notifications as sql
from tci_gateway.ledger import webhooks as cursors
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.tables import AlertRow
from tci_gateway.ledger.web_tables import (
    Channel,
    MessageState,
    NotificationPreferenceRow,
    UserRow,
)

CURSOR = "notify:alerts"
DIGEST_LIMIT = 500
"""At most this many alerts are listed in one digest (the rest are counted)."""

_MAIL = files("tci_gateway") / "web" / "templates" / "mail"
_env = Environment(
    loader=FileSystemLoader(str(_MAIL)),
    autoescape=False,  # plain text  # noqa: S701
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class ComposeOptions:
    """What composing needs from the configuration."""

    immediate_kinds: frozenset[str] = frozenset()
    default_tier: str | None = None
    workspace_url: str = ""
    """The workspace's address (``[api] public_url``) for links; empty: no links."""


@dataclass(frozen=True)
class AlertFact:
    """An alert as a message shows it."""

    id: int
    kind: str
    severity: str
    business_date: date
    message: str
    policy: str | None
    buyer_id: int | None
    buyer: str | None
    tier: str | None

    @property
    def label(self) -> str:
        return kind_label(self.kind)


@dataclass
class EnqueueReport:
    """New messages queued, per channel, and the alerts or people they came from."""

    queued: dict[str, int] = field(default_factory=dict)
    alerts: int = 0
    people: int = 0

    @property
    def total(self) -> int:
        return sum(self.queued.values())


def kind_label(kind: str) -> str:
    """``cover_withdrawn`` -> ``Cover withdrawn``."""
    return kind.replace("_", " ").capitalize().replace("Fx ", "FX ")


def _fact(row: sql.AlertFacts, default_tier: str | None) -> AlertFact:
    a, policy, buyer, tier = row
    return AlertFact(
        a.id,
        a.kind,
        a.severity,
        a.business_date,
        a.message,
        policy,
        a.buyer_id,
        buyer,
        (tier or default_tier) if a.buyer_id is not None else None,
    )


def wants(prefs: NotificationPreferenceRow, alert: AlertFact) -> bool:
    """Whether a person with ``prefs`` receives ``alert`` (filters only, not channels)."""
    if prefs.kinds is not None and alert.kind not in prefs.kinds:
        return False
    if (
        prefs.policies is not None
        and alert.policy is not None
        and alert.policy not in prefs.policies
    ):
        return False
    return not (
        prefs.tiers is not None
        and alert.buyer_id is not None
        and (alert.tier is None or alert.tier not in prefs.tiers)
    )


def channels_of(prefs: NotificationPreferenceRow) -> list[Channel]:
    return [c for c, on in ((Channel.EMAIL, prefs.email), (Channel.CHAT, prefs.chat)) if on]


def render(template: str, **context: Any) -> str:
    """A message template (``web/templates/mail``) rendered as plain text."""
    return _env.get_template(template).render(**context)


def _row(
    user: UserRow,
    channel: Channel,
    event_id: str,
    subject: str,
    body: str,
    payload: Any,
    now: datetime,
) -> dict[str, Any]:
    return {
        "user_id": user.id,
        "channel": channel,
        "event_id": event_id,
        "subject": subject[:255],
        "body": body,
        "payload": payload,
        "state": MessageState.PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


def _count(report: EnqueueReport, rows: Sequence[dict[str, Any]], session: Session) -> None:
    for channel in Channel:
        mine = [r for r in rows if r["channel"] == channel]
        if mine:
            report.queued[channel.value] = report.queued.get(channel.value, 0) + sql.enqueue(
                session, mine
            )


# --- immediate ------------------------------------------------------------------------


def immediate_message(alert: AlertFact, options: ComposeOptions) -> tuple[str, str]:
    """(subject, body) of the immediate message for ``alert``."""
    about = alert.buyer or (f"policy {alert.policy}" if alert.policy else "the gateway")
    subject = f"[TCI {alert.severity}] {alert.label}: {about}"
    body = render("immediate.txt", alert=alert, link=options.workspace_url.rstrip("/"))
    return subject, body


def _immediate_rows(
    alerts: Sequence[AlertFact],
    people: Sequence[tuple[UserRow, NotificationPreferenceRow]],
    options: ComposeOptions,
    now: datetime,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for alert in alerts:
        if alert.kind not in options.immediate_kinds:
            continue
        message: tuple[str, str] | None = None
        for user, prefs in people:
            if not prefs.immediate or not wants(prefs, alert):
                continue
            message = message or immediate_message(alert, options)
            payload = {
                "type": "alert",
                "alert_id": alert.id,
                "kind": alert.kind,
                "business_date": alert.business_date.isoformat(),
            }
            for channel in channels_of(prefs):
                rows.append(_row(user, channel, f"alert:{alert.id}", *message, payload, now))
    return rows


def enqueue_immediate(
    ledger: Ledger, options: ComposeOptions, *, now: datetime, batch: int = 1000
) -> EnqueueReport:
    """Queue the immediate messages of the alerts raised since the cursor, and move the
    cursor, in one transaction. The first run starts from the alerts of now on."""
    report = EnqueueReport()
    with ledger.unit_of_work() as session:
        cur = cursors.lock_cursor(session, CURSOR, now, lambda: cursors.max_id(session, AlertRow))
        cur.updated_at = now
        bounds = cursors.snapshot_bounds(session)
        seen = max(cur.position, cur.pending_position or 0)
        again = (
            cursors.ids_between(session, AlertRow, cur.position, seen)
            if seen > cur.position
            else []
        )
        if cur.pending_position is not None and (
            bounds is None or bounds[0] >= (cur.pending_xmax or 0)
        ):
            cur.position = max(cur.position, cur.pending_position)
            cur.pending_position = cur.pending_xmax = None
        found = sql.alerts_by_id(session, again) if again else []
        new = sql.alerts_after(session, seen, batch)
        top = new[-1][0].id if new else seen
        if bounds is None:
            cur.position = top
        elif top > seen:
            after = cursors.snapshot_bounds(session)
            assert after is not None
            cur.pending_position, cur.pending_xmax = top, after[1]
        alerts = [_fact(r, options.default_tier) for r in [*found, *new]]
        report.alerts = len(new)
        if not any(a.kind in options.immediate_kinds for a in alerts):
            return report
        people = sql.recipients(session)
        rows = _immediate_rows(alerts, people, options, now)
        report.people = len({r["user_id"] for r in rows})
        _count(report, rows, session)
    return report


# --- digest ---------------------------------------------------------------------------


def digest_message(
    day: date, alerts: Sequence[AlertFact], options: ComposeOptions, name: str
) -> tuple[str, str]:
    """(subject, body) of one person's digest of ``day``."""
    critical = sum(1 for a in alerts if a.severity == "critical")
    noun = "alert" if len(alerts) == 1 else "alerts"
    subject = f"[TCI] Alert digest {day.isoformat()}: {len(alerts)} {noun}"
    if critical:
        subject += f" ({critical} critical)"
    by_kind: dict[str, int] = {}
    for a in alerts:
        by_kind[a.label] = by_kind.get(a.label, 0) + 1
    shown = sorted(alerts, key=lambda a: ({"critical": 0, "warning": 1}.get(a.severity, 2), a.id))
    body = render(
        "digest.txt",
        day=day,
        name=name,
        alerts=shown[:DIGEST_LIMIT],
        more=max(0, len(shown) - DIGEST_LIMIT),
        by_kind=sorted(by_kind.items()),
        link=options.workspace_url.rstrip("/"),
    )
    return subject, body


def enqueue_digest(
    ledger: Ledger, day: date, options: ComposeOptions, *, now: datetime
) -> EnqueueReport:
    """Queue each person's digest of business date ``day`` (once per person, channel and
    date, whoever runs it and however often), in one transaction."""
    report = EnqueueReport()
    with ledger.unit_of_work() as session:
        alerts = [
            _fact(r, options.default_tier)
            for r in sql.alerts_of_day(session, day, limit=DIGEST_LIMIT * 20)
        ]
        report.alerts = len(alerts)
        rows: list[dict[str, Any]] = []
        for user, prefs in sql.recipients(session):
            if not prefs.digest:
                continue
            theirs = [a for a in alerts if wants(prefs, a)]
            if not theirs:
                continue
            subject, body = digest_message(day, theirs, options, user.name)
            payload = {
                "type": "digest",
                "business_date": day.isoformat(),
                "alert_ids": [a.id for a in theirs][:DIGEST_LIMIT],
                "alerts": len(theirs),
            }
            for channel in channels_of(prefs):
                rows.append(
                    _row(user, channel, f"digest:{day.isoformat()}", subject, body, payload, now)
                )
        report.people = len({r["user_id"] for r in rows})
        _count(report, rows, session)
    return report
