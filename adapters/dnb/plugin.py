"""The D&B Direct+ plugin, registered in the entry-point group ``tci_gateway.adapters``.

Credentials: ``key`` and ``secret``, from the environment as
``TCI_BUREAUS__<NAME>__CREDENTIALS__KEY`` (and ``__SECRET``). Options: those of
:class:`.client.DnbAdapter`. The base URL of the public API is :data:`PUBLIC_BASE_URL`.

Sandbox options (:func:`create_sandbox`): ``seed`` (a JSON file path or a mapping, see
:meth:`.sandbox.DnbSandbox.seed`), ``credentials``, ``clock``, ``token_ttl``,
``expired_token_status``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tci_gateway.adapters.contract import AdapterContext, AdapterPlugin
from tci_gateway.adapters.options import refuse_unknown, sandbox_options
from tci_gateway.errors import ConfigError
from tci_gateway.http.auth import TokenCache

from .auth import DnbAuth
from .client import DnbAdapter, DnbClient
from .sandbox import DnbSandbox

CREDENTIAL_NAMES = ("key", "secret")
OPTIONS = frozenset(
    {
        "registration_types",
        "candidate_maximum",
        "confidence_threshold",
        "company_blocks",
        "assessment_blocks",
        "order_reason",
        "trade_up",
        "paydex_path",
    }
)
"""The adapter options the dnb adapter reads; any other is refused."""
PUBLIC_BASE_URL = "https://plus.dnb.com"
SANDBOX_BASE_URL = "https://sandbox.dnb.invalid"


def _env_name(adapter: str, credential: str) -> str:
    return f"TCI_BUREAUS__{adapter.upper()}__CREDENTIALS__{credential.upper()}"


def create_adapter(context: AdapterContext, *, token_cache: TokenCache | None = None) -> DnbAdapter:
    """Build the adapter from its context. Missing credentials are a
    :class:`ConfigError` naming the environment variables to set (never the values)."""
    missing = [n for n in CREDENTIAL_NAMES if not str(context.credentials.get(n) or "").strip()]
    if missing:
        names = ", ".join(_env_name(context.name, n) for n in missing)
        raise ConfigError(
            f"bureau {context.name!r} (dnb) is missing credentials {', '.join(missing)}: "
            f"set {names}"
        )
    if not context.base_url.startswith(("https://", "http://")):
        raise ConfigError(
            f"bureau {context.name!r} (dnb): base_url {context.base_url!r} is not a URL"
        )
    refuse_unknown(context.options, OPTIONS, what=f"bureau {context.name!r} (dnb)")
    client = DnbClient.from_context(context, auth=DnbAuth(context, cache=token_cache))
    return DnbAdapter(context.name, client, options=context.options)


def create_sandbox(options: Mapping[str, Any]) -> DnbSandbox:
    """A sandbox from options: ``seed`` plus the keyword options of :class:`DnbSandbox`."""
    opts, seed = sandbox_options(options, DnbSandbox, what="dnb sandbox")
    if seed is not None:
        return DnbSandbox.from_seed(seed, **opts)
    return DnbSandbox(**opts)


PLUGIN = AdapterPlugin(
    name="dnb",
    kind="bureau",
    description="Dun & Bradstreet Direct+: cleanseMatch, DUNS data blocks, failure score, limit",
    create=create_adapter,
    credential_names=CREDENTIAL_NAMES,
    create_sandbox=create_sandbox,
    sandbox_base_url=SANDBOX_BASE_URL,
)
