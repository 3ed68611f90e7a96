"""ApiClient.read_array: an unpaged JSON array read as it arrives (httpx.MockTransport
answers whose body comes in chunks and may break off). What happens before the body is
retried as for request(); a connection lost in the body is retried with the consumer
started afresh; a body cut short or malformed is a ProtocolError, never a partial result.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import tenacity

from tci_gateway.errors import (
    NotFoundError,
    ProtocolError,
    RateLimitedError,
    RejectedError,
    TransientError,
)
from tci_gateway.http.client import ApiClient, ParsedError, Timeouts
from tci_gateway.http.jsonstream import Element
from tci_gateway.http.retry import RetryPolicy
from tci_gateway.logs import configure_logging

SECRET = "tok-CANARY-stream-9341"
BODY = '{"data": [' + ", ".join(f'{{"id": {i}, "amount": {i}.50}}' for i in range(50)) + "]}"


class Chunks(httpx.SyncByteStream):
    """A body in chunks of ``size`` bytes that breaks off with ``fail`` after ``stop``
    bytes (when given); ``pulled`` counts the chunks handed out."""

    def __init__(
        self, body: bytes, size: int = 64, stop: int | None = None, fail: Exception | None = None
    ) -> None:
        self.body, self.size, self.stop, self.fail = body, size, stop, fail
        self.pulled = 0

    def __iter__(self) -> Iterator[bytes]:
        end = len(self.body) if self.stop is None else self.stop
        for start in range(0, end, self.size):
            self.pulled += 1
            yield self.body[start : min(start + self.size, end)]
        if self.fail is not None:
            raise self.fail


Reply = Callable[[], httpx.Response]


def ok(body: str = BODY, **kwargs: Any) -> Reply:
    return lambda: httpx.Response(
        200, headers={"Content-Type": "application/json"}, stream=Chunks(body.encode(), **kwargs)
    )


def reset_after(nbytes: int) -> Reply:
    return ok(stop=nbytes, fail=httpx.ReadError("connection reset by peer"))


def status(code: int, **headers: str) -> Reply:
    return lambda: httpx.Response(code, headers=headers, json={"error": {"message": "no"}})


@dataclass
class Server:
    script: list[Reply]
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.script[min(len(self.requests), len(self.script)) - 1]()


class EnvelopeClient(ApiClient):
    """Answers wrapped in {"data": [...]}; an "errors" member in a 2xx is a refusal."""

    def read_error_envelope(self, payload: Any, fallback: str) -> ParsedError:
        return ParsedError(message=str(payload.get("errors", fallback)))

    def validate_response(self, response: httpx.Response, payload: Any) -> None:
        self.refuse_embedded_error(response, payload, "errors")


def make(*script: Reply, attempts: int = 3) -> tuple[EnvelopeClient, Server, list[float]]:
    server = Server(list(script))
    sleeps: list[float] = []
    client = EnvelopeClient(
        adapter="demo",
        base_url="https://insurer.test/api",
        transport=httpx.MockTransport(server),
        retry=RetryPolicy(max_attempts=attempts, wait=tenacity.wait_none(), sleep=sleeps.append),
        timeouts=Timeouts(deadline=60),
    )
    return client, server, sleeps


class Collect:
    """A consumer that starts afresh on each call and counts its calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.seen: list[Any] = []

    def __call__(self, elements: Iterator[Element]) -> list[Any]:
        self.calls += 1
        self.seen = []
        for element in elements:
            self.seen.append(element.value)
        return list(self.seen)


def ids(values: list[Any]) -> list[int]:
    return [v["id"] for v in values]


def test_the_elements_of_the_data_member() -> None:
    client, server, _ = make(ok(size=7))
    result = client.read_array("/covers", Collect(), member="data", params={"p": "1"})
    assert ids(result) == list(range(50))
    assert str(result[3]["amount"]) == "3.50"  # exact, as Decimal
    assert dict(server.requests[0].url.params) == {"p": "1"}


def test_elements_reach_the_consumer_before_the_body_has_ended() -> None:
    stream = Chunks(BODY.encode(), size=16)
    client, _, _ = make(lambda: httpx.Response(200, stream=stream))
    pulled_at_first: list[int] = []

    def consume(elements: Iterator[Element]) -> int:
        count = 0
        for _ in elements:
            if count == 0:
                pulled_at_first.append(stream.pulled)
            count += 1
        return count

    assert client.read_array("/covers", consume, member="data") == 50
    assert pulled_at_first[0] < stream.pulled / 10


