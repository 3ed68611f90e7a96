"""The Coface plugin, registered in the entry-point group ``tci_gateway.adapters``.

Credentials: ``username``, ``password`` and ``api_key``, from the environment as
``TCI_INSURERS__<NAME>__CREDENTIALS__USERNAME`` (and so on). Options: see
:mod:`.options` (``paths``, ``policy_number``, ``status_overrides``,
``identifier_types``, ``actions``, ``overdue_types``, ``page_limit``, header names,
token field and scheme...). Policies name their contract in ``external_ref`` as
``policy_number``.

Sandbox options (``PLUGIN.create_sandbox``): ``seed`` (a JSON file path or a mapping, see
:meth:`.sandbox.CofaceSandbox.seed`), ``credentials``, ``clock``, ``token_ttl``,
``auto_approve_up_to``, ``decision_delay``, ``partial_ratio``, ``paths``,
``max_limit``, ``lockout_after``, ``lockout_max``, ``overdue_types``.
"""

from __future__ import annotations

from tci_gateway.adapters.contract import AdapterContext, AdapterPlugin
from tci_gateway.adapters.toolkit import sandbox_factory
from tci_gateway.http.auth import TokenCache

from .auth import CofaceAuth
from .client import CofaceAdapter, CofaceClient
from .options import CofaceOptions
from .sandbox import CofaceSandbox

CREDENTIAL_NAMES = ("username", "password", "api_key")
SANDBOX_BASE_URL = "https://sandbox.coface.invalid"


def create_adapter(
    context: AdapterContext, *, token_cache: TokenCache | None = None
) -> CofaceAdapter:
    """The adapter for ``context``; credentials, base URL and options are checked first
    (:meth:`~tci_gateway.adapters.options.AdapterOptions.from_context`)."""
    options = CofaceOptions.from_context(
        context, plugin="coface", kind="insurer", credentials=CREDENTIAL_NAMES
    )
    auth = CofaceAuth(context, options=options, cache=token_cache)
    client = CofaceClient.from_context(context, auth=auth)
    return CofaceAdapter(context.name, client)


PLUGIN = AdapterPlugin(
    name="coface",
    kind="insurer",
    description=(
        "Coface CofaServe: companies (EasyNumber), credit-limit orders, portfolio decisions, "
        "overdue declarations (paths synthetic, configurable)"
    ),
    create=create_adapter,
    credential_names=CREDENTIAL_NAMES,
    create_sandbox=sandbox_factory(CofaceSandbox, what="coface sandbox"),
    sandbox_base_url=SANDBOX_BASE_URL,
)
