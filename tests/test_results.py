# SPDX-License-Identifier: GPL-2.0
"""results.py: test points, overall status, JSON round trip and the atomic write."""

import errno
import json
import os
from pathlib import Path

import pytest

from generator import collect, results
from generator.errors import InfraError, UserError
from generator.results import RunStatus, StageResult, StageStatus

CONSOLE = Path(__file__).parent / "data" / "console"
OK_STAGES = [StageResult(name, StageStatus.OK, 1.5) for name in results.STAGES]


def meta(variant: str = "base", trial: int = 1) -> results.RunMeta:
    return results.RunMeta(
        variant=variant, trial=trial, tree="/srv/linux-6.1", base_commit="0123456789abcdef" * 2 + "01234567",
        kernel_version="6.1.192-drainlab",
        patches=(results.PatchInfo("0001-mm-move-drain.patch", "ab" * 32, "/tmp/p/0001.patch"),),
        config=results.ConfigInfo("cd" * 32, ("CONFIG_MEMORY_HOTREMOVE=y", "CONFIG_CMA_DEBUGFS=y")),
        qemu_cmdline=("qemu-system-x86_64", "-accel", "tcg", "-smp", "2"), accel="tcg",
        start_time="2025-11-25T20:00:00+00:00",
        artifacts={"console_log": str(CONSOLE / "all-pass.log")},
    )


def run_for(scenario: str, stages: list[StageResult] = OK_STAGES) -> results.RunResult:
    console = collect.read_console(CONSOLE / f"{scenario}.log")
    return results.build_run_result(meta(), stages, console)


@pytest.mark.parametrize("scenario, status", [
    ("all-pass", RunStatus.PASS),
    ("one-fail", RunStatus.FAIL),
    ("skip", RunStatus.PASS),
    ("panic", RunStatus.CRASH),
    ("truncated-by-watchdog", RunStatus.HANG),
    ("no-markers", RunStatus.ERROR),
    ("printk-prefixed", RunStatus.FAIL),  # a kernel WARNING fails an otherwise clean run
])
def test_run_status_per_scenario(scenario: str, status: RunStatus) -> None:
    assert run_for(scenario).status == status


def test_stage_failures_decide_before_the_console() -> None:
    def with_stage(name: str, status: StageStatus) -> list[StageResult]:
        return [StageResult(s.name, status if s.name == name else s.status) for s in OK_STAGES]

    apply_fail = results.build_run_result(meta(), with_stage("apply", StageStatus.FAIL), None)
    assert apply_fail.status == RunStatus.APPLY_FAIL and apply_fail.points == ()
    build_fail = results.build_run_result(meta(), with_stage("build", StageStatus.FAIL), None)
    assert build_fail.status == RunStatus.BUILD_FAIL
    console = collect.read_console(CONSOLE / "all-pass.log")
    timeout = results.build_run_result(meta(), with_stage("test", StageStatus.TIMEOUT), console)
    assert timeout.status == RunStatus.HANG
    tooling = results.build_run_result(meta(), with_stage("initramfs", StageStatus.FAIL), console)
    assert tooling.status == RunStatus.ERROR


def test_points_paths_metrics_and_boot_kernel_points() -> None:
    run = run_for("all-pass")
    paths = [p.path for p in run.points]
    assert paths[0] == "drainlab.boot" and paths[-1] == "drainlab.kernel"
    point = next(p for p in run.points if p.path == "drainlab.mem-offline-stress.offline.memory12.r1.idle")
    assert point.status == "PASS"
    assert [m.op for m in point.metrics] == ["offline", "online"]
    assert point.duration_s == pytest.approx(sum(m.us or 0 for m in point.metrics) / 1e6)
    assert len(run.points) == 1 + 12 + 4 + 2 + 1  # boot, three scripts, kernel
    assert len(run.metrics()) == 60
    assert run.points[0].duration_s == pytest.approx(0.91)


def test_failing_point_and_excluded_probe() -> None:
    run = run_for("one-fail")
    (failed,) = [p for p in run.points if p.status != "PASS"]
    assert failed.path == "drainlab.mem-offline-stress.offline.memory13.r3.churn"
    assert failed.status == "FAIL" and failed.message == "offline EBUSY"
    assert [m.result for m in failed.metrics] == ["EBUSY"]
    (excluded,) = run.excluded
    assert (excluded.script, excluded.block, excluded.reason) == ("mem-offline-stress", "memory15", "EINVAL")
    assert [m.test for m in excluded.metrics] == ["probe/memory15"]
    assert not any("memory15" in p.path for p in run.points)
    # rc=1 is explained by the failing point: no extra script-level point.
    assert not any(p.path.endswith(".script") for p in run.points)


def test_truncated_script_gets_a_script_point() -> None:
    run = run_for("truncated-by-watchdog")
    script = next(p for p in run.points if p.path == "drainlab.mem-offline-stress.script")
    assert script.status == "ERROR"
    assert "no end marker" in script.message and "4 of 12 results" in script.message
    assert run.scripts[0].truncated and run.scripts[0].rc is None


