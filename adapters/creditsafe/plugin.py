"""The Creditsafe plugin, registered in the entry-point group ``tci_gateway.adapters``.

Credentials: ``username`` and ``password``, from the environment as
``TCI_BUREAUS__<NAME>__CREDENTIALS__USERNAME`` (and ``__PASSWORD``). Options: those of
:class:`.client.CreditsafeAdapter` plus ``token_lifetime`` (3600 s, used when the JWT
cannot be read) and ``token_prefix`` (``""``: the bare token in ``Authorization``).
Base URLs: :data:`PUBLIC_BASE_URL` and Creditsafe's own sandbox
:data:`VENDOR_SANDBOX_BASE_URL` (needs an account).

Sandbox options (:func:`create_sandbox`): ``seed`` (a JSON file path or a mapping, see
:meth:`.sandbox.CreditsafeSandbox.seed`), ``credentials``, ``clock``, ``token_ttl``,
``empty_search_status``.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from tci_gateway.adapters.contract import AdapterContext, AdapterPlugin
from tci_gateway.adapters.options import refuse_unknown, sandbox_options
from tci_gateway.errors import ConfigError
from tci_gateway.http.auth import TokenCache

from .auth import DEFAULT_TOKEN_LIFETIME, CreditsafeAuth
from .client import CreditsafeAdapter, CreditsafeClient
from .sandbox import CreditsafeSandbox

CREDENTIAL_NAMES = ("username", "password")
OPTIONS = frozenset(
    {
        "status_map",
        "rating_bands",
        "registration_schemes",
        "page_size",
        "language",
        "token_lifetime",
        "token_prefix",
    }
)
"""The adapter options the creditsafe adapter reads; any other is refused."""
PUBLIC_BASE_URL = "https://connect.creditsafe.com/v1"
VENDOR_SANDBOX_BASE_URL = "https://connect.sandbox.creditsafe.com/v1"
SANDBOX_BASE_URL = "https://sandbox.creditsafe.invalid"


def _env_name(adapter: str, credential: str) -> str:
    return f"TCI_BUREAUS__{adapter.upper()}__CREDENTIALS__{credential.upper()}"


def create_adapter(
    context: AdapterContext, *, token_cache: TokenCache | None = None
) -> CreditsafeAdapter:
    """Build the adapter from its context. Missing credentials are a
    :class:`ConfigError` naming the environment variables to set (never the values)."""
    missing = [n for n in CREDENTIAL_NAMES if not str(context.credentials.get(n) or "").strip()]
    if missing:
        names = ", ".join(_env_name(context.name, n) for n in missing)
        raise ConfigError(
            f"bureau {context.name!r} (creditsafe) is missing credentials "
            f"{', '.join(missing)}: set {names}"
        )
    if not context.base_url.startswith(("https://", "http://")):
        raise ConfigError(
            f"bureau {context.name!r} (creditsafe): base_url {context.base_url!r} is not a URL"
        )
    refuse_unknown(context.options, OPTIONS, what=f"bureau {context.name!r} (creditsafe)")
    lifetime = context.options.get("token_lifetime", DEFAULT_TOKEN_LIFETIME)
    if (
        isinstance(lifetime, bool)
        or not isinstance(lifetime, int | float | Decimal)
        or lifetime <= 0
    ):
        raise ConfigError(f"bureau {context.name!r}: token_lifetime must be positive seconds")
    auth = CreditsafeAuth(
        context,
        cache=token_cache,
        token_lifetime=float(lifetime),
        token_prefix=str(context.options.get("token_prefix", "")),
    )
    client = CreditsafeClient.from_context(context, auth=auth)
    return CreditsafeAdapter(context.name, client, options=context.options)


def create_sandbox(options: Mapping[str, Any]) -> CreditsafeSandbox:
    """A sandbox from options: ``seed`` plus the keyword options of
    :class:`CreditsafeSandbox`."""
    opts, seed = sandbox_options(options, CreditsafeSandbox, what="creditsafe sandbox")
    if seed is not None:
        return CreditsafeSandbox.from_seed(seed, **opts)
    return CreditsafeSandbox(**opts)


PLUGIN = AdapterPlugin(
    name="creditsafe",
    kind="bureau",
    description="Creditsafe Connect: company search (criteria waterfall), A-E rating and limit",
    create=create_adapter,
    credential_names=CREDENTIAL_NAMES,
    create_sandbox=create_sandbox,
    sandbox_base_url=SANDBOX_BASE_URL,
)
