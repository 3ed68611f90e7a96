"""Secrets never reach the logs or error messages (docs/architecture.md, section 4,
redaction). Canary secrets are planted everywhere a real one could travel."""

from __future__ import annotations

import base64
import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import structlog
import tenacity
from structlog.testing import capture_logs

from tci_gateway.adapters.auth import TokenAuth
from tci_gateway.adapters.contract import AdapterContext
from tci_gateway.errors import AdapterError, ProtocolError
from tci_gateway.http.auth import TokenCache
from tci_gateway.http.client import ApiClient
from tci_gateway.http.retry import RetryPolicy
from tci_gateway.logs import (
    REDACTED,
    configure_logging,
    get_logger,
    redact,
    redact_text,
    register_secret,
)

# Registered canaries: configured credentials and tokens obtained at run time.
TOKEN = "tok-CANARY-7f3a9e21"
API_KEY = "key-CANARY-51be0c"
PASSWORD = "pw-CANARY-hunter2"
BASIC_VALUE = base64.b64encode(b"user:pw-CANARY-basic").decode()
REGISTERED = [TOKEN, API_KEY, PASSWORD, BASIC_VALUE]

# Never registered: they must go because of where they appear.
UNREGISTERED = {
    "authorization": "Bearer unreg-CANARY-authz",
    "client_secret": "unreg-CANARY-client-secret",
    "access_token": "unreg-CANARY-access-token",
    "password": "unreg-CANARY-password",
    "x-api-key": "unreg-CANARY-api-key",
    "refresh_token": "unreg-CANARY-refresh",
    "Cookie": "session=unreg-CANARY-cookie",
}
FREE_TEXT_CANARIES = {
    "password=unreg-CANARY-pair&user=bob": "unreg-CANARY-pair",
    '{"access_token": "unreg-CANARY-json", "expires_in": 3600}': "unreg-CANARY-json",
    "Authorization: Token unreg-CANARY-header": "unreg-CANARY-header",
    "X-Api-Key: unreg-CANARY-xkey": "unreg-CANARY-xkey",
    "postgresql://tci:unreg-CANARY-dbpw@db.internal/ledger": "unreg-CANARY-dbpw",
}
ALL_CANARIES = [*REGISTERED, *UNREGISTERED.values(), *FREE_TEXT_CANARIES.values()]
CANARY_MARK = "CANARY"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    noisy = {name: logging.getLogger(name).level for name in ("httpx", "httpcore", "alembic")}
    for secret in REGISTERED:
        register_secret(secret)
    yield
    structlog.reset_defaults()
    root.handlers[:], level = saved
    root.setLevel(level)
    for name, lvl in noisy.items():
        logging.getLogger(name).setLevel(lvl)


def log_everything(stream: io.StringIO, fmt: str) -> None:
    configure_logging(fmt=fmt, level="debug", stream=stream)
    log = get_logger(adapter="demo", run_id="r-1")
    # registered secrets, wherever they appear
    log.info(f"got token {TOKEN}")
    log.info("call", url=f"https://insurer.test/buyers?key={API_KEY}", note=f"pw is {PASSWORD}")
    log.info(
        "headers", headers={"Authorization": f"Basic {BASIC_VALUE}"}, items=[TOKEN, (API_KEY,)]
    )
    log.info("not strings", raw=TOKEN.encode(), url=httpx.URL(f"https://x.test/?t={TOKEN}"))
    log.info("formatted %s", PASSWORD)
    # unregistered secrets under secret-looking keys, flat and nested
    log.info("credentials", **UNREGISTERED)
    log.info("nested", request={"headers": dict(UNREGISTERED), "body": {"password": "x" * 8}})
    # unregistered secrets in free text
    for text in FREE_TEXT_CANARIES:
        log.warning("insurer said", body=text)
    # exceptions: as a value and with a traceback
    log.error("failed", error=ValueError(f"bad token {TOKEN}\nsecond line"))
    try:
        raise RuntimeError(f"login failed for {PASSWORD} with password=unreg-CANARY-exc")
    except RuntimeError:
        log.exception("crashed")
    # an adapter error with a body holding a secret
    err = ProtocolError("bad answer", adapter="demo", status=200, body=f'{{"token": "{TOKEN}"}}')
    log.error("adapter_failed", error=err, body=err.body, error_repr=repr(err))
    # standard-library loggers go through the same chain
    logging.getLogger("httpx").warning("HTTP Request: GET https://x.test/?api_key=%s", API_KEY)
    logging.getLogger("httpx").warning("Authorization: Bearer %s", "unreg-CANARY-httpx")
    try:
        raise ConnectionError(f"reset while sending {TOKEN}")
    except ConnectionError:
        logging.getLogger("tci.stdlib").exception("stdlib failure")


