# SPDX-License-Identifier: GPL-2.0
"""Review bundle: one .tar.gz with the evidence a reviewer needs.

    drainlab-bundle/
      README.txt                 reproduce-commands, the report, contents
      report/                    report.txt/.md/.html, plots/*.png, summary.json
      series/<variant>.mbox      the series as one mbox for `b4 am -m` (mbox.py)
      series/<variant>/          the format-patch files it was made from
      range-diff/<variant>.txt   git range-diff against the baseline's series
      selftests/<results dir>/   the kselftest directory that ran in the guest
      results/<variant>/trial-N/ results.json junit.xml kcidb.json console.log

Flow: load and validate the results (report/inputs.py), compare, then fill
a temporary directory and pack it (tarball.py), so the tarball is written
whole or not at all.
"""

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from generator.bundle import mbox, readme, tarball
from generator.errors import InfraError
from generator.report import inputs, publish, txt
from generator.report.model import Comparison
from generator.results import RunResult, atomic_write_text

TOP = "drainlab-bundle"
RUN_FILES = ("results.json", "junit.xml", "kcidb.json", "console.log")
MAX_COPY_BYTES = 64 << 20


def write_bundle(dirs: Sequence[Path], out: Path, baseline: str | None = None) -> Path:
    """The bundle of the results directories dirs, at out (.tar.gz).

    Raise: UserError on bad results (inputs.py) or a bad --baseline;
    InfraError when writing fails.
    """
    loaded = inputs.load_dirs(dirs)
    cmp = publish.comparison(loaded, baseline)
    out = out.absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".bundle-", dir=out.parent) as tmp:
        stage = Path(tmp) / TOP
        stage.mkdir()
        report_txt = publish.fill(_mkdir(stage / "report"), cmp, loaded)
        _copy_runs(stage / "results", loaded)
        series = _series_dirs(dirs, cmp.variants)
        mboxes = _mboxes(stage / "series", series, cmp)
        _range_diffs(stage / "range-diff", series, cmp, loaded.runs)
        _copy_selftests(stage / "selftests", dirs)
        contents = sorted(str(p.relative_to(stage)) for p in stage.rglob("*") if p.is_file())
        atomic_write_text(stage / "README.txt",
                          readme.readme_text(cmp, loaded.runs, contents + ["README.txt"],
                                             mboxes, report_txt))
        return tarball.write_tarball(stage, out, TOP)


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _copy_file(src: Path, dest: Path) -> None:
    """Regular files of sane size only: a results dir is untrusted input."""
    if src.is_symlink() or not src.is_file() or src.stat().st_size > MAX_COPY_BYTES:
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        shutil.copyfile(src, dest)
    except OSError as err:
        raise InfraError(f"cannot copy {src}: {err.strerror or err}") from err


def _copy_runs(dest: Path, loaded: inputs.Loaded) -> None:
    taken: set[str] = set()
    for run, source in zip(loaded.runs, loaded.sources, strict=True):
        name = f"{run.meta.variant}/trial-{run.meta.trial}"
        n = 2
        while name in taken:  # the same trial number from two machines
            name = f"{run.meta.variant}/trial-{run.meta.trial}-{n}"
            n += 1
        taken.add(name)
        for file in RUN_FILES:
            _copy_file(Path(source).parent / file, dest / name / file)


def _series_dirs(dirs: Sequence[Path], variants: Sequence[str]) -> dict[str, Path]:
    """variant -> the first results dir's series/<variant>/ holding patches."""
    found = {}
    for variant in variants:
        for d in dirs:
            s = d / "series" / variant
            if s.is_dir() and not s.is_symlink():
                found[variant] = s
                break
    return found


def cover_table(cmp: Comparison, variant: str) -> str:
    """The results block of a variant's cover letter."""
    head = [("Results from drainlab (gen report), this series against "
            f"{cmp.baseline}:"), ""]
    if variant == cmp.baseline:
        h = cmp.health_of(variant)
        body = [f"{variant} is the baseline of the comparison; {h.runs} runs:",
                *(f"  {name}: {r.k}/{r.n}" for name, r in h.rates())]
    else:
        body = txt.headline(cmp, variant)
    return "\n".join(head + body + ["", *txt.LEGEND[:3]]) + "\n"


def _mboxes(dest: Path, series: dict[str, Path], cmp: Comparison) -> dict[str, str]:
    out = {}
    for variant, src in series.items():
        cover, patches = mbox.series_files(src)
        for p in ([cover] if cover else []) + patches:
            _copy_file(p, dest / variant / p.name)
        made = mbox.write_mbox(variant, src, cover_table(cmp, variant),
                               _mkdir(dest) / f"{variant}.mbox")
        if made is not None:
            out[variant] = f"series/{variant}.mbox"
    return out


def _tip_and_base(series_dir: Path) -> tuple[str, str] | None:
    cover, patches = mbox.series_files(series_dir)
    if not patches or cover is None:
        return None
    first = patches[-1].read_text(errors="replace").split("\n", 1)[0].split()
    base = mbox._BASE.search(cover.read_text(errors="replace"))
    if len(first) < 2 or first[0] != "From" or base is None:
        return None
    return first[1], base.group(1)


def range_diff(tree: str, a: tuple[str, str], b: tuple[str, str]) -> str:
    """`git range-diff` of two series (tip, base) in tree; read-only on tree."""
    proc = subprocess.run(["git", "-C", tree, "range-diff", "--no-color",
                           f"{a[1]}..{a[0]}", f"{b[1]}..{b[0]}"],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return f"(git range-diff failed in {tree}: {proc.stderr.strip()[:300]})\n"
    return proc.stdout


def _range_diffs(dest: Path, series: dict[str, Path], cmp: Comparison,
                 runs: Sequence[RunResult]) -> None:
    trees = sorted({r.meta.tree for r in runs if r.meta.tree and Path(r.meta.tree).is_dir()})
    base_series = series.get(cmp.baseline)
    base_ends = _tip_and_base(base_series) if base_series else None
    for variant, src in series.items():
        if variant == cmp.baseline:
            continue
        ends = _tip_and_base(src)
        if ends is None or base_ends is None or not trees:
            why = ("the baseline's series is empty (the tree already has its placement): "
                   "the series itself is the difference" if base_ends is None and ends
                   else "no series or no tree to compare in")
            text = f"(no range-diff against {cmp.baseline}: {why})\n"
        else:
            text = range_diff(trees[0], base_ends, ends)
        atomic_write_text(_mkdir(dest) / f"{variant}.txt", text)


def _copy_selftests(dest: Path, dirs: Sequence[Path]) -> None:
    for n, d in enumerate(dirs):
        src = d / "kselftest"
        if not src.is_dir() or src.is_symlink():
            continue
        root = src.resolve()
        for path in sorted(src.rglob("*")):
            if path.is_file() and not path.is_symlink() and root in path.resolve().parents:
                _copy_file(path, dest / f"{n}-{d.name}" / path.relative_to(src))
