"""Crontab schedules and the ``[scheduler]`` configuration."""

from __future__ import annotations

import re
import tomllib
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from tci_gateway.config import (
    DEFAULT_JOBS,
    CronError,
    SchedulerSettings,
    Settings,
    check_crontab,
    load_settings,
)
from tci_gateway.errors import ConfigError
from tci_gateway.scheduler.cron import (
    CrontabTrigger,
    business_date,
    latest_fire,
    next_fire,
    trigger,
)
from tci_gateway.scheduler.jobs import JOBS

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("30 2 * * *", "30 2 * * *"),
        ("*/30  *  * * *", "*/30 * * * *"),
        ("0 7 * * MON,wed", "0 7 * * MON,wed"),
        ("0 0 1 * ?", "0 0 1 * ?"),
    ],
)
def test_crontabs_are_checked_and_normalised(expr: str, expected: str) -> None:
    assert check_crontab(expr) == expected


@pytest.mark.parametrize("expr", ["* * *", "61 * * * *", "0 25 * * *", "0 0 * * 8", "0 0 0 * *"])
def test_bad_crontabs_are_refused(expr: str) -> None:
    with pytest.raises(CronError):
        check_crontab(expr)


UTC_DEC_1 = datetime(2026, 12, 1, tzinfo=UTC)  # a Tuesday


@pytest.mark.parametrize(
    ("expr", "first_fire"),
    [
        ("0 7 * * 0", datetime(2026, 12, 6, 7, tzinfo=UTC)),  # 0 is Sunday
        ("0 7 * * 7", datetime(2026, 12, 6, 7, tzinfo=UTC)),  # and so is 7
        ("0 7 * * 1-5", datetime(2026, 12, 1, 7, tzinfo=UTC)),
        ("0 7 * * 5-7", datetime(2026, 12, 4, 7, tzinfo=UTC)),
        ("0 7 * * sat", datetime(2026, 12, 5, 7, tzinfo=UTC)),
        # both day fields restricted: crontab fires on either (the 15th, or a Monday)
        ("0 0 15 * 1", datetime(2026, 12, 7, tzinfo=UTC)),
    ],
)
def test_weekdays_keep_their_crontab_meaning(expr: str, first_fire: datetime) -> None:
    assert next_fire(trigger(expr, "UTC"), UTC_DEC_1) == first_fire


def test_weekday_numbers_fire_on_the_crontab_day() -> None:
    weekdays = trigger("0 7 * * 1-5", "UTC")
    assert latest_fire(weekdays, datetime(2026, 12, 6, 12, tzinfo=UTC)) == datetime(
        2026, 12, 4, 7, tzinfo=UTC
    )


def test_next_fire_at_or_after_now_and_the_apscheduler_trigger() -> None:
    nightly = trigger("30 2 * * *", "UTC")
    at = datetime(2026, 12, 1, 2, 30, tzinfo=UTC)
    assert next_fire(nightly, at) == at
    assert next_fire(nightly, at.replace(second=1)) == datetime(2026, 12, 2, 2, 30, tzinfo=UTC)
    aps = CrontabTrigger(nightly)
    assert aps.get_next_fire_time(None, at) == at
    assert aps.get_next_fire_time(at, at) == datetime(2026, 12, 2, 2, 30, tzinfo=UTC)
    # after a pause, the fires in between are given one by one (APScheduler coalesces)
    later = datetime(2026, 12, 5, 9, tzinfo=UTC)
    assert aps.get_next_fire_time(at, later) == datetime(2026, 12, 2, 2, 30, tzinfo=UTC)


def test_latest_fire_at_or_before_now() -> None:
    nightly = trigger("30 2 * * *", "UTC")
    at = datetime(2026, 12, 1, 2, 30, tzinfo=UTC)
    assert latest_fire(nightly, at) == at
    assert latest_fire(nightly, datetime(2026, 12, 1, 2, 29, 59, tzinfo=UTC)) == datetime(
        2026, 11, 30, 2, 30, tzinfo=UTC
    )
    poll = trigger("*/30 * * * *", "UTC")
    assert latest_fire(poll, datetime(2026, 12, 1, 5, 59, tzinfo=UTC)) == datetime(
        2026, 12, 1, 5, 30, tzinfo=UTC
    )
    yearly = trigger("0 0 1 1 *", "UTC")
    assert latest_fire(yearly, datetime(2026, 12, 1, tzinfo=UTC)) == datetime(
        2026, 1, 1, tzinfo=UTC
    )


