"""Signing in and out, session expiry, CSRF and roles."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from tci_gateway.ledger.api_tables import AuditRow
from tci_gateway.ledger.users import MAX_FAILED
from tci_gateway.ledger.web_tables import UserRow

from .conftest import PASSWORD, WebHarness


def _login_token(web: WebHarness) -> str:
    import re

    page = web.client.get("/login")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found
    return found.group(1)


def test_a_page_without_a_session_redirects_to_sign_in_and_back(web: WebHarness) -> None:
    answer = web.client.get("/runs?x=1", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/runs%3Fx%3D1"


def test_sign_in_sets_a_hardened_cookie_and_is_audited(web: WebHarness) -> None:
    name = web.create_user("viewer")
    token = _login_token(web)
    answer = web.client.post(
        "/login",
        data={"name": name, "password": PASSWORD, "csrf_token": token, "next": "/buyers"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/buyers"
    cookie = next(
        v for k, v in answer.headers.multi_items() if k == "set-cookie" and "tci_session" in v
    )
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    with web.ledger.reading() as session:
        row = session.execute(
            select(AuditRow.actor, AuditRow.user_id, AuditRow.api_key_id).where(
                AuditRow.action == "web_sign_in"
            )
        ).one()
        user_id = session.scalar(select(UserRow.id).where(UserRow.name == name))
    assert tuple(row) == (name, user_id, None)


def test_next_never_leaves_the_site(web: WebHarness) -> None:
    name = web.create_user("viewer")
    answer = web.client.post(
        "/login",
        data={
            "name": name,
            "password": PASSWORD,
            "csrf_token": _login_token(web),
            "next": "//evil.example/",
        },
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/"


def test_a_wrong_password_says_nothing_about_which_part_was_wrong(web: WebHarness) -> None:
    name = web.create_user("viewer")
    wrong = web.client.post(
        "/login", data={"name": name, "password": "nope-nope-nope", "csrf_token": _login_token(web)}
    )
    unknown = web.client.post(
        "/login", data={"name": "nobody", "password": PASSWORD, "csrf_token": _login_token(web)}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert "The name or password was not accepted." in wrong.text
    assert "The name or password was not accepted." in unknown.text
    with web.ledger.reading() as session:
        refused = session.scalars(
            select(AuditRow.actor).where(AuditRow.action == "web_sign_in_refused")
        ).all()
    assert sorted(refused) == sorted([name, "nobody"])


def test_repeated_refusals_lock_the_account_for_a_while(web: WebHarness) -> None:
    name = web.create_user("viewer")
    for _ in range(MAX_FAILED):
        web.client.post(
            "/login",
            data={"name": name, "password": "wrong-wrong-wrong", "csrf_token": _login_token(web)},
        )
    right = web.client.post(
        "/login",
        data={"name": name, "password": PASSWORD, "csrf_token": _login_token(web)},
        follow_redirects=False,
    )
    assert right.status_code == 401


def test_the_sign_in_form_needs_its_token(web: WebHarness) -> None:
    name = web.create_user("viewer")
    web.client.get("/login")
    answer = web.client.post("/login", data={"name": name, "password": PASSWORD, "csrf_token": "x"})
    assert answer.status_code == 403
    assert "text/html" in answer.headers["content-type"]
    assert "security token" in answer.text


def test_sign_out_ends_the_session(web: WebHarness) -> None:
    alice = web.sign_in("viewer")
    assert alice.post("/logout").status_code == 303
    assert alice.get("/runs").status_code == 303


def test_sign_out_without_the_token_is_refused(web: WebHarness) -> None:
    alice = web.sign_in("viewer")
    answer = alice.post("/logout", csrf=False)
    assert answer.status_code == 403
    assert "<title>Form refused" in answer.text


def test_an_idle_session_expires(web: WebHarness) -> None:
    alice = web.sign_in("viewer")
    ctx = web.api.ctx
    assert ctx.as_of is not None
    ctx.as_of += timedelta(minutes=ctx.settings.web.session_idle_minutes + 1)
    assert alice.get("/runs").status_code == 303


def test_error_pages_are_html_and_api_errors_stay_problem_documents(web: WebHarness) -> None:
    page = web.client.get("/no-such-page")
    assert page.status_code == 404 and "text/html" in page.headers["content-type"]
    assert "Traceback" not in page.text
    api = web.client.get("/v1/no-such-route")
    assert api.headers["content-type"].startswith("application/problem+json")


def test_pages_carry_the_security_headers(web: WebHarness) -> None:
    page = web.client.get("/login")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
