"""The toolkit's authenticators (tci_gateway.adapters.auth) through ApiClient and
httpx.MockTransport: request shapes, single flight under threads, the refresh margin, one
retry on an expired token, refused credentials never sent twice, per-call headers."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import pytest
import tenacity

from tci_gateway.adapters.auth import (
    ApiKeyTokenAuth,
    OAuth2ClientCredentials,
    PasswordTokenAuth,
    StaticKeyAuth,
    TokenAuth,
    secret_fingerprint,
)
from tci_gateway.adapters.contract import AdapterContext
from tci_gateway.errors import AuthError, ProtocolError, TransientError
from tci_gateway.http.auth import TokenCache
from tci_gateway.http.client import ApiClient
from tci_gateway.http.retry import RetryPolicy
from tci_gateway.logs import redact_text

BASE = "https://api.insurer.test/v2"
TOKEN_PATH = "/oauth/token"
SECRET = "client-s3cret-CANARY"
CONTEXT = AdapterContext(name="demo", base_url=BASE, environment="uat", credentials={})


class FakeClock:
    def __init__(self) -> None:
        self.now = 50_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Server:
    """Issues numbered tokens; honours the ones not revoked. ``token_status`` scripts the
    token endpoint's answers; ``token_reply`` shapes a successful one."""

    token_status: list[int] = field(default_factory=list)
    token_reply: Callable[[int], dict[str, object]] = lambda n: {
        "access_token": f"tok-{n}",
        "token_type": "Bearer",
        "expires_in": 3600,
    }
    revoked: set[str] = field(default_factory=set)
    call_status: int | None = None
    before_token: Callable[[], None] | None = None
    tokens: list[httpx.Request] = field(default_factory=list)
    calls: list[httpx.Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        if request.url.path.endswith(TOKEN_PATH):
            with self.lock:
                self.tokens.append(request)
                n = len(self.tokens)
            if self.before_token is not None:
                self.before_token()
            if n <= len(self.token_status) and self.token_status[n - 1] != 200:
                return httpx.Response(self.token_status[n - 1], json={"error": "invalid_client"})
            return httpx.Response(200, json=self.token_reply(n))
        with self.lock:
            self.calls.append(request)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if self.call_status is not None:
            return httpx.Response(self.call_status, json={"error": "scripted"})
        if not token.startswith("tok-") or token in self.revoked:
            return httpx.Response(401, json={"error": "invalid_token"})
        return httpx.Response(200, json={"token": token})


def client_for(server: Server, auth: httpx.Auth) -> ApiClient:
    context = AdapterContext(
        name="demo",
        base_url=BASE,
        environment="uat",
        credentials={},
        retry=RetryPolicy(max_attempts=3, wait=tenacity.wait_none(), sleep=lambda s: None),
        transport=httpx.MockTransport(server),
    )
    return ApiClient.from_context(context, auth=auth)


def oauth(cache: TokenCache, **kwargs: object) -> OAuth2ClientCredentials:
    return OAuth2ClientCredentials(
        CONTEXT,
        client_id="client-1",
        client_secret=SECRET,
        token_path=TOKEN_PATH,
        cache=cache,
        **kwargs,  # type: ignore[arg-type]
    )


# -- request shapes ---------------------------------------------------------------------


def test_client_credentials_send_basic_and_the_grant_and_sign_with_bearer() -> None:
    server = Server()
    client = client_for(server, oauth(TokenCache()))
    assert client.request("GET", "/buyers").payload == {"token": "tok-1"}
    assert client.request("GET", "/buyers").payload == {"token": "tok-1"}
    [token] = server.tokens
    assert str(token.url) == BASE + TOKEN_PATH
    expected = base64.b64encode(f"client-1:{SECRET}".encode()).decode()
    assert token.headers["Authorization"] == f"Basic {expected}"
    assert token.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert token.content == b"grant_type=client_credentials"
    assert [c.headers["Authorization"] for c in server.calls] == ["Bearer tok-1"] * 2


def test_client_credentials_in_the_body_with_a_scope() -> None:
    server = Server()
    client = client_for(server, oauth(TokenCache(), scope="limits read", credentials_in_body=True))
    client.request("GET", "/buyers")
    [token] = server.tokens
    assert "Authorization" not in token.headers
    assert (
        token.content
        == (
            f"grant_type=client_credentials&scope=limits+read&client_id=client-1&client_secret={SECRET}"
        ).encode()
    )


def test_an_api_key_is_exchanged_and_only_its_fingerprint_keys_the_cache() -> None:
    server = Server()
    auth = ApiKeyTokenAuth(
        CONTEXT, api_key="key-CANARY-1", token_path=TOKEN_PATH, cache=TokenCache()
    )
    client_for(server, auth).request("GET", "/buyers")
    assert json.loads(server.tokens[0].content) == {"apiKey": "key-CANARY-1"}
    assert auth.cache_key == (
        "demo",
        "uat",
        BASE,
        TOKEN_PATH,
        secret_fingerprint("key-CANARY-1", "api-key"),
    )
    assert "key-CANARY-1" not in repr(auth.cache_key)
    assert secret_fingerprint("a", "api-key") != secret_fingerprint("b", "api-key")


class BareJwtAuth(PasswordTokenAuth):
    token_field = "token"
    scheme = ""
    lifetime = 30.0


def test_a_password_login_reads_its_token_field_and_sends_the_bare_token() -> None:
    server = Server(token_reply=lambda n: {"token": f"tok-{n}"})
    clock = FakeClock()
    auth = BareJwtAuth(
        CONTEXT, username="user-1", password=SECRET, token_path=TOKEN_PATH, cache=TokenCache(clock)
    )
    client = client_for(server, auth)
    client.request("GET", "/buyers")
    assert json.loads(server.tokens[0].content) == {"username": "user-1", "password": SECRET}
    assert auth.cache_key == ("demo", "uat", BASE, "user-1")
    # the bare token: the server reads "tok-1" without a scheme
    assert server.calls[0].headers["Authorization"] == "tok-1"
    clock.now += 14.9  # a 30 s token (no expires_in: `lifetime`) is refreshed at half-life
    client.request("GET", "/buyers")
    assert len(server.tokens) == 1
    clock.now += 0.1
    client.request("GET", "/buyers")
    assert len(server.tokens) == 2


def test_a_token_reply_without_a_token_is_a_protocol_error() -> None:
    server = Server(token_reply=lambda n: {"access_token": "", "expires_in": 60})
    with pytest.raises(ProtocolError, match="no access_token"):
        client_for(server, oauth(TokenCache())).request("GET", "/buyers")
    server = Server(
        token_reply=lambda n: {"access_token": "t", "token_type": "mac", "expires_in": 1}
    )
    with pytest.raises(ProtocolError, match="unexpected token type"):
        client_for(server, oauth(TokenCache())).request("GET", "/buyers")


def test_a_static_key_is_sent_on_every_call_and_redacted() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    auth = StaticKeyAuth("static-CANARY-key", header="X-Api-Key")
    client = client_for(Server(), auth)
    client._http._transport = httpx.MockTransport(handler)
    client.request("GET", "/a")
    client.request("POST", "/b", json_body={})
    assert [r.headers["X-Api-Key"] for r in seen] == ["static-CANARY-key"] * 2
    assert "static-CANARY-key" not in redact_text("key static-CANARY-key")


# -- margin, retry, single flight -------------------------------------------------------


def test_the_token_is_refreshed_a_margin_before_it_expires() -> None:
    server, clock = Server(), FakeClock()
    client = client_for(server, oauth(TokenCache(clock)))
    client.request("GET", "/buyers")
    clock.now += 3600 - 60 - 0.5
    assert client.request("GET", "/buyers").payload == {"token": "tok-1"}
    clock.now += 0.5
    assert client.request("GET", "/buyers").payload == {"token": "tok-2"}


def test_a_401_drops_the_token_and_retries_the_call_once() -> None:
    server = Server()
    client = client_for(server, oauth(TokenCache()))
    client.request("GET", "/buyers")
    server.revoked.add("tok-1")
    assert client.request("POST", "/covers", json_body={"a": 1}).payload == {"token": "tok-2"}
    first, second = server.calls[1:]
    assert (first.headers["Authorization"], second.headers["Authorization"]) == (
        "Bearer tok-1",
        "Bearer tok-2",
    )
    assert first.content == second.content == b'{"a":1}'
    assert first.headers["X-Correlation-Id"] == second.headers["X-Correlation-Id"]


def test_a_second_401_is_an_auth_error_without_a_third_try() -> None:
    server = Server(call_status=401)
    with pytest.raises(AuthError) as caught:
        client_for(server, oauth(TokenCache())).request("GET", "/buyers")
    assert caught.value.status == 401
    assert (len(server.tokens), len(server.calls)) == (2, 2)


class CountingAuth(OAuth2ClientCredentials):
    """Counts the callers that asked for a token (each asks before the cache check)."""

    def __init__(self, cache: TokenCache) -> None:
        super().__init__(
            CONTEXT, client_id="client-1", client_secret=SECRET, token_path=TOKEN_PATH, cache=cache
        )
        self.callers = 0
        self.changed = threading.Condition()

    def cache_key_for(self, call: httpx.Request) -> tuple[str, ...]:
        with self.changed:
            self.callers += 1
            self.changed.notify_all()
        return super().cache_key_for(call)

    def wait_for(self, n: int) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: self.callers >= n, timeout=10)