ALSO_PLANTED = ["unreg-CANARY-exc", "unreg-CANARY-httpx"]


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_no_canary_reaches_the_output(fmt: str) -> None:
    stream = io.StringIO()
    log_everything(stream, fmt)
    output = stream.getvalue()
    assert output.count("\n") >= 18  # all 18 events really were written
    for canary in [*ALL_CANARIES, *ALSO_PLANTED]:
        assert canary not in output, f"{canary!r} leaked into the {fmt} log"
    assert CANARY_MARK not in output
    assert REDACTED in output
    # the context around the secrets survives
    assert "adapter_failed" in output and "stdlib failure" in output and "run_id" in output


def test_json_lines_stay_valid_json() -> None:
    stream = io.StringIO()
    log_everything(stream, "json")
    lines = stream.getvalue().splitlines()
    events = [json.loads(line) for line in lines]
    assert all("event" in e for e in events)
    creds = next(e for e in events if e["event"] == "credentials")
    for key in UNREGISTERED:
        assert creds[key] == REDACTED


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_cr_lf_in_a_value_does_not_start_a_new_line(fmt: str) -> None:
    stream = io.StringIO()
    configure_logging(fmt=fmt, stream=stream)
    log = get_logger()
    log.info("login", user="alice\nFORGED level=critical event=admin_granted")
    log.info("login\r\nFORGED-EVENT", reason="x\rFORGED-CR")
    log.warning("failed", error=ValueError("first\nFORGED-EXC"))
    logging.getLogger("httpx").warning("stdlib\nFORGED-STDLIB")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 4
    for line in lines:
        assert not line.startswith("FORGED")
        assert "\r" not in line
    if fmt == "json":
        assert [json.loads(line)["level"] for line in lines] == [
            "info",
            "info",
            "warning",
            "warning",
        ]
    else:
        assert all(re.match(r"^\d{4}-\d\d-\d\dT", line) for line in lines)


def test_a_traceback_keeps_its_lines_but_not_its_secrets() -> None:
    stream = io.StringIO()
    configure_logging(fmt="console", stream=stream)
    try:
        raise KeyError(TOKEN)
    except KeyError:
        get_logger().exception("boom")
    output = stream.getvalue()
    assert "Traceback (most recent call last):" in output
    assert TOKEN not in output


def test_levels_filter_and_noisy_libraries_are_quieter() -> None:
    stream = io.StringIO()
    configure_logging(fmt="json", level="info", stream=stream)
    get_logger().debug("hidden")
    logging.getLogger("httpx").info("also hidden")
    get_logger().info("shown")
    events = [json.loads(line)["event"] for line in stream.getvalue().splitlines()]
    assert events == ["shown"]


# -- the processor and redact_text on their own ---------------------------------------------


