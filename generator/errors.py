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
        return f"{self.problem}; {self.fix}" if self.fix else self.problem


class UserError(GenError):
    """Bad input: unknown variant, not a kernel tree, dirty tree, bad YAML, missing tool."""

    exit_code = 2


class InfraError(GenError):
    """Something outside the user's input failed (make, QEMU, disk)."""

    exit_code = 3
