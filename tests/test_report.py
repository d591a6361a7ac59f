# SPDX-License-Identifier: GPL-2.0
"""report/: KCIDB (validated with kcidb-io), JUnit (read back with junitparser), stats, table."""

import copy
import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kcidb_io
import pytest
from junitparser import Error, Failure, JUnitXml, Skipped

from generator import collect, results
from generator.collect import Metric
from generator.errors import UserError
from generator.report import junit, kcidb, stats, table, write_reports
from generator.results import RunStatus, StageResult, StageStatus

CONSOLE = Path(__file__).parent / "data" / "console"
SCHEMA = kcidb_io.schema.LATEST
PATH_RE = re.compile(r"^([a-zA-Z0-9_-]+(\.[a-zA-Z0-9_-]+)*)?$")


def make_run(scenario: str, variant: str = "base", trial: int = 1,
             stages: tuple[StageStatus, ...] = (StageStatus.OK,) * 5) -> results.RunResult:
    meta = results.RunMeta(
        variant=variant, trial=trial, tree="/srv/linux-6.1", base_commit="f" * 40,
        patches=(results.PatchInfo("0001-a.patch", "1" * 64, "/tmp/series/0001-a.patch"),
                 results.PatchInfo("0002-b.patch", "2" * 64, "/tmp/series/0002-b.patch")),
        config=results.ConfigInfo("9" * 64, ("CONFIG_CMA=y",), "drainlab.config"),
        qemu_cmdline=("qemu-system-x86_64", "-m", "2G"), start_time="2025-11-25T20:00:00+00:00",
        artifacts={"console_log": str(CONSOLE / f"{scenario}.log"), "build_log": "/tmp/b 1.log"},
    )
    st = [StageResult(n, s, 2.0) for n, s in zip(results.STAGES, stages, strict=False)]
    console = collect.read_console(CONSOLE / f"{scenario}.log") if stages[1] == StageStatus.OK else None
    return results.build_run_result(meta, st, console)


ALL = ("all-pass", "one-fail", "skip", "panic", "truncated-by-watchdog", "no-markers", "printk-prefixed")


def all_runs() -> list[results.RunResult]:
    runs = [make_run(s, variant=f"v-{s}") for s in ALL]
    runs.append(make_run("all-pass", variant="broken", stages=(StageStatus.OK, StageStatus.FAIL)
                         + (StageStatus.SKIPPED,) * 3))
    return runs


def nones(value: Any) -> int:
    if value is None:
        return 1
    if isinstance(value, dict):
        return sum(nones(v) for v in value.values())
    if isinstance(value, list):
        return sum(nones(v) for v in value)
    return 0


# ---------------------------------------------------------------- KCIDB

def test_kcidb_report_validates_against_latest_schema() -> None:
    report = kcidb.kcidb_report(all_runs())
    SCHEMA.validate(report)  # raises on any problem
    assert report["version"] == {"major": SCHEMA.major, "minor": SCHEMA.minor}
    kcidb.validate(report)
    assert nones(report) == 0


def test_kcidb_shape_ids_paths_urls() -> None:
    runs = [make_run("all-pass", trial=1), make_run("one-fail", trial=2), make_run("all-pass", "other")]
    report = kcidb.kcidb_report(runs)
    assert len(report["checkouts"]) == 2 and len(report["builds"]) == 2
    assert len(report["tests"]) == sum(len(r.points) for r in runs)
    ids = [o["id"] for kind in ("checkouts", "builds", "tests") for o in report[kind]]
    assert all(i.startswith("drainlab:") for i in ids) and len(set(ids)) == len(ids)
    assert all(PATH_RE.match(t["path"]) for t in report["tests"])
    checkout = report["checkouts"][0]
    assert checkout["patchset_files"][0] == {"name": "0001-a.patch", "url": "file:///tmp/series/0001-a.patch"}
    assert report["builds"][0]["log_url"] == "file:///tmp/b%201.log"
    failing = [t for t in report["tests"] if t["status"] == "FAIL"]
    assert [t["path"] for t in failing] == ["drainlab.mem-offline-stress.offline.memory13.r3.churn"]
    assert "log_excerpt" in failing[0] and failing[0]["misc"]["trial"] == 2


