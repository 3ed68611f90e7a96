"""The workspace's heaviest pages at 100k buyers / 1M open items: the server time of the
portfolio (``/``), the buyers list (first page, over-limit filter, name search) and a
buyer page (the buyer with the most open items), p50 and p95 over N requests each,
against the SQL the same page runs (the floor). Run:
``python -m benchmarks web_pages [--buyers N] [--rows N] [--requests N] [--served]
[--page LABEL=PATH ...] --backend sqlite|postgresql``.

The ledger (not timed) is the ``deadline_scan`` stage's seed (one policy, N buyers of
mixed tiers, one ERP account each, the open items spread over them, statistics analysed)
plus an approved cover for four buyers in five with their limits in force stored (as the
sync leaves them) and a few thousand more open items for buyer 1, the page with many
items. A viewer signs in through the sign-in form.

Each page's floor: every SELECT the page ran during one request, captured with a
``before_cursor_execute`` listener on the service's engine as the driver received it
(statement and bound parameters), replayed on one read-only connection of the same
engine with every row fetched; timed N times like the page. A page's ratio is its p95
over its floor's p95. Requests go through ``fastapi.testclient.TestClient`` in this
process (``--served``: to ``tci serve`` in a process of its own over loopback, whose
peak memory is then reported as well). Pages not served yet are reported as such.
"""

from __future__ import annotations

import argparse
import math
import re
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import event, func, insert, select, text

from benchmarks.common import StageResult, peak_rss_mb, scaled, timed
from benchmarks.ledgers import fresh_ledger
from benchmarks.served import CONFIG, SERVE_AS_OF, policies, serve
from benchmarks.stage_deadlines import AMOUNTS, NOW, seed
from tci_gateway.api.context import ApiContext
from tci_gateway.config import load_settings
from tci_gateway.ledger import users
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.tables import CoverDecisionRow, CoverTrancheRow, OpenItemRow
from tci_gateway.logs import configure_logging
from tci_gateway.services.limits import roll_limits
from tci_gateway.web.app import create_service
from tci_gateway.wiring import Wiring

assert NOW == SERVE_AS_OF  # the seed's clock is the service's
BATCH = 20_000
HEAVY_ITEMS = 5_000
"""Open items added to buyer 1 (the others have about rows / buyers each)."""
PASSWORD = "bench-password-long-enough"
COLD_REQUESTS = 5
"""Requests of a ``*_cold`` page (the portfolio's figures computed by the request)."""
GOAL_MS = 300.0
PAGES: tuple[tuple[str, str], ...] = (
    ("portfolio", "/"),
    ("portfolio_cold", "/"),
    ("buyers_first", "/buyers"),
    ("buyers_over_limit", "/buyers?over_limit=1"),
    ("buyers_search", "/buyers?q=Buyer+4242"),
    ("buyer_page", "/buyers/1"),
)
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_TX = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b", re.IGNORECASE)


def add_covers(ledger: Ledger, n_buyers: int) -> int:
    """An approved cover (5k-504k EUR, one tranche) for every buyer but each fifth, and
    the limits in force stored; answers the number of covered buyers."""
    with ledger.reading() as s:
        pid = s.scalar(text("SELECT id FROM policies WHERE key = 'main'"))
    covered = [i for i in range(n_buyers) if i % 5 != 4]
    for start in range(0, len(covered), BATCH):
        chunk = covered[start : start + BATCH]
        with ledger.unit_of_work() as s:
            s.execute(
                insert(CoverDecisionRow),
                [
                    {
                        "id": i + 1, "policy_id": pid, "buyer_id": i + 1,
                        "insurer_cover_ref": f"R{i}", "status": "APPROVED",
                        "is_preliminary": False, "currency": "EUR",
                        "granted_amount": Decimal(1000 * (i % 500 + 5)),
                        "requested_amount": None, "effective_from": date(2026, 1, 1),
                        "effective_to": None, "pending_action": None,
                        "raw_codes": {"decisionCode": "DC01"}, "unknown_codes": [],
                        "conditions": [], "decided_at": NOW, "source_changed_at": NOW,
                        "recorded_at": NOW, "sync_run_id": None,
                    }
                    for i in chunk
                ],
            )  # fmt: skip
            s.execute(
                insert(CoverTrancheRow),
                [
                    {"decision_id": i + 1, "position": 0,
                     "amount": Decimal(1000 * (i % 500 + 5)),
                     "valid_from": date(2026, 1, 1), "expires_on": None}
                    for i in chunk
                ],
            )  # fmt: skip
    assert roll_limits(ledger, policies(), NOW).total_changed == len(covered)
    return len(covered)


