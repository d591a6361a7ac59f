# SPDX-License-Identifier: GPL-2.0
"""Per-variant, per-operation statistics over all trials: counts, latency and drains.

Latency is over successful operations only: a timed-out offline measures the
watchdog, not the kernel. Drain counts are '__drain_all_pages' hits as
printed in the 'drains' key (protocol.py); operations without the key (the
profiler was off or could not trace it) are left out, never taken as 0.
Metrics of blocks excluded by a probe are not in RunResult.points and so
never count here.
"""

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from generator.collect import Metric
from generator.results import RunResult, RunStatus

# Worst first: what a variant row shows when its trials disagree.
STATUS_ORDER = (RunStatus.CRASH, RunStatus.HANG, RunStatus.APPLY_FAIL, RunStatus.BUILD_FAIL,
                RunStatus.ERROR, RunStatus.FAIL, RunStatus.PASS)


@dataclass(frozen=True)
class LatencyStats:
    """Milliseconds."""

    n: int
    min_ms: float
    median_ms: float
    mean_ms: float
    p90_ms: float
    max_ms: float
    stdev_ms: float


@dataclass(frozen=True)
class DrainStats:
    """__drain_all_pages calls per operation.

    no_retry_*: only operations where test_pages_isolated ran once, i.e. the
    offline needed no retry; that is the number a drain placement determines.
    """

    n: int
    median: float
    min: int
    max: int
    no_retry_n: int
    no_retry_median: float | None


@dataclass(frozen=True)
class OpStats:
    variant: str
    op: str
    trials: int
    n: int
    ok: int
    failures: int  # not ok and not a timeout (EBUSY, EINVAL, EINTR, ...)
    timeouts: int
    latency: LatencyStats | None
    drains: DrainStats | None


@dataclass(frozen=True)
class VariantSummary:
    variant: str
    trials: int
    status: RunStatus  # the worst over trials
    statuses: tuple[RunStatus, ...]
    ops: dict[str, OpStats]


def latency_stats(values_us: Sequence[int]) -> LatencyStats | None:
    if not values_us:
        return None
    ms = sorted(v / 1000 for v in values_us)
    p90 = statistics.quantiles(ms, n=10, method="inclusive")[8] if len(ms) > 1 else ms[0]
    return LatencyStats(
        n=len(ms), min_ms=ms[0], median_ms=statistics.median(ms), mean_ms=statistics.fmean(ms),
        p90_ms=p90, max_ms=ms[-1], stdev_ms=statistics.stdev(ms) if len(ms) > 1 else 0.0,
    )


def drain_stats(metrics: Sequence[Metric]) -> DrainStats | None:
    counted = [m for m in metrics if "drains" in m.counters]
    if not counted:
        return None
    drains = [m.counters["drains"] for m in counted]
    clean = [m.counters["drains"] for m in counted if m.counters.get("test_pages_isolated") == 1]
    return DrainStats(
        n=len(drains), median=statistics.median(drains), min=min(drains), max=max(drains),
        no_retry_n=len(clean), no_retry_median=statistics.median(clean) if clean else None,
    )


def op_stats(variant: str, op: str, trials: int, metrics: Sequence[Metric]) -> OpStats:
    ok = [m for m in metrics if m.ok]
    timeouts = sum(1 for m in metrics if m.result == "timeout")
    return OpStats(
        variant=variant, op=op, trials=trials, n=len(metrics), ok=len(ok),
        failures=len(metrics) - len(ok) - timeouts, timeouts=timeouts,
        latency=latency_stats([m.us for m in ok if m.us is not None]),
        drains=drain_stats(ok),
    )


def worst_status(statuses: Sequence[RunStatus]) -> RunStatus:
    return min(statuses, key=STATUS_ORDER.index)


def summarize(runs: Sequence[RunResult]) -> list[VariantSummary]:
    """One summary per variant, in the order variants first appear in runs."""
    by_variant: dict[str, list[RunResult]] = {}
    for run in runs:
        by_variant.setdefault(run.meta.variant, []).append(run)
    out = []
    for variant, vruns in by_variant.items():
        by_op: dict[str, list[Metric]] = {}
        for run in vruns:
            for metric in run.metrics():
                by_op.setdefault(metric.op, []).append(metric)
        statuses = tuple(r.status for r in vruns)
        out.append(VariantSummary(
            variant=variant, trials=len(vruns), status=worst_status(statuses), statuses=statuses,
            ops={op: op_stats(variant, op, len(vruns), ms) for op, ms in by_op.items()},
        ))
    return out
