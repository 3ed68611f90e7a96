"""The checks of ``tci doctor``: a deployment checked in one pass, each finding in plain
words with what to do about it.

:func:`run_checks` answers one :class:`Check` per finding, in this order:
``configuration`` (the file loads and validates, policies and escalation paths
included), ``ledger`` (reachable), ``schema`` (migrated to this version's head),
``credentials <name>`` for each insurer and bureau, ``token <name>`` for each (the
token endpoint issues a token for the configured credentials; skipped ``offline``),
``time zones`` (every zone the policies and the scheduler name), ``clock`` (this
machine's clock against the ledger server's, or on SQLite against the newest run the
ledger recorded), ``scheduler`` (a leader holds the ledger's scheduler lock and renews
its lease). A check whose premise failed is ``skipped`` with the reason. Secrets never
appear in a detail: a token endpoint's refusal is reported by status only.
"""

from __future__ import annotations

import time
import zoneinfo
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from tci_gateway.errors import AdapterError, TciError
from tci_gateway.logs import redact_text

if TYPE_CHECKING:
    from tci_gateway.config import HttpSettings, InsurerSettings, Settings
    from tci_gateway.ledger.engine import Ledger
    from tci_gateway.wiring import BureauConnection, Connection, Wiring


Status = Literal["ok", "fail", "skipped"]
Clock = Callable[[], datetime]

MAX_SKEW_SECONDS = 5.0
"""The largest difference between this machine's clock and the ledger's accepted:
leases are seconds long and a deadline turns at midnight in the policy's zone."""


@dataclass(frozen=True)
class Check:
    """One finding: ``name`` (what was checked), ``status`` and ``detail`` (plain words:
    what was found, and for a failure what to do)."""

    name: str
    status: Status
    detail: str

    @property
    def ok(self) -> bool:
        return self.status != "fail"

    def as_json(self) -> dict[str, str]:
        return asdict(self)


def _line(exc: BaseException) -> str:
    """An error as one scrubbed line."""
    return " ".join(redact_text(str(exc)).split()) or type(exc).__name__


@dataclass
class _Run:
    config: Path | None
    offline: bool
    clock: Clock
    max_skew: float
    checks: list[Check] = field(default_factory=list)

    def add(self, name: str, status: Status, detail: str) -> Check:
        check = Check(name, status, detail)
        self.checks.append(check)
        return check

    def skip(self, names: list[str], why: str) -> None:
        for name in names:
            self.add(name, "skipped", why)


def run_checks(
    config: Path | None,
    *,
    offline: bool = False,
    clock: Clock = lambda: datetime.now(UTC),
    max_skew_seconds: float = MAX_SKEW_SECONDS,
) -> list[Check]:
    """Every check of the deployment that ``config`` (or ``TCI_CONFIG``, or
    ``./tci.toml``) describes; see the module docstring."""
    from tci_gateway.config import find_config
    from tci_gateway.wiring import Wiring

    run = _Run(config, offline, clock, max_skew_seconds)
    settings = _configuration(run)
    if settings is None:
        run.skip(
            ["ledger", "schema", "credentials", "time zones", "clock", "scheduler"],
            "the configuration does not load",
        )
        return run.checks
    path = find_config(config)
    wiring = Wiring(settings, path.parent if path else Path.cwd())
    try:
        with _opened(run, settings) as ledger:
            migrated = ledger is not None and _schema(run, ledger)
            if ledger is None:
                run.skip(["schema"], "the ledger cannot be reached")
            _connections(run, wiring)
            _time_zones(run, settings)
            if ledger is None:
                run.skip(["clock", "scheduler"], "the ledger cannot be reached")
            else:
                _clock(run, ledger, migrated)
                if migrated:
                    _scheduler(run, ledger, settings)
                else:
                    run.skip(["scheduler"], "the ledger is not at the current schema")
    finally:
        wiring.close()
    return run.checks


