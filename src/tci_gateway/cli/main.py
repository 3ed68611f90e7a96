"""The ``tci`` command line: one subcommand per service.

Exit status: 0 success; 1 the run finished but its report is not ``.ok`` (record errors,
a partial sync, an insurer failing, an action refused or not sent); 2 bad usage,
configuration or input, or a ledger that cannot be opened (nothing written); 70 an
internal error; 130 interrupted.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

try:  # typer exports neither; recent typer vendors click as typer._click
    from typer._click.exceptions import NoArgsIsHelpError, UsageError
except ImportError:  # pragma: no cover - typer releases that depend on click itself
    from click.exceptions import (  # type: ignore[no-redef,import-not-found,assignment,unused-ignore]
        NoArgsIsHelpError,
        UsageError,
    )

from tci_gateway.cli.output import Output
from tci_gateway.cli.state import GlobalOptionsGroup, State, parse_as_of
from tci_gateway.cli.state import state_of as _state
from tci_gateway.errors import AdapterError, ConfigError, InputError, TciError
from tci_gateway.logs import LOG_LEVELS, configure_logging, get_logger, redact_text

if TYPE_CHECKING:
    from tci_gateway.erp.profiles import ErpProfile
    from tci_gateway.services.importing import ImportReport
    from tci_gateway.services.sync import SyncReport
    from tci_gateway.wiring import Wiring


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
app.add_typer(db_app, name="db")
app.add_typer(import_app, name="import")
app.add_typer(sync_app, name="sync")


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
    from tci_gateway.ledger.migrate import upgrade

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
    else:
        line = (
            f"{report.kind}: {report.rows} rows from {report.source}: "
            f"{report.inserted} inserted, {report.updated} updated, {report.unchanged} unchanged"
        )
        if report.complete:
            codes = ", ".join(report.company_codes)
            line += f", {report.closed} closed (complete export of source {report.item_source}"
            line += f", company code {codes})" if codes else ")"
        state.output.out.print(line, markup=False)
    if not report.ok:
        raise typer.Exit(1)


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
    from tci_gateway.erp.profiles import resolve_profile

    return resolve_profile(name, wiring.settings.erp_profiles, base_dir=wiring.config_dir)


@import_app.command("buyers")
def import_buyers_cmd(ctx: typer.Context, file: Path, profile: ProfileOption = None) -> None:
    """Import buyers and ERP accounts: canonical CSV or JSON, or an export with --profile."""
    from tci_gateway.services.importing import import_buyers

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
    from tci_gateway.erp.canonical import check_source
    from tci_gateway.services.complete_import import MassCloseError, import_business_date
    from tci_gateway.services.importing import import_open_items

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
    from tci_gateway.services.nightly import NightlyCycle, NightlyOptions
    from tci_gateway.services.sync import history_source

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
    try:
        adapters = {}
        for p in chosen:  # a configuration error stops everything before any sync (exit 2)
            adapters[p.insurer] = wiring.insurer(p.insurer).adapter
            if backfill:
                history_source(adapters[p.insurer])
        options = NightlyOptions(staging_retention_days=wiring.settings.sync.staging_retention_days)
        cycle = NightlyCycle(ledger, policies, adapters, now=state.now(), options=options)
        step = cycle.sync(
            [p.key for p in chosen],
            backfill=backfill,
            progress=lambda p: state.output.progress(f"syncing {p.key} from {p.insurer}"),
        )
    finally:
        ledger.dispose()
        wiring.close()
    return step.reports


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


def _register_more() -> None:
    from tci_gateway.cli import (
        behaviour,
        bureaus,
        buyers,
        claims,
        cover,
        credit,
        demo,
        doctor,
        fx,
        notify,
        openapi,
        reports,
        sandbox,
        scheduler,
        serve,
        tiers,
        users,
    )

    demo.register(app)
    reports.register(app)
    sandbox.register(app)
    cover.register(app)
    buyers.register(app)
    fx.register(app)
    scheduler.register(app)
    claims.register(app)
    serve.register(app)
    doctor.register(app)
    openapi.register(app)
    users.register(app)
    notify.register(app)
    behaviour.register(app)
    tiers.register(app)
    credit.register(app)
    bureaus.register(app)


_register_more()


def main() -> None:
    """Console entry point: maps errors to exit statuses, never shows a traceback.

    Every failure is one line on stderr: 2 for bad usage, configuration or input
    (including a ledger that cannot be opened), 1 for an insurer failing or a SQLite
    ledger locked by another process past the busy timeout, 130 when
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
        from tci_gateway.ledger.engine import ledger_busy

        busy = ledger_busy(exc)
        if busy is not None:  # not a bug: the same command succeeds once the lock is free
            output.error(busy)
            sys.exit(1)
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
