"""The Allianz Trade plugin, registered in the entry-point group ``tci_gateway.adapters``.

Credential: ``api_key``, from the environment as
``TCI_INSURERS__<NAME>__CREDENTIALS__API_KEY``. Base URLs: production
``https://api.allianz-trade.com``; UAT ``https://api-services.uat.1placedessaisons.com``
with ``path_preset = "uat"`` (paths prefixed ``uatm``).

Adapter options (:class:`.options.AllianzOptions`): ``path_preset``, ``paths``,
``status_overrides``, ``business_unit_code``, ``page_size``, ``first_page``,
``max_pages``, ``id_type_codes``, ``company_identifier_type_code``,
``search_requested_size``, ``search_minimum_score``, ``request_type_codes``,
``reference_field``, ``pending_request_status``, ``callback_url``, ``callback_header``,
``callback_ttl_hours``, ``callback_extended``.

Sandbox options (:func:`create_sandbox`): ``seed`` (a JSON file path or a mapping, see
:meth:`.sandbox.AllianzSandbox.seed`), ``credentials``, ``clock``, ``token_ttl``,
``auto_approve_up_to``, ``decision_delay``, ``partial_ratio``, ``path_preset``,
``paths``, ``max_page_size``, ``callback_header``, ``reference_field``,
``post_callbacks`` (POST each notification to its ``callbackUrl``, deciding due
requests on its own), ``callback_retry_seconds``.
"""

from __future__ import annotations

from tci_gateway.adapters.contract import AdapterContext, AdapterPlugin
from tci_gateway.adapters.toolkit import sandbox_factory
from tci_gateway.http.auth import TokenCache

from .auth import AllianzAuth
from .client import AllianzAdapter
from .http_client import AllianzClient
from .options import AllianzOptions
from .sandbox import AllianzSandbox

CREDENTIAL_NAMES = ("api_key",)
SANDBOX_BASE_URL = "https://sandbox.allianz-trade.invalid"


def create_adapter(
    context: AdapterContext, *, token_cache: TokenCache | None = None
) -> AllianzAdapter:
    """The adapter for ``context``; credentials, base URL and options are checked first
    (:meth:`~tci_gateway.adapters.options.AdapterOptions.from_context`)."""
    options = AllianzOptions.from_context(
        context, plugin="allianz", kind="insurer", credentials=CREDENTIAL_NAMES
    )
    auth = AllianzAuth(context, token_path=options.paths["token"], cache=token_cache)
    client = AllianzClient.from_context(context, auth=auth)
    return AllianzAdapter(context.name, client, options=options)


create_sandbox = sandbox_factory(AllianzSandbox, what="allianz sandbox")


PLUGIN = AdapterPlugin(
    name="allianz",
    kind="insurer",
    description=(
        "Allianz Trade (ex Euler Hermes): buyer search, asynchronous cover requests, "
        "covers portfolio, payment overdues, callbacks"
    ),
    create=create_adapter,
    credential_names=CREDENTIAL_NAMES,
    create_sandbox=create_sandbox,
    sandbox_base_url=SANDBOX_BASE_URL,
)
