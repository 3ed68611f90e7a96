"""What every stage reports: its time, a floor measured in the same run, the ratio, and
the stage process's peak memory."""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from tci_gateway.domain.money import Money
from tci_gateway.domain.policy import PolicyTerms

T = TypeVar("T")


@dataclass
class StageResult:
    stage: str
    measured_s: float
    floor_s: float
    floor: str
    goal: str
    extra: dict[str, Any] = field(default_factory=dict)
    peak_rss_mb: float = 0.0
    old_floor_s: float | None = None
    """The floor this stage was measured against before the machine's-limit floor
    (issue 15), kept as a second column so the history stays comparable."""
    old_floor: str | None = None

    @property
    def ratio(self) -> float:
        return self.measured_s / self.floor_s if self.floor_s > 0 else float("inf")

    @property
    def old_ratio(self) -> float | None:
        if self.old_floor_s is None:
            return None
        return self.measured_s / self.old_floor_s if self.old_floor_s > 0 else float("inf")

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ratio"] = round(self.ratio, 3)
        old = self.old_ratio
        data["old_ratio"] = None if old is None else round(old, 3)
        return data


SIZE_OPTIONS = ("rows", "covers", "buyers", "records")
"""The stages' size options: ``--scale K`` multiplies each stage's defaults for them."""


def scale_of(args: Sequence[str]) -> float:
    """The ``--scale K`` (or ``--scale=K``) among a stage's arguments; 1 without one."""
    scale = 1.0
    for at, arg in enumerate(args):
        if arg == "--scale" and at + 1 < len(args):
            scale = float(args[at + 1])
        elif arg.startswith("--scale="):
            scale = float(arg.split("=", 1)[1])
    if scale <= 0:
        raise SystemExit(f"--scale must be above 0, got {scale:g}")
    return scale


def scaled(default: int, args: Sequence[str]) -> int:
    """A stage's default size times the ``--scale`` among ``args`` (at least 1): a stage
    writes ``parser.add_argument("--rows", type=int, default=scaled(1_000_000, args))``
    so that ``--scale 10`` runs it at ten times its default size, and an explicit
    ``--rows`` still wins."""
    return max(1, round(default * scale_of(args)))


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def best_of(n: int, fn: Callable[[], T]) -> tuple[float, T]:
    """The fastest of ``n`` runs (the least disturbed by the machine)."""
    best: tuple[float, T] | None = None
    for _ in range(n):
        result = timed(fn)
        if best is None or result[0] < best[0]:
            best = result
    assert best is not None
    return best


_peak_before_reset = 0.0


def peak_rss_mb() -> float:
    """This process's peak resident memory (ru_maxrss is KiB on Linux, bytes on macOS),
    the peak before any :func:`reset_peak` included."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    now = peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
    return max(now, _peak_before_reset)


def reset_peak() -> bool:
    """Start a window for :func:`window_peak_mb`: the kernel's high-water mark of this
    process's resident memory is reset (Linux ``/proc/self/clear_refs``), so that the
    peak of a stage's own work is not the seed's or the floor's before it.
    :func:`peak_rss_mb` still reports the whole process's. False where unsupported."""
    global _peak_before_reset
    before = peak_rss_mb()
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
    except OSError:
        return False
    _peak_before_reset = before
    return True


def window_peak_mb() -> float:
    """The peak resident memory since the last :func:`reset_peak` (the process's peak
    where the reset is unsupported)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return peak_rss_mb()


def atradius_terms() -> PolicyTerms:
    """The published Atradius policy's terms (D+60, D+90, D+180, D+360), EUR, 90 %."""
    zero = Money(Decimal(0), "EUR")
    return PolicyTerms("EUR", Decimal(90), 120, 60, 90, 180, 360, zero, zero, zero, "Europe/Paris")
