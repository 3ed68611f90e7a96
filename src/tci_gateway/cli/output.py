"""Human and machine output for the CLI: rich tables on stdout, progress and errors on
stderr, ``--json`` for scripts. Everything shown passes the log redactor."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from rich.cells import cell_len
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from tci_gateway.domain.money import Money, amount_text, is_currency, total
from tci_gateway.errors import RecordError
from tci_gateway.logs import redact_text

if TYPE_CHECKING:
    from tci_gateway.services.exposure import ExposureRow


MAX_ERRORS_SHOWN = 50


@dataclass
class Output:
    json_mode: bool = False
    quiet: bool = False

    def __post_init__(self) -> None:
        self.out = Console(soft_wrap=True, highlight=False)
        if not self.out.is_terminal and not os.environ.get("COLUMNS", "").isdigit():
            # Piped to a file or a pager: do not squeeze the tables into 80 columns
            # (unless COLUMNS says how wide the reader is).
            self.out = Console(soft_wrap=True, highlight=False, width=200)
        self.err = Console(stderr=True, soft_wrap=True, highlight=False)

    def emit_json(self, payload: Any) -> None:
        text = json.dumps(json_ready(payload), default=_json_default, indent=2)
        sys.stdout.write(redact_text(text) + "\n")

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

    @property
    def width(self) -> int:
        """The width tables are laid out for (the terminal's, or ``COLUMNS``)."""
        return self.out.width

    def table(self, table: Table | Grid) -> None:
        """Print a table; a :class:`Grid` is fitted to the width first."""
        self.out.print(table.render(self.out.width) if isinstance(table, Grid) else table)

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


# Decimals under these keys are rates or percentages, not amounts: never rounded.
_NOT_AMOUNTS = ("rate", "percent", "score", "ratio", "confidence")


def json_ready(value: Any, currency: str | None = None) -> Any:
    """``value`` with every amount rounded to its currency's minor units (the one
    formatter, :func:`~tci_gateway.domain.money.amount_text`): a :class:`Money` becomes
    its plain text, and a ``Decimal`` in a mapping that names its ``currency`` is rounded
    to that currency (so no ``63000.0000`` reaches a script)."""
    if isinstance(value, Money):
        return value.text()
    if isinstance(value, Mapping):
        own = value.get("currency")
        cur = own if isinstance(own, str) and is_currency(own) else currency
        return {
            k: (
                format(v, "f")
                if isinstance(v, Decimal) and any(n in str(k) for n in _NOT_AMOUNTS)
                else json_ready(v, cur)
            )
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [json_ready(v, currency) for v in value]
    if isinstance(value, Decimal) and currency is not None and value.is_finite():
        return amount_text(value, currency)
    return value


def money_text(amount: Decimal | Money | None, currency: str | None = None) -> str:
    """An amount for people: rounded to the currency's minor units, with thousands
    separators (``64,500.00``); ``-`` when there is none."""
    if amount is None:
        return "-"
    if isinstance(amount, Money):
        return amount.text(grouped=True)
    if currency is None:  # a policy no longer configured: shown as stored, not guessed
        return format(amount, ",f")
    return amount_text(amount, currency, grouped=True)


# -- tables that fit the terminal -------------------------------------------------------


@dataclass(frozen=True)
class Col:
    """A table column. ``fixed`` columns (amounts, statuses, dates, ids) are never cut
    or wrapped; the others (names, lists) fold onto more lines, down to ``min_width``."""

    header: str
    fixed: bool = False
    right: bool = False
    min_width: int = 8


Cell = str | Text


def _lines_width(cell: Cell) -> int:
    text = cell.plain if isinstance(cell, Text) else cell
    return max((cell_len(line) for line in text.split("\n")), default=0)


@dataclass
class Grid:
    """A table to print: :meth:`render` fits it to a width, folding names so that
    fixed columns keep their whole content; when even the names at their minimum do not
    fit, the table is wider than the terminal (it wraps there, but nothing is cut)."""

    title: str
    columns: Sequence[Col]
    rows: list[Sequence[Cell]] = field(default_factory=list)

    def add_row(self, *cells: Cell) -> None:
        self.rows.append(cells)

    def natural_widths(self) -> list[int]:
        return [
            max([_lines_width(col.header), *(_lines_width(r[i]) for r in self.rows)])
            for i, col in enumerate(self.columns)
        ]

    def overhead(self) -> int:
        # Rich's default box: a border before, between and after the columns, and one
        # space of padding on each side of every cell.
        return 3 * len(self.columns) + 1

    def min_width(self) -> int:
        """The narrowest width at which no fixed column is cut."""
        natural = self.natural_widths()
        return self.overhead() + sum(
            n if c.fixed else min(n, c.min_width)
            for c, n in zip(self.columns, natural, strict=True)
        )

    def fits_unfolded(self, width: int) -> bool:
        return self.overhead() + sum(self.natural_widths()) <= width

    def widths(self, width: int) -> list[int]:
        """Each column's content width at a terminal ``width``."""
        natural = self.natural_widths()
        fold = [i for i, c in enumerate(self.columns) if not c.fixed]
        room = (
            width
            - self.overhead()
            - sum(n for c, n in zip(self.columns, natural, strict=True) if c.fixed)
        )
        floor = {i: min(natural[i], self.columns[i].min_width) for i in fold}

        def used(cap: int) -> int:
            return sum(max(floor[i], min(natural[i], cap)) for i in fold)

        cap = max((natural[i] for i in fold), default=0)
        while cap > 0 and used(cap) > room:
            cap -= 1
        return [
            n if c.fixed else max(floor[i], min(n, cap))
            for i, (c, n) in enumerate(zip(self.columns, natural, strict=True))
        ]

    def render(self, width: int) -> Table:
        widths = self.widths(width)
        # The table's own width: when even folded names leave it wider than the terminal,
        # rich would otherwise shrink every column, amounts included.
        table = Table(
            title=self.title,
            title_justify="left",
            width=self.overhead() + sum(max(w, 1) for w in widths),
        )
        for col, w in zip(self.columns, widths, strict=True):
            table.add_column(
                col.header,
                justify="right" if col.right else "left",
                no_wrap=col.fixed,
                overflow="fold",  # fixed columns are as wide as their content: never folded
                width=max(w, 1),
            )
        for row in self.rows:
            table.add_row(*(c if isinstance(c, Text) else Text(c) for c in row))
        return table


def first_fitting(width: int, *grids: Grid) -> Grid:
    """The first of ``grids`` (widest layout first) that fits ``width`` with nothing
    fixed cut; else the last, the narrowest."""
    for grid in grids[:-1]:
        if grid.min_width() <= width:
            return grid
    return grids[-1]


# -- exposure ---------------------------------------------------------------------------


def _status(row: ExposureRow) -> str:
    return row.exposure.status.value if row.exposure.status else "NO COVER"


def _amounts(row: ExposureRow) -> list[Cell]:
    e = row.exposure
    return [
        e.currency,
        money_text(e.exposure),
        money_text(e.limit),
        money_text(e.covered),
        money_text(e.uncovered),
    ]


_AMOUNT_COLS = (
    Col("Cur", fixed=True),
    Col("Exposure", fixed=True, right=True),
    Col("Limit", fixed=True, right=True),
    Col("Covered", fixed=True, right=True),
    Col("Uncovered", fixed=True, right=True),
)
_TITLE = "Exposure against cover"


def _buyer_cell(row: ExposureRow, *extra: str) -> Text:
    where = ", ".join(row.erp_accounts) or "-"
    text = Text(row.buyer_name)
    text.append(f"\n{where} · {row.policy or '-'}", style="dim")
    for line in extra:
        if line:
            text.append("\n" + line)
    return text


def exposure_table(rows: Sequence[ExposureRow], width: int) -> Grid:
    """Exposure per buyer and policy laid out for a terminal ``width``: one column per
    field when everything fits; else the accounts and policy under the buyer's name;
    else the status and alerts there too. Amounts and statuses are never cut."""
    wide = Grid(
        _TITLE,
        (
            Col("Buyer"),
            Col("ERP accounts"),
            Col("Policy"),
            Col("Status", fixed=True),
            *_AMOUNT_COLS,
            Col("Alerts"),
        ),
    )
    medium = Grid(
        _TITLE,
        (
            Col("Buyer", min_width=16),
            Col("Status", fixed=True),
            *_AMOUNT_COLS,
            Col("Alerts", min_width=10),
        ),
    )
    longest_status = max((len(_status(r)) for r in rows), default=8)
    narrow = Grid(_TITLE, (Col("Buyer", min_width=longest_status), *_AMOUNT_COLS))
    for r in rows:
        alerts = ", ".join(a.value for a in r.exposure.alerts)
        wide.add_row(
            r.buyer_name,
            ", ".join(r.erp_accounts) or "-",
            r.policy or "-",
            _status(r),
            *_amounts(r),
            alerts,
        )
        medium.add_row(_buyer_cell(r), _status(r), *_amounts(r), alerts)
        narrow.add_row(
            _buyer_cell(r, _status(r) + (f" · {alerts}" if alerts else "")), *_amounts(r)
        )
    if wide.fits_unfolded(width):
        return wide
    return medium if medium.min_width() <= width else narrow


def exposure_totals(rows: Sequence[ExposureRow]) -> dict[str, dict[str, Money]]:
    """Exposure, covered and uncovered summed per currency (never across currencies)."""
    by_currency: dict[str, dict[str, Money]] = {}
    for cur in sorted({r.exposure.currency for r in rows}):
        mine = [r.exposure for r in rows if r.exposure.currency == cur]
        by_currency[cur] = {
            "exposure": total((e.exposure for e in mine), cur),
            "covered": total((e.covered for e in mine), cur),
            "uncovered": total((e.uncovered for e in mine), cur),
        }
    return by_currency


def totals_lines(rows: Sequence[ExposureRow]) -> list[str]:
    """``Total EUR: exposure 282,000.00, covered 222,500.00, uncovered 59,500.00``, one
    line per currency."""
    return [
        f"Total {cur}: exposure {money_text(t['exposure'])}, covered {money_text(t['covered'])}, "
        f"uncovered {money_text(t['uncovered'])}"
        for cur, t in exposure_totals(rows).items()
    ]


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
                "raw_codes": e.raw_codes,
            }
        )
    return out