def test_kcidb_statuses_for_apply_and_build_failures() -> None:
    apply_fail = make_run("all-pass", stages=(StageStatus.FAIL,) + (StageStatus.SKIPPED,) * 4)
    build_fail = make_run("all-pass", "b",
                          stages=(StageStatus.OK, StageStatus.FAIL) + (StageStatus.SKIPPED,) * 3)
    report = kcidb.kcidb_report([apply_fail, build_fail])
    SCHEMA.validate(report)
    assert [c["valid"] for c in report["checkouts"]] == [False, True]
    assert [b["status"] for b in report["builds"]] == ["MISS", "FAIL"]
    assert report["tests"] == []


def test_kcidb_negative_invalid_data_is_caught() -> None:
    good = kcidb.kcidb_report([make_run("one-fail")])
    for mutate in (
        lambda r: r["tests"][0].__setitem__("status", "TIMEOUT"),
        lambda r: r["tests"][0].__setitem__("path", "drainlab.bad path."),
        lambda r: r["builds"][0].__setitem__("id", "no_origin_prefix"),
        lambda r: r["tests"][0].__setitem__("log_url", None),
    ):
        bad = copy.deepcopy(good)
        mutate(bad)
        with pytest.raises(jsonschema.exceptions.ValidationError):
            SCHEMA.validate(bad)
        with pytest.raises(UserError, match="invalid KCIDB report"):
            kcidb.validate(bad)


def test_kcidb_validate_without_kcidb_io(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "kcidb_io", None)  # import now raises ImportError
    with pytest.raises(UserError, match="kcidb-io is not installed"):
        kcidb.validate({"version": {"major": 5, "minor": 3}})


def test_patchset_hash_matches_the_shell_recipe(tmp_path: Path) -> None:
    patches = []
    for i, body in enumerate([b"diff --git a/x b/x\n", b"second patch\n"], 1):
        path = tmp_path / f"000{i}.patch"
        path.write_bytes(body)
        patches.append(hashlib.sha256(body).hexdigest())
    assert kcidb.patchset_hash([]) == ""
    if shutil.which("sha256sum") is None:
        pytest.skip("sha256sum not installed")
    shell = subprocess.run("sha256sum *.patch | cut -c-64 | sha256sum | cut -c-64", shell=True,
                           cwd=tmp_path, capture_output=True, text=True, check=True).stdout.strip()
    assert kcidb.patchset_hash(patches) == shell


def test_sanitize_path() -> None:
    assert kcidb.sanitize_path("drainlab.a b..c#d.") == "drainlab.a_b.c_d"


# ---------------------------------------------------------------- JUnit

def read_back(runs: list[results.RunResult], tmp_path: Path) -> JUnitXml:
    path = junit.write_junit(runs, tmp_path / "junit.xml")
    return JUnitXml.fromfile(str(path))


def test_junit_one_fail(tmp_path: Path) -> None:
    xml = read_back([make_run("one-fail")], tmp_path)
    (suite,) = list(xml)
    assert suite.name == "drainlab.base.trial1"
    # 5 stages + boot + 12 + 4 + 2 points + kernel
    assert (suite.tests, suite.failures, suite.errors, suite.skipped) == (25, 1, 0, 0)
    (failed,) = [c for c in suite if c.result and isinstance(c.result[0], Failure)]
    assert failed.classname == "drainlab.mem-offline-stress.offline.memory13.r3"
    assert failed.name == "churn" and failed.result[0].message == "offline EBUSY"
    assert "DRAINLAB: done" in failed.system_out


def test_junit_error_for_crash_and_hang_and_skip_children(tmp_path: Path) -> None:
    xml = read_back([make_run("panic"), make_run("truncated-by-watchdog", trial=2),
                     make_run("skip", trial=3)], tmp_path)
    panic, hang, skip = list(xml)
    assert (panic.failures, panic.errors) == (0, 2)  # the script point and the kernel point
    assert all(isinstance(c.result[0], Error) for c in panic if c.result)
    assert (hang.failures, hang.errors) == (0, 1)
    assert skip.skipped == 2
    skipped = [c for c in skip if c.result and isinstance(c.result[0], Skipped)]
    assert len(skipped) == 2  # real <skipped/> children, not just the counter
    assert xml.errors == 3 and xml.skipped == 2


def test_junit_stage_failure_and_control_characters(tmp_path: Path) -> None:
    run = make_run("all-pass", stages=(StageStatus.OK, StageStatus.FAIL) + (StageStatus.SKIPPED,) * 3)
    run = results.RunResult(meta=run.meta, status=RunStatus.BUILD_FAIL, stages=run.stages,
                            console_tail=("bad \x01 byte",))
    xml = read_back([run], tmp_path)
    (suite,) = list(xml)
    assert (suite.tests, suite.failures) == (2, 1)  # apply ok, build failed, skipped stages left out