def test_panic_kernel_point_and_trouble() -> None:
    run = run_for("panic")
    kernel = next(p for p in run.points if p.path == "drainlab.kernel")
    assert kernel.status == "ERROR" and "NULL pointer dereference" in kernel.message
    assert [t.kind for t in run.trouble] == ["bug", "oops", "panic"]


def test_skipped_script_gets_a_skip_point() -> None:
    run = run_for("skip")
    point = next(p for p in run.points if p.path == "drainlab.cma-stress.script")
    assert point.status == "SKIP" and "CONFIG_CMA_DEBUGFS" in point.message


def test_unexplained_nonzero_exit_is_a_failure() -> None:
    text = "DRAINLAB: boot uptime=1\nDRAINLAB: begin s.sh\nTAP version 13\n1..1\nok 1 a\n" \
           "DRAINLAB: end s.sh rc=1 ms=3\nDRAINLAB: done\n"
    run = results.build_run_result(meta(), OK_STAGES, collect.parse_console(text))
    point = next(p for p in run.points if p.path == "drainlab.s.script")  # .sh dropped
    assert point.status == "FAIL" and point.duration_s == pytest.approx(0.003)
    assert run.status == RunStatus.FAIL


def test_a_script_killed_by_the_per_script_timeout_is_a_failure() -> None:
    """Recorded here: the tree's mem-on-off-test.sh on the no-drain kernel, its offline
    of a Movable block never returning, killed by /init's timeout before its result."""
    text = ("DRAINLAB: boot uptime=1\nDRAINLAB: begin tree-mem-on-off.sh\nTAP version 13\n1..1\n"
            "# online->offline memory0\n# -> Failure\nTerminated\n\n"
            "DRAINLAB: end tree-mem-on-off.sh rc=143 ms=140560\nDRAINLAB: done\n")
    run = results.build_run_result(meta(), OK_STAGES, collect.parse_console(text))
    point = next(p for p in run.points if p.path == "drainlab.tree-mem-on-off.script")
    assert point.status == "FAIL" and point.message.startswith("TIMEOUT: killed by the per-script")
    assert "missing result for test 1 of 1" in point.message
    assert run.status == RunStatus.FAIL
    # Any other exit with a result missing stays an error of the run.
    broken = text.replace("rc=143", "rc=2")
    run = results.build_run_result(meta(), OK_STAGES, collect.parse_console(broken))
    assert run.status == RunStatus.ERROR


@pytest.mark.parametrize("component, expected", [
    ("mem-offline-stress", "mem-offline-stress"),
    ("mem-on-off-test.sh", "mem-on-off-test_sh"),
    ("selftests: memory-hotplug: x", "selftests_memory-hotplug_x"),
    ("...", "_"),
])
def test_sanitize(component: str, expected: str) -> None:
    assert results.sanitize(component) == expected


@pytest.mark.parametrize("scenario", ["all-pass", "one-fail", "panic", "truncated-by-watchdog",
                                      "no-markers", "skip", "printk-prefixed"])
def test_json_round_trip(scenario: str) -> None:
    run = run_for(scenario)
    text = run.to_json()
    data = json.loads(text)
    assert data["schema_version"] == results.SCHEMA_VERSION == 1
    assert data["status"] == run.status.value
    back = results.RunResult.from_json(text)
    assert back == run
    assert back.to_json() == text


def test_from_json_rejects_other_versions_and_garbage() -> None:
    data = json.loads(run_for("all-pass").to_json())
    data["schema_version"] = 2
    with pytest.raises(UserError, match="schema version 2"):
        results.RunResult.from_json(json.dumps(data))
    with pytest.raises(UserError, match="not JSON"):
        results.RunResult.from_json("{")
    data["schema_version"] = 1
    data["points"][0]["status"] = 5
    with pytest.raises(UserError, match="does not match schema"):
        results.RunResult.from_json(json.dumps(data))
    del data["meta"]
    with pytest.raises(UserError):
        results.RunResult.from_json(json.dumps(data))


def test_write_and_read_results(tmp_path: Path) -> None:
    run = run_for("one-fail")
    path = results.write_results(run, tmp_path / "results.json")
    assert results.read_results(path) == run
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_failed_write_raises_infra_error_and_keeps_old_file(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "results.json"
    path.write_text("old\n")

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(results.os, "fsync", disk_full)
    with pytest.raises(InfraError) as caught:
        results.write_results(run_for("all-pass"), path)
    assert "No space left on device" in str(caught.value) and "\n" not in str(caught.value)
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]  # no tmp left


def test_write_into_missing_directory_is_infra_error(tmp_path: Path) -> None:
    with pytest.raises(InfraError, match="cannot write"):
        results.write_results(run_for("all-pass"), tmp_path / "nope" / "results.json")


def test_read_results_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="cannot read"):
        results.read_results(tmp_path / "results.json")


