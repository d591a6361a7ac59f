# SPDX-License-Identifier: GPL-2.0
"""Error tree. The CLI catches GenError once and prints one line: problem, then fix."""

import re


class GenError(Exception):
    """Base of every error the CLI reports as one line and a non-zero exit."""

    exit_code = 1

    def __init__(self, problem: str, fix: str = "") -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(self.line())

    def line(self) -> str:
        problem, fix = _one_line(self.problem), _one_line(self.fix)
        return f"{problem}; {fix}" if fix else problem


MAX_LINE = 400  # a tool's whole stderr must not turn one line into thousands


def _one_line(text: str) -> str:
    """TEXT as one line: its first line (which says what failed), and when a
    tool's output follows, that output's most telling line, not its first."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    first = lines[0]
    if len(lines) > 1:
        cause = telling_line("\n".join(lines[1:]))
        first = f"{first} ... {cause} (+{len(lines) - 1} more lines)"
    return first if len(first) <= MAX_LINE else first[:MAX_LINE - 3] + "..."


# Lines that say what went wrong, in the words tools use (make, gcc, git,
# tar, sh, merge_config.sh, perl): first the ones that name a cause, then the
# generic verdicts ("make: *** ... Error 2", "tar: Error is not recoverable").
_CAUSE_RE = re.compile(
    r"no such file|not found|does not exist|cannot|can't|could not|unable to|"
    r"permission denied|read-only file system|no space left|fatal|\berror:|invalid", re.I)
_VERDICT_RE = re.compile(r"error|failed", re.I)


def telling_line(*texts: str) -> str:
    """The line of a tool's output that best says why it failed.

    TEXTS are searched in order (stderr first): the last line that names a
    cause, else the last generic error line, else the last non-empty line.
    Tools print their cause late and a generic verdict last, so the first
    line of a long tail is the least telling one.
    """
    for pattern in (_CAUSE_RE, _VERDICT_RE):
        for text in texts:
            for line in reversed(text.splitlines()):
                if pattern.search(line):
                    return line.strip()
    for text in texts:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if lines:
            return lines[-1]
    return "(no output)"


class UserError(GenError):
    """Bad input: unknown variant, not a kernel tree, dirty tree, bad YAML, missing tool."""

    exit_code = 2


class InfraError(GenError):
    """Something outside the user's input failed (make, QEMU, disk)."""

    exit_code = 3


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where gen happens to be (cli installs the handler).

    A KeyboardInterrupt, so it unwinds exactly like Ctrl-C: every finally block
    runs, and QEMU, make, the scratch worktrees and the staging directories go
    with it. Python's default for SIGTERM ends the process at once instead,
    leaving QEMU running in its own process group (a CI runner's cancel, a
    `timeout gen run ...`, a closed terminal).
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
