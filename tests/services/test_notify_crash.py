"""A relay killed (SIGKILL, as ``kill -9``) at its crash points, in a subprocess: after its
claim, the next relay sends the message once the lease has passed (nothing lost, nothing
twice); after the SMTP server accepted the mail but before "sent" was committed (the one
window), the next relay sends it again with the same ``Message-ID``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from datetime import timedelta

import pytest

from tci_gateway.domain.alerts import AlertKind
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.web_tables import MessageState
from tci_gateway.services import notify, notify_send

from . import notify_servers
from .notify_servers import PASSWORD, USER, SmtpServer
from .test_notify import DAY, NOW, OPTIONS, World, relay_options, smtp_for

certificate = notify_servers.certificate
smtp_server = notify_servers.smtp_server

pytestmark = pytest.mark.slow

_RELAY = textwrap.dedent(
    """
    import os, ssl, sys
    from datetime import datetime
    from tci_gateway.ledger.engine import Ledger
    from tci_gateway.services import notify_send

    url, host, port, cafile, user, now = sys.argv[1:]
    password = os.environ["TCI_SMTP_PASSWORD"]
    smtp = notify_send.SmtpOptions(
        host=host, port=int(port), username=user, password=password,
        from_address="alerts@tci.example.com", timeout=5.0,
        tls=ssl.create_default_context(cafile=cafile),
    )
    senders = notify_send.Senders(smtp, notify_send.make_client(5))
    options = notify_send.RelayOptions(instance="crashy", max_attempts=3, lease_seconds=60)
    at = datetime.fromisoformat(now)
    notify_send.relay_one(Ledger.from_url(url), senders, options, now=lambda: at)
    print("survived")
    """
)


def _relay_in_subprocess(
    url: str, server: SmtpServer, crash_at: str
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TCI_CRASH_AT": crash_at, "TCI_SMTP_PASSWORD": PASSWORD}
    args = [str(server.cafile), USER, NOW.isoformat()]
    return subprocess.run(
        [sys.executable, "-c", _RELAY, url, server.host, str(server.port), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _setup(database_url: str) -> World:
    world = World(Ledger.from_url(database_url))
    world.person("alice", email="alice@example.com")
    world.alert(AlertKind.OVER_LIMIT, buyer=world.acme)
    notify.enqueue_digest(world.ledger, DAY, OPTIONS, now=NOW)
    return world


def test_killed_after_its_claim_the_next_relay_sends_once(
    database_url: str, smtp_server: SmtpServer
) -> None:
    world = _setup(database_url)
    try:
        died = _relay_in_subprocess(database_url, smtp_server, "notify_after_claim")
        assert died.returncode == -signal.SIGKILL, died.stderr
        assert "survived" not in died.stdout and not smtp_server.inbox.messages
        (row,) = world.messages()
        assert row.state == MessageState.SENDING and row.claimed_by == "crashy"
        senders = notify_send.Senders(smtp_for(smtp_server), notify_send.make_client(5))
        options = relay_options(instance="next")
        assert notify_send.relay(world.ledger, senders, options, now=lambda: NOW).handled == 0
        later = NOW + timedelta(seconds=61)
        assert notify_send.relay(world.ledger, senders, options, now=lambda: later).sent == 1
        assert notify_send.relay(world.ledger, senders, options, now=lambda: later).handled == 0
        assert len(smtp_server.inbox.messages) == 1
        (row,) = world.messages()
        assert row.state == MessageState.SENT and row.attempts == 2
    finally:
        world.ledger.dispose()


def test_killed_between_acceptance_and_commit_the_copy_has_the_same_message_id(
    database_url: str, smtp_server: SmtpServer
) -> None:
    world = _setup(database_url)
    try:
        died = _relay_in_subprocess(database_url, smtp_server, "notify_after_send")
        assert died.returncode == -signal.SIGKILL, died.stderr
        assert len(smtp_server.inbox.messages) == 1  # accepted, "sent" never committed
        senders = notify_send.Senders(smtp_for(smtp_server), notify_send.make_client(5))
        later = NOW + timedelta(seconds=61)
        report = notify_send.relay(world.ledger, senders, relay_options(), now=lambda: later)
        assert report.sent == 1
        first, second = smtp_server.inbox.messages
        assert first["Message-ID"] == second["Message-ID"]  # a receiver can drop the copy
        (row,) = world.messages()
        assert row.state == MessageState.SENT
    finally:
        world.ledger.dispose()
