"""Coface auth: the account lockout, one login per run on a refused password, the
token cache (key, single flight under 50 threads, per-contract option), secrets."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import httpx
import pytest

from tci_adapters.coface.auth import LOCKOUT_WARNING
from tci_adapters.coface.client import CofaceAdapter
from tci_adapters.coface.plugin import PLUGIN
from tci_adapters.coface.sandbox import CofaceSandbox
from tci_adapters.coface.sandbox_auth import LoginGuard
from tci_gateway.adapters.contract import BuyerQuery, PolicyRef
from tci_gateway.adapters.contract_testing import SandboxClock
from tci_gateway.domain.identifiers import Scheme, parse_identifier
from tci_gateway.errors import AuthError
from tci_gateway.http.auth import TokenCache
from tci_gateway.http.retry import RetryPolicy

from ..conftest import SleepRecorder
from .helpers import CREDENTIALS, POLICY, TOKEN_PATH, FixtureServer, make_adapter

SIREN = BuyerQuery(country="FR", identifier=parse_identifier(Scheme.FR_SIREN, "123456782"))
WRONG = {**CREDENTIALS, "password": "wrong-password"}


def on_sandbox(
    sandbox: CofaceSandbox,
    retry: RetryPolicy,
    credentials: dict[str, str] | None = None,
    cache: TokenCache | None = None,
    **options: object,
) -> CofaceAdapter:
    return make_adapter(
        sandbox.handle,
        retry,
        base_url=PLUGIN.sandbox_base_url,
        credentials=credentials,
        options={"policy_number": "1234567", **options},
        cache=cache,
    )


def test_a_wrong_password_is_sent_once_in_a_run(
    sandbox: CofaceSandbox, retry: RetryPolicy, sleeps: SleepRecorder
) -> None:
    # Coface counts failed logins towards a lockout: the refusal is remembered and every
    # later call in the run raises it without logging in again.
    adapter = on_sandbox(sandbox, retry, WRONG)
    for _ in range(3):
        with pytest.raises(AuthError) as caught:
            adapter.search_buyers(SIREN)
        assert sandbox.received[("POST", TOKEN_PATH)] == 1
        assert caught.value.status == 401 and caught.value.code == "NOT_AUTHORIZED"
        assert "locks the account after 5 failed logins" in str(caught.value)
        assert "wrong-password" not in str(caught.value)
    assert sleeps.calls == []  # never retried
    assert sandbox.guard.failures == 1
    assert sandbox.received[("GET", "/companies/identifier")] == 0


def test_refused_login_from_the_fixture_is_not_retried(
    retry: RetryPolicy, sleeps: SleepRecorder
) -> None:
    server = FixtureServer({("POST", TOKEN_PATH): (401, "error_locked.json")})
    adapter = make_adapter(server, retry)
    with pytest.raises(AuthError) as caught:
        adapter.fetch_portfolio(POLICY)
    assert caught.value.code == "PASSWORD_ATTEMPTS_EXCEEDED"
    assert caught.value.message.startswith("credentials refused: Password attempts exceeded")
    assert caught.value.message.endswith(LOCKOUT_WARNING)
    assert len(server.requests) == 1 and sleeps.calls == []


def test_five_failed_logins_lock_the_account(sandbox: CofaceSandbox, retry: RetryPolicy) -> None:
    for _ in range(5):  # five runs, each with its own token cache: one failed login each
        with pytest.raises(AuthError):
            on_sandbox(sandbox, retry, WRONG).search_buyers(SIREN)
    right = on_sandbox(sandbox, retry)
    with pytest.raises(AuthError) as caught:
        right.search_buyers(SIREN)  # locked: even the right password is refused
    assert caught.value.code == "PASSWORD_ATTEMPTS_EXCEEDED"
    assert "locks the account" in caught.value.message
    sandbox.advance(1)
    with pytest.raises(AuthError, match="not sent again"):
        right.search_buyers(SIREN)  # this run keeps its refusal and does not log in again
    assert on_sandbox(sandbox, retry).search_buyers(SIREN)  # next run: the lockout (1 s) ended
    assert sandbox.guard.failures == 0


def test_lockouts_grow_exponentially_up_to_about_15_minutes() -> None:
    clock = SandboxClock(datetime(2024, 4, 10, tzinfo=UTC))
    sandbox = CofaceSandbox(credentials=CREDENTIALS, clock=clock)
    guard: LoginGuard = sandbox.guard

    def login(password: str) -> int:
        body = f'{{"username":"broker-user","password":"{password}","grant_type":"password"}}'
        request = httpx.Request(
            "POST",
            "https://sandbox.coface.invalid" + TOKEN_PATH,
            headers={"x-api-key": "api-key-789"},
            content=body.encode(),
        )
        return sandbox.handle(request).status_code

    for _ in range(4):
        assert login("nope") == 401
    assert guard.locked_for() == 0
    lockouts = []
    for _ in range(12):
        assert login("nope") == 401
        lockouts.append(guard.locked_for())
        assert login("s3cret-value") == 401  # locked: refused, and not counted
        clock.advance(lockouts[-1])
    assert lockouts == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]
    assert login("s3cret-value") == 200
    assert (guard.failures, guard.locked_until) == (0, None)


def test_a_wrong_api_key_is_forbidden_and_not_a_failed_login(
    sandbox: CofaceSandbox, retry: RetryPolicy
) -> None:
    adapter = on_sandbox(sandbox, retry, {**CREDENTIALS, "api_key": "wrong"})
    with pytest.raises(AuthError) as caught:
        adapter.search_buyers(SIREN)
    assert caught.value.status == 403 and "Forbidden" in caught.value.message
    assert sandbox.guard.failures == 0


def test_an_unknown_contract_on_the_login_is_refused(
    sandbox: CofaceSandbox, retry: RetryPolicy
) -> None:
    adapter = on_sandbox(sandbox, retry, policy_number="9999999")
    with pytest.raises(AuthError) as caught:
        adapter.search_buyers(SIREN)
    assert caught.value.code == "POLICY_ACCESS_DENIED"


def test_fifty_threads_with_an_expired_token_fetch_one_token(
    sandbox: CofaceSandbox, retry: RetryPolicy
) -> None:
    adapter = on_sandbox(sandbox, retry)
    adapter.search_buyers(SIREN)
    assert sandbox.received[("POST", TOKEN_PATH)] == 1
    sandbox.advance(3601)
    barrier = threading.Barrier(50)
    results: list[int] = []
    failures: list[BaseException] = []

    def work() -> None:
        try:
            barrier.wait()
            results.append(len(adapter.search_buyers(SIREN)))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert results == [1] * 50
    assert sandbox.received[("POST", TOKEN_PATH)] == 2  # exactly one refresh


def test_token_cache_key_has_the_user_not_the_password(
    sandbox: CofaceSandbox, retry: RetryPolicy
) -> None:
    cache = TokenCache()
    first = on_sandbox(sandbox, retry, cache=cache)
    second = on_sandbox(sandbox, retry, cache=cache)
    assert first.client.auth is not None
    assert first.client.auth.cache_key == (
        "coface",
        "uat",
        PLUGIN.sandbox_base_url,
        "broker-user",
    )
    assert "s3cret-value" not in repr(first.client.auth.cache_key)
    first.search_buyers(SIREN)
    second.search_buyers(SIREN)
    assert sandbox.received[("POST", TOKEN_PATH)] == 1  # shared per user


def test_token_per_contract_option(sandbox: CofaceSandbox, retry: RetryPolicy) -> None:
    other = PolicyRef(key="us", currency="USD", external_ref={"policy_number": "7654321"})
    shared = on_sandbox(sandbox, retry)
    list(shared.fetch_portfolio(POLICY))
    list(shared.fetch_portfolio(other))
    assert sandbox.received[("POST", TOKEN_PATH)] == 1
    split = on_sandbox(sandbox, retry, token_per_policy=True)
    list(split.fetch_portfolio(POLICY))
    list(split.fetch_portfolio(other))
    list(split.fetch_portfolio(POLICY))
    assert sandbox.received[("POST", TOKEN_PATH)] == 3  # one more per contract
