"""Sending the outbox (``notifications``): e-mail over SMTP and chat webhooks, and the
relay that claims due messages, sends them and records what came of it.

**E-mail**: ``smtplib`` to ``[notify] smtp_host``; with ``starttls`` (the default) the
connection is upgraded before anything else is said, the server's certificate checked
against the system's CAs (``SSL_CERT_FILE`` names another bundle), and a server without
STARTTLS refused. Credentials (from the environment variables the settings name) are
never sent over a connection without TLS: e-mail then waits, marked why. Every mail
carries a ``Message-ID`` made from the message's row (the same on every attempt) and
``X-TCI-Event-Id``, so a receiver can drop a copy.

**Chat**: a Teams/Slack-compatible incoming webhook: ``POST {"text": "..."}`` to the
person's URL (JSON, no redirects followed). A webhook URL is its secret: logs and errors
show only its scheme and host.

**Relay** (:func:`relay`): one message at a time, it *claims* the oldest due message
(committed: ``sending``, ``claimed_by`` this process, a lease ``claimed_until``), sends
it, and marks it sent, or pending again after a capped, jittered backoff, or failed after
``max_attempts`` (counted at each claim, so a message whose sending kills the process
is given up too) or at once when the person has no address. A process that dies after
its claim leaves the message to the next relay once the lease has passed: nothing is
lost. The one window left is a crash between the server's acceptance and the commit of
"sent": the message is then sent again, with the same ``Message-ID``.
"""

from __future__ import annotations

import random
import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import urlsplit

import httpx

from tci_gateway import __version__
from tci_gateway.crashpoints import crash_point
from tci_gateway.ledger import notifications as sql
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.web_tables import Channel, UserRow
from tci_gateway.logs import get_logger, redact_text
from tci_gateway.services.webhooks import backoff


class SendError(Exception):
    """A message could not be sent; ``permanent``: trying again cannot help."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


@dataclass(frozen=True)
class SmtpOptions:
    """The SMTP server and how to talk to it (``password`` is never shown)."""

    host: str
    port: int = 587
    starttls: bool = True
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    from_address: str = "tci-gateway@localhost"
    timeout: float = 20.0
    tls: ssl.SSLContext | None = field(default=None, repr=False, compare=False)

    def problem(self) -> str | None:
        """Why e-mail cannot be sent with these options (``None``: it can)."""
        if not self.host:
            return "no SMTP server configured ([notify] smtp_host): e-mail waits"
        if (self.username or self.password) and not self.starttls:
            return (
                "SMTP credentials are never sent without TLS: set [notify] starttls = true "
                "(e-mail waits)"
            )
        if bool(self.username) != bool(self.password):
            return "SMTP user name or password missing from the environment: e-mail waits"
        return None


def safe_url(url: str) -> str:
    """A webhook URL as it may be shown: scheme and host only (its path is its secret)."""
    try:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.hostname or '?'}/…"
    except ValueError:
        return "(an invalid URL)"


def message_id(notification_id: int, event_id: str, from_address: str) -> str:
    """The mail's ``Message-ID``: the same on every attempt of one outbox row."""
    domain = from_address.rpartition("@")[2] or "localhost"
    safe = "".join(c if c.isalnum() or c in ".-" else "-" for c in event_id)
    return f"<tci.{notification_id}.{safe}@{domain}>"


def build_mail(
    options: SmtpOptions,
    to: str,
    subject: str,
    body: str,
    *,
    notification_id: int,
    event_id: str,
    wall: float,
) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = options.from_address
    mail["To"] = to
    mail["Subject"] = subject
    mail["Date"] = formatdate(wall, usegmt=True)
    mail["Message-ID"] = message_id(notification_id, event_id, options.from_address)
    mail["X-TCI-Event-Id"] = event_id
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(body)
    return mail


