# SPDX-License-Identifier: GPL-2.0
"""Parse TAP 13 / KTAP output (kselftest '# ' nesting and KTAP indentation) into a Test tree.

The parser never raises on bad input: a guest that hangs or crashes leaves
half a TAP stream behind, and that is exactly the output we most need to
report. Anomalies (missing results, bail out, numbering errors) are recorded
on the Test they belong to and counted as errors.

Nesting: a run of lines that are either '# '-prefixed (kselftest's runner
prefixes a test's own output, nested TAP included) or indented (KTAP
subtests) immediately before a result line is that test's output. It is
parsed recursively; its TAP results become subtests and its other lines
become the test's diagnostics.
"""

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace


class TestStatus(enum.Enum):
    """Result of one test; the values are the KCIDB status names."""

    PASS = "PASS"
    FAIL = "FAIL"
    SKIP = "SKIP"
    ERROR = "ERROR"


# Worst first, as in the KCIDB status priority (FAIL, ERROR, ..., PASS, SKIP).
_SEVERITY = (TestStatus.FAIL, TestStatus.ERROR, TestStatus.PASS, TestStatus.SKIP)

VERSION_RE = re.compile(r"^(?:K?TAP version \d+)\s*$")
PLAN_RE = re.compile(r"^1\.\.(?P<count>\d+)\s*(?:#\s*(?P<directive>.*))?$")
# The number is optional in TAP 13 but always printed by kselftest and KTAP;
# requiring it keeps program output such as "ok, retrying" out of the results.
RESULT_RE = re.compile(
    r"^(?P<not>not )?ok (?P<number>\d+)\b(?:\s*-)?\s*(?P<name>[^#]*?)\s*(?:#\s*(?P<directive>.*))?$"
)
BAIL_RE = re.compile(r"^Bail out!\s*(?P<reason>.*)$")
SUBTEST_RE = re.compile(r"^#\s*Subtest:\s*(?P<name>.*)$")


@dataclass(frozen=True)
class TestCounts:
    """Leaf results by status; errors also counts parser anomalies."""

    passed: int = 0
    failed: int = 0
    skipped: int = 0
    errors: int = 0

    def total(self) -> int:
        return self.passed + self.failed + self.skipped + self.errors

    def __add__(self, other: "TestCounts") -> "TestCounts":
        return TestCounts(
            self.passed + other.passed,
            self.failed + other.failed,
            self.skipped + other.skipped,
            self.errors + other.errors,
        )


@dataclass(frozen=True)
class Test:
    """One TAP test (or the whole document when number == 0).

    directive: the text after '#' on the result line ('SKIP no CMA',
    'TIMEOUT 45 seconds', 'exit=1'), or the plan's directive for a document.
    plan: the announced number of subtests, None when no plan was printed.
    anomalies: what was wrong with this test's TAP, one message each.
    """

    name: str
    number: int
    status: TestStatus
    directive: str = ""
    diagnostics: tuple[str, ...] = ()
    subtests: tuple["Test", ...] = ()
    plan: int | None = None
    anomalies: tuple[str, ...] = ()

    def counts(self) -> TestCounts:
        """Leaf statuses below (or of) this test, plus every anomaly as an error."""
        own = TestCounts(errors=len(self.anomalies))
        if not self.subtests:
            return own + _leaf_count(self.status) if self.number else own
        total = own
        for sub in self.subtests:
            total = total + sub.counts()
        return total

    def leaves(self, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], "Test"]]:
        """(name path, test) of every leaf below this test, depth first."""
        out: list[tuple[tuple[str, ...], Test]] = []
        for sub in self.subtests:
            path = prefix + (sub.name,)
            out.extend(sub.leaves(path) if sub.subtests else [(path, sub)])
        return out


def _leaf_count(status: TestStatus) -> TestCounts:
    return {
        TestStatus.PASS: TestCounts(passed=1),
        TestStatus.FAIL: TestCounts(failed=1),
        TestStatus.SKIP: TestCounts(skipped=1),
        TestStatus.ERROR: TestCounts(errors=1),
    }[status]


def worst(statuses: Iterable[TestStatus]) -> TestStatus | None:
    """Highest-priority status of a set (FAIL > ERROR > PASS > SKIP), None if empty."""
    present = set(statuses)
    for status in _SEVERITY:
        if status in present:
            return status
    return None


