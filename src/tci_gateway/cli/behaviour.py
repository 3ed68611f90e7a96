"""``tci behaviour``: payment behaviour per buyer, tier, policy and the portfolio (DSO by
countback and the simple ratio, best possible DSO, average days delinquent, days beyond
terms, the share paid on time, ageing buckets, disputes; docs/credit.md).

``--as-of`` and ``--json`` are the global options (they may follow the command). The
business date is the ``--as-of`` date, else today in the policies' time zone (as an
import's).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tci_gateway.cli.output import Col, Grid, money_text
from tci_gateway.cli.state import state_of as _state
from tci_gateway.domain.credit import Behaviour
from tci_gateway.domain.policy import BusinessDay
from tci_gateway.errors import InputError

if TYPE_CHECKING:
    from tci_gateway.services.behaviour import ScopedBehaviour


_app = typer.Typer()
BUCKET_LABELS = (
    ("current", "Current"),
    ("days_1_30", "1-30"),
    ("days_31_60", "31-60"),
    ("days_61_90", "61-90"),
    ("days_over_90", "> 90"),
)


def register(app: typer.Typer) -> None:
    """Add ``tci behaviour`` to the ``tci`` application."""
    app.registered_commands.extend(_app.registered_commands)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def behaviour_json(b: Behaviour) -> dict[str, Any]:
    """One behaviour as JSON: amounts as text in its currency, days and shares exact."""
    return {
        "day": b.day.isoformat(),
        "currency": b.currency,
        "receivables": b.receivables,
        "unapplied_credits": b.unapplied_credits,
        "buckets": {name: getattr(b.buckets, name) for name, _ in BUCKET_LABELS},
        "sales": [
            {"month": m.month.isoformat(), "days": m.days, "sales": m.sales} for m in b.sales
        ],
        "dso_countback_days": _text(b.dso_countback),
        "dso_countback_complete": b.dso_countback_exhausted,
        "dso_simple_days": _text(b.dso_simple),
        "best_possible_dso_days": _text(b.best_possible_dso),
        "average_days_delinquent": _text(b.average_days_delinquent),
        "dbt_average_days": _text(b.dbt_average),
        "dbt_weighted_days": _text(b.dbt_weighted),
        "paid_on_time_ratio": _text(b.paid_on_time_share),
        "invoices_settled": b.invoices_settled,
        "invoices_overdue": b.invoices_overdue,
        "disputed_amount": b.disputed_amount,
        "disputed_count": b.disputed_count,
        "disputed_oldest_days": b.disputed_oldest_days,
        "notes": list(b.notes),
    }


def scoped_json(s: ScopedBehaviour) -> dict[str, Any]:
    return {"scope": s.scope, "key": s.key, "label": s.label, **behaviour_json(s.behaviour)}


def _days(value: Decimal | None, complete: bool = True) -> str:
    if value is None:
        return "-"
    shown = f"{value.quantize(Decimal('0.1'))}"
    return shown if complete else f"> {shown}"


def _share(value: Decimal | None) -> str:
    return "-" if value is None else f"{(value * 100).quantize(Decimal('0.1'))} %"


def _summary(title: str, rows: list[ScopedBehaviour]) -> Grid:
    table = Grid(
        title,
        [
            Col("Scope", fixed=True),
            Col("Name", min_width=12),
            Col("Receivables", fixed=True, right=True),
            Col("DSO", fixed=True, right=True),
            Col("DSO simple", fixed=True, right=True),
            Col("BPDSO", fixed=True, right=True),
            Col("ADD", fixed=True, right=True),
            Col("DBT avg", fixed=True, right=True),
            Col("DBT wtd", fixed=True, right=True),
            Col("On time", fixed=True, right=True),
            Col("Overdue", fixed=True, right=True),
            Col("Disputed", fixed=True, right=True),
        ],
    )
    for s in rows:
        b = s.behaviour
        table.add_row(
            s.scope,
            s.label,
            money_text(b.receivables, b.currency),
            _days(b.dso_countback, b.dso_countback_exhausted),
            _days(b.dso_simple),
            _days(b.best_possible_dso),
            _days(b.average_days_delinquent),
            _days(b.dbt_average),
            _days(b.dbt_weighted),
            _share(b.paid_on_time_share),
            money_text(b.buckets.overdue, b.currency),
            money_text(b.disputed_amount, b.currency),
        )
    return table


def _buckets(s: ScopedBehaviour) -> Grid:
    b = s.behaviour
    table = Grid(
        f"Ageing of open invoices by due date ({b.currency})",
        [Col(label, fixed=True, right=True) for _, label in BUCKET_LABELS]
        + [Col("Total", fixed=True, right=True)],
    )
    table.add_row(
        *(money_text(getattr(b.buckets, name), b.currency) for name, _ in BUCKET_LABELS),
        money_text(b.buckets.total, b.currency),
    )
    return table


def _sales(s: ScopedBehaviour) -> Grid:
    b = s.behaviour
    table = Grid(
        f"Credit sales counted back ({b.currency})",
        [
            Col("Month", fixed=True),
            Col("Days", fixed=True, right=True),
            Col("Sales", fixed=True, right=True),
        ],
    )
    for m in b.sales:
        table.add_row(m.month.strftime("%Y-%m"), str(m.days), money_text(m.sales, b.currency))
    return table


def _trend_table(title: str, points: list[ScopedBehaviour]) -> Grid:
    table = Grid(
        title,
        [
            Col("Date", fixed=True),
            Col("Receivables", fixed=True, right=True),
            Col("DSO", fixed=True, right=True),
            Col("DSO simple", fixed=True, right=True),
            Col("BPDSO", fixed=True, right=True),
            Col("DBT wtd", fixed=True, right=True),
            Col("On time", fixed=True, right=True),
            Col("Overdue", fixed=True, right=True),
        ],
    )
    for p in points:
        b = p.behaviour
        table.add_row(
            b.day.isoformat(),
            money_text(b.receivables, b.currency),
            _days(b.dso_countback, b.dso_countback_exhausted),
            _days(b.dso_simple),
            _days(b.best_possible_dso),
            _days(b.dbt_weighted),
            _share(b.paid_on_time_share),
            money_text(b.buckets.overdue, b.currency),
        )
    return table


@_app.command("behaviour")
def behaviour_cmd(
    ctx: typer.Context,
    buyer: Annotated[
        str | None, typer.Option(help="One buyer: its ERP account or ledger buyer id.")
    ] = None,
    tier: Annotated[str | None, typer.Option(help="One tier (strategic, growth, watch).")] = None,
    policy: Annotated[str | None, typer.Option(help="One policy, by its key.")] = None,
    show_trend: Annotated[
        bool, typer.Option("--trend", help="The scope's month-end snapshots instead.")
    ] = False,
) -> None:
    """Payment behaviour on the business date: DSO (countback and simple), best possible
    DSO, average days delinquent, days beyond terms, paid on time, ageing, disputes. With
    no option: the portfolio, each tier and each policy. Exit 2 on an unknown buyer, tier
    or policy."""
    from tci_gateway.services.behaviour import behaviour_report, trend
    from tci_gateway.services.complete_import import import_business_date
    from tci_gateway.services.cover_requests import find_buyer
    from tci_gateway.wiring import behaviour_options

    state = _state(ctx)
    if sum(x is not None for x in (buyer, tier, policy)) > 1:
        state.output.error("give at most one of --buyer, --tier and --policy")
        raise typer.Exit(2)
    wiring = state.wiring()
    settings = wiring.settings
    now = state.now()
    day = (
        now.date()
        if isinstance(now, BusinessDay)
        else import_business_date(
            (p.timezone for p in settings.policies.values()), now, settings.scheduler.timezone
        )
    )
    credit = settings.credit
    known_tiers = {*settings.escalation.tiers, *credit.tier_rules}
    known_tiers |= {credit.tiers.strategic, credit.tiers.growth, credit.tiers.watch}
    if tier is not None and tier not in known_tiers:
        state.output.error(f"unknown tier {tier!r} (one of {', '.join(sorted(known_tiers))})")
        raise typer.Exit(2)
    ledger = wiring.ledger()
    try:
        options = behaviour_options(settings, ledger)
        scope, key = "portfolio", None
        if buyer is not None:
            with ledger.reading() as session:
                buyer_id, _ = find_buyer(session, buyer)
            scope, key = "buyer", str(buyer_id)
        elif tier is not None:
            scope, key = "tier", tier
        elif policy is not None:
            scope, key = "policy", policy
        if show_trend:
            rows = trend(ledger, scope, key or "all")
        elif scope == "portfolio":
            rows = [
                *behaviour_report(ledger, day, options),
                *behaviour_report(ledger, day, options, scope="tier"),
                *behaviour_report(ledger, day, options, scope="policy"),
            ]
        else:
            rows = behaviour_report(ledger, day, options, scope=scope, key=key)
    except (InputError, LookupError) as exc:
        state.output.error(_one_line(exc))
        raise typer.Exit(2) from None
    finally:
        ledger.dispose()
    _show(state, rows, trend_of=(scope, key or "all") if show_trend else None, day=day.isoformat())


def _one_line(exc: Exception) -> str:
    if isinstance(exc, InputError) and exc.errors:
        return exc.errors[0].reason
    return str(exc.args[0]) if exc.args else str(exc)


def _show(
    state: Any, rows: list[ScopedBehaviour], *, trend_of: tuple[str, str] | None, day: str
) -> None:
    if state.json:
        if trend_of is not None:
            state.output.emit_json(
                {"scope": trend_of[0], "key": trend_of[1], "points": [scoped_json(r) for r in rows]}
            )
        else:
            state.output.emit_json({"business_date": day, "scopes": [scoped_json(r) for r in rows]})
        return
    if trend_of is not None:
        if not rows:
            state.output.info(f"no snapshots of {trend_of[0]} {trend_of[1]} yet")
            return
        state.output.table(_trend_table(f"Trend of {rows[-1].label}", rows))
        return
    state.output.table(_summary(f"Payment behaviour on {day}", rows))
    if len(rows) == 1:
        state.output.table(_buckets(rows[0]))
        state.output.table(_sales(rows[0]))
    for r in rows:
        for note in r.behaviour.notes:
            state.output.info(f"{r.label}: {note}")
