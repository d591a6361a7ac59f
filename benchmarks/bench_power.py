#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Power of the stress tests: how often each known-bad kernel is caught, per boot.

Like a test suite's mutation score, per bug class. Boots each known-bad
kernel N times on the default 6.1 tree and prints its detection rate with an
exact 95% interval (Clopper-Pearson, scipy binomtest), next to each good
placement's false-alarm rate:

  no-drain         the catalog's negative control: nothing drains during isolation
  drain-per-block  the v5.8 shape: a drain after each isolated pageblock, none on
                   the offline retry (the race v5.9 fixed: a page freed to a
                   pcplist after its pageblock's drain)
  leak-isolate     a test-only kernel (benchmarks/leak_series.py, never a catalog
                   variant): a refused offline leaves its range isolated

A boot "catches" a kernel when its run is FAIL, HANG or CRASH (a failed test
point, a leak, a timeout, a hang, a crash); a run that never booted into the
tests (apply_fail, build_fail, error) is no boot. Everything runs through `gen run`, which
interleaves the kernels per round, caches them, and resumes: re-running the
same command skips every boot already recorded, so a cut-short benchmark
is finished by running it again.

    gen run --variants <the kernels with N boots> [--extra-series LEAK] --trials N
        one run per distinct N (--no-drain, --leak, --dpb, --good), --profile (quick)
    gen run --variants drain-per-block,drain-again --trials V58
        one run per --v58-profiles entry (power: onset rounds; power-burst: pcp-burst.sh)

drain-again is drain-per-block plus the retry drain (the v5.9 fix): under the
workloads aimed at the v5.8 race it is the placement whose false alarms matter.
Heavy: run it under flock /tmp/drainlab-heavy.lock.
"""

import argparse
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import leak_series

from generator.report.stats import rate
from generator.results import RunResult, RunStatus, read_results

GEN = Path(sys.executable).with_name("gen")
BAD = ("no-drain", "drain-per-block")
V58 = "drain-per-block"
V58_FIXED = "drain-again"
SHOWN_KINDS = 3  # failed-point kinds per row (the most frequent)
TESTED = (RunStatus.PASS, RunStatus.FAIL, RunStatus.HANG, RunStatus.CRASH)
COUNTS = ("no_drain", "leak", "dpb", "good", "v58_trials")  # boots per kernel: >= 0
PLACEMENTS = ("drain-again", "drain-per-range", "drain-per-zone", "drain-in-callers", "pcp-disable")


@dataclass(frozen=True)
class Row:
    kernel: str
    profile: str
    bad: bool
    runs: tuple[RunResult, ...]

    @property
    def boots(self) -> tuple[RunResult, ...]:
        """The runs whose kernel booted into the tests: a failed apply or build, or our
        own tooling failing (error), says nothing about the stress tests' power."""
        return tuple(r for r in self.runs if r.status in TESTED)

    @property
    def caught(self) -> int:
        return sum(1 for r in self.boots if r.status != RunStatus.PASS)


def point_label(path: str, message: str) -> str:
    """'TIMEOUT settled', 'leak', 'abandoned': the word a failed point's TAP message
    starts with, and the load of its round (the last part of its name) when it has one."""
    word = (message.split() or ["?"])[0]
    if "leak" in word.lower():
        return "leak"
    last = path.rsplit(".", 1)[-1]
    return f"{word} {last}" if last.isalpha() else word


def how_caught(runs: tuple[RunResult, ...]) -> str:
    """'fail 18, hang 2; TIMEOUT settled 17, leak 3': run verdicts, then for the most
    frequent kinds of failed point the number of runs with at least one."""
    verdicts = Counter(r.status.value for r in runs if r.status != RunStatus.PASS)
    kinds: Counter[str] = Counter()
    for run in runs:
        kinds.update({point_label(p.path, p.message) for p in run.points
                      if p.status not in ("PASS", "SKIP")})
    text = ", ".join(f"{v} {n}" for v, n in verdicts.most_common())
    ranked = sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0]))
    detail = ", ".join(f"{k} {n}" for k, n in ranked[:SHOWN_KINDS])
    if len(ranked) > SHOWN_KINDS:
        detail += f" (+{len(ranked) - SHOWN_KINDS} kinds)"
    return "; ".join(t for t in (text, detail) if t) or "-"


def guest_seconds(runs: tuple[RunResult, ...]) -> str:
    times = [s.seconds for r in runs for s in r.stages if s.name == "test" and s.seconds]
    return f"{statistics.median(times):.0f}" if times else "-"


def offlines(runs: tuple[RunResult, ...]) -> str:
    """'3/108': offlines stopped by the timeout / offlines measured, over all boots."""
    ops = [m for r in runs for m in r.metrics() if m.op == "offline"]
    return f"{sum(1 for m in ops if m.result == 'timeout')}/{len(ops)}"