def _configuration(run: _Run) -> Settings | None:
    from tci_gateway.config import find_config, load_settings
    from tci_gateway.scheduler.jobs import JOBS

    path = find_config(run.config)
    where = str(path) if path else "no configuration file (defaults and TCI_* variables)"
    try:
        settings = load_settings(run.config)
        settings.domain_policies()
        settings.escalation_paths()
    except TciError as exc:
        run.add("configuration", "fail", f"{where}: {_line(exc)}")
        return None
    unknown = sorted(set(settings.scheduler.jobs) - set(JOBS))
    if unknown:
        run.add(
            "configuration",
            "fail",
            f"{where}: unknown scheduler job(s) {', '.join(unknown)} "
            f"(known: {', '.join(sorted(JOBS))})",
        )
        return None
    run.add(
        "configuration",
        "ok",
        f"{where}: {len(settings.insurers)} insurer(s), {len(settings.bureaus)} bureau(s), "
        f"{len(settings.policies)} polic{'y' if len(settings.policies) == 1 else 'ies'}",
    )
    return settings


@contextmanager
def _opened(run: _Run, settings: Settings) -> Iterator[Ledger | None]:
    from tci_gateway.ledger.engine import Ledger, display_url

    url = settings.database.url
    try:
        ledger = Ledger.open(url)
    except TciError as exc:
        run.add("ledger", "fail", f"{_line(exc)}; check [database] url (or TCI_DATABASE__URL)")
        yield None
        return
    run.add("ledger", "ok", f"{display_url(url)} answers ({ledger.engine.dialect.name})")
    try:
        yield ledger
    finally:
        ledger.dispose()


def _schema(run: _Run, ledger: Ledger) -> bool:
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    from tci_gateway.ledger.migrate import MIGRATIONS, current_revision, head_revision

    head = head_revision()
    try:
        current = current_revision(ledger.engine)
    except SQLAlchemyError as exc:
        run.add("schema", "fail", f"cannot read the schema revision: {_line(exc)}")
        return False
    if current == head:
        run.add("schema", "ok", f"at the current revision {head}")
        return True
    if current is None:
        run.add("schema", "fail", "the ledger has no schema yet: run `tci db upgrade`")
        return False
    try:
        ScriptDirectory(str(MIGRATIONS)).get_revision(current)
    except CommandError:
        run.add(
            "schema",
            "fail",
            f"the ledger is at revision {current}, which this version does not know (a newer "
            "tci-gateway migrated it): run that version, or restore the backup taken before",
        )
        return False
    run.add(
        "schema",
        "fail",
        f"the ledger is at revision {current}, this version needs {head}: run `tci db upgrade`",
    )
    return False


def _configured(wiring: Wiring) -> list[tuple[str, str, InsurerSettings]]:
    settings = wiring.settings
    return [("insurer", n, s) for n, s in sorted(settings.insurers.items())] + [
        ("bureau", n, s) for n, s in sorted(settings.bureaus.items())
    ]


def _connections(run: _Run, wiring: Wiring) -> None:
    """``credentials <name>`` for every insurer and bureau, then ``token <name>``."""
    usable: list[tuple[str, str]] = []
    for kind, name, settings in _configured(wiring):
        if _credentials(run, kind, name, settings):
            usable.append((kind, name))
    if not usable and not _configured(wiring):
        run.add("credentials", "ok", "no insurer or bureau configured")
    for kind, name, _settings in _configured(wiring):
        label = f"token {name}"
        if run.offline:
            run.add(label, "skipped", "--offline: no call made")
        elif (kind, name) not in usable:
            run.add(label, "skipped", "its credentials are not all present")
        else:
            _token(run, wiring, kind, name)


