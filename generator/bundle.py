# SPDX-License-Identifier: GPL-2.0
"""Patch review bundle: one directory with the evidence a reviewer needs for a set of runs.

Layout:
    README.txt                 cover text, results table, contents
    series/<name>/             patch series, copied as given
    range-diff/<name>.txt      range-diffs, as given (this module runs no git)
    logs/<variant>-t<N>.log    console logs (RunMeta.artifacts["console_log"])
    results/<variant>-t<N>.json
    report/junit.xml, report/kcidb.json, report/table.txt
    plots/offline-latency.svg, plots/drains-per-offline.svg

The bundle is assembled in a temporary sibling directory and renamed into
place, so an interrupted run never leaves a half bundle under the final name.
"""

import math
import os
import re
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from xml.sax.saxutils import escape

from generator.errors import InfraError, UserError
from generator.report import junit, kcidb, stats, table
from generator.results import RunResult, atomic_write_text

RangeDiffs = Mapping[str, Path | str] | Callable[[], Mapping[str, str]]
_NAME_BAD = re.compile(r"[^A-Za-z0-9._-]+")


def _file_name(name: str) -> str:
    return _NAME_BAD.sub("_", name).strip("._") or "unnamed"


def run_name(run: RunResult) -> str:
    return f"{_file_name(run.meta.variant)}-t{run.meta.trial}"


def write_bundle(out: Path, runs: Sequence[RunResult], *, title: str = "",
                 cover: str = "", series: Mapping[str, Path] | None = None,
                 range_diffs: RangeDiffs | None = None, overwrite: bool = False) -> Path:
    """Write the bundle directory out and return it.

    series: name -> directory of a patch series (copied). range_diffs: name ->
    text file (Path) or text (str), or a callable returning name -> text.
    Raise: UserError if out exists (and not overwrite) or an input is missing;
    InfraError if writing fails.
    """
    if out.exists() and not overwrite:
        raise UserError(f"bundle directory {out} already exists", "remove it or pass overwrite")
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        _fill(tmp, runs, title, cover, series or {}, range_diffs)
        if out.exists():
            shutil.rmtree(out)
        os.rename(tmp, out)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise InfraError(f"cannot write bundle {out}: {err.strerror or err}",
                         f"check free space and permissions in {out.parent}") from err
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _fill(root: Path, runs: Sequence[RunResult], title: str, cover: str,
          series: Mapping[str, Path], range_diffs: RangeDiffs | None) -> None:
    contents = []
    for name, src in series.items():
        if not src.is_dir():
            raise UserError(f"series directory {src} does not exist", "generate the series first")
        shutil.copytree(src, root / "series" / _file_name(name))
        contents.append(f"series/{_file_name(name)}/")
    for name, text in _range_diff_texts(range_diffs).items():
        contents.append(_write(root / "range-diff" / f"{_file_name(name)}.txt", text, root))
    for run in runs:
        log = run.meta.artifacts.get("console_log", "")
        if log and Path(log).is_file():
            dest = root / "logs" / f"{run_name(run)}.log"
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(log, dest)
            contents.append(str(dest.relative_to(root)))
        contents.append(_write(root / "results" / f"{run_name(run)}.json", run.to_json(), root))
    report_dir = root / "report"
    report_dir.mkdir()
    junit.write_junit(runs, report_dir / "junit.xml")
    kcidb.write_kcidb(runs, report_dir / "kcidb.json")
    text_table = table.format_table(runs)
    contents.append(_write(report_dir / "table.txt", text_table, root))
    contents += ["report/junit.xml", "report/kcidb.json"]
    summaries = stats.summarize(runs)
    contents.append(_write(root / "plots" / "offline-latency.svg", latency_svg(runs), root))
    contents.append(_write(root / "plots" / "drains-per-offline.svg", drains_svg(summaries), root))
    readme = readme_text(runs, title, cover, text_table, sorted(contents))
    _write(root / "README.txt", readme, root)


def _write(path: Path, text: str, root: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)
    return str(path.relative_to(root))


def _range_diff_texts(range_diffs: RangeDiffs | None) -> dict[str, str]:
    if range_diffs is None:
        return {}
    given = range_diffs() if callable(range_diffs) else range_diffs
    out = {}
    for name, value in given.items():
        if isinstance(value, Path):
            try:
                value = value.read_text(encoding="utf-8", errors="replace")
            except OSError as err:
                raise UserError(f"cannot read range-diff {value}: {err.strerror}") from err
        out[name] = value
    return out