def status_from_directive(ok: bool, directive: str) -> TestStatus:
    """Map a result line to a status. kselftest uses '# SKIP' even on 'not ok'
    lines and '# TIMEOUT' for tests it killed; XFAIL is an expected failure."""
    word = directive.split(maxsplit=1)[0].upper() if directive.strip() else ""
    if word == "SKIP":
        return TestStatus.SKIP
    if word in ("TIMEOUT", "ERROR"):
        return TestStatus.ERROR
    if word == "XFAIL":
        return TestStatus.PASS
    return TestStatus.PASS if ok else TestStatus.FAIL


@dataclass
class _Doc:
    """Mutable state while one TAP level is parsed; frozen into a Test at the end."""

    tests: list[Test] = field(default_factory=list)
    loose: list[str] = field(default_factory=list)  # lines that belong to no subtest
    plan: int | None = None
    plan_directive: str = ""
    subtest_name: str = ""
    anomalies: list[str] = field(default_factory=list)
    saw_tap: bool = False
    bailed: bool = False


def _nest_kind(line: str) -> str:
    """'#' for kselftest-prefixed output, ' ' for indented KTAP output, '' otherwise."""
    if line.startswith((" ", "\t")) and line.strip():
        return " "
    if line == "#" or line.startswith("# "):
        return "#"
    return ""


def _dedent(block: list[str], kind: str) -> list[str]:
    """Remove one nesting level: the '# ' prefix, or the block's first indentation."""
    if kind == "#":
        return [ln[2:] if ln.startswith("# ") else ln[1:] for ln in block]
    first = block[0]
    width = len(first) - len(first.lstrip())
    out = []
    for ln in block:
        lead = len(ln) - len(ln.lstrip())
        out.append(ln[min(width, lead):])
    return out


def _is_structural(line: str) -> bool:
    return bool(VERSION_RE.match(line) or PLAN_RE.match(line) or RESULT_RE.match(line)
                or BAIL_RE.match(line))


def _has_structure(lines: list[str]) -> bool:
    """True when a nested block contains TAP of its own (not just comments)."""
    return any(_is_structural(ln) or _nest_kind(ln) for ln in lines)


def parse(lines: Iterable[str], name: str = "") -> Test:
    """Parse a TAP/KTAP stream into a document Test (number 0) whose subtests
    are the top-level results.

    Parameters: lines without line terminators; name for the document.
    Return: the document Test; its status is the worst of its subtests, SKIP
    for '1..0 # SKIP', ERROR when results are missing or the stream bailed out.
    """
    clean = [ln.rstrip("\r\n").rstrip() for ln in lines]
    return _finish(_parse_level(clean), name, 0, None, ())


def _parse_level(lines: list[str]) -> _Doc:
    doc = _Doc()
    pending: list[str] = []  # nested/comment output waiting for its result line
    i = 0
    while i < len(lines) and not doc.bailed:
        line = lines[i]
        kind = "" if SUBTEST_RE.match(line) else _nest_kind(line)
        if kind:
            j = i
            while j < len(lines) and _nest_kind(lines[j]) == kind:
                j += 1
            block = lines[i:j]
            if kind == " " and block[0].strip() == "---" and doc.tests and not pending:
                j = _attach_yaml(doc, lines, i)
            else:
                pending.extend(f"{kind}\x00{ln}" for ln in block)
            i = j
            continue
        _handle_line(doc, line, pending)
        i += 1
    _close(doc, pending)
    return doc


def _attach_yaml(doc: _Doc, lines: list[str], start: int) -> int:
    """A TAP 13 YAML block ('  ---' ... '  ...') after a result: its diagnostics."""
    j = start + 1
    while j < len(lines) and lines[j].strip() != "...":
        j += 1
    block = tuple(ln.strip() for ln in lines[start:j + 1])
    last = doc.tests[-1]
    doc.tests[-1] = replace(last, diagnostics=last.diagnostics + block)
    return j + 1


def _handle_line(doc: _Doc, line: str, pending: list[str]) -> None:
    if VERSION_RE.match(line):
        if doc.saw_tap and (doc.tests or doc.plan is not None):
            doc.anomalies.append(f"unexpected version line: {line!r}")
        elif not doc.tests:
            # Output before the header (kselftest's "selftests: dir: test"
            # line) describes the document, not its first test.
            doc.loose.extend(entry.partition("\x00")[2] for entry in pending)
            pending.clear()
        doc.saw_tap = True
    elif m := PLAN_RE.match(line):
        if doc.plan is not None:
            doc.anomalies.append(f"second plan line: {line!r}")
        doc.plan = int(m.group("count"))
        doc.plan_directive = (m.group("directive") or "").strip()
        doc.saw_tap = True
    elif m := BAIL_RE.match(line):
        doc.anomalies.append(f"bail out: {m.group('reason') or 'no reason given'}")
        doc.bailed = True
        doc.saw_tap = True
    elif m := RESULT_RE.match(line):
        doc.tests.append(_result(doc, m, pending))
        pending.clear()
        doc.saw_tap = True
    elif m := SUBTEST_RE.match(line):
        doc.subtest_name = m.group("name").strip()
    else:
        # Unknown lines are allowed by KTAP (kernel messages, program output).
        pending.append(f"\x00{line}")


