"""Deadlines, cases, filing packs and manual filing confirmations through the API, on a
ledger seeded through the services (the demo's ERP files, the Atradius sandbox synced,
the claims run at the harness's clock): the figures are those of `tci deadlines`,
`tci claims show|pack --json`, and a confirmation is refused with the CLI's words."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from tci_gateway.cli.output import _json_default, json_ready
from tci_gateway.ledger.api_tables import AuditRow
from tci_gateway.services import case_views
from tci_gateway.services.nightly import NightlyCycle, NightlyOptions
from tci_gateway.services.pack_render import render_pack

from .conftest import ApiHarness
from .risk_seed import POLICY, seed_demo

VAN_DIJK = "Bouwbedrijf Van Dijk B.V."
SGN = "Société Générale de Négoce SAS"


def run_claims(api: ApiHarness) -> None:
    """`tci claims run` at the harness's clock: Atradius has no overdue API, so Van
    Dijk's overdue notification waits in a manual filing pack."""
    ctx = api.ctx
    policies = ctx.settings.domain_policies()
    options = NightlyOptions(claims=ctx.wiring.claims_options(ctx.ledger))
    adapters = {"atradius": ctx.wiring.insurer("atradius").adapter}
    cycle = NightlyCycle(
        ctx.ledger, {POLICY: policies[POLICY]}, adapters, now=ctx.now(), options=options
    )
    report = cycle.claims()
    assert report is not None and report.ok, report


@pytest.fixture
def cases(api: ApiHarness) -> dict[str, int]:
    """Case ids by buyer name (Van Dijk: reminder done, notification MANUAL; SGN:
    reminder done)."""
    seed_demo(api)
    run_claims(api)
    return {c.buyer_name: c.id for c in case_views.list_cases(api.ledger, state=None)}


def cli_json(value: Any) -> Any:
    """``value`` as `tci --json` prints it (cli.output.Output.emit_json)."""
    return json.loads(json.dumps(json_ready(value), default=_json_default))


def test_a_case_has_the_figures_of_claims_show(api: ApiHarness, cases: dict[str, int]) -> None:
    case_id = cases[VAN_DIJK]
    response = api.client.get(f"/v1/cases/{case_id}", headers=api.key("buyers:read"))
    assert response.status_code == 200, response.text
    body = response.json()
    shown = cli_json(case_views.get_case(api.ledger, case_id).as_dict())
    for field in (
        "id",
        "policy",
        "insurer",
        "buyer_id",
        "buyer_name",
        "state",
        "due_date",
        "cover_stop",
        "notify_by",
        "date_of_loss",
        "claim_by",
        "currency",
        "overdue_total",
        "insured_total",
        "indemnity",
        "indemnity_lower_bound",
        "indemnity_note",
    ):
        assert body[field] == shown[field], field
    # The demo's figures: INV-1001-01 net of the payment, INV-1001-02 net of its credit
    # note, both under the 100,000 limit; 90% of 64,500.
    assert (body["overdue_total"], body["insured_total"], body["indemnity"]) == (
        "37000.00",
        "64500.00",
        "58050.00",
    )
    assert body["itemised_indemnity"] == {
        k: v for k, v in shown["details"]["indemnity"].items() if k in body["itemised_indemnity"]
    }
    lines = body["itemised_indemnity"]["lines"]
    assert [(x["number"], x["credits_applied"], x["insured"]) for x in lines] == [
        ("INV-1001-01", "3000.00", "37000.00"),
        ("INV-1001-02", "2500.00", "27500.00"),
    ]
    actions = {a["action"]: a for a in body["actions"]}
    assert actions["REMINDER"]["state"] == "DONE"
    notification = actions["OVERDUE_NOTIFICATION"]
    assert notification["state"] == "MANUAL" and notification["awaiting_person"] is True
    assert notification["client_reference"] == shown["actions"][1]["client_reference"]