def run_threads(n: int, work: Callable[[], object]) -> tuple[list[object], list[BaseException]]:
    barrier = threading.Barrier(n)
    results: list[object] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(work())
        except BaseException as exc:  # collected for the assertions
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results, errors


def test_twenty_threads_needing_a_token_send_one_token_request() -> None:
    server = Server()
    auth = CountingAuth(TokenCache())
    client = client_for(server, auth)
    waited: list[bool] = []
    # the token endpoint answers only once every caller asked: all 20 race for it
    server.before_token = lambda: waited.append(auth.wait_for(20))
    results, errors = run_threads(20, lambda: client.request("GET", "/buyers").payload)
    assert errors == []
    assert waited == [True]
    assert len(server.tokens) == 1
    assert results == [{"token": "tok-1"}] * 20


def test_callers_waiting_on_a_refused_login_do_not_send_it_again() -> None:
    server = Server(token_status=[401] * 20)
    auth = CountingAuth(TokenCache())
    client = client_for(server, auth)
    waited: list[bool] = []
    server.before_token = lambda: waited.append(auth.wait_for(10))
    results, errors = run_threads(10, lambda: client.request("GET", "/buyers"))
    assert waited == [True] and results == []
    assert len(errors) == 10 and all(isinstance(e, AuthError) for e in errors)
    assert len(server.tokens) == 1


