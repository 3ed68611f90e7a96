"""``tci doctor [--offline]``: check a deployment in one command.

Configuration, ledger (reachable, migrated), credentials and token endpoints of every
insurer and bureau (no call with ``--offline``), time zones and clocks, and the
scheduler's leader (:mod:`tci_gateway.cli.doctor_checks`). One line per check, each
saying what is wrong in plain words and what to do; ``--json`` for scripts. Exit 0 when
all is well, 1 otherwise (a configuration that does not load is a finding too, not a
usage error).
"""

from __future__ import annotations

from typing import Annotated

import typer

from tci_gateway.cli.doctor_checks import run_checks
from tci_gateway.cli.state import state_of as _state

_MARK = {"ok": "ok  ", "fail": "FAIL", "skipped": "skip"}


def doctor(
    ctx: typer.Context,
    offline: Annotated[
        bool, typer.Option("--offline", help="Make no call to insurers or bureaus.")
    ] = False,
) -> None:
    """Check this deployment: configuration, ledger, credentials, token endpoints, time
    zones and clocks, scheduler leader (exit 1 when something is wrong)."""
    state = _state(ctx)
    checks = run_checks(state.config, offline=offline)
    healthy = all(c.ok for c in checks)
    if state.json:
        state.output.emit_json({"ok": healthy, "checks": [c.as_json() for c in checks]})
    else:
        width = max(len(c.name) for c in checks)
        for c in checks:
            state.output.out.print(
                f"{_MARK[c.status]}  {c.name.ljust(width)}  {c.detail}", markup=False
            )
        failed = sum(1 for c in checks if not c.ok)
        state.output.out.print(
            "all is well" if healthy else f"{failed} problem(s) found", markup=False
        )
    if not healthy:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``tci doctor`` to the CLI."""
    app.command("doctor")(doctor)