def test_cases_are_filtered_and_keyset_paged(api: ApiHarness, cases: dict[str, int]) -> None:
    headers = api.key("buyers:read")
    everything = api.client.get("/v1/cases", headers=headers).json()
    assert [c["id"] for c in everything["items"]] == sorted(cases.values(), reverse=True)
    assert everything["next_cursor"] is None
    assert "itemised_indemnity" not in everything["items"][0]

    first = api.client.get("/v1/cases", params={"limit": 1}, headers=headers).json()
    assert len(first["items"]) == 1 and first["next_cursor"]
    second = api.client.get(
        "/v1/cases", params={"limit": 1, "cursor": first["next_cursor"]}, headers=headers
    ).json()
    assert [c["id"] for c in first["items"] + second["items"]] == [
        c["id"] for c in everything["items"]
    ]
    assert second["next_cursor"] is None

    van_dijk = api.client.get(
        "/v1/cases", params={"buyer_id": everything["items"][-1]["buyer_id"]}, headers=headers
    ).json()
    assert [c["buyer_name"] for c in van_dijk["items"]] == [VAN_DIJK]
    closed = api.client.get("/v1/cases", params={"state": "CLOSED"}, headers=headers).json()
    assert closed["items"] == []
    other = api.client.get("/v1/cases", params={"policy": "coface-main"}, headers=headers)
    assert other.status_code == 200 and other.json()["items"] == []
    unknown = api.client.get("/v1/cases", params={"policy": "nope"}, headers=headers)
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "policy"
    bad = api.client.get("/v1/cases", params={"cursor": "not-a-cursor"}, headers=headers)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor"


def test_a_key_restricted_to_other_policies_sees_none_of_them(
    api: ApiHarness, cases: dict[str, int]
) -> None:
    headers = api.key("buyers:read", "claims:confirm", policies=["coface-main"])
    case_id = cases[VAN_DIJK]
    assert api.client.get("/v1/cases", headers=headers).json()["items"] == []
    assert api.client.get("/v1/deadlines", headers=headers).json()["items"] == []
    for path in (f"/v1/cases/{case_id}", f"/v1/cases/{case_id}/filing-pack"):
        response = api.client.get(path, headers=headers)
        assert response.status_code == 403, path
        assert "not allowed policy 'atradius-main'" in response.json()["detail"]
    listed = api.client.get("/v1/cases", params={"policy": POLICY}, headers=headers)
    assert listed.status_code == 403
    confirm = api.client.post(
        f"/v1/cases/{case_id}/actions/overdue_notification/confirm",
        json={"reference": "ATR-1"},
        headers=headers,
    )
    assert confirm.status_code == 403
    allowed = api.key("buyers:read", policies=[POLICY])
    assert len(api.client.get("/v1/cases", headers=allowed).json()["items"]) == 2


def test_unknown_cases_are_404_and_scopes_are_required(
    api: ApiHarness, cases: dict[str, int]
) -> None:
    headers = api.key("buyers:read")
    for path in ("/v1/cases/999", "/v1/cases/999/filing-pack"):
        response = api.client.get(path, headers=headers)
        assert response.status_code == 404
        assert response.json()["detail"] == "no case 999 in the ledger (`tci claims list --all`)"
    wrong = api.key("limits:read")
    assert api.client.get("/v1/cases", headers=wrong).status_code == 403
    assert api.client.get("/v1/deadlines", headers=wrong).status_code == 403
    confirm = api.client.post(
        f"/v1/cases/{cases[VAN_DIJK]}/actions/overdue_notification/confirm",
        json={"reference": "ATR-1"},
        headers=headers,  # buyers:read does not confirm
    )
    assert confirm.status_code == 403 and "claims:confirm" in confirm.json()["detail"]


