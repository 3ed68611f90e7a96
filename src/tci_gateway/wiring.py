"""The composition root: settings in, ledger and adapters out. Services never read
settings; the CLI (and later the scheduler and the HTTP API) build them here."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tci_gateway.config import (
    SANDBOX_URL,
    HttpSettings,
    InsurerSettings,
    NotifySettings,
    Settings,
)
from tci_gateway.domain.exposure import Converter
from tci_gateway.domain.tiers import TierRules
from tci_gateway.errors import ConfigError
from tci_gateway.http.addresses import non_public_addresses
from tci_gateway.http.retry import RetryPolicy
from tci_gateway.ledger.engine import Ledger, display_url

if TYPE_CHECKING:
    from tci_gateway.adapters.contract import BureauAdapter, InsurerAdapter, Sandbox
    from tci_gateway.services import notify, notify_send
    from tci_gateway.services.behaviour import BehaviourOptions
    from tci_gateway.services.credit_options import CreditOptions
    from tci_gateway.services.nightly import ClaimsOptions, ExposureOptions, NightlyOptions
    from tci_gateway.services.tiers import TierOptions


@dataclass
class Connection:
    """An adapter and, for ``base_url = "sandbox"``, the in-process sandbox behind it."""

    adapter: InsurerAdapter
    sandbox: Sandbox | None = None


@dataclass
class BureauConnection:
    adapter: BureauAdapter
    sandbox: Sandbox | None = None


@dataclass
class Wiring:
    settings: Settings
    config_dir: Path
    connections: dict[str, Connection] = field(default_factory=dict)
    bureau_connections: dict[str, BureauConnection] = field(default_factory=dict)

    def ledger(self, *, require_schema: bool = True) -> Ledger:
        """The configured ledger, checked to answer (and, unless ``require_schema`` is
        false, to be at the current schema): a failure is one :class:`ConfigError`."""
        from tci_gateway.ledger.migrate import is_up_to_date

        url = self.settings.database.url
        ledger = Ledger.open(url, echo=self.settings.database.echo, create=not require_schema)
        if require_schema and not is_up_to_date(ledger.engine):
            ledger.dispose()
            raise ConfigError(
                f"the ledger {display_url(url)} is not at the current schema: "
                "run `tci db upgrade` first"
            )
        return ledger

    def exposure_options(self, ledger: Ledger) -> ExposureOptions:
        """What exposure needs from the configuration: alert horizons and FX rates (read
        now: build it before opening a unit of work)."""
        return self._exposure_options(fx_converter(ledger))

    def claims_options(self, ledger: Ledger) -> ClaimsOptions:
        """What the claims run needs from the configuration: escalation paths (checked
        at start-up), the default tier, deadline lead times and FX rates."""
        return self._claims_options(fx_converter(ledger))

    def nightly_options(self, ledger: Ledger) -> NightlyOptions:
        """The nightly cycle's options from the configuration, FX rates read once, now."""
        from tci_gateway.services.nightly import NightlyOptions

        convert = fx_converter(ledger)
        return NightlyOptions(
            staging_retention_days=self.settings.sync.staging_retention_days,
            exposure=self._exposure_options(convert),
            claims=self._claims_options(convert),
        )

    def _exposure_options(self, convert: Converter) -> ExposureOptions:
        from tci_gateway.services.nightly import ExposureOptions

        return ExposureOptions(
            convert=convert,
            expiring_within_days=self.settings.alerts.expiring_within_days,
            inactive_days=self.settings.alerts.inactive_days,
        )

    def _claims_options(self, convert: Converter) -> ClaimsOptions:
        from tci_gateway.services.nightly import ClaimsOptions

        return ClaimsOptions(
            paths=self.settings.escalation_paths(),
            default_tier=self.settings.escalation.default_tier,
            lead_days=tuple(self.settings.alerts.deadline_lead_days),
            extension_days=self.settings.escalation.extension_request_days,
            convert=convert,
        )

    def insurer(self, name: str) -> Connection:
        if name not in self.connections:
            if name not in self.settings.insurers:
                known = ", ".join(sorted(self.settings.insurers)) or "none"
                raise ConfigError(f"insurer {name!r} is not configured (configured: {known})")
            self.connections[name] = connect(
                name, self.settings.insurers[name], self.settings.http, self.config_dir
            )
        return self.connections[name]

    def bureau(self, name: str) -> BureauConnection:
        from tci_gateway.adapters.contract import BureauAdapter

        if name not in self.bureau_connections:
            if name not in self.settings.bureaus:
                known = ", ".join(sorted(self.settings.bureaus)) or "none"
                raise ConfigError(f"bureau {name!r} is not configured (configured: {known})")
            adapter, sandbox = _build(
                name, self.settings.bureaus[name], self.settings.http, self.config_dir, "bureau"
            )
            if not isinstance(adapter, BureauAdapter):
                raise ConfigError(f"adapter for bureau {name!r} did not build a bureau adapter")
            self.bureau_connections[name] = BureauConnection(adapter, sandbox)
        return self.bureau_connections[name]

    def close(self) -> None:
        for connection in self.connections.values():
            connection.adapter.close()
        for bureau in self.bureau_connections.values():
            bureau.adapter.close()


