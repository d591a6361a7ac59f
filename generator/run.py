# SPDX-License-Identifier: GPL-2.0
"""`gen run`: variant -> series -> apply -> build -> boot -> TAP -> results -> report.

Every stage is a module of its own; this one only sequences them and turns
what each returns into StageResults. A failed apply or build, a hung or
crashed guest are results of that (variant, trial), recorded, and the matrix
goes on. Each run is written to its own directory as soon as it ends, so a
crash or Ctrl-C never loses a finished run, and a second `gen run` skips
what is already done (unless --force).
"""

import errno
import random
import secrets
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from generator import build, collect, initramfs, kconfig, ops, paths, qmp, vm
from generator import results as res
from generator.bundle import write_bundle
from generator.catalog import Catalog
from generator.errors import InfraError, UserError
from generator.extra_series import EXPECT as EXTRA_EXPECT
from generator.extra_series import ExtraSeries
from generator.extra_series import load_all as load_extra_series
from generator.generate import GenerateRequest, TreeRequest, generate, inspect, open_request
from generator.printer import Printer
from generator.report import table, write_reports
from generator.selftests import DIMM_ID, DIMM_SLOT, SelftestBundle, render_selftests
from generator.series import Series
from generator.version import tool_version
from generator.shard import ShardSpec, shard_pairs
from generator.worktree import Worktree

BOOT_MARGIN_S = 120  # boot + /init + power-off on top of the scripts' own bound
# The tree's own selftests that templates/kselftest/tree-mem-on-off.sh runs,
# relative to tools/testing/selftests (and to the guest's /kselftest).
TREE_SELFTESTS = ("memory-hotplug/mem-on-off-test.sh",)
# Checked before any work, so a missing tool costs a second, not a cold build.
RUN_TOOLS = ("git", "make", "gcc", "flex", "bison", "bc", "perl", "busybox", "qemu-system-x86_64")


@dataclass(frozen=True)
class RunRequest(TreeRequest):
    variants: tuple[str, ...]  # names, ("all",), or ("none",) (only the extra series)
    trials: int = 1
    profile: str = "quick"
    results_dir: Path = Path("results")
    force: bool = False
    smp: int | None = None
    watchdog_s: float | None = None
    accel: str = "auto"
    seed: int | None = None  # None: a random one, recorded in every results.json
    shard: ShardSpec | None = None  # None: the whole matrix
    # Test-only known-bad kernels (generator/extra_series.py): format-patch directories.
    extra_series: tuple[Path, ...] = ()


@dataclass(frozen=True)
class Matrix:
    runs: tuple[res.RunResult, ...]
    results_dir: Path
    table: str
    unexpected: tuple[str, ...]  # "variant trial N: status (expected ...)"


@dataclass(frozen=True)
class Prepared:
    """What every variant shares: the checkout, config, initramfs, QEMU settings."""

    tree: Path
    base: str
    version: str
    selftests: SelftestBundle
    config: kconfig.KernelConfig
    initrd: initramfs.Initramfs
    params: vm.QemuParams
    watchdog_s: float
    tree_matches: tuple[str, ...] = ()  # variants the unpatched tree already matches


@dataclass
class AccelChoice:
    """KVM or TCG, decided once, with the first kernel that builds: KVM only if
    a probe really boots that kernel with it (here QEMU aborts on MSR 0x10a)."""

    want: str  # auto | tcg | kvm
    printer: Printer
    accel: str | None = None

    def params(self, params: vm.QemuParams, bzimage: Path) -> vm.QemuParams:
        if self.accel is None:
            probe_initrd = initramfs.build_initramfs(None, [])
            self.accel, why = vm.choose_accel(bzimage, probe_initrd.path, self.want)
            self.printer.event("accel", f"{self.accel}: {why}")
        return params.with_accel(self.accel)


