# SPDX-License-Identifier: GPL-2.0
"""Per-variant, per-operation statistics over all trials: counts, latency and drains,
and the inference a comparison rests on (scipy): exact binomial intervals
for rates, bootstrap intervals for ratios of medians.

Latency is over successful operations only: a timed-out offline measures the
watchdog, not the kernel. Drain counts are '__drain_all_pages' hits as
printed in the 'drains' key (protocol.py); operations without the key (the
profiler was off or could not trace it) are left out, never taken as 0.
Metrics of blocks excluded by a probe are not in RunResult.points and so
never count here.
"""

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

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


# ---- inference (scipy) ----

CONFIDENCE = 0.95
MIN_SAMPLES = 5  # per side, before a ratio may be called a difference
BOOTSTRAP_RESAMPLES = 9999
BOOTSTRAP_SEED = 20201110  # fixed: the same data always gives the same interval
NO_DIFFERENCE = "no difference shown"


@dataclass(frozen=True)
class Describe:
    """Order statistics of one sample. Quantiles are linear interpolation
    between order statistics (numpy's default, = statistics.quantiles
    method="inclusive"); iqr = q3 - q1."""

    n: int
    median: float
    q1: float
    q3: float
    p90: float
    min: float
    max: float

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1


@dataclass(frozen=True)
class Rate:
    """k events in n trials with the exact (Clopper-Pearson) 95% interval."""

    k: int
    n: int
    low: float
    high: float

    @property
    def text(self) -> str:
        return f"{self.k}/{self.n} [{self.low:.2f}, {self.high:.2f}]" if self.n else "0/0"


@dataclass(frozen=True)
class Ratio:
    """new / baseline median with a bootstrap 95% interval.

    estimate/low/high are None when the ratio is undefined (an empty sample,
    or a baseline median of 0). verdict is "faster", "slower" (for a
    lower-is-better metric), "no difference shown (n=a/b)" or
    "not comparable (...)". significant: the interval excludes 1 and both
    sides have >= MIN_SAMPLES samples.
    """

    estimate: float | None
    low: float | None
    high: float | None
    n_base: int
    n_new: int
    verdict: str
    significant: bool


def describe(values: Sequence[float]) -> Describe | None:
    """n, median, quartiles, p90, min, max of values; None for no values."""
    if not values:
        return None
    a = np.asarray(values, dtype=float)
    q1, med, q3, p90 = (float(x) for x in np.quantile(a, [0.25, 0.5, 0.75, 0.9]))
    return Describe(len(a), med, q1, q3, p90, float(a.min()), float(a.max()))


def rate(k: int, n: int) -> Rate:
    """k/n with the exact Clopper-Pearson interval (scipy binomtest)."""
    if n == 0:
        return Rate(0, 0, 0.0, 1.0)
    ci = sps.binomtest(k, n).proportion_ci(confidence_level=CONFIDENCE, method="exact")
    return Rate(k, n, float(ci.low), float(ci.high))


def _median_ratio(new: np.ndarray, base: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.asarray(np.median(new, axis=axis) / np.median(base, axis=axis))


def ratio_of_medians(base: Sequence[float], new: Sequence[float]) -> Ratio:
    """median(new) / median(base) with a two-sample percentile bootstrap
    interval (scipy.stats.bootstrap, independent samples, fixed seed).

    Lower is better (latency, drain time): a significant ratio below 1 is
    "faster", above 1 "slower".
    """
    nb, nn = len(base), len(new)
    if not nb or not nn:
        return Ratio(None, None, None, nb, nn, f"not comparable (n={nn}/{nb})", False)
    b, x = np.asarray(base, dtype=float), np.asarray(new, dtype=float)
    if float(np.median(b)) == 0.0:
        return Ratio(None, None, None, nb, nn, "not comparable (baseline median 0)", False)
    estimate = float(_median_ratio(x, b))
    if nb < 2 or nn < 2:
        low = high = None
    else:
        res = sps.bootstrap((x, b), _median_ratio, vectorized=True, paired=False,
                            n_resamples=BOOTSTRAP_RESAMPLES, confidence_level=CONFIDENCE,
                            method="percentile", rng=np.random.default_rng(BOOTSTRAP_SEED))
        low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
        if not (math.isfinite(low) and math.isfinite(high)):
            low = high = None
    significant = (low is not None and high is not None and (low > 1.0 or high < 1.0)
                   and nb >= MIN_SAMPLES and nn >= MIN_SAMPLES)
    verdict = (("faster" if estimate < 1.0 else "slower") if significant
               else f"{NO_DIFFERENCE} (n={nn}/{nb})")
    return Ratio(estimate, low, high, nb, nn, verdict, significant)
