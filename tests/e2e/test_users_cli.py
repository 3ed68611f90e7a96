"""``tci users`` as a subprocess, then signing in to ``tci serve`` with what it made: the
password is read once, never shown, and every refusal is one line with exit status 2."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import httpx
import pytest

from .conftest import TCI, run_tci
from .serve import serving

pytestmark = pytest.mark.e2e
PASSWORD = "a long enough passphrase"


def _tci_stdin(*args: str, cwd: Path, stdin: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TCI_")}
    return subprocess.run(
        [str(TCI), *args],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _sign_in(url: str, name: str, password: str) -> httpx.Response:
    client = httpx.Client(base_url=url, timeout=10)
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token, form.text
    return client.post(
        "/login", data={"name": name, "password": password, "csrf_token": token.group(1)}
    )


def test_users_create_list_disable_and_sign_in(tmp_path: Path) -> None:
    config = tmp_path / "tci.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "ledger.db"}"\n', encoding="utf-8")
    cfg = ("-c", str(config))
    assert run_tci(*cfg, "db", "upgrade", cwd=tmp_path).code == 0

    made = _tci_stdin(
        *cfg,
        "users",
        "create",
        "alice",
        "--role",
        "analyst",
        "--password-stdin",
        cwd=tmp_path,
        stdin=PASSWORD + "\n",
    )
    assert made.returncode == 0, made.stderr
    assert "user alice created (analyst)" in made.stdout
    assert PASSWORD not in made.stdout + made.stderr

    for args, stdin, reason in [
        (
            ("users", "create", "bob", "--role", "admin", "--password-stdin"),
            PASSWORD,
            "unknown role",
        ),
        (("users", "create", "bob", "--password-stdin"), "short\n", "at least 12 characters"),
        (("users", "create", "bob"), "", "pass --password-stdin"),
        (("users", "create", "alice", "--password-stdin"), PASSWORD, "exists already"),
    ]:
        refused = _tci_stdin(*cfg, *args, cwd=tmp_path, stdin=stdin)
        assert refused.returncode == 2, refused
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1 and reason in lines[0], refused.stderr

    listed = run_tci(*cfg, "users", "list", "--json", cwd=tmp_path)
    assert [(u["name"], u["role"]) for u in listed.json()] == [("alice", "analyst")]
    assert PASSWORD not in (tmp_path / "ledger.db").read_bytes().decode("latin-1")

    with serving(*cfg, cwd=tmp_path) as served:
        assert "sign in there" in served.output()
        signed = _sign_in(served.url, "alice", PASSWORD)
        assert signed.status_code == 303 and "tci_session=" in signed.headers["set-cookie"]
        assert _sign_in(served.url, "alice", "not the password").status_code == 401
        assert run_tci(*cfg, "users", "disable", "alice", cwd=tmp_path).code == 0
        assert _sign_in(served.url, "alice", PASSWORD).status_code == 401
        assert PASSWORD not in served.output()
