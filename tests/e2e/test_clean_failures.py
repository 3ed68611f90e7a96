"""Every failure a user can cause is one line on stderr and an exit status, never a
traceback, never a secret (issue 10, section 7), run as a user runs ``tci``.

Canary secrets are planted where real ones travel: the database URL's password (the
PostgreSQL test server trusts local connections, so a URL with a canary password still
opens the ledger) and insurer credentials in the environment. No canary may reach
stdout, stderr or the log (which goes to stderr), at the default level or at debug.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from tci_gateway.ledger.engine import make_engine

from .conftest import REPO, Run, run_tci

DB_CANARY = "dbpw-CANARY-5e1f0a"
CREDENTIAL_CANARY = "cred-CANARY-77c2d9"
PG_URL = os.environ.get("TCI_TEST_DATABASE_URL")
needs_pg = pytest.mark.skipif(not PG_URL, reason="TCI_TEST_DATABASE_URL is not set")
on_pg = pytest.mark.postgres


def with_password(url: str) -> str:
    """``url`` with the canary as its password (SQLite URLs have none)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return url
    return parsed.set(password=DB_CANARY).render_as_string(hide_password=False)


def assert_clean(run: Run, status: int, *needles: str) -> str:
    """Exit ``status``, exactly one line on stderr (returned), no traceback, no canary."""
    assert run.code == status, (run.code, run.stdout, run.stderr)
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert_no_secret(run)
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def assert_no_secret(run: Run) -> None:
    both = run.stdout + run.stderr
    assert "Traceback" not in run.stdout and "CANARY" not in both, both
    assert "locals" not in both and "╭" not in both  # no rich traceback with its locals


def tci(cwd: Path, url: str, *args: str, config: Path | None = None) -> Run:
    """Run ``tci`` on the ledger ``url``; a configuration naming the insurer ``live``
    gets canary credentials for it from the environment."""
    env = {"TCI_DATABASE__URL": url}
    if config is not None and "[insurers.live]" in config.read_text(encoding="utf-8"):
        prefix = "TCI_INSURERS__LIVE__CREDENTIALS__"
        for name in ("CLIENT_ID", "CLIENT_SECRET", "APP_KEY"):
            env[prefix + name] = f"{CREDENTIAL_CANARY}-{name.lower()}"
    head = ["-c", str(config)] if config is not None else []
    return run_tci(*head, *args, cwd=cwd, env=env)


def sandbox_config(directory: Path, extra: str = "", seed_dir: Path | None = None) -> Path:
    """``config/sandbox.toml`` with its seed paths made absolute (or relative to
    ``seed_dir`` when given) and ``extra`` appended."""
    source = (REPO / "config" / "sandbox.toml").read_text(encoding="utf-8")
    fixtures = str(REPO / "fixtures") if seed_dir is None else str(seed_dir)
    body = source.replace("../fixtures", fixtures).replace(
        'url = "sqlite:///tci-sandbox.db"', 'url = "sqlite:///unused.db"'
    )
    path = directory / "tci.toml"
    path.write_text(body + "\n[http]\nmax_attempts = 1\nconnect_timeout = 2\n" + extra, "utf-8")
    return path


# -- a ledger that cannot be opened -------------------------------------------------------


def test_unreachable_ledger_is_one_line_naming_the_url_without_its_password(
    tmp_path: Path,
) -> None:
    url = f"postgresql://tci:{DB_CANARY}@127.0.0.1:1/ledger"
    for args in (("exposure",), ("db", "upgrade")):
        line = assert_clean(tci(tmp_path, url, *args), 2)
        assert "postgresql://tci:***@127.0.0.1:1/ledger" in line
        assert "connection refused" in line


