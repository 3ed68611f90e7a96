"""Configuration: one TOML file, overridable by ``TCI_*`` environment variables.

Nested keys use a double underscore: ``TCI_DATABASE__URL`` overrides ``[database] url``
and ``TCI_INSURERS__ATRADIUS__CREDENTIALS__CLIENT_SECRET`` supplies the Atradius client
secret. Secrets belong in the environment, never in the file; they are typed as
:class:`pydantic.SecretStr` and registered with the log redactor when loaded.

The file is found from ``--config``, else ``TCI_CONFIG``, else ``./tci.toml``; without
one the defaults apply (a SQLite ledger ``tci.db`` and no insurers).
"""

from __future__ import annotations

import os
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from croniter import CroniterError, croniter
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from tci_gateway.config.credit import CreditSettings
from tci_gateway.domain.escalation import (
    DEFAULT_PATHS,
    EscalationError,
    EscalationPath,
    check_paths,
)
from tci_gateway.domain.money import Money, MoneyError, check_currency
from tci_gateway.domain.policy import Policy, PolicyError, PolicyTerms
from tci_gateway.erp.profiles import ErpProfile
from tci_gateway.errors import ConfigError
from tci_gateway.http.addresses import is_loopback
from tci_gateway.logs import register_secret

SANDBOX_URL = "sandbox"
"""``base_url = "sandbox"`` runs the adapter against its in-process sandbox."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatabaseSettings(_Section):
    url: str = "sqlite:///tci.db"
    echo: bool = False


class LoggingSettings(_Section):
    format: Literal["console", "json"] = "console"
    level: Literal["debug", "info", "warning", "error"] = "info"


class AlertSettings(_Section):
    """How far ahead the risk team hears about limits."""

    expiring_within_days: int = Field(default=30, ge=0)
    inactive_days: int = Field(default=180, ge=1)
    deadline_lead_days: list[int] = Field(default_factory=lambda: [14, 7, 2])
    """Warn this many days ahead of each deadline (cover stop, notify by, date of loss,
    claim by)."""

    @field_validator("deadline_lead_days")
    @classmethod
    def _leads(cls, value: list[int]) -> list[int]:
        if any(day < 0 for day in value):
            raise ValueError("lead days must not be negative")
        return sorted(set(value), reverse=True)


class ImportSettings(_Section):
    """``[import]``: ERP imports."""

    max_close_share: Decimal = Field(default=Decimal("0.30"), ge=0, le=1)
    """A complete open-items export that would close more than this share of its scope's
    open items is refused unless ``--allow-mass-close`` is given."""


class SyncSettings(_Section):
    """``[sync]``: the limit sync."""

    staging_retention_days: int = Field(default=90, ge=1)
    """Raw insurer payloads staged by a sync are kept this many days (the provenance of
    what was synced), then pruned by the next sync and the nightly limit sync."""


class EscalationSettings(_Section):
    """``[escalation]``: the path of each buyer tier, in days past the due date, e.g.
    ``[escalation.tiers.growth]`` ``reminder = 30``, ``overdue_notification = 60``,
    ``claim = 90``. Every path is checked against every policy at start-up."""

    default_tier: str = "growth"
    extension_request_days: int = Field(default=30, ge=1)
    """An extension request (EXP) asks for this many more days on each overdue invoice."""
    tiers: dict[str, dict[str, int]] = Field(
        default_factory=lambda: {k: dict(v) for k, v in DEFAULT_PATHS.items()}
    )

    def paths(self) -> dict[str, EscalationPath]:
        try:
            return {tier: EscalationPath.of(tier, days) for tier, days in self.tiers.items()}
        except EscalationError as exc:
            raise ConfigError(f"escalation: {exc}") from exc


class HttpSettings(_Section):
    """Timeouts and the retry table shared by every adapter (seconds)."""

    connect_timeout: float = Field(default=5.0, gt=0)
    read_timeout: float = Field(default=30.0, gt=0)
    call_deadline: float = Field(default=120.0, gt=0)
    max_attempts: int = Field(default=5, ge=1, le=20)
    backoff_initial: float = Field(default=0.5, ge=0)
    backoff_max: float = Field(default=30.0, ge=0)
    retry_after_max: float = Field(default=60.0, ge=0)


class WebhookSettings(_Section):
    """``[webhooks]``: deliveries of events to the ERP's subscriptions (docs/api.md)."""

    interval_seconds: float = Field(default=2.0, gt=0)
    """How often each ``tci serve`` process produces events and relays due deliveries."""
    relay: bool = True
    """Whether this process sends deliveries; ``false``: events still queue (a process
    that must not reach the network, a test run against generated subscriptions)."""
    timeout_seconds: float = Field(default=10.0, gt=0)
    """Connect, read and write timeout of one delivery's POST."""
    max_consecutive_failures: int = Field(default=10, ge=1)
    """A subscription whose deliveries fail this many times in a row is disabled (alert)."""
    max_attempts: int = Field(default=15, ge=1)
    """A delivery still failing after this many attempts is given up (the next goes on)."""
    backoff_initial_seconds: float = Field(default=10.0, gt=0)
    backoff_max_seconds: float = Field(default=3600.0, gt=0)
    deadline_scan_minutes: int = Field(default=60, ge=1)
    """How often deadlines coming within the lead days are looked for."""


