"""``tci doctor`` as a subprocess: a healthy SQLite deployment (a scheduler running), a
broken configuration, a ledger missing or not migrated, a missing credential, a token
endpoint that refuses the key (``tci sandbox serve`` given a wrong one) or does not
answer, and ``--offline``. Each finding is one line in plain words; exit 1 on any."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tci_gateway.ledger.engine import make_engine
from tci_gateway.ledger.migrate import head_revision, upgrade

from .claims_setup import ESCALATION, POLICY, TERMS
from .conftest import TCI, run_tci
from .serve import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REF = ", ".join(f'{k} = "{v}"' for k, v in POLICY.items())
WRONG_KEY = "wrong-key-0123456789abcdef"


def write_config(tmp: Path, *, base_url: str = "sandbox", extra: str = "") -> Path:
    path = tmp / "tci.toml"
    path.write_text(
        f'[database]\nurl = "sqlite:///{tmp / "ledger.db"}"\n'
        f'[insurers.allianz]\nadapter = "allianz"\nbase_url = "{base_url}"\n'
        'environment = "sandbox"\n'
        f'[policies.allianz-pol]\ninsurer = "allianz"\n{TERMS}external_ref = {{ {REF} }}\n'
        f"{ESCALATION}[scheduler]\nheartbeat_seconds = 0.2\nlease_seconds = 5\n{extra}",
        encoding="utf-8",
    )
    return path


def doctor(config: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, Any]:
    run = run_tci("-c", str(config), "--json", "doctor", *args, cwd=config.parent, env=env)
    assert run.code in (0, 1), run.stderr
    payload = json.loads(run.stdout)
    assert payload["ok"] is (run.code == 0)
    return run.code, {c["name"]: (c["status"], c["detail"]) for c in payload["checks"]}


@pytest.fixture
def loopback_sandbox(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """``tci sandbox serve allianz`` on a free port: its URL and test credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TCI_")}
    proc = subprocess.Popen(
        [str(TCI), "sandbox", "serve", "allianz"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield json.loads(proc.stdout.readline())
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def test_healthy_sqlite_deployment_with_a_running_scheduler(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    assert run_tci("-c", str(config), "db", "upgrade", cwd=tmp_path).code == 0
    code, checks = doctor(config)
    assert code == 1  # no scheduler yet
    assert checks["scheduler"][0] == "fail"
    assert "no scheduler is running" in checks["scheduler"][1]
    assert "tci scheduler run" in checks["scheduler"][1]
    assert [name for name, (status, _) in checks.items() if status == "fail"] == ["scheduler"]
    status, detail = checks["token allianz"]
    assert status == "ok" and "the in-process sandbox issued a token" in detail, detail
    assert "Europe/Paris (policy allianz-pol)" in checks["time zones"][1]

    env = {k: v for k, v in os.environ.items() if not k.startswith("TCI_")}
    log = tmp_path / "scheduler.log"
    with log.open("wb") as sink:
        scheduler = subprocess.Popen(
            [str(TCI), "-c", str(config), "scheduler", "run"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    try:
        deadline = time.monotonic() + 30
        while "scheduler_leader_acquired" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        code, checks = doctor(config)
        assert code == 0, checks
        assert checks["scheduler"][0] == "ok"
        assert f":{scheduler.pid}:" in checks["scheduler"][1]
        human = run_tci("-c", str(config), "doctor", "--offline", cwd=tmp_path)
        assert human.code == 0 and human.stdout.rstrip().endswith("all is well"), human.stdout
        assert "skip  token allianz" in human.stdout
    finally:
        scheduler.send_signal(signal.SIGTERM)
        scheduler.wait(20)


def test_broken_configuration(tmp_path: Path) -> None:
    config = write_config(tmp_path, extra="[scheduler.jobs.limit_sync]\ncron = 'every night'\n")
    code, checks = doctor(config)
    assert code == 1
    status, detail = checks["configuration"]
    assert status == "fail" and "scheduler" in detail and "every night" in detail, detail
    assert {s for name, (s, _) in checks.items() if name != "configuration"} == {"skipped"}

    config = write_config(tmp_path)
    config.write_text(config.read_text().replace('timezone = "Europe/Paris"', 'timezone = "Mars"'))
    code, checks = doctor(config)
    assert code == 1 and "unknown time zone 'Mars'" in checks["configuration"][1]

    config.write_text("[database\nurl = ", encoding="utf-8")
    run = run_tci("-c", str(config), "doctor", cwd=tmp_path)
    assert run.code == 1
    assert "FAIL  configuration" in run.stdout and "is not valid TOML" in run.stdout


def test_missing_and_unmigrated_ledger(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    code, checks = doctor(config)
    assert code == 1
    assert checks["ledger"][0] == "fail" and "ledger.db" in checks["ledger"][1]
    assert checks["schema"] == ("skipped", "the ledger cannot be reached")
    assert checks["scheduler"] == ("skipped", "the ledger cannot be reached")

    upgrade(make_engine(f"sqlite:///{tmp_path / 'ledger.db'}"), "0008")
    code, checks = doctor(config, "--offline")
    assert code == 1
    assert checks["ledger"][0] == "ok"
    assert checks["schema"] == (
        "fail",
        f"the ledger is at revision 0008, this version needs {head_revision()}: "
        "run `tci db upgrade`",
    )
    assert checks["scheduler"] == ("skipped", "the ledger is not at the current schema")


def test_missing_credential_and_refused_token_endpoint(
    tmp_path: Path, loopback_sandbox: dict[str, Any]
) -> None:
    config = write_config(tmp_path, base_url=loopback_sandbox["url"])
    assert run_tci("-c", str(config), "db", "upgrade", cwd=tmp_path).code == 0
    code, checks = doctor(config)
    assert code == 1
    status, detail = checks["credentials allianz"]
    assert status == "fail" and "TCI_INSURERS__ALLIANZ__CREDENTIALS__API_KEY" in detail
    assert checks["token allianz"] == ("skipped", "its credentials are not all present")

    variable = "TCI_INSURERS__ALLIANZ__CREDENTIALS__API_KEY"
    run = run_tci("-c", str(config), "doctor", cwd=tmp_path, env={variable: WRONG_KEY})
    assert run.code == 1
    line = next(x for x in run.stdout.splitlines() if "token allianz" in x)
    assert line.startswith("FAIL") and "refused the credentials (HTTP 401" in line, line
    assert WRONG_KEY not in run.stdout + run.stderr  # a secret never shows

    right = {variable: loopback_sandbox["credentials"]["api_key"]}
    code, checks = doctor(config, env=right)
    assert checks["credentials allianz"][0] == "ok"
    assert checks["token allianz"][0] == "ok", checks["token allianz"]
    assert loopback_sandbox["url"] in checks["token allianz"][1]
    code, checks = doctor(config, "--offline", env={variable: WRONG_KEY})
    assert checks["token allianz"] == ("skipped", "--offline: no call made")


def test_token_endpoint_not_answering(tmp_path: Path) -> None:
    config = write_config(tmp_path, base_url=f"http://127.0.0.1:{free_port()}")
    assert run_tci("-c", str(config), "db", "upgrade", cwd=tmp_path).code == 0
    env = {"TCI_INSURERS__ALLIANZ__CREDENTIALS__API_KEY": WRONG_KEY}
    code, checks = doctor(config, env=env)
    status, detail = checks["token allianz"]
    assert (code, status) == (1, "fail")
    assert "does not answer (ConnectError" in detail, detail
