"""The GLEIF plugin, registered in the entry-point group ``tci_gateway.adapters``.

No credentials. Options (see :class:`.client.GleifAdapter`): ``registration_authorities``,
``name_search``, ``page_size``, ``max_pages``, ``parents_in_search``. The base URL of the
public API is :data:`PUBLIC_BASE_URL`.

Sandbox options (:func:`create_sandbox`): ``seed`` (a JSON file path or a mapping, see
:meth:`.sandbox.GleifSandbox.seed`), ``clock``, ``rate_limit``, ``rate_window``,
``max_page_size``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tci_gateway.adapters.contract import AdapterContext, AdapterPlugin
from tci_gateway.adapters.options import refuse_unknown, sandbox_options
from tci_gateway.errors import ConfigError

from .client import GleifAdapter, GleifClient
from .sandbox import GleifSandbox

CREDENTIAL_NAMES: tuple[str, ...] = ()
OPTIONS = frozenset(
    {"registration_authorities", "name_search", "page_size", "max_pages", "parents_in_search"}
)
"""The adapter options the gleif adapter reads; any other is refused."""
PUBLIC_BASE_URL = "https://api.gleif.org/api/v1"
SANDBOX_BASE_URL = "https://sandbox.gleif.invalid"


def create_adapter(context: AdapterContext) -> GleifAdapter:
    """Build the adapter from its context (no credentials needed)."""
    if not context.base_url.startswith(("https://", "http://")):
        raise ConfigError(
            f"bureau {context.name!r} (gleif): base_url {context.base_url!r} is not a URL"
        )
    refuse_unknown(context.options, OPTIONS, what=f"bureau {context.name!r} (gleif)")
    client = GleifClient(
        adapter=context.name,
        base_url=context.base_url,
        transport=context.transport,
        timeouts=context.timeouts,
        retry=context.retry,
    )
    return GleifAdapter(context.name, client, options=context.options)


def create_sandbox(options: Mapping[str, Any]) -> GleifSandbox:
    """A sandbox from options: ``seed`` plus the keyword options of :class:`GleifSandbox`."""
    opts, seed = sandbox_options(options, GleifSandbox, what="gleif sandbox")
    if seed is not None:
        return GleifSandbox.from_seed(seed, **opts)
    return GleifSandbox(**opts)


PLUGIN = AdapterPlugin(
    name="gleif",
    kind="bureau",
    description="GLEIF LEI register: search, parents and the LEI to national-id crosswalk",
    create=create_adapter,
    credential_names=CREDENTIAL_NAMES,
    create_sandbox=create_sandbox,
    sandbox_base_url=SANDBOX_BASE_URL,
)
