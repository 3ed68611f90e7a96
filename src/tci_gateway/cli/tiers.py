"""``tci tiers evaluate|pin|unpin|show``: tiers by rule and tiers pinned by a risk manager
(docs/credit.md, "Tiers").

``--as-of`` and ``--json`` are the global options (``tci tiers evaluate --as-of
2026-11-30 --json`` works: they may follow the command). The business date is the
``--as-of`` date, else today (UTC).
"""

from __future__ import annotations

import getpass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tci_gateway.cli.output import Col, Grid
from tci_gateway.cli.state import State
from tci_gateway.cli.state import state_of as _state

if TYPE_CHECKING:
    from tci_gateway.services.tiers import TierChange


tiers_app = typer.Typer(help="Buyer tiers: strategic, growth, watch.", no_args_is_help=True)


def _who() -> str:
    try:
        return getpass.getuser()[:64] or "cli"
    except (KeyError, OSError):  # no user name (a container without a passwd entry)
        return "cli"


def change_json(change: TierChange) -> dict[str, Any]:
    return {
        "buyer_id": change.buyer_id,
        "buyer": change.buyer,
        "old": change.old,
        "new": change.new,
        "reason": change.reason,
        "details": change.details,
        "source": change.source,
        "by": change.by,
        "date": change.date.isoformat() if change.date else None,
        "at": change.at.isoformat() if change.at else None,
    }


def _changes_table(title: str, changes: list[TierChange], *, buyer: bool) -> Grid:
    columns = [Col("Date", fixed=True)]
    if buyer:
        columns.append(Col("Buyer", min_width=12))
    columns += [
        Col("Old", fixed=True),
        Col("New", fixed=True),
        Col("Source", fixed=True),
        Col("By", fixed=True),
        Col("Reason", min_width=20),
    ]
    table = Grid(title, columns)
    for c in changes:
        cells = [c.date.isoformat() if c.date else ""]
        if buyer:
            cells.append(c.buyer)
        cells += [c.old or "-", c.new or "-", c.source, c.by or "", c.reason]
        table.add_row(*cells)
    return table


@tiers_app.command("evaluate")
def evaluate_cmd(ctx: typer.Context) -> None:
    """Apply the tier rules to every buyer not pinned (as the nightly review does): each
    change recorded with its reason and raised as an alert; credit reviews due raised.
    Rerunning on the same date changes nothing. Exit 1 when a tier has no review
    frequency."""
    from tci_gateway.services.tiers import evaluate_tiers
    from tci_gateway.wiring import tier_options

    state = _state(ctx)
    wiring = state.wiring()
    now = state.now()
    ledger = wiring.ledger()
    try:
        options = tier_options(wiring.settings, ledger)
        report = evaluate_tiers(ledger, now.date(), options, now=now)
    finally:
        ledger.dispose()
    if state.json:
        state.output.emit_json(
            {
                "business_date": report.business_date.isoformat(),
                "evaluated": report.evaluated,
                "pinned": report.pinned,
                "changed": [change_json(c) for c in report.changed],
                "review_due": report.review_due,
                "alerts": report.alerts,
                "counts": report.counts,
                "notes": report.notes,
                "errors": report.errors,
            }
        )
    else:
        if report.changed:
            title = f"Tier changes on {report.business_date}"
            state.output.table(_changes_table(title, report.changed, buyer=True))
        counts = ", ".join(f"{n} {t}" for t, n in sorted(report.counts.items())) or "no buyers"
        state.output.out.print(
            f"tiers on {report.business_date}: {report.evaluated} evaluated, "
            f"{len(report.changed)} changed, {report.pinned} pinned; {counts}; "
            f"{report.review_due} due for review; {report.alerts} alert(s) raised",
            markup=False,
        )
        for note in report.notes:
            state.output.info(f"note: {note}")
        for error in report.errors:
            state.output.error(error)
    if not report.ok:
        raise typer.Exit(1)


@tiers_app.command("pin")
def pin_cmd(
    ctx: typer.Context,
    buyer: Annotated[str, typer.Argument(help="ERP account or buyer id.")],
    tier: Annotated[str, typer.Argument(help="e.g. strategic, growth, watch.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept with the change).")],
    by: Annotated[str | None, typer.Option("--by", help="Who (default: the OS user).")] = None,
) -> None:
    """Pin a buyer's tier by hand: the nightly rules leave it alone until unpinned."""
    from tci_gateway.services.tiers import pin_tier
    from tci_gateway.wiring import known_tiers

    state = _state(ctx)
    ledger = state.wiring().ledger()
    try:
        change = pin_tier(
            ledger,
            buyer,
            tier,
            by=by or _who(),
            reason=reason,
            now=state.now(),
            known_tiers=known_tiers(state.settings),
        )
    finally:
        ledger.dispose()
    _done(state, change, f"{change.buyer}: tier {change.new} pinned (was {change.old or '-'})")


@tiers_app.command("unpin")
def unpin_cmd(
    ctx: typer.Context,
    buyer: Annotated[str, typer.Argument(help="ERP account or buyer id.")],
    by: Annotated[str | None, typer.Option("--by", help="Who (default: the OS user).")] = None,
) -> None:
    """Hand a pinned buyer back to the rules (from the next evaluation)."""
    from tci_gateway.services.tiers import unpin_tier

    state = _state(ctx)
    ledger = state.wiring().ledger()
    try:
        change = unpin_tier(ledger, buyer, by=by or _who(), now=state.now())
    finally:
        ledger.dispose()
    if change is None:
        if state.json:
            state.output.emit_json(None)
        else:
            state.output.out.print(f"{buyer}: not pinned; nothing changed", markup=False)
        return
    _done(state, change, f"{change.buyer}: unpinned (tier {change.new} until the rules run)")


def _done(state: State, change: TierChange, line: str) -> None:
    if state.json:
        state.output.emit_json(change_json(change))
    else:
        state.output.out.print(line, markup=False)


@tiers_app.command("show")
def show_cmd(
    ctx: typer.Context,
    buyer: Annotated[str, typer.Argument(help="ERP account or buyer id.")],
) -> None:
    """A buyer's tier, whether it is pinned, and its changes with their reasons."""
    from tci_gateway.services.tiers import tier_status

    state = _state(ctx)
    ledger = state.wiring().ledger()
    try:
        status = tier_status(ledger, buyer)
    finally:
        ledger.dispose()
    default = state.settings.escalation.default_tier
    if state.json:
        state.output.emit_json(
            {
                "buyer_id": status.buyer_id,
                "buyer": status.buyer,
                "tier": status.tier,
                "effective_tier": status.tier or default,
                "pinned": status.pinned,
                "history": [change_json(c) for c in status.history],
            }
        )
        return
    shown = status.tier or f"{default} (default)"
    pinned = " (pinned)" if status.pinned else ""
    state.output.out.print(f"{status.buyer}: tier {shown}{pinned}", markup=False)
    if status.history:
        state.output.table(_changes_table("Tier history", status.history, buyer=False))
    else:
        state.output.out.print("no tier changes recorded", markup=False)


def register(app: typer.Typer) -> None:
    """Add ``tci tiers`` to ``tci``."""
    app.add_typer(tiers_app, name="tiers")