def fx_converter(ledger: Ledger) -> Converter:
    """Dated FX rates from the ledger (``tci fx import``); an amount with no usable rate
    is reported as unconverted, never guessed."""
    from tci_gateway.services.fx import ledger_converter

    return ledger_converter(ledger)


def retry_policy(http: HttpSettings) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=http.max_attempts,
        backoff_initial=http.backoff_initial,
        backoff_max=http.backoff_max,
        retry_after_max=http.retry_after_max,
        deadline=http.call_deadline,
    )


def _sandbox_options(options: Mapping[str, Any], config_dir: Path, what: str) -> dict[str, Any]:
    """The ``[...options.sandbox]`` table, with ``paths`` shared with the adapter and a
    relative ``seed`` path read from the configuration file's directory (so a copied
    configuration reads the same files, whatever the working directory)."""
    table = options.get("sandbox", {})
    if not isinstance(table, Mapping):
        raise ConfigError(f"{what}: options.sandbox must be a table")
    result = dict(table)
    if "paths" in options and "paths" not in result:
        result["paths"] = options["paths"]  # the sandbox answers where the adapter asks
    seed = result.get("seed")
    if isinstance(seed, str):
        path = Path(seed) if Path(seed).is_absolute() else config_dir.resolve() / seed
        if not path.is_file():
            relative = (
                ""
                if Path(seed).is_absolute()
                else (f" (relative to the configuration file's directory {config_dir.resolve()})")
            )
            raise ConfigError(f"{what}: sandbox seed file {seed!r} not found{relative}")
        result["seed"] = str(path)
    return result


def _check_address(name: str, settings: InsurerSettings, kind: str) -> None:
    """Refuse a base URL that resolves to a non-public address outside the sandbox,
    unless the configuration allows it."""
    if settings.environment == "sandbox" or settings.allow_private_network:
        return
    private = non_public_addresses(settings.base_url)
    if private:
        raise ConfigError(
            f"{kind} {name!r}: base_url {settings.base_url} resolves to the loopback, private "
            f"or link-local address {', '.join(private)}; refused with environment = "
            f"{settings.environment!r} unless [{kind}s.{name}] allow_private_network = true"
        )


