"""The retry table and error mapping of the shared HTTP client (reliability.md, req. 12, 13).

Every test drives a tiny ``ApiClient`` subclass through ``httpx.MockTransport``; nothing
sleeps: waits are recorded by a fake ``sleep`` and the client's clock is fake.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
import tenacity
from hypothesis import given
from hypothesis import strategies as st

from tci_gateway.errors import (
    AdapterError,
    AmbiguousOutcomeError,
    AuthError,
    CallTimeoutError,
    NotFoundError,
    ProtocolError,
    RateLimitedError,
    RejectedError,
    TransientError,
)
from tci_gateway.http.client import ApiClient, ParsedError, Timeouts
from tci_gateway.http.jsonexact import loads
from tci_gateway.http.retry import (
    RETRY_STATUSES,
    RetryPolicy,
    call_with_retry,
    is_retriable,
    parse_retry_after,
)

BASE = "https://insurer.test/api"
MAX_ATTEMPTS = 4


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class DemoClient(ApiClient):
    """An adapter as small as it gets: its error envelope is {"error": {code, message}}."""

    def parse_error(self, response: httpx.Response) -> ParsedError:
        body = loads(response.content)
        error = body["error"]
        return ParsedError(message=error["message"], code=error["code"])


Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


@dataclass
class Server:
    """Answers from a script (the last entry repeats) and records every request."""

    script: list[Reply]
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.script[min(len(self.requests), len(self.script)) - 1]
        if isinstance(reply, Exception):
            raise reply
        if callable(reply) and not isinstance(reply, httpx.Response):
            return reply(request)
        return reply


@dataclass
class Harness:
    client: DemoClient
    server: Server
    sleeps: list[float]
    clock: FakeClock


def make(
    *script: Reply,
    max_attempts: int = MAX_ATTEMPTS,
    wait: Any = None,
    deadline: float = 120.0,
    retry_after_max: float = 120.0,
    advance_clock_on_sleep: bool = True,
) -> Harness:
    server = Server(list(script))
    clock = FakeClock()
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if advance_clock_on_sleep:
            clock.advance(seconds)

    policy = RetryPolicy(
        max_attempts=max_attempts,
        wait=wait or tenacity.wait_none(),
        sleep=sleep,
        retry_after_max=retry_after_max,
        deadline=deadline,
    )
    client = DemoClient(
        adapter="demo",
        base_url=BASE,
        transport=httpx.MockTransport(server),
        retry=policy,
        timeouts=Timeouts(connect=5.0, read=30.0, deadline=deadline),
        clock=clock,
    )
    return Harness(client, server, sleeps, clock)


@pytest.fixture(autouse=True)
def _no_real_sleep(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def refuse(seconds: float) -> None:
        raise AssertionError(f"a test slept for real ({seconds} s)")

    monkeypatch.setattr("time.sleep", refuse)
    yield


def error_reply(status: int, code: str = "E1", message: str = "nope", **headers: str) -> Reply:
    return httpx.Response(
        status, json={"error": {"code": code, "message": message}}, headers=headers
    )


OK = httpx.Response(200, json={"ok": True})


# -- the table -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", sorted(RETRY_STATUSES))
def test_get_retries_transient_statuses_up_to_max_attempts(status: int) -> None:
    h = make(error_reply(status))
    with pytest.raises(TransientError) as info:
        h.client.request("GET", "/buyers/1")
    assert len(h.server.requests) == MAX_ATTEMPTS
    assert len(h.sleeps) == MAX_ATTEMPTS - 1
    assert info.value.status == status
    assert is_retriable(info.value)


@pytest.mark.parametrize("status", sorted(RETRY_STATUSES))
def test_get_succeeds_after_transient_failures(status: int) -> None:
    h = make(error_reply(status), error_reply(status), OK)
    assert h.client.request("GET", "/buyers/1").payload == {"ok": True}
    assert len(h.server.requests) == 3


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, RejectedError),
        (403, AuthError),
        (404, NotFoundError),
        (409, RejectedError),
        (410, RejectedError),
        (422, RejectedError),
        (401, AuthError),  # no auth strategy: nothing to refresh
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
def test_client_errors_are_never_retried(
    method: str, status: int, error: type[AdapterError]
) -> None:
    h = make(error_reply(status))
    with pytest.raises(error) as info:
        h.client.request(method, "/covers", json_body={"a": 1} if method != "GET" else None)
    assert type(info.value) is error
    assert len(h.server.requests) == 1
    assert h.sleeps == []
    assert info.value.status == status
    assert not is_retriable(info.value)


def test_500_on_get_is_transient_but_not_retried() -> None:
    h = make(error_reply(500))
    with pytest.raises(TransientError) as info:
        h.client.request("GET", "/buyers/1")
    assert type(info.value) is TransientError
    assert info.value.status == 500
    assert len(h.server.requests) == 1


@pytest.mark.parametrize("status", [425, 429])
def test_post_retries_statuses_that_say_nothing_was_processed(status: int) -> None:
    h = make(error_reply(status))
    with pytest.raises(TransientError) as info:
        h.client.request("POST", "/covers", json_body={"amount": "1"}, client_reference="R-1")
    assert len(h.server.requests) == MAX_ATTEMPTS
    assert info.value.status == status


def test_post_succeeds_after_a_429() -> None:
    h = make(error_reply(429), httpx.Response(201, json={"id": "X"}))
    response = h.client.request("POST", "/covers", json_body={"amount": "1"})
    assert response.status == 201
    assert len(h.server.requests) == 2
    # the same bytes go out every time
    assert h.server.requests[0].content == h.server.requests[1].content == b'{"amount":"1"}'


@pytest.mark.parametrize("status", [408, 500, 502, 503, 504])
def test_post_with_an_ambiguous_status_is_sent_exactly_once(status: int) -> None:
    h = make(error_reply(status, code="E5"))
    with pytest.raises(AmbiguousOutcomeError) as info:
        h.client.request("POST", "/claims", json_body={"x": 1}, client_reference="CLM-42")
    assert len(h.server.requests) == 1
    assert h.sleeps == []
    err = info.value
    assert err.status == status
    assert err.client_reference == "CLM-42"
    assert err.code == "E5"


def test_post_declared_idempotent_follows_the_get_table() -> None:
    h = make(error_reply(503), OK)
    h.client.request("POST", "/search", json_body={"q": "acme"}, idempotent=True)
    assert len(h.server.requests) == 2


def test_put_is_idempotent_by_default() -> None:
    h = make(error_reply(502), OK)
    h.client.request("PUT", "/buyers/1", json_body={"name": "x"})
    assert len(h.server.requests) == 2


# -- transport failures ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "exc", [httpx.ConnectError("refused"), httpx.ConnectTimeout("slow"), httpx.PoolTimeout("x")]
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_failures_before_sending_are_retried_for_every_method(method: str, exc: Exception) -> None:
    h = make(exc)
    with pytest.raises(TransientError) as info:
        h.client.request(method, "/covers", client_reference="R-1")
    assert len(h.server.requests) == MAX_ATTEMPTS
    assert info.value.status is None
    assert "could not connect" in info.value.message


def test_post_goes_through_after_a_connect_error() -> None:
    h = make(httpx.ConnectError("refused"), httpx.Response(201, json={"id": 1}))
    assert h.client.request("POST", "/claims", json_body={"x": 1}).payload == {"id": 1}
    assert len(h.server.requests) == 2


AFTER_SENDING = [
    httpx.ReadTimeout("read timed out"),
    httpx.RemoteProtocolError("Server disconnected without sending a response."),
    httpx.ReadError("connection reset by peer"),
    httpx.WriteTimeout("write timed out"),
]


@pytest.mark.parametrize("exc", AFTER_SENDING, ids=lambda e: type(e).__name__)
def test_failures_after_sending_are_retried_for_get(exc: Exception) -> None:
    h = make(exc, exc, OK)
    assert h.client.request("GET", "/buyers/1").payload == {"ok": True}
    assert len(h.server.requests) == 3


@pytest.mark.parametrize("exc", AFTER_SENDING, ids=lambda e: type(e).__name__)
def test_failures_after_sending_a_post_are_ambiguous(exc: Exception) -> None:
    h = make(exc)
    with pytest.raises(AmbiguousOutcomeError) as info:
        h.client.request("POST", "/claims", json_body={"x": 1}, client_reference="CLM-7")
    assert len(h.server.requests) == 1
    assert info.value.client_reference == "CLM-7"
    assert info.value.status is None
    assert "may have been applied" in info.value.message
    assert info.value.correlation_id == h.server.requests[0].headers["X-Correlation-Id"]


# -- Retry-After -----------------------------------------------------------------------------


def test_retry_after_in_seconds_is_honoured() -> None:
    h = make(error_reply(429, **{"Retry-After": "7"}), OK)
    h.client.request("GET", "/buyers")
    assert h.sleeps == [7.0]


def test_retry_after_on_a_503_is_honoured() -> None:
    h = make(error_reply(503, **{"Retry-After": "11"}), OK)
    h.client.request("GET", "/buyers")
    assert h.sleeps == [11.0]


def test_retry_after_is_kept_on_the_error() -> None:
    h = make(error_reply(429, **{"Retry-After": "2"}), max_attempts=1)
    with pytest.raises(RateLimitedError) as info:
        h.client.request("GET", "/buyers")
    assert info.value.retry_after == 2.0


def test_retry_after_as_an_http_date_is_honoured() -> None:
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=300)
    h = make(
        error_reply(429, **{"Retry-After": format_datetime(when, usegmt=True)}),
        OK,
        deadline=1000,
        retry_after_max=1000,
    )
    h.client.request("GET", "/buyers")
    assert len(h.sleeps) == 1
    assert 295 <= h.sleeps[0] <= 300


def test_retry_after_is_capped() -> None:
    h = make(error_reply(429, **{"Retry-After": "3600"}), OK, retry_after_max=45, deadline=1000)
    h.client.request("GET", "/buyers")
    assert h.sleeps == [45.0]


def test_without_retry_after_the_fallback_wait_is_used() -> None:
    h = make(error_reply(429), error_reply(502), OK, wait=tenacity.wait_fixed(1.5))
    h.client.request("GET", "/buyers")
    assert h.sleeps == [1.5, 1.5]


def test_a_wait_that_would_pass_the_deadline_is_not_slept() -> None:
    h = make(error_reply(429, **{"Retry-After": "90"}), OK, deadline=60)
    with pytest.raises(RateLimitedError) as info:
        h.client.request("GET", "/buyers")
    assert h.sleeps == []
    assert len(h.server.requests) == 1
    assert info.value.retry_after == 90.0


def test_default_backoff_is_jittered_and_capped() -> None:
    policy = RetryPolicy(max_attempts=6, backoff_initial=0.5, backoff_max=2.0, sleep=lambda s: None)
    waits: list[float] = []
    retrying = policy.retrying()
    retrying = retrying.copy(before_sleep=lambda rs: waits.append(rs.upcoming_sleep))
    with pytest.raises(TransientError):
        for attempt in retrying:
            with attempt:
                raise TransientError("down", status=503)
    assert len(waits) == 5
    assert all(0 <= w <= 2.0 for w in waits)


# -- parse_retry_after -----------------------------------------------------------------------

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("0", 0.0),
        ("7", 7.0),
        ("  7 ", 7.0),
        ("120", 120.0),
        ("-1", None),
        ("1.5", None),
        ("soon", None),
        ("²", None),  # a superscript two is a "digit" to str.isdigit
        ("١٢", None),  # Arabic-Indic digits are not delay-seconds either
        ("Sun, 01 Mar 2026 12:00:30 GMT", 30.0),  # IMF-fixdate
        ("Sunday, 01-Mar-26 12:01:00 GMT", 60.0),  # obsolete RFC 850
        ("Sun Mar  1 12:00:10 2026", 10.0),  # obsolete asctime, no zone: UTC
        ("Sun, 01 Mar 2026 11:00:00 GMT", 0.0),  # in the past
        ("Sun, 01 Mar 2026 13:00:00 +0100", 0.0),  # same instant as NOW
        ("Mon, 01 Jan 99999 00:00:00 GMT", None),
        ("Mon, 32 Jan 2026 00:00:00 GMT", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected


@given(st.text(max_size=40))
def test_parse_retry_after_never_raises(value: str) -> None:
    result = parse_retry_after(value, now=NOW)
    assert result is None or result >= 0


# -- deadline and timeouts -------------------------------------------------------------------


def test_the_overall_deadline_stops_retries() -> None:
    h = make(error_reply(503), max_attempts=50, wait=tenacity.wait_fixed(3), deadline=10)
    with pytest.raises(TransientError) as info:
        h.client.request("GET", "/buyers")
    # sends at t=0, 3, 6, 9; the next wait would end at 12, past the deadline at 10
    assert len(h.server.requests) == 4
    assert h.sleeps == [3, 3, 3]
    assert info.value.status == 503


def test_a_deadline_passed_while_reading_is_not_retried() -> None:
    clock_box: list[FakeClock] = []

    def slow(request: httpx.Request) -> httpx.Response:
        clock_box[0].advance(11)  # the server trickles its answer past the deadline
        return httpx.Response(200, json={"late": True})

    h = make(slow, deadline=10)
    clock_box.append(h.clock)
    with pytest.raises(CallTimeoutError):
        h.client.request("GET", "/buyers")
    assert len(h.server.requests) == 1
    assert h.sleeps == []


def test_a_post_past_its_deadline_is_ambiguous() -> None:
    clock_box: list[FakeClock] = []

    def slow(request: httpx.Request) -> httpx.Response:
        clock_box[0].advance(11)
        return httpx.Response(201, json={"id": 1})

    h = make(slow, deadline=10)
    clock_box.append(h.clock)
    with pytest.raises(AmbiguousOutcomeError) as info:
        h.client.request("POST", "/claims", json_body={}, client_reference="CLM-1")
    assert info.value.client_reference == "CLM-1"
    assert len(h.server.requests) == 1


def test_every_request_carries_timeouts_bounded_by_the_deadline() -> None:
    h = make(OK, deadline=12)
    h.client.request("GET", "/buyers")
    timeout = h.server.requests[0].extensions["timeout"]
    assert timeout == {"connect": 5.0, "read": 12.0, "write": 12.0, "pool": 12.0}


def test_is_retriable_never_retries_a_passed_deadline() -> None:
    assert not is_retriable(CallTimeoutError("deadline"))
    assert is_retriable(TransientError("reset"))
    assert not is_retriable(TransientError("server error", status=500))
    assert not is_retriable(RejectedError("bad", status=400))
    assert not is_retriable(ValueError("x"))


def test_call_with_retry_reraises_the_last_error_itself() -> None:
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        raise TransientError("down", status=502)

    policy = RetryPolicy(max_attempts=3, wait=tenacity.wait_none(), sleep=lambda s: None)
    with pytest.raises(TransientError) as info:
        call_with_retry(policy, flaky)
    assert info.value.status == 502
    assert len(calls) == 3
    assert call_with_retry(policy, lambda: "ok") == "ok"


# -- answers that are not what the contract says ---------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_protocol_errors_and_not_followed(status: int) -> None:
    h = make(httpx.Response(status, headers={"Location": "https://evil.test/steal"}))
    with pytest.raises(ProtocolError) as info:
        h.client.request("GET", "/buyers")
    assert len(h.server.requests) == 1
    assert h.server.requests[0].url.host == "insurer.test"
    assert info.value.status == status
    assert "https://evil.test/steal" in info.value.message
    assert "not followed" in info.value.message


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(
            200, text="<html><body>Maintenance</body></html>", headers={"Content-Type": "text/html"}
        ),
        httpx.Response(
            200, text="  <!DOCTYPE html><p>login</p>", headers={"Content-Type": "application/json"}
        ),
    ],
)
def test_an_html_page_is_a_protocol_error(response: httpx.Response) -> None:
    h = make(response)
    with pytest.raises(ProtocolError) as info:
        h.client.request("GET", "/buyers")
    err = info.value
    assert err.status == 200
    assert err.body is not None and "html" in err.body.lower()
    assert "HTML" in err.message
    assert err.correlation_id == h.server.requests[0].headers["X-Correlation-Id"]
    assert len(h.server.requests) == 1


@pytest.mark.parametrize(
    "text", ['{"items": [1, 2', '{"amount": NaN}', '{"amount": -Infinity}', "\xff\xfe"]
)
def test_malformed_json_is_a_protocol_error(text: str) -> None:
    h = make(httpx.Response(200, content=text.encode("latin-1")))
    with pytest.raises(ProtocolError) as info:
        h.client.request("GET", "/buyers")
    assert info.value.status == 200
    assert info.value.body is not None
    assert "malformed JSON" in info.value.message


def test_a_long_body_is_bounded_on_the_error() -> None:
    h = make(httpx.Response(200, text="<html>" + "x" * 10_000))
    with pytest.raises(ProtocolError) as info:
        h.client.request("GET", "/buyers")
    assert info.value.body is not None and len(info.value.body) <= 2001


def test_an_unreadable_error_body_keeps_the_status() -> None:
    h = make(httpx.Response(422, text="<html>oops</html>"))  # DemoClient.parse_error fails
    with pytest.raises(RejectedError) as info:
        h.client.request("GET", "/buyers")
    assert info.value.status == 422
    assert info.value.message == "HTTP 422"
    assert info.value.body == "<html>oops</html>"


def test_errors_carry_their_fields() -> None:
    h = make(
        error_reply(422, code="BUYER_UNKNOWN", message="no such buyer", **{"X-Request-Id": "rq-9"})
    )
    with pytest.raises(RejectedError) as info:
        h.client.request("GET", "/buyers/9")
    err = info.value
    sent = h.server.requests[0]
    assert err.adapter == "demo"
    assert err.status == 422
    assert err.code == "BUYER_UNKNOWN"
    assert err.message == "no such buyer"
    assert err.request_id == "rq-9"
    assert err.correlation_id == sent.headers["X-Correlation-Id"]
    assert json.loads(err.body or "") == {
        "error": {"code": "BUYER_UNKNOWN", "message": "no such buyer"}
    }
    text = str(err)
    assert "demo: no such buyer" in text
    assert "HTTP 422" in text and "code BUYER_UNKNOWN" in text
    assert err.correlation_id in text


def test_one_correlation_id_per_call_across_retries() -> None:
    h = make(
        error_reply(503),
        error_reply(503),
        httpx.Response(200, json={}, headers={"X-Request-Id": "r3"}),
    )
    response = h.client.request("GET", "/buyers")
    ids = {r.headers["X-Correlation-Id"] for r in h.server.requests}
    assert ids == {response.correlation_id}
    assert response.request_id == "r3"
    other = make(OK)
    assert other.client.request("GET", "/b").correlation_id != response.correlation_id


# -- success -----------------------------------------------------------------------------------


def test_json_numbers_with_a_fraction_parse_as_decimal() -> None:
    body = b'{"limit": 100000.10, "rate": 0.1, "count": 3, "items": [{"a": 1e2}]}'
    h = make(httpx.Response(200, content=body, headers={"Content-Type": "application/json"}))
    payload = h.client.request("GET", "/covers").payload
    assert payload["limit"] == Decimal("100000.10")
    assert isinstance(payload["limit"], Decimal)
    assert str(payload["limit"]) == "100000.10"
    assert payload["rate"] == Decimal("0.1")
    assert payload["count"] == 3 and isinstance(payload["count"], int)
    assert isinstance(payload["items"][0]["a"], Decimal)


def test_loads_refuses_non_finite_constants() -> None:
    for text in ("NaN", "Infinity", "-Infinity", '{"a": [NaN]}'):
        with pytest.raises(ValueError, match="non-finite"):
            loads(text)


def test_an_empty_body_is_none() -> None:
    h = make(httpx.Response(204))
    response = h.client.request("DELETE", "/covers/1")
    assert response.status == 204
    assert response.payload is None


def test_what_goes_on_the_wire() -> None:
    h = make(OK)
    h.client.request("POST", "/covers", params={"policy": "P1"}, json_body={"amount": "12.50"})
    sent = h.server.requests[0]
    assert str(sent.url) == f"{BASE}/covers?policy=P1"
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.headers["Accept"] == "application/json"
    assert sent.headers["User-Agent"].startswith("tci-gateway/")
    assert json.loads(sent.content) == {"amount": "12.50"}


def test_validate_response_can_refuse_a_2xx() -> None:
    class Strict(DemoClient):
        def validate_response(self, response: httpx.Response, payload: Any) -> None:
            if payload.get("status") == "ERROR":
                raise RejectedError("error inside a 200", adapter=self.adapter, status=200)

    server = Server([httpx.Response(200, json={"status": "ERROR"})])
    client = Strict(
        adapter="demo",
        base_url=BASE,
        transport=httpx.MockTransport(server),
        retry=RetryPolicy(wait=tenacity.wait_none(), sleep=lambda s: None),
    )
    with pytest.raises(RejectedError, match="inside a 200"):
        client.request("GET", "/x")
    assert len(server.requests) == 1
    client.close()
