"""``tci deadlines`` and ``tci claims run|list|show|pack|confirm``."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from tci_gateway.cli.output import Col, Grid, first_fitting, money_text
from tci_gateway.cli.state import State
from tci_gateway.cli.state import state_of as _state
from tci_gateway.domain.cases import AWAITING_PERSON, CaseState
from tci_gateway.domain.deadlines import Deadline, DeadlineClock

claims_app = typer.Typer(
    help="Overdue cases: notifications and claims, filed once and on time.", no_args_is_help=True
)


def deadlines_cmd(
    ctx: typer.Context,
    within: Annotated[
        int | None,
        typer.Option("--within", min=0, help="Only deadlines within this many days."),
    ] = None,
    invoices: Annotated[
        bool, typer.Option("--invoices", help="One row per overdue invoice, each its own clock.")
    ] = False,
) -> None:
    """Overdue buyers with their deadline clock and the escalation steps due.

    The clock is the oldest overdue invoice's, or the one the buyer's case was notified
    under; dates are each policy's business date. --invoices lists every overdue invoice
    with its own clock."""
    from tci_gateway.services.deadlines import scan

    state = _state(ctx)
    if invoices:
        _invoice_deadlines(state, within)
        return
    wiring = state.wiring()
    settings = wiring.settings
    policies = settings.domain_policies()
    paths = settings.escalation_paths()
    ledger = wiring.ledger()
    rows: list[dict[str, Any]] = []
    try:
        # The scan streams its pages; only the rows shown are kept.
        for ob in scan(
            ledger,
            policies,
            paths,
            default_tier=settings.escalation.default_tier,
            now=state.now(),
            lead_days=tuple(settings.alerts.deadline_lead_days),
        ):
            fields = _clock_fields(ob.clock, ob.today, within)
            if fields is None:
                continue
            rows.append(
                {
                    "policy": ob.policy.key,
                    "buyer_id": ob.buyer_id,
                    "buyer": ob.buyer_name,
                    "tier": ob.tier,
                    "business_date": ob.today,
                    "overdue_invoices": ob.overdue_invoices,
                    # Set when the clock is that of the buyer's notified case (kept after
                    # the oldest invoice is paid), not the oldest overdue invoice's.
                    "case_id": ob.case_id,
                    **fields,
                    "steps_due": [
                        {"action": s.action.value, "due_on": s.due_on, "late": s.late}
                        for s in ob.steps
                    ],
                }
            )
    finally:
        ledger.dispose()
    if state.json:
        state.output.emit_json(rows)
        return
    title = "Deadlines (oldest overdue invoice per buyer; a notified case keeps its clock)"
    wide = Grid(
        title,
        (Col("Policy"), Col("Buyer", min_width=12), Col("Tier"), *CLOCK_COLS, Col("Steps due")),
    )
    narrow = Grid(title, (Col("Buyer", min_width=14), *STACKED_CLOCK_COLS))
    for r in rows:
        steps = (
            ", ".join(
                s["action"].lower() + (" (LATE)" if s["late"] else "") for s in r["steps_due"]
            )
            or "-"
        )
        cells = _clock_cells(r, within)
        wide.add_row(r["policy"], r["buyer"], r["tier"], *cells, steps)
        narrow.add_row(
            _name_over(r["buyer"], f"{r['policy']} · {r['tier']}", f"steps due: {steps}"),
            *_stacked(cells),
        )
    state.output.table(first_fitting(state.output.width, wide, narrow))


CLOCK_COLS = tuple(
    Col(name, fixed=True, right=name == "Days")
    for name in ("Due", "Days", "Cover stop", "Notify by", "Loss", "Claim by")
)
# The same clock in three columns of two lines each, for narrow terminals.
STACKED_CLOCK_COLS = tuple(
    Col(name, fixed=True) for name in ("Due\nDays over", "Cover stop\nNotify by", "Loss\nClaim by")
)


def _stacked(cells: list[str]) -> list[str]:
    return [f"{cells[i]}\n{cells[i + 1]}" for i in range(0, len(cells), 2)]


def _name_over(name: str, *details: str) -> Text:
    """A name with dim detail lines under it (narrow layouts)."""
    text = Text(name)
    for line in details:
        text.append("\n" + line, style="dim")
    return text


def _clock_fields(clock: DeadlineClock, today: date, within: int | None) -> dict[str, Any] | None:
    """A clock as output fields; ``None`` when ``within`` is given and no deadline falls
    within that many days."""
    from tci_gateway.services.deadline_views import deadlines_within

    upcoming = {u.deadline.value.lower(): u.on for u in deadlines_within(clock, today, within)}
    if within is not None and not upcoming:
        return None
    return {
        "due_date": clock.due_date,
        "days_overdue": clock.days_overdue(today),
        **{d.value.lower(): clock.on(d) for d in Deadline},
        "within": upcoming,
    }


def _clock_cells(row: dict[str, Any], within: int | None) -> list[str]:
    """The clock columns of a row; deadlines within ``--within`` days are starred."""

    def mark(name: str) -> str:
        day: date = row[name]
        return f"{day} *" if within is not None and name in row["within"] else str(day)

    return [
        str(row["due_date"]),
        str(row["days_overdue"]),
        *(mark(name) for name in ("cover_stop", "notify_by", "date_of_loss", "claim_by")),
    ]


def _invoice_deadlines(state: State, within: int | None) -> None:
    from tci_gateway.services.deadline_invoices import invoice_clocks

    wiring = state.wiring()
    ledger = wiring.ledger()
    rows: list[dict[str, Any]] = []
    try:
        for item in invoice_clocks(ledger, wiring.settings.domain_policies(), now=state.now()):
            fields = _clock_fields(item.clock, item.today, within)
            if fields is not None:
                rows.append(
                    {
                        "policy": item.policy,
                        "buyer": item.buyer_name,
                        "erp_account": item.erp_account,
                        "invoice": item.document_number,
                        **fields,
                    }
                )
    finally:
        ledger.dispose()
    if state.json:
        state.output.emit_json(rows)
        return
    title = "Deadlines per overdue invoice"
    wide = Grid(
        title,
        (Col("Policy"), Col("Buyer", min_width=12), Col("Invoice", fixed=True), *CLOCK_COLS),
    )
    narrow = Grid(title, (Col("Buyer", min_width=14), *STACKED_CLOCK_COLS))
    for r in rows:
        cells = _clock_cells(r, within)
        wide.add_row(r["policy"], r["buyer"], r["invoice"], *cells)
        narrow.add_row(_name_over(r["buyer"], f"{r['policy']} · {r['invoice']}"), *_stacked(cells))
    state.output.table(first_fitting(state.output.width, wide, narrow))


@claims_app.command("run")
def run_cmd(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be queued; change nothing.")
    ] = False,
) -> None:
    """Scan deadlines, open cases, queue due actions, send those with an API, poll the
    insurers' status. Exit 1 when an action could not be sent or was refused, or a buyer
    failed."""
    from tci_gateway.services.nightly import NightlyCycle, NightlyOptions

    state = _state(ctx)
    wiring = state.wiring()
    policies = wiring.settings.domain_policies()
    ledger = wiring.ledger()
    try:
        insurers = sorted({p.insurer for p in policies.values()})
        adapters = {name: wiring.insurer(name).adapter for name in insurers}
        options = NightlyOptions(claims=wiring.claims_options(ledger))
        cycle = NightlyCycle(ledger, policies, adapters, now=state.now(), options=options)
        with state.output.progress("claims run") as bar:
            report = cycle.claims(dry_run=dry_run, progress=lambda _stage, done, _total: bar(done))
        assert report is not None  # the wiring always gives claims options
    finally:
        ledger.dispose()
        wiring.close()
    if state.json:
        state.output.emit_json(
            {
                "dry_run": report.dry_run,
                "overdue_buyers": report.overdue_buyers,
                "planned": [p.__dict__ for p in report.planned],
                "opened": report.opened,
                "closed": report.closed,
                "sent": dict(report.sent),
                "polled": report.polled,
                "errors": [str(e) for e in report.errors],
            }
        )
    else:
        table = Grid(
            ("Would queue" if dry_run else "Queued") + " (due actions)",
            (
                Col("Case", fixed=True, right=True),
                Col("Buyer\nPolicy", min_width=12),
                Col("Action", fixed=True),
                Col("Due on", fixed=True),
                Col("Channel", fixed=True),
            ),
        )
        for p in report.planned:
            table.add_row(
                str(p.case_id or "new"),
                _name_over(p.buyer_name, p.policy),
                p.action.lower(),
                f"{p.due_on}{' LATE' if p.late else ''}",
                p.channel,
            )
        state.output.table(table)
        sent = ", ".join(f"{n} {s.lower()}" for s, n in sorted(report.sent.items())) or "nothing"
        state.output.out.print(
            f"{report.overdue_buyers} overdue buyer(s); {report.opened} case(s) opened, "
            f"{len(report.closed)} closed; sent: {sent}; {report.polled} polled",
            markup=False,
        )
        for error in report.errors:
            state.output.error(str(error))
    if not report.ok:  # a buyer failed, or an action was not sent or was refused
        raise typer.Exit(1)


@claims_app.command("list")
def list_cmd(
    ctx: typer.Context,
    all_: Annotated[bool, typer.Option("--all", help="Closed cases too.")] = False,
) -> None:
    """Cases with their deadlines, amounts and what awaits a person."""
    from tci_gateway.services import case_views

    state = _state(ctx)
    ledger = state.wiring().ledger()
    try:
        cases = case_views.list_cases(ledger, state=None if all_ else CaseState.OPEN)
    finally:
        ledger.dispose()
    if state.json:
        state.output.emit_json([c.as_dict() | {"details": None} for c in cases])
        return
    wide = Grid(
        "Cases",
        (
            Col("Case", fixed=True, right=True),
            Col("Buyer", min_width=12),
            Col("State", fixed=True),
            Col("Insurer", fixed=True),
            Col("Notify by", fixed=True),
            Col("Claim by", fixed=True),
            *_CASE_AMOUNTS,
            Col("Actions", min_width=12),
        ),
    )
    narrow = Grid(
        "Cases",
        (
            Col("Case", fixed=True, right=True),
            Col("Buyer", min_width=14),
            Col("State", fixed=True),
            Col("Notify by\nClaim by", fixed=True),
            *_CASE_AMOUNTS,
        ),
    )
    for c in cases:
        actions = ", ".join(
            f"{a.action.lower()}:{a.state.lower()}" + ("!" if a.state in AWAITING_PERSON else "")
            for a in c.actions
        )
        amounts = (
            c.currency,
            money_text(c.overdue_total, c.currency),
            money_text(c.indemnity, c.currency),
        )
        buyer = Text(c.buyer_name)
        buyer.append(f"\n{c.policy}", style="dim")
        wide.add_row(
            str(c.id),
            buyer,
            c.state,
            c.insurer_status or "-",
            str(c.notify_by),
            str(c.claim_by),
            *amounts,
            actions or "-",
        )
        detail = buyer.copy()
        detail.append(f" · insurer {c.insurer_status or '-'}\n{actions or '-'}", style="dim")
        narrow.add_row(str(c.id), detail, c.state, f"{c.notify_by}\n{c.claim_by}", *amounts)
    state.output.table(first_fitting(state.output.width, wide, narrow))


_CASE_AMOUNTS = (
    Col("Cur", fixed=True),
    Col("Overdue", fixed=True, right=True),
    Col("Indemnity", fixed=True, right=True),
)


@claims_app.command("show")
def show_cmd(ctx: typer.Context, case: Annotated[int, typer.Argument(help="Case id.")]) -> None:
    """One case: deadlines, actions with their references, the itemised indemnity."""
    from tci_gateway.services import case_views
    from tci_gateway.services.pack_render import render_pack

    state = _state(ctx)
    ledger = state.wiring().ledger()
    try:
        view = case_views.get_case(ledger, case)
    finally:
        ledger.dispose()
    if state.json:
        state.output.emit_json(view.as_dict())
        return
    out = state.output.out
    out.print(
        f"case {view.id}: {view.buyer_name} under {view.policy} ({view.insurer}), "
        f"tier {view.tier}, {view.state}, insurer status {view.insurer_status or '-'}",
        markup=False,
    )
    out.print(
        f"due {view.due_date}; cover stop {view.cover_stop}; notify by {view.notify_by}; "
        f"loss {view.date_of_loss}; claim by {view.claim_by}",
        markup=False,
    )
    wide = Grid(
        "Actions",
        (
            Col("Action", fixed=True),
            Col("Due on", fixed=True),
            Col("Channel", fixed=True),
            Col("State", fixed=True),
            Col("Reference", fixed=True),
            Col("Insurer ref"),
            Col("Note"),
        ),
    )
    longest_reference = max((len(a.client_reference) for a in view.actions), default=12)
    narrow = Grid(
        "Actions",
        (
            Col("Action\nDue on, channel", fixed=True),
            Col("State", fixed=True),
            # A fold column as wide as our longest reference: the references stay whole.
            Col("Reference\nInsurer ref, note", min_width=longest_reference),
        ),
    )
    for a in view.actions:
        note = a.last_error or ("LATE" if a.late else "")
        wide.add_row(
            a.action.lower(),
            str(a.due_on),
            a.channel,
            a.state,
            a.client_reference,
            a.insurer_reference or "-",
            note,
        )
        narrow.add_row(
            f"{a.action.lower()}\n{a.due_on}, {a.channel}",
            a.state,
            _name_over(
                a.client_reference, (a.insurer_reference or "-") + (f", {note}" if note else "")
            ),
        )
    state.output.table(first_fitting(state.output.width, wide, narrow))
    out.print(render_pack({"indemnity": view.details.get("indemnity", {})}, only="indemnity"))


@claims_app.command("pack")
def pack_cmd(
    ctx: typer.Context,
    case: Annotated[int, typer.Argument(help="Case id.")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the pack here (Markdown).")
    ] = None,
) -> None:
    """The manual filing pack of a case: everything the insurer's portal asks for."""
    from tci_gateway.services import case_views
    from tci_gateway.services.pack_render import render_pack

    state = _state(ctx)
    ledger = state.wiring().ledger()
    try:
        pack = case_views.filing_pack(ledger, case)
    finally:
        ledger.dispose()
    if state.json:
        state.output.emit_json(pack)
        return
    text = render_pack(pack)
    if out is None:
        state.output.out.print(text, markup=False)
        return
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    state.output.info(f"filing pack of case {case} written to {out}")


@claims_app.command("confirm")
def confirm_cmd(
    ctx: typer.Context,
    case: Annotated[int, typer.Argument(help="Case id.")],
    action: Annotated[str, typer.Option("--action", help="e.g. claim, overdue_notification.")],
    reference: Annotated[str, typer.Option("--reference", help="The insurer portal's reference.")],
) -> None:
    """Record that a manual (or rejected) filing was made in the insurer's portal."""
    from tci_gateway.services import case_views

    state = _state(ctx)
    ledger = state.wiring().ledger()
    try:
        view = case_views.confirm_manual(ledger, case, action, reference, now=state.now())
    finally:
        ledger.dispose()
    if state.json:
        state.output.emit_json(view.__dict__)
        return
    state.output.out.print(
        f"case {case}: {view.action.lower()} {view.state} ({view.insurer_reference})",
        markup=False,
    )


def register(app: typer.Typer) -> None:
    app.add_typer(claims_app, name="claims")
    app.command("deadlines")(deadlines_cmd)