def _credentials(run: _Run, kind: str, name: str, settings: InsurerSettings) -> bool:
    from tci_gateway.adapters.registry import load_plugin
    from tci_gateway.config import SANDBOX_URL

    label = f"credentials {name}"
    try:
        plugin = load_plugin(settings.adapter)
    except LookupError as exc:
        run.add(label, "fail", f"{kind} {name}: {_line(exc)}")
        return False
    if settings.base_url == SANDBOX_URL:
        run.add(label, "ok", f"{kind} {name}: the in-process sandbox (no credentials needed)")
        return True
    section = "INSURERS" if kind == "insurer" else "BUREAUS"
    missing = [
        f"TCI_{section}__{name.upper()}__CREDENTIALS__{c.upper()}"
        for c in plugin.credential_names
        if not (c in settings.credentials and settings.credentials[c].get_secret_value())
    ]
    if missing:
        run.add(
            label,
            "fail",
            f"{kind} {name} ({plugin.name}) has no {', '.join(missing)} in the environment: "
            "set it where the service runs (an EnvironmentFile of the systemd unit)",
        )
        return False
    names = ", ".join(plugin.credential_names) or "none needed"
    run.add(label, "ok", f"{kind} {name} ({plugin.name}): {names}")
    return True


def _token(run: _Run, wiring: Wiring, kind: str, name: str) -> None:
    label = f"token {name}"
    try:
        connection: Connection | BureauConnection = (
            wiring.insurer(name) if kind == "insurer" else wiring.bureau(name)
        )
    except TciError as exc:
        run.add(label, "fail", _line(exc))
        return
    ok, detail = probe_token(connection, wiring.settings.http)
    run.add(label, "ok" if ok else "fail", f"{kind} {name}: {detail}")


def probe_token(connection: Connection | BureauConnection, http: HttpSettings) -> tuple[bool, str]:
    """Ask the adapter's token endpoint for a token with the configured credentials
    (never shown): ``(answered with a token, what happened)``. An adapter that signs
    its calls without a token endpoint has nothing to ask."""
    import httpx

    from tci_gateway.adapters.auth import TokenAuth

    client = getattr(connection.adapter, "client", None)
    auth = getattr(client, "auth", None)
    if not isinstance(auth, TokenAuth):
        return True, "no token endpoint (calls are signed with the configured key)"
    base = str(getattr(client, "base_url", "")).rstrip("/")
    request = auth.token_request(httpx.Request("GET", base + "/"))
    where = "the in-process sandbox" if connection.sandbox is not None else auth.token_url
    transport = (
        httpx.MockTransport(connection.sandbox.handle) if connection.sandbox is not None else None
    )
    started = time.perf_counter()
    with httpx.Client(
        transport=transport,
        trust_env=False,
        follow_redirects=False,
        verify=True,
        timeout=httpx.Timeout(http.read_timeout, connect=http.connect_timeout),
    ) as probe:
        try:
            response = probe.send(request)
        except httpx.HTTPError as exc:
            return False, f"{where} does not answer ({type(exc).__name__}: {_line(exc)})"
    ms = round((time.perf_counter() - started) * 1000)
    status = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
    if response.is_success:
        try:
            auth.read_token(response)
        except AdapterError as exc:
            return False, f"{where} answered {status} without a usable token: {_line(exc)}"
        return True, f"{where} issued a token ({ms} ms)"
    if response.status_code in (400, 401, 403):
        return False, (
            f"{where} refused the credentials ({status}): check the key and that it is "
            "meant for this environment (sandbox, UAT or production)"
        )
    if response.status_code == 429 or response.is_server_error:
        return False, f"{where} is failing ({status}): try again later, or ask the insurer"
    return False, f"{where} answered {status}: is base_url right?"


def _time_zones(run: _Run, settings: Settings) -> None:
    if not zoneinfo.available_timezones():
        run.add(
            "time zones",
            "fail",
            "this machine has no IANA time zone database: install tzdata (the OS package "
            "or `pip install tzdata`)",
        )
        return
    used: dict[str, list[str]] = {}
    for key, policy in sorted(settings.policies.items()):
        used.setdefault(policy.timezone, []).append(f"policy {key}")
    used.setdefault(settings.scheduler.timezone, []).append("scheduler")
    for job in sorted(settings.scheduler.jobs):
        zone = settings.scheduler.jobs[job].timezone
        if zone:
            used.setdefault(zone, []).append(f"job {job}")
    bad, good = [], []
    now = run.clock()
    for zone, users in sorted(used.items()):
        try:
            today = now.astimezone(zoneinfo.ZoneInfo(zone)).date()
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            bad.append(f"{zone!r} ({', '.join(users)})")
            continue
        good.append(f"{zone} ({', '.join(users)}): today is {today}")
    if bad:
        run.add(
            "time zones",
            "fail",
            f"not IANA time zones: {'; '.join(bad)} (e.g. 'Europe/Paris', 'UTC')",
        )
    else:
        run.add("time zones", "ok", "; ".join(good))


