"""A buyer's credit line (domain/credit_line.py; docs/credit.md, "Credit line")."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tci_gateway.domain.credit_line import LINE_KINDS, credit_line, over_line

D = Decimal


def test_insured_limit_plus_internal_and_provisional_lines() -> None:
    line = credit_line(
        "EUR", D(50_000), [("internal", D(10_000)), ("provisional", D(5_000)), ("internal", D(1))]
    )
    assert (line.insured, line.internal, line.provisional) == (D(50_000), D(10_001), D(5_000))
    assert line.uninsured == D(15_001)
    assert line.total == D(65_001)
    assert over_line(D(70_000), line) == D(4_999)
    assert over_line(D(65_001), line) == 0
    assert over_line(D(-100), line) == 0


def test_without_an_insurer_decision_the_dcl_line_is_the_insured_part() -> None:
    line = credit_line("EUR", None, [("dcl", D(8_000)), ("internal", D(2_000))])
    assert line.insured == D(8_000) and line.total == D(10_000)


def test_an_insurer_refusal_overrides_a_dcl_line() -> None:
    # The insurer's decision (0 after a refusal) governs once it has one on the buyer.
    line = credit_line("EUR", D(0), [("dcl", D(8_000))])
    assert line.insured == 0 and line.total == 0
    assert over_line(D(1_000), line) == D(1_000)


@pytest.mark.parametrize("lines", [[("named", D(1))], [("internal", D(-1))]])
def test_unknown_kinds_and_negative_lines_are_refused(lines: list[tuple[str, Decimal]]) -> None:
    with pytest.raises(ValueError):
        credit_line("EUR", None, lines)
    with pytest.raises(ValueError):
        credit_line("EUR", D(-1), [])


amounts = st.decimals(min_value=0, max_value=D(10_000_000), places=2)


@settings(max_examples=100)
@given(
    st.none() | amounts,
    st.lists(st.tuples(st.sampled_from(LINE_KINDS), amounts), max_size=6),
    st.decimals(min_value=D(-1_000_000), max_value=D(20_000_000), places=2),
)
def test_total_is_the_sum_and_over_line_never_negative(
    insurer: Decimal | None, lines: list[tuple[str, Decimal]], exposure: Decimal
) -> None:
    line = credit_line("EUR", insurer, lines)
    uninsured = sum((a for k, a in lines if k != "dcl"), D(0))
    dcl = sum((a for k, a in lines if k == "dcl"), D(0))
    assert line.total == (dcl if insurer is None else insurer) + uninsured
    over = over_line(exposure, line)
    assert over >= 0
    assert over == 0 or exposure == line.total + over
