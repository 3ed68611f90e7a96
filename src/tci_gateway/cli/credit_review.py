"""``tci credit review [--as-of D] [--json]``: the nightly credit review of a business
date, by hand (the scheduler's ``credit_review`` job runs the same service).

Tiers, behaviour snapshots, progressive plan steps, over-credit-line alerts and the
insurer's decisions on applications (docs/credit.md, "The nightly review"). A date
already reviewed does nothing and says so. Exit 1 when a step failed (run it again: each
step is idempotent).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

import typer

from tci_gateway.cli.output import Col, Grid
from tci_gateway.cli.state import State, parse_as_of, state_of
from tci_gateway.domain.policy import BusinessDay

if TYPE_CHECKING:
    from tci_gateway.services.credit_review import CreditReviewReport


def review_day(now: datetime, timezone: str) -> date:
    """The business date reviewed: ``--as-of``'s date when given as a date, else today
    in the scheduler's time zone (the date the scheduled job would review)."""
    if isinstance(now, BusinessDay):
        return now.date()
    return now.astimezone(ZoneInfo(timezone)).date()


def review(
    ctx: typer.Context,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Business date (or ISO datetime) to review; default today."),
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Review a business date: tiers, behaviour snapshots, progressive plans, over the
    credit line, insurer decisions. A date already reviewed is left as it is."""
    state = state_of(ctx)
    if as_of is not None:
        state.as_of = parse_as_of(as_of)
    if json:
        state.json = True
        state.output.json_mode = True
    report = _run(state)
    if state.json:
        state.output.emit_json(report.summary())
    else:
        _print(state, report)
    if not report.ok:
        raise typer.Exit(1)


def _run(state: State) -> CreditReviewReport:
    from tci_gateway.services.credit_review import run_credit_review
    from tci_gateway.wiring import Wiring, credit_options

    wiring: Wiring = state.wiring()
    settings = wiring.settings
    policies = settings.domain_policies()
    now = state.now()
    day = review_day(now, settings.scheduler.timezone)
    ledger = wiring.ledger()
    try:
        bureaus = {name: wiring.bureau(name).adapter for name in sorted(settings.bureaus)}
        options = credit_options(settings, ledger)
        return run_credit_review(ledger, policies, bureaus, options, day, now=now)
    finally:
        ledger.dispose()
        wiring.close()


def _print(state: State, report: CreditReviewReport) -> None:
    out = state.output
    day = report.business_date
    if report.already_done:
        at = report.finished_at.isoformat() if report.finished_at else "earlier"
        out.out.print(f"Credit review of {day} already done ({at}): nothing to do.", markup=False)
        return
    s = report.summary()
    lines: list[str] = [f"Credit review of {day}:"]
    if report.tiers is not None:
        t = report.tiers
        lines.append(
            f"  tiers: {t['evaluated']} buyer(s) evaluated, {t['changed']} changed, "
            f"{t['pinned']} pinned, {t['review_due']} due for review"
        )
    if report.snapshots is not None:
        lines.append(f"  behaviour snapshots: {report.snapshots} written")
    plans: dict[str, Any] | None = s["plans"]
    if plans is not None:
        lines.append(
            f"  progressive plans: {plans['evaluated']} evaluated, "
            f"{len(plans['applied'])} step(s) applied for, {plans['stepped']} stepped up, "
            f"{plans['waiting']} waiting, {plans['frozen']} frozen, "
            f"{plans['completed']} complete" + (f" ({plans['note']})" if "note" in plans else "")
        )
    if report.over_lines is not None:
        lines.append(
            f"  over the credit line: {len(report.over_lines)} buyer(s), "
            f"{report.over_line_alerts} new alert(s)"
        )
    if report.insurer_decisions is not None:
        lines.append(f"  insurer decisions taken up: {report.insurer_decisions}")
    for line in lines:
        out.out.print(line, markup=False)
    if report.over_lines:
        grid = Grid(
            "Over the credit line",
            (
                Col("Buyer", min_width=12),
                Col("Policy", fixed=True),
                Col("Exposure", fixed=True, right=True),
                Col("Credit line", fixed=True, right=True),
                Col("Over", fixed=True, right=True),
            ),
        )
        for o in report.over_lines:
            grid.add_row(
                o.buyer,
                o.policy,
                f"{o.exposure:,.2f} {o.currency}",
                f"{o.line:,.2f}",
                f"{o.over:,.2f}",
            )
        out.table(grid)
    for error in report.errors:
        out.error(error)