@needs_pg
@on_pg
@pytest.mark.parametrize(
    ("change", "cause"),
    [
        ({"username": "no_such_role_tci"}, 'role "no_such_role_tci" does not exist'),
        ({"database": "no_such_db_tci"}, 'database "no_such_db_tci" does not exist'),
    ],
)
def test_refused_login_and_missing_database_are_one_line(
    tmp_path: Path, change: dict[str, str], cause: str
) -> None:
    assert PG_URL
    url = make_url(PG_URL).set(password=DB_CANARY, **change)
    run = tci(tmp_path, url.render_as_string(hide_password=False), "alerts")
    assert_clean(run, 2, "cannot open the ledger", ":***@", cause)


def test_sqlite_ledger_missing_unwritable_or_not_a_database(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "ledger.db"
    assert_clean(tci(tmp_path, f"sqlite:///{missing}", "exposure"), 2, "no ledger file")
    assert not missing.parent.exists()  # refused, not created empty

    # /proc refuses new directories even to root
    line = assert_clean(tci(tmp_path, "sqlite:////proc/tci-test/ledger.db", "db", "upgrade"), 2)
    assert "cannot create its directory /proc/tci-test" in line

    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    assert_clean(tci(tmp_path, f"sqlite:///{junk}", "alerts"), 2, "file is not a database")

    # `tci db upgrade` creates the ledger and its directory
    fresh = tmp_path / "new" / "ledger.db"
    assert tci(tmp_path, f"sqlite:///{fresh}", "db", "upgrade").code == 0
    assert fresh.is_file()


# -- usage ----------------------------------------------------------------------------------


def test_typo_in_log_level_is_one_line_without_the_database_password(
    tmp_path: Path, database_url: str
) -> None:
    url = with_password(database_url)
    line = assert_clean(tci(tmp_path, url, "--log-level", "verbose", "exposure"), 2)
    assert "--log-level" in line and "'verbose'" in line


@pytest.mark.parametrize(
    "args",
    [
        ("exposure", "--no-such-option"),
        ("--as-of", "yesterday", "exposure"),
        ("no-such-command",),
        ("--log-format", "xml", "alerts"),
    ],
)
def test_usage_errors_are_one_line(tmp_path: Path, args: tuple[str, ...]) -> None:
    assert_clean(tci(tmp_path, "sqlite:///unused.db", *args), 2, "--help")


# -- the unexpected ---------------------------------------------------------------------------


@contextmanager
def _table_renamed(url: str, table: str) -> Iterator[None]:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(f"ALTER TABLE {table} RENAME TO {table}_gone"))
        yield
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"ALTER TABLE {table}_gone RENAME TO {table}"))
        engine.dispose()


