"""Atradius wire -> domain mapping: every code in the tables, amounts, dates, identifiers."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tci_adapters.atradius.mapping import (
    DECISION_CODES,
    HISTORIC_CODES,
    PENDING_INDICATORS,
    VERSION_ENDING_CODES,
    MappingError,
    map_cover,
    parse_status_overrides,
)
from tci_adapters.atradius.wire import Cover, dumps_exact
from tci_gateway.domain.cover import CoverStatus, PendingAction, covered_limit
from tci_gateway.domain.money import Money
from tci_gateway.http.jsonexact import loads

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "atradius"
S = CoverStatus
P = PendingAction


def cover(**fields: Any) -> Cover:
    record: dict[str, Any] = {
        "coverId": 1,
        "policyId": "5550001",
        "customerId": "1000123",
        "buyerId": 20001,
        "buyerName": "Exemple SAS",
        "coverType": "credit-limit",
        "coverStatus": "DECISION",
        "decisionCode": "DC01",
        "totalDecision": {"decisionAmtInPolicyCurrency": Decimal("50000.00")},
        "creditLimitApplicationAmountInPolicyCurrency": Decimal("50000.00"),
        "applicationDate": "2024-01-10T08:00:00Z",
        "decisionDate": "2024-01-15T10:00:00+01:00",
        "effectFromDate": "2024-01-15",
    }
    record.update(fields)
    return Cover.from_record({k: v for k, v in record.items() if v is not None})


def eur(amount: str | int) -> Money:
    return Money(Decimal(amount), "EUR")


DECISIONS = [
    ("DC01", S.APPROVED, False, None),
    ("DC02", S.APPROVED, False, None),
    ("DC03", S.REFUSED, False, None),
    ("DC04", S.PARTIALLY_APPROVED, False, None),
    ("DC05", S.REFUSED, False, None),
    ("DC06", S.PARTIALLY_APPROVED, True, None),
    ("DC07", S.REFUSED, True, None),
    ("DC08", S.WITHDRAWN, False, None),
    ("DC09", S.REDUCED, False, None),
    ("DC10", S.APPROVED, False, None),
    ("DC11", S.APPROVED, False, None),
    ("DC21", S.APPROVED, False, P.WITHDRAWAL_NOTICE),
    ("DC22", S.REDUCED, False, None),
]

HISTORIC = [
    ("CCLA", S.CANCELLED_BY_INSURED),
    ("RCLA", S.REFUSED),
    ("SCLA", S.SUPERSEDED),
    ("TCLA", S.SUPERSEDED),
    ("CCLD", S.WITHDRAWN),
    ("ECLD", S.EXPIRED),
    ("PCLD", S.WITHDRAWN),
    ("SCLD", S.SUPERSEDED),
    ("TCLD", S.SUPERSEDED),
    ("WCLD", S.WITHDRAWN),
    ("ARCH", S.EXPIRED),
    ("CIND", S.CANCELLED_BY_INSURED),
]

INDICATORS = [
    ("C", P.CANCELLATION_PENDING),
    ("W", P.WITHDRAWAL_NOTICE),
    ("F", P.WITHDRAWAL_NOTICE),
    ("R", P.REACTIVATION_PENDING),
    ("T", P.TRANSFER_PENDING),
    ("B", P.OTHER),
    ("V", P.OTHER),
]


def test_the_tests_cover_every_code_in_the_tables() -> None:
    assert {code for code, *_ in DECISIONS} == set(DECISION_CODES)
    assert {code for code, _ in HISTORIC} == set(HISTORIC_CODES)
    assert {code for code, _ in INDICATORS} == set(PENDING_INDICATORS)
    assert {"ACLD", "ICLD", "MCLD"} == VERSION_ENDING_CODES


@pytest.mark.parametrize(("code", "status", "preliminary", "action"), DECISIONS)
def test_decision_codes(
    code: str, status: CoverStatus, preliminary: bool, action: PendingAction | None
) -> None:
    decision = map_cover(cover(decisionCode=code), "EUR")
    assert decision.status is status
    assert decision.is_preliminary is preliminary
    assert decision.pending_action is action
    assert decision.unknown_codes == ()
    assert decision.raw_codes["decisionCode"] == code


@pytest.mark.parametrize(("code", "status"), HISTORIC)
def test_historic_codes_override_the_decision_code(code: str, status: CoverStatus) -> None:
    decision = map_cover(cover(decisionCode="DC21", historicCode=code), "EUR")
    assert decision.status is status
    assert decision.pending_action is None  # the notice no longer matters once ended
    assert decision.raw_codes["historicCode"] == code
    assert decision.raw_codes["decisionCode"] == "DC21"


@pytest.mark.parametrize("code", sorted(VERSION_ENDING_CODES))
def test_version_ending_codes_do_not_override(code: str) -> None:
    decision = map_cover(cover(decisionCode="DC09", historicCode=code), "EUR")
    assert decision.status is S.REDUCED
    assert decision.unknown_codes == ()


@pytest.mark.parametrize(("indicator", "action"), INDICATORS)
def test_pending_process_indicators(indicator: str, action: PendingAction) -> None:
    decision = map_cover(cover(pendingProcessIndicator=indicator), "EUR")
    assert decision.status is S.APPROVED
    assert decision.pending_action is action
    assert decision.raw_codes["pendingProcessIndicator"] == indicator


def test_referred_application_is_pending() -> None:
    decision = map_cover(
        cover(coverStatus="REFERRED", decisionCode=None, totalDecision=None, decisionDate=None),
        "EUR",
    )
    assert decision.status is S.PENDING
    assert decision.granted_amount == eur(0)
    assert decision.requested_amount == eur(50000)
    assert decision.tranches == ()
    assert decision.decided_at is None
    assert decision.unknown_codes == ()


def test_cancelled_application_uses_its_historic_code() -> None:
    decision = map_cover(
        cover(coverStatus="REFERRED", decisionCode=None, historicCode="CCLA"), "EUR"
    )
    assert decision.status is S.CANCELLED_BY_INSURED


@pytest.mark.parametrize(
    ("fields", "unknown"),
    [
        ({"decisionCode": "DC99"}, ("DC99",)),
        ({"historicCode": "ZZZZ"}, ("ZZZZ",)),
        ({"coverStatus": "ARCHIVED"}, ("ARCHIVED",)),
    ],
)
def test_unknown_codes_are_pending_and_listed(fields: dict[str, str], unknown: tuple[str]) -> None:
    decision = map_cover(cover(**fields), "EUR")
    assert decision.status is S.PENDING
    assert decision.unknown_codes == unknown


def test_unknown_pending_indicator_is_other_and_listed() -> None:
    decision = map_cover(cover(pendingProcessIndicator="Q"), "EUR")
    assert decision.status is S.APPROVED
    assert decision.pending_action is P.OTHER
    assert decision.unknown_codes == ("pendingProcessIndicator=Q",)


def test_codes_are_read_case_insensitively_and_kept_raw() -> None:
    decision = map_cover(cover(decisionCode="dc04", coverType="credit-check"), "EUR")
    assert decision.status is S.PARTIALLY_APPROVED
    assert dict(decision.raw_codes) == {
        "coverStatus": "DECISION",
        "coverType": "credit-check",
        "decisionCode": "dc04",
    }


def test_dc05_keeps_counting_the_existing_cover() -> None:
    decision = map_cover(
        cover(
            decisionCode="DC05",
            creditLimitApplicationAmountInPolicyCurrency=Decimal(120000),
            totalDecision={"decisionAmtInPolicyCurrency": Decimal(50000)},
        ),
        "EUR",
    )
    assert decision.status is S.REFUSED
    assert decision.requested_amount == eur(120000)
    assert covered_limit(decision, date(2024, 6, 1)) == eur(50000)
    assert covered_limit(decision, date(2024, 1, 14)) == eur(0)


def test_dc21_counts_until_the_withdrawal_date() -> None:
    decision = map_cover(
        cover(
            decisionCode="DC21",
            pendingProcessIndicator="W",
            withdrawalDate="2024-06-30T00:00:00+01:00",
        ),
        "EUR",
    )
    assert decision.pending_action is P.WITHDRAWAL_NOTICE
    assert decision.effective_to == date(2024, 6, 30)
    assert covered_limit(decision, date(2024, 6, 29)) == eur(50000)
    assert covered_limit(decision, date(2024, 6, 30)) == eur(0)


def test_tranches_have_their_own_expiry_and_conditions() -> None:
    data = loads((FIXTURES / "covers_portfolio.json").read_bytes())["data"]
    record = next(r for r in data if r["decisionCode"] == "DC02")
    decision = map_cover(Cover.from_record(record), "EUR")
    assert [t.amount for t in decision.tranches] == [eur(60000), eur(40000)]
    assert [t.expires_on for t in decision.tranches] == [None, date(2024, 12, 31)]
    assert all(t.valid_from == date(2024, 2, 1) for t in decision.tranches)
    assert [c.code for c in decision.conditions] == ["C12", "T01"]
    assert decision.conditions[0].type == "SPECIAL"
    assert decision.conditions[0].text.startswith("Cover subject to")
    assert covered_limit(decision, date(2024, 12, 30)) == eur(100000)
    assert covered_limit(decision, date(2024, 12, 31)) == eur(60000)


def test_one_tranche_of_the_total_without_tranche_fields() -> None:
    decision = map_cover(cover(effectFromDate=None), "EUR")
    assert len(decision.tranches) == 1
    assert decision.tranches[0].amount == eur(50000)
    assert decision.tranches[0].valid_from == date(2024, 1, 15)
    assert decision.tranches[0].expires_on is None


@pytest.mark.parametrize("code", ["DC01", "DC02", "DC04", "DC09", "DC10", "DC22"])
def test_zero_amount_is_a_refusal(code: str) -> None:
    decision = map_cover(
        cover(decisionCode=code, totalDecision={"decisionAmtInPolicyCurrency": Decimal("0.00")}),
        "EUR",
    )
    assert decision.status is S.REFUSED
    assert decision.tranches == ()
    assert covered_limit(decision, date(2024, 6, 1)) == eur(0)


def test_zero_amount_does_not_hide_an_ended_or_unknown_status() -> None:
    zero = {"decisionAmtInPolicyCurrency": Decimal(0)}
    assert map_cover(cover(decisionCode="DC08", totalDecision=zero), "EUR").status is S.WITHDRAWN
    assert map_cover(cover(decisionCode="DC77", totalDecision=zero), "EUR").status is S.PENDING


def test_status_overrides() -> None:
    overrides = parse_status_overrides(
        {"dc10": "reduced", "DC99": "APPROVED", "ACLD": "SUPERSEDED"}
    )
    assert map_cover(cover(decisionCode="DC10"), "EUR", status_overrides=overrides).status is (
        S.REDUCED
    )
    known = map_cover(cover(decisionCode="DC99"), "EUR", status_overrides=overrides)
    assert known.status is S.APPROVED
    assert known.unknown_codes == ()
    ended = map_cover(cover(historicCode="ACLD"), "EUR", status_overrides=overrides)
    assert ended.status is S.SUPERSEDED
    notice = map_cover(
        cover(decisionCode="DC21"),
        "EUR",
        status_overrides=parse_status_overrides({"DC21": "REDUCED"}),
    )
    assert notice.status is S.REDUCED
    assert notice.pending_action is P.WITHDRAWAL_NOTICE


def test_status_overrides_are_checked() -> None:
    with pytest.raises(ValueError, match="DC01"):
        parse_status_overrides({"DC01": "MAYBE"})
    assert parse_status_overrides(None) == {}


def test_dates_and_times() -> None:
    decision = map_cover(
        cover(
            applicationDate="2024-01-10T08:00:00Z",
            decisionDate="2024-01-15T10:00:00+01:00",
            effectFromDate="2024-01-16",
            effectiveToDate="2024-12-31",
        ),
        "EUR",
    )
    assert decision.decided_at == datetime(2024, 1, 15, 9, 0, tzinfo=UTC)
    assert decision.decided_at is not None and decision.decided_at.utcoffset() == timedelta(0)
    assert decision.last_changed_at == datetime(2024, 1, 15, 9, 0, tzinfo=UTC)
    assert decision.effective_from == date(2024, 1, 16)
    assert decision.effective_to == date(2024, 12, 31)


def test_plain_dates_are_midnight_utc_and_fallbacks_apply() -> None:
    decision = map_cover(cover(effectFromDate=None, decisionDate="2024-02-11"), "EUR")
    assert decision.decided_at == datetime(2024, 2, 11, tzinfo=UTC)
    assert decision.effective_from == date(2024, 2, 11)
    pending = map_cover(
        cover(coverStatus="REFERRED", decisionCode=None, decisionDate=None, effectFromDate=None),
        "EUR",
    )
    assert pending.effective_from == date(2024, 1, 10)


def test_a_local_date_is_kept_as_written() -> None:
    # 00:30 on 1 March at +01:00 is still 29 February in UTC: the date is 1 March.
    decision = map_cover(cover(effectFromDate="2024-03-01T00:30:00+01:00"), "EUR")
    assert decision.effective_from == date(2024, 3, 1)


def test_last_changed_is_the_latest_timestamp_but_not_a_future_withdrawal() -> None:
    record = cover(withdrawalDate="2024-06-30T00:00:00+01:00")
    assert map_cover(record, "EUR").last_changed_at == datetime(2024, 6, 29, 23, 0, tzinfo=UTC)
    observed = datetime(2024, 3, 1, tzinfo=timezone(timedelta(hours=1)))
    mapped = map_cover(record, "EUR", observed_at=observed)
    assert mapped.last_changed_at == datetime(2024, 1, 15, 9, 0, tzinfo=UTC)


def test_no_date_at_all_is_a_mapping_error() -> None:
    with pytest.raises(MappingError) as caught:
        map_cover(cover(applicationDate=None, decisionDate=None, effectFromDate=None), "EUR")
    assert caught.value.field == "effectFromDate"


def test_currency_must_be_the_policy_currency() -> None:
    with pytest.raises(MappingError) as caught:
        map_cover(cover(policyCurrency="USD"), "EUR")
    assert caught.value.field == "policyCurrency"
    assert map_cover(cover(policyCurrency="EUR"), "EUR").currency == "EUR"


def test_amounts_are_exact_and_floats_refused() -> None:
    decision = map_cover(
        cover(totalDecision={"decisionAmtInPolicyCurrency": Decimal("12345.67")}), "EUR"
    )
    assert decision.granted_amount.amount == Decimal("12345.67")
    with pytest.raises(ValidationError):
        cover(totalDecision={"decisionAmtInPolicyCurrency": 12345.67})
    with pytest.raises(ValidationError):
        cover(totalDecision={"decisionAmtInPolicyCurrency": Decimal(-1)})


def test_decision_without_any_code_is_refused() -> None:
    with pytest.raises(ValidationError):
        cover(decisionCode=None)


def test_raw_text_is_kept_exactly() -> None:
    text = '{"coverId": 7, "policyId": "P", "buyerId": 1, "coverType": "credit-limit", ' + (
        '"coverStatus": "DECISION", "decisionCode": "DC01", "extra": {"x": [1.50, null]}, '
        '"totalDecision": {"decisionAmtInPolicyCurrency": 100.10}, "decisionDate": "2024-01-01"}'
    )
    record = Cover.from_record(loads(text))
    assert json.loads(record.raw) == json.loads(text)
    assert '"decisionAmtInPolicyCurrency":100.10' in record.raw
    assert dumps_exact({"a": Decimal("1E+3")}) == '{"a":1E+3}'
