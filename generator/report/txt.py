# SPDX-License-Identifier: GPL-2.0
"""report.txt: the comparison as mail-ready text (ASCII, <= 72 columns, no tabs).

Sections: identity, a headline per variant against the baseline (exact
drains per operation, drain-time and latency ratios with their 95%
intervals), health rates, then per operation and condition the full
description of every metric. A cover letter takes the headline of its
variant (headline()).
"""

from generator.report import stats
from generator.report.model import EXACT, METRICS, Cell, Comparison

WIDTH = 72
LEGEND = (
    "ratio: median of the variant / median of the baseline, with a",
    "bootstrap 95% interval [low, high]. + slower, - faster: the interval",
    f"excludes 1 and both sides have >= {stats.MIN_SAMPLES} samples; = no difference",
    "shown. Drains are exact counts per operation (mean over operations).",
    "Operations are pooled over trials and blocks; rates are k/n with an",
    "exact (Clopper-Pearson) 95% interval.",
)


def num(x: float | None) -> str:
    """4 significant digits, never an exponent; '-' for None."""
    if x is None:
        return "-"
    if abs(x) >= 1e4:
        return f"{x:.0f}"
    text = f"{x:.4g}"
    return f"{x:.1f}" if "e" in text else text


def rnum(x: float) -> str:
    """A ratio: 3 significant digits, never an exponent."""
    if x == 0:
        return "0"
    return f"{x:.0f}" if abs(x) >= 1000 else f"{x:.3g}" if abs(x) >= 0.001 else "<0.001"


def ratio_text(r: stats.Ratio | None) -> str:
    if r is None or r.estimate is None:
        return "-"
    if r.low is None or r.high is None:
        return f"{rnum(r.estimate)} [-]"
    return f"{rnum(r.estimate)} [{rnum(r.low)},{rnum(r.high)}]"


def mark(r: stats.Ratio | None) -> str:
    if r is None or r.estimate is None:
        return " "
    if not r.significant:
        return "="
    return "-" if r.estimate < 1 else "+"


def _ascii(text: str) -> str:
    return text.encode("ascii", "replace").decode("ascii")


def _exact_drains(c: Cell | None) -> str:
    return c.mean if c is not None and c.mean is not None else "-"


def headline(cmp: Comparison, variant: str) -> list[str]:
    """The lines of one variant against the baseline (for a cover letter)."""
    base = cmp.baseline
    lines = [f"{variant} vs {base} (baseline)",
             (f"  {'operation':<16}{'drains/op':>11}  {'drain time ratio':<21}"
             "latency ratio"),
             f"  {'':<16}{'new/base':>11}  {'[95% CI]':<21}[95% CI]"]
    for key in cmp.keys:
        d_new, d_base = cmp.cell(variant, key, "drains"), cmp.cell(base, key, "drains")
        dt, lat = cmp.cell(variant, key, "drain_us"), cmp.cell(variant, key, "latency_ms")
        if all(c is None or c.describe is None for c in (d_new, dt, lat)):
            continue
        drains = f"{_exact_drains(d_new)}/{_exact_drains(d_base)}"
        dtr = dt.vs_base if dt else None
        latr = lat.vs_base if lat else None
        lines.append(f"  {key:<16}{drains:>11}  {ratio_text(dtr):<19}{mark(dtr)} "
                     f"{ratio_text(latr):<19}{mark(latr)}")
    h = cmp.health_of(variant)
    lines.append(f"  runs {h.runs}: " + ", ".join(f"{k} {v}" for k, v in sorted(h.statuses.items())))
    return [wrap72(_ascii(x).rstrip()) for x in lines]


def _health_lines(cmp: Comparison) -> list[str]:
    lines = ["Health: k/n [exact 95% interval]"]
    for h in cmp.health:
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(h.statuses.items()))
        lines.append(f"{h.variant}: {h.runs} runs ({statuses})")
        pairs = h.rates()
        for i in range(0, len(pairs), 2):  # two per line; an odd last one alone
            row = "  " + " ".join(f"{name:<17}{_rate(rate):<17}" for name, rate in pairs[i:i + 2])
            lines.append(row.rstrip())
    return lines


def _rate(r: stats.Rate) -> str:
    def p(x: float) -> str:
        return f"{x:.2f}".lstrip("0") if x < 1 else "1"
    return f"{r.k}/{r.n} [{p(r.low)},{p(r.high)}]" if r.n else "0/0"


def _detail(cmp: Comparison, key: str) -> list[str]:
    lines = [key]
    for metric, label, unit in METRICS:
        rows = [(v, cmp.cell(v, key, metric)) for v in cmp.variants]
        if all(c is None or c.describe is None for _, c in rows):
            continue
        lines.append(f"  {label} ({unit})")
        lines.append(f"  {'variant':<17}{'n':>4}{'median':>9}{'IQR':>9}{'p90':>9}"
                     f"{'min':>9}{'max':>9}")
        for variant, c in rows:
            d = c.describe if c else None
            name = variant + ("*" if variant == cmp.baseline else "")
            if d is None:
                lines.append(f"  {name[:17]:<17}{0:>4}  not measured")
                continue
            lines.append(f"  {name[:17]:<17}{d.n:>4}{num(d.median):>9}{num(d.iqr):>9}"
                         f"{num(d.p90):>9}{num(d.min):>9}{num(d.max):>9}")
            if c is not None and variant != cmp.baseline:
                lines.append("    " + _versus(c, cmp.cell(cmp.baseline, key, metric)))
    return lines + [""]


def _versus(c: Cell, base: Cell | None) -> str:
    if c.metric in EXACT:
        b = base.mean if base and base.mean is not None else "-"
        return f"exact mean {c.mean} vs {b} per op ({c.total} in {c.describe.n if c.describe else 0} ops)"
    r = c.vs_base
    if r is None:
        return "vs baseline: not comparable (no baseline samples)"
    return f"x{ratio_text(r)}: {r.verdict}"


def render(cmp: Comparison, title: str = "drainlab results") -> str:
    ident = cmp.identity
    lines = [title, "=" * min(len(title), WIDTH), "",
             f"baseline: {cmp.baseline} ({cmp.baseline_why})",
             f"variants: {', '.join(cmp.variants)}; runs: {ident['runs']}",
             f"base-commit: {ident['base-commit']}",
             f"kernel: {ident['kernel']}; accel: {ident['accel']}; profile: {ident['profile']}",
             f"seeds: {ident['seeds']}; config: {ident['config']}; gen {ident['tool']}", ""]
    for variant in cmp.variants[1:]:
        lines += headline(cmp, variant) + [""]
    lines += [*LEGEND, "", *_health_lines(cmp), "", "Per operation (* = baseline)", ""]
    for key in cmp.keys:
        lines += _detail(cmp, key)
    return "\n".join(wrap72(_ascii(x).rstrip()) for x in lines).rstrip() + "\n"


def wrap72(line: str) -> str:
    """Lines from data (variant names, commits) are cut, never wider than 72."""
    return line if len(line) <= WIDTH else line[:WIDTH - 1] + "~"
