"""``tci credit apply|show|list|decide|line|follow|stats|review``: credit applications
pre-screened against the policy's discretionary credit limit, a person's decisions,
internal lines, and the time from application to decision (docs/credit.md).

``--as-of`` and ``--json`` are the global options (they may follow the command).
"""

from __future__ import annotations

import getpass
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from tci_gateway.cli.output import Col, Grid, money_text
from tci_gateway.cli.state import State
from tci_gateway.cli.state import state_of as _state
from tci_gateway.domain.money import Money, MoneyError, parse_amount
from tci_gateway.domain.policy import Policy
from tci_gateway.errors import ConfigError, InputError, RecordError

if TYPE_CHECKING:
    from tci_gateway.ledger.engine import Ledger
    from tci_gateway.services import credit_apply as service
    from tci_gateway.services.credit_stats import CreditStats


credit_app = typer.Typer(
    help="Credit applications: pre-screen, decisions, credit lines, time to decision.",
    no_args_is_help=True,
)

By = Annotated[str | None, typer.Option("--by", help="Who (default: the OS user).")]
PolicyOpt = Annotated[str | None, typer.Option("--policy", "-p", help="Policy key.")]


def register(app: typer.Typer) -> None:
    """Add ``tci credit`` (and H5's ``tci credit review``) to ``tci``."""
    from tci_gateway.cli.credit_review import review

    if not any(c.name == "review" for c in credit_app.registered_commands):
        credit_app.command("review")(review)
    app.add_typer(credit_app, name="credit")


def _who(by: str | None) -> str:
    if by:
        return by[:64]
    try:
        return getpass.getuser()[:64] or "cli"
    except (KeyError, OSError):
        return "cli"


def _bad(column: str, reason: str) -> InputError:
    return InputError([RecordError("command line", None, column, reason)])


def _money(text: str, currency: str) -> Money:
    try:
        return Money(parse_amount(text, currency), currency)
    except MoneyError as exc:
        raise _bad("AMOUNT", str(exc)) from None


def _policy(policies: Mapping[str, Policy], key: str | None) -> Policy:
    if key is None:
        if len(policies) != 1:
            known = ", ".join(sorted(policies)) or "none"
            raise ConfigError(f"several policies are configured ({known}): pass --policy")
        return next(iter(policies.values()))
    if key not in policies:
        raise ConfigError(f"unknown policy {key!r} (configured: {', '.join(sorted(policies))})")
    return policies[key]


def _amount(value: Decimal | None, currency: str) -> str:
    return "-" if value is None else f"{money_text(value, currency)} {currency}"


def view_json(v: service.ApplicationView) -> dict[str, Any]:
    """An application as JSON (amounts as exact text, times ISO 8601)."""
    data: dict[str, Any] = {
        k: getattr(v, k)
        for k in (
            "reference",
            "id",
            "buyer_id",
            "buyer_name",
            "policy",
            "currency",
            "requested_by",
            "channel",
            "tier",
            "state",
            "route",
            "reason",
            "cover_request_id",
            "cover_request_reference",
            "cover_request_state",
            "plan_id",
            "decided_by",
            "scorecard",
            "conditions",
            "evidence",
        )
    }
    for k in ("amount", "score", "granted_amount", "provisional_amount", "hours_to_decision"):
        value = getattr(v, k)
        data[k] = None if value is None else f"{value:f}"
    for k in ("received_at", "decided_at", "updated_at"):
        value = getattr(v, k)
        data[k] = None if value is None else value.isoformat()
    data["events"] = [
        {"step": e.step, "at": e.at.isoformat(), "detail": dict(e.detail)} for e in v.events
    ]
    return data


