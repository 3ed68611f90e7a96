"""The manual filing pack as a Markdown document a person can read and paste from (shared
by `tci claims pack|show` and the API's `GET /v1/cases/{id}/filing-pack`)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from tci_gateway.domain.money import amount_text, is_currency


def _amt(value: Any, currency: str) -> str:
    """An amount of the pack as the one formatter writes it (``63000.00``, JPY ``63000``),
    also for payloads stored before amounts were rounded; ``-`` when there is none."""
    if value is None or value == "":
        return "-"
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    return amount_text(amount, currency) if is_currency(currency) else str(value)


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines


def _indemnity(ind: dict[str, Any]) -> list[str]:
    if not ind:
        return ["(no indemnity computed yet)"]
    cur = ind.get("currency", "")
    rows = [
        [
            str(line["number"]),
            str(line["delivery_date"]),
            str(line["due_date"] or "-"),
            f"{_amt(line['open_amount'], line['currency'])} {line['currency']}",
            _amt(line["open_in_policy"], cur),
            _amt(line["credits_applied"], cur),
            _amt(line["net"], cur),
            _amt(line["limit_at_delivery"], cur) if line.get("limit_known", True) else "unknown",
            _amt(line["insured"], cur),
            str(line["excluded"] or ""),
        ]
        for line in ind.get("lines", [])
    ]
    lines = _table(
        [
            "Invoice",
            "Delivered",
            "Due",
            "Open",
            f"Open ({cur})",
            "Credits",
            "Net",
            "Limit at delivery",
            "Insured",
            "Excluded",
        ],
        rows,
    )
    lines += [
        "",
        f"- insured total: {_amt(ind['insured_total'], cur)} {cur}",
        f"- x {ind['insured_percentage']} % = {_amt(ind['gross_indemnity'], cur)} {cur}",
        f"- claim threshold {_amt(ind['claim_threshold'], cur)} {cur}: "
        + ("below, no indemnity" if ind["below_threshold"] else "reached"),
        f"- less deductible {_amt(ind['deductible'], cur)} {cur}",
        f"- **indemnity: {_amt(ind['indemnity'], cur)} {cur}**"
        + (" (a lower bound)" if ind.get("lower_bound") else ""),
    ]
    if ind.get("note"):
        lines.append(f"- {ind['note']}: the indemnity is at least the figure above")
    unapplied = ind.get("unapplied_credits")
    if unapplied is not None and Decimal(str(unapplied)) != 0:
        lines.append(f"- credits not applied to any invoice: {_amt(unapplied, cur)} {cur}")
    if ind.get("unconverted_credits"):
        lines.append(f"- credits with no FX rate: {', '.join(ind['unconverted_credits'])}")
    disputed = [line["number"] for line in ind.get("lines", []) if line["excluded"] == "DISPUTED"]
    if disputed:
        lines.append(f"- disputed, excluded until resolved: {', '.join(disputed)}")
    return lines


def render_pack(pack: dict[str, Any], *, only: str | None = None) -> str:
    """Markdown for :func:`~tci_gateway.services.case_views.filing_pack` (``only`` =
    ``"indemnity"`` renders that section alone)."""
    if only == "indemnity":
        return "\n".join(["Indemnity", "", *_indemnity(pack.get("indemnity", {}))])
    buyer, policy, dates = pack["buyer"], pack["policy"], pack["deadlines"]
    amounts = pack["amounts"]
    pcur = amounts["currency"]
    ref = ", ".join(f"{k} {v}" for k, v in sorted(policy["reference"].items())) or "-"
    lines = [
        f"# Filing pack: case {pack['case']} ({pack['state']})",
        "",
        "## Buyer",
        f"- name: {buyer['name']} ({buyer['country']})",
        f"- identifiers: {'; '.join(buyer['identifiers']) or '-'}",
        f"- ERP accounts: {', '.join(buyer['erp_accounts'])}",
        "",
        "## Policy",
        f"- {policy['key']} at {policy['insurer']}: {ref}",
        "",
        "## Dates",
        f"- original due date of the oldest overdue invoice: {dates['due_date']}",
        f"- first default: {dates['first_default_date']}",
        f"- cover stop (no insured deliveries from): {dates['cover_stop']}",
        f"- notify the overdue by: {dates['notify_by']}",
        f"- date of loss: {dates['date_of_loss']}",
        f"- file the claim by: {dates['claim_by']}",
        "",
        "## Amounts",
        f"- overdue (undisputed, net of credits): {_amt(amounts['overdue_total'], pcur)} {pcur}",
        f"- insured: {_amt(amounts['insured_total'], pcur)} {pcur}",
        f"- indemnity: {_amt(amounts['indemnity'], pcur)} {pcur}"
        + (f" (at least: {amounts['note']})" if amounts.get("note") else ""),
        "",
        "## Indemnity, per invoice",
        "",
        *_indemnity(pack.get("indemnity", {})),
        "",
        "## Actions",
    ]
    for action in pack["actions"]:
        lines += [
            "",
            f"### {action['action'].lower().replace('_', ' ')}: {action['state']}",
            f"- due on {action['due_on']}, channel {action['channel']}",
            f"- our reference: {action['client_reference']}",
            f"- insurer reference: {action['insurer_reference'] or '-'}",
        ]
        if action["invoices"]:
            lines += [
                "",
                *_table(
                    ["Invoice", "Issued", "Due", "Amount", "Outstanding"],
                    [
                        [
                            i["number"],
                            i["issue_date"],
                            str(i["due_date"]),
                            f"{_amt(i['amount'], i['currency'])} {i['currency']}",
                            f"{_amt(i['outstanding'], i['currency'])} {i['currency']}",
                        ]
                        for i in action["invoices"]
                    ],
                ),
            ]
    return "\n".join(lines) + "\n"