def test_internal_error_is_one_line_and_its_traceback_goes_to_the_debug_log_only(
    tmp_path: Path, database_url: str
) -> None:
    url = with_password(database_url)
    with _table_renamed(database_url, "alerts"):
        line = assert_clean(tci(tmp_path, url, "alerts"), 70, "internal error", "alerts")
        assert "--log-level debug" in line

        debug = tci(tmp_path, url, "--log-level", "debug", "alerts")
    assert debug.code == 70
    assert_no_secret(debug)
    assert "internal_error" in debug.stderr and "Traceback" in debug.stderr
    assert "[debug" in debug.stderr  # logged at debug level, not error
    errors = [line for line in debug.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1


# -- adapters: options, sandbox seeds, base URLs ----------------------------------------------


@pytest.mark.parametrize("insurer", ["atradius", "allianz", "coface"])
def test_unknown_adapter_option_is_refused_with_the_known_ones(
    tmp_path: Path, database_url: str, insurer: str
) -> None:
    extra = f'[insurers.{insurer}.options]\nstatus_overides = {{ XX01 = "GRANTED" }}\n'
    config = sandbox_config(tmp_path, extra)
    run = tci(tmp_path, with_password(database_url), "sync", "limits", config=config)
    assert_clean(run, 2, f"insurer '{insurer}'", "status_overides", "status_overrides")


def test_typo_in_a_sandbox_option_is_one_line(tmp_path: Path, database_url: str) -> None:
    config = sandbox_config(tmp_path)
    body = config.read_text(encoding="utf-8").replace(
        "[insurers.atradius.options.sandbox]\n",
        "[insurers.atradius.options.sandbox]\nauto_aprove_up_to = 1000\n",
    )
    config.write_text(body, encoding="utf-8")
    run = tci(tmp_path, with_password(database_url), "sync", "limits", config=config)
    assert_clean(run, 2, "auto_aprove_up_to", "auto_approve_up_to")


def test_relative_seed_paths_are_read_from_the_configuration_files_directory(
    tmp_path: Path, database_url: str
) -> None:
    first, second, elsewhere = tmp_path / "a", tmp_path / "b", tmp_path / "cwd"
    for d in (first, second, elsewhere):
        d.mkdir()
    seeds = first / "seeds"
    seeds.mkdir()
    for name in ("demo/atradius_sandbox.json", "allianz/seed.json", "coface/seed.json"):
        (seeds / name.split("/")[0]).mkdir(exist_ok=True)
        (seeds / name).write_bytes((REPO / "fixtures" / name).read_bytes())
    config = sandbox_config(first, seed_dir=Path("seeds"))
    url = with_password(database_url)
    ran = tci(elsewhere, url, "sync", "limits", "--insurer", "atradius", config=config)
    assert ran.code == 0, ran.stderr
    assert_no_secret(ran)

    copied = second / "tci.toml"
    copied.write_bytes(config.read_bytes())  # copied without its seed files
    run = tci(elsewhere, url, "sync", "limits", config=copied)
    assert_clean(run, 2, "seed file 'seeds/", "not found", str(second.resolve()))


def test_https_base_url_on_a_private_address_is_refused_outside_the_sandbox(
    tmp_path: Path, database_url: str
) -> None:
    live = (
        '[insurers.live]\nadapter = "atradius"\nbase_url = "https://127.0.0.1:9"\n'
        'environment = "production"\n'
    )
    policy = (
        (REPO / "config" / "sandbox.toml")
        .read_text(encoding="utf-8")
        .split("[policies.atradius-main]")[1]
        .split("[policies.")[0]
        .replace('insurer = "atradius"', 'insurer = "live"')
    )
    extra = live + "\n[policies.live-main]" + policy
    url = with_password(database_url)
    config = sandbox_config(tmp_path, extra)
    run = tci(tmp_path, url, "sync", "limits", "--insurer", "live", config=config)
    assert_clean(run, 2, "127.0.0.1", "allow_private_network")

    allowed = sandbox_config(tmp_path, live + "allow_private_network = true\n" + extra[len(live) :])
    run = tci(tmp_path, url, "sync", "limits", "--insurer", "live", config=allowed)
    assert run.code == 1, run.stderr  # now really tried: nothing listens on port 9
    assert "allow_private_network" not in run.stderr
    assert_no_secret(run)


# -- files written for the ERP ------------------------------------------------------------------


def test_export_and_cursor_files_get_the_umask_mode_and_unwritable_is_one_line(
    tmp_path: Path, database_url: str
) -> None:
    url = with_password(database_url)
    out, cursor = tmp_path / "out" / "limits.csv", tmp_path / "cursor.txt"
    old = os.umask(0o022)
    try:
        run = tci(tmp_path, url, "export", "limits", "-o", str(out), "--cursor-file", str(cursor))
    finally:
        os.umask(old)
    assert run.code == 0, run.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    assert stat.S_IMODE(cursor.stat().st_mode) == 0o644
    assert sorted(p.name for p in out.parent.iterdir()) == ["limits.csv"]  # no temp file left

    run = tci(tmp_path, url, "export", "limits", "-o", "/proc/tci-test/limits.csv")
    assert_clean(run, 2, "cannot write /proc/tci-test/limits.csv")
