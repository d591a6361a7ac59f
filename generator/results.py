# SPDX-License-Identifier: GPL-2.0
"""Results stage: the versioned results.json of one run (one variant, one trial).

The run driver hands over what it knows (RunMeta, per-stage StageResults) and
the collector's ConsoleReport; build_run_result() turns them into test points
and one overall RunStatus. Writers in generator/report/ read only RunResult.
results.json is written atomically so a crash or a full disk never leaves a
half-written file for the report stage to trip over.
"""

import contextlib
import dataclasses
import enum
import json
import os
import re
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator import ktap
from generator.collect import ConsoleReport, Leak, Metric, ScriptSegment, Trouble
from generator.errors import InfraError, UserError
from generator.protocol import PROBE_PREFIX

SCHEMA_VERSION = 1
ROOT = "drainlab"
SCRIPT_POINT = "script"  # leaf for what a script as a whole did wrong (hang, bad TAP)
STAGES = ("apply", "build", "initramfs", "boot", "test")

# Kernel messages that mean the guest crashed, and ones that mean it stopped making progress.
CRASH_KINDS = frozenset({"panic", "oops", "bug"})
HANG_KINDS = frozenset({"soft-lockup", "hung-task", "rcu-stall"})
# A program's exit status when /init's `timeout` stopped it: busybox sends
# SIGTERM (128 + 15); coreutils' timeout exits 124.
SCRIPT_TIMEOUT_RCS = frozenset({124, 143})
# Kernel messages that mean the tested code misbehaved but the run went on: FAIL.
FAIL_KINDS = frozenset({"warning", "page-type", "pfns-busy-storm"})
LEAK_POINT = "leak"  # <script>.leak.<op>.<invariant>.<zone>: a '# leak' line (protocol.py)


class RunStatus(enum.StrEnum):
    """Overall verdict of one run, worst first in the order of run_status()."""

    PASS = "pass"
    FAIL = "fail"
    HANG = "hang"
    CRASH = "crash"
    APPLY_FAIL = "apply-fail"
    BUILD_FAIL = "build-fail"
    ERROR = "error"


class StageStatus(enum.StrEnum):
    OK = "ok"
    FAIL = "fail"        # the stage ran and the input was bad (patch rejected, compile error)
    ERROR = "error"      # the stage could not run (tool missing, disk full)
    TIMEOUT = "timeout"  # the run driver's watchdog stopped it
    SKIPPED = "skipped"  # not run because an earlier stage failed


@dataclass(frozen=True)
class StageResult:
    name: str
    status: StageStatus
    seconds: float | None = None
    message: str = ""


@dataclass(frozen=True)
class PatchInfo:
    name: str
    sha256: str
    path: str = ""  # absolute path, for file:// links in reports


@dataclass(frozen=True)
class ConfigInfo:
    hash: str
    options: tuple[str, ...] = ()  # requested, e.g. "CONFIG_MEMORY_HOTREMOVE=y"
    name: str = ""


@dataclass(frozen=True)
class RunMeta:
    """What the run driver knows before the guest runs."""

    variant: str
    trial: int
    tree: str = ""
    base_commit: str = ""
    kernel_version: str = ""
    patches: tuple[PatchInfo, ...] = ()
    config: ConfigInfo = ConfigInfo(hash="")
    qemu_cmdline: tuple[str, ...] = ()
    accel: str = "tcg"
    arch: str = "x86_64"
    start_time: str = ""  # ISO 8601 with timezone, "" if unknown
    artifacts: dict[str, str] = field(default_factory=dict)  # e.g. console_log, build_log, config
    # How the matrix was run, so a report can name its baseline and a README
    # can give the command that reproduces it.
    seed: int | None = None  # shuffles the variant order of each round (gen run --seed)
    position: int = 0  # 1-based place of this run in its round (round = trial)
    trials: int = 0  # rounds the matrix asked for
    profile: str = ""  # selftest profile
    tree_matches: tuple[str, ...] = ()  # variants the unpatched tree already matches
    tool_version: str = ""
    selftests_hash: str = ""  # SelftestBundle.content_hash of the selftests the guest ran
    shard: str = ""  # "I/N" of `gen run --shard`, "" for the whole matrix


@dataclass(frozen=True)
class TestPoint:
    """One reported test: path like drainlab.mem-offline-stress.memory12.

    status is a ktap.TestStatus value (PASS/FAIL/SKIP/ERROR). duration_s is
    the summed latency of its measured operations (TAP has no per-test
    time), the script run time for a 'script' point, None when unknown.
    """

    path: str
    status: str
    duration_s: float | None = None
    message: str = ""
    metrics: tuple[Metric, ...] = ()