def add_heavy_buyer(ledger: Ledger, n_items: int) -> int:
    """``n_items`` more open invoices for buyer 1 (ERP account 1), due over the last
    year; answers buyer 1's open items in all."""
    today = NOW.date()
    rows = [
        {
            "erp_account_id": 1, "document_number": f"H{k:07d}", "kind": "INVOICE",
            "currency": "EUR", "amount": AMOUNTS[k % len(AMOUNTS)],
            "open_amount": AMOUNTS[k % len(AMOUNTS)] if k % 7 else Decimal(0),
            "document_date": today - timedelta(days=k % 400 + 30),
            "delivery_date": today - timedelta(days=k % 400 + 31),
            "due_date": today - timedelta(days=k % 400 - 30),
            "disputed": k % 97 == 0, "applies_to": None, "extended_due_date": None,
            "import_id": None, "updated_at": NOW,
        }
        for k in range(n_items)
    ]  # fmt: skip
    with ledger.unit_of_work() as s:
        for start in range(0, len(rows), BATCH):
            s.execute(insert(OpenItemRow), rows[start : start + BATCH])
        s.execute(text("ANALYZE"))
        count = s.scalar(
            select(func.count()).select_from(OpenItemRow).where(OpenItemRow.erp_account_id == 1)
        )
    return int(count or 0)


def build(ledger: Ledger, n_rows: int, n_buyers: int) -> dict[str, Any]:
    chosen = policies()
    seed(ledger, chosen, n_rows, n_buyers)
    covered = add_covers(ledger, n_buyers)
    heavy = add_heavy_buyer(ledger, HEAVY_ITEMS)
    with ledger.unit_of_work() as s:
        users.create_user(s, "bench", "viewer", PASSWORD, now=NOW)
    return {"covered_buyers": covered, "buyer_1_open_items": heavy}


