# SPDX-License-Identifier: GPL-2.0
"""Kernel trees: the default Debian 6.1 tree, and checks that --tree is a kernel tree."""

import fcntl
import hashlib
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import git

from generator import ops, paths
from generator.errors import UserError

DEBIAN_TARBALL = Path("/usr/src/linux-source-6.1.tar.xz")
DEFAULT_TREE_NAME = "linux-6.1"
# Debian releases whose linux-source-X package tools/setup.sh installs; 6.12
# is the second real tree the tests patch, check and compile.
DEBIAN_SERIES = ("6.1", "6.12")
# Fixed identity and date so the base commit id is the same on every machine
# (golden outputs and base-commit: trailers stay stable).
BASE_ENV = {
    "GIT_AUTHOR_NAME": "drainlab",
    "GIT_AUTHOR_EMAIL": "drainlab@localhost",
    "GIT_COMMITTER_NAME": "drainlab",
    "GIT_COMMITTER_EMAIL": "drainlab@localhost",
    "GIT_AUTHOR_DATE": "2000-01-01T00:00:00+0000",
    "GIT_COMMITTER_DATE": "2000-01-01T00:00:00+0000",
}
READY_MARK = "drainlab-tree-ready"
# First line of the ready mark. Bump it when the commit changes, so caches
# made by an older drainlab make the tree again. 2: every tarball member.
TREE_FORMAT = "format 2"


@dataclass(frozen=True)
class KernelTree:
    path: Path
    version: str  # "6.1.192", from the top-level Makefile


def default_tree_path() -> Path:
    return paths.cache_dir() / DEFAULT_TREE_NAME


def kernel_version(path: Path) -> str:
    """VERSION.PATCHLEVEL.SUBLEVEL from a kernel Makefile, or '' if it is not one."""
    try:
        head = (path / "Makefile").read_text(errors="replace")[:2000]
    except OSError:
        return ""
    fields = dict(re.findall(r"^(VERSION|PATCHLEVEL|SUBLEVEL) = (\d+)", head, re.M))
    if "VERSION" not in fields or "PATCHLEVEL" not in fields:
        return ""
    return ".".join(fields[k] for k in ("VERSION", "PATCHLEVEL", "SUBLEVEL") if k in fields)


def open_tree(path: Path) -> KernelTree:
    """Validate that PATH is a git checkout of a kernel tree."""
    if not path.is_dir():
        raise UserError(f"--tree {path}: no such directory", "pass a kernel git checkout")
    try:
        repo = git.Repo(path)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise UserError(
            f"--tree {path} is not a git repository",
            "pass a kernel git checkout (or run `gen tree` for the default one)",
        ) from None
    top = Path(repo.working_tree_dir or path)
    version = kernel_version(top)
    if not version or not (top / "mm").is_dir():
        raise UserError(
            f"--tree {top} is not a kernel tree (no kernel Makefile or mm/)",
            "pass the top directory of a Linux source checkout",
        )
    return KernelTree(top, version)


def is_ready(dest: Path) -> bool:
    try:
        first = (dest / ".git" / READY_MARK).read_text().splitlines()[:1]
    except OSError:
        return False
    return first == [TREE_FORMAT]


def _lock(dest: Path) -> IO[str]:
    """One gen prepares the tree at a time; the others wait, then find it ready."""
    handle = open(dest.with_name(dest.name + ".lock"), "a+", encoding="utf-8")  # noqa: SIM115
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"gen: waiting for another gen preparing {dest}", file=sys.stderr)
        fcntl.flock(handle, fcntl.LOCK_EX)
    return handle


def debian_tarball(series: str) -> Path:
    return Path(f"/usr/src/linux-source-{series}.tar.xz")


def prepare_debian_tree(series: str) -> KernelTree:
    """The cached one-commit tree of Debian's linux-source-SERIES (6.1, 6.12)."""
    if series not in DEBIAN_SERIES:
        raise UserError(f"no Debian tree {series}", "use one of " + ", ".join(DEBIAN_SERIES))
    return prepare_default_tree(debian_tarball(series), paths.cache_dir() / f"linux-{series}")


def prepare_default_tree(tarball: Path = DEBIAN_TARBALL, dest: Path | None = None) -> KernelTree:
    """Unpack Debian's linux-source-6.1 (or TARBALL into DEST) as a one-commit git repo.

    The commit holds every file and symlink of the tarball, byte for byte
    (dotfiles included: Debian's .gitignore ignores the whole top level, so
    the files are added with --force, by a git that reads no configuration).
    Idempotent: a finished tree is marked inside .git (with TREE_FORMAT, so a
    tree made by an older drainlab is made again) and returned at once.
    The work happens in a sibling directory renamed into place at the end, so
    an interrupted run leaves no half-made tree behind.
    """
    dest = dest or default_tree_path()
    if is_ready(dest):
        return open_tree(dest)
    if not tarball.exists():
        raise UserError(
            f"{tarball} is missing",
            f"install it: apt-get install {tarball.name.removesuffix('.tar.xz')} "
            "(tools/setup.sh does)",
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    with _lock(dest):
        if is_ready(dest):
            return open_tree(dest)
        _make_tree(tarball, dest)
    return open_tree(dest)


def _make_tree(tarball: Path, dest: Path) -> None:
    work = dest.with_name(dest.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    ops.run(["tar", "-xJf", str(tarball), "-C", str(work), "--strip-components=1"])
    home = dest.with_name(dest.name + ".home")
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(BASE_ENV, GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1",
               GIT_ATTR_NOSYSTEM="1", HOME=str(home), XDG_CONFIG_HOME=str(home))
    ops.run(["git", "init", "-q", "--template=", "-b", "master"], cwd=work, env=env)
    # No conversion on the way in, whatever the tarball's .gitattributes says:
    # the blobs are the tarball's bytes.
    info = work / ".git" / "info"
    info.mkdir(exist_ok=True)
    (info / "attributes").write_text("* -text -filter -ident -eol\n")
    ops.run(["git", "add", "--all", "--force", "."], cwd=work, env=env)
    version = kernel_version(work)
    package = tarball.name.removesuffix(".tar.xz")
    ops.run(
        ["git", "commit", "-q", "--no-verify", "--no-gpg-sign", "-m",
         f"Linux {version} (Debian {package})"],
        cwd=work,
        env=env,
    )
    (info / "attributes").unlink()
    (work / ".git" / READY_MARK).write_text(f"{TREE_FORMAT}\n{version}\n")
    if dest.exists():
        old = dest.with_name(dest.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        dest.rename(old)
        work.rename(dest)
        shutil.rmtree(old, ignore_errors=True)
        # The cache checkout borrowed the old tree's objects: it is made again.
        shutil.rmtree(paths.cache_dir() / "src" / _src_key(dest), ignore_errors=True)
    else:
        work.rename(dest)
    shutil.rmtree(home, ignore_errors=True)


def _src_key(tree: Path) -> str:
    # worktree.src_key() without importing the run pipeline.
    return hashlib.sha256(str(tree.resolve()).encode()).hexdigest()[:16]
