# SPDX-License-Identifier: GPL-2.0
"""Collect stage: turn a raw guest serial console log into a ConsoleReport.

Input is whatever QEMU wrote to the serial port: kernel messages (maybe with
printk time prefixes), CR/LF pairs, escape sequences from the firmware, and
the guest /init's DRAINLAB markers around each selftest script (see
generator/protocol.py). Nothing here raises on odd input; a log cut off by
the run driver's watchdog is the normal way a hung variant shows up.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

from generator import ktap, protocol
from generator.errors import UserError

# "[   12.345678] " and, with CONFIG_PRINTK_CALLER, "[   12.345678][    T1] ".
PRINTK_RE = re.compile(r"^\[\s*\d+\.\d+\](?:\[\s*[CT]\d+\])?\s?")
# CSI sequences, charset selection, and two-byte escapes such as ESC c (reset).
ANSI_RE = re.compile(r"\x1b(?:\[[0-9;?]*[ -/]*[@-~]|[()][0-9A-Za-z]|[=>@-Z\\\]^_a-z])")
CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
KERNEL_RELEASE_RE = re.compile(r"Linux version (?P<release>\S+)")

# Order matters: "BUG: soft lockup" is a lockup, not a generic BUG, so the
# specific patterns come first and each line gets one kind.
TROUBLE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # Not the "---[ end Kernel panic ..." trailer: one panic, one entry.
    ("panic", re.compile(r"(?<!end )Kernel panic - not syncing")),
    ("soft-lockup", re.compile(r"soft lockup")),
    ("rcu-stall", re.compile(r"rcu\w*[: ].*stall|RCU stall", re.IGNORECASE)),
    ("hung-task", re.compile(r"blocked for more than \d+ seconds|hung task", re.IGNORECASE)),
    ("oops", re.compile(r"\bOops\b")),
    ("bug", re.compile(r"\bBUG: ")),
    ("warning", re.compile(r"\bWARNING: ")),
    # dump_page() of a page whose type says it must not be where it is
    # (e.g. a buddy page on a list it was isolated from).
    ("page-type", re.compile(r"\bpage type is\b")),
)
# alloc_contig_range() of older kernels prints "[start, end) PFNs busy" per
# failed attempt (6.1 prints nothing). A few under churn are retries that
# succeed; more than this many in one run means allocations keep failing: one
# "pfns-busy-storm" trouble entry (at the first line past the limit).
PFNS_BUSY_RE = re.compile(r"PFNs busy")
PFNS_BUSY_STORM = 20
CONTEXT_BEFORE = 3
CONTEXT_AFTER = 8
TAIL_LINES = 40


@dataclass(frozen=True)
class Metric:
    """One '# metric' line: an operation, its latency and the profiler counts.

    counters holds every integer-valued key other than us (round, pages,
    drains, drain_all_pages, ...). A counter the kernel could not trace is
    absent, never 0 (protocol.py).
    """

    test: str
    op: str
    us: int | None
    result: str
    block: str = ""
    counters: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.result == "ok"

    def to_dict(self) -> dict[str, object]:
        return {"test": self.test, "op": self.op, "us": self.us, "result": self.result,
                "block": self.block, "counters": dict(self.counters)}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> "Metric":
        us = data.get("us")
        counters = data.get("counters") or {}
        assert isinstance(counters, dict)
        return cls(test=str(data["test"]), op=str(data["op"]),
                   us=int(us) if isinstance(us, (int, float, str)) else None,
                   result=str(data["result"]), block=str(data.get("block", "")),
                   counters={str(k): int(v) for k, v in counters.items()})


@dataclass(frozen=True)
class Excluded:
    """A memory block the script did not test, and why (e.g. EINVAL: memory hole)."""

    block: str
    reason: str
    why: str = ""


@dataclass(frozen=True)
class Leak:
    """A '# leak' line: an invariant an operation did not give back (protocol.py).

    op: the test point (CMA: plus /<rep>); invariant: isolate, pcp_batch,
    cma_used, memfree or console; zone: a zone, zone@node, CMA area or "all";
    before/after: the values as printed (pcp_batch: one per CPU, "63,63").
    """

    op: str
    invariant: str
    zone: str
    before: str
    after: str
    script: str = ""


@dataclass(frozen=True)
class Trouble:
    """A kernel message that means the run is not clean (BUG, WARNING, panic, ...)."""

    kind: str
    line: str
    lineno: int  # 1-based, in the raw log
    script: str = ""  # the script running when it was printed, "" outside scripts
    context: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScriptSegment:
    """Everything one selftest script printed between its begin and end markers.

    truncated: no end marker (the guest hung or died; the watchdog killed it).
    rc/ms: from the end marker, None when truncated.
    """

    script: str
    rc: int | None
    ms: int | None
    truncated: bool
    lines: tuple[str, ...]
    tap: ktap.Test
    metrics: tuple[Metric, ...] = ()
    facts: dict[str, str] = field(default_factory=dict)
    excluded: tuple[Excluded, ...] = ()
    summary: dict[str, str] = field(default_factory=dict)
    anomalies: tuple[str, ...] = ()
    leaks: tuple[Leak, ...] = ()


@dataclass(frozen=True)
class ConsoleReport:
    """The parsed console of one guest run."""

    boot_seen: bool
    boot_uptime: float | None
    done: bool
    scripts: tuple[ScriptSegment, ...]
    trouble: tuple[Trouble, ...]
    facts: dict[str, str]
    kernel_release: str
    tail: tuple[str, ...]
    line_count: int
    anomalies: tuple[str, ...] = ()


def clean_line(raw: str) -> tuple[str, bool]:
    """Strip CR overwrites, escape sequences and the printk time prefix.

    Return: (text, True if it carried a printk time prefix).
    """
    text = visible(raw)
    stripped = PRINTK_RE.sub("", text, count=1)
    return stripped, stripped != text


def visible(raw: str) -> str:
    """What a terminal would show of a raw line (printk prefix kept)."""
    if "\r" in raw:
        parts = [p for p in raw.split("\r") if p.strip()]
        raw = parts[-1] if parts else ""  # the last write over a CR wins on a terminal
    return CONTROL_RE.sub("", ANSI_RE.sub("", raw)).rstrip()


def read_console(path: Path) -> ConsoleReport:
    """parse_console() on a log file; undecodable bytes become U+FFFD."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise UserError(f"cannot read console log {path}: {err.strerror}",
                        "pass the console log the run driver wrote") from err
    return parse_console(data.decode("utf-8", errors="replace"))


