"""``tci sandbox serve``: an adapter's sandbox on loopback, for integration work and tests."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer

from tci_gateway.errors import ConfigError

sandbox_app = typer.Typer(help="Built-in insurer and bureau sandboxes.", no_args_is_help=True)


@sandbox_app.command("serve")
def serve(
    adapter: Annotated[str, typer.Argument(help="Adapter name, e.g. atradius.")],
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port on 127.0.0.1 (0 picks a free one).")
    ] = 0,
    seed: Annotated[Path | None, typer.Option(help="Seed file of the sandbox's data.")] = None,
    post_callbacks: Annotated[
        bool,
        typer.Option(
            "--post-callbacks",
            help="Decide asynchronous requests on time and POST each callback to the URL "
            "the request named (sandboxes of insurers that call back: allianz).",
        ),
    ] = False,
) -> None:
    """Serve a sandbox on 127.0.0.1 until interrupted. Prints one JSON line with the URL
    and the sandbox's test credentials."""
    from tci_gateway.adapters.loopback import LoopbackServer
    from tci_gateway.adapters.registry import load_plugin

    try:
        plugin = load_plugin(adapter)
    except LookupError as exc:
        raise ConfigError(str(exc)) from None
    if plugin.create_sandbox is None:
        raise ConfigError(f"adapter {adapter!r} has no sandbox")
    options: dict[str, Any] = {}
    if seed is not None:
        if not seed.is_file():
            raise ConfigError(f"seed file {seed} not found")
        options["seed"] = str(seed)
    if post_callbacks:
        options["post_callbacks"] = True
    sandbox = plugin.create_sandbox(options)
    server = LoopbackServer(sandbox, port=port)
    sys.stdout.write(
        json.dumps(
            {"adapter": adapter, "url": server.url, "credentials": dict(sandbox.credentials)}
        )
        + "\n"
    )
    sys.stdout.flush()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


@sandbox_app.command("list")
def list_sandboxes() -> None:
    """Adapters that have a sandbox."""
    from tci_gateway.adapters.registry import available, load_plugin

    for name in available():
        plugin = load_plugin(name)
        if plugin.create_sandbox is not None:
            sys.stdout.write(f"{name}\t{plugin.kind}\t{plugin.description}\n")


def register(app: typer.Typer) -> None:
    app.add_typer(sandbox_app, name="sandbox")
