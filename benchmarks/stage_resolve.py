"""`tci buyers resolve` over N ERP accounts (default 100,000) against a loaded GLEIF
golden copy.

The accounts: 1 in 100 carries an LEI, the next one the GB company number of that
LEI's entity (they resolve to one buyer), the rest a GB company number of their own that
no LEI record holds. The golden copy (written by the GLEIF sandbox's file writer and
applied by ``tci bureaus load``'s service, levels 1 and 2) holds the LEI accounts'
records, each crosswalked to its company number with a parent, plus N records of other
entities so the table is not trivially small. GLEIF's API is still served on loopback
for what the file cannot answer; its requests are counted (``api_calls``: 0 for this
seed, where every account has an identifier the file answers for).

The accounts are written as `tci import buyers` leaves them (one buyer each with its
identifier), with COPY / executemany. The seed (accounts and load) runs in a forked
process, so the stage process's memory is resolve's own: ``resolve_peak_rss_mb`` is
the resident peak while resolve ran.

Floor: the same number of indexed identifier look-ups (one SELECT per account on the
(scheme, issuer, value) index).
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from benchmarks.common import StageResult, scaled, timed
from benchmarks.ledgers import bulk_insert, fresh_ledger
from tci_gateway.adapters.contract import AdapterContext, BureauAdapter
from tci_gateway.adapters.loopback import serve_on_loopback
from tci_gateway.adapters.registry import load_plugin
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.tables import BuyerIdentifierRow, BuyerRow, ErpAccountRow
from tci_gateway.logs import configure_logging
from tci_gateway.services.identity import resolve_buyers

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
PUBLICATION = "20261206-0800"


def _lei(n: int) -> str:
    from stdnum.iso7064 import mod_97_10

    base = f"5299{n:014d}"
    return base + mod_97_10.calc_check_digits(base)


def _gb(n: int) -> str:
    return f"{10_000_000 + n:08d}"


def _accounts(n: int) -> Iterator[tuple[str, str, str, str]]:
    """``(account, name, scheme, value)``: an LEI account every 100, then its GB
    company, then GB companies of their own."""
    for i in range(n):
        if i % 100 == 0:
            yield f"A{i:07d}", f"Bench Group {i} Ltd", "LEI", _lei(i)
        else:
            j = i - 1 if i % 100 == 1 else i
            yield f"A{i:07d}", f"Bench Buyer {i} Ltd", "GB_CRN", _gb(j)


def _import_accounts(ledger: Ledger, n: int) -> None:
    """What `tci import buyers` leaves for these accounts (one buyer each, its
    identifier from the ERP), written with COPY / executemany: the import itself is
    measured by its own stage."""
    bulk_insert(
        ledger,
        BuyerRow,
        (
            {"name": name, "country": "GB", "created_at": NOW, "updated_at": NOW}
            for _, name, _, _ in _accounts(n)
        ),
    )
    bulk_insert(
        ledger,
        ErpAccountRow,
        (
            {"account": a, "name": name, "buyer_id": i + 1, "created_at": NOW, "updated_at": NOW}
            for i, (a, name, _, _) in enumerate(_accounts(n))
        ),
    )
    bulk_insert(
        ledger,
        BuyerIdentifierRow,
        (
            {
                "buyer_id": i + 1,
                "scheme": scheme,
                "issuer": "",
                "value": value,
                "source": f"erp:{a}",
                "added_at": NOW,
            }
            for i, (a, _, scheme, value) in enumerate(_accounts(n))
        ),
    )
    with ledger.unit_of_work() as session:  # the ids are the file's order
        last = session.scalar(select(func.max(ErpAccountRow.buyer_id)))
        assert last == session.scalar(select(func.max(BuyerRow.id))) == n


def _level1(n: int) -> Iterator[dict[str, str]]:
    from tci_adapters.gleif.sandbox_golden_copy import synthetic_records

    for i in range(0, n, 100):
        yield {
            "LEI": _lei(i),
            "Entity.LegalName": f"BENCH GROUP {i} LIMITED",
            "Entity.LegalAddress.Country": "GB",
            "Entity.LegalJurisdiction": "GB",
            "Entity.RegistrationAuthority.RegistrationAuthorityID": "RA000585",
            "Entity.RegistrationAuthority.RegistrationAuthorityEntityID": _gb(i),
            "Entity.EntityCategory": "GENERAL",
            "Entity.EntityStatus": "ACTIVE",
            "Registration.RegistrationStatus": "ISSUED" if i % 300 else "LAPSED",
        }
    # Other entities, company numbers from 60,000,000 (none of the accounts').
    yield from synthetic_records(n, start=50_000_000)


def _level2(n: int) -> Iterator[dict[str, str]]:
    for i in range(100, n, 100):  # each group's parent is the first group
        yield {
            "Relationship.StartNode.NodeID": _lei(i),
            "Relationship.StartNode.NodeIDType": "LEI",
            "Relationship.EndNode.NodeID": _lei(0),
            "Relationship.EndNode.NodeIDType": "LEI",
            "Relationship.RelationshipType": "IS_DIRECTLY_CONSOLIDATED_BY",
            "Relationship.RelationshipStatus": "ACTIVE",
            "Registration.RegistrationStatus": "PUBLISHED",
        }


def _seed(url: str, folder: str, n: int) -> None:
    """Import the accounts and load the golden copy (in a child process)."""
    from tci_adapters.gleif.sandbox_golden_copy import write_golden_copy
    from tci_gateway.services.golden_copy import load_golden_copy

    configure_logging("console", "warning")
    ledger = Ledger.from_url(url)
    try:
        _import_accounts(ledger, n)
        plugin = load_plugin("gleif")
        assert plugin.read_golden_copy is not None
        for kind, rows in (("lei2", _level1(n)), ("rr", _level2(n))):
            written = write_golden_copy(Path(folder), rows, publication=PUBLICATION, kind=kind)
            file = plugin.read_golden_copy(written, {})
            report = load_golden_copy(ledger, "gleif", file, now=NOW, delta_expected=False)
            if report.status != "applied":
                raise SystemExit(f"golden copy not applied: {report.reason}")
    finally:
        ledger.dispose()


def _reset_peak() -> None:
    """Start the resident peak (VmHWM) afresh: Linux's ``clear_refs`` 5."""
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run(args: list[str]) -> StageResult:
    parser = argparse.ArgumentParser()
    parser.add_argument("--buyers", type=int, default=scaled(100_000, args))
    parser.add_argument("--backend", default="sqlite")
    opts, _ = parser.parse_known_args(args)
    configure_logging("console", "warning")
    n = opts.buyers
    plugin = load_plugin("gleif")
    assert plugin.create_sandbox is not None
    sandbox = plugin.create_sandbox({"seed": {"records": [], "parents": {}}, "rate_limit": None})
    with tempfile.TemporaryDirectory() as tmp, fresh_ledger(opts.backend) as (ledger, url):
        ledger.engine.dispose()  # no pooled connection crosses the fork
        child = multiprocessing.get_context("fork").Process(target=_seed, args=(url, tmp, n))
        child.start()
        child.join()
        if child.exitcode != 0:
            raise SystemExit(f"resolve_buyers seed failed (exit {child.exitcode})")
        with serve_on_loopback(sandbox) as server:
            gleif = plugin.create(
                AdapterContext(
                    name="gleif", base_url=server.url, environment="sandbox", credentials={}
                )
            )
            assert isinstance(gleif, BureauAdapter)
            _reset_peak()
            measured, report = timed(
                lambda: resolve_buyers(ledger, bureaus={"gleif": gleif}, now=NOW)
            )
            peak = _peak_mb()
            gleif.close()
        api_calls = sum(getattr(sandbox, "received").values())  # noqa: B009 (the GLEIF sandbox's)

        def lookups() -> int:
            found = 0
            with ledger.unit_of_work() as s:
                for i in range(n):
                    value = _lei(i) if i % 100 == 0 else _gb(i - 1 if i % 100 == 1 else i)
                    scheme = "LEI" if i % 100 == 0 else "GB_CRN"
                    found += (
                        s.scalar(
                            select(BuyerIdentifierRow.buyer_id).where(
                                BuyerIdentifierRow.scheme == scheme,
                                BuyerIdentifierRow.issuer == "",
                                BuyerIdentifierRow.value == value,
                            )
                        )
                        is not None
                    )
            return found

        floor, found = timed(lookups)
    return StageResult(
        stage=f"resolve_buyers@{opts.backend}",
        measured_s=measured,
        floor_s=floor,
        floor="one indexed identifier SELECT per account",
        goal="<= 3x the floor; peak at 4x within 10 %",
        extra={
            "accounts": n,
            "buyers": n,  # the size --memory-check compares
            "merged": len(report.merged),
            "buyers_after": report.buyers_after,
            "identifiers_added": report.identifiers_added,
            "parents": report.parents,
            "reviews": report.reviews_pending,
            "bureau_errors": len(report.bureau_errors),
            "api_calls": api_calls,
            "floor_found": found,
            "resolve_peak_rss_mb": round(peak, 1),
        },
    )