# -- refused credentials ----------------------------------------------------------------


def test_refused_credentials_are_not_sent_again_in_the_same_run() -> None:
    server = Server(token_status=[401])
    cache = TokenCache()
    client = client_for(server, oauth(cache))
    with pytest.raises(AuthError, match="credentials refused") as first:
        client.request("GET", "/buyers")
    assert first.value.status == 401
    for _ in range(3):
        with pytest.raises(AuthError, match="not sent again") as again:
            client.request("GET", "/buyers")
        assert again.value.status == 401
    assert len(server.tokens) == 1 and server.calls == []
    other = OAuth2ClientCredentials(
        CONTEXT, client_id="client-1", client_secret="another", token_path=TOKEN_PATH, cache=cache
    )
    assert client_for(server, other).request("GET", "/buyers").payload == {"token": "tok-2"}


class ForgetfulAuth(OAuth2ClientCredentials):
    remember_refusals = False

    def refused(self, error: AuthError) -> AuthError:
        return AuthError(f"{error.message}; call the broker", status=error.status)


def test_an_auth_that_does_not_remember_refusals_logs_in_once_per_call() -> None:
    server = Server(token_status=[401, 401])
    auth = ForgetfulAuth(
        CONTEXT, client_id="c", client_secret=SECRET, token_path=TOKEN_PATH, cache=TokenCache()
    )
    client = client_for(server, auth)
    for _ in range(2):
        with pytest.raises(AuthError, match="call the broker"):
            client.request("GET", "/buyers")
    assert len(server.tokens) == 2


def test_an_unreachable_token_endpoint_is_transient_even_for_a_post() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("no answer")

    client = client_for(Server(), oauth(TokenCache()))
    client._http._transport = httpx.MockTransport(down)
    with pytest.raises(TransientError, match="token request failed: ReadTimeout"):
        client.request("POST", "/covers", json_body={})


def test_an_unavailable_token_endpoint_is_retried() -> None:
    server = Server(token_status=[503])
    assert client_for(server, oauth(TokenCache())).request("GET", "/b").payload == {
        "token": "tok-2"
    }


# -- per-call headers, async --------------------------------------------------------------


def test_per_call_headers_go_on_that_call_only() -> None:
    server = Server()
    client = client_for(server, oauth(TokenCache()))
    client.request("GET", "/a", headers={"X-Callback": "cb-1"})
    client.request("GET", "/b")
    assert "X-Callback" not in server.tokens[0].headers
    assert [c.headers.get("X-Callback") for c in server.calls] == ["cb-1", None]


def test_token_auth_refuses_the_async_client() -> None:
    async def call() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(Server())) as client:
            await client.get(BASE + "/buyers", auth=oauth(TokenCache()))

    with pytest.raises(NotImplementedError, match=r"httpx\.Client only"):
        asyncio.run(call())


def test_the_base_class_needs_a_token_request() -> None:
    auth = TokenAuth(CONTEXT, identity=(), token_path=TOKEN_PATH, cache=TokenCache())
    with pytest.raises(NotImplementedError):
        client_for(Server(), auth).request("GET", "/buyers")