def test_the_processor_scrubs_event_dicts() -> None:
    with capture_logs(processors=[redact]) as logs:
        get_logger().info(
            f"event with {TOKEN}",
            password="",  # empty values are not secrets: kept as they are
            api_key=None,
            token_count=3,
            authorization="Bearer unreg-CANARY-1",
            details=[{"client_secret": "unreg-CANARY-2"}, f"Bearer {TOKEN}"],
            amount=12,
        )
    [event] = logs
    assert event["event"] == f"event with {REDACTED}"
    assert event["password"] == "" and event["api_key"] is None
    assert event["token_count"] == REDACTED  # a secret-looking key is scrubbed whatever it holds
    assert event["authorization"] == REDACTED
    assert event["details"] == [{"client_secret": REDACTED}, f"Bearer {REDACTED}"]
    assert event["amount"] == 12


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc.def", f"Authorization: Bearer {REDACTED}"),
        ("header Bearer abc.def-ghi_jkl~", f"header Bearer {REDACTED}"),
        ("Basic dXNlcjpwYXNz", f"Basic {REDACTED}"),
        ("bearer eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl", f"bearer {REDACTED}"),
        ("?access_token=abc&page=2", f"?access_token={REDACTED}&page=2"),
        ("password = 'hunter2'", f"password = '{REDACTED}'"),
        ('{"client_secret":"abc","scope":"x"}', f'{{"client_secret":"{REDACTED}","scope":"x"}}'),
        ("{'refresh_token': 'abc'}", f"{{'refresh_token': '{REDACTED}'}}"),
        ("X-Api-Key: abc123", f"X-Api-Key: {REDACTED}"),
        ("https://u:p4ss@proxy.test:8080/", f"https://u:{REDACTED}@proxy.test:8080/"),
        ("nothing secret here: 12 invoices", "nothing secret here: 12 invoices"),
        ("https://insurer.test:443/v1/buyers?page=2", "https://insurer.test:443/v1/buyers?page=2"),
    ],
)
def test_redact_text(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_redact_text_scrubs_registered_secrets_longest_first() -> None:
    register_secret("abcd-CANARY")
    register_secret("abcd-CANARY-longer")
    assert redact_text("x abcd-CANARY-longer y") == f"x {REDACTED} y"


def test_short_values_are_not_registered() -> None:
    register_secret("abc")
    register_secret(None)
    register_secret("")
    assert redact_text("abc") == "abc"


def test_an_adapter_error_shown_to_a_user_is_scrubbed() -> None:
    err = AdapterError(
        f"login refused for {PASSWORD}",
        adapter="demo",
        status=401,
        body=f'{{"echo": "{TOKEN}", "password": "unreg-CANARY-body"}}',
    )
    shown = str(redact_text(str(err)))
    assert PASSWORD not in shown and TOKEN not in shown
    assert "HTTP 401" in shown
    assert TOKEN not in redact_text(err.body or "")
    assert "unreg-CANARY-body" not in redact_text(err.body or "")


# -- end to end: the HTTP client's own logging -----------------------------------------------


class DemoAuth(TokenAuth):
    def __init__(self) -> None:
        context = AdapterContext(
            name="demo", base_url="https://insurer.test", environment="test", credentials={}
        )
        super().__init__(context, identity=(), token_path="/token", cache=TokenCache())

    def token_request(self, call: httpx.Request) -> httpx.Request:
        return httpx.Request("POST", self.token_url, data={"secret": API_KEY})

    def read_token(self, response: httpx.Response) -> tuple[str, float]:
        return response.json()["access_token"], 3600.0


def test_the_http_client_logs_no_credentials() -> None:
    runtime_token = "tok-CANARY-runtime-4711"  # registered only when it arrives

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            return httpx.Response(200, json={"access_token": runtime_token})
        return httpx.Response(500, json={"echo": request.headers["Authorization"]})

    stream = io.StringIO()
    configure_logging(fmt="json", level="debug", stream=stream)
    client = ApiClient(
        adapter="demo",
        base_url="https://insurer.test",
        auth=DemoAuth(),
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy(max_attempts=1, wait=tenacity.wait_none(), sleep=lambda s: None),
    )
    with pytest.raises(AdapterError) as info:
        client.request("GET", "/buyers")
    get_logger().error("call_failed", error=info.value, body=info.value.body)
    output = stream.getvalue()
    assert "http_call" in output
    assert runtime_token in (info.value.body or "")  # the raw error keeps what it was sent
    assert runtime_token not in output
    assert runtime_token not in redact_text(str(info.value))


# -- the database URL's password and tracebacks' local variables (issue 10, section 7) -------


def test_the_database_password_is_a_secret_once_the_settings_are_loaded(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tci_gateway.config import load_settings
    from tci_gateway.ledger.engine import display_url

    password = "dbpw-CANARY-p%40ss"  # written %-encoded in the URL: "@" is "%40"
    url = f"postgresql://tci:{password}@db.internal:5432/ledger"
    monkeypatch.setenv("TCI_DATABASE__URL", url)
    monkeypatch.chdir(tmp_path)
    load_settings(None)
    # The driver may quote the password decoded, anywhere in a message: both go.
    for text in (f"auth failed for {password}", "auth failed for dbpw-CANARY-p@ss", url):
        assert "CANARY" not in redact_text(text), text
    assert display_url(url) == "postgresql://tci:***@db.internal:5432/ledger"
    stream = io.StringIO()
    configure_logging(fmt="json", level="debug", stream=stream)
    get_logger().warning("ledger_failed", reason="login refused for dbpw-CANARY-p@ss")
    assert "CANARY" not in stream.getvalue()


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_a_logged_traceback_shows_no_local_variables(fmt: str) -> None:
    stream = io.StringIO()
    configure_logging(fmt=fmt, level="debug", stream=stream)

    def fail(settings: dict[str, str]) -> None:
        unregistered = "local-CANARY-value"  # noqa: F841 (a local a pretty traceback would show)
        raise RuntimeError("boom")

    try:
        fail({"url": "postgresql://u:local-CANARY-arg@h/db"})
    except RuntimeError:
        get_logger().debug("internal_error", exc_info=True)
    output = stream.getvalue()
    assert "Traceback (most recent call last):" in output and "boom" in output
    assert "CANARY" not in output and "locals" not in output


def test_an_unknown_log_level_is_refused_not_a_key_error() -> None:
    with pytest.raises(ValueError, match="verbose"):
        configure_logging(level="verbose", stream=io.StringIO())