def _result(doc: _Doc, m: re.Match[str], pending: list[str]) -> Test:
    ok = m.group("not") is None
    expected = len(doc.tests) + 1
    number = int(m.group("number"))
    if number != expected:
        doc.anomalies.append(f"expected test number {expected}, got {number}")
    directive = (m.group("directive") or "").strip()
    status = status_from_directive(ok, directive)
    diags, sub = _split_pending(pending)
    name = m.group("name").strip()
    return _finish(sub, name, number, status, diags, directive)


def _split_pending(pending: list[str]) -> tuple[tuple[str, ...], _Doc]:
    """Separate a test's own output into its nested TAP (parsed) and plain lines.

    Every pending entry is '<kind>\\0<line>'. Runs of the same nesting kind are
    parsed as one nested document when they hold TAP structure; other lines,
    and the nested document's loose lines, become diagnostics (kept as printed
    at this level, so '# metric ...' stays parseable by protocol.py).
    """
    by_kind: dict[str, list[str]] = {"": [], "#": [], " ": []}
    for entry in pending:
        kind, _, text = entry.partition("\x00")
        by_kind[kind].append(text)
    # Plain lines (kernel messages, program output) may interleave with the
    # nested block on a serial console; they do not end it.
    diags = list(by_kind[""])
    sub = _Doc()
    for kind in ("#", " "):
        block = by_kind[kind]
        if not block:
            continue
        inner = _dedent(block, kind)
        if _has_structure(inner) and not sub.saw_tap:
            sub = _parse_level(inner)
            diags.extend(_renest(sub.loose, kind))
        else:
            diags.extend(block)
    return tuple(diags), sub


def _renest(lines: list[str], kind: str) -> list[str]:
    if kind == "#":
        return [f"# {ln}" if ln else "#" for ln in lines]
    return [f"  {ln}" for ln in lines]


def _close(doc: _Doc, pending: list[str]) -> None:
    """End of a level: leftover output and plan checks."""
    diags, sub = _split_pending(pending)
    if sub.saw_tap:
        # Nested TAP with no result line after it: the parent was cut short.
        # It stands in for the missing result, so it is not counted twice.
        name = sub.subtest_name or "(no result line)"
        doc.tests.append(_finish(sub, name, len(doc.tests) + 1, TestStatus.ERROR, diags,
                                 "missing result line"))
    else:
        doc.loose.extend(diags)
    if doc.plan is not None and not doc.bailed:
        if len(doc.tests) < doc.plan:
            # One error per missing result, as kunit_parser counts them.
            doc.anomalies.extend(
                f"missing result for test {n} of {doc.plan}"
                for n in range(len(doc.tests) + 1, doc.plan + 1)
            )
        elif len(doc.tests) > doc.plan:
            doc.anomalies.append(f"{len(doc.tests)} results, plan said {doc.plan}")


def _finish(doc: _Doc, name: str, number: int, line_status: TestStatus | None,
            diags: tuple[str, ...], directive: str = "") -> Test:
    """Freeze a parsed level into a Test and derive its status."""
    sub_status = worst(t.status for t in doc.tests)
    if line_status is None:  # a document: status comes from its contents
        directive = doc.plan_directive
        if doc.plan == 0 and not doc.tests:  # '1..0 # SKIP why': nothing to run here
            status = TestStatus.SKIP
        elif not doc.tests and not doc.saw_tap:
            status = TestStatus.ERROR
            doc.anomalies.append("no TAP output")
        else:
            status = sub_status or TestStatus.ERROR
        diags = diags + tuple(doc.loose)
    else:
        status = line_status
    if doc.anomalies and status in (TestStatus.PASS, TestStatus.SKIP):
        status = TestStatus.ERROR
    return Test(
        name=name or doc.subtest_name,
        number=number,
        status=status,
        directive=directive,
        diagnostics=diags,
        subtests=tuple(doc.tests),
        plan=doc.plan,
        anomalies=tuple(doc.anomalies),
    )
