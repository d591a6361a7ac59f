# SPDX-License-Identifier: GPL-2.0
"""report.html: the comparison, its plots and the runs, from a Jinja template.

The environment autoescapes everything: variant names, console lines and
messages come from results files, which may come from another machine.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from generator import paths
from generator.report import plots, txt
from generator.report.model import EXACT, METRICS, Comparison
from generator.results import RunResult

TEMPLATE = "report/report.html.j2"


@lru_cache(maxsize=1)
def environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(loader=jinja2.FileSystemLoader(str(paths.templates_dir())),
                                undefined=jinja2.StrictUndefined, autoescape=True)


@dataclass(frozen=True)
class RunRow:
    variant: str
    trial: int
    status: str
    start: str
    source: str
    trouble: tuple[str, ...]
    tail: str


def _cls(r: object) -> str:
    sig = getattr(r, "significant", False)
    est = getattr(r, "estimate", None)
    return "" if not sig or est is None else "faster" if est < 1 else "slower"


def _headlines(cmp: Comparison) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for variant in cmp.variants[1:]:
        rows = []
        for key in cmp.keys:
            dn, db = cmp.cell(variant, key, "drains"), cmp.cell(cmp.baseline, key, "drains")
            dt, lat = cmp.cell(variant, key, "drain_us"), cmp.cell(variant, key, "latency_ms")
            dtr, latr = (dt.vs_base if dt else None), (lat.vs_base if lat else None)
            rows.append({"key": key, "drains_new": (dn.mean if dn else None) or "-",
                         "drains_base": (db.mean if db else None) or "-",
                         "dt": txt.ratio_text(dtr), "dt_verdict": dtr.verdict if dtr else "",
                         "dt_class": _cls(dtr), "lat": txt.ratio_text(latr),
                         "lat_verdict": latr.verdict if latr else "", "lat_class": _cls(latr)})
        out.append({"variant": variant, "rows": rows})
    return out


def _details(cmp: Comparison) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for key in cmp.keys:
        metrics = []
        for metric, label, unit in METRICS:
            rows = []
            for variant in cmp.variants:
                c = cmp.cell(variant, key, metric)
                if c is None or c.describe is None:
                    continue
                d = c.describe
                if metric in EXACT:
                    versus = f"exact mean {c.mean} per op ({c.total} in {d.n} ops)"
                else:
                    r = c.vs_base
                    versus = f"x{txt.ratio_text(r)}: {r.verdict}" if r else ""
                rows.append({"variant": variant + (" (baseline)" if variant == cmp.baseline else ""),
                             "n": d.n, "median": txt.num(d.median), "iqr": txt.num(d.iqr),
                             "p90": txt.num(d.p90), "min": txt.num(d.min), "max": txt.num(d.max),
                             "versus": versus, "cls": _cls(c.vs_base)})
            if rows:
                metrics.append({"label": f"{label} ({unit})", "rows": rows})
        out.append({"key": key, "metrics": metrics,
                    "plot": f"latency-{plots.file_stem(key)}.png"})
    return out


def run_rows(runs: Sequence[RunResult], sources: Sequence[str]) -> list[RunRow]:
    rows = []
    for run, source in zip(runs, sources, strict=True):
        trouble = tuple(f"{t.kind}: {t.line}" for t in run.trouble)
        bad = run.status.value != "pass" or bool(trouble)
        rows.append(RunRow(run.meta.variant, run.meta.trial, run.status.value,
                           run.meta.start_time, source, trouble,
                           "\n".join(run.console_tail) if bad else ""))
    return rows


def render(cmp: Comparison, runs: Sequence[RunResult], sources: Sequence[str],
           title: str = "drainlab results") -> str:
    rate_names = [name for name, _ in cmp.health[0].rates()] if cmp.health else []
    return environment().get_template(TEMPLATE).render(
        title=title, cmp=cmp, legend=" ".join(txt.LEGEND), headlines=_headlines(cmp),
        details=_details(cmp), rate_names=rate_names, runs=run_rows(runs, sources))