def _build(
    name: str, settings: InsurerSettings, http: HttpSettings, config_dir: Path, kind: str
) -> tuple[object, Sandbox | None]:
    import httpx

    from tci_gateway.adapters.contract import AdapterContext
    from tci_gateway.adapters.registry import load_plugin
    from tci_gateway.http.client import Timeouts

    try:
        plugin = load_plugin(settings.adapter)
    except LookupError as exc:
        raise ConfigError(f"{kind} {name!r}: {exc}") from None
    if plugin.kind != kind:
        raise ConfigError(f"{kind} {name!r}: adapter {plugin.name!r} is a {plugin.kind} adapter")
    sandbox: Sandbox | None = None
    transport: httpx.BaseTransport | None = None
    if settings.base_url == SANDBOX_URL:
        if plugin.create_sandbox is None:
            raise ConfigError(f"{kind} {name!r}: adapter {plugin.name!r} has no sandbox")
        what = f"{kind} {name!r}"
        sandbox_options = _sandbox_options(settings.options, config_dir, what)
        try:
            sandbox = plugin.create_sandbox(sandbox_options)
        except ConfigError as exc:
            raise ConfigError(f"{what}: {exc}") from None
        except (TypeError, ValueError) as exc:  # a sandbox refusing an option's value
            raise ConfigError(f"{what}: bad sandbox option: {exc}") from None
        transport = httpx.MockTransport(sandbox.handle)
        base_url = plugin.sandbox_base_url
        credentials = dict(sandbox.credentials)
    else:
        _check_address(name, settings, kind)
        base_url = settings.base_url
        credentials = {k: v.get_secret_value() for k, v in settings.credentials.items()}
        missing = [c for c in plugin.credential_names if not credentials.get(c)]
        if missing:
            section = "INSURERS" if kind == "insurer" else "BUREAUS"
            names = ", ".join(
                f"TCI_{section}__{name.upper()}__CREDENTIALS__{c.upper()}" for c in missing
            )
            raise ConfigError(f"{kind} {name!r} needs credentials from the environment: {names}")
    context = AdapterContext(
        name=name,
        base_url=base_url,
        environment=settings.environment,
        credentials=credentials,
        options={k: v for k, v in settings.options.items() if k != "sandbox"},
        timeouts=Timeouts(
            connect=http.connect_timeout, read=http.read_timeout, deadline=http.call_deadline
        ),
        retry=retry_policy(http),
        transport=transport,
    )
    return plugin.create(context), sandbox


def connect(
    name: str, settings: InsurerSettings, http: HttpSettings, config_dir: Path
) -> Connection:
    """Build the adapter for one configured insurer."""
    from tci_gateway.adapters.contract import InsurerAdapter

    adapter, sandbox = _build(name, settings, http, config_dir, "insurer")
    if not isinstance(adapter, InsurerAdapter):
        raise ConfigError(f"adapter for insurer {name!r} did not build an insurer adapter")
    return Connection(adapter, sandbox)


def known_adapters() -> list[str]:
    from tci_gateway.adapters.registry import available

    return available()


# The alert messages' options (tci serve's relay, tci notify send).
def notify_compose_options(settings: Settings) -> notify.ComposeOptions:
    """What composing messages needs from the configuration."""
    from tci_gateway.services import notify

    return notify.ComposeOptions(
        immediate_kinds=frozenset(settings.notify.immediate_kinds),
        default_tier=settings.escalation.default_tier,
        workspace_url=settings.api.public_url,
    )


def smtp_options(conf: NotifySettings) -> notify_send.SmtpOptions:
    """The SMTP options, credentials read from the environment now."""
    from tci_gateway.services import notify_send

    return notify_send.SmtpOptions(
        host=conf.smtp_host,
        port=conf.smtp_port,
        starttls=conf.starttls,
        username=os.environ.get(conf.smtp_username_env) or None,
        password=os.environ.get(conf.smtp_password_env) or None,
        from_address=conf.from_address,
        timeout=conf.timeout_seconds,
    )


def notify_relay_options(conf: NotifySettings, instance: str) -> notify_send.RelayOptions:
    from tci_gateway.services import notify_send

    return notify_send.RelayOptions(
        instance=(instance or "tci")[:64],
        max_attempts=conf.max_attempts,
        backoff_initial=conf.backoff_initial_seconds,
        backoff_max=conf.backoff_max_seconds,
        # Longer than one send can take (connect, TLS, send: each within the timeout).
        lease_seconds=max(60.0, 4 * conf.timeout_seconds),
    )


