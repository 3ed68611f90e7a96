"""The Creditsafe plugin, registered in the entry-point group ``tci_gateway.adapters``.

Credentials: ``username`` and ``password``, from the environment as
``TCI_BUREAUS__<NAME>__CREDENTIALS__USERNAME`` (and ``__PASSWORD``). Options:
:class:`.options.CreditsafeOptions` (``page_size``, ``language``, ``status_map``,
``rating_bands``, ``registration_schemes``, ``token_lifetime``, ``token_prefix``).
Base URLs: :data:`PUBLIC_BASE_URL` and Creditsafe's own sandbox
:data:`VENDOR_SANDBOX_BASE_URL` (needs an account).

Sandbox options (``PLUGIN.create_sandbox``): ``seed`` (a JSON file path or a mapping, see
:meth:`.sandbox.CreditsafeSandbox.seed`), ``credentials``, ``clock``, ``token_ttl``,
``empty_search_status``.
"""

from __future__ import annotations

from tci_gateway.adapters.contract import AdapterContext, AdapterPlugin
from tci_gateway.adapters.toolkit import sandbox_factory
from tci_gateway.http.auth import TokenCache

from .auth import CreditsafeAuth
from .client import CreditsafeAdapter, CreditsafeClient
from .options import CreditsafeOptions
from .sandbox import CreditsafeSandbox

CREDENTIAL_NAMES = ("username", "password")
PUBLIC_BASE_URL = "https://connect.creditsafe.com/v1"
VENDOR_SANDBOX_BASE_URL = "https://connect.sandbox.creditsafe.com/v1"
SANDBOX_BASE_URL = "https://sandbox.creditsafe.invalid"


def create_adapter(
    context: AdapterContext, *, token_cache: TokenCache | None = None
) -> CreditsafeAdapter:
    """The adapter for ``context``; credentials, base URL and options are checked first
    (:meth:`~tci_gateway.adapters.options.AdapterOptions.from_context`)."""
    options = CreditsafeOptions.from_context(
        context, plugin="creditsafe", kind="bureau", credentials=CREDENTIAL_NAMES
    )
    auth = CreditsafeAuth(
        context,
        cache=token_cache,
        token_lifetime=options.token_lifetime,
        token_prefix=options.token_prefix,
    )
    client = CreditsafeClient.from_context(context, auth=auth)
    return CreditsafeAdapter(context.name, client, options=options)


PLUGIN = AdapterPlugin(
    name="creditsafe",
    kind="bureau",
    description="Creditsafe Connect: company search (criteria waterfall), A-E rating and limit",
    create=create_adapter,
    credential_names=CREDENTIAL_NAMES,
    create_sandbox=sandbox_factory(CreditsafeSandbox, what="creditsafe sandbox"),
    sandbox_base_url=SANDBOX_BASE_URL,
)