def send_mail(options: SmtpOptions, mail: EmailMessage) -> None:
    """Send one mail; :class:`SendError` when it was not accepted."""
    try:
        with smtplib.SMTP(options.host, options.port, timeout=options.timeout) as smtp:
            smtp.ehlo()
            if options.starttls:
                if not smtp.has_extn("starttls"):
                    raise SendError("the SMTP server does not offer STARTTLS: not sent")
                smtp.starttls(context=options.tls or ssl.create_default_context())
                smtp.ehlo()
            if options.username and options.password:
                smtp.login(options.username, options.password)
            smtp.send_message(mail)
    except SendError:
        raise
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        permanent = all(500 <= code < 600 for code in codes)
        raise SendError(
            f"recipient refused by the SMTP server ({codes})", permanent=permanent
        ) from None
    except smtplib.SMTPAuthenticationError as exc:
        raise SendError(f"SMTP authentication refused ({exc.smtp_code})") from None
    except smtplib.SMTPResponseException as exc:
        text = (
            exc.smtp_error.decode(errors="replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error)
        )
        raise SendError(f"SMTP {exc.smtp_code}: {redact_text(text)[:200]}") from None
    except (OSError, smtplib.SMTPException) as exc:
        raise SendError(f"{type(exc).__name__}: {redact_text(str(exc))[:200]}") from None


def make_client(timeout: float) -> httpx.Client:
    """The chat sender's client: a timeout on every phase, no redirects, no proxies."""
    return httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False, trust_env=False)


def chat_text(subject: str, body: str) -> str:
    return f"{subject}\n\n{body}".strip()


def post_chat(client: httpx.Client, url: str, subject: str, body: str) -> None:
    """POST ``{"text": ...}`` to a chat webhook; :class:`SendError` unless 2xx."""
    shown = safe_url(url)
    try:
        response = client.post(
            url,
            json={"text": chat_text(subject, body)},
            headers={"User-Agent": f"tci-gateway-notify/{__version__}"},
        )
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
        # The exception may quote the URL: never its path.
        detail = redact_text(str(exc)).replace(url, shown)[:200]
        raise SendError(f"chat webhook {shown}: {type(exc).__name__}: {detail}") from None
    if not 200 <= response.status_code < 300:
        raise SendError(f"chat webhook {shown}: HTTP {response.status_code}")


# --- the relay ------------------------------------------------------------------------


@dataclass(frozen=True)
class RelayOptions:
    instance: str
    max_attempts: int = 10
    backoff_initial: float = 30.0
    backoff_max: float = 3600.0
    lease_seconds: float = 120.0
    """How long a claim holds: longer than one send can take (its timeouts)."""
    batch: int = 100


@dataclass
class Senders:
    """What the relay sends with: SMTP (``None``: e-mail waits) and the chat client."""

    smtp: SmtpOptions | None
    chat: httpx.Client
    wall: Callable[[], float] = time.time


@dataclass
class RelayReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0

    @property
    def handled(self) -> int:
        return self.sent + self.retried + self.failed


@dataclass(frozen=True)
class _Claimed:
    id: int
    user_id: int
    user: str
    channel: Channel
    event_id: str
    subject: str
    body: str
    attempts: int
    address: str | None
    until: datetime
    disabled: bool = False


def _claim(
    ledger: Ledger, now: datetime, options: RelayOptions, channels: list[Channel]
) -> _Claimed | None:
    until = now + timedelta(seconds=options.lease_seconds)
    with ledger.unit_of_work() as session:
        rows = sql.claim_due(
            session, now=now, until=until, instance=options.instance, limit=1, channels=channels
        )
        if not rows:
            return None
        row = rows[0]
        user = session.get_one(UserRow, row.user_id)
        address = user.email if row.channel == Channel.EMAIL else user.chat_webhook_url
        disabled = user.disabled_at is not None
        return _Claimed(
            row.id,
            row.user_id,
            user.name,
            row.channel,
            row.event_id,
            row.subject,
            row.body,
            row.attempts,
            address,
            until,
            disabled,
        )


