# SPDX-License-Identifier: GPL-2.0
"""`gen report`: write report.txt, report.md, report.html (+ plots/) and
summary.json for a Comparison, whole or not at all.

The files are assembled in a temporary sibling of OUT and swapped in with
renames, so an interrupted report leaves the previous one (or nothing).
"""

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from generator.errors import InfraError, UserError
from generator.report import html, md, model, plots, summary, txt
from generator.report.inputs import Loaded
from generator.results import atomic_write_text

TITLE = "drain_all_pages() placements: build, boot and stress results"


@dataclass(frozen=True)
class Written:
    out: Path
    comparison: model.Comparison
    text: str


def latencies(cmp: model.Comparison, loaded: Loaded) -> dict[str, dict[str, list[float]]]:
    out: dict[str, dict[str, list[float]]] = {}
    for variant, runs in model.by_variant(loaded.runs).items():
        for key, metrics in model.samples(runs).items():
            out.setdefault(key, {})[variant] = metrics["latency_ms"]
    return out


def comparison(loaded: Loaded, baseline: str | None) -> model.Comparison:
    names = sorted({r.meta.variant for r in loaded.runs})
    if baseline is not None and baseline not in names:
        raise UserError(f"--baseline {baseline} is not among the results' variants",
                        f"pick one of: {', '.join(names)}")
    return model.compare(loaded.runs, baseline)


def fill(root: Path, cmp: model.Comparison, loaded: Loaded, title: str = TITLE) -> str:
    """Write every report file into root (an empty directory); return report.txt."""
    text = txt.render(cmp, title)
    atomic_write_text(root / "report.txt", text)
    atomic_write_text(root / "report.md", md.render(cmp, title))
    plots.write_plots(cmp, latencies(cmp, loaded), root / "plots")
    atomic_write_text(root / "report.html", html.render(cmp, loaded.runs, loaded.sources, title))
    atomic_write_text(root / "summary.json", summary.summary_json(cmp))
    return text


def _check_replaceable(out: Path) -> None:
    """OUT is replaced whole: only an earlier report may be there, never a
    results directory or anything else a user keeps."""
    if not out.exists() and not out.is_symlink():
        return
    earlier = out.is_dir() and not out.is_symlink() and (out / "summary.json").is_file() \
        and not any(out.rglob("results.json"))
    if not earlier:
        raise UserError(f"--out {out} exists and is not a report gen wrote",
                        "pass a new directory (or the report directory of an earlier gen report)")


def write_report(loaded: Loaded, out: Path, baseline: str | None = None) -> Written:
    """Compare and write the report directory out (replaced whole).

    Raise: UserError for a bad --baseline; InfraError when writing fails.
    """
    cmp = comparison(loaded, baseline)
    out = out.absolute()
    _check_replaceable(out)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        text = fill(tmp, cmp, loaded)
        if out.exists():
            os.rename(out, old)
        os.rename(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    except OSError as err:
        raise InfraError(f"cannot write report {out}: {err.strerror or err}",
                         f"check free space and permissions in {out.parent}") from err
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return Written(out, cmp, text)
