"""The GLEIF plugin, registered in the entry-point group ``tci_gateway.adapters``.

No credentials. Options (:class:`.options.GleifOptions`): ``registration_authorities``,
``name_search``, ``page_size``, ``max_pages``, ``parents_in_search``. The base URL of the
public API is :data:`PUBLIC_BASE_URL`.

Sandbox options (``PLUGIN.create_sandbox``): ``seed`` (a JSON file path or a mapping, see
:meth:`.sandbox.GleifSandbox.seed`), ``clock``, ``rate_limit``, ``rate_window``,
``max_page_size``.

Golden copy (``tci bureaus load``): :func:`.golden_copy.read_golden_copy` reads GLEIF's
published level-1 and level-2 CSV files, crosswalking with the same
``registration_authorities`` option.
"""

from __future__ import annotations

from tci_gateway.adapters.contract import AdapterContext, AdapterPlugin
from tci_gateway.adapters.toolkit import sandbox_factory

from .client import GleifAdapter, GleifClient
from .golden_copy import read_golden_copy
from .options import GleifOptions
from .sandbox import GleifSandbox

CREDENTIAL_NAMES: tuple[str, ...] = ()
PUBLIC_BASE_URL = "https://api.gleif.org/api/v1"
SANDBOX_BASE_URL = "https://sandbox.gleif.invalid"


def create_adapter(context: AdapterContext) -> GleifAdapter:
    """Build the adapter from its context (no credentials needed); a bad base URL or
    option is a :class:`ConfigError` naming it."""
    options = GleifOptions.from_context(context, plugin="gleif", kind="bureau")
    client = GleifClient(
        adapter=context.name,
        base_url=context.base_url,
        transport=context.transport,
        timeouts=context.timeouts,
        retry=context.retry,
    )
    return GleifAdapter(context.name, client, options=options)


PLUGIN = AdapterPlugin(
    name="gleif",
    kind="bureau",
    description="GLEIF LEI register: search, parents and the LEI to national-id crosswalk",
    create=create_adapter,
    credential_names=CREDENTIAL_NAMES,
    create_sandbox=sandbox_factory(GleifSandbox, what="gleif sandbox"),
    sandbox_base_url=SANDBOX_BASE_URL,
    read_golden_copy=read_golden_copy,
)