def variant_names(catalog: Catalog, wanted: tuple[str, ...]) -> list[str]:
    if wanted == ("none",):
        return []  # gen run --variants none --extra-series DIR: only the extra series
    names = list(catalog.variants) if wanted in (("all",), ()) else list(wanted)
    for name in names:
        catalog.variant(name)  # validates: one-line error listing the valid ones
    return names


def _stage(name: str, status: res.StageStatus, start: float, message: str = "") -> res.StageResult:
    return res.StageResult(name, status, round(time.monotonic() - start, 2), message)


def run_dir(results_dir: Path, variant: str, trial: int) -> Path:
    return results_dir / variant / f"trial-{trial}"


def _finished(path: Path, base: str, patches: tuple[res.PatchInfo, ...]) -> res.RunResult | None:
    """A run already recorded for the same base and the same patches, if any."""
    try:
        done = res.read_results(path / "results.json")
    except (UserError, OSError):
        return None
    same = done.meta.base_commit == base and \
        [p.sha256 for p in done.meta.patches] == [p.sha256 for p in patches]
    return done if same else None


def _record(out: Path, meta: res.RunMeta, stages: list[res.StageResult],
            console: collect.ConsoleReport | None,
            extra_points: tuple[res.TestPoint, ...] = ()) -> res.RunResult:
    result = res.build_run_result(meta, stages, console, extra_points)
    res.write_results(result, out / "results.json")
    write_reports([result], out)
    return result


def _skipped(names: tuple[str, ...]) -> list[res.StageResult]:
    return [res.StageResult(n, res.StageStatus.SKIPPED) for n in names]


@dataclass(frozen=True)
class Slot:
    """Where one run sits in the interleaved matrix."""

    variant: str
    trial: int  # = the round
    position: int  # 1-based, in the round's shuffled order
    seed: int


def interleave(names: list[str], trials: int, seed: int) -> list[Slot]:
    """Round r runs every variant once, in an order shuffled per round.

    Drift on a shared machine (another job, thermal, page cache) then hits
    every variant alike instead of the last variant of a sequential matrix.
    The order depends only on (names, trials, seed): the same seed gives the
    same schedule.
    """
    rng = random.Random(seed)
    slots = []
    for trial in range(1, trials + 1):
        order = list(names)
        rng.shuffle(order)
        slots += [Slot(v, trial, pos, seed) for pos, v in enumerate(order, 1)]
    return slots


