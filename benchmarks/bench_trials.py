#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Benchmark the interleaved trial matrix on the real 6.1 tree, then report it.

Runs, as a user would:
    gen run --variants drain-per-block,drain-per-range,pcp-disable --trials 5 \
        --results DIR --seed SEED --quiet
    gen report DIR
and prints how long the matrix took, how many kernels it built (a kernel
already in the cache costs nothing; interleaving must not rebuild), the
guest time per run, and where the report went.
Goal (issue 9): the 5-trial, 3-variant matrix in <= 10 min on this 2-core
machine with kernels cached. Heavy: run it under flock /tmp/drainlab-heavy.lock.
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

GEN = Path(sys.executable).with_name("gen")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default="drain-per-block,drain-per-range,pcp-disable")
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--results", type=Path, default=Path("results-trials"))
    args = parser.parse_args()

    argv = [str(GEN), "run", "--variants", args.variants, "--trials", str(args.trials),
            "--results", str(args.results), "--seed", str(args.seed), "--profile", args.profile,
            "--quiet"]
    print("$", " ".join(argv), flush=True)
    start = time.monotonic()
    run = subprocess.run(argv, check=False)
    wall = time.monotonic() - start

    runs = [json.loads(p.read_text()) for p in sorted(args.results.glob("*/trial-*/results.json"))]
    built = sum(1 for r in runs for s in r["stages"]
                if s["name"] == "build" and s["status"] == "ok" and s["message"] != "cached")
    guest = [s["seconds"] for r in runs for s in r["stages"] if s["name"] == "test" and s["seconds"]]
    build_s = sum(s["seconds"] or 0 for r in runs for s in r["stages"]
                  if s["name"] == "build" and s["message"] != "cached")
    print(f"matrix: {len(args.variants.split(','))} variants x {args.trials} trials = "
          f"{len(runs)} runs in {wall:.1f} s ({wall / 60:.1f} min), gen run exit {run.returncode}")
    print(f"kernels built: {built} ({build_s:.0f} s of the total); the other runs used cached kernels")
    if guest:
        print(f"guest time per run: median {statistics.median(guest):.1f} s, "
              f"min {min(guest):.1f} s, max {max(guest):.1f} s; "
              f"matrix without builds {wall - build_s:.1f} s")
    report = subprocess.run([str(GEN), "report", str(args.results)], check=False,
                            capture_output=True, text=True)
    print(f"gen report exit {report.returncode}: {report.stdout.strip() or report.stderr.strip()}")
    return 0 if run.returncode in (0, 1) and report.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
