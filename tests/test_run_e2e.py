# SPDX-License-Identifier: GPL-2.0
"""gen run end to end on the real 6.1 tree: real builds, real QEMU boots, real guest.

One session-scoped matrix run (~cold build once, then ~15 s per variant) feeds
most assertions; the drain counts come from the guest's ftrace profiler.
"""

import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import cold_config_cache, need_tool
from generator import run as run_mod
from generator.catalog import load_catalog
from generator.collect import Metric
from generator.printer import Printer
from generator.results import RunResult, RunStatus, read_results
from generator.run import RunRequest, run_matrix
from gitstate import FIXED_GIT_ENV, assert_one_line_error, git, run_gen

pytestmark = [pytest.mark.kernel, pytest.mark.realtree]

PLACEMENTS = ("drain-per-block", "drain-per-range", "drain-in-callers", "pcp-disable")
MATRIX = (*PLACEMENTS, "no-drain")
RUN_TOOLS = run_mod.RUN_TOOLS


@pytest.fixture(scope="session")
def matrix(real_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> run_mod.Matrix:
    """`gen run` itself, as a user types it; the runs are read back from disk."""
    for tool in RUN_TOOLS:
        need_tool(tool)
    cwd = tmp_path_factory.mktemp("e2e")
    run = run_gen("run", "--tree", str(real_tree), "--variants", ",".join(MATRIX),
                  "--profile", "quick", "--results", "results", cwd=cwd, timeout=3000)
    print(run.stdout)
    assert run.returncode == 0, (run.stdout[-3000:], run.stderr[-3000:])
    out = cwd / "results"
    runs = [r for r in run_mod.recorded_runs(out, list(MATRIX)) if r.meta.variant in MATRIX]
    assert [r.meta.variant for r in runs] == list(MATRIX)
    unexpected = tuple(run_mod.unexpected_outcomes(run_mod.expectations(load_catalog()), runs))
    return run_mod.Matrix(tuple(runs), out, (out / "table.txt").read_text(), unexpected)


def by_variant(matrix: run_mod.Matrix) -> dict[str, RunResult]:
    return {r.meta.variant: r for r in matrix.runs}


def clean_offlines(run: RunResult) -> list[Metric]:
    """Successful offlines that needed no retry (one test_pages_isolated() call)."""
    return [m for m in run.metrics() if m.op == "offline" and m.result == "ok"
            and m.counters.get("test_pages_isolated") == 1]


def pageblocks_per_block(run: RunResult) -> int:
    facts = run.facts
    pageblock_bytes = int(facts["pageblock_pages"]) * int(facts["page_size"])
    return int(facts["block_size_bytes"]) // pageblock_bytes


def test_placements_pass(matrix: run_mod.Matrix) -> None:
    runs = by_variant(matrix)
    for variant in PLACEMENTS:
        assert runs[variant].status == RunStatus.PASS, (variant, runs[variant].points)


@pytest.mark.parametrize("variant, expected", [
    ("drain-per-block", "pageblocks"), ("drain-per-range", 1), ("drain-in-callers", 1),
    ("pcp-disable", 1)])
def test_drains_per_offline_match_the_placement(matrix: run_mod.Matrix, variant: str,
                                                expected: object) -> None:
    run = by_variant(matrix)[variant]
    offlines = clean_offlines(run)
    assert len(offlines) >= 3, run.metrics()
    want = pageblocks_per_block(run) if expected == "pageblocks" else expected
    assert pageblocks_per_block(run) == 64  # x86_64: 128 MiB blocks of 2 MiB pageblocks
    assert {m.counters["drains"] for m in offlines} == {want}
    if variant == "pcp-disable":
        # The one drain is zone_pcp_disable()'s forced one, none via drain_all_pages().
        assert {m.counters["drain_all_pages"] for m in offlines} == {0}
        assert {m.counters["zone_pcp_disable"] for m in offlines} == {1}


def test_negative_control_is_caught(matrix: run_mod.Matrix) -> None:
    run = by_variant(matrix)["no-drain"]
    assert run.status in (RunStatus.FAIL, RunStatus.HANG), run.status
    stuck = [m for m in run.metrics() if m.op == "offline" and m.result != "ok"]
    assert stuck, "no offline failed or timed out without any drain"
    assert not matrix.unexpected, matrix.unexpected


def _console_lines(matrix: run_mod.Matrix, variant: str, prefix: str) -> list[dict[str, str]]:
    """key=value pairs of the console lines starting with PREFIX ('# injected', ...)."""
    text = (matrix.results_dir / variant / "trial-1" / "console.log").read_text()
    return [dict(kv.split("=", 1) for kv in line[len(prefix):].split() if "=" in kv)
            for line in text.splitlines() if line.startswith(prefix + " ")]


def test_error_paths_fail_cleanly_on_the_real_tree(matrix: run_mod.Matrix) -> None:
    """error-paths.sh in the matrix's pcp-disable run (no build or boot of its own): a
    notifier-refused offline, an oversized CMA allocation and a killed offline of a full
    block each fail as injected, after isolation began, and the next operations succeed."""
    run = by_variant(matrix)["pcp-disable"]
    points = {p.path.split(".")[-1]: p.status for p in run.points
              if p.path.startswith("drainlab.error-paths.errors.")}
    assert points == {"notifier": "PASS", "oversize": "PASS", "signal": "PASS"}, run.points
    injected = {d["test"].split("/")[-1]: d for d in _console_lines(matrix, "pcp-disable", "# injected")}
    # The refusal came after the pageblocks were isolated and the pcp lists disabled:
    # the error path that had to undo both ran.
    refused = injected["notifier"]
    assert refused["result"] == "ENOMEM" and int(refused["set_migratetype_isolate"]) > 0
    assert refused["zone_pcp_disable"] == "1"
    assert injected["oversize"]["result"] == "ENOMEM"
    killed = injected["signal"]
    assert killed["result"] == "timeout" and int(killed["set_migratetype_isolate"]) > 0
    # Every operation after an injected failure succeeded.
    after = [m for m in run.metrics() if m.test.startswith("errors/")]
    assert after and all(m.result == "ok" for m in after), after
    assert not run.trouble, run.trouble
    # Every invariant held around each injected failure (dl_inv_check printed no "# leak").
    assert not [leak for leak in run.leaks if leak.op.startswith("errors/")], run.leaks


def test_the_trees_own_selftest_runs_beside_ours(matrix: run_mod.Matrix, real_tree: Path) -> None:
    """The 6.1 tree's mem-on-off-test.sh, taken from the tree at run time, runs under busybox
    sh; failures on blocks that are not Movable are told apart (valid_zones), none is real."""
    assert (real_tree / "tools/testing/selftests/memory-hotplug/mem-on-off-test.sh").is_file()
    run = by_variant(matrix)["pcp-disable"]
    (point,) = [p for p in run.points if p.path.startswith("drainlab.tree-mem-on-off.")]
    assert point.status == "PASS", point
    verdict = _console_lines(matrix, "pcp-disable", "# tree-selftest")
    assert verdict and verdict[0]["real_failures"] == "0", verdict
    tried = _console_lines(matrix, "pcp-disable", "# tree-offline")
    assert tried and all(t["kind"] in ("ok", "expected") for t in tried), tried
    assert all(t["zones"] != "Movable" for t in tried if t["kind"] == "expected")


def test_every_run_has_its_reports(matrix: run_mod.Matrix) -> None:
    import junitparser
    import kcidb_io

    for run in matrix.runs:
        out = matrix.results_dir / run.meta.variant / "trial-1"
        assert read_results(out / "results.json") == run
        assert (out / "console.log").read_text().count("DRAINLAB: boot") == 1
        suites = list(junitparser.JUnitXml.fromfile(str(out / "junit.xml")))
        assert sum(s.tests for s in suites) >= len(run.points)
        kcidb_io.schema.LATEST.validate(json.loads((out / "kcidb.json").read_text()))
    kcidb_io.schema.LATEST.validate(json.loads((matrix.results_dir / "kcidb.json").read_text()))
    assert "drain-per-range" in (matrix.results_dir / "table.txt").read_text()


def test_second_run_skips_what_is_done_and_rebuilds_nothing(matrix: run_mod.Matrix,
                                                           real_tree: Path) -> None:
    again = run_matrix(RunRequest(real_tree, "HEAD", (), MATRIX, 1, "quick", matrix.results_dir),
                       Printer("quiet"))
    assert [r.meta.start_time for r in again.runs] == [r.meta.start_time for r in matrix.runs]
    forced = run_matrix(RunRequest(real_tree, "HEAD", (), ("drain-per-range",), 1, "quick",
                                   matrix.results_dir, force=True), Printer("quiet"))
    build = forced.runs[0].stage("build")
    assert build is not None and build.message == "cached", build
    # Re-running one variant keeps every variant's evidence in the reports.
    table = (matrix.results_dir / "table.txt").read_text()
    with tarfile.open(matrix.results_dir / "bundle.tar.gz") as tar:
        names = set(tar.getnames())
        readme = tar.extractfile("drainlab-bundle/README.txt").read().decode()  # type: ignore[union-attr]
    for variant in MATRIX:
        assert variant in table and variant in readme, variant
        assert f"drainlab-bundle/results/{variant}/trial-1/results.json" in names
        patches = list((matrix.results_dir / "series" / variant).glob("0001-*.patch"))
        assert (f"drainlab-bundle/series/{variant}.mbox" in names) == bool(patches), variant


def test_hang_is_recorded_and_the_matrix_goes_on(matrix: run_mod.Matrix, real_tree: Path,
                                                 tmp_path: Path) -> None:
    # A watchdog far shorter than the guest's run: each guest is still inside
    # its first script when QEMU is killed. Both are recorded, none is lost.
    hung = run_matrix(RunRequest(real_tree, "HEAD", (), ("drain-per-range", "pcp-disable"), 1,
                                 "quick", tmp_path / "r", watchdog_s=6), Printer("quiet"))
    assert [r.meta.variant for r in hung.runs] == ["drain-per-range", "pcp-disable"]
    for run in hung.runs:
        assert run.status == RunStatus.HANG, run.status
        assert run.stage("boot").status.value == "timeout"
        assert any("# metric" in line for line in run.console_tail), run.console_tail
        out = tmp_path / "r" / run.meta.variant / "trial-1"
        console = (out / "console.log").read_text()
        assert "DRAINLAB: begin mem-offline-stress.sh" in console
        assert "DRAINLAB: done" not in console
        assert (out / "results.json").exists()
    leftover = subprocess.run(["pgrep", "-f", "qemu-system-x86_64"], capture_output=True, text=True)
    assert leftover.stdout == "", "a killed guest left a process behind"


STALE_PATCH = """\
From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001
From: Fixture <fixture@example.org>
Date: Fri, 4 Sep 2020 10:25:00 +0000
Subject: [PATCH] test: a hunk whose context is not in the tree

---
 mm/page_isolation.c | 1 +
 1 file changed, 1 insertion(+)

diff --git a/mm/page_isolation.c b/mm/page_isolation.c
--- a/mm/page_isolation.c
+++ b/mm/page_isolation.c
@@ -10,3 +10,4 @@
 this line is not in the file
 nor is this one
+/* drainlab: the context above is gone */
 or this one
--
2.39.5
"""


def _bad_series(real_tree: Path, tmp_path: Path, edit: str) -> list[Path]:
    """A real series made in a scratch clone: `edit` is appended to page_isolation.c."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--shared", "--no-checkout", str(real_tree),
                    str(clone)], check=True)
    git(clone, "read-tree", "HEAD")  # a full index, so the commit changes one file only
    git(clone, "checkout", "-q", "HEAD", "--", "mm/page_isolation.c")
    path = clone / "mm" / "page_isolation.c"
    path.write_text(path.read_text() + edit)
    git(clone, "add", "mm/page_isolation.c")
    git(clone, "commit", "-q", "-m", "test: a series the run must survive", env=FIXED_GIT_ENV)
    out = subprocess.run(["git", "format-patch", "-1", "-o", str(tmp_path / "p")],
                         cwd=clone, check=True, capture_output=True, text=True).stdout
    patches = [Path(line) if Path(line).is_absolute() else clone / line
               for line in out.split()]
    assert len(patches) == 1, out
    return patches


def test_apply_and_build_failures_are_results(matrix: run_mod.Matrix, real_tree: Path,
                                              tmp_path: Path, monkeypatch) -> None:
    broken = _bad_series(real_tree, tmp_path / "b", "\n#error drainlab: this must not build\n")
    stale = tmp_path / "stale.patch"
    stale.write_text(STALE_PATCH)
    real = run_mod._series_for

    def series_for(tree, request, variant, date):
        series = real(tree, request, variant, date)  # real, then its patches swapped
        swap = {"drain-per-block": [stale], "drain-per-zone": broken}.get(variant)
        return replace(series, patches=tuple(swap)) if swap else series

    monkeypatch.setattr(run_mod, "_series_for", series_for)
    got = run_matrix(RunRequest(real_tree, "HEAD", (), ("drain-per-block", "drain-per-zone",
                                                       "drain-per-range"), 1, "quick",
                                tmp_path / "r"), Printer("quiet"))
    apply_fail, build_fail, ok = got.runs
    assert apply_fail.status == RunStatus.APPLY_FAIL
    assert "mm/page_isolation.c" in apply_fail.stage("apply").message
    assert build_fail.status == RunStatus.BUILD_FAIL
    assert "this must not build" in build_fail.stage("build").message
    assert ok.status == RunStatus.PASS


@pytest.mark.parametrize("missing, package", [("qemu-system-x86_64", "qemu-system-x86"),
                                              ("busybox", "busybox-static"), ("gcc", "gcc")])
def test_missing_tool_names_its_package(tmp_path: Path, missing: str, package: str) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in RUN_TOOLS:
        found = need_tool(tool)
        if tool != missing:
            (bindir / tool).symlink_to(found)
    run = run_gen("run", "--variants", "drain-per-range", "--results", str(tmp_path / "r"),
                  cwd=tmp_path, env={"PATH": str(bindir)})
    assert_one_line_error(run, f"{missing} not found", f"apt-get install {package}")
    assert not (tmp_path / "r").exists()


def test_disk_full_in_the_cache_is_one_clear_line(real_tree: Path, tmp_path: Path) -> None:
    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(small)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr!r}")
    try:
        run = run_gen("run", "--tree", str(real_tree), "--variants", "drain-per-range",
                      "--results", str(tmp_path / "r"), cwd=tmp_path,
                      env={"DRAINLAB_CACHE": str(small)})
        assert run.returncode == 3, (run.stdout, run.stderr)
        assert "Traceback" not in run.stderr
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1 and ("disk full" in lines[0] or "No space left" in lines[0]), lines
        assert not list((tmp_path / "r").rglob("results.json"))
    finally:
        subprocess.run(["umount", str(small)], check=False)


def test_unknown_variant_before_any_work(tmp_path: Path) -> None:
    run = run_gen("run", "--variants", "drain-per-range,bogus", "--results", str(tmp_path / "r"),
                  cwd=tmp_path)
    assert_one_line_error(run, "unknown variant 'bogus'")
    assert set(load_catalog().variants) <= set(run.stderr.replace(",", " ").split())
    assert not (tmp_path / "r").exists()


def test_relative_results_with_a_cold_config_cache(real_tree: Path, tmp_path: Path) -> None:
    """A new user's first `gen run`: default tree, the default relative results/,
    and no kernel config made yet, so merge_config.sh (run in the cache
    checkout) gets the selftests' config fragment. A relative path there named
    a file that does not exist (issue 7)."""
    for tool in RUN_TOOLS:
        need_tool(tool)
    cache = cold_config_cache(tmp_path / "cache")
    cwd = tmp_path / "fresh"
    cwd.mkdir()
    run = run_gen("run", "--variants", "drain-per-range", cwd=cwd, timeout=3000,
                  env={"DRAINLAB_CACHE": str(cache)})
    assert run.returncode == 0, (run.stdout[-2000:], run.stderr[-2000:])
    result = read_results(cwd / "results" / "drain-per-range" / "trial-1" / "results.json")
    assert result.status == RunStatus.PASS
    assert list((cache / "config").glob("*.config")), "the config cache was not cold"
    # Every path the run recorded is absolute.
    assert Path(result.meta.artifacts["console_log"]).is_absolute()
    assert all(Path(p.path).is_absolute() for p in result.meta.patches)


def _qemu_children(parent: int) -> list[int]:
    """PIDs of the qemu-system-x86_64 processes whose parent is PARENT."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                # /proc/PID/stat: "pid (comm) state ppid ..."; comm is cut to 15 chars.
                comm, rest = (entry / "stat").read_text().rsplit(")", 1)
            except OSError:
                continue
            if comm.endswith("(qemu-system-x86") and int(rest.split()[1]) == parent:
                pids.append(int(entry.name))
    return pids


def test_sigterm_during_a_boot_stops_qemu(real_tree: Path, tmp_path: Path) -> None:
    """A CI runner's cancel or `timeout gen run` sends SIGTERM to gen alone. QEMU
    leads its own process group, so with Python's default (die at once) it kept
    running, orphaned; gen must unwind like Ctrl-C and take it along."""
    for tool in RUN_TOOLS:
        need_tool(tool)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "generator.cli", "run", "--tree", str(real_tree), "--variants",
         "drain-per-range", "--results", str(tmp_path / "r")],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "TMPDIR": str(scratch)})
    try:
        deadline = time.monotonic() + 2400  # a cold cache builds the kernel first
        while not (qemu := _qemu_children(proc.pid)) and proc.poll() is None:
            assert time.monotonic() < deadline, "gen run never booted"
            time.sleep(0.2)
        assert qemu, proc.communicate()
        time.sleep(3)  # into the boot
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert err == "gen: terminated by SIGTERM\n", err
    assert not Path(f"/proc/{qemu[0]}").exists(), "QEMU outlived gen"
    assert not list((tmp_path / "r").rglob("results.json")), "a run that did not finish was recorded"
    assert list(scratch.iterdir()) == []