def _show(state: State, v: service.ApplicationView) -> None:
    if state.json:
        state.output.emit_json(view_json(v))
        return
    out = state.output
    out.info(f"{v.reference}  {v.buyer_name} ({v.policy}, tier {v.tier})")
    out.info(f"applied for {_amount(v.amount, v.currency)} by {v.requested_by} via {v.channel}")
    out.info(f"state {v.state}, route {v.route or '-'}: {v.reason or ''}")
    if v.granted_amount is not None:
        out.info(f"granted {_amount(v.granted_amount, v.currency)} by {v.decided_by}")
    if v.provisional_amount:
        out.info(f"provisional line {_amount(v.provisional_amount, v.currency)}")
    if v.cover_request_reference:
        out.info(f"cover request {v.cover_request_reference} ({v.cover_request_state})")
    card = v.scorecard
    if card:
        grid = Grid(
            f"Scorecard: {card.get('score')} (pass mark {card.get('threshold')})",
            (
                Col("Factor", min_width=12),
                Col("Weight", fixed=True, right=True),
                Col("Value", fixed=True, right=True),
                Col("Points", fixed=True, right=True),
                Col("Contribution", fixed=True, right=True),
            ),
        )
        for f in card.get("factors", []):
            value = "missing" if f.get("missing") else str(f.get("value"))
            grid.add_row(f["name"], f["weight"], value, f["points"], f["contribution"])
        out.table(grid)
    if v.conditions:
        grid = Grid("Conditions", (Col("Condition", fixed=True), Col("", fixed=True), Col("Why")))
        for c in v.conditions:
            grid.add_row(c["name"], "pass" if c["passed"] else "FAIL", c["detail"])
        out.table(grid)
    if v.events:
        grid = Grid(
            "Steps", (Col("At", fixed=True), Col("Step", fixed=True), Col("ms", right=True))
        )
        for e in v.events:
            grid.add_row(
                e.at.isoformat(timespec="milliseconds"),
                e.step,
                str(e.detail.get("duration_ms", "")),
            )
        out.table(grid)


def _list(state: State, views: Sequence[service.ApplicationView]) -> None:
    if state.json:
        state.output.emit_json([view_json(v) for v in views])
        return
    grid = Grid(
        "Credit applications",
        (
            Col("Reference", fixed=True),
            Col("Buyer", min_width=12),
            Col("Amount", fixed=True, right=True),
            Col("Tier", fixed=True),
            Col("State", fixed=True),
            Col("Route", fixed=True),
            Col("Granted", fixed=True, right=True),
            Col("Received", fixed=True),
        ),
    )
    for v in views:
        grid.add_row(
            v.reference,
            Text(v.buyer_name),
            _amount(v.amount, v.currency),
            v.tier,
            v.state,
            v.route or "-",
            _amount(v.granted_amount, v.currency),
            v.received_at.isoformat(timespec="minutes"),
        )
    state.output.table(grid)


@credit_app.command("apply")
def apply_cmd(
    ctx: typer.Context,
    buyer: Annotated[str, typer.Argument(help="ERP account or ledger buyer id.")],
    amount: Annotated[str, typer.Argument(help="The whole line applied for, e.g. 50000.")],
    currency: Annotated[
        str | None, typer.Option("--currency", help="Default: the policy's.")
    ] = None,
    policy: PolicyOpt = None,
    by: By = None,
) -> None:
    """Apply for a credit line (scored and pre-screened at once).

    Granted within the DCL at once, sent to the insurer, or referred to a person."""
    from tci_gateway.services import credit_apply as service
    from tci_gateway.wiring import credit_options

    state = _state(ctx)
    wiring = state.wiring()
    policies = wiring.settings.domain_policies()
    bureaus = {name: wiring.bureau(name).adapter for name in sorted(wiring.settings.bureaus)}
    ledger = wiring.ledger()
    try:
        cur = currency or _currency_of(ledger, policies, buyer, policy)
        view = service.apply_for_credit(
            ledger,
            policies,
            bureaus,
            credit_options(wiring.settings, ledger),
            buyer=buyer,
            amount=_money(amount, cur.upper()),
            policy=policy,
            requested_by=_who(by),
            channel="cli",
            now=state.now(),
        )
    finally:
        ledger.dispose()
        wiring.close()
    _show(state, view)