@dataclass(frozen=True)
class ScriptSummary:
    name: str
    rc: int | None
    ms: int | None
    truncated: bool
    summary: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ExcludedBlock:
    """A block the script's probe left out (memory hole, boot allocations), with
    the probe's metric lines; these never count as failures."""

    script: str
    block: str
    reason: str
    why: str = ""
    metrics: tuple[Metric, ...] = ()


@dataclass(frozen=True)
class RunResult:
    meta: RunMeta
    status: RunStatus
    stages: tuple[StageResult, ...] = ()
    points: tuple[TestPoint, ...] = ()
    scripts: tuple[ScriptSummary, ...] = ()
    facts: dict[str, str] = field(default_factory=dict)
    excluded: tuple[ExcludedBlock, ...] = ()
    trouble: tuple[Trouble, ...] = ()
    leaks: tuple[Leak, ...] = ()  # invariants operations did not give back (a FAIL)
    boot_uptime: float | None = None
    console_tail: tuple[str, ...] = ()
    schema_version: int = SCHEMA_VERSION

    def stage(self, name: str) -> StageResult | None:
        return next((s for s in self.stages if s.name == name), None)

    def metrics(self) -> list[Metric]:
        return [m for p in self.points for m in p.metrics]

    def to_json(self) -> str:
        return json.dumps(_to_plain(self), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "RunResult":
        try:
            # NaN and Infinity are Python's extensions, not JSON; gen never
            # writes them, and a NaN latency would poison every statistic.
            data = json.loads(text, parse_constant=_no_constant)
        except ValueError as err:
            raise UserError(f"results file is not JSON: {err}") from err
        if not isinstance(data, dict) or data.get("schema_version") != SCHEMA_VERSION:
            found = data.get("schema_version") if isinstance(data, dict) else None
            raise UserError(f"results schema version {found!r}, this gen reads {SCHEMA_VERSION}",
                            "re-run the collect stage with this version of gen")
        try:
            result = _from_plain(cls, data)
        except (KeyError, TypeError, ValueError) as err:
            raise UserError(
                f"results file does not match schema {SCHEMA_VERSION}: {err!r}") from err
        assert isinstance(result, RunResult)
        return result


# ---- JSON conversion: dataclasses, enums, tuples and dicts, nothing else ----

def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _to_plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, (tuple, list)):
        return [_to_plain(x) for x in obj]
    if isinstance(obj, dict):
        return {str(k): _to_plain(v) for k, v in obj.items()}
    return obj


def _from_plain(tp: Any, data: Any) -> Any:
    """Rebuild a value of type tp from JSON data, driven by the type hints."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return None if data is None else _from_plain(args[0], data)
    if origin is tuple:
        return tuple(_from_plain(typing.get_args(tp)[0], x) for x in data)
    if origin is dict:
        _, vt = typing.get_args(tp)
        if not isinstance(data, dict):
            raise TypeError(f"expected an object, got {type(data).__name__}")
        return {str(k): _from_plain(vt, v) for k, v in data.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(data, dict):
            raise TypeError(f"{tp.__name__}: expected an object, got {type(data).__name__}")
        hints = typing.get_type_hints(tp)
        kwargs = {f.name: _from_plain(hints[f.name], data[f.name])
                  for f in dataclasses.fields(tp) if f.name in data}
        return tp(**kwargs)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(data)
    # bool is an int subclass: `"trial": true` is not trial 1.
    if tp in (int, float) and isinstance(data, bool):
        raise TypeError(f"expected {tp.__name__}, got {data!r}")
    if tp is float and isinstance(data, int):
        return float(data)
    if tp in (int, float, str, bool) and not isinstance(data, tp):
        raise TypeError(f"expected {tp.__name__}, got {data!r}")
    return data


T = typing.TypeVar("T")


def to_plain(obj: Any) -> Any:
    """A dataclass (RunMeta, RunResult, ...) as plain JSON data."""
    return _to_plain(obj)


def from_plain(tp: type[T], data: Any) -> T:
    """Rebuild a dataclass from to_plain() data.

    Raise: UserError when the data does not match the type.
    """
    try:
        value = _from_plain(tp, data)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise UserError(f"{tp.__name__} data does not match schema {SCHEMA_VERSION}: {err!r}") from err
    assert isinstance(value, tp)
    return value


# ---- atomic files ----

def atomic_write_text(path: Path, text: str) -> None:
    """atomic_write_bytes() of text encoded as UTF-8."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write data to path via a temporary file and os.replace().

    Raise: InfraError with a one-line message; the temporary file is removed
    and an older file at path is left untouched.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except OSError as err:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise InfraError(f"cannot write {path}: {err.strerror or err}",
                         f"check free space and permissions in {path.parent}") from err


def write_results(result: RunResult, path: Path) -> Path:
    atomic_write_text(path, result.to_json())
    return path


RESULTS_MAX = 16 << 20  # one run's results.json is tens of KB; its console stays beside it


