"""The Credendo-shape adapter: OAuth2 client credentials, debtor search, the limit
portfolio page by page, limit applications and their decisions."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any, TypeVar

from tci_gateway.adapters.contract import (
    AdapterContext,
    BuyerMatch,
    BuyerQuery,
    Capabilities,
    CoverRequest,
    CoverRequestResult,
    PolicyRef,
    PortfolioEntry,
    PortfolioItem,
)
from tci_gateway.adapters.toolkit import (
    AdapterOptions,
    ApiClient,
    ApiResponse,
    CodeTable,
    MappingError,
    OAuth2ClientCredentials,
    PageNumberPaginator,
    Pages,
    ParsedError,
    StatusOverrides,
    find_alpha2,
    int_or_none,
    none_if_not_found,
    option,
    parse_model,
    record_error,
    records_at,
    to_alpha3,
    value_at,
    vat_prefix,
    whole_number,
)
from tci_gateway.domain.identifiers import Scheme
from tci_gateway.errors import ConfigError

from .mapping import Application, Debtor, Limit, to_decision, to_match

CREDENTIAL_NAMES = ("client_id", "client_secret")
T = TypeVar("T")


class CredendoOptions(AdapterOptions):
    """``status_overrides`` (decision code -> status name), ``page_size`` (50),
    ``token_path``."""

    status_overrides: StatusOverrides = CodeTable()
    page_size: Annotated[int, option(whole_number, maximum=500)] = 50
    token_path: str = "/oauth2/token"


class CredendoClient(ApiClient):
    """Reads the API's error envelope: ``{"error": {"code", "message"}}``, or the
    OAuth2 ``{"error": "invalid_client"}``."""

    def read_error_envelope(self, payload: Any, fallback: str) -> ParsedError:
        error = payload.get("error") if isinstance(payload, dict) else None
        if isinstance(error, str):
            return ParsedError(message=error, code=error)
        if isinstance(error, dict) and error.get("code"):
            code = str(error["code"])
            return ParsedError(message=str(error.get("message") or code), code=code)
        return ParsedError(message=fallback)


class CredendoAdapter:
    """An :class:`~tci_gateway.adapters.contract.InsurerAdapter` for the Credendo shape."""

    capabilities = Capabilities(
        buyer_search=True,
        cover_requests=True,
        async_cover_requests=True,
        portfolio=True,
        pagination="page",
    )

    def __init__(self, context: AdapterContext, options: CredendoOptions) -> None:
        self.name = context.name
        self.options = options
        auth = OAuth2ClientCredentials(
            context,
            client_id=context.credentials["client_id"],
            client_secret=context.credentials["client_secret"],
            token_path=options.token_path,
        )
        self.client = CredendoClient.from_context(context, auth=auth)

    def search_buyers(self, query: BuyerQuery) -> list[BuyerMatch]:
        params = {"country": to_alpha3(query.country)}
        if query.identifier is not None and query.identifier.scheme is Scheme.VAT:
            prefix = vat_prefix(query.country)  # the API takes the number without it
            params["nationalId"] = query.identifier.value.removeprefix(prefix)
        elif query.name:
            params["name"] = query.name
        else:
            return []  # the API searches by VAT number or name only
        answer = self.client.request("GET", "/v1/debtors", params=params)
        return [
            self._read(lambda r: to_match(Debtor.from_record(r), self.name), record, answer)
            for record in records_at("debtors")(answer) or ()
        ]

    def fetch_portfolio(self, policy: PolicyRef) -> Iterator[PortfolioItem]:
        paginator = PageNumberPaginator(
            page_size=self.options.page_size,
            total_pages=lambda answer: int_or_none(value_at(answer.payload, "totalPages")),
        )
        path = f"{_policy_path(policy)}/limits"
        pages = Pages(self.client, path, paginator, records=records_at("items"))
        for page in pages:
            for row, record in enumerate(page.records, start=page.first_row + 1):
                try:
                    limit = Limit.from_record(record)
                    yield PortfolioEntry(
                        insurer_buyer_id=limit.debtor_id,
                        buyer_name=limit.debtor_name,
                        buyer_country=find_alpha2(limit.debtor_country),
                        decision=to_decision(limit, policy.currency, self.options.status_overrides),
                        raw=limit.raw,
                    )
                except (ValueError, MappingError) as exc:  # ValidationError is a ValueError
                    yield record_error(f"{self.name} limits", row, exc, f"record {row}: ")

    def request_cover(self, request: CoverRequest) -> CoverRequestResult:
        body: dict[str, Any] = {
            "debtorId": request.insurer_buyer_id,
            "type": request.action.value,
            "urgent": request.urgent,
        }
        if request.amount is not None:
            body["amount"] = {
                "value": str(request.amount.amount),
                "currency": request.amount.currency,
            }
        answer = self.client.request(
            "POST",
            f"{_policy_path(request.policy)}/applications",
            json_body=body,
            client_reference=request.client_reference,
            headers={"Idempotency-Key": request.client_reference},  # this call only
        )
        return self._result(answer.payload, request.policy, answer)

    def request_status(
        self, policy: PolicyRef, insurer_request_ref: str
    ) -> CoverRequestResult | None:
        path = f"{_policy_path(policy)}/applications/{insurer_request_ref}"
        answer = none_if_not_found(lambda: self.client.request("GET", path), coded_only=True)
        return None if answer is None else self._result(answer.payload, policy, answer)

    def find_request(self, policy: PolicyRef, client_reference: str) -> CoverRequestResult | None:
        answer = self.client.request(
            "GET",
            f"{_policy_path(policy)}/applications",
            params={"customerReference": client_reference},
        )
        found = records_at("items")(answer) or ()
        return self._result(found[0], policy, answer) if found else None

    def close(self) -> None:
        self.client.close()

    def _result(self, record: Any, policy: PolicyRef, answer: ApiResponse) -> CoverRequestResult:
        def read(raw: Any) -> CoverRequestResult:
            application = Application.from_record(raw)
            limit = application.limit
            return CoverRequestResult(
                client_reference=application.customer_reference,
                insurer_request_ref=application.application_id,
                pending=limit is None,
                decision=None
                if limit is None
                else to_decision(limit, policy.currency, self.options.status_overrides),
            )

        return self._read(read, record, answer)

    def _read(self, parse: Callable[[Any], T], record: Any, answer: ApiResponse) -> T:
        return parse_model(
            parse,
            record,
            "unreadable record",
            adapter=self.name,
            response=answer,
            also=(MappingError,),
        )


def _policy_path(policy: PolicyRef) -> str:
    policy_id = policy.external_ref.get("policy_id")
    if not policy_id:
        raise ConfigError(f"policy {policy.key!r}: external_ref needs policy_id (Credendo)")
    return f"/v1/policies/{policy_id}"
