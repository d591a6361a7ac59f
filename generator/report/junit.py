# SPDX-License-Identifier: GPL-2.0
"""JUnit XML for GitLab/Jenkins: one <testsuite> per run, one <testcase> per stage and test point.

Mapping: FAIL -> <failure>; ERROR (hang, crash, watchdog, broken TAP) and a
stage error/timeout -> <error>; SKIP -> a <skipped/> child (a bare suite
counter makes several CI reporters show skips as passes). The console tail
goes to <system-out>, on the suite and on every failing case.
"""

import re
from collections.abc import Sequence
from pathlib import Path

from junitparser import Error, Failure, JUnitXml, Skipped, SystemOut, TestCase, TestSuite

from generator.results import RunResult, StageStatus, TestPoint, atomic_write_text

# Characters XML 1.0 cannot carry; a console log can contain any of them.
_XML_BAD = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _text(value: str) -> str:
    return _XML_BAD.sub("?", value)


def suite_name(run: RunResult) -> str:
    return f"drainlab.{run.meta.variant}.trial{run.meta.trial}"


def _point_case(point: TestPoint, tail: str) -> TestCase:
    classname, _, name = point.path.rpartition(".")
    case = TestCase(name, classname, point.duration_s)
    message = _text(point.message or point.status)
    if point.status == "FAIL":
        case.result = [Failure(message)]
    elif point.status == "ERROR":
        case.result = [Error(message)]
    elif point.status == "SKIP":
        case.result = [Skipped(message)]
    if point.status in ("FAIL", "ERROR") and tail:
        case.system_out = tail
    return case


def _stage_cases(run: RunResult, tail: str) -> list[TestCase]:
    """Stages that ran; skipped ones are implied by the failed one before them."""
    cases = []
    for stage in run.stages:
        if stage.status == StageStatus.SKIPPED:
            continue
        case = TestCase(stage.name, "drainlab.stage", stage.seconds)
        message = _text(stage.message or stage.status.value)
        if stage.status == StageStatus.FAIL:
            case.result = [Failure(message)]
        elif stage.status in (StageStatus.ERROR, StageStatus.TIMEOUT):
            case.result = [Error(message)]
        if stage.status != StageStatus.OK and tail:
            case.system_out = tail
        cases.append(case)
    return cases


def run_suite(run: RunResult) -> TestSuite:
    suite = TestSuite(suite_name(run))
    tail = _text("\n".join(run.console_tail))
    for key, value in (("variant", run.meta.variant), ("trial", str(run.meta.trial)),
                       ("status", run.status.value), ("kernel", run.meta.kernel_version),
                       ("base_commit", run.meta.base_commit), ("accel", run.meta.accel)):
        if value:
            suite.add_property(key, _text(value))
    suite.add_testcases(_stage_cases(run, tail))
    suite.add_testcases([_point_case(p, tail) for p in run.points])
    if tail:
        suite.append(SystemOut(tail))
    suite.update_statistics()
    return suite


def junit_xml(runs: Sequence[RunResult]) -> JUnitXml:
    xml = JUnitXml("drainlab")
    for run in runs:
        xml.add_testsuite(run_suite(run))
    xml.update_statistics()
    return xml


def junit_text(runs: Sequence[RunResult]) -> str:
    xml: bytes = junit_xml(runs).tostring()
    return xml.decode("utf-8") + "\n"


def write_junit(runs: Sequence[RunResult], path: Path) -> Path:
    atomic_write_text(path, '<?xml version="1.0" encoding="utf-8"?>\n' + junit_text(runs))
    return path
