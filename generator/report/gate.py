# SPDX-License-Identifier: GPL-2.0
"""`gen compare BASELINE_DIR NEW_DIR`: the CI gate.

For every variant in both directories, the new results regress when:
  - a rate went up: failed, hung or crashed runs, runs with a kernel
    WARNING, failed or timed-out operations (k/n compared as exact fractions);
  - an operation drains more: the exact mean of __drain_all_pages calls per
    operation is higher;
  - latency or drain time grew: the whole bootstrap 95% interval of
    median(new) / median(baseline) lies above the threshold (default 1.10).
Each reason is one line. Exit 1 on any, 0 otherwise (model.py says what is
compared; stats.py how).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from generator.report import model, stats, txt
from generator.results import RunResult

DEFAULT_THRESHOLD = 1.10


@dataclass(frozen=True)
class Verdict:
    regressions: tuple[str, ...]
    checked: tuple[str, ...]  # variants compared
    missing: tuple[str, ...]  # variants in only one directory

    @property
    def exit_code(self) -> int:
        return 1 if self.regressions else 0


def _rate_lines(variant: str, old: model.Health, new: model.Health) -> list[str]:
    lines = []
    for (name, a), (_, b) in zip(old.rates(), new.rates(), strict=True):
        if b.n and (a.n == 0 and b.k > 0 or a.n and Fraction(b.k, b.n) > Fraction(a.k, a.n)):
            lines.append(f"{variant}: more {name}: {b.k}/{b.n} (was {a.k}/{a.n})")
    return lines


def _drain_lines(variant: str, key: str, old: list[float], new: list[float]) -> list[str]:
    if not old or not new:
        return []
    a = Fraction(int(sum(old)), len(old))
    b = Fraction(int(sum(new)), len(new))
    if b > a:
        return [(f"{variant}: {key}: more drains per op: {float(b):.3f} (was {float(a):.3f}; "
                f"{int(sum(new))} in {len(new)} ops, was {int(sum(old))} in {len(old)})")]
    return []


def _ratio_lines(variant: str, key: str, label: str, old: list[float], new: list[float],
                 threshold: float) -> list[str]:
    if not old or not new:
        return []
    r = stats.ratio_of_medians(old, new)
    if r.low is not None and r.low > threshold:
        return [(f"{variant}: {key}: {label} x{txt.ratio_text(r)}, whole 95% interval above "
                f"{threshold:g} (n={r.n_new}/{r.n_base})")]
    return []


def gate(old_runs: Sequence[RunResult], new_runs: Sequence[RunResult],
         threshold: float = DEFAULT_THRESHOLD) -> Verdict:
    old_groups, new_groups = model.by_variant(old_runs), model.by_variant(new_runs)
    both = sorted(set(old_groups) & set(new_groups))
    missing = sorted(set(old_groups) ^ set(new_groups))
    lines: list[str] = []
    for variant in both:
        lines += _rate_lines(variant, model.health(variant, old_groups[variant]),
                             model.health(variant, new_groups[variant]))
        old_s, new_s = model.samples(old_groups[variant]), model.samples(new_groups[variant])
        for key in sorted(set(old_s) & set(new_s), key=model.key_rank):
            o, n = old_s[key], new_s[key]
            lines += _drain_lines(variant, key, o["drains"], n["drains"])
            lines += _ratio_lines(variant, key, "latency", o["latency_ms"], n["latency_ms"],
                                  threshold)
            lines += _ratio_lines(variant, key, "drain time", o["drain_us"], n["drain_us"],
                                  threshold)
    return Verdict(tuple(lines), tuple(both), tuple(missing))