@dataclass
class _Open:
    script: str
    marker_had_prefix: bool
    start: int
    lines: list[tuple[str, bool]] = field(default_factory=list)


def parse_console(text: str) -> ConsoleReport:
    """Parse a whole console log. Never raises on malformed content."""
    raw_lines = text.split("\n")
    if raw_lines and not raw_lines[-1].strip():
        raw_lines.pop()
    shown = [visible(raw) for raw in raw_lines]
    cleaned = [clean_line(raw) for raw in raw_lines]
    scripts: list[ScriptSegment] = []
    anomalies: list[str] = []
    script_at: list[str] = []  # per line: the script running then
    boot_uptime: float | None = None
    boot_seen = done = False
    current: _Open | None = None
    for lineno, (line, prefixed) in enumerate(cleaned):
        script_at.append(current.script if current else "")
        if m := protocol.BOOT_RE.match(line):
            boot_seen, boot_uptime = True, float(m.group("uptime"))
        elif m := protocol.BEGIN_RE.match(line):
            if current:
                anomalies.append(f"{current.script}: begin of {m.group('script')} before its end")
                scripts.append(_segment(current, None))
            current = _Open(m.group("script"), prefixed, lineno)
        elif m := protocol.END_RE.match(line):
            if current and current.script == m.group("script"):
                scripts.append(_segment(current, m))
            else:
                anomalies.append(f"line {lineno + 1}: end of {m.group('script')} without its begin")
            current = None
        elif protocol.DONE_RE.match(line):
            done = True
        elif current:
            current.lines.append((line, prefixed))
    if current:
        scripts.append(_segment(current, None))
    facts: dict[str, str] = {}
    for seg in scripts:
        facts.update(seg.facts)
    release = next((m.group("release") for ln, _ in cleaned
                    if (m := KERNEL_RELEASE_RE.search(ln))), "")
    return ConsoleReport(
        boot_seen=boot_seen, boot_uptime=boot_uptime, done=done, scripts=tuple(scripts),
        trouble=find_trouble([ln for ln, _ in cleaned], script_at, shown), facts=facts,
        kernel_release=release, tail=tuple(shown[-TAIL_LINES:]),
        line_count=len(cleaned), anomalies=tuple(anomalies),
    )