def test_the_filing_pack_in_markdown_and_json(api: ApiHarness, cases: dict[str, int]) -> None:
    case_id = cases[VAN_DIJK]
    headers = api.key("buyers:read")
    pack = case_views.filing_pack(api.ledger, case_id)

    markdown = api.client.get(
        f"/v1/cases/{case_id}/filing-pack", headers=headers | {"Accept": "text/markdown"}
    )
    assert markdown.status_code == 200
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert markdown.text == render_pack(pack)  # what `tci claims pack` writes
    assert f"# Filing pack: case {case_id} (OPEN)" in markdown.text
    assert "- **indemnity: 58050.00 EUR**" in markdown.text

    body = api.client.get(f"/v1/cases/{case_id}/filing-pack", headers=headers).json()
    shown = cli_json(pack)  # `tci claims pack --json`
    for section in ("buyer", "policy", "deadlines", "amounts"):
        assert body[section] == shown[section], section
    assert body["amounts"]["indemnity"] == "58050.00" and body["amounts"]["currency"] == "EUR"
    assert body["policy"]["reference"] == {"customer_id": "1000001", "policy_id": "5000001"}
    (notification,) = body["actions"]
    assert notification["action"] == "OVERDUE_NOTIFICATION" and notification["state"] == "MANUAL"
    assert [i["number"] for i in notification["invoices"]] == ["INV-1001-01"]
    (invoice,) = notification["invoices"]
    assert invoice == shown["actions"][0]["invoices"][0] | {"new_due_date": None}
    assert body["indemnity"]["indemnity"] == "58050.00"

    refused = api.client.get(
        f"/v1/cases/{case_id}/filing-pack", headers=headers | {"Accept": "text/csv"}
    )
    assert refused.status_code == 406
    either = api.client.get(
        f"/v1/cases/{case_id}/filing-pack",
        headers=headers | {"Accept": "text/markdown;q=0, application/json"},
    )
    assert either.headers["content-type"].startswith("application/json")


def test_a_manual_filing_is_confirmed_once_audited_and_replayed(
    api: ApiHarness, cases: dict[str, int]
) -> None:
    case_id = cases[VAN_DIJK]
    headers = api.key("claims:confirm", name="risk-desk")
    url = f"/v1/cases/{case_id}/actions/overdue_notification/confirm"
    first = api.client.post(
        url, json={"reference": " ATR-77 "}, headers=headers | {"Idempotency-Key": "c-1"}
    )
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["state"] == "FILED_MANUALLY" and body["insurer_reference"] == "ATR-77"
    assert body["awaiting_person"] is False and body["case_id"] == case_id

    replay = api.client.post(
        url, json={"reference": " ATR-77 "}, headers=headers | {"Idempotency-Key": "c-1"}
    )
    assert replay.status_code == 200 and replay.json() == body
    assert replay.headers["idempotent-replayed"] == "true"

    again = api.client.post(url, json={"reference": "ATR-78"}, headers=headers)
    assert again.status_code == 409
    assert again.json()["detail"] == (
        f"case {case_id} overdue_notification is FILED_MANUALLY: only a manual or "
        "rejected filing is confirmed by hand"
    )
    view = case_views.get_case(api.ledger, case_id)
    (filed,) = [a for a in view.actions if a.action == "OVERDUE_NOTIFICATION"]
    assert (filed.state, filed.insurer_reference) == ("FILED_MANUALLY", "ATR-77")

    with api.ledger.reading() as session:
        rows = list(session.scalars(select(AuditRow).where(AuditRow.action.like("case.%"))))
        (row,) = rows  # the replay and the refusal wrote nothing
        assert row.actor == "risk-desk" and row.method == "POST" and row.path == url
        assert row.request_id == first.headers["x-request-id"]
        detail = row.detail
    assert detail == {
        "case": case_id,
        "policy": POLICY,
        "action": "OVERDUE_NOTIFICATION",
        "from": "MANUAL",
        "to": "FILED_MANUALLY",
        "insurer_reference": "ATR-77",
    }