class ApiSettings(_Section):
    """``[api]``: the HTTP service (``tci serve``, docs/api.md)."""

    public_url: str = ""
    """The address insurers and browsers reach the service at (for insurer callback URLs);
    empty: callbacks are not requested and polling alone follows decisions."""
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    rate_limit_per_minute: int = Field(default=600, ge=1)
    """Requests per API key per minute, per process; above it the answer is 429."""
    cors_origins: list[str] = Field(default_factory=list)
    """Origins allowed to call the API from a browser; empty: CORS is off."""
    idempotency_hours: int = Field(default=24, ge=1)
    """How long an ``Idempotency-Key`` and its stored response are kept."""
    cover_poll_seconds: int = Field(default=300, ge=1)
    """How often the cover-request relay asks an insurer about a pending request (an
    insurer's callback makes it ask at once)."""
    hook_hits_per_minute: int = Field(default=12, ge=1)
    """Insurer callbacks accepted per callback URL per minute (per process); above it the
    answer is 429."""
    metrics_auth: bool = False
    """``GET /metrics`` asks for a key with the ``metrics:read`` scope; off (the default),
    it answers anyone who reaches it: scrape it on a private network (docs/api.md)."""


class InsurerSettings(_Section):
    """One insurer (or bureau) connection: which adapter, where, with which credentials."""

    adapter: str
    base_url: str = SANDBOX_URL
    environment: Literal["production", "uat", "sandbox"] = "sandbox"
    credentials: dict[str, SecretStr] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)
    allow_private_network: bool = False
    """Outside ``environment = "sandbox"``, a ``base_url`` whose host resolves to a
    loopback, private or link-local address is refused unless this is true (checked
    when the adapter is built, see :mod:`tci_gateway.http.addresses`)."""

    @field_validator("base_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if value == SANDBOX_URL:
            return value
        parts = urlsplit(value)
        if parts.username or parts.password:
            raise ValueError("credentials do not belong in base_url; use the environment")
        if parts.scheme == "https" and parts.hostname:
            return value.rstrip("/")
        if parts.scheme == "http" and parts.hostname and is_loopback(parts.hostname):
            return value.rstrip("/")
        raise ValueError(
            f"base_url {value!r} must be https (plain http only to a loopback sandbox), "
            f"or {SANDBOX_URL!r} for the in-process sandbox"
        )

    @model_validator(mode="after")
    def _http_only_in_sandbox(self) -> InsurerSettings:
        if self.base_url.startswith("http://") and self.environment != "sandbox":
            raise ValueError("plain http is only allowed with environment = 'sandbox'")
        return self


class PolicySettings(_Section):
    """A policy's terms, as the contract states them."""

    insurer: str
    currency: str
    insured_percentage: Decimal
    max_credit_period_days: int = Field(ge=0)
    max_extension_days: int = Field(ge=0)
    overdue_notification_days: int = Field(ge=0)
    waiting_days: int = Field(ge=0)
    claim_filing_days: int = Field(ge=0)
    discretionary_limit: Decimal = Decimal(0)
    claim_threshold: Decimal = Decimal(0)
    deductible: Decimal = Decimal(0)
    timezone: str = "UTC"
    renewal_months: int | None = Field(default=None, ge=1)
    extension_moves_deadlines: bool = True
    external_ref: dict[str, str] = Field(default_factory=dict)

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        try:
            return check_currency(value)
        except MoneyError as exc:
            raise ValueError(str(exc)) from exc

    def to_domain(self, key: str) -> Policy:
        def money(amount: Decimal) -> Money:
            return Money(amount, self.currency)

        terms = PolicyTerms(
            currency=self.currency,
            insured_percentage=self.insured_percentage,
            max_credit_period_days=self.max_credit_period_days,
            max_extension_days=self.max_extension_days,
            overdue_notification_days=self.overdue_notification_days,
            waiting_days=self.waiting_days,
            claim_filing_days=self.claim_filing_days,
            discretionary_limit=money(self.discretionary_limit),
            claim_threshold=money(self.claim_threshold),
            deductible=money(self.deductible),
            timezone=self.timezone,
            renewal_months=self.renewal_months,
            extension_moves_deadlines=self.extension_moves_deadlines,
        )
        return Policy(key=key, insurer=self.insurer, terms=terms, external_ref=self.external_ref)


DEFAULT_JOBS: dict[str, str] = {
    "limit_sync": "30 2 * * *",
    "pending_requests_poll": "*/30 * * * *",
    "claims_run": "30 4 * * *",
    "credit_review": "0 5 * * *",
    "alert_digest": "0 7 * * *",
}
"""The scheduled jobs and their default crontab schedules (``[scheduler.jobs.<id>]``)."""


def _check_zone(value: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{value!r} is not an IANA time zone (e.g. 'UTC', 'Europe/Paris')"
        ) from None
    return value


class CronError(ValueError):
    """A crontab string that cannot be scheduled."""


def check_crontab(expr: str) -> str:
    """Check a 5-field crontab string (minute hour day-of-month month day-of-week) as
    croniter reads it; returns it with single spaces. Raises :class:`CronError`."""
    fields = expr.split()
    if len(fields) != 5:
        raise CronError(
            f"{expr!r} is not a 5-field crontab (minute hour day-of-month month day-of-week)"
        )
    try:
        croniter(" ".join(fields))
    except (CroniterError, ValueError) as exc:
        raise CronError(f"{expr!r}: {exc}") from None
    return " ".join(fields)


class JobSettings(_Section):
    """One scheduled job: a 5-field crontab schedule, its time zone, on or off."""

    cron: str
    timezone: str | None = None
    enabled: bool = True

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        try:
            return check_crontab(value)
        except CronError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else _check_zone(value)


class SchedulerSettings(_Section):
    """``[scheduler]``: the nightly and intra-day jobs (``tci scheduler run``)."""

    timezone: str = "UTC"
    misfire_grace_seconds: int = Field(default=6 * 3600, ge=1)
    lease_seconds: float = Field(default=60.0, gt=0)
    heartbeat_seconds: float = Field(default=15.0, gt=0)
    retry_failed_seconds: float = Field(default=900.0, ge=0)
    max_attempts: int = Field(default=5, ge=1)
    jobs: dict[str, JobSettings] = Field(
        default_factory=lambda: {k: JobSettings(cron=v) for k, v in DEFAULT_JOBS.items()}
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return _check_zone(value)

    @field_validator("jobs", mode="before")
    @classmethod
    def _merge_defaults(cls, value: Any) -> Any:
        # A job named in the file keeps its default schedule unless it gives one, and the
        # jobs not named keep theirs: `[scheduler.jobs.alert_digest] enabled = false` works.
        if not isinstance(value, dict):
            return value
        unknown = sorted(set(value) - set(DEFAULT_JOBS))
        if unknown:
            raise ValueError(
                f"unknown job(s) {', '.join(unknown)} (known: {', '.join(sorted(DEFAULT_JOBS))})"
            )
        merged: dict[str, Any] = {}
        for job, cron in DEFAULT_JOBS.items():
            given = value.get(job, {})
            if isinstance(given, JobSettings):
                merged[job] = given
            elif isinstance(given, dict):
                merged[job] = {"cron": cron, **given}
            else:
                merged[job] = given
        return merged

    @model_validator(mode="after")
    def _heartbeat_within_lease(self) -> SchedulerSettings:
        if self.heartbeat_seconds >= self.lease_seconds:
            raise ValueError("heartbeat_seconds must be shorter than lease_seconds")
        return self

    def job_timezone(self, job: str) -> str:
        """The time zone a job's schedule and business date are counted in."""
        return self.jobs[job].timezone or self.timezone


class WebSettings(_Section):
    """``[web]``: the risk team's workspace in the browser (docs/web.md)."""

    enabled: bool = True
    """Serve the workspace beside the API (``tci serve``); off: the API alone."""
    session_idle_minutes: int = Field(default=30, ge=1)
    """A session ends after this long without a request."""
    session_hours: int = Field(default=12, ge=1)
    """A session ends this long after sign-in, however active."""
    secure_cookies: bool | None = None
    """The session cookie's ``Secure`` flag; unset: on when served over https (the
    request's scheme, or ``[api] public_url`` starting with https)."""


class NotifySettings(_Section):
    """``[notify]``: alerts sent to people by e-mail (SMTP) and chat webhooks
    (docs/web.md). Credentials come from the environment variables named here."""

    smtp_host: str = ""
    """The SMTP server; empty: e-mail is not sent (messages wait, marked why)."""
    smtp_port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = True
    """Upgrade the connection with STARTTLS before sending (refuse to send without it)."""
    smtp_username_env: str = "TCI_SMTP_USERNAME"
    smtp_password_env: str = "TCI_SMTP_PASSWORD"  # noqa: S105 (the variable's name)
    from_address: str = "tci-gateway@localhost"
    timeout_seconds: float = Field(default=20.0, gt=0)
    interval_seconds: float = Field(default=5.0, gt=0)
    """How often a serving process's relay looks for messages to send."""
    max_attempts: int = Field(default=10, ge=1)
    backoff_initial_seconds: float = Field(default=30.0, gt=0)
    backoff_max_seconds: float = Field(default=3600.0, gt=0)
    private_chat_webhooks: bool = False
    """Let people point their chat webhook at a host that resolves to a loopback or private
    address (a chat server inside the network). Off: such URLs are refused on the settings
    page, so that signing in does not let anyone make the gateway probe internal hosts."""
    immediate_kinds: list[str] = Field(
        default_factory=lambda: [
            "deadline_approaching",
            "deadline_late",
            "cover_withdrawn",
            "pending_withdrawal",
            "cover_reduced",
            "filing_rejected",
        ]
    )
    """Alert kinds sent at once rather than only in the daily digest."""


class Settings(BaseSettings):
    """The whole configuration. Build it with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="TCI_", env_nested_delimiter="__", extra="forbid", case_sensitive=False
    )

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    insurers: dict[str, InsurerSettings] = Field(default_factory=dict)
    bureaus: dict[str, InsurerSettings] = Field(default_factory=dict)
    policies: dict[str, PolicySettings] = Field(default_factory=dict)
    erp_profiles: dict[str, ErpProfile] = Field(default_factory=dict)
    """``[erp_profiles.<name>]``: mapping profiles for ERP exports (docs/erp-profiles.md)."""
    import_: ImportSettings = Field(
        default_factory=ImportSettings, validation_alias=AliasChoices("import", "tci_import")
    )
    """``[import]`` (a Python keyword, hence the alias; ``TCI_IMPORT__...`` overrides it)."""
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    sync: SyncSettings = Field(default_factory=SyncSettings)
    escalation: EscalationSettings = Field(default_factory=EscalationSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    credit: CreditSettings = Field(default_factory=CreditSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML file arrives as init kwargs; the environment overrides it.
        return (env_settings, init_settings)

    def domain_policies(self) -> dict[str, Policy]:
        """The configured policies as domain objects, checked against the insurers."""
        policies: dict[str, Policy] = {}
        for key, policy in self.policies.items():
            if policy.insurer not in self.insurers:
                known = ", ".join(sorted(self.insurers)) or "none"
                raise ConfigError(
                    f"policy {key!r} names insurer {policy.insurer!r}, which is not configured "
                    f"(configured insurers: {known})"
                )
            try:
                policies[key] = policy.to_domain(key)
            except (PolicyError, MoneyError) as exc:
                raise ConfigError(f"policy {key!r}: {exc}") from exc
        return policies

    def escalation_paths(self) -> dict[str, EscalationPath]:
        """The tiers' paths (checked against the policies by :func:`load_settings`)."""
        return self.escalation.paths()


def find_config(explicit: Path | None) -> Path | None:
    """The configuration file to use, or ``None`` for the defaults."""
    if explicit is not None:
        return explicit
    from_env = os.environ.get("TCI_CONFIG")
    if from_env:
        return Path(from_env)
    local = Path("tci.toml")
    return local if local.is_file() else None


def _describe(error: ValidationError) -> str:
    # Locations and messages only: pydantic's input values could hold a secret.
    lines = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "(top level)"
        lines.append(f"{where}: {item['msg']}")
    return "; ".join(lines)


def load_settings(path: Path | None = None) -> Settings:
    """Read the TOML file (numbers parsed as Decimal, never float), apply ``TCI_*``
    overrides, validate, and register every secret with the log redactor."""
    data: dict[str, Any] = {}
    config_path = find_config(path)
    if config_path is not None:
        try:
            with config_path.open("rb") as handle:
                data = tomllib.load(handle, parse_float=Decimal)
        except FileNotFoundError as exc:
            raise ConfigError(f"configuration file {config_path} not found") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"configuration file {config_path} is not valid TOML: {exc}") from exc
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        source = str(config_path) if config_path else "environment"
        raise ConfigError(f"invalid configuration ({source}): {_describe(exc)}") from None
    for provider in (*settings.insurers.values(), *settings.bureaus.values()):
        for secret in provider.credentials.values():
            register_secret(secret.get_secret_value())
    for password in _url_passwords(settings.database.url):
        register_secret(password)
    _check_escalation(settings, str(config_path) if config_path else "environment")
    return settings


def _url_passwords(url: str) -> set[str]:
    """The password in a database URL (``postgresql://user:PASSWORD@host/db``), as
    written and %-decoded."""
    try:
        password = urlsplit(url).password
    except ValueError:
        return set()
    return {password, unquote(password)} if password else set()


def _check_escalation(settings: Settings, source: str) -> None:
    """Refuse, at start-up, escalation paths that could miss a deadline of a policy
    (a policy that is itself invalid is reported when it is used)."""
    paths = settings.escalation.paths()
    if settings.escalation.default_tier not in paths:
        raise ConfigError(
            f"invalid configuration ({source}): escalation.default_tier "
            f"{settings.escalation.default_tier!r} is not a tier ({', '.join(sorted(paths))})"
        )
    terms: dict[str, PolicyTerms] = {}
    for key, policy in settings.policies.items():
        try:
            terms[key] = policy.to_domain(key).terms
        except (PolicyError, MoneyError):
            continue
    problems = check_paths(paths.values(), terms)
    if problems:
        raise ConfigError(
            f"invalid configuration ({source}): escalation paths that could miss an insurer "
            "deadline: " + "; ".join(problems)
        )
