"""Open items pushed through the API: ``POST /v1/open-items`` batches of 10,000 records
(the canonical JSON, or CSV with ``--format csv``) to ``tci serve`` until N open items
are in (default 1,000,000; ``--rows`` for a quicker run), against the CLI's import of the
same rows as one file (``import_open_items``, the function ``tci import receivables``
calls), each into a fresh ledger with the same 10,000 accounts.

The measured time is the sum of the POST round trips (the client builds each body
before its clock starts); the service's peak resident memory is reported too."""

from __future__ import annotations

import argparse
import csv
import io
import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import StageResult, scaled, timed
from benchmarks.ledgers import fresh_ledger
from benchmarks.served import SERVE_AS_OF, api_key, policies, serve
from benchmarks.stage_import import write_files
from tci_gateway.logs import configure_logging
from tci_gateway.services.importing import import_buyers, import_open_items

BATCH = 10_000


def _batches(items: Path) -> Iterator[list[dict[str, str]]]:
    """The open-items file's rows, a batch at a time (the same rows the CLI imports)."""
    with items.open(encoding="utf-8", newline="") as handle:
        batch: list[dict[str, Any]] = []
        for row in csv.DictReader(handle):
            batch.append({k: v for k, v in row.items() if v != ""})
            if len(batch) == BATCH:
                yield batch
                batch = []
        if batch:
            yield batch


def _body(batch: list[dict[str, str]], fmt: str) -> tuple[bytes, str]:
    if fmt == "json":
        return json.dumps({"open_items": batch}).encode(), "application/json"
    text = io.StringIO()
    columns = list(dict.fromkeys(k for row in batch for k in row))
    writer = csv.DictWriter(text, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(batch)
    return text.getvalue().encode(), "text/csv"


def run(args: list[str]) -> StageResult:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=scaled(1_000_000, args))
    parser.add_argument("--backend", default="sqlite")
    parser.add_argument("--format", choices=["json", "csv"], default="json")
    opts, _ = parser.parse_known_args(args)
    configure_logging("console", "warning")
    with tempfile.TemporaryDirectory(prefix="tci-bench-files-") as tmp:
        buyers, items = write_files(Path(tmp), opts.rows)
        with fresh_ledger(opts.backend) as (ledger, url):
            import_buyers(ledger, buyers, policies=policies(), now=SERVE_AS_OF)
            token = api_key(ledger, "items:write")
            posted = 0
            measured = 0.0
            with (
                serve(url) as served,
                httpx.Client(
                    base_url=served.url,
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=600,
                ) as client,
            ):
                for n, batch in enumerate(_batches(items)):
                    body, media = _body(batch, opts.format)
                    started = time.perf_counter()
                    response = client.post(
                        "/v1/open-items",
                        content=body,
                        headers={"Content-Type": media, "Idempotency-Key": f"bench-{n}"},
                    )
                    measured += time.perf_counter() - started
                    assert response.status_code == 200, response.text[:2000]
                    posted += response.json()["inserted"]
                service_peak = served.peak_rss_mb()
        assert posted == opts.rows, posted
        with fresh_ledger(opts.backend) as (ledger, _):
            import_buyers(ledger, buyers, policies=policies(), now=SERVE_AS_OF)
            floor, report = timed(lambda: import_open_items(ledger, items, now=SERVE_AS_OF))
            assert report.inserted == opts.rows
    return StageResult(
        stage=f"api_open_items@{opts.backend}",
        measured_s=measured,
        floor_s=floor,
        floor="import_open_items of the same rows as one file (tci import receivables)",
        goal="<= 1.2x the CLI import",
        extra={
            "rows": opts.rows,
            "batch": BATCH,
            "format": opts.format,
            "requests": -(-opts.rows // BATCH),
            "rows_per_s": round(opts.rows / measured),
            "service_peak_rss_mb": round(service_peak, 1),
        },
    )
