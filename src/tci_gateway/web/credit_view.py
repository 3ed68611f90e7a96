"""What the credit pages share: the credit options (as the API's routes use them), how a
risk analyst reads the figures (days to one decimal, shares as percentages, a figure
that could not be computed written as such, never as 0), and what the buyer page's
"Credit" panel gathers (:func:`buyer_credit`: the services behind ``GET
/v1/buyers/{id}/credit``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy import select

from tci_gateway.adapters.contract import BureauAdapter
from tci_gateway.api.context import ApiContext
from tci_gateway.api.routes.credit_views import known_tiers as api_known_tiers
from tci_gateway.domain.credit import Behaviour, CreditLine
from tci_gateway.domain.money import amount_text
from tci_gateway.ledger.policies import policy_ids
from tci_gateway.ledger.tables import BuyerRow
from tci_gateway.services.behaviour import buyer_behaviour
from tci_gateway.services.credit_apply import ApplicationView, list_applications
from tci_gateway.services.credit_lines import credit_lines
from tci_gateway.services.credit_options import CreditOptions
from tci_gateway.services.progressive import PlanView, plan_of
from tci_gateway.services.tiers import TierChange, tier_history
from tci_gateway.web.formats import money

STATE_TEXT = {
    "received": "received, being assessed",
    "granted": "granted",
    "with_insurer": "with the insurer, waiting for its decision",
    "referred": "referred to a person",
    "refused": "refused",
    "withdrawn": "withdrawn",
}
"""An application's state in words."""
NOT_COMPUTABLE = "not computable"
MISSING = "missing"


def credit_options(ctx: ApiContext) -> CreditOptions:
    """The credit options the API's routes use (:meth:`ApiContext.credit_options`: built
    per request from ``[credit]``, the ledger's FX rates read now)."""
    return ctx.credit_options()


def bureaus(ctx: ApiContext) -> dict[str, BureauAdapter]:
    """Every configured bureau's adapter, shared by the process (as the API's)."""
    return ctx.bureaus()


def known_tiers(ctx: ApiContext) -> list[str]:
    """The tiers a person may pin: escalation tiers and the credit tiers (as the API)."""
    return sorted(api_known_tiers(ctx))


Figure = Decimal | str | int | None
"""A figure as a service gives it: a Decimal, or a decimal string as stored in JSON."""


def _decimal(value: Figure) -> Decimal | None:
    return None if value is None or value == "" else Decimal(str(value))


def _number(value: Figure) -> Decimal | str | None:
    """``value`` as a Decimal when it is a number, else its text (a bureau's letter band)."""
    try:
        return _decimal(value)
    except InvalidOperation:
        return str(value)


def days(value: Figure, *, over: bool = False, unit: bool = True) -> Markup:
    """``71.4 days`` (``over 365.0 days`` when the countback ran out of months; without
    ``unit``, ``71.4``, where the column says "days"); "not computable" for ``None``."""
    value = _decimal(value)
    if value is None:
        return Markup('<span class="muted">{}</span>').format(NOT_COMPUTABLE)
    text = f"{value.quantize(Decimal('0.1'), ROUND_HALF_UP)}" + (" days" if unit else "")
    return escape(("over " if over else "") + text)


def share(value: Figure) -> Markup:
    """``92.5 %`` of a 0-1 share; "not computable" for ``None``."""
    value = _decimal(value)
    if value is None:
        return Markup('<span class="muted">{}</span>').format(NOT_COMPUTABLE)
    return escape(f"{(value * 100).quantize(Decimal('0.1'), ROUND_HALF_UP)} %")


def figure(value: Figure) -> Markup:
    """A scorecard input as given (trimmed of trailing zeros), or "missing"."""
    value = _number(value)
    if value is None:
        return Markup('<span class="missing">{}</span>').format(MISSING)
    if isinstance(value, str):
        return escape(value)
    return escape(f"{value.normalize():f}" if value == value.to_integral() else f"{value}")


def hours(value: Figure) -> str:
    """``3.2 h`` (``45 min`` under an hour); an em dash for ``None``."""
    number = _decimal(value)
    if number is None:
        return "—"
    if number < 1:
        return f"{(number * 60).quantize(Decimal('1'), ROUND_HALF_UP)} min"
    return f"{number.quantize(Decimal('0.1'), ROUND_HALF_UP)} h"


def places(value: Figure, count: int) -> str:
    """``value`` to ``count`` decimal places (half up); an em dash for ``None``."""
    value = _decimal(value)
    if value is None:
        return "—"
    return f"{value.quantize(Decimal(1).scaleb(-count), ROUND_HALF_UP)}"


def amount(value: Figure, currency: str | None) -> str:
    """An amount stored as a decimal string, as the ``money`` filter writes it."""
    return money(_decimal(value), currency)


def plain(value: Figure, currency: str) -> str:
    """An amount as typed in a form: ``8000.00`` (the currency's minor units, no
    grouping)."""
    number = _decimal(value)
    return "" if number is None else amount_text(number, currency)


def helpers() -> dict[str, Any]:
    """The formatting functions every credit template uses."""
    return {
        "days": days,
        "share": share,
        "figure": figure,
        "hours": hours,
        "places": places,
        "amount": amount,
        "plain": plain,
        "state_text": STATE_TEXT,
    }


@dataclass(frozen=True)
class LineShown:
    """The credit line of the buyer under one policy, as the panel shows it."""

    policy: str
    line: CreditLine


@dataclass
class BuyerCredit:
    """The buyer page's "Credit" panel: tier (pinned or not) and why, its history, the
    credit line per policy, the progressive plan and its next step, payment behaviour
    today, and the latest applications."""

    tier: str
    tier_set: bool
    pinned: bool
    history: list[TierChange]
    lines: list[LineShown]
    plan: PlanView | None
    behaviour: Behaviour | None
    applications: list[ApplicationView]
    known_tiers: list[str]
    policies: list[tuple[str, str]]
    """(key, currency) of every configured policy: the internal line form's choices."""

    @property
    def why(self) -> TierChange | None:
        """The change that set the tier now in force (the newest)."""
        return self.history[0] if self.history else None


APPLICATIONS_SHOWN = 5


def buyer_credit(ctx: ApiContext, buyer_id: int, *, tier: str, tier_set: bool) -> BuyerCredit:
    """What the panel shows of ``buyer_id`` (whose tier the buyer page read already)."""
    options = credit_options(ctx)
    day = ctx.now().date()
    with ctx.ledger.reading() as session:
        pinned = bool(session.scalar(select(BuyerRow.tier_pinned).where(BuyerRow.id == buyer_id)))
        keys = {pid: key for key, pid in policy_ids(session).items()}
        found = credit_lines(session, day, [buyer_id])
        plan = plan_of(session, buyer_id)
    lines = sorted(
        (LineShown(keys.get(pid, str(pid)), line) for (bid, pid), line in found.items()),
        key=lambda s: s.policy,
    )
    behaviour = buyer_behaviour(ctx.ledger, day, options.behaviour, [buyer_id]).get(buyer_id)
    history = tier_history(ctx.ledger, buyer_id)  # newest first
    return BuyerCredit(
        tier=tier,
        tier_set=tier_set,
        pinned=pinned,
        history=history,
        lines=lines,
        plan=plan,
        behaviour=behaviour,
        applications=list_applications(ctx.ledger, buyer_id=buyer_id, limit=APPLICATIONS_SHOWN),
        known_tiers=known_tiers(ctx),
        policies=[(k, p.terms.currency) for k, p in sorted(ctx.settings.domain_policies().items())],
    )
