"""The pieces behind clean failures (issue 10, section 7): opening a ledger, where a
base URL points, writing files for the ERP. The CLI's view of the same failures is in
``tests/e2e/test_clean_failures.py``."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from tci_gateway.config import InsurerSettings, Settings
from tci_gateway.erp.export import atomic_text_file
from tci_gateway.errors import ConfigError, LedgerUnavailableError
from tci_gateway.http.addresses import non_public_addresses
from tci_gateway.ledger.engine import Ledger, db_cause, display_url, ledger_busy
from tci_gateway.wiring import Wiring

PG_URL = os.environ.get("TCI_TEST_DATABASE_URL")

# -- opening the ledger ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://tci:s3cret@db:5432/ledger", "postgresql://tci:***@db:5432/ledger"),
        ("postgresql+psycopg://tci:p%40ss@db/l?sslmode=require", "***@db/l?sslmode=require"),
        ("postgresql://tci@db/ledger", "postgresql://tci@db/ledger"),
        ("sqlite:////var/tci/ledger.db", "sqlite:////var/tci/ledger.db"),
        ("weird:::/u:s3cret@host", "weird:::/u:s3cret@host".replace(":s3cret", ":***")),
    ],
)
def test_display_url_hides_the_password(url: str, shown: str) -> None:
    assert shown in display_url(url)
    assert "s3cret" not in display_url(url) and "p%40ss" not in display_url(url)


def test_a_missing_sqlite_ledger_is_refused_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "sub" / "ledger.db"
    with pytest.raises(LedgerUnavailableError, match="no ledger file"):
        Ledger.open(f"sqlite:///{missing}")
    assert not missing.parent.exists()
    ledger = Ledger.open(f"sqlite:///{missing}", create=True)  # what `tci db upgrade` does
    ledger.dispose()
    assert missing.parent.is_dir()


def test_a_sqlite_directory_that_cannot_be_created_is_one_error() -> None:
    with pytest.raises(LedgerUnavailableError, match="cannot create its directory") as err:
        Ledger.open("sqlite:////proc/tci-unit/ledger.db", create=True)
    assert "\n" not in str(err.value)


def test_an_unreachable_server_names_the_url_without_its_password() -> None:
    with pytest.raises(LedgerUnavailableError) as err:
        Ledger.open("postgresql://tci:s3cret@127.0.0.1:1/ledger")
    message = str(err.value)
    assert message.startswith("cannot open the ledger postgresql://tci:***@127.0.0.1:1/ledger: ")
    assert "connection refused" in message and "s3cret" not in message and "\n" not in message


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="TCI_TEST_DATABASE_URL is not set")
@pytest.mark.parametrize(
    ("change", "cause"),
    [
        ({"username": "no_such_role_tci"}, 'role "no_such_role_tci" does not exist'),
        ({"database": "no_such_db_tci"}, 'database "no_such_db_tci" does not exist'),
    ],
)
def test_a_refused_login_or_missing_database_gives_the_cause(
    change: dict[str, str], cause: str
) -> None:
    assert PG_URL
    url = make_url(PG_URL).set(password="s3cret", **change)
    with pytest.raises(LedgerUnavailableError) as err:
        Ledger.open(url.render_as_string(hide_password=False))
    assert str(err.value).endswith(f": {cause}")
    assert "s3cret" not in str(err.value)


def test_db_cause_keeps_the_first_line_without_driver_prefixes() -> None:
    text = (
        'connection failed: connection to server at "127.0.0.1", port 5432 failed: '
        'FATAL:  password authentication failed for user "tci"\n(Background on this error)'
    )
    assert db_cause(RuntimeError(text)) == 'password authentication failed for user "tci"'


# -- base URLs on private addresses ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "private"),
    [
        ("https://127.0.0.1:8443/api", ["127.0.0.1"]),
        ("https://10.1.2.3", ["10.1.2.3"]),
        ("https://192.168.0.10", ["192.168.0.10"]),
        ("https://169.254.169.254/latest", ["169.254.169.254"]),
        ("https://[::1]:9", ["::1"]),
        ("https://[fe80::1]", ["fe80::1"]),
        ("https://[::ffff:10.0.0.1]", ["::ffff:a00:1"]),
        ("https://8.8.8.8", []),
        ("https://[2606:4700::1111]", []),
    ],
)
def test_non_public_addresses_of_literal_ips(url: str, private: list[str]) -> None:
    assert non_public_addresses(url) == private


def test_localhost_resolves_to_loopback_without_dns() -> None:
    assert non_public_addresses("https://localhost:8443")
    assert all(a in ("127.0.0.1", "::1") for a in non_public_addresses("https://localhost"))


def _wiring(**insurer: object) -> Wiring:
    fields: dict[str, object] = {
        "adapter": "atradius",
        "base_url": "https://127.0.0.1:8443",
        "environment": "production",
        "credentials": {
            "client_id": "u-id-71",
            "client_secret": "u-secret-71",
            "app_key": "u-key-71",
        },
        **insurer,
    }
    settings = Settings(insurers={"live": InsurerSettings.model_validate(fields)})
    return Wiring(settings, Path.cwd())


@pytest.mark.parametrize("environment", ["production", "uat"])
def test_a_private_base_url_is_refused_outside_the_sandbox(environment: str) -> None:
    with pytest.raises(ConfigError, match="allow_private_network") as err:
        _wiring(environment=environment).insurer("live")
    assert "127.0.0.1" in str(err.value)
    with pytest.raises(ConfigError, match=r"10\.0\.0\.7"):
        _wiring(environment=environment, base_url="https://10.0.0.7").insurer("live")


@pytest.mark.parametrize(
    "fields",
    [
        {"allow_private_network": True},
        {"environment": "sandbox"},
        {"environment": "sandbox", "base_url": "http://127.0.0.1:8443"},
        {"base_url": "https://8.8.8.8"},
    ],
)
def test_a_base_url_is_accepted_when_public_allowed_or_in_the_sandbox(
    fields: dict[str, object],
) -> None:
    wiring = _wiring(**fields)
    assert wiring.insurer("live").adapter is not None  # built: no call is made yet
    wiring.close()


# -- files for the ERP ----------------------------------------------------------------------------


@contextmanager
def _umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_an_export_file_gets_the_umask_mode(tmp_path: Path, mask: int, mode: int) -> None:
    target = tmp_path / "limits.csv"
    with _umask(mask), atomic_text_file(target) as handle:
        handle.write("a,b\r\n")
    assert stat.S_IMODE(target.stat().st_mode) == mode
    assert target.read_bytes() == b"a,b\r\n"


def test_a_failed_export_leaves_the_previous_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "limits.csv"
    target.write_text("previous\n", encoding="utf-8")
    with pytest.raises(RuntimeError), atomic_text_file(target) as handle:
        handle.write("half a fi")
        raise RuntimeError("killed half-way")
    assert target.read_text(encoding="utf-8") == "previous\n"
    assert [p.name for p in tmp_path.iterdir()] == ["limits.csv"]


def test_an_export_file_that_cannot_be_written_is_a_config_error() -> None:
    target = Path("/proc/tci-unit/limits.csv")
    with pytest.raises(ConfigError, match=r"cannot write /proc/tci-unit/limits\.csv"):  # noqa: SIM117
        with atomic_text_file(target) as handle:
            handle.write("x")


def test_a_sqlite_ledger_locked_past_the_busy_timeout_is_one_line(tmp_path: Path) -> None:
    # A real "database is locked": one connection holds the write lock, another may not wait.
    path = tmp_path / "ledger.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("BEGIN IMMEDIATE")
    impatient = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
    try:
        with pytest.raises(OperationalError) as caught, impatient.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (1)"))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        impatient.dispose()
    message = ledger_busy(caught.value)
    assert message is not None and "\n" not in message
    assert message.startswith("the ledger is busy: another process")
    other = OperationalError("SELECT 1", {}, sqlite3.OperationalError("no such table: t"))
    assert ledger_busy(other) is None
    assert ledger_busy(ValueError("database is locked")) is None
