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
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.child:
        run_child(args.child, rest)
        return
    chosen = args.stages or list(STAGES)
    unknown = [s for s in chosen if s not in STAGES]
    if unknown:
        parser.error(f"unknown stage(s) {', '.join(unknown)}; known: {', '.join(STAGES)}")
    results = []
    print(f"{'stage':<24} {'measured':>10} {'floor':>10} {'ratio':>7} {'peak MB':>8}  goal / notes")
    for stage in chosen:
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks", "--child", stage, *rest],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            print(f"{stage:<24} FAILED\n{proc.stderr[-2000:]}")
            continue
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        results.append(result)
        notes = ", ".join(f"{k}={v}" for k, v in result["extra"].items())
        print(
            f"{stage:<24} {result['measured_s']:>9.3f}s {result['floor_s']:>9.3f}s "
            f"{result['ratio']:>7.2f} {result['peak_rss_mb']:>8.1f}  {result['goal']}; "
            f"floor = {result['floor']}; {notes}"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