def _currency_of(
    ledger: Ledger, policies: Mapping[str, Policy], buyer: str, key: str | None
) -> str:
    """The currency of the policy the application will be under (the one given, else
    the buyer's ERP account's, else the only one): an amount without ``--currency``."""
    from tci_gateway.services.cover_requests import find_buyer
    from tci_gateway.services.credit_intake import pick_policy

    with ledger.unit_of_work() as session:
        buyer_id, _ = find_buyer(session, buyer)
        return pick_policy(session, policies, buyer_id, key).terms.currency


@credit_app.command("show")
def show_cmd(ctx: typer.Context, reference: Annotated[str, typer.Argument()]) -> None:
    """One application: scorecard, conditions, evidence, steps."""
    from tci_gateway.services import credit_apply as service

    state = _state(ctx)
    wiring = state.wiring()
    ledger = wiring.ledger()
    try:
        view = service.get_application(ledger, reference)
    except LookupError as exc:
        raise _bad("REFERENCE", str(exc).strip("'\"")) from None
    finally:
        ledger.dispose()
    _show(state, view)


@credit_app.command("list")
def list_cmd(
    ctx: typer.Context,
    state_filter: Annotated[
        str | None,
        typer.Option("--state", help="received, granted, with_insurer, referred, refused."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 100,
) -> None:
    """Applications, newest first."""
    from tci_gateway.services import credit_apply as service

    state = _state(ctx)
    ledger = state.wiring().ledger()
    try:
        views = service.list_applications(ledger, state=state_filter, limit=limit)
    finally:
        ledger.dispose()
    _list(state, views)


@credit_app.command("decide")
def decide_cmd(
    ctx: typer.Context,
    reference: Annotated[str, typer.Argument()],
    decision: Annotated[str, typer.Argument(help="grant, refuse or send-to-insurer.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept with the decision).")],
    amount: Annotated[
        str | None, typer.Option("--amount", help="Grant less than applied for.")
    ] = None,
    by: By = None,
) -> None:
    """A person's decision on a referred application."""
    from tci_gateway.services import credit_apply as service

    state = _state(ctx)
    wiring = state.wiring()
    policies = wiring.settings.domain_policies()
    ledger = wiring.ledger()
    try:
        current = service.get_application(ledger, reference)
        view = service.decide(
            ledger,
            reference,
            decision=decision,
            amount=_money(amount, current.currency) if amount else None,
            by=_who(by),
            reason=reason,
            now=state.now(),
            policies=policies,
        )
    except LookupError as exc:
        raise _bad("REFERENCE", str(exc).strip("'\"")) from None
    finally:
        ledger.dispose()
    _show(state, view)


@credit_app.command("line")
def line_cmd(
    ctx: typer.Context,
    buyer: Annotated[str, typer.Argument(help="ERP account or ledger buyer id.")],
    internal: Annotated[
        str, typer.Option("--internal", help="The internal (uninsured) line; 0 ends it.")
    ],
    reason: Annotated[str, typer.Option("--reason")],
    policy: PolicyOpt = None,
    by: By = None,
) -> None:
    """Set the internal (uninsured) line a risk manager approved."""
    from tci_gateway.services.credit_lines import set_internal_line

    state = _state(ctx)
    wiring = state.wiring()
    chosen = _policy(wiring.settings.domain_policies(), policy)
    ledger = wiring.ledger()
    try:
        change = set_internal_line(
            ledger,
            buyer=buyer,
            policy=chosen,
            amount=_money(internal, chosen.terms.currency),
            by=_who(by),
            reason=reason,
            now=state.now(),
        )
    finally:
        ledger.dispose()
    line = change.line
    data = {
        "buyer_id": change.buyer_id,
        "buyer": change.buyer_name,
        "policy": change.policy,
        "internal": f"{change.amount:f}",
        "currency": change.currency,
        "effective_from": change.effective_from.isoformat(),
        "replaced": None if change.replaced is None else f"{change.replaced:f}",
        "line": None
        if line is None
        else {
            "insurer_limit": None if line.insurer_limit is None else f"{line.insurer_limit:f}",
            "dcl": f"{line.dcl:f}",
            "internal": f"{line.internal:f}",
            "provisional": f"{line.provisional:f}",
            "total": f"{line.total:f}",
        },
    }
    if state.json:
        state.output.emit_json(data)
        return
    total = _amount(line.total, change.currency) if line else "-"
    state.output.info(
        f"{change.buyer_name}: internal line {_amount(change.amount, change.currency)} from "
        f"{change.effective_from}; credit line now {total}"
    )


@credit_app.command("follow")
def follow_cmd(ctx: typer.Context) -> None:
    """Poll the insurers, then record their decisions on the applications.

    Every open cover request is looked up, sent or polled (as ``tci cover status``);
    an application whose request was decided is granted or refused."""
    from tci_gateway.services import cover_requests
    from tci_gateway.services import credit_apply as service

    state = _state(ctx)
    wiring = state.wiring()
    policies = wiring.settings.domain_policies()
    ledger = wiring.ledger()
    try:
        adapters = {p.insurer: wiring.insurer(p.insurer).adapter for p in policies.values()}
        report = cover_requests.reconcile(ledger, adapters, policies, now=state.now())
        moved = service.follow_insurer(ledger, now=state.now())
    finally:
        ledger.dispose()
        wiring.close()
    if state.json:
        state.output.emit_json({"polled": report.polled, "decided": moved})
    else:
        state.output.info(f"{report.polled} cover request(s) polled; {moved} application(s) moved")


def stats_json(stats: CreditStats) -> dict[str, Any]:
    def row(r: Any) -> dict[str, Any]:
        data = dict(r.__dict__)
        for k in ("p50_hours", "p90_hours", "mean_hours"):
            data[k] = None if data[k] is None else f"{data[k]:f}"
        return data

    return {
        "since": stats.since.isoformat() if stats.since else None,
        "rows": [row(r) for r in stats.rows],
        "total": row(stats.total) if stats.total else None,
    }


@credit_app.command("stats")
def stats_cmd(
    ctx: typer.Context,
    since: Annotated[
        str | None, typer.Option("--since", help="Applications received from this date.")
    ] = None,
) -> None:
    """Time from application to decision, per tier and route.

    Count, decided, pending, and the p50, p90 and mean hours to a decision."""
    from tci_gateway.services.credit_stats import credit_stats

    state = _state(ctx)
    try:
        day = date.fromisoformat(since) if since else None
    except ValueError:
        raise _bad("--since", f"not a date: {since!r} (YYYY-MM-DD)") from None
    ledger = state.wiring().ledger()
    try:
        stats = credit_stats(ledger, since=day)
    finally:
        ledger.dispose()
    if state.json:
        state.output.emit_json(stats_json(stats))
        return
    grid = Grid(
        "Time from application to decision (hours)",
        (
            Col("Tier", fixed=True),
            Col("Route", fixed=True),
            Col("Count", fixed=True, right=True),
            Col("Decided", fixed=True, right=True),
            Col("Pending", fixed=True, right=True),
            Col("p50", fixed=True, right=True),
            Col("p90", fixed=True, right=True),
            Col("Mean", fixed=True, right=True),
        ),
    )
    for r in [*stats.rows, *([stats.total] if stats.total else [])]:
        grid.add_row(
            r.tier,
            r.route,
            str(r.count),
            str(r.decided),
            str(r.pending),
            *(str(x) if x is not None else "-" for x in (r.p50_hours, r.p90_hours, r.mean_hours)),
        )
    state.output.table(grid)
