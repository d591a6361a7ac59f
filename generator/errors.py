# SPDX-License-Identifier: GPL-2.0
"""Error tree. The CLI catches GenError once and prints one line: problem, then fix."""


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
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    first = lines[0] if len(lines) == 1 else f"{lines[0]} (+{len(lines) - 1} more lines)"
    return first if len(first) <= MAX_LINE else first[:MAX_LINE - 3] + "..."


class UserError(GenError):
    """Bad input: unknown variant, not a kernel tree, dirty tree, bad YAML, missing tool."""

    exit_code = 2


class InfraError(GenError):
    """Something outside the user's input failed (make, QEMU, disk)."""

    exit_code = 3