def test_a_confirmation_is_refused_with_the_cli_words(
    api: ApiHarness, cases: dict[str, int]
) -> None:
    headers = api.key("claims:confirm")
    van_dijk, sgn = cases[VAN_DIJK], cases[SGN]

    def confirm(case_id: int, action: str, reference: str = "ATR-1") -> Any:
        return api.client.post(
            f"/v1/cases/{case_id}/actions/{action}/confirm",
            json={"reference": reference},
            headers=headers,
        )

    unknown = confirm(van_dijk, "fax")
    assert unknown.status_code == 404
    assert unknown.json()["detail"].startswith("unknown action 'fax' (known: ")
    missing = confirm(sgn, "claim")
    assert missing.status_code == 404
    assert missing.json()["detail"] == f"case {sgn} has no claim action"
    reminder = confirm(sgn, "reminder")
    assert reminder.status_code == 409 and "REMINDER" not in reminder.json()["detail"]
    assert reminder.json()["detail"] == (
        f"case {sgn} reminder is DONE: only a manual or rejected filing is confirmed by hand"
    )
    empty = confirm(van_dijk, "overdue-notification", "   ")
    assert empty.status_code == 422
    assert empty.json()["errors"] == [
        {"field": "reference", "reason": "the insurer's reference must not be empty"}
    ]
    nowhere = confirm(999, "claim")
    assert nowhere.status_code == 404
    control = confirm(van_dijk, "overdue_notification", "ATR\u0000-1")  # never stored
    assert control.status_code == 422 and control.json()["errors"][0]["field"] == "reference"
    assert (
        api.client.get(f"/v1/cases/{van_dijk}", headers=api.key("buyers:read")).json()["actions"][
            1
        ]["state"]
        == "MANUAL"
    )


def test_deadlines_are_those_of_tci_deadlines(api: ApiHarness, cases: dict[str, int]) -> None:
    headers = api.key("buyers:read")
    response = api.client.get("/v1/deadlines", headers=headers)
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["days"] == 90 and page["next_cursor"] is None
    by_buyer = {row["buyer"]: row for row in page["items"]}
    assert set(by_buyer) == {VAN_DIJK, SGN}
    van_dijk = by_buyer[VAN_DIJK]
    # Paris business date 1 December 2026; D = 14 November; Atradius D+60/90/180/360.
    assert van_dijk["business_date"] == "2026-12-01" and van_dijk["timezone"] == "Europe/Paris"
    assert (van_dijk["due_date"], van_dijk["days_overdue"]) == ("2026-11-14", 17)
    assert van_dijk["case_id"] == cases[VAN_DIJK]  # notified: the case's clock
    assert [(u["deadline"], u["date"], u["days_left"]) for u in van_dijk["upcoming"]] == [
        ("cover_stop", "2027-01-13", 43),
        ("notify_by", "2027-02-12", 73),
    ]
    # Cover stop is an event (midnight beginning its day), notify-by an act (ending it),
    # both in Paris (UTC+1 in winter).
    assert [u["bites_at"] for u in van_dijk["upcoming"]] == [
        "2027-01-12T23:00:00Z",
        "2027-02-12T23:00:00Z",
    ]
    assert [s["action"] for s in van_dijk["steps_due"]] == ["REMINDER", "OVERDUE_NOTIFICATION"]

    def within(days: int) -> set[tuple[str, tuple[str, ...]]]:
        rows = api.client.get("/v1/deadlines", params={"days": days}, headers=headers).json()
        return {(r["buyer"], tuple(u["deadline"] for u in r["upcoming"])) for r in rows["items"]}

    # SGN (D = 24 November) stops cover on 23 January: 53 days.
    assert within(50) == {(VAN_DIJK, ("cover_stop",))}
    assert within(53) == {(VAN_DIJK, ("cover_stop",)), (SGN, ("cover_stop",))}
    assert (
        api.client.get("/v1/deadlines", params={"days": 30}, headers=headers).json()["items"] == []
    )

    first = api.client.get("/v1/deadlines", params={"limit": 1}, headers=headers).json()
    second = api.client.get(
        "/v1/deadlines", params={"limit": 1, "cursor": first["next_cursor"]}, headers=headers
    ).json()
    assert [r["buyer"] for r in first["items"] + second["items"]] == [
        r["buyer"] for r in page["items"]
    ]
    assert second["next_cursor"] is None
    other = api.client.get("/v1/deadlines", params={"policy": "coface-main"}, headers=headers)
    assert other.status_code == 200 and other.json()["items"] == []
