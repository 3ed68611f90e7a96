"""The tci CLI as a subprocess: bad input, configuration errors, a sync against a
sandbox served on loopback, a failing insurer, and secrets that never show."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tci_gateway.adapters.contract_testing import Fault
from tci_gateway.adapters.loopback import LoopbackServer, serve_on_loopback
from tci_gateway.adapters.registry import load_plugin

from .conftest import REPO, run_tci

pytestmark = pytest.mark.e2e

DEMO = REPO / "fixtures" / "demo"
POLICY = (DEMO / "tci.toml").read_text(encoding="utf-8").split("[policies.atradius-main]")[1]


@pytest.fixture
def sandbox_server() -> Iterator[tuple[LoopbackServer, object]]:
    plugin = load_plugin("atradius")
    assert plugin.create_sandbox is not None
    sandbox = plugin.create_sandbox(
        {"seed": str(DEMO / "atradius_sandbox.json"), "decision_delay": 10**6}
    )
    with serve_on_loopback(sandbox, hang_seconds=2) as server:
        yield server, sandbox


AS_OF = "2026-12-01T06:00:00+00:00"  # pinned: no result depends on today


def loopback_config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "tci.toml"
    path.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "ledger.db"}"\n\n'
        f"[http]\ncall_deadline = 10.0\nmax_attempts = 2\nbackoff_max = 0.1\n\n"
        f'[insurers.atradius]\nadapter = "atradius"\nbase_url = "{url}"\n'
        'environment = "sandbox"\n\n'
        f"[policies.atradius-main]{POLICY}",
        encoding="utf-8",
    )
    return path


def credentials_env(sandbox: object) -> dict[str, str]:
    creds = sandbox.credentials  # type: ignore[attr-defined]
    return {f"TCI_INSURERS__ATRADIUS__CREDENTIALS__{k.upper()}": v for k, v in creds.items()}


def prepare(tmp_path: Path, config: Path, env: dict[str, str] | None = None) -> None:
    for args in (
        ("db", "upgrade"),
        ("import", "buyers", str(DEMO / "buyers.csv")),
        ("import", "receivables", str(DEMO / "open_items.csv")),
    ):
        run = run_tci("-c", str(config), *args, cwd=tmp_path, env=env)
        assert run.code == 0, run.stderr


def test_sync_export_exposure_against_a_loopback_sandbox(
    tmp_path: Path, sandbox_server: tuple[LoopbackServer, object]
) -> None:
    server, sandbox = sandbox_server
    config = loopback_config(tmp_path, server.url)
    env = credentials_env(sandbox)
    prepare(tmp_path, config, env)
    sync = run_tci(
        "-c", str(config), "--as-of", AS_OF, "--json", "sync", "limits", cwd=tmp_path, env=env
    )
    assert sync.code == 0, sync.stderr
    (report,) = sync.json()
    assert (report["status"], report["fetched"], report["written"]) == ("succeeded", 8, 8)
    export = run_tci(
        "-c",
        str(config),
        "--as-of",
        AS_OF,
        "export",
        "limits",
        "-o",
        "limits.csv",
        cwd=tmp_path,
        env=env,
    )
    assert export.code == 0, export.stderr
    assert (tmp_path / "limits.csv").read_text(encoding="utf-8").count("\n") == 10
    over = run_tci(
        "-c",
        str(config),
        "--as-of",
        AS_OF,
        "--json",
        "exposure",
        "--over-limit",
        cwd=tmp_path,
        env=env,
    )
    names = sorted(r["buyer_name"] for r in over.json())
    assert names == [
        "Alpine Retail AG",
        "Harbour Freight Supplies Ltd",
        "Iberia Componentes S.L.",
        "Müller Maschinenbau GmbH",
        "Société Générale de Négoce SAS",
    ]
    alerts = run_tci("-c", str(config), "--as-of", AS_OF, "--json", "alerts", cwd=tmp_path, env=env)
    kinds = {a["kind"] for a in alerts.json()}
    assert {
        "cover_new",
        "cover_refused",
        "pending_withdrawal",
        "unknown_buyer",
        "over_limit",
    } <= kinds


def test_insurer_failing_mid_sync_changes_nothing_and_exits_1(
    tmp_path: Path, sandbox_server: tuple[LoopbackServer, object]
) -> None:
    server, sandbox = sandbox_server
    config = loopback_config(tmp_path, server.url)
    env = credentials_env(sandbox)
    prepare(tmp_path, config, env)
    sandbox.inject(*[Fault(status=503) for _ in range(5)])  # type: ignore[attr-defined]
    sync = run_tci("-c", str(config), "--json", "sync", "limits", cwd=tmp_path, env=env)
    assert sync.code == 1
    (report,) = sync.json()
    assert report["status"] == "failed" and report["written"] == 0
    assert "503" in report["errors"][0]
    limits = run_tci(
        "-c", str(config), "--json", "export", "limits", "--format", "json", cwd=tmp_path
    )
    assert all(r["status"] == "NO_COVER" for r in json.loads(limits.stdout)["covered_limits"])


def test_bad_file_exits_2_naming_file_row_column_and_nothing_is_written(
    tmp_path: Path, sandbox_server: tuple[LoopbackServer, object]
) -> None:
    server, _sandbox = sandbox_server
    config = loopback_config(tmp_path, server.url)
    prepare(tmp_path, config)
    bad = tmp_path / "items.csv"
    lines = (DEMO / "open_items.csv").read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2].replace("30000.00,30000.00", "30000.00,3e4")
    lines.append("C1001,INV-NEW,INVOICE,2026-11-31,2026-11-01,2026-12-01,EUR,5.00,5.00,false,")
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = run_tci("-c", str(config), "import", "receivables", str(bad), cwd=tmp_path)
    assert run.code == 2
    assert f"{bad}, row 3, column 'open_amount'" in run.stderr
    assert f"{bad}, row 16, column 'document_date'" in run.stderr and "calendar date" in run.stderr
    assert "nothing was written" in run.stderr
    assert "Traceback" not in run.stderr
    exposure = run_tci("-c", str(config), "--json", "exposure", cwd=tmp_path)
    c1001 = next(r for r in exposure.json() if "C1001" in r["erp_accounts"])
    assert c1001["exposure"] == "64500.00"  # the earlier import, untouched


@pytest.mark.parametrize(
    ("config_text", "needle"),
    [
        (
            '[insurers.x]\nadapter = "nope"\n[policies.p]' + POLICY.replace('"atradius"', '"x"'),
            "known adapters: allianz, atradius",
        ),
        ("[database\n", "not valid TOML"),
        ('[insurers.x]\nadapter = "atradius"\nbase_url = "http://10.0.0.8"\n', "base_url"),
    ],
)
def test_configuration_errors_exit_2(tmp_path: Path, config_text: str, needle: str) -> None:
    config = tmp_path / "tci.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path}/l.db"\n' + config_text)
    run_tci("-c", str(config), "db", "upgrade", cwd=tmp_path)
    run = run_tci("-c", str(config), "sync", "limits", cwd=tmp_path)
    assert run.code == 2
    assert needle in run.stderr
    assert "Traceback" not in run.stderr


def test_ledger_not_migrated_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "tci.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path}/l.db"\n')
    run = run_tci("-c", str(config), "exposure", cwd=tmp_path)
    assert run.code == 2 and "tci db upgrade" in run.stderr


def test_canary_secrets_never_reach_output(
    tmp_path: Path, sandbox_server: tuple[LoopbackServer, object]
) -> None:
    server, sandbox = sandbox_server
    config = loopback_config(tmp_path, server.url)
    prepare(tmp_path, config)
    canaries = {
        "TCI_INSURERS__ATRADIUS__CREDENTIALS__CLIENT_ID": "canary-client-7d1e",
        "TCI_INSURERS__ATRADIUS__CREDENTIALS__CLIENT_SECRET": "canary-secret-93ab55",
        "TCI_INSURERS__ATRADIUS__CREDENTIALS__APP_KEY": "canary-appkey-c0ffee",
    }
    for fmt in ("console", "json"):
        run = run_tci(
            "-c",
            str(config),
            "--log-level",
            "debug",
            "--log-format",
            fmt,
            "sync",
            "limits",
            cwd=tmp_path,
            env=canaries,
        )
        assert run.code == 1  # credentials refused by the sandbox
        assert "credentials refused" in run.stderr or "credentials refused" in run.stdout
        for value in canaries.values():
            assert value not in run.stdout and value not in run.stderr
    good = credentials_env(sandbox)
    run = run_tci(
        "-c", str(config), "--log-level", "debug", "sync", "limits", cwd=tmp_path, env=good
    )
    assert run.code == 0, run.stderr
    for value in good.values():
        assert value not in run.stdout and value not in run.stderr
