"""`tci buyers search` and `tci cover request|status` from the CLI against all three
insurer sandboxes, served on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tci_gateway.adapters.loopback import LoopbackServer, serve_on_loopback
from tci_gateway.adapters.registry import insurer_plugins

from .conftest import run_tci

pytestmark = pytest.mark.e2e

TERMS = """currency = "EUR"
insured_percentage = 90
max_credit_period_days = 120
max_extension_days = 60
overdue_notification_days = 90
waiting_days = 180
claim_filing_days = 360
timezone = "Europe/Paris"
"""


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str], dict[str, Any]]]:
    servers: list[LoopbackServer] = []
    text = f'[database]\nurl = "sqlite:///{tmp_path / "ledger.db"}"\n'
    env: dict[str, str] = {}
    sandboxes: dict[str, Any] = {}
    rows = ["erp_account,name,country,policy,insurer_ids"]
    for plugin in insurer_plugins():
        assert plugin.create_sandbox is not None
        sandbox = plugin.create_sandbox({})
        fixture = sandbox.seed_contract_fixture()  # type: ignore[attr-defined]
        server = serve_on_loopback(sandbox)
        servers.append(server)
        name = plugin.name
        sandboxes[name] = (sandbox, fixture)
        text += f'[insurers.{name}]\nadapter = "{name}"\nbase_url = "{server.url}"\n'
        text += 'environment = "sandbox"\n'
        ref = ", ".join(f'{k} = "{v}"' for k, v in fixture.policy.external_ref.items())
        text += f'[policies.{name}-pol]\ninsurer = "{name}"\n{TERMS}external_ref = {{ {ref} }}\n'
        for key, value in sandbox.credentials.items():
            env[f"TCI_INSURERS__{name.upper()}__CREDENTIALS__{key.upper()}"] = value
        rows.append(f"ACC-{name},Buyer at {name},DE,{name}-pol,{name}:{fixture.uncovered_buyer_id}")
    config = tmp_path / "tci.toml"
    config.write_text(text, encoding="utf-8")
    buyers = tmp_path / "buyers.csv"
    buyers.write_text("\n".join(rows) + "\n", encoding="utf-8")
    for args in (("db", "upgrade"), ("import", "buyers", str(buyers))):
        run = run_tci("-c", str(config), *args, cwd=tmp_path, env=env)
        assert run.code == 0, run.stderr
    yield config, env, sandboxes
    for server in servers:
        server.close()


def test_buyer_search_reaches_every_insurer(
    world: tuple[Path, dict[str, str], dict[str, Any]], tmp_path: Path
) -> None:
    config, env, sandboxes = world
    for name, (_sandbox, fixture) in sandboxes.items():
        query = fixture.known_buyer
        assert query.identifier is not None
        ident = f"{query.identifier.scheme.value}:{query.identifier.value}"
        run = run_tci(
            "-c",
            str(config),
            "--json",
            "buyers",
            "search",
            "--country",
            query.country,
            "--id",
            ident,
            cwd=tmp_path,
            env=env,
        )
        assert run.code == 0, run.stderr
        result = run.json()
        assert {o["insurer"] for o in result["insurers"]} == set(sandboxes)
        assert all(o["status"] == "ok" for o in result["insurers"])
        found = {c["insurer_ids"].get(name) for c in result["candidates"]}
        assert fixture.known_buyer_id in found, (name, result)


def test_cover_request_and_status_at_every_insurer(
    world: tuple[Path, dict[str, str], dict[str, Any]], tmp_path: Path
) -> None:
    config, env, sandboxes = world
    for name, (_sandbox, fixture) in sandboxes.items():
        amount = str(fixture.small_amount.amount)
        run = run_tci(
            "-c",
            str(config),
            "--json",
            "cover",
            "request",
            "--buyer",
            f"ACC-{name}",
            "--policy",
            f"{name}-pol",
            "--amount",
            amount,
            cwd=tmp_path,
            env=env,
        )
        assert run.code == 0, (name, run.stdout)
        (view,) = run.json()
        assert view["state"] in ("DECIDED", "PENDING") and view["insurer_request_ref"]
    for sandbox, fixture in sandboxes.values():
        sandbox.advance((fixture.decision_delay or 0) + 1)
    status = run_tci("-c", str(config), "--json", "cover", "status", cwd=tmp_path, env=env)
    assert status.code == 0, status.stderr
    states = {v["insurer"]: (v["state"], v["outcome_status"]) for v in status.json()}
    assert set(states) == set(sandboxes)
    assert all(state == "DECIDED" and outcome for state, outcome in states.values()), states
