"""The ``tci`` command line: one subcommand per service.

Exit status: 0 success; 1 the run finished but with record errors or an insurer
failing; 2 bad usage, configuration or input, or a ledger that cannot be opened
(nothing written); 70 an internal error; 130 interrupted.
"""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer
from typer._click.exceptions import NoArgsIsHelpError, UsageError  # typer exports neither

from tci_gateway.cli.output import (
    Col,
    Grid,
    Output,
    exposure_json,
    exposure_table,
    first_fitting,
    totals_lines,
)
from tci_gateway.cli.state import GlobalOptionsGroup, State
from tci_gateway.cli.state import state_of as _state
from tci_gateway.cli.wiring import Wiring
from tci_gateway.domain.policy import BusinessDay
from tci_gateway.erp.canonical import check_source
from tci_gateway.erp.profiles import ErpProfile, resolve_profile
from tci_gateway.errors import AdapterError, ConfigError, InputError, TciError
from tci_gateway.ledger.migrate import upgrade
from tci_gateway.logs import LOG_LEVELS, configure_logging, get_logger, redact_text
from tci_gateway.services import export as export_service
from tci_gateway.services.exposure import exposure_report, group_exposure, record_exposure_alerts
from tci_gateway.services.importing import ImportReport, import_buyers, import_open_items
from tci_gateway.services.sync import SyncReport, history_source, sync_limits

app = typer.Typer(
    name="tci",
    help="Trade-credit insurance gateway: insurers, exposure ledger and deadlines. "
    "The options below may also follow the command (tci exposure --json).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    cls=GlobalOptionsGroup,  # `tci exposure --json` as well as `tci --json exposure`
)
db_app = typer.Typer(help="Ledger database.", no_args_is_help=True)
import_app = typer.Typer(help="Import ERP files (CSV or JSON).", no_args_is_help=True)
sync_app = typer.Typer(help="Sync from insurers.", no_args_is_help=True)
export_app = typer.Typer(help="Export files for the ERP.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(import_app, name="import")
app.add_typer(sync_app, name="sync")
app.add_typer(export_app, name="export")


def parse_as_of(value: str | None) -> datetime | None:
    """``--as-of``: an ISO datetime (UTC unless it has an offset), or a date, which is
    that date in every policy's time zone (a :class:`BusinessDay`)."""
    if value is None:
        return None
    try:
        if len(value) == 10:
            return BusinessDay.of(date.fromisoformat(value))
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO date or datetime") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@app.callback()
def main_options(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="TOML configuration (else TCI_CONFIG, ./tci.toml)"),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Machine-readable output on stdout.")
    ] = False,
    log_format: Annotated[
        str | None, typer.Option(help="console or json (logs go to stderr).")
    ] = None,
    log_level: Annotated[str | None, typer.Option(help="debug, info, warning or error.")] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            help="Treat this as now (replays, tests): a date (2026-11-30) is that date in "
            "every policy's time zone; a datetime without an offset is UTC."
        ),
    ] = None,
) -> None:
    """Trade-credit insurance gateway."""
    if log_format not in (None, "console", "json"):
        raise typer.BadParameter(
            f"{log_format!r} is not console or json", param_hint="--log-format"
        )
    if log_level is not None:
        if log_level.lower() not in LOG_LEVELS:
            raise typer.BadParameter(
                f"{log_level!r} is not one of {', '.join(LOG_LEVELS)}", param_hint="--log-level"
            )
        log_level = log_level.lower()
    ctx.obj = State(
        config, json_output, log_format, log_level, parse_as_of(as_of), Output(json_output)
    )


# -- db -------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Create or migrate the ledger schema to the current version."""
    state = _state(ctx)
    ledger = state.wiring().ledger(require_schema=False)
    try:
        upgrade(ledger.engine)
    finally:
        ledger.dispose()
    state.output.info("ledger schema is up to date")


# -- import ---------------------------------------------------------------------------


def _print_import(state: State, report: ImportReport) -> None:
    payload: dict[str, object] = {
        "kind": report.kind,
        "source": report.source,
        "rows": report.rows,
        "inserted": report.inserted,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "sha256": report.sha256,
    }
    if report.kind == "open_items":
        payload |= {
            "closed": report.closed,
            "complete": report.complete,
            "scope": {"source": report.item_source, "company_codes": report.company_codes},
        }
    if state.json:
        state.output.emit_json(payload)
        return
    line = (
        f"{report.kind}: {report.rows} rows from {report.source}: {report.inserted} inserted, "
        f"{report.updated} updated, {report.unchanged} unchanged"
    )
    if report.complete:
        codes = ", ".join(report.company_codes)
        line += f", {report.closed} closed (complete export of source {report.item_source}"
        line += f", company code {codes})" if codes else ")"
    state.output.out.print(line, markup=False)


ProfileOption = Annotated[
    str | None,
    typer.Option(
        "--profile",
        metavar="NAME_OR_FILE",
        help="Read an ERP export through a mapping profile: a name from the configuration's "
        "erp_profiles, or a profile TOML file (docs/erp-profiles.md).",
    ),
]


