# SPDX-License-Identifier: GPL-2.0
"""The plain-text results table: one row per variant, fixed width, under 80 columns.

Meant to be pasted into a cover letter as is, so: ASCII only, no colour, no
tabs, and a legend under it that says what each column counts.
"""

from collections.abc import Sequence

from generator.report.stats import OpStats, VariantSummary, summarize
from generator.results import RunResult

MAX_WIDTH = 79
# (header, width, right-aligned)
COLUMNS = (
    ("variant", 16, False),
    ("n", 2, True),
    ("status", 10, False),
    ("offline", 9, True),
    ("tmo", 4, True),
    ("drains", 6, True),
    ("off ms", 8, True),
    ("cma", 9, True),
    ("cma ms", 7, True),
)
LEGEND = (
    "n: trials; status: worst run status (k/n = trials with it, when mixed)",
    "offline: successful/all offlines; tmo: offlines stopped by the timeout",
    "drains: median __drain_all_pages calls per offline that needed no retry",
    "off ms, cma ms: median latency of successful offlines, CMA allocations",
    "cma: successful/all CMA allocations; '-': not measured",
)


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "~"


def _num(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    if float(value).is_integer() and digits <= 1:
        return str(int(value))
    return f"{value:.{digits}f}"


def _ratio(op: OpStats | None) -> str:
    return f"{op.ok}/{op.n}" if op else "-"


def _status(summary: VariantSummary) -> str:
    worst = summary.status.value
    count = sum(1 for s in summary.statuses if s == summary.status)
    return worst if count == summary.trials else f"{worst} {count}/{summary.trials}"


def row_cells(summary: VariantSummary) -> list[str]:
    off = summary.ops.get("offline")
    cma = summary.ops.get("cma_alloc")
    drains = off.drains.no_retry_median if off and off.drains else None
    return [
        summary.variant, str(summary.trials), _status(summary),
        _ratio(off), str(off.timeouts) if off else "-", _num(drains),
        _num(off.latency.median_ms if off and off.latency else None),
        _ratio(cma), _num(cma.latency.median_ms if cma and cma.latency else None),
    ]


def _line(cells: Sequence[str]) -> str:
    parts = []
    for (_, width, right), cell in zip(COLUMNS, cells, strict=True):
        cell = _fit(cell, width)
        parts.append(cell.rjust(width) if right else cell.ljust(width))
    return " ".join(parts).rstrip()


def format_summaries(summaries: Sequence[VariantSummary], legend: bool = True) -> str:
    lines = [_line([c[0] for c in COLUMNS]), _line(["-" * c[1] for c in COLUMNS])]
    lines.extend(_line(row_cells(s)) for s in summaries)
    if legend:
        lines.append("")
        lines.extend(LEGEND)
    assert all(len(ln) <= MAX_WIDTH for ln in lines), "table wider than 79 columns"
    return "\n".join(lines) + "\n"


def format_table(runs: Sequence[RunResult], legend: bool = True) -> str:
    """The table for a set of runs (all trials of all variants)."""
    return format_summaries(summarize(runs), legend)


def format_excluded(runs: Sequence[RunResult]) -> str:
    """Blocks the probe left out, and why, once per (block, reason); "" if none.

    They are structural (a memory hole at the top of RAM, boot allocations
    in the block), so they say nothing about the placement under test.
    """
    seen: dict[tuple[str, str, str], list[str]] = {}
    for run in runs:
        for excl in run.excluded:
            seen.setdefault((excl.block, excl.reason, excl.why), []).append(run.meta.variant)
    if not seen:
        return ""
    lines = ["Blocks excluded by the probe (not failures):"]
    for (block, reason, why), variants in sorted(seen.items()):
        names = ", ".join(sorted(set(variants)))
        lines.append(f"  {block}: {reason} ({why or 'structural'}) in {names}")
    return "\n".join(lines) + "\n"
