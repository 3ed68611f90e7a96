"""Alerts to people: who gets which digest and immediate message (filters by policy, tier
and kind), queued once; and the relay against a local SMTP server (STARTTLS, AUTH) and a
loopback chat webhook: what arrives, retries, failures with a reason, no secret in logs,
a relay dying after its claim."""

from __future__ import annotations

import ssl
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from structlog.testing import capture_logs

from tci_gateway.config import load_settings
from tci_gateway.domain.alerts import AlertKind
from tci_gateway.ledger import notifications as sql
from tci_gateway.ledger import users
from tci_gateway.ledger.buyers import create_buyer, set_tier
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.policies import upsert_policies
from tci_gateway.ledger.runs import add_alert
from tci_gateway.ledger.tables import AlertRow
from tci_gateway.ledger.web_tables import Channel, MessageState, NotificationRow
from tci_gateway.services import notify, notify_send

from ..api.conftest import SANDBOX_CONFIG
from . import notify_servers
from .notify_servers import PASSWORD, USER, ChatReceiver, SmtpServer

certificate = notify_servers.certificate
smtp_server = notify_servers.smtp_server
chat_receiver = notify_servers.chat_receiver

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
DAY = date(2026, 12, 1)
OPTIONS = notify.ComposeOptions(
    immediate_kinds=frozenset({"cover_withdrawn", "deadline_approaching"}),
    default_tier="growth",
    workspace_url="https://tci.example.com",
)