def run_one(prep: Prepared, wt: Worktree, slot: Slot, patches: list[Path],
            request: RunRequest, printer: Printer, accel: AccelChoice) -> res.RunResult:
    variant, trial = slot.variant, slot.trial
    out = run_dir(request.results_dir, variant, trial)
    infos = tuple(res.PatchInfo(p.name, paths.sha256_of(p), str(p.resolve())) for p in patches)
    if not request.force:
        done = _finished(out, prep.base, infos)
        if done is not None:
            printer.event("skip", f"{variant} trial {trial}: already recorded ({done.status.value})")
            return done
    out.mkdir(parents=True, exist_ok=True)
    meta = res.RunMeta(
        variant=variant, trial=trial, tree=str(prep.tree), base_commit=prep.base,
        kernel_version=prep.version, patches=infos,
        config=res.ConfigInfo(prep.config.sha256, tuple(f"{k}={v}" for k, v in prep.config.requested),
                              "tinyconfig+drainlab.config+selftests"),
        qemu_cmdline=tuple(prep.params.argv(Path("bzImage"), prep.initrd.path)),
        accel=prep.params.accel,
        start_time=datetime.now(UTC).isoformat(timespec="seconds"),
        artifacts={"console_log": str(out / "console.log"), "build_log": str(out / "build.log"),
                   "config": str(prep.config.path)},
        seed=slot.seed, position=slot.position, trials=request.trials, profile=request.profile,
        tree_matches=prep.tree_matches, tool_version=tool_version(),
        selftests_hash=prep.selftests.content_hash,
        shard=str(request.shard or ""),
    )
    stages: list[res.StageResult] = []

    start = time.monotonic()
    applied = wt.apply_series(patches)
    if applied.status != "ok":
        stages.append(_stage("apply", res.StageStatus.FAIL, start,
                             f"conflict in {applied.conflicting_file or '?'}: {applied.log[-300:]}"))
        printer.event("apply", f"{variant}: FAILED ({applied.conflicting_file})")
        return _record(out, meta, stages + _skipped(("build", "boot", "test")), None)
    stages.append(_stage("apply", res.StageStatus.OK, start, f"{applied.applied} patch(es)"))

    start = time.monotonic()
    printer.event("build", f"{variant}: make bzImage")
    built = build.build_kernel(wt.path, prep.config, out / "build.log",
                               build.series_key(prep.base, patches),
                               progress=printer.ticker("build", variant))
    status = res.StageStatus.OK if built.ok else res.StageStatus.FAIL
    stages.append(_stage("build", status, start,
                         "cached" if built.cached else f"{built.warnings} warning(s)"
                         if built.ok else built.log_tail[-1000:]))
    printer.event("build", f"{variant}: {built.status} in {built.seconds:.0f} s"
                  + (" (cached kernel)" if built.cached else ""))
    if not built.ok or built.bzimage is None:
        return _record(out, meta, stages + _skipped(("boot", "test")), None)

    params = accel.params(prep.params, built.bzimage)
    start = time.monotonic()
    printer.event("boot", f"{variant}: qemu ({params.accel}, -smp {params.smp})")
    booted = vm.boot(built.bzimage, prep.initrd.path, out / "console.log", params,
                     timeout_s=prep.watchdog_s, on_line=printer.ticker("test", variant, 30.0))
    boot_status = {
        vm.BootStatus.OK: res.StageStatus.OK,
        vm.BootStatus.HANG: res.StageStatus.TIMEOUT,
        vm.BootStatus.CRASH: res.StageStatus.FAIL,
        vm.BootStatus.ERROR: res.StageStatus.ERROR,
    }[booted.status]
    stages.append(_stage("boot", boot_status, start,
                         booted.crash_line or ("watchdog expired" if booted.status == "hang" else "")))
    meta = replace(meta, qemu_cmdline=booted.qemu_argv, accel=booted.accel)
    if booted.requests:
        meta = replace(meta, artifacts={**meta.artifacts,
                                        "host_requests": str(vm.requests_path(out / "console.log"))})
    for req in booted.requests:
        printer.event("qmp", f"{variant}: {req.line}: {req.outcome} ({req.detail})")
    console = collect.read_console(out / "console.log")
    stages.append(res.StageResult("test", res.StageStatus.OK if console.done else
                                  res.StageStatus.FAIL, round(booted.seconds, 2)))
    result = _record(out, meta, stages, console, host_points(booted.requests))
    printer.event("result", f"{variant} trial {trial}: {result.status.value} "
                  f"({booted.seconds:.0f} s in the guest)")
    return result


def tree_selftests(src: Path) -> dict[str, bytes]:
    """The tree's own selftests run beside ours: path under the guest's
    /kselftest -> contents, read from the checkout SRC (the tree under test)
    at run time, never kept in this repository. A tree without one gives {}
    (tree-mem-on-off.sh then skips)."""
    out = {}
    for rel in TREE_SELFTESTS:
        path = src / "tools/testing/selftests" / rel
        if path.is_file():
            out[rel] = path.read_bytes()
    return out


