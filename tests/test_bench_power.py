# SPDX-License-Identifier: GPL-2.0
"""benchmarks/bench_power.py's arithmetic: what counts as caught, the exact interval, the labels."""

import subprocess
import sys
from pathlib import Path

import pytest
from scipy import stats

from generator.results import RunMeta, RunResult, RunStatus, StageResult, StageStatus
from generator.results import TestPoint as Point

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_power  # noqa: E402


def run(status: RunStatus, *points: Point, guest_s: float = 30.0) -> RunResult:
    return RunResult(RunMeta("no-drain", 1), status, (StageResult("test", StageStatus.OK, guest_s),),
                     points)


SETTLED = Point("drainlab.mem-offline-stress.offline.memory12.r4.settled", "ERROR",
                    message="TIMEOUT offline after 10 s")
LEAK = Point("drainlab.error-paths.notifier.memory13", "FAIL", message="leak isolate")
OK = Point("drainlab.mem-offline-stress.offline.memory12.r1.idle", "PASS")


def test_a_boot_is_caught_when_its_run_is_not_pass() -> None:
    runs = (run(RunStatus.FAIL, SETTLED, LEAK), run(RunStatus.HANG), run(RunStatus.PASS, OK),
            run(RunStatus.CRASH))
    row = bench_power.Row("no-drain", "quick", True, runs)
    assert row.caught == 3
    assert bench_power.how_caught(runs) == "fail 1, hang 1, crash 1; TIMEOUT settled 1, leak 1"


def test_the_table_prints_the_exact_interval() -> None:
    runs = tuple(run(RunStatus.FAIL, SETTLED) for _ in range(19)) + (run(RunStatus.PASS, OK),)
    text = bench_power.table([bench_power.Row("no-drain", "quick", True, runs)])
    ci = stats.binomtest(19, 20).proportion_ci(method="exact")
    line = text.splitlines()[2]
    assert "19/20" in line and "0.95" in line and f"[{ci.low:.3f}, {ci.high:.3f}]" in line
    assert "fail 19; TIMEOUT settled 19" in line


def test_labels_name_the_round_load() -> None:
    assert bench_power.point_label(SETTLED.path, SETTLED.message) == "TIMEOUT settled"
    assert bench_power.point_label("drainlab.pcp-burst.burst.memory12.r2.anon", "TIMEOUT offline") == \
        "TIMEOUT anon"
    assert bench_power.point_label("drainlab.isolation-race.race.memory12.r1", "abandoned after 1") == \
        "abandoned"
    assert bench_power.point_label(LEAK.path, LEAK.message) == "leak"


def test_a_run_that_never_booted_is_no_boot() -> None:
    runs = (run(RunStatus.APPLY_FAIL), run(RunStatus.BUILD_FAIL), run(RunStatus.ERROR),
            run(RunStatus.FAIL, LEAK), run(RunStatus.PASS, OK))
    row = bench_power.Row("leak-isolate", "quick", True, runs)
    assert (row.caught, len(row.boots)) == (1, 2)
    assert "1/2" in bench_power.table([row]).splitlines()[2]


BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_power.py"


@pytest.mark.parametrize("args,needle", [
    (("--no-drain", "-3"), "--no-drain -3: a number of boots is 0 or more"),
    (("--v58-trials", "-1"), "--v58-trials -1"),
    (("--report-only", "--results", "nowhere"), "no recorded runs under"),
])
def test_bad_arguments_are_one_line_before_any_work(tmp_path: Path, args: tuple[str, ...],
                                                    needle: str) -> None:
    done = subprocess.run([sys.executable, str(BENCH), *args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [done.stderr.strip()] and needle in done.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written, no tree prepared
