# SPDX-License-Identifier: GPL-2.0
"""Run the target tree's own scripts/checkpatch.pl on a generated series."""

import re
from dataclasses import dataclass
from pathlib import Path

from generator import ops
from generator.errors import UserError

TOTAL_RE = re.compile(r"total: (\d+) errors, (\d+) warnings(?:, (\d+) checks)?")


@dataclass(frozen=True)
class CheckpatchResult:
    patch: str
    errors: int
    warnings: int
    checks: int
    output: str

    @property
    def clean(self) -> bool:
        return self.errors == 0 and self.warnings == 0


def require_checkpatch(tree: Path) -> Path:
    """The tree's checkpatch.pl, once perl is known to be there (checked before gen writes)."""
    script = tree / "scripts" / "checkpatch.pl"
    if not script.exists():
        raise UserError(f"{script} not found", "pass --no-checkpatch, or use a full kernel tree")
    try:
        ops.require_tool("perl")
    except UserError:
        raise UserError("perl not found (needed by checkpatch.pl)",
                        "install it: apt-get install perl, or pass --no-checkpatch") from None
    return script


def run_checkpatch(tree: Path, patches: list[Path], strict: bool = True) -> list[CheckpatchResult]:
    script = require_checkpatch(tree)
    results = []
    for patch in patches:
        argv = ["perl", str(script), "--no-color", "--show-types"]
        argv += ["--strict"] if strict else []
        done = ops.run([*argv, str(patch)], cwd=tree, check=False)
        total = TOTAL_RE.search(done.stdout)
        if total is None:
            raise UserError(f"checkpatch.pl gave no verdict on {patch.name}: "
                            f"{(done.stderr or done.stdout).strip()[:200]}",
                            "check the tree's scripts/checkpatch.pl, or pass --no-checkpatch")
        results.append(CheckpatchResult(patch.name, int(total.group(1)), int(total.group(2)),
                                        int(total.group(3) or 0), done.stdout))
    return results
