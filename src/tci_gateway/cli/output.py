"""Human and machine output for the CLI: rich tables on stdout, progress and errors on
stderr, ``--json`` for scripts. Everything shown passes the log redactor."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from tci_gateway.errors import RecordError
from tci_gateway.logs import redact_text
from tci_gateway.services.exposure import ExposureRow

MAX_ERRORS_SHOWN = 50


@dataclass
class Output:
    json_mode: bool = False
    quiet: bool = False

    def __post_init__(self) -> None:
        self.out = Console(soft_wrap=True, highlight=False)
        if not self.out.is_terminal:
            # Piped to a file or a pager: do not squeeze the tables into 80 columns.
            self.out = Console(soft_wrap=True, highlight=False, width=200)
        self.err = Console(stderr=True, soft_wrap=True, highlight=False)

    def emit_json(self, payload: Any) -> None:
        sys.stdout.write(redact_text(json.dumps(payload, default=_json_default, indent=2)) + "\n")

    def info(self, message: str) -> None:
        if not self.json_mode and not self.quiet:
            self.err.print(redact_text(message), markup=False)

    def error(self, message: str) -> None:
        self.err.print("error: " + redact_text(message), markup=False, style="bold red")

    def record_errors(self, errors: Sequence[RecordError], title: str) -> None:
        self.error(f"{title}: {len(errors)} problem(s); nothing was written")
        for e in errors[:MAX_ERRORS_SHOWN]:
            self.err.print("  " + redact_text(str(e)), markup=False)
        if len(errors) > MAX_ERRORS_SHOWN:
            self.err.print(f"  ... and {len(errors) - MAX_ERRORS_SHOWN} more", markup=False)

    def table(self, table: Table) -> None:
        self.out.print(table)

    @contextmanager
    def progress(
        self, description: str, total: int | None = None
    ) -> Iterator[Callable[[int], None]]:
        """A progress bar on stderr (hidden for --json or when stderr is not a terminal)."""
        if self.json_mode or self.quiet or not self.err.is_terminal:
            yield lambda _n: None
            return
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:,} rows"),
            TimeElapsedColumn(),
            console=self.err,
            transient=True,
        ) as bar:
            task = bar.add_task(description, total=total)
            yield lambda n: bar.update(task, completed=n)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def money_text(amount: Decimal | None) -> str:
    if amount is None:
        return "-"
    return f"{amount.quantize(Decimal('0.01')):,}"


def exposure_table(rows: Sequence[ExposureRow]) -> Table:
    table = Table(title="Exposure against cover", title_justify="left")
    for name, justify in (
        ("Buyer", "left"),
        ("ERP accounts", "left"),
        ("Policy", "left"),
        ("Status", "left"),
        ("Cur", "left"),
        ("Exposure", "right"),
        ("Limit", "right"),
        ("Covered", "right"),
        ("Uncovered", "right"),
        ("Alerts", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        e = r.exposure
        table.add_row(
            r.buyer_name,
            ", ".join(r.erp_accounts) or "-",
            r.policy or "-",
            e.status.value if e.status else "NO COVER",
            e.currency,
            money_text(e.exposure.amount),
            money_text(e.limit.amount if e.limit is not None else None),
            money_text(e.covered.amount),
            money_text(e.uncovered.amount),
            ", ".join(a.value for a in e.alerts) or "",
        )
    return table


def exposure_json(rows: Sequence[ExposureRow]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        e = r.exposure
        out.append(
            {
                "buyer_id": r.buyer_id,
                "buyer_name": r.buyer_name,
                "erp_accounts": list(r.erp_accounts),
                "policy": r.policy,
                "insurer": r.insurer,
                "business_date": r.business_date.isoformat(),
                "status": e.status.value if e.status else None,
                "pending_action": e.pending_action.value if e.pending_action else None,
                "currency": e.currency,
                "invoices": e.invoices.rounded().amount,
                "credits": e.credits.rounded().amount,
                "disputed": e.disputed.rounded().amount,
                "exposure": e.exposure.rounded().amount,
                "limit": e.limit.rounded().amount if e.limit is not None else None,
                "covered": e.covered.rounded().amount,
                "uncovered": e.uncovered.rounded().amount,
                "alerts": [a.value for a in e.alerts],
                "unconverted_documents": list(e.unconverted),
                "decision_reference": r.version.decision.insurer_cover_ref if r.version else None,
            }
        )
    return out
