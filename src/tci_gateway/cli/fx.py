"""``tci fx import|rates``: ECB reference rates in the ledger."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer

from tci_gateway.cli.output import Col, Grid
from tci_gateway.cli.state import state_of as _state
from tci_gateway.errors import InputError, RecordError

fx_app = typer.Typer(help="FX reference rates (ECB).", no_args_is_help=True)


@fx_app.command("import")
def import_cmd(ctx: typer.Context, file: Path) -> None:
    """Import an ECB reference-rate CSV: the daily eurofxref.csv or eurofxref-hist.csv."""
    from tci_gateway.services.fx import import_ecb_csv

    state = _state(ctx)
    ledger = state.wiring().ledger()
    try:
        report = import_ecb_csv(ledger, file, now=state.now())
    finally:
        ledger.dispose()
    payload: dict[str, Any] = {
        "source": report.source,
        "sha256": report.sha256,
        "dates": report.dates,
        "first_date": report.first_date.isoformat() if report.first_date else None,
        "last_date": report.last_date.isoformat() if report.last_date else None,
        "currencies": report.currencies,
        "rates": report.rates,
        "skipped": report.skipped,
        "inserted": report.inserted,
        "updated": report.updated,
        "unchanged": report.unchanged,
    }
    if state.json:
        state.output.emit_json(payload)
    else:
        span = f"{report.first_date} to {report.last_date}" if report.dates else "no dates"
        state.output.out.print(
            f"fx rates: {report.dates} dates ({span}) from {report.source}: {report.rates} "
            f"rates, {report.inserted} inserted, {report.updated} updated, "
            f"{report.unchanged} unchanged, {report.skipped} N/A skipped",
            markup=False,
        )
    if not report.ok:
        raise typer.Exit(1)


@fx_app.command("rates")
def rates_cmd(
    ctx: typer.Context,
    on: Annotated[
        str | None,
        typer.Option("--date", help="Rates in force on this ISO date (default: today)."),
    ] = None,
    currency: Annotated[str | None, typer.Option(help="Only this currency, e.g. USD.")] = None,
) -> None:
    """List the EUR reference rates in force on a date: per currency, the latest rate on
    or before it."""
    from tci_gateway.ledger.fx import rates_in_force
    from tci_gateway.services.fx import BASE

    state = _state(ctx)
    try:
        day = date.fromisoformat(on) if on else state.now().date()
    except ValueError:
        raise InputError([RecordError("command line", None, "--date", "not an ISO date")]) from None
    ledger = state.wiring().ledger()
    try:
        with ledger.unit_of_work() as session:
            rates = rates_in_force(
                session, day, base=BASE, quote=currency.upper() if currency else None
            )
    finally:
        ledger.dispose()
    if state.json:
        state.output.emit_json(
            [
                {
                    "date": r.rate_date.isoformat(),
                    "base": r.base,
                    "currency": r.quote,
                    "rate": _rate_text(r.rate),
                    "age_days": (day - r.rate_date).days,
                    "source": r.source,
                }
                for r in rates
            ]
        )
        return
    table = Grid(
        f"EUR reference rates in force on {day}",
        (
            Col("Currency", fixed=True),
            Col("Rate", fixed=True, right=True),
            Col("Date", fixed=True),
            Col("Age (days)", fixed=True, right=True),
            Col("Source"),
        ),
    )
    for r in rates:
        age = str((day - r.rate_date).days)
        table.add_row(r.quote, _rate_text(r.rate), r.rate_date.isoformat(), age, r.source)
    state.output.table(table)
    if not rates:
        state.output.info("no rates: import an ECB file with `tci fx import FILE`")


def _rate_text(rate: Decimal) -> str:
    """A stored rate without the padding zeros of its 8-place column (1.05650000 -> 1.0565)."""
    text = format(rate, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def register(app: typer.Typer) -> None:
    """Add ``tci fx`` to the command line."""
    app.add_typer(fx_app, name="fx")
