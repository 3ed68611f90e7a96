"""``tci demo``: the nightly cycle end to end on the embedded default.

A SQLite ledger in the output directory, the built-in Atradius sandbox seeded with the
demo portfolio, the sample ERP files from ``fixtures/demo/``: import, sync, exposure
with alerts, the covered-limits export for the ERP, then the credit review of the date
(tiers, behaviour snapshots, plans). Running it again changes nothing: the imports are
upserts, the sync writes only what changed and a date is reviewed once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

import tci_gateway
from tci_gateway.cli.credit_review import review_day
from tci_gateway.cli.output import exposure_json, exposure_table, exposure_totals, totals_lines
from tci_gateway.errors import ConfigError
from tci_gateway.logs import configure_logging

DEMO_CONFIG = "tci.toml"
DEMO_STEPS = ("roll", "prune", "sync", "exposure", "export")
"""The nightly cycle up to the export (the demo has no escalation paths: no claims run):
:class:`~tci_gateway.services.nightly.Step` values (imported when the demo runs)."""


def find_fixtures(explicit: Path | None) -> Path:
    """The demo fixtures: ``--fixtures``, else ``./fixtures/demo``, else the checkout the
    package was installed from."""
    candidates = (
        [explicit]
        if explicit
        else [
            Path("fixtures/demo"),
            Path(tci_gateway.__file__).resolve().parents[2] / "fixtures" / "demo",
        ]
    )
    for candidate in candidates:
        if candidate is not None and (candidate / DEMO_CONFIG).is_file():
            return candidate
    raise ConfigError(
        "demo fixtures not found (looked for fixtures/demo/tci.toml): run `tci demo` from the "
        "repository checkout or pass --fixtures DIR"
    )


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo_command(
        ctx: typer.Context,
        directory: Annotated[
            Path, typer.Option("--dir", help="Where the ledger and export go.")
        ] = Path("tci-demo"),
        fixtures: Annotated[Path | None, typer.Option(help="Demo fixtures directory.")] = None,
    ) -> None:
        """Run the whole cycle on SQLite and the built-in sandbox insurer."""
        from tci_gateway.cli.state import state_of
        from tci_gateway.config import load_settings
        from tci_gateway.erp.export import atomic_text_file, write_csv, write_json
        from tci_gateway.ledger.migrate import upgrade
        from tci_gateway.services import export as export_service
        from tci_gateway.services.credit_review import run_credit_review
        from tci_gateway.services.importing import import_buyers, import_open_items
        from tci_gateway.services.nightly import NightlyCycle, Step
        from tci_gateway.wiring import Wiring, credit_options

        state = state_of(ctx)
        out = state.output
        source = find_fixtures(fixtures)
        settings = load_settings(source / DEMO_CONFIG)
        directory.mkdir(parents=True, exist_ok=True)
        settings.database.url = f"sqlite:///{(directory / 'ledger.db').resolve()}"
        configure_logging(state.log_format or "console", state.log_level or "warning")
        wiring = Wiring(settings, source.resolve())
        policies = settings.domain_policies()
        now = state.now()

        ledger = wiring.ledger(require_schema=False)
        try:
            upgrade(ledger.engine)
            out.info(f"ledger: {directory / 'ledger.db'}")
            buyers = import_buyers(ledger, source / "buyers.csv", policies=policies, now=now)
            out.info(
                f"imported buyers: {buyers.rows} rows, {buyers.inserted} new, "
                f"{buyers.updated} updated, {buyers.unchanged} unchanged"
            )
            items = import_open_items(ledger, source / "open_items.csv", now=now)
            out.info(
                f"imported open items: {items.rows} rows, {items.inserted} new, "
                f"{items.updated} updated, {items.unchanged} unchanged"
            )
            adapters = {p.insurer: wiring.insurer(p.insurer).adapter for p in policies.values()}
            cycle = NightlyCycle(
                ledger, policies, adapters, now=now, options=wiring.nightly_options(ledger)
            )
            report = cycle.run([Step(step) for step in DEMO_STEPS])
            for sync in report.sync.reports:
                out.info(
                    f"synced {sync.policy} from the {sync.insurer} sandbox: {sync.status}, "
                    f"{sync.fetched} covers, {sync.written} written, "
                    f"{sync.unchanged} unchanged"
                )
            assert report.exposure is not None and report.export is not None
            rows, limits = report.exposure.rows, report.export.rows
            # Last, the credit review of the date (tiers, behaviour snapshots, plans).
            day = review_day(now, settings.scheduler.timezone)
            options = credit_options(settings, ledger)
            review = run_credit_review(ledger, policies, {}, options, day, now=now)
            done = "already done" if review.already_done else "done" if review.ok else "failed"
            out.info(f"credit review of {day}: {done}")
            for error in review.errors:
                out.error(error)
        finally:
            ledger.dispose()
            wiring.close()

        csv_path = directory / "covered-limits.csv"
        json_path = directory / "covered-limits.json"
        with atomic_text_file(csv_path) as handle:
            write_csv((r.as_dict() for r in limits), export_service.LIMIT_COLUMNS, handle)
        with atomic_text_file(json_path) as handle:
            write_json(
                (r.as_dict() for r in limits),
                export_service.JSON_LIMIT_COLUMNS,
                handle,
                "covered_limits",
            )

        totals = exposure_totals(rows)
        if state.json:
            payload: dict[str, Any] = {
                "ledger": str(directory / "ledger.db"),
                "imports": {"buyers": buyers.__dict__, "open_items": items.__dict__},
                "syncs": [s.__dict__ for s in report.sync.reports],
                "exposure": exposure_json(rows),
                "totals": {
                    c: {k: m.rounded().amount for k, m in t.items()} for c, t in totals.items()
                },
                "export": {"csv": str(csv_path), "json": str(json_path), "rows": len(limits)},
                "credit_review": review.summary(),
            }
            out.emit_json(payload)
        else:
            out.table(exposure_table(rows, out.width))
            for line in totals_lines(rows):
                out.out.print(line, markup=False)
            out.out.print(f"Covered limits for the ERP: {csv_path} and {json_path}", markup=False)
        if not report.sync.ok or not review.ok:
            raise typer.Exit(1)
