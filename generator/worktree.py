# SPDX-License-Identifier: GPL-2.0
"""A private checkout of --base in the cache, so runs never touch the user's tree.

    <cache>/src/<key>   git clone --shared --no-checkout <user tree>, detached at base

The clone borrows the user's objects through .git/objects/info/alternates and
is only ever *read* from the user's side (clone and fetch read; they do not
write to the source repository). It is reused across variants and runs: reset()
rewrites only the files a series changed, so make (with O= elsewhere) keeps its
mtimes and recompiles only what a variant touched.

This module and the series generator are the only gitpython users in the run
pipeline.
"""

import fcntl
import hashlib
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

import git

from generator import paths
from generator.errors import InfraError, UserError

# Fixed identity for `git am` (commits live only in the cache clone).
_AM_ENV = {
    "GIT_COMMITTER_NAME": "drainlab",
    "GIT_COMMITTER_EMAIL": "drainlab@localhost",
    "GIT_COMMITTER_DATE": "2000-01-01T00:00:00+0000",
}
_READY = "drainlab-src-ready"

# Lines git am / git apply print naming the file a patch could not go into.
_CONFLICT_RES = (
    re.compile(r"^error: patch failed: (?P<file>.+?):\d+$", re.M),
    re.compile(r"^error: (?P<file>.+?): (?:does not exist in index|does not match index|"
               r"already exists in (?:index|working directory)|No such file or directory)$", re.M),
    re.compile(r"^CONFLICT \([^)]*\): .*? in (?P<file>\S+)$", re.M),
)


@dataclass(frozen=True)
class ApplyResult:
    status: str  # "ok" | "fail"
    conflicting_file: str | None  # the file git named, on "fail" (None if it named none)
    log: str  # git am's output
    applied: int  # patches applied before a failure (all of them on "ok")
    head: str  # commit the worktree is at afterwards (base after a failed apply)


def src_key(user_tree: Path) -> str:
    """Cache key of a user tree: its resolved path (one clone per tree)."""
    return hashlib.sha256(str(user_tree.resolve()).encode()).hexdigest()[:16]


def src_root() -> Path:
    return paths.cache_dir() / "src"


def resolve_base(user_tree: Path, base: str) -> str:
    """The full commit id of BASE in the user's tree (read-only rev-parse)."""
    try:
        repo = git.Repo(user_tree)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise UserError(f"--tree {user_tree} is not a git repository", "pass a kernel git checkout") from None
    try:
        return str(repo.git.rev_parse("--verify", "--end-of-options", f"{base}^{{commit}}"))
    except git.GitCommandError:
        raise UserError(f"--base {base}: no such commit in {user_tree}",
                        "pass a commit, tag or branch") from None


LOW_SPACE_BYTES = 64 << 20


def _nearly_full(directory: Path) -> bool:
    """git checkout reports a full disk only as 'unable to write file': look."""
    try:
        return shutil.disk_usage(directory).free < LOW_SPACE_BYTES
    except OSError:
        return False


def _parse_conflict(text: str) -> str | None:
    for regex in _CONFLICT_RES:
        m = regex.search(text)
        if m:
            return m.group("file").strip()
    return None


