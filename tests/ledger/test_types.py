"""Exact money and UTC instants in the ledger, on SQLite and PostgreSQL
(reliability.md, requirements 11 and 15)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select, text
from sqlalchemy.exc import StatementError

from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.types import ExactDecimal, UTCDateTime

metadata = MetaData()
probe = Table(
    "type_probe",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("cents", ExactDecimal(scale=2)),
    Column("amount", ExactDecimal(scale=4)),
    Column("rate", ExactDecimal(scale=10)),
    Column("at", UTCDateTime()),
    Column("tag", String(32)),
)

DB_SETTINGS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture
def db(ledger: Ledger) -> Iterator[Ledger]:
    metadata.create_all(ledger.engine)
    yield ledger
    metadata.drop_all(ledger.engine)


def write(ledger: Ledger, **values: Any) -> int:
    with ledger.engine.begin() as conn:
        return int(conn.execute(insert(probe).values(**values).returning(probe.c.id)).scalar_one())


def read(ledger: Ledger, row_id: int, column: str) -> Any:
    with ledger.engine.connect() as conn:
        return conn.execute(select(probe.c[column]).where(probe.c.id == row_id)).scalar_one()


def bind_error(exc_info: pytest.ExceptionInfo[BaseException]) -> BaseException:
    """The error the column type raised (SQLAlchemy wraps it in a StatementError)."""
    err = exc_info.value
    return err.orig if isinstance(err, StatementError) and err.orig is not None else err


def decimals(places: int, bound: int) -> st.SearchStrategy[Decimal]:
    return st.decimals(
        places=places,
        allow_nan=False,
        allow_infinity=False,
        min_value=Decimal(-bound),
        max_value=Decimal(bound),
    )


# -- ExactDecimal ----------------------------------------------------------------------------


@DB_SETTINGS
@given(cents=decimals(2, 10**13), amount=decimals(4, 10**13))
def test_decimals_round_trip_exactly(db: Ledger, cents: Decimal, amount: Decimal) -> None:
    row = write(db, cents=cents, amount=amount)
    got_cents, got_amount = read(db, row, "cents"), read(db, row, "amount")
    assert isinstance(got_cents, Decimal) and isinstance(got_amount, Decimal)
    assert got_cents == cents
    assert got_amount == amount


@pytest.mark.parametrize(
    "value",
    [
        "0",
        "0.01",
        "-0.01",
        "0.0001",
        "9999999999999.9999",
        "-9999999999999.9999",
        "10000000000000",
        "123456789012.3456",
        "0.1",  # 0.1 + 0.2 == 0.3 only when no float is involved
        "1.10",
    ],
)
def test_edge_values_round_trip(db: Ledger, value: str) -> None:
    row = write(db, amount=Decimal(value))
    assert read(db, row, "amount") == Decimal(value)


def test_sums_stay_exact(db: Ledger) -> None:
    for _ in range(10):
        write(db, amount=Decimal("0.1"), tag="sum")
    with db.engine.connect() as conn:
        total = conn.execute(select(func.sum(probe.c.amount)).where(probe.c.tag == "sum")).scalar()
    assert total == Decimal("1.0")
    assert isinstance(total, Decimal)


def test_fx_rates_keep_ten_places(db: Ledger) -> None:
    row = write(db, rate=Decimal("1.0842156789"))
    assert read(db, row, "rate") == Decimal("1.0842156789")


@pytest.mark.parametrize(
    ("column", "value"),
    [("amount", "1.23456"), ("cents", "0.001"), ("amount", "0.00001"), ("rate", "1E-11")],
)
def test_more_places_than_the_scale_are_refused_not_rounded(
    db: Ledger, column: str, value: str
) -> None:
    with pytest.raises((ValueError, StatementError)) as info:
        write(db, **{column: Decimal(value)})
    assert isinstance(bind_error(info), ValueError)
    assert "decimal places" in str(bind_error(info))
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(probe)).scalar() == 0


def test_trailing_zeros_beyond_the_scale_are_fine(db: Ledger) -> None:
    row = write(db, amount=Decimal("1.230000"))
    assert read(db, row, "amount") == Decimal("1.23")


@pytest.mark.parametrize("value", [1.5, 0.1, "1.50", True])
def test_non_decimals_are_refused(db: Ledger, value: object) -> None:
    with pytest.raises((TypeError, StatementError)) as info:
        write(db, amount=value)
    assert isinstance(bind_error(info), TypeError)


def test_integers_are_exact_too(db: Ledger) -> None:
    row = write(db, amount=42)
    assert read(db, row, "amount") == Decimal(42)
    with db.engine.connect() as conn:
        found = conn.execute(select(probe.c.id).where(probe.c.amount > 0)).scalars().all()
    assert found == [row]


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "sNaN"])
def test_non_finite_values_are_refused(db: Ledger, value: str) -> None:
    with pytest.raises((ValueError, StatementError)) as info:
        write(db, amount=Decimal(value))
    assert isinstance(bind_error(info), ValueError)


@pytest.mark.parametrize("value", ["1000000000000000", "-1E+15", "1E+30"])
def test_values_too_large_for_the_column_are_refused_alike(db: Ledger, value: str) -> None:
    with pytest.raises((ValueError, StatementError)) as info:
        write(db, amount=Decimal(value))
    assert isinstance(bind_error(info), ValueError)
    assert "does not fit" in str(bind_error(info))


def test_null_stays_null(db: Ledger) -> None:
    row = write(db, amount=None, at=None)
    assert read(db, row, "amount") is None
    assert read(db, row, "at") is None


def test_sqlite_stores_scaled_integers_not_floats(db: Ledger) -> None:
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite storage detail")
    row = write(db, amount=Decimal("12.34"))
    with db.engine.connect() as conn:
        raw = conn.execute(
            text("SELECT amount, typeof(amount) FROM type_probe WHERE id = :id"), {"id": row}
        ).one()
    assert tuple(raw) == (123400, "integer")


def test_postgresql_uses_numeric(db: Ledger) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL storage detail")
    with db.engine.connect() as conn:
        kind = conn.execute(
            text(
                "SELECT data_type, numeric_precision, numeric_scale FROM information_schema.columns"
                " WHERE table_name = 'type_probe' AND column_name = 'amount'"
                " AND table_schema = current_schema()"
            )
        ).one()
    assert tuple(kind) == ("numeric", 19, 4)


# -- UTCDateTime -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "when",
    [
        datetime(2026, 3, 29, 1, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 3, 29, 3, 30, tzinfo=ZoneInfo("Europe/Paris")),  # just after DST
        datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=ZoneInfo("Europe/Paris")),  # repeated hour
        datetime(2026, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=-8))),
        datetime(2026, 7, 1, 12, 0, tzinfo=ZoneInfo("Asia/Kolkata")),
    ],
)
def test_aware_datetimes_come_back_as_the_same_instant_in_utc(db: Ledger, when: datetime) -> None:
    row = write(db, at=when)
    got = read(db, row, "at")
    # (compared in UTC: PEP 495 makes an ambiguous local time unequal to any other zone)
    assert got == when.astimezone(UTC)
    assert got.timestamp() == when.timestamp()
    assert got.tzinfo is UTC


@DB_SETTINGS
@given(
    when=st.datetimes(
        min_value=datetime(1990, 1, 1),
        max_value=datetime(2100, 1, 1),
        timezones=st.sampled_from(
            [UTC, ZoneInfo("Europe/Paris"), ZoneInfo("America/Los_Angeles"), ZoneInfo("Asia/Tokyo")]
        ),
    )
)
def test_instants_round_trip(db: Ledger, when: datetime) -> None:
    row = write(db, at=when)
    got = read(db, row, "at")
    assert got == when.astimezone(UTC)
    assert got.timestamp() == when.timestamp()
    assert got.utcoffset() == timedelta(0)


def test_naive_datetimes_are_refused(db: Ledger) -> None:
    with pytest.raises((ValueError, StatementError)) as info:
        write(db, at=datetime(2026, 1, 1, 12, 0))
    assert isinstance(bind_error(info), ValueError)
    assert "naive" in str(bind_error(info))


def test_a_date_is_not_an_instant(db: Ledger) -> None:
    with pytest.raises((TypeError, StatementError)) as info:
        write(db, at=datetime(2026, 1, 1, tzinfo=UTC).date())
    assert isinstance(bind_error(info), TypeError)


def test_instants_compare_across_zones_in_queries(db: Ledger) -> None:
    early = write(db, at=datetime(2026, 3, 1, 10, 0, tzinfo=UTC), tag="early")
    write(db, at=datetime(2026, 3, 1, 12, 0, tzinfo=ZoneInfo("Europe/Paris")), tag="late")  # 11:00Z
    cutoff = datetime(2026, 3, 1, 11, 30, tzinfo=ZoneInfo("Europe/Paris"))  # 10:30Z
    with db.engine.connect() as conn:
        before = conn.execute(select(probe.c.id).where(probe.c.at < cutoff)).scalars().all()
    assert before == [early]


# -- SQLite under concurrent writers -------------------------------------------------------------


def test_sqlite_concurrent_writers_never_hit_database_is_locked(ledger: Ledger) -> None:
    if ledger.engine.dialect.name != "sqlite":
        pytest.skip("SQLite locking behaviour")
    assert ledger.engine.url.database not in (None, "", ":memory:")
    metadata.create_all(ledger.engine)
    threads_n, writes = 8, 200
    barrier = threading.Barrier(threads_n)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            barrier.wait(timeout=10)
            for i in range(writes):
                with ledger.unit_of_work() as session:
                    # read, then write: the pattern a deferred transaction cannot upgrade
                    seen = session.execute(select(func.count()).select_from(probe)).scalar_one()
                    session.execute(
                        insert(probe).values(
                            tag=f"w{n}-{i}", amount=Decimal(seen), at=datetime.now(UTC)
                        )
                    )
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, [str(e)[:200] for e in errors[:3]]
    with ledger.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(probe)).scalar() == threads_n * writes
        # every transaction saw every earlier commit: the counts it read are all distinct
        seen = conn.execute(select(probe.c.amount)).scalars().all()
        assert sorted(seen) == [Decimal(i) for i in range(threads_n * writes)]
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


test_sqlite_concurrent_writers_never_hit_database_is_locked.sqlite_only = True  # type: ignore[attr-defined]
