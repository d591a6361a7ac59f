# SPDX-License-Identifier: GPL-2.0
"""Report stage: pure writers over RunResults (JUnit XML, KCIDB JSON, statistics, text table).

Each writer module has a function that builds the output in memory from
RunResults and a write_*() that stores it atomically; nothing here runs the
guest or parses consoles (generator/collect.py and generator/results.py do).
"""

from collections.abc import Sequence
from pathlib import Path

from generator.results import RunResult, atomic_write_text


def write_reports(runs: Sequence[RunResult], out_dir: Path) -> dict[str, Path]:
    """junit.xml, kcidb.json and table.txt for a set of runs, in out_dir."""
    from generator.report import junit, kcidb, table

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "junit": junit.write_junit(runs, out_dir / "junit.xml"),
        "kcidb": kcidb.write_kcidb(runs, out_dir / "kcidb.json"),
        "table": out_dir / "table.txt",
    }
    atomic_write_text(paths["table"], table.format_table(runs))
    return paths
