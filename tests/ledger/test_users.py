"""People and sessions in the ledger: argon2 hashes, throttled sign-in, expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tci_gateway.ledger import users
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.web_tables import Role, UserRow

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery staple"
IDLE = timedelta(minutes=30)


def _make(ledger: Ledger, name: str = "alice", role: str = "analyst") -> users.User:
    with ledger.unit_of_work() as session:
        return users.create_user(session, name, role, PASSWORD, now=NOW)


def test_the_password_is_stored_as_an_argon2id_hash(ledger: Ledger) -> None:
    _make(ledger)
    with ledger.reading() as session:
        stored = session.scalar(select(UserRow.password_hash))
    assert stored is not None and stored.startswith("$argon2id$")
    assert PASSWORD not in stored


@pytest.mark.parametrize(
    ("name", "role", "password", "reason"),
    [
        ("bad name!", "viewer", PASSWORD, "invalid user name"),
        ("bob", "admin", PASSWORD, "unknown role 'admin'"),
        ("bob", "viewer", "short", "at least 12 characters"),
    ],
)
def test_bad_people_are_refused_with_the_reason(
    ledger: Ledger, name: str, role: str, password: str, reason: str
) -> None:
    with ledger.unit_of_work() as session, pytest.raises(users.UserError, match=reason):
        users.create_user(session, name, role, password, now=NOW)


def test_a_name_is_taken_once(ledger: Ledger) -> None:
    _make(ledger)
    with pytest.raises(users.UserError, match="exists already"):
        _make(ledger)


def test_sign_in_locks_after_repeated_refusals_and_opens_again_later(ledger: Ledger) -> None:
    _make(ledger)
    for _ in range(users.MAX_FAILED):
        with ledger.unit_of_work() as session:
            assert users.verify_login(session, "alice", "wrong password!", now=NOW) is None
    with ledger.unit_of_work() as session:  # locked: even the right password is refused
        assert users.verify_login(session, "alice", PASSWORD, now=NOW) is None
    later = NOW + timedelta(minutes=users.LOCK_MINUTES, seconds=1)
    with ledger.unit_of_work() as session:
        user = users.verify_login(session, "alice", PASSWORD, now=later)
    assert user is not None and user.last_login_at == later


def test_a_session_ends_when_idle_at_its_absolute_expiry_and_on_sign_out(ledger: Ledger) -> None:
    user = _make(ledger)
    with ledger.unit_of_work() as session:
        token, started = users.start_session(session, user, now=NOW, lifetime=timedelta(hours=1))
    with ledger.reading() as session:
        found = users.find_session(session, token, now=NOW + timedelta(minutes=29), idle=IDLE)
        assert found is not None and found.csrf_token == started.csrf_token
        assert users.find_session(session, token, now=NOW + IDLE, idle=IDLE) is None
        assert users.find_session(session, "not-a-token", now=NOW, idle=IDLE) is None
    for minute in (25, 50):  # kept alive by use, it still ends after its lifetime
        with ledger.unit_of_work() as session:
            users.touch_session(session, started.session_id, now=NOW + timedelta(minutes=minute))
    with ledger.reading() as session:
        assert users.find_session(session, token, now=NOW + timedelta(minutes=59), idle=IDLE)
        assert (
            users.find_session(session, token, now=NOW + timedelta(minutes=60), idle=IDLE) is None
        )
    with ledger.unit_of_work() as session:
        token2, second = users.start_session(session, user, now=NOW, lifetime=timedelta(hours=1))
        users.end_session(session, second.session_id, now=NOW)
    with ledger.reading() as session:
        assert users.find_session(session, token2, now=NOW, idle=IDLE) is None


def test_disabling_or_a_new_password_ends_every_session(ledger: Ledger) -> None:
    user = _make(ledger)
    with ledger.unit_of_work() as session:
        token, _ = users.start_session(session, user, now=NOW, lifetime=timedelta(hours=1))
        users.set_password(session, "alice", "another long password", now=NOW)
    with ledger.reading() as session:
        assert users.find_session(session, token, now=NOW, idle=IDLE) is None
    with ledger.unit_of_work() as session:
        token, _ = users.start_session(session, user, now=NOW, lifetime=timedelta(hours=1))
        users.disable_user(session, "alice", now=NOW)
    with ledger.unit_of_work() as session:
        assert users.find_session(session, token, now=NOW, idle=IDLE) is None
        assert users.verify_login(session, "alice", "another long password", now=NOW) is None


def test_roles_are_ordered() -> None:
    assert Role.MANAGER.may(Role.ANALYST) and Role.ANALYST.may(Role.VIEWER)
    assert not Role.VIEWER.may(Role.ANALYST) and not Role.ANALYST.may(Role.MANAGER)
