"""People & API keys (managers): create people, change roles, disable; create keys (the
secret shown once) and revoke them; the last manager and oneself are protected."""

from __future__ import annotations

import html
import re
from typing import Any

from sqlalchemy import select

from tci_gateway.ledger.api_tables import AuditRow
from tci_gateway.ledger.users import get_user

from .conftest import PASSWORD, WebHarness

_TOKEN = re.compile(r'value="(tci_[0-9a-f]{12}_[A-Za-z0-9_-]+)"')


def _audit(web: WebHarness, action: str) -> list[tuple[str, dict[str, Any]]]:
    with web.ledger.reading() as session:
        rows = session.execute(
            select(AuditRow.actor, AuditRow.detail)
            .where(AuditRow.action == action)
            .order_by(AuditRow.id)
        ).all()
    return [(actor, detail) for actor, detail in rows]


def _role(web: WebHarness, name: str) -> str:
    with web.ledger.reading() as session:
        user = get_user(session, name)
    assert user is not None
    return user.role.value


def test_only_managers_see_the_page_and_its_link(web: WebHarness) -> None:
    boss = web.sign_in("manager")
    page = boss.get("/people")
    assert page.status_code == 200
    assert 'href="/people"' in page.text
    assert f'<th scope="row">{boss.name} <span class="muted">(you)</span>' in page.text
    assert "1 person, 1 active manager" in page.text
    assert "No API keys yet." in page.text  # the empty state says what to do
    for role in ("viewer", "analyst"):
        other = web.sign_in(role)
        refused = other.get("/people")
        assert refused.status_code == 403
        assert "this page is for managers" in refused.text
        assert 'href="/people"' not in refused.text  # no link in their navigation