# The tier rules' options (tci tiers evaluate, the nightly credit review).
def tier_options(settings: Settings, ledger: Ledger) -> TierOptions:
    """What the tier rules need from ``[credit]`` (FX rates read now: build it before
    opening a unit of work). A buyer without a tier counts as the escalation default
    tier, as in the claims run (:func:`behaviour_options`)."""
    from tci_gateway.services.tiers import TierOptions

    rules = settings.credit.tiers
    return TierOptions(
        rules=TierRules(
            strategic_purchases_12m=rules.strategic_purchases_12m,
            watch_dbt_days=rules.watch_dbt_days,
            watch_rating_drop=rules.watch_rating_drop,
            strategic=rules.strategic,
            growth=rules.growth,
            watch=rules.watch,
        ),
        behaviour=behaviour_options(settings, ledger),
        insurer_months=rules.watch_insurer_months,
        review_months={t: conf.review_months for t, conf in settings.credit.tier_rules.items()},
        known_tiers=known_tiers(settings),
    )


def known_tiers(settings: Settings) -> frozenset[str]:
    """The tiers a person may pin: the escalation tiers and the credit tiers (no ledger
    read, unlike :func:`tier_options`)."""
    rules = settings.credit.tiers
    return frozenset(
        {*settings.escalation.tiers, *settings.credit.tier_rules}
        | {rules.strategic, rules.growth, rules.watch}
    )


# The credit applications' options (tci credit, the API, the nightly credit review).
_PROVIDER_ID_SCHEMES = {"dnb": "DUNS", "gleif": "LEI"}
"""The identifier that is a bureau adapter's own company id (asked by it directly)."""


def credit_options(settings: Settings, ledger: Ledger) -> CreditOptions:
    """What the pre-screen needs from ``[credit]`` (FX rates read now: build it before
    opening a unit of work)."""
    from tci_gateway.services.credit_options import CreditOptions, DclOptions

    credit, tiers = settings.credit, tier_options(settings, ledger)
    dcl, prov, prog = credit.dcl, credit.provisional, credit.progressive
    rules = credit.tier_rules
    return CreditOptions(
        behaviour=tiers.behaviour,
        factors=credit.scorecard.domain_factors(),
        threshold=credit.scorecard.threshold,
        tier_thresholds={
            t: r.score_threshold for t, r in rules.items() if r.score_threshold is not None
        },
        tier_prescreen={t: r.prescreen for t, r in rules.items()},
        tier_progressive={t: r.progressive for t, r in rules.items()},
        default_tier=tiers.behaviour.default_tier,
        dcl=DclOptions(
            report_max_age_months=dcl.report_max_age_months,
            approved_bureaus=frozenset(dcl.approved_bureaus),
            experience_months=dcl.experience_months,
            experience_min_paid_invoices=dcl.experience_min_paid_invoices,
            experience_balance_uplift=dcl.experience_balance_uplift,
            insurer_refusal_months=dcl.insurer_refusal_months,
            adverse_months=dcl.adverse_months,
            countries=frozenset(dcl.countries),
            by_country={c.upper(): v for c, v in dcl.by_country.items()},
        ),
        provisional_enabled=prov.enabled,
        provisional_share=prov.share,
        provisional_maximum=prov.maximum,
        progressive=prog.rules() if prog.enabled else None,
        new_customer_months=prog.new_customer_months,
        tiers=tiers,
        bureau_id_schemes={
            name: _PROVIDER_ID_SCHEMES[conf.adapter]
            for name, conf in settings.bureaus.items()
            if conf.adapter in _PROVIDER_ID_SCHEMES
        },
    )


# Payment behaviour's options (tci behaviour, the API and pages, snapshots).
def behaviour_options(settings: Settings, ledger: Ledger) -> BehaviourOptions:
    """How payment behaviour is measured, from ``[credit]`` and ``[credit.behaviour]``
    (FX rates read now: build it before opening a unit of work). A buyer without a tier
    counts in the escalation default tier, as in the claims run."""
    from tci_gateway.services.behaviour import BehaviourOptions

    credit = settings.credit
    return BehaviourOptions(
        reporting_currency=credit.reporting_currency,
        convert=fx_converter(ledger),
        dso_months=credit.behaviour.dso_months,
        countback_max_months=credit.behaviour.countback_max_months,
        dbt_window_months=credit.behaviour.dbt_window_months,
        default_tier=settings.escalation.default_tier,
        scopes=tuple(credit.behaviour.snapshot_scopes),
    )