def test_hotremove_offlines_and_removes_a_real_dimm(real_tree: Path, tmp_path: Path) -> None:
    """The hotremove profile on the real tree: QEMU cold-plugs a 512 MiB pc-dimm, the guest
    offlines its blocks under churn and asks for device_del over QMP; the run passes only
    if the blocks leave sysfs and MemTotal drops by the DIMM's size. Its own kernel config
    (ACPI_HOTPLUG_MEMORY, PCI): one more cold build on an empty cache (~200 s here)."""
    for tool in RUN_TOOLS:
        need_tool(tool)
    run = run_gen("run", "--tree", str(real_tree), "--variants", "drain-in-callers",
                  "--profile", "hotremove", "--results", "results", cwd=tmp_path, timeout=3000)
    assert run.returncode == 0, (run.stdout[-3000:], run.stderr[-3000:])
    (result,) = run_mod.recorded_runs(tmp_path / "results", ["drain-in-callers"])
    assert result.status == RunStatus.PASS, result.points
    host = [p for p in result.points if p.path.startswith("drainlab.host.")]
    assert [p.status for p in host] == ["PASS"], host  # one device_del, carried out
    blocks = result.facts["dimm_blocks"].split(",")
    offlines = [m for m in result.metrics() if m.test == "dimm/dimm0/offline"]
    assert sorted(m.block for m in offlines) == sorted(blocks)
    assert all(m.ok and m.counters["drains"] == 1 for m in offlines), offlines
    assert result.facts["drop_kb"] == result.facts["dimm_kb"] == str(512 * 1024)
