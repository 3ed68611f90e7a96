"""Escalation paths per buyer tier, and the check that no path can miss a deadline."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tci_gateway.domain.deadlines import deadline_clock
from tci_gateway.domain.escalation import (
    DEFAULT_PATHS,
    NOTIFYING,
    TIERS,
    DueStep,
    EscalationError,
    EscalationPath,
    Step,
    StepAction,
    check_path,
    check_paths,
    due_steps,
    step_offset,
)
from tci_gateway.domain.policy import PolicyTerms

from .policy_terms import atradius_terms


def terms(**changes: Any) -> PolicyTerms:
    """Atradius-style terms: D+60 cover stop, D+90 notify, D+180 loss, D+360 claim."""
    return atradius_terms(**({"timezone": "Europe/Berlin"} | changes))


ATRADIUS = terms()
DUE = date(2026, 1, 15)


def day(n: int) -> date:
    return DUE + timedelta(days=n)


def default(tier: str) -> EscalationPath:
    return EscalationPath.of(tier, DEFAULT_PATHS[tier])


# -- the defaults ----------------------------------------------------------------------------


def test_default_paths_cover_every_tier() -> None:
    assert set(DEFAULT_PATHS) == set(TIERS) == {"strategic", "growth", "watch"}
    for tier in TIERS:
        path = default(tier)
        assert [s.day for s in path.steps] == [30, 60, 90]
        assert path.steps[0].action is StepAction.REMINDER
        assert path.steps[1].action in {StepAction.PAYMENT_PLAN, StepAction.OVERDUE_NOTIFICATION}
        assert path.steps[2].action is StepAction.CLAIM


@pytest.mark.parametrize("tier", TIERS)
def test_default_paths_pass_under_atradius_terms(tier: str) -> None:
    assert check_path(default(tier), ATRADIUS) == []


def test_check_paths_accepts_the_defaults() -> None:
    paths = [default(t) for t in TIERS]
    assert check_paths(paths, {"ATR-1": ATRADIUS, "ATR-2": terms(timezone="UTC")}) == []


# -- refusals -------------------------------------------------------------------------------


def test_a_notification_after_notify_by_is_refused() -> None:
    path = EscalationPath.of("watch", {"reminder": 30, "overdue_notification": 100, "claim": 150})
    assert check_path(path, ATRADIUS) == [
        "tier watch: first notification (overdue_notification at D+100) after the notify-by "
        "deadline D+90"
    ]


def test_the_default_path_is_refused_under_a_shorter_notify_by() -> None:
    problems = check_path(default("growth"), terms(overdue_notification_days=45))
    assert problems == [
        "tier growth: first notification (overdue_notification at D+60) after the notify-by "
        "deadline D+45"
    ]


def test_a_notification_on_the_notify_by_day_is_in_time() -> None:
    path = EscalationPath.of("growth", {"overdue_notification": 90, "claim": 180})
    assert check_path(path, ATRADIUS) == []
    late = EscalationPath.of("growth", {"overdue_notification": 91, "claim": 180})
    assert check_path(late, ATRADIUS) != []


def test_a_path_without_notification_or_claim_is_refused() -> None:
    assert check_path(EscalationPath.of("watch", {"reminder": 30}), ATRADIUS) == [
        "tier watch: no step notifies the insurer",
        "tier watch: no claim step: the claim-by deadline D+360 would be missed",
    ]


def test_a_path_without_a_claim_step_is_refused() -> None:
    path = EscalationPath.of("growth", {"reminder": 30, "overdue_notification": 60})
    assert check_path(path, ATRADIUS) == [
        "tier growth: no claim step: the claim-by deadline D+360 would be missed"
    ]


def test_a_claim_as_the_only_notification_must_be_due_by_notify_by() -> None:
    # The claim is only due at the date of loss (D+180), too late to notify by D+90 ...
    path = EscalationPath.of("watch", {"reminder": 30, "claim": 60})
    assert check_path(path, ATRADIUS) == [
        "tier watch: first notification (claim at D+180) after the notify-by deadline D+90"
    ]
    # ... but fine under a policy whose waiting period ends before notify-by.
    assert check_path(path, terms(waiting_days=80)) == []


def test_an_early_claim_does_not_hide_a_timely_notification() -> None:
    # Regression: the claim (configured D+30, due D+180) sorts first by day, but the
    # overdue notification at D+60 is the first act due and is in time.
    path = EscalationPath.of("growth", {"claim": 30, "overdue_notification": 60})
    assert [s.action for s in path.steps] == [StepAction.CLAIM, StepAction.OVERDUE_NOTIFICATION]
    assert check_path(path, ATRADIUS) == []


def test_a_claim_step_before_the_date_of_loss_is_due_at_the_date_of_loss() -> None:
    claim = Step(90, StepAction.CLAIM)
    assert step_offset(claim, ATRADIUS) == 180
    assert step_offset(Step(200, StepAction.CLAIM), ATRADIUS) == 200
    assert step_offset(claim, terms(waiting_days=60)) == 90
    # Other steps are due on their own day whatever the waiting period.
    assert step_offset(Step(10, StepAction.OVERDUE_NOTIFICATION), ATRADIUS) == 10
    assert step_offset(Step(10, StepAction.COLLECTIONS), ATRADIUS) == 10


def test_a_claim_after_claim_by_is_refused() -> None:
    path = EscalationPath.of("strategic", {"payment_plan": 60, "claim": 361})
    assert check_path(path, ATRADIUS) == [
        "tier strategic: claim at D+361 after the claim-by deadline D+360"
    ]
    on_the_day = EscalationPath.of("strategic", {"payment_plan": 60, "claim": 360})
    assert check_path(on_the_day, ATRADIUS) == []


def test_a_claim_after_claim_by_because_of_the_waiting_period_is_refused() -> None:
    # waiting_days <= claim_filing_days is a PolicyTerms invariant, so only the
    # configured day can push the claim past claim-by.
    short = terms(waiting_days=100, claim_filing_days=120)
    path = EscalationPath.of("watch", {"overdue_notification": 60, "claim": 90})
    assert check_path(path, short) == []
    assert check_path(EscalationPath.of("watch", {"overdue_notification": 60, "claim": 121}), short)


@pytest.mark.parametrize("ext_day", [60, 61, 200])
def test_an_extension_request_at_or_after_cover_stop_is_refused(ext_day: int) -> None:
    path = EscalationPath.of(
        "strategic", {"reminder": 30, "extension_request": ext_day, "payment_plan": 60, "claim": 90}
    )
    assert check_path(path, ATRADIUS) == [
        f"tier strategic: extension request at D+{ext_day} not before the cover stop D+60"
    ]


def test_an_extension_request_before_cover_stop_is_accepted() -> None:
    path = EscalationPath.of(
        "strategic", {"reminder": 30, "extension_request": 59, "payment_plan": 60, "claim": 90}
    )
    assert check_path(path, ATRADIUS) == []
    # With no extension period at all, no extension request can be in time.
    assert check_path(path, terms(max_extension_days=0)) == [
        "tier strategic: extension request at D+59 not before the cover stop D+0"
    ]


def test_check_paths_prefixes_the_policy_key() -> None:
    paths = [default(t) for t in TIERS]
    problems = check_paths(paths, {"ATR-1": ATRADIUS, "SHORT": terms(overdue_notification_days=45)})
    assert problems == [
        f"policy SHORT: tier {tier}: first notification ({action} at D+60) after the "
        "notify-by deadline D+45"
        for tier, action in [
            ("strategic", "payment_plan"),
            ("growth", "overdue_notification"),
            ("watch", "overdue_notification"),
        ]
    ]


def test_check_paths_of_nothing_is_empty() -> None:
    assert check_paths([], {"ATR-1": ATRADIUS}) == []
    assert check_paths([default("growth")], {}) == []


# -- building paths --------------------------------------------------------------------------


def test_of_rejects_unknown_actions_listing_the_known_ones() -> None:
    with pytest.raises(EscalationError) as info:
        EscalationPath.of("growth", {"reminder": 30, "lawsuit": 60})
    message = str(info.value)
    assert message.startswith("tier growth: unknown action 'lawsuit'")
    assert (
        "(known: reminder, overdue_notification, payment_plan, extension_request, "
        "collections, claim)" in message
    )


def test_of_accepts_names_in_any_case_and_sorts_by_day() -> None:
    path = EscalationPath.of("watch", {"Claim": 90, "REMINDER": 30, "overdue_notification": 60})
    assert path.tier == "watch"
    assert path.steps == (
        Step(30, StepAction.REMINDER),
        Step(60, StepAction.OVERDUE_NOTIFICATION),
        Step(90, StepAction.CLAIM),
    )


def test_of_rejects_a_duplicate_action() -> None:
    with pytest.raises(EscalationError, match="tier growth: an action appears twice"):
        EscalationPath.of("growth", {"reminder": 30, "REMINDER": 40, "claim": 90})


@pytest.mark.parametrize("bad", [0, -1, -30])
def test_of_rejects_days_before_day_one(bad: int) -> None:
    with pytest.raises(EscalationError, match="tier watch: step days must be 1 or more"):
        EscalationPath.of("watch", {"reminder": bad, "claim": 90})


def test_steps_out_of_order_are_refused() -> None:
    with pytest.raises(EscalationError, match="in day order"):
        EscalationPath("watch", (Step(60, StepAction.CLAIM), Step(30, StepAction.REMINDER)))


def test_an_escalation_error_is_caught_as_a_value_error() -> None:
    with pytest.raises(ValueError, match="in day order"):
        EscalationPath("watch", (Step(60, StepAction.CLAIM), Step(30, StepAction.REMINDER)))


# -- due steps ------------------------------------------------------------------------------


def due(path: EscalationPath, today: date, t: PolicyTerms = ATRADIUS) -> list[DueStep]:
    return due_steps(path, t, deadline_clock(t, DUE), today)


def test_nothing_is_due_before_the_first_step() -> None:
    assert due(default("growth"), day(29)) == []


def test_due_steps_day_by_day_on_the_default_path() -> None:
    path = default("growth")
    reminder = DueStep(StepAction.REMINDER, day(30), late=False)
    notification = DueStep(StepAction.OVERDUE_NOTIFICATION, day(60), late=False)
    assert due(path, day(30)) == [reminder]
    assert due(path, day(59)) == [reminder]
    assert due(path, day(60)) == [reminder, notification]
    assert due(path, day(90)) == [reminder, notification]  # claim not before the loss
    assert [s.action for s in due(path, day(179))] == [
        StepAction.REMINDER,
        StepAction.OVERDUE_NOTIFICATION,
    ]
    on_loss = due(path, day(180))
    assert on_loss[-1] == DueStep(StepAction.CLAIM, date(2026, 7, 14), late=False)
    assert on_loss[-1].due_on == deadline_clock(ATRADIUS, DUE).date_of_loss


def test_a_claim_is_due_on_its_own_day_after_a_short_waiting_period() -> None:
    t = terms(waiting_days=60)
    assert due(default("watch"), day(89), t)[-1].action is StepAction.OVERDUE_NOTIFICATION
    assert due(default("watch"), day(90), t)[-1] == DueStep(StepAction.CLAIM, day(90), False)


def test_a_notification_taken_after_notify_by_is_late() -> None:
    path = default("growth")
    assert due(path, day(90))[1].late is False  # the last day is in time
    assert due(path, day(91))[1] == DueStep(StepAction.OVERDUE_NOTIFICATION, day(60), late=True)
    # A reminder is never late.
    assert due(path, day(91))[0].late is False


def test_a_claim_taken_after_claim_by_is_late() -> None:
    path = default("strategic")
    assert due(path, day(360))[-1] == DueStep(StepAction.CLAIM, day(180), late=False)
    assert due(path, day(361))[-1] == DueStep(StepAction.CLAIM, day(180), late=True)


def test_an_extension_request_on_or_after_cover_stop_is_late() -> None:
    path = EscalationPath.of(
        "strategic", {"extension_request": 45, "payment_plan": 60, "claim": 90}
    )
    assert due(path, day(59))[0] == DueStep(StepAction.EXTENSION_REQUEST, day(45), late=False)
    assert due(path, day(60))[0] == DueStep(StepAction.EXTENSION_REQUEST, day(45), late=True)


def test_due_steps_follow_an_extended_due_date() -> None:
    clock = deadline_clock(ATRADIUS, DUE, DUE + timedelta(days=30))
    path = default("growth")
    assert due_steps(path, ATRADIUS, clock, day(59)) == []
    assert due_steps(path, ATRADIUS, clock, day(60)) == [
        DueStep(StepAction.REMINDER, day(60), late=False)
    ]
    assert due_steps(path, ATRADIUS, clock, day(210))[-1] == DueStep(
        StepAction.CLAIM, day(210), late=False
    )


# -- property: an accepted path never misses a deadline ------------------------------------


@st.composite
def terms_and_path(draw: st.DrawFn) -> tuple[PolicyTerms, EscalationPath]:
    waiting = draw(st.integers(0, 400))
    t = terms(
        max_extension_days=draw(st.integers(0, 400)),
        overdue_notification_days=draw(st.integers(0, 400)),
        waiting_days=waiting,
        claim_filing_days=draw(st.integers(waiting, 400)),
    )
    actions = draw(st.sets(st.sampled_from(list(StepAction)), min_size=1))
    # Half the days fall by notify-by, so that many drawn paths are accepted.
    early = st.integers(1, max(1, t.overdue_notification_days))
    days = {a.value.lower(): draw(st.integers(1, 420) | early) for a in sorted(actions)}
    return t, EscalationPath.of(draw(st.sampled_from(TIERS)), days)


@settings(max_examples=200, suppress_health_check=[HealthCheck.filter_too_much])
@given(terms_and_path(), st.dates(date(2000, 1, 1), date(2100, 12, 31)))
@pytest.mark.slow
def test_an_accepted_path_meets_every_deadline(
    case: tuple[PolicyTerms, EscalationPath], due_date: date
) -> None:
    t, path = case
    assume(check_path(path, t) == [])
    clock = deadline_clock(t, due_date)
    first_due: dict[StepAction, date] = {}
    today = due_date
    while today <= clock.claim_by:
        for step in due_steps(path, t, clock, today):
            if step.action not in first_due:
                first_due[step.action] = today
                assert step.due_on == today  # due exactly when it first shows up
        today += timedelta(days=1)
    notified = [on for action, on in first_due.items() if action in NOTIFYING]
    assert notified, "no notifying step became due before claim-by"
    assert min(notified) <= clock.notify_by
    assert StepAction.CLAIM in first_due
    assert clock.date_of_loss <= first_due[StepAction.CLAIM] <= clock.claim_by
    if StepAction.EXTENSION_REQUEST in first_due:
        assert first_due[StepAction.EXTENSION_REQUEST] < clock.cover_stop
    # Taken on the day it falls due, neither the first notification nor the claim is late.
    first_notifying = min(
        (a for a in first_due if a in NOTIFYING), key=lambda a: (first_due[a], a.value)
    )
    for action in (first_notifying, StepAction.CLAIM):
        (step,) = [s for s in due_steps(path, t, clock, first_due[action]) if s.action is action]
        assert not step.late


@given(terms_and_path())
def test_a_refused_path_would_miss_a_deadline(case: tuple[PolicyTerms, EscalationPath]) -> None:
    # check_path refuses exactly the paths that could miss a deadline: no false alarms.
    t, path = case
    offsets = {s.action: step_offset(s, t) for s in path.steps}
    notify = [o for a, o in offsets.items() if a in NOTIFYING]
    misses = (
        not notify
        or min(notify) > t.overdue_notification_days
        or StepAction.CLAIM not in offsets
        or offsets[StepAction.CLAIM] > t.claim_filing_days
        or offsets.get(StepAction.EXTENSION_REQUEST, -1) >= t.max_extension_days
    )
    assert bool(check_path(path, t)) == misses