# ---------------------------------------------------------------- stats and table

def metric(us: int, result: str = "ok", op: str = "offline", **counters: int) -> Metric:
    return Metric("t", op, us, result, "memory12", dict(counters))


def test_latency_and_drain_stats() -> None:
    lat = stats.latency_stats([1000, 2000, 3000, 4000, 10000])
    assert lat is not None
    assert (lat.min_ms, lat.median_ms, lat.mean_ms, lat.max_ms) == (1.0, 3.0, 4.0, 10.0)
    assert lat.p90_ms == pytest.approx(7.6)
    assert lat.stdev_ms == pytest.approx(3.5355, rel=1e-3)
    assert stats.latency_stats([]) is None
    single = stats.latency_stats([500])
    assert single is not None and single.p90_ms == 0.5 and single.stdev_ms == 0.0
    drains = stats.drain_stats([metric(1, drains=65, test_pages_isolated=1),
                                metric(1, drains=65, test_pages_isolated=1),
                                metric(1, drains=130, test_pages_isolated=3),
                                metric(1)])  # no counter: left out, not 0
    assert drains is not None
    assert (drains.n, drains.min, drains.max, drains.median) == (3, 65, 130, 65)
    assert (drains.no_retry_n, drains.no_retry_median) == (2, 65)


def test_op_stats_counts_failures_and_timeouts() -> None:
    ops = stats.op_stats("v", "offline", 1, [metric(4000, drains=1), metric(20_000_000, "timeout"),
                                            metric(300, "EBUSY"), metric(5000, drains=1)])
    assert (ops.n, ops.ok, ops.failures, ops.timeouts) == (4, 2, 1, 1)
    assert ops.latency is not None and ops.latency.max_ms == 5.0  # the timeout is not latency


def test_summary_across_trials_from_logs() -> None:
    runs = [make_run("all-pass", trial=1), make_run("one-fail", trial=2)]
    (summary,) = stats.summarize(runs)
    assert summary.trials == 2 and summary.status == RunStatus.FAIL
    off = summary.ops["offline"]
    raw = [(CONSOLE / f"{s}.log").read_text() for s in ("all-pass", "one-fail")]
    offline_lines = [ln for text in raw for ln in text.splitlines()
                     if "op=offline" in ln and "test=probe/" not in ln]
    assert off.n == len(offline_lines)
    assert off.ok == sum("result=ok" in ln for ln in offline_lines)
    assert off.failures == 1 and off.timeouts == 0
    assert off.drains is not None and off.drains.no_retry_median == 1


def test_table_rows_and_width() -> None:
    runs = [make_run("all-pass", trial=1), make_run("one-fail", trial=2),
            make_run("truncated-by-watchdog", "no-drain"), make_run("no-markers", "a-very-long-variant-name")]
    text = table.format_table(runs)
    lines = text.splitlines()
    assert all(len(ln) <= 79 for ln in lines) and "\t" not in text and "\x1b" not in text
    assert lines[0].split() == ["variant", "n", "status", "offline", "tmo", "drains", "off", "ms",
                                "cma", "cma", "ms"]
    base = lines[2].split()
    assert base[:6] == ["base", "2", "fail", "1/2", "31/32", "0"]
    assert base[6] == "1"
    assert lines[3].split()[:4] == ["no-drain", "1", "hang", "4/4"]
    assert lines[4].startswith("a-very-long-var~ ")
    assert lines[4].split()[3:] == ["-"] * 6  # nothing measured


def test_write_reports(tmp_path: Path) -> None:
    paths = write_reports([make_run("one-fail")], tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["junit.xml", "kcidb.json", "table.txt"]
    assert paths["table"].read_text().startswith("variant")


def test_excluded_blocks_are_listed_once_with_their_reason() -> None:
    from generator.report.table import format_excluded
    from generator.results import ExcludedBlock, RunMeta, RunResult, RunStatus

    def run(variant: str, *blocks: ExcludedBlock) -> RunResult:
        return RunResult(RunMeta(variant, 1), RunStatus.PASS, excluded=blocks)

    hole = ExcludedBlock("mem-offline-stress.sh", "memory15", "EINVAL", "hole_or_multizone")
    text = format_excluded([run("drain-per-range", hole), run("pcp-disable", hole), run("no-drain")])
    assert text.splitlines() == [
        "Blocks excluded by the probe (not failures):",
        "  memory15: EINVAL (hole_or_multizone) in drain-per-range, pcp-disable"]
    assert format_excluded([run("no-drain")]) == ""