def _clock(run: _Run, ledger: Ledger, migrated: bool) -> None:
    from sqlalchemy import text

    now = run.clock()
    if now.year < 2020:
        run.add("clock", "fail", f"this machine's clock reads {now:%Y-%m-%d %H:%M} UTC")
        return
    if ledger.engine.dialect.name == "postgresql":
        with ledger.engine.connect() as conn:
            before = time.time()
            server = conn.scalar(text("SELECT clock_timestamp()"))
            after = time.time()
        assert isinstance(server, datetime)
        skew = now.timestamp() + (after - before) / 2 - server.timestamp()
        if abs(skew) > run.max_skew:
            way = "ahead of" if skew > 0 else "behind"
            run.add(
                "clock",
                "fail",
                f"this machine's clock is {abs(skew):.1f} s {way} the ledger server's: "
                "synchronise both with NTP (scheduler leases and deadlines depend on it)",
            )
            return
        run.add(
            "clock", "ok", f"within {abs(skew):.2f} s of the ledger server's ({now:%H:%M:%S} UTC)"
        )
        return
    latest = _latest_record(ledger) if migrated else None
    if latest is not None and latest - now > timedelta(seconds=run.max_skew):
        run.add(
            "clock",
            "fail",
            f"the ledger recorded a run at {latest:%Y-%m-%d %H:%M:%S} UTC, after this "
            f"machine's {now:%Y-%m-%d %H:%M:%S} UTC: the clock went back (check NTP)",
        )
        return
    run.add(
        "clock",
        "ok",
        f"SQLite uses this machine's clock ({now:%Y-%m-%d %H:%M:%S} UTC); no run recorded after it",
    )


def _latest_record(ledger: Ledger) -> datetime | None:
    from sqlalchemy import func, select

    from tci_gateway.ledger.tables import JobRunRow, SyncRunRow

    with ledger.reading() as session:
        found: list[Any] = [
            session.scalar(select(func.max(JobRunRow.started_at))),
            session.scalar(select(func.max(SyncRunRow.started_at))),
        ]
    stamps = [(s if s.tzinfo else s.replace(tzinfo=UTC)) for s in found if isinstance(s, datetime)]
    return max(stamps, default=None)


def _scheduler(run: _Run, ledger: Ledger, settings: Settings) -> None:
    from tci_gateway.scheduler.leader import leader_status

    enabled = sorted(job for job, s in settings.scheduler.jobs.items() if s.enabled)
    if not enabled:
        run.add("scheduler", "ok", "no scheduler job is enabled")
        return
    status = leader_status(ledger)
    if not status["held"]:
        run.add(
            "scheduler",
            "fail",
            f"no scheduler is running on this ledger, so {', '.join(enabled)} will not run: "
            "start `tci scheduler run` (or `tci serve --with-scheduler`)",
        )
        return
    who = status["leader"] or "a process that has not noted its name yet"
    until = status["lease_until"]
    if isinstance(until, str):
        lease_until = datetime.fromisoformat(until)
        if lease_until.tzinfo is None:
            lease_until = lease_until.replace(tzinfo=UTC)
        late = run.clock() - lease_until
        if late > timedelta(seconds=settings.scheduler.heartbeat_seconds):
            run.add(
                "scheduler",
                "fail",
                f"the leader {who} holds the lock but has not renewed its lease since "
                f"{lease_until:%Y-%m-%d %H:%M:%S} UTC: its heartbeat is stuck; restart it",
            )
            return
    run.add("scheduler", "ok", f"led by {who}" + (f", lease until {until}" if until else ""))