def sign_in(get: Callable[..., Any], post: Callable[..., Any]) -> None:
    form = get("/login")
    token = _CSRF.search(form.text)
    assert token, form.text[:500]
    answer = post(
        "/login", data={"name": "bench", "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert answer.status_code == 303, answer.text[:500]


class Capture:
    """Every statement the engine sends while :meth:`during` runs."""

    def __init__(self, ledger: Ledger) -> None:
        self.engine = ledger.engine
        self.statements: list[tuple[str, Any]] = []
        self._on = False
        event.listen(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, params: Any, _ctx: Any,
              many: bool) -> None:  # fmt: skip
        if self._on and not many and not _TX.match(statement):
            self.statements.append((statement, params))

    @contextmanager
    def during(self) -> Iterator[list[tuple[str, Any]]]:
        self.statements = []
        self._on = True
        try:
            yield self.statements
        finally:
            self._on = False

    def slowest(self, statements: list[tuple[str, Any]]) -> tuple[float, str]:
        """The slowest of ``statements`` replayed one by one: its time and its start."""
        worst = (0.0, "")
        for statement, params in statements:
            spent, _ = timed(partial(self.replay, [(statement, params)]))
            if spent > worst[0]:
                worst = (spent, " ".join(statement.split())[:160])
        return worst

    def replay(self, statements: list[tuple[str, Any]]) -> int:
        """The reads replayed on one read-only connection, every row fetched."""
        fetched = 0
        with self.engine.connect() as conn:
            conn = conn.execution_options(tci_read_only=True)
            for statement, params in statements:
                result = conn.exec_driver_sql(statement, params if params else None)
                if result.returns_rows:
                    fetched += len(result.fetchall())
            conn.rollback()
        return fetched


def _reads(statements: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """The reads among ``statements`` (a page writes only the session's idle clock)."""
    return [(s, p) for s, p in statements if s.lstrip().upper().startswith(("SELECT", "WITH"))]


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _times(n: int, fn: Callable[[], Any]) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def run(args: list[str]) -> StageResult:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=scaled(1_000_000, args))
    parser.add_argument("--buyers", type=int, default=scaled(100_000, args))
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--served", action="store_true")
    parser.add_argument(
        "--page", action="append", metavar="LABEL=PATH", help="measure these pages instead"
    )
    parser.add_argument("--backend", default="sqlite")
    opts, _ = parser.parse_known_args(args)
    configure_logging("console", "warning")
    n = opts.requests
    extra: dict[str, Any] = {"buyers": opts.buyers, "rows": opts.rows, "requests": n}
    worst: tuple[float, float, str] | None = None
    with tempfile.TemporaryDirectory() as tmp, fresh_ledger(opts.backend) as (ledger, url):
        seed_s, built = timed(lambda: build(ledger, opts.rows, opts.buyers))
        extra.update(built, seed_s=round(seed_s, 1), seed_peak_rss_mb=round(peak_rss_mb(), 1))
        config = Path(tmp) / "tci.toml"
        config.write_text(CONFIG.format(url=url), encoding="utf-8")
        settings = load_settings(config)
        wiring = Wiring(settings, Path(tmp))
        ctx = ApiContext(wiring=wiring, ledger=wiring.ledger(), as_of=SERVE_AS_OF, instance="b")
        capture = Capture(ctx.ledger)
        app = create_service(ctx, background=False)
        with TestClient(app, raise_server_exceptions=False) as client, _served(opts, url) as far:
            sign_in(client.get, lambda p, data: client.post(p, data=data, follow_redirects=False))
            if far is not None:
                sign_in(far.get, lambda p, data: far.post(p, data=data))
            chosen = [tuple(p.split("=", 1)) for p in opts.page] if opts.page else PAGES
            for label, path in chosen:
                cold = label.endswith("_cold")
                get = far.get if far is not None and not cold else client.get
                found = _measure(capture, client.get, get, path, n=COLD_REQUESTS if cold else n,
                                 before=_forget_portfolio if cold else None)  # fmt: skip
                extra[label] = found
                if isinstance(found, dict) and not cold:
                    p95, f95 = found["p95_ms"] / 1000, found["floor_p95_ms"] / 1000
                    if worst is None or p95 > worst[0]:
                        worst = (p95, f95, label)
            if far is not None:
                extra["service_peak_rss_mb"] = round(far.peak_rss_mb(), 1)
        wiring.close()
        ctx.ledger.dispose()
    p95, f95, label = worst if worst is not None else (0.0, 0.0, "none")
    extra["slowest_page"] = label
    return StageResult(
        stage=f"web_pages@{opts.backend}",
        measured_s=p95,
        floor_s=f95,
        floor="the SELECTs the slowest page ran, replayed on one connection (p95)",
        goal=f"p95 < {GOAL_MS:.0f} ms for every page",
        extra=extra,
    )


def _measure(
    capture: Capture,
    local: Callable[[str], Any],
    get: Callable[[str], Any],
    path: str,
    *,
    n: int,
    before: Callable[[], None] | None,
) -> dict[str, Any] | str:
    """``path`` requested ``n`` times with ``get`` against its floor: the reads one
    request ran in this process (``local``), replayed ``n`` times."""
    prepare = before or (lambda: None)
    prepare()
    local(path)  # warm: caches, plans, the first touch of the session
    if get != local:
        get(path)  # and the served process's
    prepare()
    with capture.during() as statements:
        status = local(path).status_code
    if status != 200:
        return f"HTTP {status} (not served yet, or failing)"
    reads = _reads(list(statements))
    capture.replay(reads)  # warm

    def request() -> None:
        prepare()
        started = time.perf_counter()
        _check(get(path))
        spent.append(time.perf_counter() - started)

    spent: list[float] = []
    for _ in range(n):
        request()
    floor = _times(n, lambda: capture.replay(reads))
    p95, f95 = _p(spent, 0.95), _p(floor, 0.95)
    slow_s, slow_sql = capture.slowest(reads)
    return {
        "path": path,
        "p50_ms": round(statistics.median(spent) * 1000, 1),
        "p95_ms": round(p95 * 1000, 1),
        "floor_p50_ms": round(statistics.median(floor) * 1000, 1),
        "floor_p95_ms": round(f95 * 1000, 1),
        "ratio_p95": round(p95 / f95, 2) if f95 else None,
        "queries": len(reads),
        "goal_met": p95 * 1000 < GOAL_MS,
        "slowest_query_ms": round(slow_s * 1000, 1),
        "slowest_query": slow_sql,
    }


def _forget_portfolio() -> None:
    """The portfolio's figures computed again by the next request (as after an import
    or a sync, when the background task has not run yet)."""
    from tci_gateway.services import portfolio

    portfolio._SLOTS.clear()


def _check(response: Any) -> None:
    if response.status_code != 200:
        raise RuntimeError(f"{response.request.url}: HTTP {response.status_code}")


class _Far:
    """A signed-in browser of ``tci serve`` in its own process."""

    def __init__(self, served: Any) -> None:
        self.served = served
        self.client = httpx.Client(base_url=served.url, timeout=600, follow_redirects=False)

    def get(self, path: str) -> httpx.Response:
        return self.client.get(path)

    def post(self, path: str, data: dict[str, str]) -> httpx.Response:
        return self.client.post(path, data=data)

    def peak_rss_mb(self) -> float:
        return float(self.served.peak_rss_mb())


@contextmanager
def _served(opts: argparse.Namespace, url: str) -> Iterator[_Far | None]:
    if not opts.served:
        yield None
        return
    with serve(url) as served:
        far = _Far(served)
        try:
            yield far
        finally:
            far.client.close()
