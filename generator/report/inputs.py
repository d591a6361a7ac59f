# SPDX-License-Identifier: GPL-2.0
"""Read results directories for `gen report`, `gen compare` and `gen bundle`.

Results directories may come from other machines (CI artifacts): every
results.json is validated against its schema version before use, and a bad
one stops the command with one line naming it (exit 2), never a traceback
and never a silently smaller sample.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from generator.errors import UserError
from generator.results import RunResult

MAX_RESULTS_BYTES = 32 << 20  # a quick-profile results.json is ~200 KiB
VARIANT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# gen run numbers trials 1..--trials; a trial names a directory (trial-N) and a
# bundle member, so an absurd one is refused before it becomes a file name.
MAX_TRIAL = 1_000_000
# A latency is a measured duration: never negative, and a guest watchdog ends
# every run long before 10**12 us (11.6 days). Counters are what a 64-bit
# kernel or the guest's shell arithmetic can print (some, like
# freed_after_us, are signed).
MAX_US = 10**12
MAX_COUNTER = 2**63


@dataclass(frozen=True)
class Loaded:
    runs: tuple[RunResult, ...]
    sources: tuple[str, ...]  # the results.json each run came from


def read_validated(path: Path) -> RunResult:
    """One results.json, checked: size, JSON, schema version and types
    (RunResult.from_json), and a variant name safe to use in file names.

    Raise: UserError naming path.
    """
    try:
        size = path.stat().st_size
    except OSError as err:
        raise UserError(f"cannot read {path}: {err.strerror}") from err
    if size > MAX_RESULTS_BYTES:
        raise UserError(f"{path}: {size} bytes is not a results file (limit {MAX_RESULTS_BYTES})",
                        "pass the results directory gen run wrote")
    try:
        text = path.read_text(encoding="utf-8")
        run = RunResult.from_json(text)
    except UnicodeDecodeError as err:
        raise UserError(f"{path}: not UTF-8 text ({err.reason})") from err
    except OSError as err:
        raise UserError(f"cannot read {path}: {err.strerror}") from err
    except UserError as err:
        raise UserError(f"{path}: {err.problem}", err.fix) from err
    return check_run(path, run)


def check_run(path: Path, run: RunResult) -> RunResult:
    """RUN as read from PATH, if its values are ones gen run writes: a variant name
    and trial safe as file names, latencies and counters in range.

    Raise: UserError naming path.
    """
    if not VARIANT_RE.match(run.meta.variant):
        raise UserError(f"{path}: variant name {run.meta.variant!r} is not [A-Za-z0-9._-]",
                        "results files name catalog variants")
    if run.meta.trial < 0:
        raise UserError(f"{path}: trial {run.meta.trial} is negative")
    if run.meta.trial > MAX_TRIAL:
        raise UserError(f"{path}: trial {run.meta.trial} is more than {MAX_TRIAL}",
                        "results files hold the trial numbers gen run gave them")
    for metric in run.metrics():
        if metric.us is not None and not 0 <= metric.us <= MAX_US:
            raise UserError(f"{path}: {metric.test} {metric.op}: latency {metric.us} us is not "
                            f"in 0..{MAX_US}", "results files hold the latencies the guest measured")
        for key, value in metric.counters.items():
            if not -MAX_COUNTER < value < MAX_COUNTER:
                raise UserError(f"{path}: {metric.test} {metric.op}: {key} {value} is not a "
                                "64-bit count", "results files hold the counts the guest printed")
    return run


def load_dirs(dirs: Sequence[Path]) -> Loaded:
    """Every results.json under each directory (gen run's <variant>/trial-N/
    layout, or any nesting of it), in the order given, then path order.

    Raise: UserError for a missing directory, one with no results, or a bad file.
    """
    runs: list[RunResult] = []
    sources: list[str] = []
    seen: set[tuple[str, int, str, str]] = set()
    for directory in dirs:
        if not directory.is_dir():
            raise UserError(f"results directory {directory} does not exist",
                            "pass directories gen run wrote (--results)")
        found = sorted(directory.rglob("results.json"))
        for path in found:
            # Skipping it would report a silently smaller sample.
            if path.is_symlink() or not path.is_file():
                raise UserError(f"{path} is not a regular file",
                                "replace it with the results.json gen run wrote, or remove it")
        if not found:
            raise UserError(f"no results.json under {directory}",
                            "pass directories gen run wrote (--results)")
        for path in found:
            run = read_validated(path)
            # The same run reached twice (a directory and its parent) counts once.
            key = (run.meta.variant, run.meta.trial, run.meta.start_time, run.meta.base_commit)
            if key in seen:
                continue
            seen.add(key)
            runs.append(run)
            sources.append(str(path))
    return Loaded(tuple(runs), tuple(sources))


def variants_of(loaded: Loaded) -> list[str]:
    return sorted({r.meta.variant for r in loaded.runs})