def _profile(wiring: Wiring, name: str | None) -> ErpProfile | None:
    if name is None:
        return None
    return resolve_profile(name, wiring.settings.erp_profiles, base_dir=wiring.config_dir)


@import_app.command("buyers")
def import_buyers_cmd(ctx: typer.Context, file: Path, profile: ProfileOption = None) -> None:
    """Import buyers and ERP accounts: canonical CSV or JSON, or an export with --profile."""
    state = _state(ctx)
    wiring = state.wiring()
    erp_profile = _profile(wiring, profile)
    ledger = wiring.ledger()
    try:
        with state.output.progress("importing buyers") as progress:
            report = import_buyers(
                ledger,
                file,
                policies=wiring.settings.domain_policies(),
                now=state.now(),
                progress=progress,
                profile=erp_profile,
            )
    finally:
        ledger.dispose()
    _print_import(state, report)


@import_app.command("receivables")
def import_receivables_cmd(
    ctx: typer.Context,
    file: Path,
    profile: ProfileOption = None,
    complete: Annotated[
        bool,
        typer.Option(
            "--complete",
            help="The file lists EVERY open item of its scope (source, and company codes when "
            "the file has them): open items of that scope it does not list are closed.",
        ),
    ] = False,
    source: Annotated[
        str | None,
        typer.Option(
            "--source",
            metavar="NAME",
            help="The import source the items belong to (default: the profile's, else "
            "'default'); a complete export closes only items of its own source.",
        ),
    ] = None,
    allow_mass_close: Annotated[
        bool,
        typer.Option(
            "--allow-mass-close",
            help="Accept a complete export that lists nothing or closes more than "
            "the share set by import.max_close_share (default 0.30) of its scope's open items.",
        ),
    ] = False,
) -> None:
    """Import open items (invoices, credit notes, payments): canonical CSV or JSON, or an
    ERP export with --profile. With --complete, items the file no longer lists are closed."""
    from tci_gateway.services.complete_import import MassCloseError, import_business_date

    state = _state(ctx)
    if source is not None:
        try:
            check_source(source)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--source") from None
    wiring = state.wiring()
    erp_profile = _profile(wiring, profile)
    settings = wiring.settings
    now = state.now()
    today = import_business_date(
        (p.timezone for p in settings.policies.values()), now, settings.scheduler.timezone
    )
    ledger = wiring.ledger()
    try:
        with state.output.progress("importing open items") as progress:
            report = import_open_items(
                ledger,
                file,
                now=now,
                progress=progress,
                profile=erp_profile,
                source=source,
                complete=complete,
                allow_mass_close=allow_mass_close,
                max_close_share=settings.import_.max_close_share,
                today=today,
            )
    except MassCloseError as exc:
        state.output.error(str(exc))
        raise typer.Exit(2) from None
    finally:
        ledger.dispose()
    _print_import(state, report)


# -- sync -----------------------------------------------------------------------------


def run_sync(
    state: State, insurer: str | None = None, policy: str | None = None, *, backfill: bool = False
) -> list[SyncReport]:
    wiring = state.wiring()
    policies = wiring.settings.domain_policies()
    chosen = [
        p
        for k, p in sorted(policies.items())
        if (insurer is None or p.insurer == insurer) and (policy is None or k == policy)
    ]
    if not chosen:
        raise ConfigError("no configured policy matches; check [policies] in the configuration")
    ledger = wiring.ledger()
    reports = []
    try:
        for p in chosen:  # a configuration error stops everything before any sync (exit 2)
            if backfill:
                history_source(wiring.insurer(p.insurer).adapter)
            else:
                wiring.insurer(p.insurer)
        retention = wiring.settings.sync.staging_retention_days
        for p in chosen:
            adapter = wiring.insurer(p.insurer).adapter
            with state.output.progress(f"syncing {p.key} from {p.insurer}") as progress:
                reports.append(
                    sync_limits(
                        ledger,
                        adapter,
                        p,
                        now=state.now(),
                        progress=progress,
                        backfill=backfill,
                        staging_retention_days=retention,
                    )
                )
    finally:
        ledger.dispose()
        wiring.close()
    return reports


def _print_sync(state: State, reports: list[SyncReport]) -> None:
    if state.json:
        state.output.emit_json([r.__dict__ for r in reports])
        return
    for r in reports:
        state.output.out.print(
            f"{r.policy} ({r.insurer}){' history back-fill' if r.backfill else ''}: "
            f"{r.status}; {r.fetched} fetched, {r.written} written, "
            f"{r.unchanged} unchanged, {r.stale} stale, {r.alerts} alerts",
            markup=False,
        )
        for error in r.errors[:20]:
            state.output.error(f"{r.policy}: {error}")