def test_business_date_is_the_fire_date_in_the_jobs_zone() -> None:
    paris = trigger("30 0 * * *", "Europe/Paris")
    fire = latest_fire(paris, datetime(2026, 12, 1, 0, 0, tzinfo=UTC))  # 01:00 in Paris
    assert fire is not None
    assert fire.astimezone(UTC) == datetime(2026, 11, 30, 23, 30, tzinfo=UTC)
    assert business_date(fire, "Europe/Paris") == date(2026, 12, 1)
    assert business_date(fire, "UTC") == date(2026, 11, 30)


def test_scheduler_defaults() -> None:
    s = Settings().scheduler
    assert (s.timezone, s.misfire_grace_seconds, s.lease_seconds, s.heartbeat_seconds) == (
        "UTC",
        6 * 3600,
        60,
        15,
    )
    assert {k: v.cron for k, v in s.jobs.items()} == {
        "limit_sync": "30 2 * * *",
        "pending_requests_poll": "*/30 * * * *",
        "claims_run": "30 4 * * *",
        "credit_review": "0 5 * * *",
        "alert_digest": "0 7 * * *",
    }
    assert all(j.enabled and j.timezone is None for j in s.jobs.values())
    assert set(DEFAULT_JOBS) == set(JOBS)  # every scheduled id has a job function


def test_naming_one_job_keeps_the_others_and_its_default_schedule() -> None:
    s = SchedulerSettings(
        jobs={"alert_digest": {"enabled": False}, "limit_sync": {"timezone": "Europe/Paris"}}  # type: ignore[dict-item]
    )
    assert s.jobs["alert_digest"].enabled is False
    assert s.jobs["limit_sync"].cron == "30 2 * * *"
    assert s.job_timezone("limit_sync") == "Europe/Paris"
    assert s.job_timezone("pending_requests_poll") == "UTC"
    assert s.jobs["pending_requests_poll"].enabled


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"jobs": {"nightly_magic": {"cron": "0 1 * * *"}}}, "unknown job"),
        ({"jobs": {"limit_sync": {"cron": "0 2 * *"}}}, "5-field"),
        ({"jobs": {"limit_sync": {"cron": "0 2 1 * 8"}}}, "out of range"),
        ({"timezone": "Mars/Olympus"}, "IANA"),
        ({"jobs": {"limit_sync": {"timezone": "Nowhere"}}}, "IANA"),
        ({"lease_seconds": 10, "heartbeat_seconds": 10}, "shorter than lease"),
        ({"misfire_grace_seconds": 0}, "greater than or equal"),
    ],
)
def test_bad_scheduler_settings_are_refused(data: dict[str, object], needle: str) -> None:
    with pytest.raises(ValidationError, match=needle):
        SchedulerSettings(**data)  # type: ignore[arg-type]


def test_file_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in __import__("os").environ if k.startswith("TCI_")]:
        monkeypatch.delenv(key)
    config = tmp_path / "tci.toml"
    config.write_text(
        '[scheduler]\ntimezone = "Europe/Paris"\n[scheduler.jobs.limit_sync]\ncron = "0 3 * * *"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("TCI_SCHEDULER__JOBS__ALERT_DIGEST__ENABLED", "false")
    s = load_settings(config).scheduler
    assert (s.timezone, s.jobs["limit_sync"].cron, s.jobs["alert_digest"].enabled) == (
        "Europe/Paris",
        "0 3 * * *",
        False,
    )
    config.write_text('[scheduler.jobs.limit_sync]\ncron = "every night"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"scheduler\.jobs\.limit_sync\.cron"):
        load_settings(config)


def test_the_example_configuration_documents_valid_scheduler_keys() -> None:
    text = (REPO / "config" / "tci.example.toml").read_text(encoding="utf-8")
    section = text.split("# [scheduler]:", 1)[1].split("\n# [credit]:", 1)[0]
    lines = re.findall(r"^# (\[scheduler[^\]]*\]|\w+ = [^#\n]*)", section, re.MULTILINE)
    data = tomllib.loads("\n".join(lines))
    documented = set(data["scheduler"]) - {"jobs"}
    assert documented == set(SchedulerSettings.model_fields) - {"jobs"}
    parsed = SchedulerSettings(**data["scheduler"])
    assert {k: v.cron for k, v in parsed.jobs.items()} == DEFAULT_JOBS
