# SPDX-License-Identifier: GPL-2.0
"""collect.py on the console logs in tests/data/console (hand-written until real ones exist)."""

from pathlib import Path

import pytest

from generator import collect
from generator.errors import UserError
from generator.ktap import TestStatus as Status

CONSOLE = Path(__file__).parent / "data" / "console"


def read(scenario: str) -> collect.ConsoleReport:
    return collect.read_console(CONSOLE / f"{scenario}.log")


def count_lines(scenario: str, *needles: str) -> int:
    """Independent count over the raw log, to check the parser against."""
    text = (CONSOLE / f"{scenario}.log").read_bytes().decode("utf-8", "replace")
    return sum(1 for ln in text.splitlines() if all(n in ln for n in needles))


def test_every_scenario_log_is_present_and_marked_hand_written() -> None:
    names = {p.stem for p in CONSOLE.glob("*.log")}
    assert names >= {"all-pass", "one-fail", "skip", "panic", "truncated-by-watchdog",
                     "no-markers", "printk-prefixed"}
    for name in names:
        assert "HAND-WRITTEN" in (CONSOLE / f"{name}.log").read_text(errors="replace")[:400]


@pytest.mark.parametrize("raw, text, prefixed", [
    ("[    1.234567] DRAINLAB: done", "DRAINLAB: done", True),
    ("[ 1234.000001][    T1] ok 1 x", "ok 1 x", True),
    ("ok 1 x\r", "ok 1 x", False),
    ("old text\rDRAINLAB: begin a", "DRAINLAB: begin a", False),
    ("\x1b[0m\x1bc# fact a=1\x07", "# fact a=1", False),
    ("   indented stays", "   indented stays", False),
])
def test_clean_line(raw: str, text: str, prefixed: bool) -> None:
    assert collect.clean_line(raw) == (text, prefixed)


def test_all_pass() -> None:
    rep = read("all-pass")
    assert rep.boot_seen and rep.boot_uptime == pytest.approx(0.91) and rep.done
    assert [(s.script, s.rc, s.truncated) for s in rep.scripts] == [
        ("mem-offline-stress", 0, False), ("cma-stress", 0, False), ("isolation-race", 0, False)]
    assert [s.tap.counts().passed for s in rep.scripts] == [12, 4, 2]
    assert all(s.tap.status == Status.PASS for s in rep.scripts)
    assert sum(len(s.metrics) for s in rep.scripts) == count_lines("all-pass", "# metric ")
    assert rep.scripts[0].ms == 2874
    assert rep.facts["block_size_bytes"] == "134217728" and rep.facts["ncpu"] == "2"
    assert rep.trouble == () and rep.anomalies == ()
    # The tail is what a terminal showed: printk time stamps kept, CRs gone.
    assert rep.tail[-1] == "[    7.204511] reboot: Power down"
    assert len(rep.tail) == collect.TAIL_LINES


def test_metric_fields_are_typed() -> None:
    seg = read("all-pass").scripts[0]
    metric = seg.metrics[0]
    assert metric.test == "offline/memory12/r1/idle" and metric.op == "offline"
    assert metric.ok and metric.block == "memory12"
    assert isinstance(metric.us, int) and metric.us > 0
    assert metric.counters["drains"] == 1 and metric.counters["set_migratetype_isolate"] == 64
    assert "us" not in metric.counters and "block" not in metric.counters


def test_one_fail_and_excluded_block() -> None:
    rep = read("one-fail")
    seg = rep.scripts[0]
    assert seg.rc == 1 and seg.tap.status == Status.FAIL
    assert seg.tap.counts().failed == 1
    failed = [t for _, t in seg.tap.leaves() if t.status == Status.FAIL]
    assert [(t.name, t.directive) for t in failed] == [("offline/memory13/r3/churn", "offline EBUSY")]
    assert seg.excluded == (collect.Excluded("memory15", "EINVAL", "hole_or_multizone"),)
    assert seg.summary["fail"] == "1"


def test_skip() -> None:
    rep = read("skip")
    cma = rep.scripts[1]
    assert cma.rc == 4 and cma.tap.status == Status.SKIP
    assert "CONFIG_CMA_DEBUGFS" in cma.tap.directive
    race = rep.scripts[2]
    assert race.tap.counts().skipped == 1 and race.tap.status == Status.PASS


def test_panic_is_found_with_context_and_script() -> None:
    rep = read("panic")
    assert not rep.done
    assert [t.kind for t in rep.trouble] == ["bug", "oops", "panic"]  # the end trailer is no 2nd panic
    bug = rep.trouble[0]
    assert bug.script == "mem-offline-stress"
    assert "NULL pointer dereference" in bug.line
    assert len(bug.context) == collect.CONTEXT_BEFORE + collect.CONTEXT_AFTER + 1
    assert "[    9.812890] #PF: supervisor read access in kernel mode" in bug.context
    raw = (CONSOLE / "panic.log").read_text().splitlines()
    assert "BUG: kernel NULL pointer" in raw[bug.lineno - 1]
    seg = rep.scripts[0]
    assert seg.truncated and seg.rc is None and seg.ms is None
    assert seg.tap.counts().passed == 5 and seg.tap.counts().errors == 7


