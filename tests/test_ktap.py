# SPDX-License-Identifier: GPL-2.0
"""ktap.py: TAP 13 / KTAP parsing, both nesting styles, and anomaly counting."""

from pathlib import Path

import pytest

from generator import ktap
from generator.ktap import TestCounts as Counts
from generator.ktap import TestStatus as Status

CONSOLE = Path(__file__).parent / "data" / "console"

# kselftest runner output: nested TAP is '# '-prefixed (ecosystem.md section 5).
KSELFTEST = """\
TAP version 13
1..3
# selftests: memory-hotplug: cma-stress.sh
# TAP version 13
# 1..3
# # metric test=cma_alloc_small op=cma_alloc us=812 result=ok
# ok 1 cma_alloc_small
# not ok 2 cma_alloc_large
# ok 3 cma_release # SKIP CONFIG_CMA_DEBUGFS not set
not ok 1 selftests: memory-hotplug: cma-stress.sh # exit=1
# selftests: memory-hotplug: mem-on-off-test.sh
ok 2 selftests: memory-hotplug: mem-on-off-test.sh
# selftests: memory-hotplug: drain.sh
#
not ok 3 selftests: memory-hotplug: drain.sh # TIMEOUT 45 seconds
"""

# KTAP v1 with indentation, KUnit's '# Subtest:' and a TAP 13 YAML block.
KTAP = """\
KTAP version 1
1..2
    # Subtest: isolation
    KTAP version 1
    1..2
    ok 1 isolate_single
    not ok 2 isolate_range # XFAIL known race
ok 1 isolation
not ok 2 drain_count
  ---
  message: expected 1 drain, got 65
  ...
"""


def parse(text: str) -> ktap.Test:
    return ktap.parse(text.splitlines(), name="doc")


def test_flat_tap_all_pass() -> None:
    doc = parse("TAP version 13\n1..2\nok 1 a\nok 2 - b\n")
    assert doc.status == Status.PASS
    assert [t.name for t in doc.subtests] == ["a", "b"]
    assert doc.counts() == Counts(passed=2)
    assert doc.plan == 2 and doc.anomalies == ()


def test_kselftest_prefixed_nesting() -> None:
    doc = parse(KSELFTEST)
    first, second, third = doc.subtests
    assert first.status == Status.FAIL and first.directive == "exit=1"
    assert [(t.name, t.status) for t in first.subtests] == [
        ("cma_alloc_small", Status.PASS),
        ("cma_alloc_large", Status.FAIL),
        ("cma_release", Status.SKIP),
    ]
    assert first.subtests[2].directive == "SKIP CONFIG_CMA_DEBUGFS not set"
    # The runner's header line belongs to the script, not to its first subtest.
    assert "# selftests: memory-hotplug: cma-stress.sh" in first.diagnostics
    # A nested diagnostic keeps the form it had at its own level.
    assert first.subtests[0].diagnostics == ("# metric test=cma_alloc_small op=cma_alloc us=812 result=ok",)
    assert second.status == Status.PASS and second.subtests == ()
    assert third.status == Status.ERROR and third.directive == "TIMEOUT 45 seconds"
    assert doc.status == Status.FAIL
    assert doc.counts() == Counts(passed=2, failed=1, skipped=1, errors=1)


def test_ktap_indented_nesting_subtest_name_xfail_and_yaml() -> None:
    doc = parse(KTAP)
    suite, drain = doc.subtests
    assert suite.name == "isolation" and suite.status == Status.PASS
    assert [t.status for t in suite.subtests] == [Status.PASS, Status.PASS]  # XFAIL -> PASS
    assert drain.status == Status.FAIL
    assert "message: expected 1 drain, got 65" in drain.diagnostics
    assert [path for path, _ in doc.leaves()] == [
        ("isolation", "isolate_single"), ("isolation", "isolate_range"), ("drain_count",)]


def test_plan_zero_skip_is_skip_with_reason() -> None:
    doc = parse("TAP version 13\n1..0 # SKIP no CMA area\n")
    assert doc.status == Status.SKIP
    assert doc.directive == "SKIP no CMA area"
    assert doc.counts() == Counts()


def test_not_ok_with_skip_directive_is_skip() -> None:
    doc = parse("TAP version 13\n1..1\nnot ok 1 x # SKIP not root\n")
    assert doc.subtests[0].status == Status.SKIP


def test_truncated_output_counts_missing_results_as_errors() -> None:
    doc = parse("TAP version 13\n1..4\nok 1 a\nnot ok 2 b\n# metric test=c op=offline\n")
    assert doc.status == Status.FAIL  # a real failure outranks the truncation
    assert doc.counts() == Counts(passed=1, failed=1, errors=2)
    assert doc.anomalies == ("missing result for test 3 of 4", "missing result for test 4 of 4")
    # Output after the last result is kept on the document.
    assert doc.diagnostics == ("# metric test=c op=offline",)
    only_passes = parse("TAP version 13\n1..3\nok 1 a\n")
    assert only_passes.status == Status.ERROR


def test_bail_out_stops_parsing() -> None:
    doc = parse("TAP version 13\n1..3\nok 1 a\nBail out! no memory blocks\nok 2 b\n")
    assert doc.status == Status.ERROR
    assert [t.name for t in doc.subtests] == ["a"]
    assert doc.anomalies == ("bail out: no memory blocks",)
    assert doc.counts().errors == 1


def test_extra_results_and_bad_numbering_are_anomalies() -> None:
    doc = parse("1..1\nok 1 a\nok 3 b\n")
    assert "expected test number 2, got 3" in doc.anomalies
    assert "2 results, plan said 1" in doc.anomalies
    assert doc.status == Status.ERROR


def test_trailing_plan_is_accepted() -> None:
    doc = parse("TAP version 13\nok 1 a\nok 2 b\n1..2\n")
    assert doc.status == Status.PASS and doc.anomalies == ()


def test_no_tap_at_all_is_an_error() -> None:
    doc = parse("hello\nworld\n")
    assert doc.status == Status.ERROR
    assert doc.anomalies == ("no TAP output",)
    assert doc.diagnostics == ("hello", "world")


def test_prose_starting_with_ok_is_not_a_result() -> None:
    doc = parse("TAP version 13\n1..1\nok, retrying\nokay\nok 1 real\n")
    assert [t.name for t in doc.subtests] == ["real"]
    assert doc.subtests[0].diagnostics == ("ok, retrying", "okay")


def test_nested_block_without_result_line_becomes_error_test() -> None:
    doc = parse("TAP version 13\n1..1\n# TAP version 13\n# 1..2\n# ok 1 inner\n")
    (orphan,) = doc.subtests
    assert orphan.status == Status.ERROR
    assert orphan.directive == "missing result line"
    assert orphan.subtests[0].name == "inner"
    # The inner pass, and the inner result that never came (the orphan is not a leaf).
    assert doc.counts() == Counts(passed=1, errors=1)


def test_kernel_lines_interleaved_with_nested_block() -> None:
    text = "TAP version 13\n1..1\n# TAP version 13\n# 1..1\nsome kernel line\n# ok 1 x\nok 1 outer\n"
    doc = parse(text)
    assert doc.subtests[0].subtests[0].name == "x"
    assert "some kernel line" in doc.subtests[0].diagnostics


@pytest.mark.parametrize("log", sorted(CONSOLE.glob("*.log")), ids=lambda p: p.stem)
def test_never_raises_on_recorded_logs(log: Path) -> None:
    doc = ktap.parse(log.read_text(errors="replace").splitlines())
    assert isinstance(doc.counts(), Counts)
