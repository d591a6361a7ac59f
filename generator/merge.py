# SPDX-License-Identifier: GPL-2.0
"""Merge results directories (CI shards, LAVA imports, other machines) into one set of runs.

    load_runs([shard-1/, shard-2/]) -> Merged(runs=..., mixed=())

Every results.json under the given directories is read and validated
(results.py schema); the runs must then agree on what was tested: the base
commit, the kernel config and the selftests. Runs of different trees or
configs are not trials of one experiment, so merging them is refused unless
the caller allows it (gen ... --allow-mixed), and the refusal names the field
and where each value came from. A (variant, trial) recorded twice with
different content means two shards overlapped: refused, always.

write_merged() is the minimal `gen merge`: the report writers of
generator/report over the merged runs, plus the review bundle.
"""

import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from generator import results as res
from generator.errors import InfraError, UserError

# (what a reader calls it, how to read it off a run)
CONSISTENT: tuple[tuple[str, Callable[[res.RunMeta], str]], ...] = (
    ("base commit", lambda m: m.base_commit),
    ("config hash", lambda m: m.config.hash),
    ("selftests hash", lambda m: m.selftests_hash),
)


@dataclass(frozen=True)
class LoadedRun:
    run: res.RunResult
    path: Path  # its results.json
    source: Path  # the directory given on the command line


@dataclass(frozen=True)
class Merged:
    """runs: sorted by (variant, trial). mixed: one line per field on which the
    runs disagree (empty unless allow_mixed was given)."""

    runs: tuple[res.RunResult, ...]
    loaded: tuple[LoadedRun, ...]
    mixed: tuple[str, ...] = ()


def find_results(directory: Path) -> list[Path]:
    """Every results.json below DIRECTORY (gen run and gen lava import write
    <variant>/trial-<n>/results.json; CI artifacts may nest them deeper).
    Hidden directories (temporary files of an interrupted write) are skipped."""
    found = [p for p in directory.rglob("results.json")
             if not any(part.startswith(".") for part in p.relative_to(directory).parts)]
    return sorted(found)


def _read(path: Path, source: Path) -> LoadedRun:
    from generator.report.inputs import check_run

    try:
        # Bounded, a regular file; then the checks gen report makes on the values.
        run = check_run(path, res.read_results(path))
    except UserError as err:
        problem = err.problem if err.problem.startswith(str(path)) else f"{path}: {err.problem}"
        raise UserError(problem, err.fix or
                        "remove the file or pass only directories written by gen") from None
    # Artifact paths were absolute on the machine that ran it; a console log
    # shipped beside results.json (CI artifact, copy) is the one to use here.
    log = path.parent / "console.log"
    if log.is_file():
        artifacts = {**run.meta.artifacts, "console_log": str(log.resolve())}
        run = replace(run, meta=replace(run.meta, artifacts=artifacts))
    return LoadedRun(run, path, source)


def _short(value: str) -> str:
    return value[:12] if value else "(none)"


def disagreements(runs: Sequence[res.RunResult], sources: Sequence[str]) -> list[str]:
    """One line per CONSISTENT field on which RUNS differ, naming every value,
    how many runs have it and the sources (directories) they came from.
    sources[i] is where runs[i] came from."""
    lines = []
    for name, get in CONSISTENT:
        where: dict[str, list[str]] = {}
        for run, source in zip(runs, sources, strict=True):
            where.setdefault(get(run.meta), []).append(source)
        if len(where) < 2:
            continue
        parts = []
        for value, srcs in sorted(where.items()):
            parts.append(f"{_short(value)} ({len(srcs)} run(s) in {', '.join(sorted(set(srcs)))})")
        lines.append(f"{name}: " + " vs ".join(parts))
    return lines


def check_consistent(runs: Sequence[res.RunResult], sources: Sequence[str],
                     allow_mixed: bool = False) -> tuple[str, ...]:
    """Refuse runs that disagree on base commit, config hash or selftests hash.

    Return: the disagreements (one line each) when allow_mixed, else ().
    Raise: UserError naming the fields, values and sources, unless allow_mixed.
    """
    mixed = disagreements(runs, sources)
    if mixed and not allow_mixed:
        raise UserError("runs disagree on " + "; ".join(mixed),
                        "merge only runs of one tree, config and selftests, "
                        "or pass --allow-mixed to merge them anyway")
    return tuple(mixed)


def results_dir_of(path: Path) -> str:
    """The results directory of a <dir>/<variant>/trial-<n>/results.json path."""
    parts = path.parts
    return str(path.parents[2]) if len(parts) >= 4 and parts[-2].startswith("trial-") \
        else str(path.parent)


def load_runs(dirs: Sequence[Path], allow_mixed: bool = False) -> Merged:
    """Read, validate and merge every run under DIRS.

    Raise UserError (one line) when a directory is missing or holds no run, a
    results.json is invalid, one (variant, trial) has two different records,
    or the runs disagree on base commit / config hash / selftests hash and
    not allow_mixed.
    """
    if not dirs:
        raise UserError("no results directory given", "pass one or more directories from gen run")
    loaded: list[LoadedRun] = []
    for directory in dirs:
        if not directory.is_dir():
            raise UserError(f"results directory {directory} does not exist",
                            "pass directories written by gen run, gen run --shard or gen lava import")
        found = find_results(directory)
        if not found:
            raise UserError(f"{directory} holds no results.json",
                            "pass directories written by gen run, gen run --shard or gen lava import")
        loaded += [_read(path, directory) for path in found]
    unique: dict[tuple[str, int], LoadedRun] = {}
    for item in loaded:
        key = (item.run.meta.variant, item.run.meta.trial)
        seen = unique.get(key)
        if seen is None:
            unique[key] = item
        elif _comparable(seen.run) != _comparable(item.run):
            raise UserError(f"{key[0]} trial {key[1]} is recorded twice, differently: "
                            f"{seen.path} and {item.path}",
                            "the shards overlap: give each (variant, trial) once "
                            "(gen run --shard I/N with one N)")
    kept = sorted(unique.values(), key=lambda i: (i.run.meta.variant, i.run.meta.trial))
    mixed = check_consistent([i.run for i in kept], [str(i.source) for i in kept], allow_mixed)
    return Merged(tuple(i.run for i in kept), tuple(kept), mixed)


def _comparable(run: res.RunResult) -> str:
    """A run's record without its machine-local artifact paths: the same run
    copied to two places is one run."""
    return replace(run, meta=replace(run.meta, artifacts={})).to_json()


def write_merged(merged: Merged, out: Path) -> Path:
    """OUT/: junit.xml, kcidb.json, table.txt over every merged run, and
    bundle.tar.gz (the review bundle of the source directories, gen bundle's).

    Written in a temporary sibling and renamed: OUT appears whole or not at all.
    Raise: UserError if OUT exists; InfraError if writing fails.
    """
    from generator.bundle import write_bundle
    from generator.report import write_reports

    if out.exists():
        raise UserError(f"output directory {out} already exists", "remove it or pass another --out")
    out = out.absolute()
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        write_reports(list(merged.runs), tmp)
        sources = sorted({i.source for i in merged.loaded})
        write_bundle(sources, tmp / "bundle.tar.gz")
        os.rename(tmp, out)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise InfraError(f"cannot write {out}: {err.strerror or err}",
                         f"check free space and permissions in {out.parent}") from err
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
