# SPDX-License-Identifier: GPL-2.0
"""README.txt of a review bundle: what is in it and the exact commands that
reproduce every number (tool version, tree, base commit, config hash, QEMU
command line, profile, trials, seed)."""

import shlex
from collections.abc import Sequence

from generator.report.model import Comparison
from generator.results import RunResult


def _runs_commands(runs: Sequence[RunResult]) -> list[str]:
    """One `gen run` per (tree, base, trials, profile, seed) the runs came from."""
    groups: dict[tuple[str, str, int, str, str], set[str]] = {}
    for r in runs:
        key = (r.meta.tree, r.meta.base_commit, r.meta.trials or 1, r.meta.profile or "quick",
               "" if r.meta.seed is None else str(r.meta.seed))
        groups.setdefault(key, set()).add(r.meta.variant)
    lines = []
    for (tree, base, trials, profile, seed), variants in sorted(groups.items()):
        argv = ["gen", "run", "--tree", tree or "TREE", "--base", base or "BASE",
                "--variants", ",".join(sorted(variants)), "--trials", str(trials),
                "--profile", profile, "--results", "results"]
        if seed:
            argv += ["--seed", seed]
        lines.append("  " + shlex.join(argv))
    return lines


def readme_text(cmp: Comparison, runs: Sequence[RunResult], contents: Sequence[str],
                mboxes: dict[str, str], report_txt: str) -> str:
    first = runs[0].meta if runs else None
    qemu = sorted({shlex.join(r.meta.qemu_cmdline) for r in runs if r.meta.qemu_cmdline})
    configs = sorted({r.meta.config.hash for r in runs if r.meta.config.hash})
    lines = ["drainlab review bundle", "======================", "",
             "Reproduce", "---------",
             f"tool: drainlab gen {cmp.identity['tool']}",
             (f"tree: {', '.join(sorted({r.meta.tree for r in runs if r.meta.tree})) or 'unknown'}"
             f" (Linux {cmp.identity['kernel']})"),
             f"base commit: {cmp.identity['base-commit']}",
             f"kernel config sha256: {', '.join(configs) or 'unknown'}",
             f"config: {first.config.name if first else ''} "
             f"{' '.join(first.config.options) if first else ''}".rstrip(),
             (f"profile: {cmp.identity['profile']}; trials: "
             f"{', '.join(sorted({str(r.meta.trials) for r in runs})) or '?'}; "
             f"seed(s): {cmp.identity['seeds']}"),
             "qemu command line(s) (bzImage and initramfs from the run's cache):",
             *(f"  {q}" for q in qemu), "",
             "Commands (the tree must be at the base commit above):",
             *_runs_commands(runs),
             f"  gen report results --baseline {cmp.baseline}",
             "  gen bundle results --out bundle.tar.gz",
             "Apply a series with b4, offline, on a clone at the base commit:"]
    for variant, path in sorted(mboxes.items()):
        lines.append(f"  b4 --offline-mode -n am -m {path} -n {variant}.mbx -o . "
                     f"&& git am {variant}.mbx")
    if not mboxes:
        lines.append("  (no variant has patches: the tree already has every placement)")
    lines += ["", "Results (report/report.txt; report/report.html has the plots)", "",
              report_txt.rstrip(), "", "Contents", "--------", *(f"  {c}" for c in contents), ""]
    return "\n".join(lines)
