"""``tci fx import|rates``: ECB reference rates in the ledger."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from tci_gateway.cli.state import State, state_of
from tci_gateway.errors import InputError, RecordError
from tci_gateway.ledger.fx import rates_in_force
from tci_gateway.services.fx import BASE, import_ecb_csv

fx_app = typer.Typer(help="FX reference rates (ECB).", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]


def _state(ctx: typer.Context, json_output: bool) -> State:
    state = state_of(ctx)
    if json_output and not state.json:
        state.json = True
        state.output.json_mode = True
    return state


@fx_app.command("import")
def import_cmd(ctx: typer.Context, file: Path, json_output: JsonOption = False) -> None:
    """Import an ECB reference-rate CSV: the daily eurofxref.csv or eurofxref-hist.csv."""
    state = _state(ctx, json_output)
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
        return
    span = f"{report.first_date} to {report.last_date}" if report.dates else "no dates"
    state.output.out.print(
        f"fx rates: {report.dates} dates ({span}) from {report.source}: {report.rates} rates, "
        f"{report.inserted} inserted, {report.updated} updated, {report.unchanged} unchanged, "
        f"{report.skipped} N/A skipped",
        markup=False,
    )


@fx_app.command("rates")
def rates_cmd(
    ctx: typer.Context,
    on: Annotated[
        str | None,
        typer.Option("--date", help="Rates in force on this ISO date (default: today)."),
    ] = None,
    currency: Annotated[str | None, typer.Option(help="Only this currency, e.g. USD.")] = None,
    json_output: JsonOption = False,
) -> None:
    """List the EUR reference rates in force on a date: per currency, the latest rate on
    or before it."""
    state = _state(ctx, json_output)
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
    table = Table(title=f"EUR reference rates in force on {day}", title_justify="left")
    for column, justify in (("Currency", "left"), ("Rate", "right"), ("Date", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    table.add_column("Age (days)", justify="right")
    table.add_column("Source")
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
