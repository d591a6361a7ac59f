#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Benchmark `gen run` on the real 6.1 tree: cold first variant, warm variants, re-run.

Uses a fresh cache (DRAINLAB_CACHE in a temporary directory, so ccache, the
build dir and the kernel cache start empty) and the default tree as --tree.
Prints, from the run's own progress events:
  cold      start -> first variant's result (checkout, config, cold build, boot, test)
  warm      each further variant (apply, incremental build, boot, test)
  all       every variant from cold
  again     the same matrix a second time (must rebuild nothing)
  forced    the same matrix with --force (kernels come from the kernel cache)
Goals (issue 4): warm <= 20 s with the quick profile; all 7 from cold <= 6 min.
Never run it beside another kernel build: 2 cores.
"""

import argparse
import io
import itertools
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from generator.printer import Printer
from generator.run import RunRequest, run_matrix
from generator.tree import prepare_default_tree


def timed_matrix(request: RunRequest) -> tuple[float, list[dict], list]:
    events = io.StringIO()
    start = time.monotonic()
    matrix = run_matrix(request, Printer("json", events))
    wall = time.monotonic() - start
    parsed = [json.loads(line) for line in events.getvalue().splitlines() if line.strip()]
    return wall, parsed, list(matrix.runs)


def result_times(events: list[dict]) -> list[tuple[str, float]]:
    return [(e["message"].split()[0], e["t"]) for e in events if e["stage"] == "result"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default="all")
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--keep-cache", action="store_true",
                        help="use the normal cache (measures warm, not cold)")
    args = parser.parse_args()
    tree = prepare_default_tree().path  # before DRAINLAB_CACHE moves the cache
    tmp = Path(tempfile.mkdtemp(prefix="bench-run-"))
    if not args.keep_cache:
        os.environ["DRAINLAB_CACHE"] = str(tmp / "cache")
    variants = tuple(args.variants.split(","))
    request = RunRequest(tree, "HEAD", (), variants, 1, args.profile, tmp / "results")

    wall, events, runs = timed_matrix(request)
    times = result_times(events)
    print(f"tree {tree}, profile {args.profile}, cache {'normal' if args.keep_cache else 'fresh'}")
    previous = 0.0
    for n, (variant, t) in enumerate(times):
        run = runs[n]
        stages = ", ".join(f"{s.name} {s.seconds or 0:.1f}s" for s in run.stages)
        label = "cold" if n == 0 else "warm"
        print(f"{label:<5} {variant:<17} {t - previous:6.1f} s  ({stages}) -> {run.status.value}")
        previous = t
    warm = [b - a for (_, a), (_, b) in itertools.pairwise(times)]
    if warm:
        print(f"warm variants: median {sorted(warm)[len(warm) // 2]:.1f} s, max {max(warm):.1f} s")
    print(f"all {len(times)} variants from {'cold' if not args.keep_cache else 'warm'}: "
          f"{wall:.1f} s")

    again_wall, _, again_runs = timed_matrix(request)
    rebuilt = [r.meta.variant for r, first in zip(again_runs, runs, strict=True)
               if r.meta.start_time != first.meta.start_time]
    print(f"again (same matrix): {again_wall:.1f} s, runs redone: {rebuilt or 'none'}")
    forced_wall, _, forced_runs = timed_matrix(
        RunRequest(tree, "HEAD", (), variants, 1, args.profile, tmp / "results", force=True))
    built = [r.meta.variant for r in forced_runs
             if (r.stage("build") is not None and r.stage("build").message != "cached")]
    print(f"forced (--force): {forced_wall:.1f} s, kernels rebuilt: {built or 'none'}")
    print(f"results in {tmp / 'results'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
