"""``tci exposure``, ``tci export limits`` and ``tci alerts``: what the risk team and the
ERP read from the ledger."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tci_gateway.cli.output import (
    Col,
    Grid,
    exposure_json,
    exposure_table,
    first_fitting,
    totals_lines,
)
from tci_gateway.cli.state import parse_as_of
from tci_gateway.cli.state import state_of as _state
from tci_gateway.errors import ConfigError

_app = typer.Typer()
_export_app = typer.Typer(help="Export files for the ERP.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add these commands to the ``tci`` application."""
    app.registered_commands.extend(_app.registered_commands)
    app.add_typer(_export_app, name="export")


@_app.command("exposure")
def exposure_cmd(
    ctx: typer.Context,
    buyer: Annotated[
        str | None, typer.Option(help="Only buyers whose name or account contains this.")
    ] = None,
    over_limit: Annotated[
        bool, typer.Option("--over-limit", help="Only buyers over their limit.")
    ] = False,
    groups: Annotated[
        bool, typer.Option("--groups", help="Also the exposure of groups (common parent).")
    ] = False,
) -> None:
    """Exposure against cover per buyer and policy, with alerts."""
    from tci_gateway.services.exposure import group_exposure
    from tci_gateway.services.nightly import NightlyCycle, NightlyOptions

    state = _state(ctx)
    wiring = state.wiring()
    ledger = wiring.ledger()
    try:
        options = NightlyOptions(exposure=wiring.exposure_options(ledger))
        cycle = NightlyCycle(
            ledger, wiring.settings.domain_policies(), {}, now=state.now(), options=options
        )
        rows = cycle.exposure().rows
        group_rows = group_exposure(ledger, rows) if groups else []
    finally:
        ledger.dispose()
    if buyer:
        needle = buyer.casefold()
        rows = [
            r
            for r in rows
            if needle in r.buyer_name.casefold()
            or any(needle in a.casefold() for a in r.erp_accounts)
        ]
    if over_limit:
        rows = [r for r in rows if r.exposure.uncovered.amount > 0]
    if state.json:
        payload: object = exposure_json(rows)
        if groups:
            payload = {
                "buyers": payload,
                "groups": [
                    {
                        "parent": g.parent,
                        "policy": g.policy,
                        "currency": g.currency,
                        "buyers": list(g.buyers),
                        "exposure": g.exposure.rounded().amount,
                        "limit": g.limit.rounded().amount,
                        "uncovered": g.uncovered.rounded().amount,
                    }
                    for g in group_rows
                ],
            }
        state.output.emit_json(payload)
        return
    state.output.table(exposure_table(rows, state.output.width))
    for line in totals_lines(rows):
        state.output.out.print(line, markup=False)
    for g in group_rows:
        state.output.out.print(
            f"group {g.parent} ({g.policy}): {len(g.buyers)} buyers, exposure "
            f"{g.exposure}, limits {g.limit}, uncovered {g.uncovered}",
            markup=False,
        )


@_export_app.command("limits")
def export_limits_cmd(
    ctx: typer.Context,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default stdout).")
    ] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv or json (default: json with --json).")
    ] = None,
    changed_since: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Only buyers whose limit in force changed after this cursor (the one the "
            "previous export printed): new decisions and changes by date alike.",
        ),
    ] = None,
    cursor_file: Annotated[
        Path | None,
        typer.Option(help="Read the cursor from this file and store the new one after writing."),
    ] = None,
) -> None:
    """Export the covered limits in force for the ERP (one row per buyer and policy),
    full or changed since a cursor; the new cursor is printed on stderr (and in JSON)."""
    from tci_gateway.erp.export import atomic_text_file, write_json
    from tci_gateway.services import export as export_service

    if fmt not in (None, "csv", "json"):
        raise typer.BadParameter("--format must be csv or json")
    if cursor_file is not None and cursor_file.is_dir():  # refused before anything is written
        raise ConfigError(f"cursor file {cursor_file} is a directory")
    if cursor_file is not None and changed_since is None and cursor_file.is_file():
        text = cursor_file.read_text(encoding="utf-8").strip()
        if not text.isdigit():
            raise ConfigError(f"cursor file {cursor_file} does not hold a cursor: {text[:40]!r}")
        changed_since = int(text)
    state = _state(ctx)
    fmt = fmt or ("json" if state.json else "csv")
    wiring = state.wiring()
    ledger = wiring.ledger()
    policies = wiring.settings.domain_policies()
    try:  # streamed: the rows are written as they are read, never all held
        with (
            export_service.open_limits(
                ledger,
                policies,
                now=state.now(),
                changed_since=changed_since,
                raw_codes=fmt == "json",
            ) as result,
            atomic_text_file(output) as handle,
        ):
            if fmt == "csv":
                count = export_service.write_limits_csv(result, handle)
            else:
                count = write_json(
                    (r.as_dict() for r in result.rows()),
                    export_service.JSON_LIMIT_COLUMNS,
                    handle,
                    "covered_limits",
                    {"cursor": result.cursor},
                )
    finally:
        ledger.dispose()
    if cursor_file is not None:
        with atomic_text_file(cursor_file) as handle:
            handle.write(f"{result.cursor}\n")
    where = f" to {output}" if output is not None else ""
    state.output.info(f"wrote {count} covered limits{where}; next cursor: {result.cursor}")


@_app.command("alerts")
def alerts_cmd(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option(help="Only alerts on or after this date.")] = None,
    limit: Annotated[int, typer.Option(min=0, help="At most this many, newest first.")] = 200,
) -> None:
    """Alerts raised by syncs and exposure runs, newest first."""
    from tci_gateway.ledger.runs import list_alerts

    state = _state(ctx)
    since_date = parse_as_of(since).date() if since else None  # type: ignore[union-attr]
    ledger = state.wiring().ledger()
    try:
        with ledger.unit_of_work() as session:
            alerts = list_alerts(session, since=since_date, limit=limit)
    finally:
        ledger.dispose()
    if state.json:
        state.output.emit_json([a.__dict__ for a in alerts])
        return
    wide = Grid(
        "Alerts",
        (
            Col("Date", fixed=True),
            Col("Severity", fixed=True),
            Col("Kind", fixed=True),
            Col("Policy"),
            Col("Buyer", min_width=12),
            Col("Message", min_width=16),
        ),
    )
    narrow = Grid(
        "Alerts",
        (
            Col("Date\nSeverity", fixed=True),
            Col("Kind", fixed=True),
            Col("Buyer\nPolicy", min_width=12),
            Col("Message", min_width=16),
        ),
    )
    for a in alerts:
        wide.add_row(
            str(a.business_date), a.severity, a.kind, a.policy or "-", a.buyer or "-", a.message
        )
        narrow.add_row(
            f"{a.business_date}\n{a.severity}",
            a.kind,
            f"{a.buyer or '-'}\n{a.policy or '-'}",
            a.message,
        )
    state.output.table(first_fitting(state.output.width, wide, narrow))