class World:
    """Policies, buyers and people in a ledger; alerts added on demand."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._n = 0
        settings = load_settings(SANDBOX_CONFIG)
        with ledger.unit_of_work() as session:
            self.policies = upsert_policies(session, settings.domain_policies(), NOW)
            self.acme = create_buyer(session, "ACME GmbH", "DE", NOW)
            self.bolt = create_buyer(session, "Bolt SARL", "FR", NOW)
            set_tier(session, self.bolt, "strategic", NOW)

    def person(
        self,
        name: str,
        *,
        email: str | None = None,
        webhook: str | None = None,
        **prefs: Any,
    ) -> int:
        with self.ledger.unit_of_work() as session:
            user = users.create_user(session, name, "analyst", "x" * 16, now=NOW, email=email)
            users.set_contact(session, user.id, email=email, chat_webhook_url=webhook)
            values = {
                "email": email is not None,
                "chat": webhook is not None,
                "digest": True,
                "immediate": True,
                "policies": None,
                "tiers": None,
                "kinds": None,
            }
            values.update(prefs)
            sql.save_preferences(session, user.id, now=NOW, **values)
            return user.id

    def alert(
        self, kind: AlertKind, *, policy: str | None = "atradius-main", buyer: int | None = None
    ) -> int:
        self._n += 1
        with self.ledger.unit_of_work() as session:
            add_alert(
                session,
                kind=kind,
                message=f"{kind.value} number {self._n}",
                business_date=DAY,
                dedupe_key=f"test:{self._n}",
                now=NOW,
                buyer_id=buyer,
                policy_id=self.policies[policy] if policy else None,
            )
            return int(session.scalar(select(func.max(AlertRow.id))) or 0)

    def messages(self, **where: Any) -> list[NotificationRow]:
        with self.ledger.reading() as session:
            stmt = select(NotificationRow).order_by(NotificationRow.id)
            for name, value in where.items():
                stmt = stmt.where(getattr(NotificationRow, name) == value)
            found = list(session.scalars(stmt))
            session.expunge_all()
            return found


@pytest.fixture
def world(ledger: Ledger) -> World:
    return World(ledger)


def relay_options(**kwargs: Any) -> notify_send.RelayOptions:
    values: dict[str, Any] = {
        "instance": "relay-a",
        "max_attempts": 3,
        "backoff_initial": 30.0,
        "backoff_max": 300.0,
        "lease_seconds": 60.0,
    }
    values.update(kwargs)
    return notify_send.RelayOptions(**values)


def smtp_for(server: SmtpServer, **kwargs: Any) -> notify_send.SmtpOptions:
    values: dict[str, Any] = {
        "host": server.host,
        "port": server.port,
        "username": USER,
        "password": PASSWORD,
        "from_address": "alerts@tci.example.com",
        "timeout": 5.0,
        "tls": ssl.create_default_context(cafile=str(server.cafile)),
    }
    values.update(kwargs)
    return notify_send.SmtpOptions(**values)


# --- composing ------------------------------------------------------------------------


def test_the_digest_follows_each_persons_filters_and_is_queued_once_per_date(
    world: World,
) -> None:
    alice = world.person("alice", email="alice@example.com", policies=["atradius-main"])
    bob = world.person("bob", webhook="https://chat.example.com/x", kinds=["cover_withdrawn"])
    carol = world.person("carol", email="carol@example.com", tiers=["strategic"])
    world.person("dave", email="dave@example.com", digest=False)
    world.alert(AlertKind.COVER_WITHDRAWN, buyer=world.acme)  # growth (no tier: default)
    world.alert(AlertKind.OVER_LIMIT, policy="allianz-aci", buyer=world.bolt)  # strategic
    world.alert(AlertKind.SCHEDULER_JOB_FAILED, policy=None)  # every policy and tier

    report = notify.enqueue_digest(world.ledger, DAY, OPTIONS, now=NOW)
    assert report.queued == {"email": 2, "chat": 1}
    by_user = {m.user_id: m for m in world.messages()}
    assert set(by_user) == {alice, bob, carol}  # dave: no digest
    a = by_user[alice]
    assert a.channel == Channel.EMAIL and a.event_id == "digest:2026-12-01"
    assert a.subject == "[TCI] Alert digest 2026-12-01: 2 alerts (2 critical)"
    assert "ACME GmbH (policy atradius-main)" in a.body and "Bolt SARL" not in a.body
    assert "Scheduler job failed" in a.body and "https://tci.example.com/settings/alerts" in a.body
    b = by_user[bob]
    assert b.channel == Channel.CHAT and "1 alert " in b.subject + " "
    assert "Cover withdrawn: ACME GmbH" in b.body and "Over limit" not in b.body
    c = by_user[carol]
    assert "Bolt SARL" in c.body and "ACME" not in c.body  # tier filter; job failure passes
    assert c.payload["alerts"] == 2 and c.payload["type"] == "digest"

    again = notify.enqueue_digest(world.ledger, DAY, OPTIONS, now=NOW + timedelta(hours=1))
    assert again.total == 0 and len(world.messages()) == 3
    assert notify.enqueue_digest(world.ledger, date(2026, 11, 30), OPTIONS, now=NOW).total == 0


def test_immediate_messages_follow_new_alerts_of_the_immediate_kinds_once(world: World) -> None:
    world.alert(AlertKind.COVER_WITHDRAWN, buyer=world.acme)  # before the first run: history
    alice = world.person("alice", email="alice@example.com", webhook="https://chat.example.com/a")
    world.person("bob", email="bob@example.com", immediate=False)
    world.person("erin", email="erin@example.com", policies=["coface-main"])
    first = notify.enqueue_immediate(world.ledger, OPTIONS, now=NOW)
    assert first.total == 0  # the cursor starts at the alerts of now on

    withdrawn = world.alert(AlertKind.COVER_WITHDRAWN, buyer=world.bolt)
    world.alert(AlertKind.COVER_NEW, buyer=world.bolt)  # not an immediate kind
    report = notify.enqueue_immediate(world.ledger, OPTIONS, now=NOW)
    assert report.queued == {"email": 1, "chat": 1} and report.alerts == 2
    msgs = world.messages()
    assert {(m.user_id, m.channel) for m in msgs} == {(alice, Channel.EMAIL), (alice, Channel.CHAT)}
    assert all(m.event_id == f"alert:{withdrawn}" for m in msgs)
    assert msgs[0].subject == "[TCI critical] Cover withdrawn: Bolt SARL"
    assert "Buyer: Bolt SARL (tier strategic)" in msgs[0].body
    assert "Policy: atradius-main" in msgs[0].body

    assert notify.enqueue_immediate(world.ledger, OPTIONS, now=NOW).total == 0
    assert len(world.messages()) == 2


# --- sending --------------------------------------------------------------------------


def test_mail_goes_over_starttls_with_auth_and_a_stable_message_id(
    world: World, smtp_server: SmtpServer
) -> None:
    alice = world.person("alice", email="alice@example.com")
    world.alert(AlertKind.OVER_LIMIT, buyer=world.acme)
    notify.enqueue_digest(world.ledger, DAY, OPTIONS, now=NOW)
    senders = notify_send.Senders(smtp_for(smtp_server), notify_send.make_client(5))
    with capture_logs() as logs:
        report = notify_send.relay(world.ledger, senders, relay_options(), now=lambda: NOW)
    assert report.sent == 1
    inbox = smtp_server.inbox
    assert inbox.logins == [USER] and inbox.tls_at_mail == [True]
    (mail,) = inbox.messages
    assert mail["To"] == "alice@example.com" and mail["From"] == "alerts@tci.example.com"
    assert mail["Subject"] == "[TCI] Alert digest 2026-12-01: 1 alert"
    (row,) = world.messages(user_id=alice)
    assert mail["Message-ID"] == f"<tci.{row.id}.digest-2026-12-01@tci.example.com>"
    assert mail["X-TCI-Event-Id"] == "digest:2026-12-01"
    text = mail.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert "Over limit: ACME GmbH" in text
    assert row.state == MessageState.SENT and row.sent_at is not None and row.attempts == 1
    assert PASSWORD not in repr(logs) and PASSWORD not in repr(senders)
    assert any(e["event"] == "notify_sent" for e in logs)


def test_wrong_credentials_are_retried_and_the_password_is_never_logged(
    world: World, smtp_server: SmtpServer
) -> None:
    world.person("alice", email="alice@example.com")
    world.alert(AlertKind.OVER_LIMIT, buyer=world.acme)
    notify.enqueue_digest(world.ledger, DAY, OPTIONS, now=NOW)
    wrong = "not-the-" + PASSWORD
    senders = notify_send.Senders(smtp_for(smtp_server, password=wrong), notify_send.make_client(5))
    with capture_logs() as logs:
        report = notify_send.relay(world.ledger, senders, relay_options(), now=lambda: NOW)
    assert report.retried == 1 and not smtp_server.inbox.messages
    (row,) = world.messages()
    assert row.state == MessageState.PENDING and row.last_error
    assert "authentication refused" in row.last_error
    assert wrong not in repr(logs) and wrong not in row.last_error


def test_credentials_are_never_sent_without_tls(world: World, smtp_server: SmtpServer) -> None:
    world.person("alice", email="alice@example.com")
    world.alert(AlertKind.OVER_LIMIT, buyer=world.acme)
    notify.enqueue_digest(world.ledger, DAY, OPTIONS, now=NOW)
    senders = notify_send.Senders(smtp_for(smtp_server, starttls=False), notify_send.make_client(5))
    report = notify_send.relay(world.ledger, senders, relay_options(), now=lambda: NOW)
    assert report.handled == 0 and not smtp_server.inbox.messages
    (row,) = world.messages()
    assert row.state == MessageState.PENDING and row.attempts == 0
    assert row.last_error is not None and "never sent without TLS" in row.last_error


def test_a_person_without_an_address_fails_with_a_reason(world: World) -> None:
    with world.ledger.unit_of_work() as session:
        user = users.create_user(session, "frank", "viewer", "x" * 16, now=NOW)
        sql.save_preferences(
            session,
            user.id,
            now=NOW,
            email=True,
            chat=True,
            digest=True,
            immediate=True,
            policies=None,
            tiers=None,
            kinds=None,
        )
    world.alert(AlertKind.OVER_LIMIT, buyer=world.acme)
    notify.enqueue_digest(world.ledger, DAY, OPTIONS, now=NOW)
    smtp = notify_send.SmtpOptions(host="127.0.0.1", port=1, timeout=1.0)
    senders = notify_send.Senders(smtp, notify_send.make_client(5))
    report = notify_send.relay(world.ledger, senders, relay_options(), now=lambda: NOW)
    assert report.failed == 2 and report.sent == 0
    errors = {m.channel: m.last_error for m in world.messages()}
    assert all(m.state == MessageState.FAILED for m in world.messages())
    assert errors[Channel.EMAIL] == "frank has no e-mail address: set one on /settings/alerts"
    assert errors[Channel.CHAT] == "frank has no chat webhook URL: set one on /settings/alerts"


def test_a_500_from_the_chat_receiver_is_retried_and_the_url_stays_secret(
    world: World, chat_receiver: ChatReceiver
) -> None:
    world.person("bob", webhook=chat_receiver.url)
    world.alert(AlertKind.COVER_WITHDRAWN, buyer=world.acme)
    notify.enqueue_digest(world.ledger, DAY, OPTIONS, now=NOW)
    chat_receiver.statuses = [500]
    senders = notify_send.Senders(None, notify_send.make_client(5))
    options = relay_options()
    with capture_logs() as logs:
        first = notify_send.relay(world.ledger, senders, options, now=lambda: NOW, rand=lambda: 1)
    assert first.retried == 1 and not chat_receiver.received
    (row,) = world.messages()
    assert row.state == MessageState.PENDING and row.attempts == 1
    assert row.last_error == "chat webhook http://127.0.0.1/…: HTTP 500"
    assert row.next_attempt_at == NOW + timedelta(seconds=30)
    # Not due before its backoff; then sent once.
    early = notify_send.relay(
        world.ledger, senders, options, now=lambda: NOW + timedelta(seconds=29)
    )
    assert early.handled == 0
    later = NOW + timedelta(seconds=31)
    with capture_logs() as more:
        second = notify_send.relay(world.ledger, senders, options, now=lambda: later)
    assert second.sent == 1
    (got,) = chat_receiver.received
    assert got["text"].startswith("[TCI] Alert digest 2026-12-01: 1 alert (1 critical)\n\n")
    assert "Cover withdrawn: ACME GmbH" in got["text"]
    assert "XsecretXpathX" not in repr(logs) + repr(more)
    assert notify_send.relay(world.ledger, senders, options, now=lambda: later).handled == 0


def test_a_message_is_given_up_after_max_attempts(
    world: World, chat_receiver: ChatReceiver
) -> None:
    world.person("bob", webhook=chat_receiver.url)
    world.alert(AlertKind.COVER_WITHDRAWN, buyer=world.acme)
    notify.enqueue_digest(world.ledger, DAY, OPTIONS, now=NOW)
    chat_receiver.statuses = [500, 503, 502, 200]
    senders = notify_send.Senders(None, notify_send.make_client(5))
    clock = [NOW]
    for _ in range(3):
        notify_send.relay(world.ledger, senders, relay_options(), now=lambda: clock[0])
        clock[0] += timedelta(hours=1)
    at = clock[0]
    (row,) = world.messages()
    assert row.state == MessageState.FAILED and row.attempts == 3
    assert row.last_error == "given up after 3 attempts: chat webhook http://127.0.0.1/…: HTTP 502"
    assert notify_send.relay(world.ledger, senders, relay_options(), now=lambda: at).handled == 0
    assert not chat_receiver.received


def test_a_relay_dying_after_its_claim_leaves_the_message_to_the_next_exactly_once(
    world: World, smtp_server: SmtpServer
) -> None:
    world.person("alice", email="alice@example.com")
    world.alert(AlertKind.OVER_LIMIT, buyer=world.acme)
    notify.enqueue_digest(world.ledger, DAY, OPTIONS, now=NOW)
    # Relay "dead" claims the message and is never heard of again.
    with world.ledger.unit_of_work() as session:
        (claimed,) = sql.claim_due(
            session,
            now=NOW,
            until=NOW + timedelta(seconds=60),
            instance="dead",
            limit=5,
            channels=[Channel.EMAIL],
        )
    senders = notify_send.Senders(smtp_for(smtp_server), notify_send.make_client(5))
    options = relay_options(instance="relay-b")
    # While the lease holds, nobody else takes it.
    assert notify_send.relay(world.ledger, senders, options, now=lambda: NOW).handled == 0
    later = NOW + timedelta(seconds=61)
    assert notify_send.relay(world.ledger, senders, options, now=lambda: later).sent == 1
    assert notify_send.relay(world.ledger, senders, options, now=lambda: later).handled == 0
    assert len(smtp_server.inbox.messages) == 1
    (row,) = world.messages()
    assert row.state == MessageState.SENT and row.claimed_by == "relay-b" and row.attempts == 2
    # The dead relay's late outcome is refused: the claim is no longer its own.
    with world.ledger.unit_of_work() as session:
        assert not sql.mark_retry(session, claimed.id, "dead", "late", later)
    assert world.messages()[0].state == MessageState.SENT


def test_two_relays_claiming_at_once_never_take_the_same_message(world: World) -> None:
    alice = world.person("alice", email="alice@example.com")
    for day in (DAY, date(2026, 11, 30)):
        with world.ledger.unit_of_work() as session:
            sql.enqueue(
                session,
                [
                    {
                        "user_id": alice,
                        "channel": Channel.EMAIL,
                        "event_id": f"digest:{day}",
                        "subject": "s",
                        "body": "b",
                        "payload": {},
                        "state": MessageState.PENDING,
                        "attempts": 0,
                        "next_attempt_at": NOW,
                        "created_at": NOW,
                    }
                ],
            )
    until = NOW + timedelta(seconds=60)

    def claim(session: Any, instance: str) -> list[int]:
        rows = sql.claim_due(
            session, now=NOW, until=until, instance=instance, limit=5, channels=[Channel.EMAIL]
        )
        return [r.id for r in rows]

    if world.ledger.engine.dialect.name == "postgresql":
        # Both transactions open at once: the second skips the rows the first has locked.
        with world.ledger.unit_of_work() as one:
            first = sql.claim_due(
                one, now=NOW, until=until, instance="a", limit=1, channels=[Channel.EMAIL]
            )
            with world.ledger.unit_of_work() as two:
                b = claim(two, "b")
            a = [r.id for r in first]
    else:  # one writer at a time: the compare-and-set sees the first claim committed
        with world.ledger.unit_of_work() as one:
            a = [
                r.id
                for r in sql.claim_due(
                    one, now=NOW, until=until, instance="a", limit=1, channels=[Channel.EMAIL]
                )
            ]
        with world.ledger.unit_of_work() as two:
            b = claim(two, "b")
    assert len(a) == 1 and len(b) == 1 and a != b
    with world.ledger.unit_of_work() as three:
        assert claim(three, "c") == []  # both held until their lease ends


def test_the_alert_digest_job_queues_the_digests_once_per_business_date(world: World) -> None:
    from tci_gateway.scheduler import jobs
    from tci_gateway.services.nightly import ClaimsOptions, NightlyOptions

    bob = world.person("bob", webhook="https://chat.example.com/b", tiers=["growth"])
    world.alert(AlertKind.OVER_LIMIT, buyer=world.acme)  # no tier: the default, growth
    world.alert(AlertKind.OVER_LIMIT, buyer=world.bolt)  # strategic

    def options() -> NightlyOptions:
        return NightlyOptions(claims=ClaimsOptions(paths={}, default_tier="growth"))

    def run() -> dict[str, Any]:
        context = jobs.JobContext(world.ledger, {}, {}, NOW, DAY, "alert_digest", options)
        return jobs.alert_digest(context)

    first = run()
    assert first["total"] == 2 and first["messages_queued"] == {"chat": 1}
    (row,) = world.messages()
    assert row.user_id == bob and "ACME GmbH" in row.body and "Bolt" not in row.body
    assert run()["messages_queued"] == {"chat": 0}  # a second run queues nothing twice