@pytest.mark.parametrize("kind", ["huge", "fifo", "latin-1"])
def test_read_results_bounds_the_file(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "results.json"
    if kind == "huge":
        path.write_text('{"schema_version": 1, "pad": "' + "x" * (20 << 20) + '"}')
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        path.write_bytes('{"tree": "Jos\u00e9"}'.encode("latin-1"))
    with pytest.raises(UserError) as err:
        results.read_results(path)
    assert str(path) in err.value.line()
    assert {"huge": "more than", "fifo": "FIFO", "latin-1": "not UTF-8"}[kind] in err.value.line()


# ---- the failure kind "leak" (templates/kselftest drainlab_lib.sh dl_inv_check) ----

RECORDED = Path(__file__).parent / "data" / "console-recorded"
# What dl_inv_check printed for a pageblock left isolated (tests/test_selftests.py
# runs the real script against a fake kernel that leaks; the line is its output).
LEAK_LINE = "# leak op=offline/memory13/r2/churn invariant=isolate zone=Movable before=0 after=1"


def with_leak(text: str) -> str:
    """A recorded real console with one leak line added in mem-offline-stress.sh."""
    lines = text.splitlines(keepends=True)
    at = next(i for i, ln in enumerate(lines) if ln.startswith("DRAINLAB: end mem-offline-stress.sh"))
    return "".join(lines[:at] + [LEAK_LINE + "\n"] + lines[at:])


def test_a_leak_line_fails_a_clean_recorded_run() -> None:
    text = (RECORDED / "pcp-disable.log").read_text()
    clean = results.build_run_result(meta(), OK_STAGES, collect.parse_console(text))
    assert clean.status == RunStatus.PASS and clean.leaks == ()
    leaky = results.build_run_result(meta(), OK_STAGES, collect.parse_console(with_leak(text)))
    assert leaky.status == RunStatus.FAIL
    assert leaky.leaks == (collect.Leak("offline/memory13/r2/churn", "isolate", "Movable", "0", "1",
                                        "mem-offline-stress.sh"),)
    (point,) = [p for p in leaky.points if ".leak." in p.path]
    assert point.path == "drainlab.mem-offline-stress.leak.offline.memory13.r2.churn.isolate.Movable"
    assert point.status == "FAIL"
    assert point.message == "leak: isolate of Movable was 0, 1 after offline/memory13/r2/churn"
    # Kept through results.json.
    assert results.RunResult.from_json(leaky.to_json()).leaks == leaky.leaks


def test_leak_shows_in_junit_kcidb_and_the_report_health(tmp_path: Path) -> None:
    from generator.report import junit, kcidb, model

    text = with_leak((RECORDED / "pcp-disable.log").read_text())
    leaky = results.build_run_result(meta("pcp-disable"), OK_STAGES, collect.parse_console(text))
    xml = junit.junit_text([leaky])
    assert ('<testcase name="Movable" classname="drainlab.mem-offline-stress.leak.offline.memory13.r2.churn'
            '.isolate"><failure message="leak: isolate of Movable was 0, 1 after offline/memory13/r2/churn"'
            in xml)
    report = kcidb.kcidb_report([leaky])
    kcidb.validate(report)
    (test,) = [t for t in report["tests"] if t["path"].endswith("isolate.Movable")]
    assert test["status"] == "FAIL"
    clean = results.build_run_result(meta("pcp-disable", 2), OK_STAGES,
                                     collect.parse_console((RECORDED / "pcp-disable.log").read_text()))
    health = model.health("pcp-disable", [leaky, clean])
    assert (health.leak.k, health.leak.n) == (1, 2)
    assert ("leak runs", health.leak) in health.rates()


@pytest.mark.parametrize("kind, status", [
    ("page-type", RunStatus.FAIL), ("pfns-busy-storm", RunStatus.FAIL), ("bug", RunStatus.CRASH)])
def test_console_trouble_kinds_decide_the_run(kind: str, status: RunStatus) -> None:
    text = (RECORDED / "pcp-disable.log").read_text()
    lines = text.splitlines(keepends=True)
    at = next(i for i, ln in enumerate(lines) if ln.startswith("DRAINLAB: end cma-stress.sh"))
    extra = {
        "page-type": ["[   30.1] page type is 0xffffff7f\n"],
        "pfns-busy-storm": [f"[   30.{i:02d}] alloc_contig_range: [50000, 50400) PFNs busy\n"
                            for i in range(collect.PFNS_BUSY_STORM + 1)],
        "bug": ["[   30.1] BUG: Bad page state in process sh  pfn:4d2a1\n"],
    }[kind]
    console = collect.parse_console("".join(lines[:at] + extra + lines[at:]))
    run = results.build_run_result(meta(), OK_STAGES, console)
    assert run.status == status
    assert [t.kind for t in run.trouble] == [kind]
    assert run.trouble[0].script == "cma-stress.sh"


def test_a_few_pfns_busy_lines_are_not_a_storm() -> None:
    busy = [f"[   30.{i:02d}] alloc_contig_range: [50000, 50400) PFNs busy"
            for i in range(collect.PFNS_BUSY_STORM)]
    assert collect.find_trouble(busy) == ()