def test_truncated_by_watchdog_keeps_what_was_printed() -> None:
    rep = read("truncated-by-watchdog")
    assert rep.boot_seen and not rep.done and rep.trouble == ()
    (seg,) = rep.scripts
    assert seg.truncated
    assert seg.tap.counts().passed == 4 and seg.tap.status == Status.ERROR
    assert len(seg.tap.anomalies) == 8
    # The line cut in half by the kill is reported, not parsed as a metric.
    assert seg.anomalies == ("metric line without test/op/result: # metric test=offline/memory13/r2/ch",)
    assert len(seg.metrics) == count_lines("truncated-by-watchdog", "# metric ", "result=")


def test_no_markers() -> None:
    rep = read("no-markers")
    assert not rep.boot_seen and rep.boot_uptime is None and not rep.done
    assert rep.scripts == () and rep.trouble == ()
    assert rep.kernel_release == "6.1.192-drainlab"


def test_printk_prefixed_log_with_garbage_and_a_warning() -> None:
    rep = read("printk-prefixed")
    assert rep.boot_seen and rep.done
    assert [s.tap.status for s in rep.scripts] == [Status.PASS, Status.PASS]
    assert rep.scripts[0].tap.counts().passed == 12
    assert len(rep.scripts[0].metrics) == 24
    assert rep.facts["garbled_retry"] == "1"  # the text after the CR won
    (warning,) = rep.trouble
    assert warning.kind == "warning" and warning.script == "mem-offline-stress"
    assert warning.line.startswith("WARNING: CPU: 0 PID: 231 at mm/page_isolation.c:190")
    assert all("\ufffd" not in s.script for s in rep.scripts)


def test_interleaved_kernel_lines_are_not_tap_when_markers_are_unprefixed() -> None:
    text = "\n".join([
        "DRAINLAB: boot uptime=1.0",
        "DRAINLAB: begin s",
        "TAP version 13",
        "1..1",
        "[    5.000000] ok 7 bogus result from a kernel line",
        "ok 1 real",
        "DRAINLAB: end s rc=0 ms=5",
        "DRAINLAB: done",
    ])
    rep = collect.parse_console(text)
    (seg,) = rep.scripts
    assert [t.name for t in seg.tap.subtests] == ["real"]
    assert seg.tap.anomalies == ()


def test_nested_kselftest_diagnostics_are_found() -> None:
    text = "\n".join([
        "DRAINLAB: begin wrapped", "TAP version 13", "1..1", "# TAP version 13", "# 1..1",
        "# # metric test=p op=cma_alloc us=10 result=ok pages=1",
        "# ok 1 p", "ok 1 selftests: drainlab: wrapped",
        "DRAINLAB: end wrapped rc=0 ms=1",
    ])
    (seg,) = collect.parse_console(text).scripts
    assert [(m.test, m.op, m.counters) for m in seg.metrics] == [("p", "cma_alloc", {"pages": 1})]


def test_marker_problems_are_anomalies() -> None:
    text = "\n".join([
        "DRAINLAB: begin a", "TAP version 13", "1..0 # SKIP x",
        "DRAINLAB: begin b", "TAP version 13", "1..0 # SKIP y",
        "DRAINLAB: end b rc=4 ms=1",
        "DRAINLAB: end c rc=0 ms=1",
    ])
    rep = collect.parse_console(text)
    assert [(s.script, s.truncated) for s in rep.scripts] == [("a", True), ("b", False)]
    assert rep.anomalies == ("a: begin of b before its end", "line 8: end of c without its begin")


@pytest.mark.parametrize("line, kind", [
    ("watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [sh:233]", "soft-lockup"),
    ("rcu: INFO: rcu_preempt self-detected stall on CPU", "rcu-stall"),
    ("rcu: INFO: rcu_sched detected stalls on CPUs/tasks:", "rcu-stall"),
    ("INFO: task sh:233 blocked for more than 122 seconds.", "hung-task"),
    ("Kernel panic - not syncing: softlockup: hung tasks", "panic"),
    ("BUG: Bad page state in process sh  pfn:4d2a1", "bug"),
    ("Oops: general protection fault, probably for non-canonical address", "oops"),
    ("WARNING: CPU: 1 PID: 9 at mm/page_alloc.c:5530 __alloc_pages+0x2d1/0x330", "warning"),
    ("---[ end Kernel panic - not syncing: Fatal exception ]---", None),
    ("# a test may print the word WARNING: in its own diagnostics", None),
    ("ok 3 offline/memory12/r2/churn", None),
])
def test_classify_trouble(line: str, kind: str | None) -> None:
    assert collect.classify_trouble(line) == kind


def test_read_console_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="cannot read console log"):
        collect.read_console(tmp_path / "nope.log")


def test_invalid_utf8_does_not_raise(tmp_path: Path) -> None:
    log = tmp_path / "bad.log"
    log.write_bytes(b"\xff\xfeDRAINLAB: boot uptime=2.5\n\xc3DRAINLAB: done\n")
    rep = collect.read_console(log)
    # Undecodable bytes in front of a marker are not control characters: the
    # marker is no longer at the start of the line, and so not a marker.
    assert not rep.boot_seen and not rep.done
    log.write_bytes(b"\xff\xfe\nDRAINLAB: boot uptime=2.5\nDRAINLAB: done\n")
    rep = collect.read_console(log)
    assert rep.boot_seen and rep.boot_uptime == 2.5 and rep.done
