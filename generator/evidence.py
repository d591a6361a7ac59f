# SPDX-License-Identifier: GPL-2.0
"""gen report / gen compare / gen bundle: evidence from recorded results.

  gen report DIR... [--out OUT] [--baseline V]   report.txt/.md/.html, summary.json
  gen compare BASELINE_DIR NEW_DIR [--threshold 1.10]   CI gate: exit 1 on a regression
  gen bundle DIR... --out FILE.tar.gz [--baseline V]    review bundle

A DIR may also be a bundle .tar.gz: it is checked member by member and
unpacked into a temporary directory first (bundle/tarball.py).
"""

import argparse
import contextlib
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from generator.errors import UserError


@contextlib.contextmanager
def _as_dirs(paths: list[Path]) -> Iterator[list[Path]]:
    """Directories as given; bundle tarballs unpacked (safely) to temporary ones."""
    from generator.bundle.tarball import safe_extract

    with tempfile.TemporaryDirectory(prefix="drainlab-in-") as tmp:
        out = []
        for n, path in enumerate(paths):
            if path.is_file() and path.name.endswith((".tar.gz", ".tgz", ".tar")):
                out.append(safe_extract(path, Path(tmp) / str(n)))
            else:
                out.append(path)
        yield out


def _cmd_report(args: argparse.Namespace) -> int:
    from generator.report import inputs, publish

    from generator.merge import check_consistent, results_dir_of

    with _as_dirs(args.dirs) as dirs:
        loaded = inputs.load_dirs(dirs)
        # Runs of other trees, configs or selftests are not trials of one experiment.
        mixed = check_consistent(loaded.runs, [results_dir_of(Path(p)) for p in loaded.sources],
                                 args.allow_mixed)
        for line in mixed:
            print(f"mixed (allowed): {line}")
        out = args.out or (args.dirs[0] if args.dirs[0].is_dir() else Path(".")) / "report"
        written = publish.write_report(loaded, out, args.baseline)
    print(written.text, end="")
    print(f"report: {written.out}/report.txt report.md report.html summary.json "
          f"({len(loaded.runs)} runs, baseline {written.comparison.baseline})")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from generator.report import gate, inputs

    if not args.threshold > 0:
        raise UserError(f"--threshold {args.threshold} must be > 0", "e.g. --threshold 1.10")
    with _as_dirs([args.baseline_dir, args.new_dir]) as (old_dir, new_dir):
        old, new = inputs.load_dirs([old_dir]), inputs.load_dirs([new_dir])
    verdict = gate.gate(old.runs, new.runs, args.threshold)
    if not verdict.checked:
        raise UserError("the two results directories share no variant",
                        "compare results of the same variants")
    for line in verdict.regressions:
        print(f"regression: {line}")
    for name in verdict.missing:
        print(f"note: {name} is in only one of the directories; not compared")
    if not verdict.regressions:
        print(f"no regression ({', '.join(verdict.checked)}; threshold {args.threshold:g})")
    return verdict.exit_code


def _cmd_bundle(args: argparse.Namespace) -> int:
    from generator.bundle import write_bundle

    if not args.out.name.endswith((".tar.gz", ".tgz")):
        raise UserError(f"--out {args.out} is not a .tar.gz name", "e.g. --out bundle.tar.gz")
    with _as_dirs(args.dirs) as dirs:
        out = write_bundle(dirs, args.out, args.baseline)
    print(f"bundle: {out}")
    return 0


def _takes(p: argparse.ArgumentParser, func: Callable[[argparse.Namespace], int],
           *options: argparse.Action) -> None:
    """The subcommand runs FUNC and takes exactly OPTIONS: the parser is their one list
    (commands.check_conflicts refuses any other option given, e.g. a top-level one)."""
    p.set_defaults(func=func, own_options=frozenset(o.dest for o in options))


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("report", help="report of one or more results directories")
    _takes(p, _cmd_report,
           p.add_argument("dirs", nargs="+", type=Path, metavar="DIR"),
           p.add_argument("--out", type=Path,
                          help="output directory (default: DIR/report of the first)"),
           p.add_argument("--baseline", help="variant to compare against (default: the tree's own)"),
           p.add_argument("--allow-mixed", action="store_true",
                          help="report runs that differ in base commit, config or selftests together"))
    p = sub.add_parser("compare", help="CI gate: exit 1 when NEW regresses against BASELINE")
    _takes(p, _cmd_compare,
           p.add_argument("baseline_dir", type=Path, metavar="BASELINE_DIR"),
           p.add_argument("new_dir", type=Path, metavar="NEW_DIR"),
           p.add_argument("--threshold", type=float, default=1.10,
                          help="ratio a latency/drain-time CI must exceed as a whole (default 1.10)"))
    p = sub.add_parser("bundle", help="review bundle (.tar.gz) of results directories")
    _takes(p, _cmd_bundle,
           p.add_argument("dirs", nargs="+", type=Path, metavar="DIR"),
           p.add_argument("--out", type=Path, required=True, help="FILE.tar.gz"),
           p.add_argument("--baseline", help="variant to compare against (default: the tree's own)"))
