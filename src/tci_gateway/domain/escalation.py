"""Escalation paths per buyer tier, and the check that no path can miss a deadline.

A path says, in days past the due date ``D``, what happens to an overdue buyer of a
tier. The default, from the seed: a reminder at D+30, a payment plan or an overdue
notification at D+60, a claim or collections at D+90. A claim cannot be filed before the
date of loss (end of the waiting period), so a claim step is due on the later of its
own day and the date of loss.

:func:`check_path` refuses a path that could miss an insurer deadline under a policy's
terms: no notification by the notify-by day, an extension asked after the cover stop,
no claim, or a claim that would be filed after the claim-by day.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from tci_gateway.domain.deadlines import DeadlineClock
from tci_gateway.domain.policy import PolicyTerms


class StepAction(StrEnum):
    """What a step does. REMINDER stays with the risk team; every other step is an act
    towards the insurer, by API where the adapter can, else by a manual filing pack."""

    REMINDER = "REMINDER"
    OVERDUE_NOTIFICATION = "OVERDUE_NOTIFICATION"
    PAYMENT_PLAN = "PAYMENT_PLAN"
    EXTENSION_REQUEST = "EXTENSION_REQUEST"
    COLLECTIONS = "COLLECTIONS"
    CLAIM = "CLAIM"


NOTIFYING = frozenset(
    {
        StepAction.OVERDUE_NOTIFICATION,
        StepAction.PAYMENT_PLAN,
        StepAction.COLLECTIONS,
        StepAction.CLAIM,
    }
)
"""Acts that tell the insurer of the overdue, so that the notify-by deadline is met."""

TIERS = ("strategic", "growth", "watch")


class EscalationError(ValueError):
    """A path that is malformed or could miss an insurer deadline."""


@dataclass(frozen=True, slots=True)
class Step:
    day: int
    action: StepAction


@dataclass(frozen=True, slots=True)
class EscalationPath:
    """The steps of one tier, in day order."""

    tier: str
    steps: tuple[Step, ...]

    def __post_init__(self) -> None:
        days = [step.day for step in self.steps]
        if any(day < 1 for day in days):
            raise EscalationError(f"tier {self.tier}: step days must be 1 or more")
        if days != sorted(days):
            raise EscalationError(f"tier {self.tier}: steps must be in day order")
        actions = [step.action for step in self.steps]
        if len(set(actions)) != len(actions):
            raise EscalationError(f"tier {self.tier}: an action appears twice")

    @classmethod
    def of(cls, tier: str, days: Mapping[str, int]) -> EscalationPath:
        """A path from ``{action name: day}`` (the configuration's shape)."""
        steps = []
        for name, day in days.items():
            try:
                action = StepAction(name.upper())
            except ValueError:
                known = ", ".join(a.value.lower() for a in StepAction)
                raise EscalationError(
                    f"tier {tier}: unknown action {name!r} (known: {known})"
                ) from None
            steps.append(Step(day, action))
        return cls(tier, tuple(sorted(steps, key=lambda s: (s.day, s.action.value))))


DEFAULT_PATHS: dict[str, dict[str, int]] = {
    "strategic": {"reminder": 30, "payment_plan": 60, "claim": 90},
    "growth": {"reminder": 30, "overdue_notification": 60, "claim": 90},
    "watch": {"reminder": 30, "overdue_notification": 60, "claim": 90},
}
"""The seed's default path for each tier."""


def step_offset(step: Step, terms: PolicyTerms) -> int:
    """Days past ``D`` on which ``step`` is due: a claim not before the date of loss."""
    if step.action is StepAction.CLAIM:
        return max(step.day, terms.waiting_days)
    return step.day


def check_path(path: EscalationPath, terms: PolicyTerms) -> list[str]:
    """Why ``path`` could miss a deadline under ``terms`` (empty when it cannot)."""
    problems = []
    # In the order they fall due: a claim configured early is only due at the date of loss.
    notifying = sorted(
        (s for s in path.steps if s.action in NOTIFYING), key=lambda s: step_offset(s, terms)
    )
    if not notifying:
        problems.append(f"tier {path.tier}: no step notifies the insurer")
    elif step_offset(notifying[0], terms) > terms.overdue_notification_days:
        first = notifying[0]
        problems.append(
            f"tier {path.tier}: first notification ({first.action.value.lower()} at "
            f"D+{step_offset(first, terms)}) after the notify-by deadline "
            f"D+{terms.overdue_notification_days}"
        )
    for step in path.steps:
        if step.action is StepAction.EXTENSION_REQUEST and step.day >= terms.max_extension_days:
            problems.append(
                f"tier {path.tier}: extension request at D+{step.day} not before the cover "
                f"stop D+{terms.max_extension_days}"
            )
    claims = [s for s in path.steps if s.action is StepAction.CLAIM]
    if not claims:
        problems.append(
            f"tier {path.tier}: no claim step: the claim-by deadline "
            f"D+{terms.claim_filing_days} would be missed"
        )
    elif step_offset(claims[0], terms) > terms.claim_filing_days:
        problems.append(
            f"tier {path.tier}: claim at D+{step_offset(claims[0], terms)} after the claim-by "
            f"deadline D+{terms.claim_filing_days}"
        )
    return problems


def check_paths(paths: Iterable[EscalationPath], policies: Mapping[str, PolicyTerms]) -> list[str]:
    """Every path against every policy it may be used with (any buyer of any tier can
    sit under any policy)."""
    return [
        f"policy {key}: {problem}"
        for key, terms in policies.items()
        for path in paths
        for problem in check_path(path, terms)
    ]


@dataclass(frozen=True, slots=True)
class DueStep:
    """A step of a path with the date it falls due for one case."""

    action: StepAction
    due_on: date
    late: bool


def due_steps(
    path: EscalationPath, terms: PolicyTerms, clock: DeadlineClock, today: date
) -> list[DueStep]:
    """The steps due on the business date ``today`` or earlier, for a case whose oldest
    overdue invoice has ``clock``. ``late`` marks the first notification taken after the
    notify-by day, a claim after the claim-by day, an extension request from the cover
    stop on: it is still taken, and alerted."""
    notifying = [s for s in path.steps if s.action in NOTIFYING]
    first = min(notifying, key=lambda s: step_offset(s, terms)) if notifying else None
    due = []
    for step in path.steps:
        on = clock.due_date + timedelta(days=step_offset(step, terms))
        if on > today:
            continue
        late = False
        if step.action is StepAction.CLAIM:
            late = today > clock.claim_by
        elif step is first:
            # Only the first notification meets the notify-by deadline; a payment plan or
            # collections after it is not late for having come after that day.
            late = today > clock.notify_by
        elif step.action is StepAction.EXTENSION_REQUEST:
            late = today >= clock.cover_stop
        due.append(DueStep(step.action, on, late))
    return due
