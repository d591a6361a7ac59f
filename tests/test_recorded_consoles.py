# SPDX-License-Identifier: GPL-2.0
"""Collect + results on consoles recorded from real guests (tests/data/console-recorded).

Also the check that the TAP each generated script printed in a real guest
parses with an independent TAP parser (tap.py) into the points and plan the
script announced.
"""

from pathlib import Path

import pytest
from tap.parser import Parser
from tap.line import Plan, Result

from generator import collect
from generator.results import RunMeta, RunStatus, StageResult, StageStatus, build_run_result

RECORDED = Path(__file__).parent / "data" / "console-recorded"
OK_STAGES = [StageResult(n, StageStatus.OK) for n in ("apply", "build", "boot", "test")]
SCRIPTS = ["mem-offline-stress.sh", "cma-stress.sh", "isolation-race.sh"]


def result_of(variant: str):
    console = collect.read_console(RECORDED / f"{variant}.log")
    return console, build_run_result(RunMeta(variant, 1), OK_STAGES, console)


def clean_offline_drains(run) -> set[int]:
    return {m.counters["drains"] for m in run.metrics()
            if m.op == "offline" and m.result == "ok" and m.counters.get("test_pages_isolated") == 1}


@pytest.mark.parametrize("variant", ["drain-per-block", "pcp-disable", "no-drain"])
def test_real_tap_parses_with_tap_py(variant: str) -> None:
    console, _ = result_of(variant)
    assert [s.script for s in console.scripts] == SCRIPTS and console.done
    for segment in console.scripts:
        parsed = [Parser().parse_line(line) for line in segment.lines]
        plans = [p for p in parsed if isinstance(p, Plan)]
        results = [r for r in parsed if isinstance(r, Result)]
        assert len(plans) == 1 and plans[0].expected_tests == len(results) > 0, segment.script
        assert [r.number for r in results] == list(range(1, len(results) + 1))
        assert any(line.startswith("# metric ") for line in segment.lines)


def test_per_block_drains_once_per_pageblock() -> None:
    _, run = result_of("drain-per-block")
    assert run.status == RunStatus.PASS
    assert clean_offline_drains(run) == {64}
    assert run.facts["block_size_bytes"] == str(128 << 20) and run.facts["pageblock_pages"] == "512"


def test_pcp_disable_drains_only_through_zone_pcp_disable() -> None:
    _, run = result_of("pcp-disable")
    assert run.status == RunStatus.PASS
    offlines = [m for m in run.metrics() if m.op == "offline" and m.result == "ok"
                and "drains" in m.counters]  # isolation-race runs without the profiler
    assert len(offlines) >= 12 and clean_offline_drains(run) == {1}
    assert {m.counters["drain_all_pages"] for m in offlines} == {0}
    assert {m.counters["zone_pcp_disable"] for m in offlines} == {1}


def test_no_drain_times_out_in_the_settled_round() -> None:
    _, run = result_of("no-drain")
    assert run.status == RunStatus.FAIL
    failed = {p.path for p in run.points if p.status != "PASS"}
    assert "drainlab.mem-offline-stress.offline.memory12.r5.settled" in failed
    timeouts = [m for m in run.metrics() if m.op == "offline" and m.result == "timeout"]
    assert timeouts and all(m.counters.get("drains", 0) == 0 for m in timeouts)


def test_hotremove_console_removes_the_dimm_and_asks_once() -> None:
    """gen run --variants drain-in-callers --profile hotremove on the 6.1 tree: the DIMM's
    four blocks offlined (two settled, two under churn), one device_del request, blocks
    gone, MemTotal -512 MiB."""
    console, run = result_of("hotremove-drain-in-callers")
    assert run.status == RunStatus.PASS
    points = {p.path: p.status for p in run.points if ".dimm-remove." in p.path}
    assert list(points.values()) == ["PASS"] * 3 and len(points) == 3, points
    assert run.facts["dimm_blocks"] == "memory32,memory33,memory34,memory35"
    assert run.facts["drop_kb"] == run.facts["dimm_kb"] == str(512 * 1024)
    (remove,) = [m for m in run.metrics() if m.op == "remove"]
    assert remove.ok and remove.counters["left"] == 0
    # The host side, on the same lines: exactly one request, for drainlab's DIMM only.
    from generator import qmp

    lines = (RECORDED / "hotremove-drain-in-callers.log").read_text().splitlines()
    asked = [r for r in (qmp.handle_request(ln, 0.0, None, {"dimm0"}, 0) for ln in lines) if r]
    assert [(r.command, r.args, r.outcome) for r in asked] == [
        ("device_del", ("dimm0",), "refused")]  # refused here: no QEMU, so no QMP socket
    refused = [r for r in (qmp.handle_request(ln, 0.0, None, {"other"}, 0) for ln in lines) if r]
    assert "not created by drainlab" in refused[0].detail


def test_hotremove_no_drain_times_out_on_the_settled_dimm_block() -> None:
    """gen run --variants no-drain --profile hotremove on the 6.1 tree: the DIMM's first
    block, offlined right after a churn pass, never isolates (a page of the churn on a pcp
    list: test_pages_isolated() thousands of times, no drain); the host is never asked."""
    console, run = result_of("hotremove-no-drain")
    assert run.status == RunStatus.FAIL
    points = {p.path: p for p in run.points if ".dimm-remove." in p.path}
    offline = points["drainlab.dimm-remove.dimm.dimm0.offline"]
    # A "# TIMEOUT" directive is an ERROR point (ktap.py, as kselftest means it); the run FAILs.
    assert offline.status == "ERROR" and "TIMEOUT memory32 offline (settled)" in offline.message
    (stuck,) = [m for m in run.metrics() if m.test == "dimm/dimm0/offline"]
    assert stuck.result == "timeout" and stuck.counters["drains"] == 0
    assert stuck.counters["test_pages_isolated"] > 1000
    lines = (RECORDED / "hotremove-no-drain.log").read_text().splitlines()
    assert not any(ln.startswith("drainlab-qmp:") for ln in lines)