def _send(message: _Claimed, senders: Senders) -> None:
    if message.disabled:
        raise SendError(f"{message.user} is disabled: not sent", permanent=True)
    if message.channel == Channel.EMAIL:
        if not message.address:
            raise SendError(
                f"{message.user} has no e-mail address: set one on /settings/alerts",
                permanent=True,
            )
        assert senders.smtp is not None
        mail = build_mail(
            senders.smtp,
            message.address,
            message.subject,
            message.body,
            notification_id=message.id,
            event_id=message.event_id,
            wall=senders.wall(),
        )
        send_mail(senders.smtp, mail)
    else:
        if not message.address:
            raise SendError(
                f"{message.user} has no chat webhook URL: set one on /settings/alerts",
                permanent=True,
            )
        post_chat(senders.chat, message.address, message.subject, message.body)


def relay_one(
    ledger: Ledger,
    senders: Senders,
    options: RelayOptions,
    *,
    now: Callable[[], datetime],
    rand: Callable[[], float] = random.random,
    report: RelayReport | None = None,
) -> bool:
    """Claim, send and mark the oldest due message; False when none was due."""
    report = report if report is not None else RelayReport()
    channels = [Channel.CHAT]
    if senders.smtp is not None and senders.smtp.problem() is None:
        channels.insert(0, Channel.EMAIL)
    message = _claim(ledger, now(), options, channels)
    if message is None:
        return False
    crash_point("notify_after_claim")
    log = get_logger(notification=message.id, channel=message.channel.value, user=message.user_id)
    error: SendError | None = None
    if message.attempts > options.max_attempts:
        error = SendError(
            f"given up: claimed {message.attempts} times without an outcome", permanent=True
        )
    else:
        try:
            _send(message, senders)
        except SendError as exc:
            error = exc
    crash_point("notify_after_send")
    at = now()
    with ledger.unit_of_work() as session:
        if error is None:
            held = sql.mark_sent(session, message.id, options.instance, at)
            report.sent += 1
            log.info("notify_sent", event_id=message.event_id, attempts=message.attempts)
        elif error.permanent or message.attempts >= options.max_attempts:
            reason = error.reason
            if not error.permanent:
                reason = f"given up after {message.attempts} attempts: {reason}"
            held = sql.mark_failed(session, message.id, options.instance, reason[:1000])
            report.failed += 1
            log.error("notify_failed", event_id=message.event_id, error=reason)
        else:
            wait = backoff(message.attempts, options.backoff_initial, options.backoff_max, rand())
            held = sql.mark_retry(
                session,
                message.id,
                options.instance,
                error.reason[:1000],
                at + timedelta(seconds=wait),
            )
            report.retried += 1
            log.warning(
                "notify_retry",
                event_id=message.event_id,
                attempts=message.attempts,
                error=error.reason,
            )
    if not held:  # the lease lapsed and another relay took it over
        log.warning("notify_claim_lost", event_id=message.event_id)
    return True


def relay(
    ledger: Ledger,
    senders: Senders,
    options: RelayOptions,
    *,
    now: Callable[[], datetime],
    rand: Callable[[], float] = random.random,
) -> RelayReport:
    """Send due messages, one at a time, up to ``options.batch``; e-mail that cannot be
    sent (no server, credentials without TLS) waits, its reason on the rows."""
    report = RelayReport()
    problem = senders.smtp.problem() if senders.smtp is not None else "e-mail is not set up"
    channels = [Channel.CHAT] if problem is not None else [Channel.EMAIL, Channel.CHAT]
    with ledger.reading() as session:
        due = sql.any_due(session, now(), list(Channel))
    if not due:
        return report
    if problem is not None:
        with ledger.unit_of_work() as session:
            sql.note_waiting(session, Channel.EMAIL, problem)
        with ledger.reading() as session:
            if not sql.any_due(session, now(), channels):
                return report
    while report.handled < options.batch:
        if not relay_one(ledger, senders, options, now=now, rand=rand, report=report):
            break
    return report
