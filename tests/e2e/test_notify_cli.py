"""``tci notify send`` as a subprocess: queues the immediate messages of new alerts and
sends what is due, once (a second run sends nothing), for a deployment that runs the
scheduler without ``tci serve``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tci_gateway.domain.alerts import AlertKind
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.web_tables import MessageState

from ..services import notify_servers
from ..services.notify_servers import ChatReceiver
from ..services.test_notify import World
from .conftest import run_tci

pytestmark = pytest.mark.e2e
chat_receiver = notify_servers.chat_receiver


def test_notify_send_queues_and_sends_once(
    database_url: str, tmp_path: Path, chat_receiver: ChatReceiver
) -> None:
    config = tmp_path / "tci.toml"
    config.write_text(f'[database]\nurl = "{database_url}"\n', encoding="utf-8")
    ledger = Ledger.from_url(database_url)
    try:
        world = World(ledger)
        world.person("alice", webhook=chat_receiver.url, kinds=["cover_withdrawn"])
        world.person("bob", email="bob@example.com")  # e-mail: no SMTP server configured

        first = run_tci("-c", str(config), "notify", "send", "--json", cwd=tmp_path)
        assert first.code == 0, first.stderr
        assert first.json() == {"queued": 0, "sent": 0, "retried": 0, "failed": 0}

        world.alert(AlertKind.COVER_WITHDRAWN, buyer=world.acme)
        sent = run_tci("-c", str(config), "notify", "send", cwd=tmp_path)
        assert sent.code == 0, sent.stderr
        assert "2 message(s) queued; 1 sent" in sent.stdout
        assert len(chat_receiver.received) == 1
        assert "ACME GmbH" in chat_receiver.received[0]["text"]
        assert "XsecretXpathX" not in sent.stdout + sent.stderr

        again = run_tci("-c", str(config), "notify", "send", "--json", cwd=tmp_path)
        assert again.json()["sent"] == 0 and len(chat_receiver.received) == 1
        waiting = world.messages(channel="email")
        assert [m.state for m in waiting] == [MessageState.PENDING]
        assert "no SMTP server" in (waiting[0].last_error or "")
    finally:
        ledger.dispose()
