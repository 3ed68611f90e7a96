"""The Atradius plugin, registered in the entry-point group ``tci_gateway.adapters``.

Credentials: ``client_id``, ``client_secret`` and ``app_key``, from the environment as
``TCI_INSURERS__<NAME>__CREDENTIALS__CLIENT_ID`` (and so on). Options:
:class:`.options.AtradiusOptions` (``status_overrides``, ``customer_id``).

Sandbox options (``PLUGIN.create_sandbox``): ``seed`` (a JSON file path or a mapping, see
:meth:`.sandbox.AtradiusSandbox.from_seed`), ``credentials``, ``clock``, ``token_ttl``,
``auto_approve_up_to``, ``decision_delay``, ``partial_ratio``.
"""

from __future__ import annotations

from tci_gateway.adapters.contract import AdapterContext, AdapterPlugin
from tci_gateway.adapters.toolkit import sandbox_factory
from tci_gateway.http.auth import TokenCache

from .auth import AtradiusAuth
from .client import AtradiusAdapter, AtradiusClient
from .options import AtradiusOptions
from .sandbox import AtradiusSandbox

CREDENTIAL_NAMES = ("client_id", "client_secret", "app_key")
SANDBOX_BASE_URL = "https://sandbox.atradius.invalid"


def create_adapter(
    context: AdapterContext, *, token_cache: TokenCache | None = None
) -> AtradiusAdapter:
    """The adapter for ``context``; credentials, base URL and options are checked first
    (:meth:`~tci_gateway.adapters.options.AdapterOptions.from_context`)."""
    options = AtradiusOptions.from_context(
        context, plugin="atradius", kind="insurer", credentials=CREDENTIAL_NAMES
    )
    client = AtradiusClient.from_context(context, auth=AtradiusAuth(context, cache=token_cache))
    return AtradiusAdapter(context.name, client, options=options)


PLUGIN = AdapterPlugin(
    name="atradius",
    kind="insurer",
    description="Atradius credit insurance: buyers, covers (credit limits and checks), policies",
    create=create_adapter,
    credential_names=CREDENTIAL_NAMES,
    create_sandbox=sandbox_factory(AtradiusSandbox, what="atradius sandbox"),
    sandbox_base_url=SANDBOX_BASE_URL,
)