def readme_text(runs: Sequence[RunResult], title: str, cover: str, text_table: str,
                contents: Sequence[str]) -> str:
    """Cover-letter-ready text: title, free text, the table, per-run trouble, contents."""
    lines = [title or "drainlab results", "=" * len(title or "drainlab results"), ""]
    if cover:
        lines += [cover.rstrip(), ""]
    base = sorted({r.meta.base_commit for r in runs if r.meta.base_commit})
    kernels = sorted({r.meta.kernel_version for r in runs if r.meta.kernel_version})
    accels = sorted({r.meta.accel for r in runs})
    lines += [f"base-commit: {', '.join(base) or 'unknown'}",
              f"kernel: {', '.join(kernels) or 'unknown'}; accel: {', '.join(accels)}; "
              f"runs: {len(runs)}", "", text_table.rstrip(), ""]
    trouble = [f"  {run_name(r)}: {t.kind}: {t.line}" for r in runs for t in r.trouble]
    if trouble:
        lines += ["Kernel messages:", *trouble, ""]
    lines += ["Contents:", *(f"  {c}" for c in contents), ""]
    return "\n".join(lines)


# ---- SVG plots (hand-written; no plotting dependency) ----

_W, _ROW, _LEFT, _RIGHT, _TOP = 640, 28, 150, 20, 30


def _svg(height: int, body: list[str], title: str) -> str:
    return "\n".join([
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{height}" '
        f'viewBox="0 0 {_W} {height}" font-family="monospace" font-size="11">',
        f"<title>{escape(title)}</title>",
        f'<text x="{_W // 2}" y="16" text-anchor="middle" font-size="13">{escape(title)}</text>',
        *body, "</svg>", ""])


def latency_svg(runs: Sequence[RunResult]) -> str:
    """Strip plot of successful offline latencies per variant, log x axis,
    one dot per offline, a bar at the median."""
    by_variant: dict[str, list[float]] = {}
    for run in runs:
        values = by_variant.setdefault(run.meta.variant, [])
        values += [m.us / 1000 for m in run.metrics() if m.op == "offline" and m.ok and m.us]
    every = [v for vs in by_variant.values() for v in vs]
    lo = math.floor(math.log10(min(every))) if every else 0
    hi = math.ceil(math.log10(max(every))) if every else 1
    hi = max(hi, lo + 1)
    width = _W - _LEFT - _RIGHT

    def x(ms: float) -> float:
        return _LEFT + (math.log10(ms) - lo) / (hi - lo) * width

    height = _TOP + _ROW * len(by_variant) + 40
    body = []
    for i, (variant, values) in enumerate(by_variant.items()):
        y = _TOP + _ROW * i + _ROW // 2
        body.append(f'<text x="{_LEFT - 6}" y="{y + 4}" text-anchor="end">{escape(variant)}</text>')
        body += [f'<circle cx="{x(v):.1f}" cy="{y}" r="2.5" fill="#1f77b4" fill-opacity="0.6"/>'
                 for v in values]
        if values:
            med = x(sorted(values)[len(values) // 2])
            body.append(f'<line class="median" x1="{med:.1f}" y1="{y - 9}" x2="{med:.1f}" '
                        f'y2="{y + 9}" stroke="#d62728" stroke-width="2"/>')
    axis_y = _TOP + _ROW * len(by_variant) + 8
    body.append(f'<line x1="{_LEFT}" y1="{axis_y}" x2="{_LEFT + width}" y2="{axis_y}" '
                'stroke="black"/>')
    for power in range(lo, hi + 1):
        tx = x(10.0 ** power)
        body.append(f'<text x="{tx:.1f}" y="{axis_y + 16}" text-anchor="middle">'
                    f'{10.0 ** power:g} ms</text>')
    return _svg(height, body, "offline latency per variant (successful offlines, log scale)")


def drains_svg(summaries: Sequence[stats.VariantSummary]) -> str:
    """Bar chart: median __drain_all_pages calls per offline without retries."""
    values = []
    for s in summaries:
        off = s.ops.get("offline")
        values.append((s.variant, off.drains.no_retry_median if off and off.drains else None))
    top = max([v for _, v in values if v is not None] + [1])
    width = _W - _LEFT - _RIGHT - 40
    height = _TOP + _ROW * len(values) + 10
    body = []
    for i, (variant, value) in enumerate(values):
        y = _TOP + _ROW * i
        body.append(f'<text x="{_LEFT - 6}" y="{y + 16}" text-anchor="end">'
                    f'{escape(variant)}</text>')
        if value is None:
            body.append(f'<text x="{_LEFT}" y="{y + 16}">not measured</text>')
            continue
        w = max(1.0, value / top * width)
        body.append(f'<rect class="bar" x="{_LEFT}" y="{y + 4}" width="{w:.1f}" '
                    f'height="{_ROW - 8}" fill="#2ca02c"/>')
        body.append(f'<text x="{_LEFT + w + 4:.1f}" y="{y + 16}">{value:g}</text>')
    return _svg(height, body, "drains per offline (median, offlines without retry)")

