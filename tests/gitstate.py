# SPDX-License-Identifier: GPL-2.0
"""Helpers for the "never lose the user's work" checks: snapshot a repo, run gen."""

import hashlib
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

FIXED_GIT_ENV = {
    "GIT_AUTHOR_NAME": "Fixture", "GIT_AUTHOR_EMAIL": "fixture@example.org",
    "GIT_COMMITTER_NAME": "Fixture", "GIT_COMMITTER_EMAIL": "fixture@example.org",
    "GIT_AUTHOR_DATE": "2020-09-04T10:25:00+0000", "GIT_COMMITTER_DATE": "2020-09-04T10:25:00+0000",
}


def git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    # --no-optional-locks: a plain `git status` may rewrite the index (stat
    # refresh), which would itself break the byte-identical check.
    return subprocess.run(["git", "--no-optional-locks", *args], cwd=repo, check=True,
                          capture_output=True, text=True,
                          env={**os.environ, **(env or {})}).stdout


@dataclass(frozen=True)
class RepoState:
    head: str
    symbolic_head: str
    refs: str
    index_sha: str
    status: str
    stash: str
    worktrees: str
    files_sha: str


def snapshot(repo: Path, files: tuple[str, ...] = ("mm/page_isolation.c", "mm/memory_hotplug.c",
                                                  "mm/page_alloc.c")) -> RepoState:
    index = repo / ".git" / "index"
    digest = hashlib.sha256()
    for f in files:
        p = repo / f
        digest.update(p.read_bytes() if p.exists() else b"<missing>")
    return RepoState(
        head=(repo / ".git" / "HEAD").read_text(),
        symbolic_head=git(repo, "rev-parse", "HEAD"),
        refs=git(repo, "for-each-ref"),
        index_sha=hashlib.sha256(index.read_bytes()).hexdigest() if index.exists() else "",
        status=git(repo, "status", "--porcelain", "--untracked-files=all"),
        stash=git(repo, "stash", "list"),
        worktrees=git(repo, "worktree", "list", "--porcelain"),
        files_sha=digest.hexdigest(),
    )


def make_repo(src: Path, dest: Path) -> Path:
    """A git repo holding a copy of `src`, one commit, fixed identity and date."""
    shutil.copytree(src, dest)
    git(dest, "init", "-q", "-b", "master")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "fixture", env=FIXED_GIT_ENV)
    return dest


@dataclass(frozen=True)
class GenRun:
    returncode: int
    stdout: str
    stderr: str


def run_gen(*args: str | bytes, cwd: Path, env: dict[str, str] | None = None,
            timeout: float = 120) -> GenRun:
    """Run gen as a user would; whatever the outcome, stderr holds no traceback.

    ARGS may be bytes: a path may hold any bytes but NUL, not only UTF-8.
    """
    proc = subprocess.run([sys.executable, "-m", "generator.cli", *args], cwd=cwd,
                          capture_output=True, text=True, errors="surrogateescape",
                          timeout=timeout, env={**os.environ, **(env or {})})
    assert "Traceback" not in proc.stderr, (args, proc.stderr[-3000:])
    return GenRun(proc.returncode, proc.stdout, proc.stderr)


def as_from_a_terminal() -> None:
    """preexec_fn for a child that must take Ctrl-C as a terminal user's gen does.

    A shell without job control starts background commands with SIGINT and
    SIGQUIT ignored, and an ignored signal stays ignored across exec; Python
    then never installs its KeyboardInterrupt handler. A suite launched that
    way (`./bootstrap.sh test &`, some CI runners) would send a SIGINT nobody
    hears, and a test of what Ctrl-C does would see only runs that finished.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


def assert_one_line_error(run: GenRun, *needles: str, code: int = 2) -> None:
    """One line on stderr naming the problem and the fix; exit 2 (user) or 3 (machine)."""
    assert run.returncode == code, (run.returncode, run.stdout, run.stderr)
    assert "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
