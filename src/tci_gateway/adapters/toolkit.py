"""The adapter toolkit: the public API for plugin authors.

An insurer or bureau adapter is built from the pieces re-exported here (see
``docs/adapters.md``): authenticators, paginators and the record iterator, the options
model, status overrides, country and identifier helpers, mapping and error-mapping
helpers, and the HTTP client they all use. Import from this module, not from the
modules behind it: they may move, these names stay. Each helper's names are
listed in ``__all__`` (one ``__all__ +=`` line per module).
"""

from tci_gateway.adapters.paging import (
    CursorPaginator,
    NextLinkPaginator,
    OffsetPaginator,
    Page,
    PageNumberPaginator,
    PageRequest,
    Pages,
    Paginator,
    SinglePagePaginator,
    int_or_none,
    iter_records,
    records_at,
    value_at,
)
from tci_gateway.adapters.responses import (
    describe,
    none_if_not_found,
    parse_answer,
    parse_model,
    protocol_error,
    record_error,
    unreadable,
)

__all__ = [
    "CursorPaginator",
    "NextLinkPaginator",
    "OffsetPaginator",
    "Page",
    "PageNumberPaginator",
    "PageRequest",
    "Pages",
    "Paginator",
    "SinglePagePaginator",
    "int_or_none",
    "iter_records",
    "records_at",
    "value_at",
]
__all__ += [
    "describe",
    "none_if_not_found",
    "parse_answer",
    "parse_model",
    "protocol_error",
    "record_error",
    "unreadable",
]

# T2: options, status overrides, countries, mapping errors.
from tci_gateway.adapters.countries import (  # noqa: E402
    find_alpha2,
    find_identifier,
    read_identifier,
    to_alpha2,
    to_alpha3,
    vat_number,
    vat_prefix,
)
from tci_gateway.adapters.mapping import MappingError, currency, money, require, utc  # noqa: E402
from tci_gateway.adapters.options import (  # noqa: E402
    AdapterOptions,
    adapter_label,
    check_base_url,
    check_credentials,
    code,
    credential_env_name,
    decimal_option,
    flag,
    header_name,
    https_url,
    option,
    optional_text,
    plain_text,
    refuse_unknown,
    sandbox_factory,
    table,
    whole_number,
)
from tci_gateway.adapters.overrides import (  # noqa: E402
    CodeTable,
    StatusOverrides,
    code_key,
    enum_value,
    parse_code_table,
    parse_status_overrides,
)

__all__ += [
    "AdapterOptions",
    "CodeTable",
    "MappingError",
    "StatusOverrides",
    "adapter_label",
    "check_base_url",
    "check_credentials",
    "code",
    "code_key",
    "credential_env_name",
    "currency",
    "decimal_option",
    "enum_value",
    "find_alpha2",
    "find_identifier",
    "flag",
    "header_name",
    "https_url",
    "money",
    "option",
    "optional_text",
    "parse_code_table",
    "parse_status_overrides",
    "plain_text",
    "read_identifier",
    "refuse_unknown",
    "require",
    "sandbox_factory",
    "table",
    "to_alpha2",
    "to_alpha3",
    "utc",
    "vat_number",
    "vat_prefix",
    "whole_number",
]

# T1: authenticators and the HTTP client.
from tci_gateway.adapters.auth import (  # noqa: E402
    ApiKeyTokenAuth,
    OAuth2ClientCredentials,
    PasswordTokenAuth,
    StaticKeyAuth,
    TokenAuth,
    secret_fingerprint,
)
from tci_gateway.http.auth import TokenCache, basic_credentials  # noqa: E402
from tci_gateway.http.client import ApiClient, ApiResponse, ParsedError  # noqa: E402

__all__ += [
    "ApiClient",
    "ApiKeyTokenAuth",
    "ApiResponse",
    "OAuth2ClientCredentials",
    "ParsedError",
    "PasswordTokenAuth",
    "StaticKeyAuth",
    "TokenAuth",
    "TokenCache",
    "basic_credentials",
    "secret_fingerprint",
]

# T4: the wire-model base and the field types every adapter's wire.py reads with.
from tci_gateway.adapters.wire import (  # noqa: E402
    Amount,
    OptText,
    Text,
    TextTimestamp,
    Timestamp,
    WireModel,
)

__all__ += ["Amount", "OptText", "Text", "TextTimestamp", "Timestamp", "WireModel"]