def prepare(request: RunRequest, wt: Worktree, version: str, printer: Printer) -> Prepared:
    selftests = render_selftests(request.results_dir / "kselftest", request.profile)
    printer.event("config", "tinyconfig + drainlab.config + selftests config")
    config = kconfig.make_config(wt.path, [selftests.directory.absolute() / "config"], tree_id=wt.base)
    initrd = initramfs.build_initramfs(selftests.directory, selftests.test_progs,
                                       selftests.content_hash, selftests.dirname,
                                       timeout_s=selftests.timeout_s,
                                       extra_files=tree_selftests(wt.path))
    params = vm.QemuParams(smp=request.smp) if request.smp else vm.QemuParams()
    params = with_dimm(params, selftests.profile.dimm_mb)
    watchdog = request.watchdog_s or selftests.timeout_s * len(selftests.test_progs) + BOOT_MARGIN_S
    return Prepared(wt.user_tree, wt.base, version, selftests, config, initrd, params, watchdog)


def with_dimm(params: vm.QemuParams, dimm_mb: int) -> vm.QemuParams:
    """PARAMS with the profile's DIMM (cold-plugged, onlined Movable), if it has one.

    Cold-plugged on the command line rather than hot-added over QMP after
    boot: the guest kernel's ACPI memory hotplug driver adds a cold-plugged
    DIMM at boot through the same add_memory() path as a hot-added one, and
    nothing has to wait for the guest to be ready for it.
    """
    if not dimm_mb:
        return params
    return replace(params, dimms=(vm.Dimm(DIMM_ID, dimm_mb, DIMM_SLOT),),
                   cmdline=(*params.cmdline, vm.MEMHP_CMDLINE))


def host_points(requests: tuple[qmp.HostRequest, ...]) -> tuple[res.TestPoint, ...]:
    """One test point per guest request to the host: PASS when QEMU accepted
    it, FAIL when it was refused or QMP failed."""
    return tuple(res.TestPoint(f"{res.ROOT}.host.request{n}", "PASS" if r.ok else "FAIL",
                               None, f"{r.line}: {r.outcome}: {r.detail}")
                 for n, r in enumerate(requests, 1))


def run_matrix(request: RunRequest, printer: Printer) -> Matrix:
    try:
        return _run_matrix(request, printer)
    except OSError as err:
        if err.errno == errno.ENOSPC:
            raise InfraError(f"disk full writing {err.filename or 'the cache'}",
                             "free space (the cache is ~/.cache/drainlab) and re-run; "
                             "finished runs are kept") from None
        raise


def _series_for(opened_tree: Path, request: RunRequest, variant: str, base_date: int) -> Series:
    return generate(GenerateRequest(opened_tree, request.base, request.catalog_dirs, variant,
                                    request.results_dir / "series", None, base_date, True,
                                    base_given=request.base_given))


def recorded_runs(results_dir: Path, order: list[str]) -> list[res.RunResult]:
    """Every readable results.json under results_dir, in catalog then trial order."""
    runs = []
    for path in results_dir.glob("*/trial-*/results.json"):
        try:
            runs.append(res.read_results(path))
        except (UserError, OSError):
            continue  # a foreign or older file: not ours to report
    rank = {name: n for n, name in enumerate(order)}
    return sorted(runs, key=lambda r: (rank.get(r.meta.variant, len(rank)), r.meta.variant,
                                       r.meta.trial))


def preflight() -> None:
    for tool in RUN_TOOLS:
        ops.require_tool(tool)