def read_results(path: Path) -> RunResult:
    from generator import inputs

    return RunResult.from_json(inputs.read_text(path, RESULTS_MAX, "results file"))


# ---- building a RunResult ----

_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]+")


def sanitize(component: str) -> str:
    """One KCIDB path component: every other character becomes '_' (as KernelCI does)."""
    return _UNSAFE.sub("_", component.strip()).strip("_") or "_"


def script_stem(script: str) -> str:
    return sanitize(script[:-3] if script.endswith(".sh") else script)


def build_run_result(meta: RunMeta, stages: Sequence[StageResult],
                     console: ConsoleReport | None,
                     host_points: Sequence[TestPoint] = ()) -> RunResult:
    """Combine the driver's view and the console into one RunResult.

    console is None when the guest never ran (apply/build failed).
    host_points: what the host did for the guest during the boot (its
    drainlab-qmp requests, run.host_points), after the kernel point.
    """
    points: list[TestPoint] = []
    if console is not None:
        points.append(_boot_point(console))
        for seg in console.scripts:
            points.extend(script_points(seg))
        points.append(_kernel_point(console))
    points.extend(host_points)
    if not meta.kernel_version and console is not None and console.kernel_release:
        meta = dataclasses.replace(meta, kernel_version=console.kernel_release)
    scripts = console.scripts if console else ()
    return RunResult(
        meta=meta,
        status=run_status(stages, console, points),
        stages=tuple(stages),
        points=tuple(points),
        scripts=tuple(ScriptSummary(s.script, s.rc, s.ms, s.truncated, dict(s.summary))
                      for s in scripts),
        facts=dict(console.facts) if console else {},
        excluded=tuple(x for s in scripts for x in _excluded(s)),
        trouble=console.trouble if console else (),
        leaks=tuple(leak for s in scripts for leak in s.leaks),
        boot_uptime=console.boot_uptime if console else None,
        console_tail=console.tail if console else (),
    )


def _excluded(seg: ScriptSegment) -> list[ExcludedBlock]:
    """Excluded blocks with the metrics of their probe (metrics of the block
    that no result line claims)."""
    results = {names[-1] for names, _ in seg.tap.leaves()}
    return [ExcludedBlock(seg.script, e.block, e.reason, e.why,
                          tuple(m for m in seg.metrics
                                if m.block == e.block and m.test not in results))
            for e in seg.excluded]


def _boot_point(console: ConsoleReport) -> TestPoint:
    if console.boot_seen:
        return TestPoint(f"{ROOT}.boot", "PASS", console.boot_uptime, "")
    return TestPoint(f"{ROOT}.boot", "ERROR", None,
                     "no 'DRAINLAB: boot' marker: the guest /init never ran")


def _kernel_point(console: ConsoleReport) -> TestPoint:
    """Kernel log check. WARNING, "page type is", a "PFNs busy" storm = the
    tested code misbehaved (FAIL); a crash or lockup stopped the run (ERROR,
    like the watchdog)."""
    if not console.trouble:
        return TestPoint(f"{ROOT}.kernel", "PASS")
    kinds = {t.kind for t in console.trouble}
    status = "FAIL" if kinds <= FAIL_KINDS else "ERROR"
    first = console.trouble[0]
    where = f" during {first.script}" if first.script else ""
    msg = f"{len(console.trouble)} kernel message(s): {first.line}{where}"
    return TestPoint(f"{ROOT}.kernel", status, None, msg)


def script_points(seg: ScriptSegment) -> list[TestPoint]:
    """Leaf test points of one script, with their metrics attached by test= name."""
    prefix = f"{ROOT}.{script_stem(seg.script)}"
    by_test: dict[str, list[Metric]] = {}
    for metric in seg.metrics:
        by_test.setdefault(metric.test, []).append(metric)
    points = []
    leaves = seg.tap.leaves()
    for names, test in leaves:
        metrics = tuple(by_test.pop(names[-1], []))
        msg = "; ".join(x for x in (test.directive, *test.anomalies) if x)
        path = _point_path(prefix, names)
        points.append(TestPoint(path, test.status.value, _op_seconds(metrics), msg, metrics))
    excluded = {e.block for e in seg.excluded}
    for name, named in by_test.items():  # measured, but no result line names it
        if all(m.block in excluded for m in named):
            continue  # the probe of an excluded block: kept in RunResult.excluded
        if name.startswith(PROBE_PREFIX):
            continue  # a probe pass (protocol.py): measured, never a test point
        why = ("no result line (script cut short)" if seg.truncated
               else "metric names a test with no result line")
        points.append(TestPoint(_point_path(prefix, [name]), "ERROR",
                                _op_seconds(tuple(named)), why, tuple(named)))
    points.extend(leak_points(seg, prefix))
    whole = _script_point(seg, prefix, [t for _, t in leaves])
    return points + ([whole] if whole else [])


