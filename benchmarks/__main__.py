"""Run the benchmarks: `python -m benchmarks [STAGE ...] [--json FILE]`.

Each stage runs in a process of its own, so its peak memory is its own. Every stage
reports its time as a ratio against a floor measured in the same run.
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
from pathlib import Path

STAGES = {
    "buyer_search": "benchmarks.stage_search",
    "token_cache": "benchmarks.stage_tokens",
    "import_open_items": "benchmarks.stage_import",
    "limit_sync": "benchmarks.stage_sync",
    "export_limits": "benchmarks.stage_export",
    "resolve_buyers": "benchmarks.stage_resolve",
    "deadline_scan": "benchmarks.stage_deadlines",
    "complete_close": "benchmarks.stage_complete_close",
    "api_limits": "benchmarks.stage_api_limits",
    "api_open_items": "benchmarks.stage_api_open_items",
    "web_pages": "benchmarks.stage_web_pages",
    "behaviour_tiers": "benchmarks.stage_behaviour",
    "credit_apply": "benchmarks.stage_credit_apply",
}


DATABASE_STAGES = {
    "import_open_items",
    "limit_sync",
    "export_limits",
    "resolve_buyers",
    "deadline_scan",
    "complete_close",
    "api_limits",
    "api_open_items",
    "web_pages",
    "behaviour_tiers",
    "credit_apply",
}


def run_child(stage: str, args: list[str]) -> None:
    from benchmarks.common import peak_rss_mb

    module = importlib.import_module(STAGES[stage])
    result = module.run(args)
    result.peak_rss_mb = round(peak_rss_mb(), 1)
    sys.stdout.write(json.dumps(result.as_dict()) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument(
        "stages", nargs="*", help=f"stages to run (default all): {', '.join(STAGES)}"
    )
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument(
        "--backend",
        action="append",
        choices=["sqlite", "postgresql"],
        help="ledger backend(s) for database stages (default: sqlite)",
    )
    parser.add_argument("--rows", type=int, help="open items to import (default 1,000,000)")
    parser.add_argument("--covers", type=int, help="covers to sync (default 100,000)")
    parser.add_argument(
        "--buyers", type=int, help="buyers to export / accounts to resolve (default 100,000)"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    if "--child" in sys.argv:  # a stage's own process: its options go to the stage
        at = sys.argv.index("--child")
        run_child(sys.argv[at + 1], sys.argv[at + 2 :])
        return
    args, rest = parser.parse_known_args()
    for name in ("rows", "covers", "buyers"):
        if getattr(args, name) is not None:
            rest += [f"--{name}", str(getattr(args, name))]
    chosen = args.stages or list(STAGES)
    unknown = [s for s in chosen if s not in STAGES]
    if unknown:
        parser.error(f"unknown stage(s) {', '.join(unknown)}; known: {', '.join(STAGES)}")
    results = []
    backends = args.backend or ["sqlite"]
    runs = [
        (stage, [*rest, "--backend", b] if stage in DATABASE_STAGES else rest)
        for stage in chosen
        for b in (backends if stage in DATABASE_STAGES else ["-"])
    ]
    print(f"{'stage':<28} {'measured':>10} {'floor':>10} {'ratio':>7} {'peak MB':>8}  goal / notes")
    for stage, stage_args in runs:
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks", "--child", stage, *stage_args],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            print(f"{stage:<28} FAILED\n{proc.stderr[-2000:]}")
            continue
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        results.append(result)
        notes = ", ".join(f"{k}={v}" for k, v in result["extra"].items())
        stage = result["stage"]
        print(
            f"{stage:<28} {result['measured_s']:>9.3f}s {result['floor_s']:>9.3f}s "
            f"{result['ratio']:>7.2f} {result['peak_rss_mb']:>8.1f}  {result['goal']}; "
            f"floor = {result['floor']}; {notes}"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
