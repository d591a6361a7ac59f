# SPDX-License-Identifier: GPL-2.0
"""Kernel trees: the default Debian 6.1 tree, and checks that --tree is a kernel tree."""

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import git

from generator import ops, paths
from generator.errors import UserError

DEBIAN_TARBALL = Path("/usr/src/linux-source-6.1.tar.xz")
DEFAULT_TREE_NAME = "linux-6.1"
# Debian releases whose linux-source-X package tools/setup.sh installs; 6.12
# is the second real tree the tests patch, check and compile.
DEBIAN_SERIES = ("6.1", "6.12")
# Debian's .gitignore ends with a block that ignores the whole top level; a
# plain `git add -A` would then add nothing.
DEBIAN_IGNORE_MARK = "# Debian packaging: ignore everything"
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


def debian_tarball(series: str) -> Path:
    return Path(f"/usr/src/linux-source-{series}.tar.xz")


def prepare_debian_tree(series: str) -> KernelTree:
    """The cached one-commit tree of Debian's linux-source-SERIES (6.1, 6.12)."""
    if series not in DEBIAN_SERIES:
        raise UserError(f"no Debian tree {series}", "use one of " + ", ".join(DEBIAN_SERIES))
    return prepare_default_tree(debian_tarball(series), paths.cache_dir() / f"linux-{series}")


def prepare_default_tree(tarball: Path = DEBIAN_TARBALL, dest: Path | None = None) -> KernelTree:
    """Unpack Debian's linux-source-6.1 (or TARBALL into DEST) as a one-commit git repo.

    Idempotent: a finished tree is marked inside .git and returned at once.
    The work happens in a sibling directory renamed into place at the end, so
    an interrupted run leaves no half-made tree behind.
    """
    dest = dest or default_tree_path()
    if (dest / ".git" / READY_MARK).exists():
        return open_tree(dest)
    if not tarball.exists():
        raise UserError(
            f"{tarball} is missing",
            f"install it: apt-get install {tarball.name.removesuffix('.tar.xz')} "
            "(tools/setup.sh does)",
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = dest.with_name(dest.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    ops.run(["tar", "-xJf", str(tarball), "-C", str(work), "--strip-components=1"])
    _strip_debian_ignore(work / ".gitignore")
    env = {**os.environ, **BASE_ENV}
    ops.run(["git", "init", "-q", "-b", "master"], cwd=work, env=env)
    ops.run(["git", "add", "-A"], cwd=work, env=env)
    version = kernel_version(work)
    package = tarball.name.removesuffix(".tar.xz")
    ops.run(
        ["git", "commit", "-q", "--no-verify", "-m", f"Linux {version} (Debian {package})"],
        cwd=work,
        env=env,
    )
    (work / ".git" / READY_MARK).write_text(version + "\n")
    shutil.rmtree(dest, ignore_errors=True)
    work.rename(dest)
    return open_tree(dest)


def _strip_debian_ignore(gitignore: Path) -> None:
    if not gitignore.exists():
        return
    text = gitignore.read_text()
    cut = text.find(DEBIAN_IGNORE_MARK)
    if cut < 0:
        return
    # Drop the comment block that introduces the mark as well ("#\n# Debian...").
    head = text[:cut].rstrip("#\n") + "\n"
    gitignore.write_text(head)
