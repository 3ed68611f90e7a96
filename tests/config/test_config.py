"""Configuration: TOML + TCI_* overrides, exact numbers, safe URLs, secrets kept out."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tci_gateway.config import load_settings
from tci_gateway.errors import ConfigError
from tci_gateway.logs import redact_text

REPO = Path(__file__).resolve().parents[2]

POLICY = """
[insurers.atradius]
adapter = "atradius"
base_url = "sandbox"

[policies.p1]
insurer = "atradius"
currency = "EUR"
insured_percentage = 87.5
max_credit_period_days = 120
max_extension_days = 60
overdue_notification_days = 90
waiting_days = 180
claim_filing_days = 360
discretionary_limit = 12500.10
timezone = "Europe/Paris"
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("TCI_"):
            monkeypatch.delenv(key)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tci.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_examples_in_config_dir_load(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("client_id", "client_secret", "app_key"):
        monkeypatch.setenv(
            f"TCI_INSURERS__ATRADIUS__CREDENTIALS__{name.upper()}", f"x-{name}-value"
        )
    example = load_settings(REPO / "config" / "tci.example.toml")
    assert example.insurers["atradius"].credentials["client_secret"].get_secret_value() == (
        "x-client_secret-value"
    )
    assert "x-client_secret-value" not in repr(example)
    assert set(example.domain_policies()) == {"atradius-eu"}
    assert set(load_settings(REPO / "config" / "sandbox.toml").domain_policies()) == {
        "atradius-main",
        "allianz-aci",
        "coface-main",
    }
    assert set(load_settings(REPO / "fixtures" / "demo" / "tci.toml").domain_policies()) == {
        "atradius-main"
    }


def test_numbers_are_exact_and_env_overrides_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TCI_DATABASE__URL", "sqlite:///elsewhere.db")
    monkeypatch.setenv("TCI_POLICIES__P1__CLAIM_THRESHOLD", "2500.05")
    settings = load_settings(write(tmp_path, POLICY))
    assert settings.database.url == "sqlite:///elsewhere.db"
    terms = settings.domain_policies()["p1"].terms
    assert terms.insured_percentage == Decimal("87.5")
    assert terms.discretionary_limit.amount == Decimal("12500.10")
    assert terms.claim_threshold.amount == Decimal("2500.05")


@pytest.mark.parametrize(
    "url",
    [
        "http://api.example.com",
        "http://169.254.169.254/latest",
        "https://user:pw@api.example.com",
        "ftp://api.example.com",
        "api.example.com",
    ],
)
def test_unsafe_base_urls_are_refused(tmp_path: Path, url: str) -> None:
    text = POLICY.replace('base_url = "sandbox"', f'base_url = "{url}"\nenvironment = "uat"')
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text))
    assert "base_url" in str(info.value)
    assert "pw" not in str(info.value).replace("https", "")


def test_loopback_http_only_in_the_sandbox_environment(tmp_path: Path) -> None:
    ok = POLICY.replace(
        'base_url = "sandbox"', 'base_url = "http://127.0.0.1:8081"\nenvironment = "sandbox"'
    )
    assert (
        load_settings(write(tmp_path, ok)).insurers["atradius"].base_url == "http://127.0.0.1:8081"
    )
    bad = ok.replace('environment = "sandbox"', 'environment = "production"')
    with pytest.raises(ConfigError):
        load_settings(write(tmp_path, bad))


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (('insurer = "atradius"\ncurrency', 'insurer = "coface"\ncurrency'), "not configured"),
        (('currency = "EUR"', 'currency = "EURO"'), "currency"),
        (('timezone = "Europe/Paris"', 'timezone = "Mars/Olympus"'), "time zone"),
        (("insured_percentage = 87.5", "insured_percentage = 187.5"), "insured percentage"),
        (("[policies.p1]", "[policys.p1]"), "policys"),
    ],
)
def test_bad_configuration_is_a_clear_config_error(
    tmp_path: Path, change: tuple[str, str], needle: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, POLICY.replace(*change))).domain_policies()
    assert needle in str(info.value)


def test_secrets_are_registered_and_never_in_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary = "canary-Secret-4f9c2e"
    monkeypatch.setenv("TCI_INSURERS__ATRADIUS__CREDENTIALS__CLIENT_SECRET", canary)
    settings = load_settings(write(tmp_path, POLICY))
    assert redact_text(f"token request with {canary}") == "token request with ***"
    monkeypatch.setenv("TCI_HTTP__MAX_ATTEMPTS", canary)  # invalid: a secret-looking value
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, POLICY))
    assert canary not in str(info.value)
    assert settings.insurers["atradius"].credentials["client_secret"].get_secret_value() == canary


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(write(tmp_path, "[database\nurl ="))
