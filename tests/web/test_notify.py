"""``/settings/alerts``: a person chooses where and which alerts reach them (their own
form: CSRF, audited), and the serving process's tasks queue and send them (a loopback
chat receiver; e-mail waits, marked why, without an SMTP server)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select
from structlog.testing import capture_logs

from tci_gateway.domain.alerts import AlertKind
from tci_gateway.ledger import notifications as sql
from tci_gateway.ledger.api_tables import AuditRow
from tci_gateway.ledger.buyers import create_buyer
from tci_gateway.ledger.runs import add_alert
from tci_gateway.ledger.web_tables import MessageState, NotificationRow, UserRow
from tci_gateway.web.app import create_service

from ..api.conftest import make_harness, sandbox_settings
from ..services import notify_servers
from ..services.notify_servers import PASSWORD as SMTP_PASSWORD
from ..services.notify_servers import USER, ChatReceiver, SmtpServer
from .conftest import AS_OF, Person, WebHarness

chat_receiver = notify_servers.chat_receiver
certificate = notify_servers.certificate
smtp_server = notify_servers.smtp_server
PATH = "/settings/alerts"


def _audits(web: WebHarness) -> list[AuditRow]:
    with web.ledger.reading() as session:
        rows = list(
            session.scalars(select(AuditRow).where(AuditRow.action == "web_preferences_changed"))
        )
        session.expunge_all()
    return rows


def _user(web: WebHarness, name: str) -> UserRow:
    with web.ledger.reading() as session:
        row = session.scalar(select(UserRow).where(UserRow.name == name))
        session.expunge_all()
    assert row is not None
    return row


def _checked(html: str, control: str) -> bool:
    tag = re.search(rf'<input[^>]*id="{re.escape(control)}"[^>]*>', html)
    assert tag, control
    return " checked" in tag.group(0)


def _save(person: Person, **fields: Any) -> Any:
    return person.post(PATH, fields)


def test_the_page_has_labelled_controls_defaults_and_an_empty_state(web: WebHarness) -> None:
    viewer = web.sign_in("viewer")
    page = viewer.get(PATH)
    assert page.status_code == 200
    html = page.text
    for control in ("email", "chat_webhook_url", "channel_email", "channel_chat", "digest"):
        assert f'<label for="{control}">' in html
    assert _checked(html, "all_policies") and _checked(html, "digest")
    assert not _checked(html, "channel_email")
    assert 'name="policies" value="atradius-main"' in html
    assert 'name="tiers" value="strategic"' in html
    assert '<label for="kinds-5">Cover withdrawn</label>' in html
    assert "No messages to you yet." in html
    assert "No SMTP server is configured" in html  # the sandbox has none
    assert '<link rel="stylesheet" href="/static/settings.css">' in html
    assert viewer.get("/static/settings.css").status_code == 200


def test_a_viewer_saves_their_own_settings_audited(web: WebHarness) -> None:
    viewer = web.sign_in("viewer")
    answer = _save(
        viewer,
        email="vera@example.com",
        channel_email="1",
        digest="1",
        policies=["atradius-main", "no-such-policy"],
        all_tiers="1",
        kinds=["cover_withdrawn", "over_limit"],
    )
    assert answer.status_code == 303 and answer.headers["location"] == f"{PATH}?saved=1"
    user = _user(web, viewer.name)
    assert user.email == "vera@example.com"
    with web.ledger.reading() as session:
        prefs = sql.get_preferences(session, user.id)
        assert prefs is not None
        assert (prefs.email, prefs.chat, prefs.digest, prefs.immediate) == (
            True,
            False,
            True,
            False,
        )
        assert prefs.policies == ["atradius-main"] and prefs.tiers is None
        assert prefs.kinds == ["cover_withdrawn", "over_limit"]
    (audit,) = _audits(web)
    assert audit.actor == viewer.name and audit.user_id == user.id
    assert audit.detail["policies"] == ["atradius-main"] and audit.detail["email_address"] == "set"
    page = viewer.get(f"{PATH}?saved=1").text
    assert "Your alert settings were saved." in page
    assert _checked(page, "channel_email") and not _checked(page, "immediate")
    assert not _checked(page, "all_policies") and _checked(page, "all_tiers")
    assert 'value="vera@example.com"' in page


def test_the_form_is_refused_without_its_token(web: WebHarness) -> None:
    alice = web.sign_in("analyst")
    answer = alice.post(PATH, {"email": "a@example.com", "channel_email": "1"}, csrf=False)
    assert answer.status_code == 403 and "security token" in answer.text
    assert _user(web, alice.name).email is None and not _audits(web)
    assert web.client.post(PATH, data={}, follow_redirects=False).status_code == 303  # sign in


def test_a_bad_address_or_webhook_url_is_refused_and_nothing_saved(web: WebHarness) -> None:
    alice = web.sign_in("analyst")
    answer = _save(alice, email="not an address", chat_webhook_url="http://chat.example.com/x")
    assert answer.status_code == 422
    assert "is not an e-mail address" in answer.text
    assert "webhook URL is refused: must be https" in answer.text
    assert _user(web, alice.name).email is None and not _audits(web)


def test_the_webhook_url_is_kept_secret_and_can_be_removed(web: WebHarness) -> None:
    alice = web.sign_in("analyst")
    url = "https://hooks.example.com/services/T0/B0/VerySecretPath"
    assert _save(alice, chat_webhook_url=url, channel_chat="1").status_code == 303
    assert _user(web, alice.name).chat_webhook_url == url
    page = alice.get(PATH).text
    assert "VerySecretPath" not in page and "Set: https://hooks.example.com/" in page
    assert "VerySecretPath" not in repr(_audits(web)[0].detail)
    # Left empty: kept. Ticked "remove": gone, and the page says chat will fail.
    assert _save(alice, channel_chat="1").status_code == 303
    assert _user(web, alice.name).chat_webhook_url == url
    assert _save(alice, channel_chat="1", clear_chat_webhook="1").status_code == 303
    assert _user(web, alice.name).chat_webhook_url is None
    assert "chat messages to you will fail" in alice.get(PATH).text


def test_a_chat_webhook_to_an_internal_host_needs_the_setting(
    web: WebHarness, chat_receiver: ChatReceiver
) -> None:
    alice = web.sign_in("viewer")
    refused = _save(alice, chat_webhook_url=chat_receiver.url, channel_chat="1")
    assert refused.status_code == 422
    assert "resolves to a non-public address (127.0.0.1)" in refused.text
    assert _user(web, alice.name).chat_webhook_url is None
    web.api.ctx.settings.notify.private_chat_webhooks = True
    assert _save(alice, chat_webhook_url=chat_receiver.url, channel_chat="1").status_code == 303


def test_the_serving_process_queues_and_sends_immediate_alerts(
    web: WebHarness, chat_receiver: ChatReceiver
) -> None:
    web.api.ctx.settings.notify.private_chat_webhooks = True  # the receiver is on loopback
    alice = web.sign_in("analyst")
    _save(
        alice,
        email="alice@example.com",
        chat_webhook_url=chat_receiver.url,
        channel_email="1",
        channel_chat="1",
        immediate="1",
        all_policies="1",
        all_tiers="1",
        kinds=["cover_withdrawn"],
    )
    web.api.tick("notify-alerts")  # the cursor starts now
    with web.ledger.unit_of_work() as session:
        buyer = create_buyer(session, "ACME GmbH", "DE", AS_OF)
        for kind in (AlertKind.COVER_WITHDRAWN, AlertKind.COVER_REDUCED):
            add_alert(
                session,
                kind=kind,
                message=f"{kind.value} for ACME",
                business_date=date(2026, 12, 1),
                dedupe_key=f"t:{kind.value}",
                now=AS_OF,
                buyer_id=buyer,
            )
    web.api.tick("notify-alerts")
    web.api.tick("notify-relay")
    (got,) = chat_receiver.received  # cover_reduced is not among alice's kinds
    assert got["text"].startswith("[TCI critical] Cover withdrawn: ACME GmbH")
    assert "cover_withdrawn for ACME" in got["text"]
    with web.ledger.reading() as session:
        rows = {r.channel.value: r for r in session.scalars(select(NotificationRow))}
        assert rows["chat"].state == MessageState.SENT
        assert rows["email"].state == MessageState.PENDING and rows["email"].attempts == 0
        assert "no SMTP server configured" in (rows["email"].last_error or "")
    page = alice.get(PATH).text
    assert "no SMTP server configured" in page and ">sent<" in page
    web.api.tick("notify-alerts")
    web.api.tick("notify-relay")
    assert len(chat_receiver.received) == 1


def test_the_relay_mails_over_starttls_with_credentials_from_the_environment(
    database_url: str,
    smtp_server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = sandbox_settings(database_url)
    settings.notify.smtp_host = smtp_server.host
    settings.notify.smtp_port = smtp_server.port
    settings.notify.from_address = "alerts@tci.example.com"
    monkeypatch.setenv("TCI_SMTP_USERNAME", USER)
    monkeypatch.setenv("TCI_SMTP_PASSWORD", SMTP_PASSWORD)
    monkeypatch.setenv("SSL_CERT_FILE", str(smtp_server.cafile))  # trust the test's CA
    harness = make_harness(database_url, settings=settings, app_factory=create_service)
    with harness.client:
        web = WebHarness(harness)
        alice = web.sign_in("analyst")
        _save(alice, email="alice@example.com", channel_email="1", immediate="1", all_kinds="1")
        web.api.tick("notify-alerts")
        with web.ledger.unit_of_work() as session:
            add_alert(
                session,
                kind=AlertKind.FILING_REJECTED,
                message="the insurer refused the filing",
                business_date=date(2026, 12, 1),
                dedupe_key="t:filing",
                now=AS_OF,
            )
        web.api.tick("notify-alerts")
        with capture_logs() as logs:
            web.api.tick("notify-relay")
        (mail,) = smtp_server.inbox.messages
        assert smtp_server.inbox.logins == [USER] and smtp_server.inbox.tls_at_mail == [True]
        assert mail["To"] == "alice@example.com"
        assert mail["Subject"].startswith("[TCI ") and "Filing rejected" in mail["Subject"]
        assert SMTP_PASSWORD not in repr(logs)
    harness.ctx.wiring.close()
    harness.ledger.dispose()