def _run_matrix(request: RunRequest, printer: Printer) -> Matrix:
    preflight()
    opened = open_request(request)
    names = variant_names(opened.catalog, request.variants)
    extras = load_extra_series(request.extra_series, opened.catalog.variants)
    extra_names = [e.name for e in extras]
    names += extra_names
    base_commit = opened.repo.commit(request.base)
    _, placement = inspect(TreeRequest(opened.tree.path, request.base, request.catalog_dirs))
    seed = request.seed if request.seed is not None else secrets.randbelow(2**32)
    runs: list[res.RunResult] = []
    with Worktree(opened.tree.path, request.base) as wt:
        printer.event("tree", f"{opened.tree.path} (Linux {opened.tree.version}) "
                      f"at {wt.base[:12]}; checkout {wt.path}")
        prep = replace(prepare(request, wt, opened.tree.version, printer),
                       tree_matches=tuple(placement.matching_variants(opened.catalog)))
        accel = AccelChoice(request.accel, printer)
        all_series: dict[str, tuple[Path, ...]] = {e.name: e.patches for e in extras}
        chosen = set(shard_pairs([(v, t) for v in names for t in range(1, request.trials + 1)],
                                 request.shard))
        if request.shard is not None:
            printer.event("shard", f"{request.shard}: {len(chosen)} of "
                          f"{len(names) * request.trials} (variant, trial) pair(s)")
        for variant in names:
            if not any((variant, t) in chosen for t in range(1, request.trials + 1)):
                continue  # another shard's variant
            if variant not in all_series:
                all_series[variant] = _series_for(opened.tree.path, request, variant,
                                                  base_commit.committed_date).patches
            printer.event("series", f"{variant}: {len(all_series[variant])} patch(es)"
                          + (" (--extra-series, expected to fail)" if variant in extra_names else ""))
        printer.event("order", f"{request.trials} round(s), variant order shuffled per round "
                      f"with --seed {seed}")
        # Kernels are cached per (config, base, patches), so switching variant
        # every run rebuilds nothing once each variant has been built once.
        for slot in interleave(names, request.trials, seed):
            if (slot.variant, slot.trial) not in chosen:
                continue  # another shard's run
            patches = list(all_series[slot.variant])
            runs.append(run_one(prep, wt, slot, patches, request, printer, accel))
    # Callers get the runs in the order asked for; the schedule is in each meta.
    runs.sort(key=lambda r: (names.index(r.meta.variant), r.meta.trial))
    # Reports cover every run recorded in the results directory, not only
    # this invocation's: re-running one variant keeps the others' evidence.
    recorded = recorded_runs(request.results_dir, list(opened.catalog.variants) + extra_names)
    paths = write_reports(recorded, request.results_dir)
    text = table.format_table(recorded)
    excluded = table.format_excluded(recorded)
    printer.result(text + (f"\n{excluded}" if excluded else ""))
    # The review bundle covers the whole results directory too. A results
    # file it refuses (another gen's schema) costs the bundle, not the runs.
    try:
        bundle = str(write_bundle([request.results_dir], request.results_dir / "bundle.tar.gz"))
    except UserError as err:
        bundle = f"not written ({err.line()})"
    printer.event("report", f"{request.results_dir}: results.json per run, "
                  f"{paths['junit'].name}, {paths['kcidb'].name}, {paths['table'].name}; "
                  f"review bundle {bundle}")
    unexpected = tuple(unexpected_outcomes(expectations(opened.catalog, extras), runs))
    for line in unexpected:
        printer.result(f"unexpected: {line}")
    return Matrix(tuple(runs), request.results_dir, text, unexpected)


def expectations(catalog: Catalog, extras: tuple[ExtraSeries, ...] = ()) -> dict[str, str]:
    """Name -> "pass" | "fail": each variant's expect, "fail" for every extra series."""
    return {name: v.expect for name, v in catalog.variants.items()} | \
        {e.name: EXTRA_EXPECT for e in extras}


def unexpected_outcomes(expects: dict[str, str], runs: list[res.RunResult]) -> list[str]:
    """Runs whose verdict differs from what the variant expects.

    EXPECTS: variant or extra series name -> "pass" | "fail". A placement
    should pass; a negative control or an extra series (expect: fail) must
    not: if it passes, the stress test cannot tell it from a placement.
    """
    lines = []
    for run in runs:
        expect = expects[run.meta.variant]
        passed = run.status == res.RunStatus.PASS
        caught = run.status in (res.RunStatus.FAIL, res.RunStatus.HANG)
        if (expect == "pass" and not passed) or (expect == "fail" and not caught):
            lines.append(f"{run.meta.variant} trial {run.meta.trial}: {run.status.value} "
                         f"(expected {expect})")
    return lines

