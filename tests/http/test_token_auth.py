"""Token auth: caching, refresh before expiry, one retry on 401, single-flight refresh
(reliability.md, requirements 12 and 19)."""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import pytest
import tenacity

from tci_gateway.adapters.auth import TokenAuth
from tci_gateway.adapters.contract import AdapterContext
from tci_gateway.errors import AuthError, TransientError
from tci_gateway.http.auth import (
    REFRESH_MARGIN,
    Token,
    TokenCache,
    basic_credentials,
    refresh_margin,
)
from tci_gateway.http.client import ApiClient, Timeouts
from tci_gateway.http.retry import RetryPolicy
from tci_gateway.logs import redact_text

BASE = "https://insurer.test/api"
CLIENT_SECRET = "s3cr3t-CANARY-client-secret"


class FakeClock:
    def __init__(self, start: float = 10_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class DemoAuth(TokenAuth):
    """OAuth2 client credentials, as small as it gets."""

    def __init__(self, cache: TokenCache, key: str = "demo") -> None:
        context = AdapterContext(name=key, base_url=BASE, environment="test", credentials={})
        super().__init__(context, identity=("client-1",), token_path="/oauth/token", cache=cache)
        self.entered = 0  # callers that asked for a token
        self.entered_changed = threading.Condition()

    def token_request(self, call: httpx.Request) -> httpx.Request:
        with self.entered_changed:
            self.entered += 1
            self.entered_changed.notify_all()
        return httpx.Request(
            "POST",
            self.token_url,
            data={
                "grant_type": "client_credentials",
                "client_id": "client-1",
                "client_secret": CLIENT_SECRET,
            },
        )

    def wait_for_callers(self, n: int) -> bool:
        with self.entered_changed:
            return self.entered_changed.wait_for(lambda: self.entered >= n, timeout=10)


@dataclass
class Insurer:
    """Issues numbered tokens and accepts calls carrying the tokens it still honours."""

    lifetime: float = 3600.0
    token_status: list[int] = field(default_factory=list)  # scripted token answers
    revoked: set[str] = field(default_factory=set)
    always_401: bool = False
    token_requests: list[httpx.Request] = field(default_factory=list)
    api_requests: list[httpx.Request] = field(default_factory=list)
    before_token: Callable[[], None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def issued(self) -> int:
        return len(self.token_requests)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth/token"):
            with self.lock:
                self.token_requests.append(request)
                n = len(self.token_requests)
            if self.before_token is not None:
                self.before_token()
            if n <= len(self.token_status) and self.token_status[n - 1] != 200:
                status = self.token_status[n - 1]
                return httpx.Response(
                    status,
                    json={"error": "invalid_client", "client_secret": CLIENT_SECRET},
                )
            return httpx.Response(
                200,
                json={
                    "access_token": f"tok-{n}-CANARY",
                    "token_type": "Bearer",
                    "expires_in": self.lifetime,
                },
            )
        self.api_requests.append(request)
        if len(self.api_requests) > 100:  # a retry loop gone wild fails fast, never hangs
            raise AssertionError("runaway requests")
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ")
        if self.always_401 or not token.startswith("tok-") or token in self.revoked:
            return httpx.Response(401, json={"error": "invalid_token"})
        return httpx.Response(200, json={"token_used": token})


def make(insurer: Insurer, clock: FakeClock | None = None) -> tuple[ApiClient, DemoAuth]:
    clock = clock or FakeClock()
    auth = DemoAuth(TokenCache(clock=clock))
    client = ApiClient(
        adapter="demo",
        base_url=BASE,
        auth=auth,
        transport=httpx.MockTransport(insurer),
        retry=RetryPolicy(max_attempts=3, wait=tenacity.wait_none(), sleep=lambda s: None),
        timeouts=Timeouts(deadline=60),
        clock=clock,
    )
    return client, auth


def test_the_token_is_fetched_once_and_cached() -> None:
    insurer = Insurer()
    client, _ = make(insurer)
    for _ in range(5):
        assert client.request("GET", "/buyers").payload == {"token_used": "tok-1-CANARY"}
    assert insurer.issued() == 1
    assert len(insurer.api_requests) == 5
    assert all(r.headers["Authorization"] == "Bearer tok-1-CANARY" for r in insurer.api_requests)
    # the token request itself carries the credentials, not a bearer token
    token_request = insurer.token_requests[0]
    assert "Authorization" not in token_request.headers
    assert b"client_secret=" in token_request.content


def test_the_token_is_refreshed_refresh_margin_seconds_before_expiry() -> None:
    insurer, clock = Insurer(lifetime=3600), FakeClock()
    client, _ = make(insurer, clock)
    client.request("GET", "/buyers")
    clock.advance(3600 - REFRESH_MARGIN - 0.001)
    assert client.request("GET", "/buyers").payload == {"token_used": "tok-1-CANARY"}
    assert insurer.issued() == 1
    clock.advance(0.001)  # now exactly REFRESH_MARGIN before expiry
    assert client.request("GET", "/buyers").payload == {"token_used": "tok-2-CANARY"}
    assert insurer.issued() == 2


def test_a_short_lived_token_is_still_reused() -> None:
    # A 30 s token is shorter than the refresh margin; it must not be refetched per call.
    insurer, clock = Insurer(lifetime=30), FakeClock()
    client, _ = make(insurer, clock)
    client.request("GET", "/a")
    clock.advance(10)
    client.request("GET", "/b")
    assert insurer.issued() == 1
    clock.advance(5)  # half the lifetime gone: refresh
    client.request("GET", "/c")
    assert insurer.issued() == 2


@pytest.mark.parametrize(
    ("lifetime", "margin"), [(3600, REFRESH_MARGIN), (120, 60), (60, 30), (30, 15), (0, 0), (-5, 0)]
)
def test_refresh_margin(lifetime: float, margin: float) -> None:
    assert refresh_margin(lifetime) == margin


def test_token_freshness() -> None:
    token = Token("t", expires_at=100.0)
    assert token.fresh(100 - REFRESH_MARGIN - 1)
    assert not token.fresh(100 - REFRESH_MARGIN)
    assert Token("t", 100.0, refresh_margin=5).fresh(94.9)
    assert not Token("t", 100.0, refresh_margin=5).fresh(95)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_401_invalidates_the_token_and_retries_once(method: str) -> None:
    insurer = Insurer()
    client, _ = make(insurer)
    client.request("GET", "/warm-up")
    insurer.revoked.add("tok-1-CANARY")  # the insurer dropped it early
    response = client.request(method, "/covers", json_body={"x": 1} if method == "POST" else None)
    assert response.payload == {"token_used": "tok-2-CANARY"}
    assert insurer.issued() == 2
    assert [r.headers["Authorization"] for r in insurer.api_requests[1:]] == [
        "Bearer tok-1-CANARY",
        "Bearer tok-2-CANARY",
    ]
    # the same correlation id on both attempts of the one call
    assert len({r.headers["X-Correlation-Id"] for r in insurer.api_requests[1:]}) == 1


def test_a_second_401_is_an_auth_error() -> None:
    insurer = Insurer(always_401=True)
    client, _ = make(insurer)
    with pytest.raises(AuthError) as info:
        client.request("GET", "/buyers")
    assert info.value.status == 401
    assert insurer.issued() == 2  # the first token and one refresh
    assert len(insurer.api_requests) == 2  # no further retries


def cached(cache: TokenCache, key: tuple[str, ...], fetch: Callable[[], tuple[str, float]]) -> str:
    """What an authenticator does with the cache: the fresh token, else a fetched one."""
    value = cache.fresh(key)
    if value is None:
        value, lifetime = fetch()
        cache.put(key, value, lifetime)
    return value


def test_invalidate_keeps_a_token_that_was_already_replaced() -> None:
    clock = FakeClock()
    cache = TokenCache(clock=clock)
    values = iter(["first-token", "second-token"])
    key = ("k",)
    assert cached(cache, key, lambda: (next(values), 3600)) == "first-token"
    cache.invalidate(key, "first-token")
    assert cached(cache, key, lambda: (next(values), 3600)) == "second-token"
    cache.invalidate(key, "first-token")  # a late 401 for the old token
    assert cached(cache, key, lambda: ("third-token", 3600)) == "second-token"


def test_cache_keys_are_separate() -> None:
    cache = TokenCache(clock=FakeClock())
    assert cached(cache, ("a",), lambda: ("token-a", 3600)) == "token-a"
    assert cached(cache, ("b",), lambda: ("token-b", 3600)) == "token-b"
    assert cached(cache, ("a",), lambda: ("other", 3600)) == "token-a"


def test_fifty_threads_with_an_expired_token_make_one_token_request() -> None:
    threads_n = 50
    insurer, clock = Insurer(), FakeClock()
    client, auth = make(insurer, clock)
    client.request("GET", "/warm-up")
    clock.advance(3600)  # expired
    auth.entered = 0
    refresh_saw: list[bool] = []

    def hold_refresh() -> None:
        # The refresh answers only once every caller has asked for a token, so all 50
        # race for it: without single-flight each would fetch its own.
        refresh_saw.append(auth.wait_for_callers(threads_n))

    insurer.before_token = hold_refresh
    barrier = threading.Barrier(threads_n)
    results: list[object] = []
    errors: list[BaseException] = []

    def call() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(client.request("GET", "/buyers").payload)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert refresh_saw == [True]
    assert insurer.issued() == 2  # the warm-up token and exactly one refresh
    assert results == [{"token_used": "tok-2-CANARY"}] * threads_n


@pytest.mark.parametrize("status", [400, 401, 403])
def test_refused_credentials_are_an_auth_error_without_the_secret(status: int) -> None:
    insurer = Insurer(token_status=[status])
    client, _ = make(insurer)
    with pytest.raises(AuthError) as info:
        client.request("GET", "/buyers")
    err = info.value
    assert err.status == status
    assert "credentials refused" in str(err)
    for text in (str(err), repr(err), err.message, err.body or ""):
        assert CLIENT_SECRET not in text
    assert insurer.issued() == 1  # credentials refused: not retried
    assert insurer.api_requests == []


def test_an_unavailable_token_endpoint_is_transient_and_retried() -> None:
    insurer = Insurer(token_status=[503])
    client, _ = make(insurer)
    assert client.request("GET", "/buyers").payload == {"token_used": "tok-2-CANARY"}
    assert insurer.issued() == 2


def test_a_token_endpoint_that_cannot_be_reached_is_transient() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    clock = FakeClock()
    client = ApiClient(
        adapter="demo",
        base_url=BASE,
        auth=DemoAuth(TokenCache(clock=clock)),
        transport=httpx.MockTransport(down),
        retry=RetryPolicy(max_attempts=2, wait=tenacity.wait_none(), sleep=lambda s: None),
        clock=clock,
    )
    with pytest.raises(TransientError, match="token request failed"):
        client.request("GET", "/buyers")


def test_tokens_are_registered_with_the_redactor() -> None:
    insurer = Insurer()
    client, _ = make(insurer)
    client.request("GET", "/buyers")
    assert "tok-1-CANARY" not in redact_text("sent tok-1-CANARY to the insurer")


def test_basic_credentials() -> None:
    header = basic_credentials("user", "p4ss-word")
    encoded = base64.b64encode(b"user:p4ss-word").decode()
    assert header == f"Basic {encoded}"
    assert encoded not in redact_text(f"header was {encoded}")
