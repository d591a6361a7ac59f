# SPDX-License-Identifier: GPL-2.0
"""The default tree is the tarball, exactly: every member, byte for byte, in one commit."""

import hashlib
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from conftest import need
from gitstate import git

from generator import tree as kernel_tree

FIXTURE = Path(__file__).parent / "data" / "fake_linux"
# What Debian's linux-source .gitignore ends with (it hides the whole top level).
DEBIAN_IGNORE = "#\n# Debian packaging: ignore everything at the top level\n/*\n!/debian/\n"


def blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def tarball_entries(tarball: Path) -> dict[str, tuple[str, str]]:
    """path (top directory stripped) -> (git mode, blob id) for every file and symlink."""
    entries: dict[str, tuple[str, str]] = {}
    links: dict[str, str] = {}
    with tarfile.open(tarball, "r|*") as tar:
        for member in tar:
            path = member.name.split("/", 1)[1] if "/" in member.name else ""
            if member.issym():
                entries[path] = ("120000", blob_id(member.linkname.encode()))
            elif member.islnk():
                links[path] = member.linkname.split("/", 1)[1]
            elif member.isfile():
                f = tar.extractfile(member)
                assert f is not None
                mode = "100755" if member.mode & 0o100 else "100644"
                entries[path] = (mode, blob_id(f.read()))
    for path, target in links.items():  # hard links: the same content under another name
        entries[path] = entries[target]
    return entries


def commit_entries(repo: Path) -> dict[str, tuple[str, str]]:
    out = git(repo, "ls-tree", "-r", "-z", "HEAD")
    entries = {}
    for record in out.split("\0"):
        if record:
            meta, path = record.split("\t", 1)
            mode, _, sha = meta.split()
            entries[path] = (mode, sha)
    return entries


def _hostile_tarball(tmp_path: Path) -> Path:
    """A small kernel-like tarball with what broke or could break an exact commit."""
    top = tmp_path / "src" / "linux-source-6.1"
    shutil.copytree(FIXTURE, top)
    (top / ".gitignore").write_text(".*\n*.o\n!.gitignore\n" + DEBIAN_IGNORE)
    (top / ".mailmap").write_text("A <a@b>\n")
    (top / ".clang-format").write_text("BasedOnStyle: LLVM\n")
    (top / "mm" / ".gitignore").write_text("*.txt\n")
    (top / "mm" / "ignored.txt").write_text("ignored by mm/.gitignore\n")
    (top / "built-in.o").write_bytes(b"\x7fELF object the ignore rules hide\n")
    (top / ".gitattributes").write_text("*.crlf text eol=crlf\n*.c ident\n*.bin filter=x\n")
    (top / "dos.crlf").write_bytes(b"line one\nline two\n")
    (top / "mm" / "ident.c").write_text("/* $Id$ */\n")
    (top / "data.bin").write_bytes(bytes(range(256)))
    (top / "scripts").mkdir()
    (top / "scripts" / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (top / "scripts" / "run.sh").chmod(0o755)
    (top / "scripts" / "link").symlink_to("../Makefile")
    (top / "scripts" / "dangling").symlink_to("no/such/file")
    (top / "debian").mkdir()
    (top / "debian" / "rules").write_text("%:\n\tdh $@\n")
    tarball = tmp_path / "linux-source-6.1.tar.xz"
    subprocess.run(["tar", "-cJf", str(tarball), "-C", str(tmp_path / "src"), "linux-source-6.1"],
                   check=True)
    return tarball


def test_the_commit_holds_every_member_of_the_tarball(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    tarball = _hostile_tarball(tmp_path)
    # A user's global git config that would change what `git add` stores.
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[core]\n\tautocrlf = true\n\texcludesFile = ~/ignore\n"
                                     "[filter \"x\"]\n\tclean = tr a-z A-Z\n"
                                     "[commit]\n\tgpgSign = true\n")
    (home / "ignore").write_text("*.sh\n*.bin\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("GIT_CONFIG_GLOBAL", raising=False)
    monkeypatch.setenv("DRAINLAB_CACHE", str(tmp_path / "cache"))
    made = kernel_tree.prepare_default_tree(tarball)
    expected = tarball_entries(tarball)
    got = commit_entries(made.path)
    assert len(got) == len(expected)
    assert got == expected
    assert {".gitignore", ".mailmap", ".clang-format", "mm/ignored.txt", "built-in.o"} <= set(got)


def test_a_tree_made_by_an_older_drainlab_is_made_again(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    tarball = _hostile_tarball(tmp_path)
    monkeypatch.setenv("DRAINLAB_CACHE", str(tmp_path / "cache"))
    made = kernel_tree.prepare_default_tree(tarball)
    first = git(made.path, "rev-parse", "HEAD")
    # What the previous version left: a ready mark without a format line, fewer files.
    git(made.path, "rm", "-q", "--cached", ".mailmap")
    git(made.path, "commit", "-qm", "older tree", env={"GIT_AUTHOR_NAME": "o", "GIT_AUTHOR_EMAIL":
        "o@e", "GIT_COMMITTER_NAME": "o", "GIT_COMMITTER_EMAIL": "o@e"})
    (made.path / ".git" / kernel_tree.READY_MARK).write_text("6.1.0\n")
    src = tmp_path / "cache" / "src" / kernel_tree._src_key(made.path)
    src.mkdir(parents=True)  # the cache checkout that borrowed the old objects
    again = kernel_tree.prepare_default_tree(tarball)
    assert git(again.path, "rev-parse", "HEAD") == first
    assert not src.exists()
    assert not (tmp_path / "cache" / "linux-6.1.partial").exists()
    # Ready now: a third call does nothing.
    mark = (again.path / ".git" / kernel_tree.READY_MARK).stat().st_mtime_ns
    kernel_tree.prepare_default_tree(tarball)
    assert (again.path / ".git" / kernel_tree.READY_MARK).stat().st_mtime_ns == mark


@pytest.mark.realtree
def test_the_default_tree_is_the_debian_tarball_exactly(real_tree: Path) -> None:
    need(kernel_tree.DEBIAN_TARBALL.exists(), "linux-source-6.1 not installed")
    expected = tarball_entries(kernel_tree.DEBIAN_TARBALL)
    got = commit_entries(real_tree)
    missing = sorted(set(expected) - set(got))
    assert not missing, f"{len(missing)} tarball members not committed, e.g. {missing[:5]}"
    assert len(got) == len(expected)
    assert got == expected
    assert git(real_tree, "status", "--porcelain", "--untracked-files=all", "--ignored") == ""
