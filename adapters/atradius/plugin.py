"""The Atradius plugin, registered in the entry-point group ``tci_gateway.adapters``.

Credentials: ``client_id``, ``client_secret`` and ``app_key``, from the environment as
``TCI_INSURERS__<NAME>__CREDENTIALS__CLIENT_ID`` (and so on). Options:
``status_overrides`` (raw code -> status name) and ``customer_id`` (default for
policies whose ``external_ref`` has none).

Sandbox options (:func:`create_sandbox`): ``seed`` (a JSON file path or a mapping, see
:meth:`.sandbox.AtradiusSandbox.from_seed`), ``credentials``, ``clock``, ``token_ttl``,
``auto_approve_up_to``, ``decision_delay``, ``partial_ratio``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tci_gateway.adapters.contract import AdapterContext, AdapterPlugin
from tci_gateway.adapters.options import refuse_unknown, sandbox_options
from tci_gateway.errors import ConfigError
from tci_gateway.http.auth import TokenCache

from .auth import AtradiusAuth
from .client import AtradiusAdapter, AtradiusClient
from .sandbox import AtradiusSandbox

CREDENTIAL_NAMES = ("client_id", "client_secret", "app_key")
OPTIONS = frozenset({"status_overrides", "customer_id"})
"""The adapter options :class:`.client.AtradiusAdapter` reads; any other is refused."""
SANDBOX_BASE_URL = "https://sandbox.atradius.invalid"


def _env_name(adapter: str, credential: str) -> str:
    return f"TCI_INSURERS__{adapter.upper()}__CREDENTIALS__{credential.upper()}"


def create_adapter(
    context: AdapterContext, *, token_cache: TokenCache | None = None
) -> AtradiusAdapter:
    """Build the adapter from its context. Missing credentials are a
    :class:`ConfigError` naming the environment variables to set (never the values)."""
    missing = [n for n in CREDENTIAL_NAMES if not str(context.credentials.get(n) or "").strip()]
    if missing:
        names = ", ".join(_env_name(context.name, n) for n in missing)
        raise ConfigError(
            f"insurer {context.name!r} (atradius) is missing credentials {', '.join(missing)}: "
            f"set {names}"
        )
    if not context.base_url.startswith(("https://", "http://")):
        raise ConfigError(
            f"insurer {context.name!r} (atradius): base_url {context.base_url!r} is not a URL"
        )
    refuse_unknown(context.options, OPTIONS, what=f"insurer {context.name!r} (atradius)")
    client = AtradiusClient.from_context(context, auth=AtradiusAuth(context, cache=token_cache))
    return AtradiusAdapter(context.name, client, options=context.options)


def create_sandbox(options: Mapping[str, Any]) -> AtradiusSandbox:
    """A sandbox from options: ``seed`` plus the keyword options of
    :class:`AtradiusSandbox`; an unknown option or a missing seed file is a
    :class:`ConfigError`."""
    opts, seed = sandbox_options(options, AtradiusSandbox, what="atradius sandbox")
    if seed is not None:
        return AtradiusSandbox.from_seed(seed, **opts)
    return AtradiusSandbox(**opts)


PLUGIN = AdapterPlugin(
    name="atradius",
    kind="insurer",
    description="Atradius credit insurance: buyers, covers (credit limits and checks), policies",
    create=create_adapter,
    credential_names=CREDENTIAL_NAMES,
    create_sandbox=create_sandbox,
    sandbox_base_url=SANDBOX_BASE_URL,
)
