#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Benchmark: `gen --variant drain-per-range` on the real tree vs the naive way.

The naive way is what one would script by hand: `git worktree add` a
checkout of the base, write the edited files, commit, format-patch, remove
the worktree. Both produce the same series; drainlab never checks out.
Prints wall times (median of N runs) and the ratio. Goal: gen < 2 s.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from generator.catalog import load_catalog
from generator.generate import identity
from generator.series import plan_series
from generator.tree import prepare_default_tree

import git


def time_gen(tree: Path, out: Path, checkpatch: bool) -> float:
    argv = [sys.executable, "-m", "generator.cli", "--variant", "drain-per-range",
            "--tree", str(tree), "--out", str(out), "--no-selftests"]
    argv += [] if checkpatch else ["--no-checkpatch"]
    start = time.monotonic()
    subprocess.run(argv, check=True, capture_output=True)
    return time.monotonic() - start


def time_naive(tree: Path, out: Path) -> float:
    """git worktree add + write the same edits + commit + format-patch + remove."""
    repo = git.Repo(tree)
    catalog = load_catalog()
    plan = plan_series(catalog, catalog.variant("drain-per-range"), repo, "HEAD",
                       prepare_default_tree(), identity(repo, None))
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        wt = Path(tmp) / "wt"
        subprocess.run(["git", "worktree", "add", "-q", "--detach", str(wt), "HEAD"],
                       cwd=tree, check=True)
        try:
            for commit in plan.commits:
                for path, content in commit.files:
                    (wt / path).write_bytes(content)
                subprocess.run(["git", "commit", "-q", "-a", "-m", commit.message], cwd=wt,
                               check=True)
            subprocess.run(["git", "format-patch", "-q", "--cover-letter", "-o", str(out),
                            f"HEAD~{len(plan.commits)}"], cwd=wt, check=True,
                           capture_output=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(wt)], cwd=tree,
                           check=True)
    return time.monotonic() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--naive-runs", type=int, default=2)
    args = parser.parse_args()
    tree = prepare_default_tree().path
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        gen = [time_gen(tree, out / "g", checkpatch=False) for _ in range(args.runs)]
        gen_cp = [time_gen(tree, out / "c", checkpatch=True) for _ in range(args.runs)]
        naive = [time_naive(tree, out / f"n{i}") for i in range(args.naive_runs)]
    g, c, n = statistics.median(gen), statistics.median(gen_cp), statistics.median(naive)
    print(f"tree: {tree} ({os.cpu_count()} cpus)")
    print(f"gen --variant drain-per-range --no-checkpatch: median {g:.2f} s "
          f"(min {min(gen):.2f}, max {max(gen):.2f}, n={len(gen)})")
    print(f"gen --variant drain-per-range (with checkpatch --strict): median {c:.2f} s "
          f"(min {min(gen_cp):.2f}, max {max(gen_cp):.2f}, n={len(gen_cp)})")
    print(f"naive worktree add + edit + commit + format-patch: median {n:.2f} s "
          f"(n={len(naive)})")
    print(f"ratio naive / gen: {n / g:.1f}x (with checkpatch: {n / c:.1f}x)")
    print(f"goal gen < 2 s: {'met' if c < 2.0 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
