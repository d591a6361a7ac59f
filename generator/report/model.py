# SPDX-License-Identifier: GPL-2.0
"""The comparison a report shows: every variant against a baseline variant.

Input: RunResults of any number of trials, variants and machines. Output: a
Comparison (plain frozen dataclasses, rendered by txt/md/html/summary):

  keys     operation and condition, from the metric's test= name
           (protocol.py): "offline idle", "online churn", "offline settled",
           "cma 1024p idle" (cma_alloc of 1024 pages), "offline race", ...
  metrics  latency_ms  latency of successful operations (milliseconds)
           drains      __drain_all_pages calls per successful operation (exact)
           drain_us    time spent in __drain_all_pages per operation (us)
  health   per variant: runs that failed, hung, crashed (oops/panic/BUG), or
           printed a kernel WARNING, runs with a leak (an invariant an
           operation did not give back), and operations that failed or
           timed out, each k/n with an exact 95% interval

Operations are pooled over trials and blocks. cma_free and probe passes are
not compared (they are bookkeeping, not the operations the placements
change).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from generator.collect import Metric
from generator.report import stats
from generator.results import CRASH_KINDS, RunResult, RunStatus

METRICS = (
    ("drains", "drains per op", "calls"),
    ("drain_us", "drain time", "us"),
    ("latency_ms", "latency", "ms"),
)
EXACT = frozenset({"drains"})
COMPARED_OPS = ("offline", "online", "cma_alloc")
_KEY_OP = {"offline": "offline", "online": "online", "cma_alloc": "cma"}
_COND_ORDER = ("idle", "churn", "settled", "onset", "race")


@dataclass(frozen=True)
class Cell:
    """One metric of one (variant, key): its sample described, and against the
    baseline's (None for the baseline itself or when either side is empty).
    For an exact metric, total is the exact sum and mean its exact mean."""

    variant: str
    key: str
    metric: str
    describe: stats.Describe | None
    vs_base: stats.Ratio | None
    total: int | None = None
    mean: str | None = None  # exact, as a fraction "a/b" or an integer


@dataclass(frozen=True)
class Health:
    variant: str
    runs: int
    statuses: dict[str, int]
    fail: stats.Rate
    hang: stats.Rate
    crash: stats.Rate
    warning: stats.Rate
    op_fail: stats.Rate
    op_timeout: stats.Rate
    leak: stats.Rate

    def rates(self) -> list[tuple[str, stats.Rate]]:
        return [("failed runs", self.fail), ("hung runs", self.hang),
                ("crashed runs", self.crash), ("WARNING runs", self.warning),
                ("leak runs", self.leak),
                ("failed ops", self.op_fail), ("timed-out ops", self.op_timeout)]


@dataclass(frozen=True)
class Comparison:
    baseline: str
    baseline_why: str
    variants: tuple[str, ...]  # baseline first
    keys: tuple[str, ...]
    cells: tuple[Cell, ...]
    health: tuple[Health, ...]
    identity: dict[str, str]  # base commit, kernel, accel, trials, seeds, ...

    def cell(self, variant: str, key: str, metric: str) -> Cell | None:
        return next((c for c in self.cells
                     if c.variant == variant and c.key == key and c.metric == metric), None)

    def health_of(self, variant: str) -> Health:
        return next(h for h in self.health if h.variant == variant)


def metric_key(m: Metric) -> str | None:
    """'offline idle', 'cma 1024p churn' (a CMA allocation of 1024 pages),
    'offline race'; None: not compared."""
    op = _KEY_OP.get(m.op)
    parts = m.test.split("/")
    if op is None:
        return None
    if parts[0] == "offline" and len(parts) == 4 and op != "cma":
        return f"{op} {parts[3]}"
    if parts[0] == "cma" and len(parts) == 4 and op == "cma":
        return f"{op} {parts[2]}p {parts[3]}"
    if parts[0] == "race":
        return f"{op} race"
    return None


def key_rank(key: str) -> tuple[int, int, str]:
    op, *rest = key.split()
    cond = rest[-1] if rest else ""
    size = int(rest[0][:-1]) if len(rest) == 2 and rest[0][:-1].isdigit() else 0
    order = _COND_ORDER.index(cond) if cond in _COND_ORDER else len(_COND_ORDER)
    ops = list(_KEY_OP.values())
    return (ops.index(op) if op in ops else 9, size * 10 + order, key)


def samples(runs: Sequence[RunResult]) -> dict[str, dict[str, list[float]]]:
    """key -> metric -> values, over successful operations of runs."""
    out: dict[str, dict[str, list[float]]] = {}
    for run in runs:
        for m in run.metrics():
            key = metric_key(m)
            if key is None or not m.ok:
                continue
            by_metric = out.setdefault(key, {name: [] for name, _, _ in METRICS})
            if m.us is not None:
                by_metric["latency_ms"].append(m.us / 1000)
            if "drains" in m.counters:
                by_metric["drains"].append(m.counters["drains"])
            if "drain_ns" in m.counters:
                by_metric["drain_us"].append(m.counters["drain_ns"] / 1000)
    return out


def health(variant: str, runs: Sequence[RunResult]) -> Health:
    n = len(runs)
    kinds = [{t.kind for t in r.trouble} for r in runs]
    ops = [m for r in runs for m in r.metrics() if m.op in COMPARED_OPS]
    statuses: dict[str, int] = {}
    for r in runs:
        statuses[r.status.value] = statuses.get(r.status.value, 0) + 1
    return Health(
        variant=variant, runs=n, statuses=statuses,
        fail=stats.rate(sum(r.status == RunStatus.FAIL for r in runs), n),
        hang=stats.rate(sum(r.status == RunStatus.HANG for r in runs), n),
        crash=stats.rate(sum(bool(k & CRASH_KINDS) or r.status == RunStatus.CRASH
                             for k, r in zip(kinds, runs, strict=True)), n),
        warning=stats.rate(sum("warning" in k for k in kinds), n),
        op_fail=stats.rate(sum(not m.ok and m.result != "timeout" for m in ops), len(ops)),
        op_timeout=stats.rate(sum(m.result == "timeout" for m in ops), len(ops)),
        leak=stats.rate(sum(bool(r.leaks) for r in runs), n),
    )


def exact_mean(values: Sequence[float]) -> str | None:
    if not values:
        return None
    mean = Fraction(int(sum(values)), len(values))
    return str(mean.numerator) if mean.denominator == 1 else f"{float(mean):.2f}"


def by_variant(runs: Sequence[RunResult]) -> dict[str, list[RunResult]]:
    out: dict[str, list[RunResult]] = {}
    for run in runs:
        out.setdefault(run.meta.variant, []).append(run)
    return out


def choose_baseline(runs: Sequence[RunResult], wanted: str | None) -> tuple[str, str]:
    """(baseline variant, why). wanted must be one of the runs' variants
    (checked by the caller); else the variant the unpatched tree matches, as
    recorded by gen run; else the first variant in name order."""
    names = sorted({r.meta.variant for r in runs})
    if wanted:
        return wanted, "chosen with --baseline"
    matches = {v for r in runs for v in r.meta.tree_matches}
    own = [n for n in names if n in matches]
    if own:
        return own[0], "the placement the unpatched tree already has"
    return names[0], "first by name: the results do not say which variant the tree matches"


def _identity(runs: Sequence[RunResult]) -> dict[str, str]:
    def joined(values: set[str]) -> str:
        return ", ".join(sorted(v for v in values if v)) or "unknown"

    return {
        "base-commit": joined({r.meta.base_commit for r in runs}),
        "kernel": joined({r.meta.kernel_version for r in runs}),
        "accel": joined({r.meta.accel for r in runs}),
        "profile": joined({r.meta.profile for r in runs}),
        "seeds": joined({str(r.meta.seed) for r in runs if r.meta.seed is not None}),
        "config": joined({r.meta.config.hash[:16] for r in runs}),
        "tool": joined({r.meta.tool_version for r in runs}),
        "runs": str(len(runs)),
    }


def compare(runs: Sequence[RunResult], baseline: str | None = None) -> Comparison:
    """Every variant of runs against the baseline variant (see choose_baseline)."""
    groups = by_variant(runs)
    base, why = choose_baseline(runs, baseline)
    variants = (base, *sorted(v for v in groups if v != base))
    per_variant = {v: samples(groups[v]) for v in variants}
    keys = sorted({k for s in per_variant.values() for k in s}, key=key_rank)
    cells = []
    for key in keys:
        base_values = per_variant[base].get(key, {})
        for variant in variants:
            values = per_variant[variant].get(key, {})
            for metric, _, _ in METRICS:
                xs = values.get(metric, [])
                bs = base_values.get(metric, [])
                vs = None if variant == base or not xs or not bs else \
                    stats.ratio_of_medians(bs, xs)
                exact = metric in EXACT
                cells.append(Cell(variant, key, metric, stats.describe(xs), vs,
                                  int(sum(xs)) if exact and xs else None,
                                  exact_mean(xs) if exact else None))
    return Comparison(base, why, variants, tuple(keys), tuple(cells),
                      tuple(health(v, groups[v]) for v in variants), _identity(runs))
