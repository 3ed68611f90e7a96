"""The D&B Direct+ plugin, registered in the entry-point group ``tci_gateway.adapters``.

Credentials: ``key`` and ``secret``, from the environment as
``TCI_BUREAUS__<NAME>__CREDENTIALS__KEY`` (and ``__SECRET``). Options:
:class:`.options.DnbOptions`. The base URL of the public API is :data:`PUBLIC_BASE_URL`.

Sandbox options (``PLUGIN.create_sandbox``): ``seed`` (a JSON file path or a mapping, see
:meth:`.sandbox.DnbSandbox.seed`), ``credentials``, ``clock``, ``token_ttl``,
``expired_token_status``.
"""

from __future__ import annotations

from tci_gateway.adapters.contract import AdapterContext, AdapterPlugin
from tci_gateway.adapters.toolkit import sandbox_factory
from tci_gateway.http.auth import TokenCache

from .auth import DnbAuth
from .client import DnbAdapter, DnbClient
from .options import DnbOptions
from .sandbox import DnbSandbox

CREDENTIAL_NAMES = ("key", "secret")
PUBLIC_BASE_URL = "https://plus.dnb.com"
SANDBOX_BASE_URL = "https://sandbox.dnb.invalid"


def create_adapter(context: AdapterContext, *, token_cache: TokenCache | None = None) -> DnbAdapter:
    """The adapter for ``context``; credentials, base URL and options are checked first
    (:meth:`~tci_gateway.adapters.options.AdapterOptions.from_context`)."""
    options = DnbOptions.from_context(
        context, plugin="dnb", kind="bureau", credentials=CREDENTIAL_NAMES
    )
    client = DnbClient.from_context(context, auth=DnbAuth(context, cache=token_cache))
    return DnbAdapter(context.name, client, options=options)


PLUGIN = AdapterPlugin(
    name="dnb",
    kind="bureau",
    description="Dun & Bradstreet Direct+: cleanseMatch, DUNS data blocks, failure score, limit",
    create=create_adapter,
    credential_names=CREDENTIAL_NAMES,
    create_sandbox=sandbox_factory(DnbSandbox, what="dnb sandbox"),
    sandbox_base_url=SANDBOX_BASE_URL,
)
