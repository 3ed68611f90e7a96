"""``tci buyers search|resolve|review``: one buyer across every insurer, bureau and ERP
account."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from tci_gateway.cli.output import Col, Grid
from tci_gateway.cli.state import State
from tci_gateway.cli.state import state_of as _state
from tci_gateway.domain.identifiers import IdentifierError, Scheme, parse_identifier
from tci_gateway.domain.identity import ReviewState, contradictions
from tci_gateway.errors import ConfigError, InputError, RecordError

if TYPE_CHECKING:
    from tci_gateway.ledger import identity as identity_repo


# INSURER ids are linked by `--link`, not searched for.
SCHEMES = ", ".join(s.value for s in Scheme if s is not Scheme.INSURER)

buyers_app = typer.Typer(help="Find and resolve buyers.", no_args_is_help=True)
review_app = typer.Typer(help="Accept or reject proposed links.", invoke_without_command=True)
buyers_app.add_typer(review_app, name="review")


@buyers_app.command("search")
def search_cmd(
    ctx: typer.Context,
    country: Annotated[str, typer.Option(help="ISO alpha-2 country, e.g. FR.")],
    identifier: Annotated[
        str | None,
        typer.Option(
            "--id",
            metavar="SCHEME:VALUE",
            help="An identifier, e.g. VAT:FR40303265045 or FR_SIREN:552100554; "
            f"schemes: {SCHEMES}.",
        ),
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="Company name (where the insurer allows it).")
    ] = None,
    insurer: Annotated[list[str] | None, typer.Option(help="Only these insurers.")] = None,
    timeout: Annotated[
        float, typer.Option(min=0.1, help="Seconds to wait for the slowest insurer.")
    ] = 30.0,
    link: Annotated[
        bool, typer.Option(help="Attach found insurer ids to the ledger buyer.")
    ] = False,
) -> None:
    """Search every configured insurer and bureau at once; one ranked list of legal
    entities with the provenance of each source."""
    from tci_gateway.adapters.contract import BuyerQuery
    from tci_gateway.services.buyer_search import (
        BureauSearch,
        SearchStatus,
        link_insurer_ids,
        search_buyers,
    )

    state = _state(ctx)
    ident = None
    if identifier:
        scheme, _, value = identifier.partition(":")
        try:
            ident = parse_identifier(scheme.upper(), value)
        except IdentifierError as exc:
            raise typer.BadParameter(str(exc), param_hint="--id") from None
    if ident is None and not name:
        raise InputError([RecordError("command line", None, "--id", "give --id or --name")])
    wiring = state.wiring()
    names = insurer or sorted(wiring.settings.insurers)
    try:
        adapters: dict[str, Any] = {n: wiring.insurer(n).adapter for n in names}
        if not insurer:  # bureaus too, unless the search is limited to named insurers
            for b in sorted(wiring.settings.bureaus):
                adapters[b] = BureauSearch(wiring.bureau(b).adapter)
        result = search_buyers(adapters, BuyerQuery(country.upper(), ident, name), timeout=timeout)
        linked = 0
        if link:
            ledger = wiring.ledger()
            try:
                linked = link_insurer_ids(
                    ledger, result, now=state.now(), insurers=set(wiring.settings.insurers)
                )
            finally:
                ledger.dispose()
    finally:
        wiring.close()
    if state.json:
        state.output.emit_json(
            {
                "candidates": [
                    {
                        "name": c.name,
                        "country": c.country,
                        "insurer_ids": c.insurer_ids,
                        "names": c.names,
                        "ratings": c.ratings,
                        "identifiers": sorted(str(i) for i in c.identifiers),
                    }
                    for c in result.candidates
                ],
                "insurers": [o.__dict__ for o in result.outcomes],
                "linked": linked,
            }
        )
    else:
        table = Grid(
            "Buyers found",
            (
                Col("Name", min_width=12),
                Col("Country", fixed=True),
                Col("Insurer ids", min_width=12),
                Col("Identifiers", min_width=12),
            ),
        )
        for c in result.candidates:
            table.add_row(
                c.name,
                c.country,
                ", ".join(f"{k}:{v}" for k, v in sorted(c.insurer_ids.items())),
                ", ".join(sorted(str(i) for i in c.identifiers if i.issuer == "")),
            )
        state.output.table(table)
        for o in result.outcomes:
            note = (
                f"{o.matches} match(es)" if o.status is SearchStatus.OK else (o.error or o.status)
            )
            state.output.info(f"{o.insurer}: {o.status} in {o.seconds:.2f} s, {note}")
        if link:
            state.output.info(f"linked {linked} insurer buyer id(s) to ledger buyers")
    if not result.ok:
        raise typer.Exit(1)


@buyers_app.command("resolve")
def resolve_cmd(
    ctx: typer.Context,
    bureau: Annotated[
        list[str] | None, typer.Option(help="Only these bureaus (default: all configured).")
    ] = None,
    no_bureaus: Annotated[
        bool, typer.Option("--no-bureaus", help="Use the ledger's identifiers only.")
    ] = False,
    no_insurers: Annotated[
        bool, typer.Option("--no-insurers", help="Do not look up insurer buyer ids.")
    ] = False,
) -> None:
    """Link every ERP account to one buyer per legal entity; report what was linked,
    what awaits review and why."""
    from tci_gateway.ledger import identity as identity_repo
    from tci_gateway.services.identity import resolve_buyers

    state = _state(ctx)
    wiring = state.wiring()
    names = [] if no_bureaus else (bureau or sorted(wiring.settings.bureaus))
    ledger = wiring.ledger()
    try:
        adapters = {n: wiring.bureau(n).adapter for n in names}
        insurers = (
            {}
            if no_insurers
            else {n: wiring.insurer(n).adapter for n in sorted(wiring.settings.insurers)}
        )
        with state.output.progress("asking the bureaus and insurers") as progress:
            report = resolve_buyers(
                ledger,
                bureaus=adapters,
                insurers=insurers,
                now=state.now(),
                progress=progress,
                policies=wiring.settings.domain_policies(),
            )
        with ledger.unit_of_work() as session:
            pending = identity_repo.reviews(session)
    finally:
        ledger.dispose()
        wiring.close()
    if state.json:
        state.output.emit_json({**report.__dict__, "pending": [p.__dict__ for p in pending]})
    else:
        out = state.output.out
        out.print(
            f"{report.accounts} ERP accounts: {report.buyers_before} buyers before, "
            f"{report.buyers_after} after; {len(report.merged)} merged, "
            f"{report.identifiers_added} identifiers added, {report.assessments} assessments, "
            f"{report.parents} parents, {report.insurer_ids_found} insurer buyer ids; "
            f"{report.reviews_new} new review items, "
            f"{report.reviews_pending} pending",
            markup=False,
        )
        for line in report.merged[:50]:
            out.print(f"  merged {line}", markup=False)
        _review_table(state, pending[:50])
        for error in report.bureau_errors[:20]:
            state.output.error(error)
    if not report.ok:
        raise typer.Exit(1)


def _review_table(state: State, items: list[identity_repo.ReviewView]) -> None:
    if not items:
        return
    table = Grid(
        "Awaiting review",
        (
            Col("Id", fixed=True, right=True),
            Col("Account", fixed=True),
            Col("Account", fixed=True),
            Col("Score", fixed=True, right=True),
            Col("Why", min_width=16),
        ),
    )
    for r in items:
        table.add_row(str(r.id), r.account_a, r.account_b, str(r.score), r.reason)
    state.output.table(table)


@review_app.callback()
def review_list(
    ctx: typer.Context,
    all_items: Annotated[bool, typer.Option("--all", help="Decided ones too.")] = False,
) -> None:
    """List the proposed links awaiting a decision."""
    from tci_gateway.ledger import identity as identity_repo

    if ctx.invoked_subcommand is not None:
        return
    state = _state(ctx)
    ledger = state.wiring().ledger()
    try:
        with ledger.unit_of_work() as session:
            items = identity_repo.reviews(session, state=None if all_items else ReviewState.PENDING)
    finally:
        ledger.dispose()
    if state.json:
        state.output.emit_json([i.__dict__ for i in items])
    else:
        _review_table(state, items)
        state.output.info(f"{len(items)} item(s)")


@review_app.command("accept")
def review_accept(ctx: typer.Context, item: int) -> None:
    """Accept a proposed link: the two accounts become one buyer."""
    from tci_gateway.ledger import identity as identity_repo
    from tci_gateway.ledger.buyers import identifiers_of
    from tci_gateway.services.identity import merge

    state = _state(ctx)
    policies = state.wiring().settings.domain_policies()
    ledger = state.wiring().ledger()
    try:
        with ledger.unit_of_work() as session:
            row = identity_repo.decide_review(session, item, ReviewState.ACCEPTED, state.now())
            a = identity_repo.buyer_of_account(session, row.account_a)
            b = identity_repo.buyer_of_account(session, row.account_b)
            if a is None or b is None:
                raise ConfigError("one of the accounts no longer exists")
            clash = contradictions(identifiers_of(session, a), identifiers_of(session, b))
            if clash:
                detail = "; ".join(f"{x} vs {y}" for x, y in clash)
                raise InputError(
                    [
                        RecordError(
                            "review",
                            item,
                            None,
                            f"identifiers contradict ({detail}): correct them first",
                        )
                    ]
                )
            try:
                merge(session, min(a, b), max(a, b), policies=policies, now=state.now())
            except identity_repo.MergeConflict as exc:
                raise InputError([RecordError("review", item, None, str(exc))]) from None
    except LookupError as exc:
        raise InputError([RecordError("review", item, None, str(exc))]) from None
    finally:
        ledger.dispose()
    state.output.info(f"accepted: {row.account_a} and {row.account_b} are one buyer")


@review_app.command("reject")
def review_reject(ctx: typer.Context, item: int) -> None:
    """Reject a proposed link: it is not proposed again."""
    from tci_gateway.ledger import identity as identity_repo

    state = _state(ctx)
    ledger = state.wiring().ledger()
    try:
        with ledger.unit_of_work() as session:
            identity_repo.decide_review(session, item, ReviewState.REJECTED, state.now())
    except LookupError as exc:
        raise InputError([RecordError("review", item, None, str(exc))]) from None
    finally:
        ledger.dispose()
    state.output.info(f"rejected review item {item}")


def register(app: typer.Typer) -> None:
    app.add_typer(buyers_app, name="buyers")
