"""``tci bureaus load``: a register's published bulk file (GLEIF's golden copy) into the
ledger, so buyers resolve against it without a call per buyer; ``tci bureaus status``:
each kind's watermark, rows and last load."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from tci_gateway.adapters.golden_copy import GoldenCopyReader
from tci_gateway.adapters.registry import load_plugin
from tci_gateway.cli.output import Col, Grid
from tci_gateway.cli.state import State
from tci_gateway.cli.state import state_of as _state
from tci_gateway.errors import ConfigError

bureaus_app = typer.Typer(help="Credit bureaus and registers: bulk files.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add ``tci bureaus`` to the command line."""
    app.add_typer(bureaus_app, name="bureaus")


def _reader(state: State, name: str) -> tuple[GoldenCopyReader, dict[str, Any]]:
    """The configured bureau's golden-copy reader and its adapter options; a bureau not
    configured, or whose adapter publishes no golden copy, is a :class:`ConfigError`."""
    bureaus = state.settings.bureaus
    if name not in bureaus:
        known = ", ".join(sorted(bureaus)) or "none"
        raise ConfigError(f"bureau {name!r} is not configured (configured: {known})")
    conf = bureaus[name]
    try:
        plugin = load_plugin(conf.adapter)
    except LookupError as exc:
        raise ConfigError(f"bureau {name!r}: {exc}") from None
    if plugin.read_golden_copy is None:
        raise ConfigError(
            f"bureau {name!r}: adapter {plugin.name!r} publishes no golden copy "
            "(tci bureaus load reads registers that do, e.g. gleif)"
        )
    options = {k: v for k, v in conf.options.items() if k != "sandbox"}
    return plugin.read_golden_copy, options


def _has_reader(adapter: str) -> bool:
    try:
        return load_plugin(adapter).read_golden_copy is not None
    except LookupError:
        return False


@bureaus_app.command("load")
def load_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A configured bureau, e.g. gleif.")],
    file: Annotated[
        Path,
        typer.Argument(
            help="The published file as downloaded, e.g. "
            "20261206-0800-gleif-goldencopy-lei2-golden-copy.csv.zip (level 1) or "
            "...-rr-last-day.csv.zip (level 2 delta)."
        ),
    ],
    delta: Annotated[
        bool, typer.Option("--delta", help="FILE is a delta file (IntraDay ... LastMonth).")
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Load a full file older than the watermark anyway."),
    ] = False,
) -> None:
    """Load a golden-copy (or, with --delta, a delta) file: an idempotent upsert under a
    watermark per kind; a full file replaces the bureau's records. Nothing is written
    when a row is bad."""
    from tci_gateway.services.golden_copy import load_golden_copy

    state = _state(ctx)
    read, options = _reader(state, name)
    opened = read(file, options)
    ledger = state.wiring().ledger()
    try:
        with state.output.progress(f"loading {file.name}") as progress:
            report = load_golden_copy(
                ledger,
                name,
                opened,
                now=state.now(),
                delta_expected=delta,
                force=force,
                progress=progress,
            )
    finally:
        ledger.dispose()
    if state.json:
        state.output.emit_json(report.as_dict())
    elif report.status == "applied":
        state.output.info(
            f"{name} {report.kind} {report.delta or 'golden copy'} {report.publication}: "
            f"{report.records:,} records, {report.inserted:,} inserted, "
            f"{report.updated:,} updated, {report.unchanged:,} unchanged, "
            f"{report.deleted:,} deleted; watermark {report.previous_watermark or 'none'} "
            f"-> {report.watermark}"
        )
    elif report.status == "already_applied":
        state.output.info(f"{name} {report.kind}: {report.reason}")
    if not report.ok:
        if not state.json:
            state.output.error(report.reason or report.status)
        raise typer.Exit(2)


@bureaus_app.command("status")
def status_cmd(
    ctx: typer.Context,
    name: Annotated[
        str | None, typer.Argument(help="One configured bureau (default: all).")
    ] = None,
) -> None:
    """Each bureau's golden copy: the watermark of each kind (lei2, rr), the rows kept,
    the last load (default: every configured bureau whose adapter publishes one)."""
    from tci_gateway.ledger.golden_copy import load_status

    state = _state(ctx)
    if name:
        _reader(state, name)
        names = [name]
    else:
        names = [
            n for n, conf in sorted(state.settings.bureaus.items()) if _has_reader(conf.adapter)
        ]
    ledger = state.wiring().ledger()
    try:
        with ledger.reading() as session:
            found = {n: load_status(session, n) for n in names}
    finally:
        ledger.dispose()
    if state.json:
        state.output.emit_json(
            [
                {"bureau": n, **{k: v for k, v in s.__dict__.items()}}
                for n, kinds in found.items()
                for s in kinds
            ]
        )
        return
    table = Grid(
        "Golden copies",
        (
            Col("Bureau", min_width=8),
            Col("Kind", fixed=True),
            Col("Watermark", fixed=True),
            Col("Full copy", fixed=True),
            Col("Rows", fixed=True, right=True),
            Col("Last load", min_width=12),
        ),
    )
    for n, kinds in found.items():
        for s in kinds:
            last = (
                f"{s.last_publication} {s.last_delta or 'full'} {s.last_status}"
                if s.last_status
                else "-"
            )
            table.add_row(
                n, s.kind, s.watermark or "-", s.full_publication or "-", f"{s.rows:,}", last
            )
    state.output.table(table)