def test_a_manager_creates_a_person_who_can_sign_in(web: WebHarness) -> None:
    boss = web.sign_in("manager")
    answer = boss.post(
        "/people",
        {"name": "carol", "role": "analyst", "password": PASSWORD, "email": "carol@example.com"},
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/people?done=created&name=carol&role=analyst"
    shown = boss.get(answer.headers["location"])
    assert "carol can sign in now (analyst)." in shown.text
    assert "carol@example.com" in shown.text
    carol = web.sign_in(name="carol")
    assert carol.get("/people").status_code == 403  # an analyst now, signed in
    [(actor, detail)] = _audit(web, "web_user_created")
    assert actor == boss.name
    assert detail == {"name": "carol", "role": "analyst", "email": "carol@example.com"}
    assert PASSWORD not in str(detail)


def test_a_refused_person_is_said_in_the_ledgers_words_and_the_form_kept(web: WebHarness) -> None:
    boss = web.sign_in("manager")
    short = boss.post("/people", {"name": "dave", "role": "viewer", "password": "short"})
    assert short.status_code == 422
    assert "error: the password must be at least 12 characters" in short.text
    assert 'value="dave"' in short.text and 'value="short"' not in short.text
    taken = boss.post("/people", {"name": boss.name, "role": "viewer", "password": PASSWORD})
    assert taken.status_code == 422
    assert f"a user named '{boss.name}' exists already" in html.unescape(taken.text)
    bad_role = boss.post("/people", {"name": "erin", "role": "owner", "password": PASSWORD})
    assert "unknown role 'owner' (known: viewer, analyst, manager)" in html.unescape(bad_role.text)
    assert _audit(web, "web_user_created") == []


def test_role_changes_and_disabling_are_audited(web: WebHarness) -> None:
    boss = web.sign_in("manager")
    frank = web.sign_in("viewer")
    answer = boss.post(f"/people/{frank.name}/role", {"role": "manager"})
    assert answer.status_code == 303
    assert f"{frank.name} is now a manager." in boss.get(answer.headers["location"]).text
    assert _role(web, frank.name) == "manager"
    assert frank.get("/people").status_code == 200  # the running session has the new role
    off = boss.post(f"/people/{frank.name}/disable")
    assert off.status_code == 303
    assert "their sessions have ended" in boss.get(off.headers["location"]).text
    assert frank.get("/people").status_code == 303  # signed out: to the sign-in page
    assert _audit(web, "web_user_role_changed") == [
        (boss.name, {"name": frank.name, "role": "manager", "previous_role": "viewer"})
    ]
    assert _audit(web, "web_user_disabled") == [(boss.name, {"name": frank.name})]


def test_a_manager_cannot_disable_themself_nor_remove_the_last_manager(web: WebHarness) -> None:
    boss = web.sign_in("manager")
    page = boss.get("/people")
    assert f"/people/{boss.name}/disable" not in page.text  # no button for oneself
    myself = boss.post(f"/people/{boss.name}/disable")
    assert myself.status_code == 409
    assert "you cannot disable yourself; ask another manager" in myself.text
    demoted = boss.post(f"/people/{boss.name}/role", {"role": "analyst"})
    assert demoted.status_code == 409
    assert f"{boss.name} is the last manager and cannot be given another role" in demoted.text
    assert _role(web, boss.name) == "manager"
    # With a second manager, either may step down, but not both.
    other = web.sign_in("manager")
    assert boss.post(f"/people/{boss.name}/role", {"role": "analyst"}).status_code == 303
    last = other.post(f"/people/{other.name}/role", {"role": "viewer"})
    assert last.status_code == 409
    assert "make someone else a manager first" in last.text
    assert _audit(web, "web_user_role_changed") == [
        (boss.name, {"name": boss.name, "role": "analyst", "previous_role": "manager"})
    ]


def test_unknown_people_and_roles_are_refused(web: WebHarness) -> None:
    boss = web.sign_in("manager")
    missing = boss.post("/people/nobody/disable")
    assert missing.status_code == 404
    assert "no user named 'nobody'" in html.unescape(missing.text)
    viewer = web.create_user("viewer")
    bad = boss.post(f"/people/{viewer}/role", {"role": "owner"})
    assert bad.status_code == 422 and "unknown role" in bad.text


def test_forms_need_the_manager_role_and_the_token(web: WebHarness) -> None:
    boss = web.sign_in("manager")
    analyst = web.sign_in("analyst")
    viewer = web.create_user("viewer")
    forms: list[tuple[str, dict[str, Any]]] = [
        ("/people", {"name": "zed", "role": "manager", "password": PASSWORD}),
        (f"/people/{viewer}/role", {"role": "manager"}),
        (f"/people/{viewer}/disable", {}),
        ("/people/keys", {"name": "k", "scope": "admin"}),
        ("/people/keys/k/revoke", {}),
    ]
    for path, data in forms:
        refused = analyst.post(path, data)
        assert refused.status_code == 403, path
        assert "this needs the manager role" in refused.text
        assert boss.post(path, data, csrf=False).status_code == 403, path
    assert _role(web, viewer) == "viewer"
    with web.ledger.reading() as session:
        assert get_user(session, "zed") is None
    assert _audit(web, "web_key_created") == []


def test_a_key_is_created_its_secret_shown_once_and_it_works(web: WebHarness) -> None:
    boss = web.sign_in("manager")
    answer = boss.post(
        "/people/keys",
        {"name": "erp-sap", "scope": ["limits:read", "buyers:read"], "expires_in_days": "30"},
    )
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    found = _TOKEN.search(answer.text)
    assert found, answer.text
    token = found.group(1)
    assert "it cannot be shown again" in answer.text
    assert "buyers:read limits:read" in answer.text
    assert "expires 2026-12-31" in answer.text
    listed = boss.get("/people")
    assert "erp-sap" in listed.text and "expires 2026-12-31" in listed.text
    assert token not in listed.text and token.split("_", 2)[2] not in listed.text
    api = web.client.get("/v1/buyers", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200
    [(actor, detail)] = _audit(web, "web_key_created")
    assert actor == boss.name
    assert detail["name"] == "erp-sap" and detail["scopes"] == ["buyers:read", "limits:read"]
    assert detail["policies"] is None and detail["expires_at"].startswith("2026-12-31")
    assert token.split("_", 2)[2] not in str(detail)
    # Revoked: the API refuses it, the page says so and offers no second revoke.
    revoked = boss.post("/people/keys/erp-sap/revoke")
    assert revoked.status_code == 303
    page = boss.get(revoked.headers["location"])
    assert "Key erp-sap is revoked" in page.text
    assert "/people/keys/erp-sap/revoke" not in page.text
    api = web.client.get("/v1/buyers", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 401
    assert _audit(web, "web_key_revoked") == [
        (boss.name, {"name": "erp-sap", "key_id": detail["key_id"]})
    ]


def test_a_key_restricted_to_a_policy(web: WebHarness) -> None:
    boss = web.sign_in("manager")
    policy = sorted(web.api.ctx.settings.policies)[0]
    answer = boss.post("/people/keys", {"name": "one", "scope": "limits:read", "policy": policy})
    assert answer.status_code == 200
    assert f"<dt>Policies</dt><dd>{policy}</dd>" in answer.text
    assert _audit(web, "web_key_created")[0][1]["policies"] == [policy]


def test_a_refused_key_says_why_and_keeps_the_form(web: WebHarness) -> None:
    boss = web.sign_in("manager")
    cases = [
        ({"name": "a"}, "a key needs at least one scope"),
        ({"name": "a", "scope": "everything"}, "unknown scope everything (known: "),
        ({"name": "a", "scope": "admin", "policy": "nope"}, "unknown policy nope (configured: "),
        ({"name": "a", "scope": "admin", "expires_in_days": "0"}, "the expiry is 1 to 3650 days"),
        ({"name": "a", "scope": "admin", "expires_in_days": "soon"}, "a number of days"),
    ]
    for data, words in cases:
        refused = boss.post("/people/keys", data)
        assert refused.status_code == 422, data
        assert words in html.unescape(refused.text), (data, refused.text)
        assert 'id="key-name" name="name" required maxlength="64" autocomplete="off" value="a"' in (
            refused.text
        )
    boss.post("/people/keys", {"name": "dup", "scope": "admin"})
    again = boss.post("/people/keys", {"name": "dup", "scope": "admin"})
    assert again.status_code == 422
    assert "a key named 'dup' exists already" in html.unescape(again.text)
    missing = boss.post("/people/keys/ghost/revoke")
    assert missing.status_code == 404 and "no key named" in missing.text
    assert len(_audit(web, "web_key_created")) == 1
