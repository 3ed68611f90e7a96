"""Run the benchmarks: ``python -m benchmarks [STAGE ...] [--backend B ...] [--json FILE]``.

Each stage runs in a process of its own, so its peak memory is its own. Every stage
reports its time as a ratio against a floor measured in the same run (and, where the
stage kept one, against the floor it used before: the old floor and old ratio).

``--scale K`` runs every stage at K times its default sizes (rows, covers, buyers,
records; an explicit ``--rows`` etc. still wins). ``--memory-check`` runs each chosen
stage at its default size and at 4x (``--scale-base K``: at K and 4K) and reports
whether the stage's peak memory stayed within 10 %.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STAGES = {
    "buyer_search": "benchmarks.stage_search",
    "token_cache": "benchmarks.stage_tokens",
    "import_open_items": "benchmarks.stage_import",
    "limit_sync": "benchmarks.stage_sync",
    "export_limits": "benchmarks.stage_export",
    "resolve_buyers": "benchmarks.stage_resolve",
    "gleif_load": "benchmarks.stage_gleif_load",
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
    "gleif_load",
    "deadline_scan",
    "complete_close",
    "api_limits",
    "api_open_items",
    "web_pages",
    "behaviour_tiers",
    "credit_apply",
}

SIZES = ("rows", "covers", "buyers", "records")  # benchmarks.common.SIZE_OPTIONS
MEMORY_FACTOR = 4
MEMORY_TOLERANCE = 0.10
# Extras that are not the stage's own peak (the harness's seed and floor, not the work
# measured).
NOT_OWN_PEAK = ("seed_", "floor_")


def run_child(stage: str, args: list[str]) -> None:
    from benchmarks.common import peak_rss_mb

    module = importlib.import_module(STAGES[stage])
    result = module.run(args)
    result.peak_rss_mb = round(peak_rss_mb(), 1)
    sys.stdout.write(json.dumps(result.as_dict()) + "\n")


@dataclass
class Run:
    """One stage process: its arguments and either its result or why it failed."""

    stage: str
    backend: str | None
    args: list[str]
    result: dict[str, Any] | None = None
    failed: str | None = None

    @property
    def label(self) -> str:
        return f"{self.stage}@{self.backend}" if self.backend else self.stage

    def as_dict(self) -> dict[str, Any]:
        if self.result is not None:
            return self.result
        return {"stage": self.label, "failed": self.failed, "args": self.args}


def stage_missing(stage: str) -> bool:
    """The stage's module is not written yet (a stage another change adds)."""
    try:
        return importlib.util.find_spec(STAGES[stage]) is None
    except ModuleNotFoundError:
        return True


def execute(run: Run) -> Run:
    """Run one stage in its own process and keep its result (with the machine's load)."""
    if stage_missing(run.stage):
        run.failed = f"module missing ({STAGES[run.stage]})"
        return run
    load = os.getloadavg()
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--child", run.stage, *run.args],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        run.failed = proc.stderr[-2000:].rstrip() or f"exit status {proc.returncode}"
        return run
    try:
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        run.failed = f"no result on stdout: {proc.stdout[-500:]!r}"
        return run
    result["load_avg"] = [round(x, 2) for x in load]
    result["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    result["args"] = run.args
    run.result = result
    return run


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}s"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


HEADER = (
    f"{'stage':<30} {'measured':>10} {'floor':>10} {'ratio':>7} "
    f"{'old floor':>10} {'old ratio':>9} {'peak MB':>8}  goal"
)


def report(run: Run) -> None:
    """One row per stage, then its floors and notes indented below it."""
    if run.result is None:
        first, *rest = (run.failed or "").splitlines() or [""]
        if run.failed and run.failed.startswith("module missing"):
            print(f"{run.label:<30} FAILED: {first}", flush=True)
        else:
            # The last lines of its stderr (the exception), each cut short: --json keeps
            # the whole tail.
            print(f"{run.label:<30} FAILED", flush=True)
            lines = [line for line in [first, *rest] if line.strip()]
            for line in lines[-6:]:
                print(f"    {line[:300]}{' ...' if len(line) > 300 else ''}", flush=True)
        return
    r = run.result
    print(
        f"{r['stage']:<30} {_seconds(r['measured_s']):>10} {_seconds(r['floor_s']):>10} "
        f"{_ratio(r['ratio']):>7} {_seconds(r.get('old_floor_s')):>10} "
        f"{_ratio(r.get('old_ratio')):>9} {r['peak_rss_mb']:>8.1f}  {r['goal']}"
    )
    print(f"    floor: {r['floor']}")
    if r.get("old_floor"):
        print(f"    old floor: {r['old_floor']}")
    notes = ", ".join(f"{k}={v}" for k, v in r["extra"].items())
    if notes:
        print(f"    {notes}")
    print(f"    load {' '.join(str(x) for x in r['load_avg'])}", flush=True)


def own_peak(result: dict[str, Any]) -> tuple[str, float]:
    """The stage's own peak: the largest extra ``*peak*_mb`` the stage reports for its
    measured work (the sync and its rerun, the export and the nightly roll, the service's
    for the API stages; not ``seed_*`` or ``floor_*``), else the process's peak.
    Returns the keys used and the peak."""
    own = {
        key: float(value)
        for key, value in result["extra"].items()
        if "peak" in key
        and key.endswith("_mb")
        and not key.startswith(NOT_OWN_PEAK)
        and isinstance(value, int | float)
    }
    if not own:
        return "peak_rss_mb", float(result["peak_rss_mb"])
    return "max(" + ", ".join(own) + ")" if len(own) > 1 else next(iter(own)), max(own.values())


