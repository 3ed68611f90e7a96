"""Row claims across processes, on SQLite and PostgreSQL: a row another process holds
is refused at once (never waited for), other rows and tables are free, and a claim
vanishes with a process killed by ``kill -9``."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading

from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.row_claims import claim

HOLDER = """
import sys, time
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.row_claims import claim
ledger = Ledger.from_url(sys.argv[1])
with claim(ledger, "cover_requests", 7) as held:
    print("held" if held else "refused", flush=True)
    time.sleep(120)
"""


def test_a_claim_excludes_other_processes_until_its_holder_dies(database_url: str) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, database_url], stdout=subprocess.PIPE, text=True
    )
    ledger = Ledger.from_url(database_url)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        with claim(ledger, "cover_requests", 7) as held:
            assert not held  # refused at once
        with (
            claim(ledger, "cover_requests", 8) as other_row,
            claim(ledger, "case_actions", 7) as other_table,
        ):
            assert other_row and other_table
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        with claim(ledger, "cover_requests", 7) as held:
            assert held  # the claim died with its holder
    finally:
        holder.kill()
        holder.wait(10)
        ledger.dispose()


def test_threads_of_one_process_exclude_each_other(database_url: str) -> None:
    ledger = Ledger.from_url(database_url)
    inside = threading.Event()
    done = threading.Event()
    seen: list[bool] = []

    def hold() -> None:
        with claim(ledger, "cover_requests", 3) as held:
            seen.append(held)
            inside.set()
            done.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert inside.wait(10)
        with claim(ledger, "cover_requests", 3) as held:
            assert not held
    finally:
        done.set()
        thread.join(10)
    with claim(ledger, "cover_requests", 3) as held:
        assert held  # released by the thread, and this thread's release kept nothing
    with claim(ledger, "cover_requests", 3) as again:
        assert again
    assert seen == [True]
    ledger.dispose()
