"""Webhook signatures (Stripe's ``t=...,v1=...`` scheme) and the relay's backoff."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tci_gateway.services.webhooks import (
    TOLERANCE,
    SignatureError,
    backoff,
    signature_header,
    verify,
)

SECRET = "whsec_test-secret"
NOW = 1_796_126_400


def test_header_is_the_documented_hmac() -> None:
    body = b'{"id":"alert.raised.1"}'
    header = signature_header(SECRET, NOW, body)
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + body, hashlib.sha256).hexdigest()
    assert header == f"t={NOW},v1={expected}"


@given(body=st.binary(max_size=2048), secret=st.text(min_size=1, max_size=64))
def test_a_signed_body_verifies(body: bytes, secret: str) -> None:
    assert verify(secret, signature_header(secret, NOW, body), body, now=NOW) == NOW


@given(body=st.binary(min_size=1, max_size=512), flip=st.integers(min_value=0, max_value=511))
def test_a_changed_body_does_not_verify(body: bytes, flip: int) -> None:
    header = signature_header(SECRET, NOW, body)
    i = flip % len(body)
    tampered = body[:i] + bytes([body[i] ^ 0x01]) + body[i + 1 :]
    with pytest.raises(SignatureError, match="no signature matches"):
        verify(SECRET, header, tampered, now=NOW)


def test_another_secret_or_timestamp_does_not_verify() -> None:
    body = b"{}"
    with pytest.raises(SignatureError, match="no signature matches"):
        verify("whsec_other", signature_header(SECRET, NOW, body), body, now=NOW)
    forged = signature_header(SECRET, NOW, body).replace(f"t={NOW}", f"t={NOW + 1}")
    with pytest.raises(SignatureError, match="no signature matches"):
        verify(SECRET, forged, body, now=NOW)


@pytest.mark.parametrize("skew", [TOLERANCE + 1, -(TOLERANCE + 1), 86_400])
def test_the_replay_window(skew: int) -> None:
    body = b"{}"
    header = signature_header(SECRET, NOW, body)
    assert verify(SECRET, header, body, now=NOW + TOLERANCE) == NOW
    with pytest.raises(SignatureError, match="replay window"):
        verify(SECRET, header, body, now=NOW + skew)


def test_any_v1_may_match_while_secrets_roll() -> None:
    body = b"{}"
    old = signature_header("whsec_old", NOW, body).split(",")[1]
    header = f"{signature_header(SECRET, NOW, body)},{old}"
    assert verify("whsec_old", header, body, now=NOW) == NOW
    assert verify(SECRET, header, body, now=NOW) == NOW


@pytest.mark.parametrize(
    "header", ["", "t=abc,v1=00", f"t={NOW}", "v1=00", f"t={NOW};v1=00", "garbage"]
)
def test_malformed_headers_are_refused(header: str) -> None:
    with pytest.raises(SignatureError):
        verify(SECRET, header, b"{}", now=NOW)


@given(
    attempt=st.integers(min_value=1, max_value=500),
    initial=st.floats(min_value=0.01, max_value=60),
    cap=st.floats(min_value=1, max_value=86_400),
    rand=st.floats(min_value=0, max_value=1),
)
def test_backoff_is_capped_and_jittered_within_half(
    attempt: int, initial: float, cap: float, rand: float
) -> None:
    wait = backoff(attempt, initial, cap, rand)
    base = min(cap, initial * 2.0 ** (attempt - 1))
    assert base / 2 - 1e-9 <= wait <= base + 1e-9
    assert wait <= cap + 1e-9


def test_backoff_doubles_until_the_cap() -> None:
    waits = [backoff(n, 10, 3600, 1.0) for n in range(1, 11)]
    assert waits[:4] == [10, 20, 40, 80]
    assert waits[-1] == 3600
    assert backoff(3, 10, 3600, 0.0) == 20  # the jitter never goes below half