def table(rows: list[Row]) -> str:
    head = (f"{'kernel':<16} {'profile':<11} {'class':<9} {'caught':>7}  {'rate':>5}  "
            f"{'exact 95% CI':<15} {'guest s':>7} {'offl tmo':>9}  how caught")
    lines = [head, "-" * len(head)]
    for row in rows:
        r = rate(row.caught, len(row.boots))
        share = f"{r.k / r.n:.2f}" if r.n else "-"
        lines.append(f"{row.kernel:<16} {row.profile:<11} {'bad' if row.bad else 'placement':<9} "
                     f"{f'{r.k}/{r.n}':>7}  {share:>5}  [{r.low:.3f}, {r.high:.3f}]  "
                     f"{guest_seconds(row.runs):>7} {offlines(row.runs):>9}  {how_caught(row.runs)}")
    lines.append("caught: boots whose run is FAIL, HANG or CRASH (for a placement, a false alarm; "
                 "apply_fail, build_fail and error runs are not boots); guest s: median per boot;")
    lines.append("offl tmo: offlines stopped by the timeout / all offlines measured, all boots")
    return "\n".join(lines)


def gen_run(variants: list[str], trials: int, profile: str, results: Path, seed: int,
            extra: list[Path]) -> int:
    argv = [str(GEN), "run", "--variants", ",".join(variants) or "none", "--trials", str(trials),
            "--profile", profile, "--results", str(results), "--seed", str(seed), "--quiet"]
    for directory in extra:
        argv += ["--extra-series", str(directory)]
    print("$", " ".join(argv), flush=True)
    start = time.monotonic()
    done = subprocess.run(argv, check=False, stdout=subprocess.DEVNULL)
    print(f"  exit {done.returncode} after {time.monotonic() - start:.0f} s", flush=True)
    return done.returncode


def recorded(results: Path, kernel: str) -> tuple[RunResult, ...]:
    runs = []
    for path in sorted(results.glob(f"{kernel}/trial-*/results.json")):
        runs.append(read_results(path))
    return tuple(sorted(runs, key=lambda r: r.meta.trial))


def plan(trials: dict[str, int]) -> list[tuple[int, list[str]]]:
    """Kernels grouped by their number of boots (one gen run per group), fewest first.
    A kernel with 0 boots is left out."""
    groups: dict[int, list[str]] = {}
    for kernel, n in trials.items():
        if n > 0:
            groups.setdefault(n, []).append(kernel)
    return sorted(groups.items())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-drain", type=int, default=20, help="boots of no-drain (default 20)")
    parser.add_argument("--leak", type=int, default=20, help="boots of leak-isolate (default 20)")
    parser.add_argument("--dpb", type=int, default=20, help="boots of drain-per-block (default 20)")
    parser.add_argument("--good", type=int, default=3, help="boots per good placement (default 3)")
    parser.add_argument("--placements", default=",".join(PLACEMENTS))
    parser.add_argument("--profile", default="quick", help="profile of the main measurement")
    parser.add_argument("--v58-profiles", default="power,power-burst",
                        help="profiles aimed at the v5.8 race, comma-separated ('' for none)")
    parser.add_argument("--v58-trials", type=int, default=5,
                        help="boots of drain-per-block and of drain-again per --v58-profiles entry")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--results", type=Path, default=Path("results-power"),
                        help="RESULTS/<profile>/ per profile, RESULTS/extra-series/ (default results-power)")
    parser.add_argument("--report-only", action="store_true", help="print the table of what is recorded")
    args = parser.parse_args()
    for name in COUNTS:
        if getattr(args, name) < 0:
            flag = "--" + name.replace("_", "-")
            print(f"bench_power: {flag} {getattr(args, name)}: a number of boots is 0 or more",
                  file=sys.stderr)
            return 2
    results = args.results.absolute()
    main_dir = results / args.profile
    v58_profiles = [p for p in args.v58_profiles.split(",") if p]
    placements = [p for p in args.placements.split(",") if p]
    start = time.monotonic()

    if not args.report_only:
        from generator.tree import prepare_default_tree

        tree = prepare_default_tree().path
        leak_dir, edit = leak_series.write_leak_series(tree, "HEAD", results / "extra-series")
        print(f"leak series {leak_dir}: {edit.path}:{edit.goto_line} goto {edit.old_label} -> "
              f"{leak_series.NEW_LABEL}", flush=True)
        trials = {"no-drain": args.no_drain, V58: args.dpb, leak_series.NAME: args.leak}
        trials |= {p: max(args.good, trials.get(p, 0)) for p in placements}
        for n, kernels in plan(trials):
            extra = [leak_dir] if leak_series.NAME in kernels else []
            variants = [k for k in kernels if k != leak_series.NAME]
            gen_run(variants, n, args.profile, main_dir, args.seed, extra)
        for profile in v58_profiles if args.v58_trials else []:  # gen run refuses --trials 0
            gen_run([V58, V58_FIXED], args.v58_trials, profile, results / profile, args.seed, [])

    rows = [Row(k, args.profile, True, recorded(main_dir, k)) for k in (*BAD, leak_series.NAME)]
    rows += [Row(p, args.profile, False, recorded(main_dir, p)) for p in placements]
    for profile in v58_profiles:
        rows += [Row(V58, profile, True, recorded(results / profile, V58)),
                 Row(V58_FIXED, profile, False, recorded(results / profile, V58_FIXED))]
    if not any(r.runs for r in rows):
        print(f"bench_power: no recorded runs under {results}: pass the --results of an earlier "
              "run (and its --profile)", file=sys.stderr)
        return 2
    print()
    print(table([r for r in rows if r.runs]))
    if not args.report_only:
        print(f"benchmark wall time {time.monotonic() - start:.0f} s; results in {results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
