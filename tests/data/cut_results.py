#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Cut small test fixtures from a real `gen run` results directory.

    python tests/data/cut_results.py RUN_DIR tests/data/results-trials

Keeps every <variant>/trial-N/results.json with the offline/online and
CMA test points (the isolation-race points are dropped), the last 5
console lines, compact JSON; and series/<variant>/ as written. Values are
copied, never edited: the tests compute their expectations from these files.
"""

import json
import shutil
import sys
from pathlib import Path

KEEP = ("drainlab.boot", "drainlab.kernel", "drainlab.mem-offline-stress.", "drainlab.cma-stress.")


def cut(src: Path, dest: Path) -> None:
    for path in sorted(src.glob("*/trial-*/results.json")):
        data = json.loads(path.read_text())
        data["points"] = [p for p in data["points"] if p["path"].startswith(KEEP)]
        data["console_tail"] = data["console_tail"][-5:]
        data["meta"]["artifacts"] = {}
        out = dest / path.relative_to(src)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(data, separators=(",", ":")) + "\n")
    if (src / "series").is_dir():
        shutil.copytree(src / "series", dest / "series", dirs_exist_ok=True)


if __name__ == "__main__":
    cut(Path(sys.argv[1]), Path(sys.argv[2]))