@sync_app.command("limits")
def sync_limits_cmd(
    ctx: typer.Context,
    insurer: Annotated[str | None, typer.Option(help="Only this insurer.")] = None,
    policy: Annotated[str | None, typer.Option(help="Only this policy.")] = None,
    backfill: Annotated[
        bool,
        typer.Option(
            "--backfill",
            help="Also load the cover history the insurer's API offers (past decisions, "
            "each kept as its own version); refused (exit 2) for an insurer without one.",
        ),
    ] = False,
) -> None:
    """Sync covered limits from the insurers into the ledger."""
    state = _state(ctx)
    reports = run_sync(state, insurer, policy, backfill=backfill)
    _print_sync(state, reports)
    if any(not r.ok for r in reports):
        raise typer.Exit(1)


# -- exposure, alerts, export ---------------------------------------------------------


@app.command("exposure")
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
    state = _state(ctx)
    wiring = state.wiring()
    ledger = wiring.ledger()
    try:
        rows = exposure_report(
            ledger,
            wiring.settings.domain_policies(),
            now=state.now(),
            **wiring.exposure_options(ledger),
        )
        record_exposure_alerts(ledger, rows, now=state.now())
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


@export_app.command("limits")
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
    from tci_gateway.erp.export import atomic_text_file, write_csv, write_json

    if fmt not in (None, "csv", "json"):
        raise typer.BadParameter("--format must be csv or json")
    if cursor_file is not None and changed_since is None and cursor_file.is_file():
        text = cursor_file.read_text(encoding="utf-8").strip()
        if not text.isdigit():
            raise ConfigError(f"cursor file {cursor_file} does not hold a cursor: {text[:40]!r}")
        changed_since = int(text)
    state = _state(ctx)
    fmt = fmt or ("json" if state.json else "csv")
    wiring = state.wiring()
    ledger = wiring.ledger()
    try:
        result = export_service.export_limits(
            ledger,
            wiring.settings.domain_policies(),
            now=state.now(),
            changed_since=changed_since,
            raw_codes=fmt == "json",
        )
    finally:
        ledger.dispose()
    dicts = (r.as_dict() for r in result.rows)
    with atomic_text_file(output) as handle:
        if fmt == "csv":
            count = write_csv(dicts, export_service.LIMIT_COLUMNS, handle)
        else:
            count = write_json(
                dicts,
                export_service.JSON_LIMIT_COLUMNS,
                handle,
                "covered_limits",
                {"cursor": result.cursor},
            )
    if cursor_file is not None:
        with atomic_text_file(cursor_file) as handle:
            handle.write(f"{result.cursor}\n")
    where = f" to {output}" if output is not None else ""
    state.output.info(f"wrote {count} covered limits{where}; next cursor: {result.cursor}")


@app.command("alerts")
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


def _register_more() -> None:
    from tci_gateway.cli import buyers, claims, cover, demo, fx, sandbox, scheduler

    demo.register(app)
    sandbox.register(app)
    cover.register(app)
    buyers.register(app)
    fx.register(app)
    scheduler.register(app)
    claims.register(app)


_register_more()


def main() -> None:
    """Console entry point: maps errors to exit statuses, never shows a traceback.

    Every failure is one line on stderr: 2 for bad usage, configuration or input
    (including a ledger that cannot be opened), 1 for an insurer failing, 130 when
    interrupted, 70 for an internal error, whose traceback goes to the log at debug level
    only (scrubbed, without local variables)."""
    configure_logging()  # before anything can log: stderr, scrubbed, no local variables
    output = Output()
    try:
        status = app(standalone_mode=False)
    except NoArgsIsHelpError as exc:
        if exc.format_message().strip():  # typer's rich help printed itself already
            Output().out.print(exc.format_message(), markup=False)
        sys.exit(2)
    except UsageError as exc:
        hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
        output.error(one_line(exc.format_message()) + hint)
        sys.exit(2)
    except InputError as exc:
        output.record_errors(exc.errors, "input refused")
        sys.exit(2)
    except ConfigError as exc:
        output.error(one_line(str(exc)))
        sys.exit(2)
    except AdapterError as exc:
        output.error(one_line(str(exc)))
        sys.exit(1)
    except TciError as exc:
        output.error(one_line(str(exc)))
        sys.exit(1)
    except (KeyboardInterrupt, typer.Abort):
        output.error("interrupted")
        sys.exit(130)
    except BrokenPipeError:
        sys.stderr.close()  # the reader went away (`| head`): nothing more to say
        sys.exit(1)
    except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError) as exc:
        # A path the user gave that cannot be used: their input, not our bug.
        where = f": {exc.filename}" if exc.filename else ""
        output.error(one_line(redact_text(f"{exc.strerror or exc}{where}")))
        sys.exit(2)
    except Exception as exc:  # the last line of defence: a message, not a traceback
        get_logger().debug("internal_error", exc_info=True)
        output.error(
            f"internal error: {type(exc).__name__}: {one_line(redact_text(str(exc)))} "
            "(run with --log-level debug for the traceback)"
        )
        sys.exit(70)
    sys.exit(status if isinstance(status, int) else 0)


def one_line(message: str) -> str:
    """The first line of a message that has several (a driver's hint, a usage text)."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return lines[0] if lines else message
