"""``tci cover request|increase|reduce|cancel|status`` and ``tci buyers search``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from tci_gateway.cli.output import Col, Grid, first_fitting, money_text
from tci_gateway.cli.state import State
from tci_gateway.cli.state import state_of as _state
from tci_gateway.domain.cover import UNANSWERED, CoverAction
from tci_gateway.domain.money import Money, MoneyError, parse_amount
from tci_gateway.domain.policy import Policy
from tci_gateway.errors import ConfigError, InputError, RecordError

if TYPE_CHECKING:
    from tci_gateway.services import cover_requests as service


cover_app = typer.Typer(
    help="Request, change and follow cover at the insurers.", no_args_is_help=True
)

BuyerOpt = Annotated[str, typer.Option("--buyer", "-b", help="ERP account or ledger buyer id.")]
PolicyOpt = Annotated[str | None, typer.Option("--policy", "-p", help="Policy key (if several).")]
AmountOpt = Annotated[
    str, typer.Option("--amount", "-a", help="In the policy currency, e.g. 50000.")
]


def _policy(policies: dict[str, Policy], key: str | None) -> Policy:
    if key is None:
        if len(policies) != 1:
            known = ", ".join(sorted(policies)) or "none"
            raise ConfigError(f"several policies are configured ({known}): pass --policy")
        return next(iter(policies.values()))
    if key not in policies:
        raise ConfigError(f"unknown policy {key!r} (configured: {', '.join(sorted(policies))})")
    return policies[key]


def _money(text: str | None, policy: Policy) -> Money | None:
    if text is None:
        return None
    try:
        return Money(parse_amount(text, policy.terms.currency), policy.terms.currency)
    except MoneyError as exc:
        raise InputError([RecordError("command line", None, "--amount", str(exc))]) from None


def _submit(
    ctx: typer.Context,
    action: CoverAction,
    buyer: str,
    policy_key: str | None,
    amount: str | None,
    urgent: bool = False,
) -> None:
    from tci_gateway.services import cover_requests as service

    state = _state(ctx)
    wiring = state.wiring()
    policy = _policy(wiring.settings.domain_policies(), policy_key)
    adapter = wiring.insurer(policy.insurer).adapter
    ledger = wiring.ledger()
    try:
        request_id = service.queue_request(
            ledger,
            policy,
            buyer=buyer,
            action=action,
            amount=_money(amount, policy),
            now=state.now(),
            urgent=urgent,
        )
        service.advance(ledger, request_id, adapter, policy, now=state.now())
        (view,) = service.list_requests(ledger, request_id=request_id)
    finally:
        ledger.dispose()
        wiring.close()
    _show(state, [view], {policy.key: policy.terms.currency})
    if view.state in UNANSWERED:
        raise typer.Exit(1)


def _show(state: State, views: list[service.CoverRequestView], currencies: dict[str, str]) -> None:
    """Requests as JSON or a table; amounts in their currency (a cancel has none of its
    own: the policy's)."""

    def currency(v: service.CoverRequestView) -> str | None:
        return v.currency or currencies.get(v.policy)

    if state.json:
        state.output.emit_json([v.__dict__ | {"currency": currency(v)} for v in views])
        return
    wide = Grid(
        "Cover requests",
        (
            Col("Id", fixed=True, right=True),
            Col("Reference", fixed=True),
            Col("Policy"),
            Col("Buyer", min_width=12),
            Col("Action", fixed=True),
            Col("Amount", fixed=True, right=True),
            Col("State", fixed=True),
            Col("Insurer ref"),
            Col("Outcome", fixed=True),
            Col("Note"),
        ),
    )
    longest_reference = max((len(v.client_reference) for v in views), default=12)
    narrow = Grid(
        "Cover requests",
        (
            Col("Id", fixed=True, right=True),
            # As wide as the longest reference, so that references stay whole.
            Col("Buyer, action\nReference, insurer ref", min_width=longest_reference),
            Col("Amount", fixed=True, right=True),
            Col("State\nOutcome", fixed=True),
        ),
    )
    for v in views:
        outcome = v.outcome_status or "-"
        if v.outcome_amount is not None:
            outcome += f" {money_text(v.outcome_amount, currency(v))}"
        amount = (
            f"{money_text(v.amount, currency(v))} {v.currency}" if v.amount is not None else "-"
        )
        wide.add_row(
            str(v.id),
            v.client_reference,
            v.policy,
            v.buyer_name,
            v.action,
            amount,
            v.state,
            v.insurer_request_ref or "-",
            outcome,
            v.last_error or "",
        )
        detail = Text(f"{v.buyer_name}, {v.action.lower()} ({v.policy})")
        detail.append(f"\n{v.client_reference}, {v.insurer_request_ref or '-'}", style="dim")
        if v.last_error:
            detail.append(f"\n{v.last_error}")
        narrow.add_row(str(v.id), detail, amount, f"{v.state}\n{outcome}")
    state.output.table(first_fitting(state.output.width, wide, narrow))


@cover_app.command("request")
def request_cmd(
    ctx: typer.Context,
    buyer: BuyerOpt,
    amount: AmountOpt,
    policy: PolicyOpt = None,
    urgent: Annotated[bool, typer.Option(help="Ask for urgent handling.")] = False,
) -> None:
    """Request new cover on a buyer."""
    _submit(ctx, CoverAction.NEW, buyer, policy, amount, urgent)


@cover_app.command("increase")
def increase_cmd(
    ctx: typer.Context, buyer: BuyerOpt, amount: AmountOpt, policy: PolicyOpt = None
) -> None:
    """Ask for a higher limit (the new total)."""
    _submit(ctx, CoverAction.INCREASE, buyer, policy, amount)


@cover_app.command("reduce")
def reduce_cmd(
    ctx: typer.Context, buyer: BuyerOpt, amount: AmountOpt, policy: PolicyOpt = None
) -> None:
    """Reduce a limit (the new total)."""
    _submit(ctx, CoverAction.REDUCE, buyer, policy, amount)


@cover_app.command("cancel")
def cancel_cmd(ctx: typer.Context, buyer: BuyerOpt, policy: PolicyOpt = None) -> None:
    """Cancel a limit (an unused limit costs monitoring fees)."""
    _submit(ctx, CoverAction.CANCEL, buyer, policy, None)


@cover_app.command("status")
def status_cmd(
    ctx: typer.Context,
    request: Annotated[
        int | None, typer.Option("--request", min=1, help="Only this request id.")
    ] = None,
    poll: Annotated[bool, typer.Option(help="Ask the insurers about open requests first.")] = True,
) -> None:
    """Follow requests: look up ambiguous ones by reference, resend unsent ones, poll
    pending ones, then list them."""
    from tci_gateway.services import cover_requests as service

    state = _state(ctx)
    wiring = state.wiring()
    policies = wiring.settings.domain_policies()
    ledger = wiring.ledger()
    try:
        if poll:
            adapters = {p.insurer: wiring.insurer(p.insurer).adapter for p in policies.values()}
            service.reconcile(ledger, adapters, policies, now=state.now())
        views = service.list_requests(ledger, request_id=request)
    finally:
        ledger.dispose()
        wiring.close()
    _show(state, views, {k: p.terms.currency for k, p in policies.items()})


def register(app: typer.Typer) -> None:
    app.add_typer(cover_app, name="cover")