def sizes_of(result: dict[str, Any]) -> dict[str, Any]:
    return {k: result["extra"][k] for k in SIZES if k in result["extra"]}


def memory_verdict(small: Run, large: Run, base: float) -> dict[str, Any]:
    """Peak at the base size against the peak at 4x the base: flat when within 10 %."""
    verdict: dict[str, Any] = {
        "stage": small.label,
        "scale": [base, base * MEMORY_FACTOR],
        "runs": [small.as_dict(), large.as_dict()],
    }
    if small.result is None or large.result is None:
        verdict["flat"] = None
        verdict["why"] = "a run failed"
        return verdict
    key, peak_1 = own_peak(small.result)
    _, peak_4 = own_peak(large.result)
    ratio = peak_4 / peak_1 if peak_1 > 0 else float("inf")
    verdict.update(
        peak_key=key,
        sizes=[sizes_of(small.result), sizes_of(large.result)],
        peak_1x=peak_1,
        peak_4x=peak_4,
        ratio=round(ratio, 3),
        process_peak=[small.result["peak_rss_mb"], large.result["peak_rss_mb"]],
        flat=ratio <= 1 + MEMORY_TOLERANCE,
    )
    if verdict["sizes"][0] == verdict["sizes"][1]:
        verdict["flat"] = None
        verdict["why"] = "the stage ran at the same size twice: it does not read --scale"
    return verdict


def print_memory(verdicts: list[dict[str, Any]], base: float) -> None:
    print(
        f"\nmemory check: peak at {base:g}x and {base * MEMORY_FACTOR:g}x the default sizes, "
        f"flat when within {MEMORY_TOLERANCE:.0%}"
    )
    print(
        f"{'stage':<30} {'peak@1x':>8} {'peak@4x':>8} {'ratio':>6} {'flat':>5}  "
        "peak measured / sizes / process peaks"
    )
    for v in verdicts:
        if "peak_1x" not in v:
            print(f"{v['stage']:<30} {'-':>8} {'-':>8} {'-':>6} {'-':>5}  {v['why']}")
            continue
        flat = "n/a" if v["flat"] is None else ("yes" if v["flat"] else "NO")
        sizes = " -> ".join(", ".join(f"{k}={n}" for k, n in s.items()) or "?" for s in v["sizes"])
        why = f"; {v['why']}" if v.get("why") else ""
        print(
            f"{v['stage']:<30} {v['peak_1x']:>8.1f} {v['peak_4x']:>8.1f} "
            f"{v['ratio']:>6.2f} {flat:>5}  {v['peak_key']}; {sizes}; process "
            f"{v['process_peak'][0]} -> {v['process_peak'][1]} MB{why}",
            flush=True,
        )


def stage_args(base_args: list[str], sizes: dict[str, int], scale: float | None) -> list[str]:
    args = list(base_args)
    for name, value in sizes.items():
        args += [f"--{name}", str(value)]
    if scale is not None:
        args += ["--scale", f"{scale:g}"]
    return args


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
    parser.add_argument("--rows", type=int, help="open items (import default 1,000,000)")
    parser.add_argument("--covers", type=int, help="covers to sync (default 100,000)")
    parser.add_argument(
        "--buyers", type=int, help="buyers to export / accounts to resolve (default 100,000)"
    )
    parser.add_argument("--records", type=int, help="golden-copy records to load (gleif_load)")
    parser.add_argument("--scale", type=float, help="every stage's default sizes times K (e.g. 10)")
    parser.add_argument(
        "--memory-check",
        action="store_true",
        help="run each stage at its default size and at 4x; peak memory within 10 %%?",
    )
    parser.add_argument(
        "--scale-base",
        type=float,
        help="with --memory-check: run at K and 4K times the default sizes (default 1)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    if "--child" in sys.argv:  # a stage's own process: its options go to the stage
        at = sys.argv.index("--child")
        run_child(sys.argv[at + 1], sys.argv[at + 2 :])
        return
    args, rest = parser.parse_known_args()
    chosen = args.stages or list(STAGES)
    unknown = [s for s in chosen if s not in STAGES]
    if unknown:
        parser.error(f"unknown stage(s) {', '.join(unknown)}; known: {', '.join(STAGES)}")
    for name in ("scale", "scale_base"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            parser.error(f"--{name.replace('_', '-')} must be above 0")
    if args.scale_base is not None and not args.memory_check:
        parser.error("--scale-base goes with --memory-check")
    sizes = {n: getattr(args, n) for n in SIZES if getattr(args, n) is not None}
    backends = args.backend or ["sqlite"]
    plan = [
        (stage, b if stage in DATABASE_STAGES else None)
        for stage in chosen
        for b in (backends if stage in DATABASE_STAGES else [None])
    ]

    def make(stage: str, backend: str | None, factor: float, scale: float | None) -> Run:
        these = {n: max(1, round(v * factor)) for n, v in sizes.items()}
        extra = ["--backend", backend] if backend else []
        return Run(stage, backend, stage_args([*rest, *extra], these, scale))

    print(HEADER, flush=True)
    output: list[dict[str, Any]] = []
    if not args.memory_check:
        for stage, backend in plan:
            run = execute(make(stage, backend, 1, args.scale))
            report(run)
            output.append(run.as_dict())
    else:
        base = args.scale_base or args.scale or 1.0
        verdicts = []
        for stage, backend in plan:
            pair = []
            for factor in (1, MEMORY_FACTOR):
                # Explicit sizes are multiplied here; the defaults by the stage (--scale).
                run = execute(make(stage, backend, factor, base * factor))
                report(run)
                pair.append(run)
            verdicts.append(memory_verdict(pair[0], pair[1], base))
        print_memory(verdicts, base)
        output = verdicts
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(output, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