def _segment(seg: _Open, end: re.Match[str] | None) -> ScriptSegment:
    """Close a script segment: parse its TAP and its drainlab diagnostics."""
    # When the begin marker had no printk prefix, /init writes to the console
    # directly and prefixed lines are interleaved kernel messages, not TAP.
    # When it had one (log taken via /dev/kmsg or dmesg), every line has it.
    tap_lines = [ln for ln, pre in seg.lines if seg.marker_had_prefix or not pre]
    metrics: list[Metric] = []
    facts: dict[str, str] = {}
    excluded: list[Excluded] = []
    summary: dict[str, str] = {}
    anomalies: list[str] = []
    leaks: list[Leak] = []
    for line in tap_lines:
        diag = _diagnostic(line)
        if diag is None:
            continue
        kind, pairs = diag
        if kind == "metric":
            metric = _metric(pairs)
            if metric is None:
                anomalies.append(f"metric line without test/op/result: {line.strip()}")
            else:
                metrics.append(metric)
        elif kind == "fact":
            facts.update(pairs)
        elif kind == "excluded":
            excluded.append(Excluded(pairs.get("block", ""), pairs.get("reason", ""),
                                     pairs.get("why", "")))
        elif kind == "leak":
            leaks.append(Leak(pairs.get("op", ""), pairs.get("invariant", ""), pairs.get("zone", ""),
                              pairs.get("before", ""), pairs.get("after", ""), seg.script))
        else:
            summary.update(pairs)
    return ScriptSegment(
        script=seg.script,
        rc=int(end.group("rc")) if end else None,
        ms=int(end.group("ms")) if end else None,
        truncated=end is None,
        lines=tuple(tap_lines),
        tap=ktap.parse(tap_lines, name=seg.script),
        metrics=tuple(metrics), facts=facts, excluded=tuple(excluded),
        summary=summary, anomalies=tuple(anomalies), leaks=tuple(leaks),
    )


def _diagnostic(line: str) -> tuple[str, dict[str, str]] | None:
    """protocol.parse_diagnostic, also for lines nested as '# # metric ...'."""
    text = line.strip()
    while text.startswith("#"):
        found = protocol.parse_diagnostic(text)
        if found:
            return found
        text = text[1:].lstrip()
    return None


def _metric(pairs: dict[str, str]) -> Metric | None:
    if not all(pairs.get(key) for key in ("test", "op", "result")):
        return None
    counters = {k: int(v) for k, v in pairs.items()
                if k not in ("us", "test", "op", "result", "block") and v.isdigit()}
    us = pairs.get("us", "")
    return Metric(test=pairs["test"], op=pairs["op"], us=int(us) if us.isdigit() else None,
                  result=pairs["result"], block=pairs.get("block", ""), counters=counters)


def classify_trouble(line: str) -> str | None:
    """The trouble kind of a kernel message line, or None.

    Lines starting with '#' are TAP diagnostics from our own scripts, which
    may legitimately mention the words (e.g. '# no WARNING: seen').
    """
    if line.lstrip().startswith("#"):
        return None
    for kind, pattern in TROUBLE_PATTERNS:
        if pattern.search(line):
            return kind
    return None


def find_trouble(lines: list[str], script_at: list[str] | None = None,
                 shown: list[str] | None = None) -> tuple[Trouble, ...]:
    """Every trouble line with a few lines of context around it.

    lines: without printk prefixes (matched); shown: the same lines as
    printed, used for the context so the kernel's time stamps stay in it.
    """
    shown = shown or lines
    found = []
    busy = 0
    for i, line in enumerate(lines):
        kind = classify_trouble(line)
        if kind is None and not line.lstrip().startswith("#") and PFNS_BUSY_RE.search(line):
            busy += 1
            if busy == PFNS_BUSY_STORM + 1:
                kind = "pfns-busy-storm"
        if kind is None:
            continue
        lo, hi = max(0, i - CONTEXT_BEFORE), min(len(lines), i + CONTEXT_AFTER + 1)
        found.append(Trouble(kind=kind, line=line.strip(), lineno=i + 1,
                             script=script_at[i] if script_at else "",
                             context=tuple(shown[lo:hi])))
    return tuple(found)
