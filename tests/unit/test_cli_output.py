"""CLI output: tables never cut a fixed cell (amounts, statuses, dates) at any width,
and JSON amounts come out in their currency's minor units."""

from __future__ import annotations

import io
import json
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.console import Console

from tci_gateway.cli.output import Col, Grid, Output, first_fitting, json_ready, money_text
from tci_gateway.cli.state import hoist_global_options
from tci_gateway.domain.money import Money

words = st.text(alphabet="abcdefghij KLMNOP-é深", min_size=1, max_size=40).map(str.strip)
amounts = st.decimals(min_value=0, max_value=Decimal("1e10"), places=2).map(
    lambda d: money_text(d, "EUR")
)


def render(grid: Grid, width: int) -> str:
    console = Console(file=io.StringIO(), width=width, soft_wrap=True, highlight=False)
    console.print(grid.render(width))
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(out, str)
    return out


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(words, amounts, st.sampled_from(["APPROVED", "PARTIALLY_APPROVED"])),
        min_size=1,
        max_size=6,
    ),
    st.integers(min_value=20, max_value=200),
)
def test_fixed_cells_are_never_cut_at_any_width(
    rows: list[tuple[str, str, str]], width: int
) -> None:
    grid = Grid(
        "t",
        (
            Col("Name", min_width=6),
            Col("Amount", fixed=True, right=True),
            Col("Status", fixed=True),
            Col("Note", min_width=4),
        ),
    )
    for name, amount, status in rows:
        grid.add_row(name or "-", amount, status, name[::-1] or "-")
    out = render(grid, width)
    assert "…" not in out
    lines = out.splitlines()
    for _name, amount, status in rows:
        assert any(amount in line for line in lines), amount
        assert any(status in line for line in lines), status
    if grid.min_width() <= width:
        assert max(cell_len(line) for line in lines) <= width


def test_first_fitting_takes_the_widest_layout_that_fits() -> None:
    wide = Grid("t", (Col("A", fixed=True), Col("B", fixed=True)))
    narrow = Grid("t", (Col("AB", fixed=True),))
    wide.add_row("x" * 30, "y" * 30)
    narrow.add_row("x" * 30 + "\n" + "y" * 30)
    assert first_fitting(200, wide, narrow) is wide
    assert first_fitting(50, wide, narrow) is narrow


def test_json_amounts_are_rounded_to_their_currency() -> None:
    payload = {
        "currency": "JPY",
        "amount": Decimal("63000.0000"),
        "insured_percentage": Decimal("90.0000"),
        "fx_rate": Decimal("160.12345678"),
        "lines": [{"currency": "KWD", "net": Decimal("1.0005")}, {"net": Decimal("12.5")}],
        "money": Money(Decimal("64500.0000"), "EUR"),
        "count": 3,
    }
    assert json_ready(payload) == {
        "currency": "JPY",
        "amount": "63000",
        "insured_percentage": "90.0000",
        "fx_rate": "160.12345678",
        "lines": [{"currency": "KWD", "net": "1.000"}, {"net": "12"}],
        "money": "64500.00",
        "count": 3,
    }


def test_emit_json_has_no_four_place_amounts(capsys: object) -> None:
    Output(json_mode=True).emit_json([{"currency": "EUR", "indemnity": Decimal("58050.0000")}])
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert json.loads(out) == [{"currency": "EUR", "indemnity": "58050.00"}]


def test_global_options_after_the_command_move_before_it() -> None:
    assert hoist_global_options(["exposure", "--json"]) == ["--json", "exposure"]
    assert hoist_global_options(
        ["export", "limits", "-o", "x.csv", "--as-of", "2026-11-30", "-c", "t.toml"]
    ) == ["--as-of", "2026-11-30", "-c", "t.toml", "export", "limits", "-o", "x.csv"]
    assert hoist_global_options(["alerts", "--as-of=2026-11-30", "--limit", "3"]) == [
        "--as-of=2026-11-30",
        "alerts",
        "--limit",
        "3",
    ]
    # Already in front: unchanged; after "--": arguments, not options.
    assert hoist_global_options(["--json", "claims", "show", "1"]) == [
        "--json",
        "claims",
        "show",
        "1",
    ]
    assert hoist_global_options(["import", "buyers", "--", "--json"]) == [
        "import",
        "buyers",
        "--",
        "--json",
    ]