class Worktree:
    """The cache checkout of one user tree at one base commit.

    Use as a context manager: it takes an exclusive lock on the clone (two
    runs never share one checkout at once) and resets to base on exit, also on
    an exception or KeyboardInterrupt.
    """

    def __init__(self, user_tree: Path, base: str = "HEAD", root: Path | None = None) -> None:
        self.user_tree = Path(user_tree).resolve()
        self.base = resolve_base(self.user_tree, base)
        self.path = (root or src_root()) / src_key(self.user_tree)
        self._lock: IO[str] | None = None
        self._repo: git.Repo | None = None

    # -- set-up ---------------------------------------------------------------

    @property
    def repo(self) -> git.Repo:
        if self._repo is None:
            raise InfraError("worktree used before open()")
        return self._repo

    def open(self) -> "Worktree":
        """Lock, create the clone if needed, fetch base if missing, check it out."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Not a with-block: the file stays open (and flock'ed) until close().
        lock = open(self.path.parent / f"{self.path.name}.lock", "w")  # noqa: SIM115
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise UserError(
                f"{self.path} is in use by another drainlab run",
                "wait for it to finish (one run per kernel tree at a time)",
            ) from None
        self._lock = lock
        try:
            if not (self.path / ".git" / _READY).exists():
                self._clone()
            self._repo = git.Repo(self.path)
            self._ensure_base()
            self.reset()
        except BaseException:
            self.close()
            raise
        return self

    def _clone(self) -> None:
        # A half-made clone from an interrupted run is simply redone.
        if self.path.exists():
            shutil.rmtree(self.path)
        try:
            git.Git().clone("--shared", "--no-checkout", "--quiet", str(self.user_tree), str(self.path))
        except git.GitCommandError as err:
            raise InfraError(
                f"git clone of {self.user_tree} into the cache failed: {err.stderr.strip()}") from None
        repo = git.Repo(self.path)
        with repo.config_writer() as cfg:
            # Nothing in the cache clone may garbage-collect or pack on its own;
            # objects are borrowed from the user's repository.
            cfg.set_value("gc", "auto", "0")
            cfg.set_value("maintenance", "auto", "false")
            cfg.set_value("am", "threeWay", "false")
            cfg.set_value("core", "hooksPath", "/dev/null")
        (self.path / ".git" / _READY).write_text(str(self.user_tree) + "\n")

    def _has_commit(self, sha: str) -> bool:
        try:
            self.repo.git.cat_file("-e", f"{sha}^{{commit}}")
            return True
        except git.GitCommandError:
            return False

    def _ensure_base(self) -> None:
        """Make base available: alternates usually already see new user commits;
        otherwise fetch the user's branches and tags (read-only for the user)."""
        if self._has_commit(self.base):
            return
        try:
            self.repo.git.fetch("--quiet", "--no-tags", str(self.user_tree),
                                "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*")
        except git.GitCommandError as err:
            raise InfraError(f"git fetch from {self.user_tree} failed: {err.stderr.strip()}") from None
        if not self._has_commit(self.base):
            raise UserError(
                f"--base {self.base[:12]} is not reachable from any branch or tag of {self.user_tree}",
                "create a branch or tag for it")

    def close(self) -> None:
        if self._lock is not None:
            self._lock.close()  # releases the flock
            self._lock = None
        if self._repo is not None:
            self._repo.close()
            self._repo = None

    def __enter__(self) -> "Worktree":
        return self.open()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if self._repo is not None:
                self.reset()
        finally:
            self.close()

    # -- state ----------------------------------------------------------------

    def head(self) -> str:
        return self._git_ok("rev-parse", "HEAD").strip()

    def _am_in_progress(self) -> bool:
        return (self.path / ".git" / "rebase-apply").exists()

    def reset(self) -> None:
        """Back to base, rewriting only the files that differ from it.

        No `git clean`: builds go to O= outside this checkout, and a file a
        series added is tracked at HEAD, so reset --hard removes it.
        """
        if self._am_in_progress():
            self._git("am", "--abort")
        if self._git("symbolic-ref", "-q", "HEAD")[0] == 0:
            # First use of a --no-checkout clone: detach, so no branch moves.
            self._git_ok("checkout", "--quiet", "--force", "--detach", self.base)
        self._git_ok("reset", "--hard", "--quiet", self.base)

    def _git(self, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
        status, out, err = self.repo.git.execute(
            ["git", *args], with_extended_output=True, with_exceptions=False, env=env,
        )
        return int(status), str(out), str(err)

    def _git_ok(self, *args: str) -> str:
        status, out, err = self._git(*args)
        if status != 0:
            if "No space left on device" in err or _nearly_full(self.path.parent):
                raise InfraError(f"disk full: git {args[0]} could not write {self.path}",
                                 f"free space under {self.path.parent} and re-run")
            raise InfraError(f"git {args[0]} in {self.path} failed: {(err or out).strip()}")
        return out

    def apply_series(self, patch_files: Sequence[Path]) -> ApplyResult:
        """`git am` the patches on top of base. A failure is a result, not an exception:
        the am is aborted, the checkout is back at base and the conflicting file named."""
        self.reset()
        log: list[str] = []
        for n, patch in enumerate(patch_files):
            status, out, err = self._git("am", "--keep-cr", "--no-3way", str(Path(patch).resolve()),
                                         env=_AM_ENV)
            log.append("\n".join(s for s in (out, err) if s))
            if status != 0:
                self.reset()
                return ApplyResult("fail", _parse_conflict(out + "\n" + err), "\n".join(log).strip(),
                                   n, self.head())
        return ApplyResult("ok", None, "\n".join(log).strip(), len(patch_files), self.head())

    def changed_files(self) -> list[str]:
        """Files the applied series changed relative to base."""
        out = self._git_ok("diff", "--name-only", self.base, "HEAD")
        return [line for line in out.splitlines() if line]