def leak_points(seg: ScriptSegment, prefix: str) -> list[TestPoint]:
    """One FAIL point per '# leak' line: <prefix>.leak.<op...>.<invariant>.<zone>.

    The failure kind "leak": an operation (even a failed one) left a pageblock
    isolated, a pcp list disabled, CMA pages allocated, memory missing or new
    kernel trouble behind (templates/kselftest drainlab_lib.sh dl_inv_check).
    """
    points = []
    for leak in seg.leaks:
        path = _point_path(prefix, [LEAK_POINT, leak.op, leak.invariant, leak.zone])
        msg = (f"leak: {leak.invariant} of {leak.zone} was {leak.before}, "
               f"{leak.after} after {leak.op}")
        points.append(TestPoint(path, "FAIL", None, msg))
    return points


def _point_path(prefix: str, names: Sequence[str]) -> str:
    """'offline/memory12/r1/idle' -> prefix.offline.memory12.r1.idle: the
    scripts' '/' already is a hierarchy, which KCIDB spells with dots."""
    parts = [sanitize(p) for n in names for p in n.split("/") if p.strip()]
    return ".".join([prefix, *parts]) if parts else f"{prefix}._"


def _op_seconds(metrics: tuple[Metric, ...]) -> float | None:
    timed = [m.us for m in metrics if m.us is not None]
    return sum(timed) / 1e6 if timed else None


def _script_point(seg: ScriptSegment, prefix: str, leaves: list[ktap.Test]) -> TestPoint | None:
    """A '<script>.script' point when the script itself went wrong, else None."""
    seconds = seg.ms / 1000 if seg.ms is not None else None
    path = f"{prefix}.{SCRIPT_POINT}"
    if seg.truncated:
        plan = seg.tap.plan
        got = f"{len(leaves)} of {plan} results" if plan is not None else f"{len(leaves)} results"
        return TestPoint(path, "ERROR", None,
                         f"no end marker: the guest stopped during {seg.script} ({got})")
    if seg.rc in SCRIPT_TIMEOUT_RCS:
        # /init runs each program under busybox `timeout` (settings_timeout()):
        # an operation that never returned, like kselftest's "# TIMEOUT", is
        # the kernel's failure, not drainlab's (a script of the tree under
        # test has no per-operation timeout of its own).
        cut = "; ".join(seg.tap.anomalies[:2])
        return TestPoint(path, "FAIL", seconds,
                         f"TIMEOUT: killed by the per-script limit (exit {seg.rc})"
                         + (f"; {cut}" if cut else ""))
    if seg.tap.anomalies:
        return TestPoint(path, "ERROR", seconds, "; ".join(seg.tap.anomalies[:5]))
    if not leaves:
        if seg.tap.status == ktap.TestStatus.SKIP or seg.rc == 4:
            return TestPoint(path, "SKIP", seconds, seg.tap.directive or f"rc={seg.rc}")
        return TestPoint(path, "ERROR", seconds, "no test results")
    explained = any(t.status in (ktap.TestStatus.FAIL, ktap.TestStatus.ERROR) for t in leaves)
    if seg.rc not in (0, 4) and not explained:
        return TestPoint(path, "FAIL", seconds, f"exit code {seg.rc} but every result ok")
    return None


def run_status(stages: Sequence[StageResult], console: ConsoleReport | None,
               points: Sequence[TestPoint]) -> RunStatus:
    """The overall verdict. A stage failure explains everything after it;
    a crash explains a truncated script; a hang beats test failures."""
    by_name = {s.name: s.status for s in stages}
    if by_name.get("apply") in (StageStatus.FAIL, StageStatus.ERROR):
        return RunStatus.APPLY_FAIL
    if by_name.get("build") in (StageStatus.FAIL, StageStatus.ERROR):
        return RunStatus.BUILD_FAIL
    kinds = {t.kind for t in console.trouble} if console else set()
    if kinds & CRASH_KINDS:
        return RunStatus.CRASH
    truncated = console is not None and any(s.truncated for s in console.scripts)
    timed_out = any(s.status == StageStatus.TIMEOUT for s in stages)
    if kinds & HANG_KINDS or truncated or timed_out:
        return RunStatus.HANG
    # Our own tooling failing (initramfs, QEMU missing) says nothing about the variant.
    if (console is None or by_name.get("initramfs") == StageStatus.FAIL
            or any(s.status == StageStatus.ERROR for s in stages)):
        return RunStatus.ERROR
    statuses = {p.status for p in points}
    if "FAIL" in statuses:
        return RunStatus.FAIL
    if "ERROR" in statuses or not console.done:
        return RunStatus.ERROR
    return RunStatus.PASS
