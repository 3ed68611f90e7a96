"""One judgement of success per report (``.ok``): what the CLI's exit status and the
scheduler's run state are both decided from."""

from __future__ import annotations

from collections import Counter

import pytest

from tci_gateway.domain.cases import ActionState
from tci_gateway.domain.sync import SyncStatus
from tci_gateway.errors import RecordError
from tci_gateway.services.buyer_search import InsurerOutcome, SearchResult, SearchStatus
from tci_gateway.services.claims import ClaimsRunReport
from tci_gateway.services.identity import ResolveReport
from tci_gateway.services.importing import ImportReport
from tci_gateway.services.outbox import PollReport
from tci_gateway.services.sync import SyncReport


@pytest.mark.parametrize(
    ("status", "ok"),
    [
        (SyncStatus.SUCCEEDED, True),
        (SyncStatus.PARTIAL, False),  # some records unread: not a success
        (SyncStatus.FAILED, False),
        (SyncStatus.RUNNING, False),
    ],
)
def test_only_a_sync_that_read_everything_is_ok(status: SyncStatus, ok: bool) -> None:
    assert SyncReport("atradius", "main", status=status).ok is ok


def test_a_claims_run_is_ok_when_every_action_sent_was_taken() -> None:
    taken = Counter({ActionState.SENT: 2, "not configured": 1})
    assert ClaimsRunReport(dry_run=False, sent=taken).ok
    assert ClaimsRunReport(dry_run=True).ok


@pytest.mark.parametrize("left", [ActionState.REJECTED, ActionState.QUEUED, ActionState.AMBIGUOUS])
def test_a_claims_run_with_a_refused_or_unsent_action_is_not_ok(left: ActionState) -> None:
    report = ClaimsRunReport(dry_run=False, sent=Counter({ActionState.SENT: 3, left: 1}))
    assert (report.unsent, report.ok) == (1, False)


def test_a_claims_run_with_a_failed_buyer_is_not_ok() -> None:
    failed = RecordError("policy main", 7, "buyer", "no FX rate")
    assert not ClaimsRunReport(dry_run=False, errors=[failed]).ok


def test_reports_with_errors_are_not_ok() -> None:
    assert PollReport(polled=2).ok and not PollReport(polled=2, errors=["x: 503"]).ok
    assert ResolveReport().ok and not ResolveReport(bureau_errors=["gleif: timeout"]).ok
    assert ImportReport("buyers", "b.csv", "0" * 64).ok
    failed = RecordError("b.csv", 2, "country", "not a country")
    assert not ImportReport("buyers", "b.csv", "0" * 64, errors=[failed]).ok


def test_a_search_is_ok_when_every_insurer_that_can_search_answered() -> None:
    def result(*statuses: SearchStatus) -> SearchResult:
        return SearchResult([], [InsurerOutcome(f"i{n}", s) for n, s in enumerate(statuses)])

    assert result(SearchStatus.OK, SearchStatus.NOT_SUPPORTED).ok
    assert not result(SearchStatus.OK, SearchStatus.TIMED_OUT).ok
    assert not result(SearchStatus.FAILED).ok
