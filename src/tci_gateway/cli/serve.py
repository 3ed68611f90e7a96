"""``tci serve`` (the HTTP API) and ``tci keys create|list|revoke`` (its API keys)."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer

from tci_gateway.cli.output import Col, Grid
from tci_gateway.cli.state import State
from tci_gateway.cli.state import state_of as _state
from tci_gateway.errors import ConfigError
from tci_gateway.ledger import api_keys

keys_app = typer.Typer(help="API keys for the HTTP API (tci serve).", no_args_is_help=True)


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8080,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Worker processes (PostgreSQL only above 1).")
    ] = 1,
    with_scheduler: Annotated[
        bool,
        typer.Option(
            "--with-scheduler",
            help="Also run the scheduler (as `tci scheduler run`) in this process; "
            "instances on one PostgreSQL ledger keep one leader.",
        ),
    ] = False,
) -> None:
    """Run the HTTP API on the configured ledger (docs at /docs, OpenAPI at /openapi.json)."""
    import uvicorn

    from tci_gateway.api import factory
    from tci_gateway.ledger.engine import display_url
    from tci_gateway.web.app import create_service

    state = _state(ctx)
    wiring = state.wiring()
    url = wiring.settings.database.url
    sqlite = url.startswith("sqlite")
    if sqlite and workers > 1:
        raise ConfigError(
            "a SQLite ledger is served by one process: use --workers 1, or PostgreSQL "
            "for several workers or instances"
        )
    api_ctx = factory.build_context(state.config, as_of=state.as_of, instance=_instance())
    scheduler = None
    if with_scheduler and workers == 1:
        from tci_gateway.api.scheduler_thread import SchedulerThread

        scheduler = SchedulerThread(api_ctx)
        scheduler.lead_now()  # SQLite: one scheduler per ledger, said before serving
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 (a URL to print)
    workspace = wiring.settings.web.enabled
    state.output.info(
        f"tci serve: http://{shown}:{port}/ "
        + ("(workspace: sign in there; API docs at /docs)" if workspace else "(docs at /docs)")
        + f" on {display_url(url)}"
        + (" (SQLite: single instance)" if sqlite else f", {workers} worker(s)")
        + (", with the scheduler" if with_scheduler else "")
    )
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_config": None,
        "access_log": False,
        "server_header": False,
        "timeout_graceful_shutdown": 10,
        # A spawned worker imports the whole CLI before it answers the supervisor's ping:
        # on a loaded machine that takes more than uvicorn's default 5 s, and the worker
        # was killed and respawned forever.
        "timeout_worker_healthcheck": 60,
    }
    if workers == 1:
        app = create_service(api_ctx)
        if scheduler is not None:
            from tci_gateway.api.scheduler_thread import attach

            attach(app, scheduler)
        uvicorn.run(app, **options)
        return
    api_ctx.ledger.dispose()
    _export_for_workers(state)
    if with_scheduler:
        os.environ[factory.ENV_WITH_SCHEDULER] = "1"
    from tci_gateway.api.metrics import multiprocess_directory

    with multiprocess_directory():  # the workers' counters, summed by any worker's /metrics
        uvicorn.run(
            "tci_gateway.web.factory:app_from_environment",
            factory=True,
            workers=workers,
            **options,
        )


def _instance() -> str:
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


def _export_for_workers(state: State) -> None:
    from tci_gateway.api import factory

    if state.config is not None:
        os.environ[factory.ENV_CONFIG] = str(state.config.resolve())
    if state.as_of is not None:
        os.environ[factory.ENV_AS_OF] = state.as_of.isoformat()
    os.environ[factory.ENV_INSTANCE] = _instance()
    if state.log_format:
        os.environ[factory.ENV_LOG_FORMAT] = state.log_format
    if state.log_level:
        os.environ[factory.ENV_LOG_LEVEL] = state.log_level


ScopeOption = Annotated[
    list[str],
    typer.Option(
        "--scope",
        help="A scope (repeat for several): " + ", ".join(sorted(api_keys.SCOPES)) + ".",
    ),
]


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", help="A name for the key (e.g. erp-sap).")],
    scope: ScopeOption,
    policy: Annotated[
        list[str] | None,
        typer.Option("--policy", help="Restrict the key to this policy (repeat for several)."),
    ] = None,
    expires_in_days: Annotated[
        int | None, typer.Option(min=1, help="The key expires after this many days.")
    ] = None,
) -> None:
    """Create an API key. Its secret is printed once: store it now, it cannot be shown again."""
    state = _state(ctx)
    wiring = state.wiring()
    if policy:
        unknown = sorted(set(policy) - set(wiring.settings.policies))
        if unknown:
            known = ", ".join(sorted(wiring.settings.policies)) or "none"
            raise typer.BadParameter(
                f"unknown policy {', '.join(unknown)} (configured: {known})", param_hint="--policy"
            )
    now = state.now()
    expires = now + timedelta(days=expires_in_days) if expires_in_days else None
    ledger = wiring.ledger()
    try:
        with ledger.unit_of_work() as session:
            key, token = api_keys.create_key(
                session, name, scope, now=now, policies=policy or None, expires_at=expires
            )
    except api_keys.ApiKeyError as exc:
        raise typer.BadParameter(str(exc)) from None
    finally:
        ledger.dispose()
    if state.json:
        # Written as is: the one place the secret is shown (emit_json would redact it).
        sys.stdout.write(json.dumps({**_key_json(key), "token": token}, indent=2) + "\n")
        return
    state.output.out.print(f"key {key.name} created; its secret, shown once:", markup=False)
    state.output.out.print(token, markup=False, soft_wrap=True)
    state.output.info("send it in the Authorization header (scheme: Bearer)")


@keys_app.command("list")
def keys_list(ctx: typer.Context) -> None:
    """List API keys (never their secrets)."""
    state = _state(ctx)
    ledger = state.wiring().ledger()
    try:
        with ledger.reading() as session:
            keys = api_keys.list_keys(session)
    finally:
        ledger.dispose()
    if state.json:
        state.output.emit_json([_key_json(k) for k in keys])
        return
    if not keys:
        state.output.info("no API keys: create one with `tci keys create --name NAME --scope ...`")
        return
    now = state.now()
    grid = Grid(
        "API keys",
        [
            Col("name"),
            Col("id", fixed=True),
            Col("scopes"),
            Col("policies"),
            Col("state", fixed=True),
            Col("last used", fixed=True),
        ],
    )
    for k in keys:
        grid.add_row(
            k.name,
            k.key_id,
            " ".join(sorted(k.scopes)),
            " ".join(sorted(k.policies)) if k.policies is not None else "all",
            _key_state(k, now),
            k.last_used_at.strftime("%Y-%m-%d %H:%M") if k.last_used_at else "never",
        )
    state.output.table(grid)


@keys_app.command("revoke")
def keys_revoke(ctx: typer.Context, name: str) -> None:
    """Revoke an API key: it is refused (401) from the next request on."""
    state = _state(ctx)
    ledger = state.wiring().ledger()
    try:
        with ledger.unit_of_work() as session:
            key = api_keys.revoke_key(session, name, state.now())
    except api_keys.ApiKeyError as exc:
        raise typer.BadParameter(str(exc)) from None
    finally:
        ledger.dispose()
    if state.json:
        state.output.emit_json(_key_json(key))
    else:
        state.output.out.print(f"key {key.name} revoked", markup=False)


def _key_state(key: api_keys.ApiKey, now: datetime) -> str:
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= now:
        return "expired"
    return f"expires {key.expires_at:%Y-%m-%d}" if key.expires_at else "active"


def _key_json(key: api_keys.ApiKey) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return value.astimezone(UTC).isoformat() if value else None

    return {
        "name": key.name,
        "key_id": key.key_id,
        "scopes": sorted(key.scopes),
        "policies": sorted(key.policies) if key.policies is not None else None,
        "created_at": iso(key.created_at),
        "expires_at": iso(key.expires_at),
        "revoked_at": iso(key.revoked_at),
        "last_used_at": iso(key.last_used_at),
    }


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.add_typer(keys_app, name="keys")
