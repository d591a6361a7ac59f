#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Benchmark: guest time per variant of a selftest profile, this checkout vs another.

Runs `gen run --variants VARIANT --profile PROFILE` TRIALS times with this
checkout's python and, interleaved (so machine drift hits both alike), with
--baseline-python (another checkout's venv python, e.g. the main branch's),
on the default tree. Prints per run the scripts' guest time (sum of the
DRAINLAB end markers' ms) and the QEMU boot stage seconds, then medians and
the ratio. Goal (issue 11): the quick profile's guest time per variant grows
by at most 50% (ratio <= 1.5). Run it under the heavy lock: it boots QEMU.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def one_run(python: str, variant: str, profile: str, workdir: Path) -> tuple[float, float, str]:
    """(guest scripts s, boot stage s, run status) of one `gen run`."""
    proc = subprocess.run([python, "-m", "generator.cli", "run", "--variants", variant, "--profile",
                           profile, "--results", "results"], cwd=workdir, capture_output=True, text=True)
    result = workdir / "results" / variant / "trial-1" / "results.json"
    if not result.exists():
        sys.exit(f"gen run failed ({python}): {proc.stderr.strip()[-300:]}")
    data = json.loads(result.read_text())
    guest = sum(s["ms"] or 0 for s in data["scripts"]) / 1000
    boot = next((s["seconds"] or 0.0 for s in data["stages"] if s["name"] == "boot"), 0.0)
    return guest, boot, data["status"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline-python", required=True, help="python of the checkout to compare with")
    ap.add_argument("--variant", default="drain-per-range")
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--trials", type=int, default=3)
    args = ap.parse_args()
    sides = {"baseline": args.baseline_python, "this": sys.executable}
    guest: dict[str, list[float]] = {side: [] for side in sides}
    print(f"{'run':<12}{'guest s':>9}{'boot s':>9}  status")
    for trial in range(1, args.trials + 1):
        for side, python in sides.items():
            with tempfile.TemporaryDirectory(prefix="bench-guest-") as tmp:
                g, b, status = one_run(python, args.variant, args.profile, Path(tmp))
            guest[side].append(g)
            print(f"{side}-{trial:<{12 - len(side) - 1}}{g:>9.2f}{b:>9.2f}  {status}", flush=True)
    base, this = statistics.median(guest["baseline"]), statistics.median(guest["this"])
    print(f"median guest s: baseline {base:.2f}, this {this:.2f}, ratio {this / base:.2f} (goal <= 1.50)")


if __name__ == "__main__":
    main()