def test_a_reset_in_the_body_is_retried_and_the_consumer_starts_afresh() -> None:
    client, server, sleeps = make(reset_after(len(BODY) // 2), ok())
    consume = Collect()
    assert ids(client.read_array("/covers", consume, member="data")) == list(range(50))
    assert consume.calls == 2 and len(server.requests) == 2 and len(sleeps) == 1


def test_resets_until_the_last_attempt_are_a_transient_error() -> None:
    client, server, _ = make(reset_after(len(BODY) // 2), attempts=3)
    consume = Collect()
    with pytest.raises(TransientError, match="no complete answer: ReadError"):
        client.read_array("/covers", consume, member="data")
    assert len(server.requests) == 3 and consume.calls == 3
    assert 0 < len(consume.seen) < 50  # what it had read was never returned


@pytest.mark.parametrize("cut", [1, len(BODY) // 3, len(BODY) - 1])
def test_a_body_cut_short_is_a_protocol_error_not_retried(cut: int) -> None:
    client, server, _ = make(ok(BODY[:cut]))
    with pytest.raises(ProtocolError, match="malformed JSON") as caught:
        client.read_array("/covers", Collect(), member="data")
    assert caught.value.status == 200 and caught.value.adapter == "demo"
    assert len(server.requests) == 1


def test_malformed_json_in_the_middle_is_a_protocol_error() -> None:
    client, _, _ = make(ok(BODY.replace('"id": 20', '"id": x20')))
    with pytest.raises(ProtocolError, match="malformed JSON"):
        client.read_array("/covers", Collect(), member="data")


def test_429_with_retry_after_then_503_then_the_answer() -> None:
    client, server, sleeps = make(status(429, **{"Retry-After": "7"}), status(503), ok())
    assert len(client.read_array("/covers", Collect(), member="data")) == 50
    assert sleeps == [7.0, 0.0] and len(server.requests) == 3


def test_a_429_storm_gives_up_with_rate_limited_error() -> None:
    client, _, _ = make(status(429, **{"Retry-After": "1"}), attempts=3)
    with pytest.raises(RateLimitedError) as caught:
        client.read_array("/covers", Collect(), member="data")
    assert caught.value.retry_after == 1.0


def test_statuses_map_as_for_request() -> None:
    client, _, _ = make(status(404))
    with pytest.raises(NotFoundError):
        client.read_array("/covers", Collect(), member="data")
    client, _, _ = make(status(400))
    with pytest.raises(RejectedError):
        client.read_array("/covers", Collect(), member="data")


def test_a_connect_error_before_the_body_is_retried() -> None:
    def refuse() -> httpx.Response:
        raise httpx.ConnectError("refused")

    client, server, _ = make(refuse, ok())
    assert len(client.read_array("/covers", Collect(), member="data")) == 50
    assert len(server.requests) == 2


def test_an_html_page_is_a_protocol_error() -> None:
    page = "<html><body>Maintenance</body></html>"
    client, _, _ = make(
        lambda: httpx.Response(200, headers={"Content-Type": "text/html"}, text=page)
    )
    with pytest.raises(ProtocolError, match="HTML"):
        client.read_array("/covers", Collect(), member="data")
    client, _, _ = make(ok(page))  # said to be JSON
    with pytest.raises(ProtocolError, match="HTML") as caught:
        client.read_array("/covers", Collect(), member="data")
    assert caught.value.body == page


def test_errors_in_a_successful_answer_are_refused_after_the_body() -> None:
    client, _, _ = make(ok('{"data": [{"id": 1}], "errors": ["quota exceeded"]}'))
    with pytest.raises(RejectedError, match="quota exceeded"):
        client.read_array("/covers", Collect(), member="data")


def test_an_answer_without_the_member_is_a_protocol_error() -> None:
    client, _, _ = make(ok('{"items": []}'))
    with pytest.raises(ProtocolError, match="no 'data' member"):
        client.read_array("/covers", Collect(), member="data")


def test_what_the_consumer_leaves_is_still_read_and_checked() -> None:
    client, _, _ = make(ok(BODY[:-5]))
    with pytest.raises(ProtocolError, match="malformed JSON"):
        client.read_array("/covers", lambda elements: next(elements).value, member="data")
    client, _, _ = make(ok())
    first = client.read_array("/covers", lambda elements: next(elements).value, member="data")
    assert first["id"] == 0


def test_a_consumer_that_swallows_the_error_gets_no_result_through() -> None:
    def swallow(elements: Iterator[Element]) -> int:
        try:
            return sum(1 for _ in elements)
        except ProtocolError:
            return -1

    client, _, _ = make(ok(BODY[:-5]))
    with pytest.raises(ProtocolError, match="not read to its end"):
        client.read_array("/covers", swallow, member="data")


def test_a_bare_array() -> None:
    client, _, _ = make(ok("[1, 2, 3]"))
    assert client.read_array("/covers", Collect()) == [1, 2, 3]


def test_the_token_never_reaches_the_logs_or_the_error() -> None:
    stream = io.StringIO()
    configure_logging(fmt="json", level="debug", stream=stream)
    client, server, _ = make(reset_after(100), attempts=2)
    client._http.headers["Authorization"] = f"Bearer {SECRET}"
    with pytest.raises(TransientError) as caught:
        client.read_array("/covers", Collect(), member="data")
    assert server.requests[0].headers["Authorization"] == f"Bearer {SECRET}"
    assert "http_call" in stream.getvalue()
    assert SECRET not in stream.getvalue()
    assert SECRET not in str(caught.value) and SECRET not in (caught.value.body or "")
