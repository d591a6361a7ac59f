# SPDX-License-Identifier: GPL-2.0
"""Plots of a Comparison (matplotlib, Agg backend, PNG).

  latency-<key>.png   latency distribution per variant (one dot per
                      operation, box = quartiles), one file per operation
                      and condition
  drains.png          exact drains per operation (mean), per key and variant
  drain-time.png      median time in __drain_all_pages per operation, with IQR
  failures.png        failure, hang, crash, WARNING and timeout rates with
                      their exact 95% intervals

Each figure is written to a temporary file and renamed into place.
"""

import os
import re
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from generator.report.model import Comparison

_SAFE = re.compile(r"[^A-Za-z0-9_-]+")


def file_stem(key: str) -> str:
    return _SAFE.sub("-", key).strip("-") or "key"


def _save(fig: Any, path: Path) -> Path:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fig.savefig(tmp, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if tmp.exists():
            tmp.unlink()
    return path


def latency_plot(cmp: Comparison, key: str, values: dict[str, list[float]], out: Path) -> Path:
    names = [v for v in cmp.variants if values.get(v)]
    fig, ax = plt.subplots(figsize=(7, 0.6 + 0.5 * max(1, len(names))))
    if names:
        data = [values[v] for v in names]
        ax.boxplot(data, orientation="horizontal", widths=0.5, showfliers=False)
        for i, xs in enumerate(data, 1):
            ax.plot(xs, [i] * len(xs), "o", alpha=0.4, markersize=3)
        ax.set_yticks(range(1, len(names) + 1), labels=names)
        if all(x > 0 for xs in data for x in xs):
            ax.set_xscale("log")  # tails of 10-100x the median under TCG
    ax.set_xlabel("latency (ms), successful operations")
    ax.set_title(f"{key}: latency per variant")
    return _save(fig, out)


def _bars(cmp: Comparison, metric: str, title: str, xlabel: str, out: Path,
          use_mean: bool, log: bool = False) -> Path:
    keys = list(cmp.keys)
    fig, ax = plt.subplots(figsize=(7, 0.8 + 0.3 * max(1, len(keys)) * len(cmp.variants)))
    height = 0.8 / max(1, len(cmp.variants))
    for j, variant in enumerate(cmp.variants):
        ys, xs, errs = [], [], []
        for i, key in enumerate(keys):
            cell = cmp.cell(variant, key, metric)
            if cell is None or cell.describe is None:
                continue
            d = cell.describe
            value = float(cell.total or 0) / d.n if use_mean else d.median
            ys.append(i + j * height)
            xs.append(value)
            errs.append([[max(0.0, value - d.q1)], [max(0.0, d.q3 - value)]] if not use_mean
                        else [[0.0], [0.0]])
        if xs:
            lo = [e[0][0] for e in errs]
            hi = [e[1][0] for e in errs]
            ax.barh(ys, xs, height=height, xerr=[lo, hi], label=variant)
    ax.set_yticks([i + 0.4 - height / 2 for i in range(len(keys))], labels=keys)
    ax.invert_yaxis()
    if log:  # drains differ 64-fold between placements; symlog keeps zeros
        ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")
    return _save(fig, out)


def failure_plot(cmp: Comparison, out: Path) -> Path:
    labels = [name for name, _ in cmp.health[0].rates()] if cmp.health else []
    fig, ax = plt.subplots(figsize=(7, 0.8 + 0.3 * len(labels) * max(1, len(cmp.variants))))
    height = 0.8 / max(1, len(cmp.variants))
    for j, h in enumerate(cmp.health):
        rates = [r for _, r in h.rates()]
        ys = [i + j * height for i in range(len(rates))]
        p = [r.k / r.n if r.n else 0.0 for r in rates]
        lo = [max(0.0, x - r.low) for x, r in zip(p, rates, strict=True)]
        hi = [max(0.0, r.high - x) for x, r in zip(p, rates, strict=True)]
        ax.barh(ys, p, height=height, xerr=[lo, hi], label=h.variant, capsize=2)
    ax.set_yticks([i + 0.4 - height / 2 for i in range(len(labels))], labels=labels)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("rate k/n with exact 95% interval")
    ax.set_title("failures, hangs, crashes, warnings, timeouts")
    ax.legend(fontsize="small")
    return _save(fig, out)


def write_plots(cmp: Comparison, latencies: dict[str, dict[str, list[float]]],
                out_dir: Path) -> list[Path]:
    """All plots into out_dir; latencies: key -> variant -> values (ms)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [latency_plot(cmp, key, latencies.get(key, {}),
                          out_dir / f"latency-{file_stem(key)}.png") for key in cmp.keys]
    paths.append(_bars(cmp, "drains", "__drain_all_pages calls per operation (exact mean)",
                       "drains per operation", out_dir / "drains.png", use_mean=True))
    paths.append(_bars(cmp, "drain_us", "time in __drain_all_pages per operation (median, IQR)",
                       "microseconds (log scale)", out_dir / "drain-time.png", use_mean=False,
                       log=True))
    paths.append(failure_plot(cmp, out_dir / "failures.png"))
    return paths
