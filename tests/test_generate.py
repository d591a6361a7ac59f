# SPDX-License-Identifier: GPL-2.0
"""generate(): which commit a series starts from. A half-done git operation is not a base;
uncommitted edits on top of HEAD are refused however HEAD is spelled."""

import os
import subprocess
from pathlib import Path

import pytest
from gitstate import (
    FIXED_GIT_ENV,
    assert_one_line_error,
    git,
    make_repo,
    run_gen,
    snapshot,
)

FIXTURE = Path(__file__).parent / "data" / "fake_linux"
NEUTRAL = {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1", **FIXED_GIT_ENV,
           "GIT_EDITOR": "true"}


def _git_may_fail(repo: Path, *args: str, env: dict[str, str] | None = None) -> None:
    subprocess.run(["git", *args], cwd=repo, capture_output=True, check=False,
                   env={**os.environ, **NEUTRAL, **(env or {})})


def _commit(repo: Path, name: str, text: str, message: str) -> None:
    (repo / name).write_text(text)
    git(repo, "add", name)
    git(repo, "commit", "-qm", message, env=NEUTRAL)


def _conflicting_branches(repo: Path) -> None:
    """master and topic both change notes.txt (not a file gen reads)."""
    _commit(repo, "notes.txt", "base\n", "notes")
    git(repo, "checkout", "-qb", "topic")
    _commit(repo, "notes.txt", "topic\n", "topic notes")
    git(repo, "checkout", "-q", "master")
    _commit(repo, "notes.txt", "master\n", "master notes")


def _rebase(repo: Path) -> None:
    _conflicting_branches(repo)
    _git_may_fail(repo, "rebase", "topic")


def _interactive_rebase(repo: Path) -> None:
    _commit(repo, "notes.txt", "one\n", "one")
    _git_may_fail(repo, "rebase", "-i", "HEAD~1",
                  env={"GIT_SEQUENCE_EDITOR": "sed -i 1s/^pick/edit/"})


def _am(repo: Path) -> None:
    _commit(repo, "notes.txt", "base\n", "notes")
    patch = ("From: T <t@e>\nSubject: [PATCH] change notes\n\n---\n"
             "diff --git a/notes.txt b/notes.txt\n--- a/notes.txt\n+++ b/notes.txt\n"
             "@@ -1 +1 @@\n-not the content\n+new\n")
    (repo.parent / "bad.patch").write_text(patch)
    _git_may_fail(repo, "am", str(repo.parent / "bad.patch"))


def _merge(repo: Path) -> None:
    _conflicting_branches(repo)
    _git_may_fail(repo, "merge", "topic")


def _cherry_pick(repo: Path) -> None:
    _conflicting_branches(repo)
    _git_may_fail(repo, "cherry-pick", "topic")


def _revert(repo: Path) -> None:
    _commit(repo, "notes.txt", "one\n", "one")
    _commit(repo, "notes.txt", "two\n", "two")
    _git_may_fail(repo, "revert", "--no-edit", "HEAD~1")


def _bisect(repo: Path) -> None:
    _commit(repo, "notes.txt", "one\n", "one")
    git(repo, "bisect", "start", env=NEUTRAL)
    git(repo, "bisect", "bad", env=NEUTRAL)


@pytest.mark.parametrize("start, state", [
    (_rebase, "a rebase"), (_interactive_rebase, "a rebase"), (_am, "a git am"),
    (_merge, "a merge"), (_cherry_pick, "a cherry-pick"), (_revert, "a revert"),
    (_bisect, "a bisect"),
])
def test_a_half_done_git_operation_is_refused_unless_base_is_given(tmp_path: Path, start,
                                                                   state: str) -> None:
    tree = make_repo(FIXTURE, tmp_path / "linux")
    start(tree)
    before = snapshot(tree)
    common = ("--variant", "drain-per-range", "--tree", str(tree), "--signoff", "A <a@b.org>",
              "--no-checkpatch", "--no-selftests")
    run = run_gen(*common, cwd=tmp_path, env=NEUTRAL)
    assert_one_line_error(run, f"in the middle of {state}", "--base")
    assert not (tmp_path / "patches").exists()
    inspected = run_gen("inspect", "--tree", str(tree), cwd=tmp_path, env=NEUTRAL)
    assert_one_line_error(inspected, f"in the middle of {state}")
    ok = run_gen(*common, "--base", "HEAD", cwd=tmp_path, env=NEUTRAL)
    assert ok.returncode == 0, ok.stderr
    assert f"warning: {tree} is in the middle of {state}" in ok.stderr
    assert snapshot(tree) == before


@pytest.mark.parametrize("spelling", ["HEAD", "@", "HEAD~0", "HEAD^{commit}", "master",
                                      "refs/heads/master", "<sha>", "<short-sha>"])
def test_uncommitted_edits_are_refused_however_head_is_spelled(tmp_path: Path,
                                                               spelling: str) -> None:
    tree = make_repo(FIXTURE, tmp_path / "linux")
    sha = git(tree, "rev-parse", "HEAD").strip()
    base = spelling.replace("<sha>", sha).replace("<short-sha>", sha[:10])
    path = tree / "mm" / "page_isolation.c"
    path.write_text(path.read_text() + "/* work in progress */\n")
    before = snapshot(tree)
    run = run_gen("--variant", "drain-per-range", "--tree", str(tree), "--base", base,
                  "--signoff", "A <a@b.org>", "--no-checkpatch", "--no-selftests",
                  cwd=tmp_path, env=NEUTRAL)
    assert_one_line_error(run, "uncommitted changes in mm/page_isolation.c")
    assert snapshot(tree) == before


def test_edits_do_not_matter_for_another_base(tmp_path: Path) -> None:
    tree = make_repo(FIXTURE, tmp_path / "linux")
    _commit(tree, "notes.txt", "one\n", "one")
    path = tree / "mm" / "page_isolation.c"
    path.write_text(path.read_text() + "/* work in progress */\n")
    run = run_gen("--variant", "drain-per-range", "--tree", str(tree), "--base", "HEAD~1",
                  "--signoff", "A <a@b.org>", "--no-checkpatch", "--no-selftests",
                  cwd=tmp_path, env=NEUTRAL)
    assert run.returncode == 0, run.stderr


@pytest.mark.parametrize("spelling, ok", [
    ("HEAD@{0}", True), (":/fixture", True), ("HEAD^{/fixture}", True), ("v1", True),
    ("HEAD@{yesterday}", True), ("@{-1}", False), ("HEAD@{5}", False), ("HEAD^{tree}", False),
    ("HEAD:Makefile", False), ("--output=x", False), ("HEAD..HEAD", False), ("a\nb", False),
    ("", False), ("HEAD~99", False),
])
def test_base_is_read_as_git_reads_it(tmp_path: Path, spelling: str, ok: bool) -> None:
    tree = make_repo(FIXTURE, tmp_path / "linux")
    git(tree, "tag", "-a", "v1", "-m", "a tag", env=NEUTRAL)
    run = run_gen("inspect", "--tree", str(tree), f"--base={spelling}", cwd=tmp_path, env=NEUTRAL)
    if ok:
        assert run.returncode == 0, run.stderr
        assert "placement: S3c+P" in run.stdout
    else:
        assert_one_line_error(run, "--base")
        assert not (tmp_path / "x").exists()


def _replace_in_commit(tree: Path, rel: str, how: str) -> None:
    path = tree / rel
    path.unlink()
    if how == "symlink":
        path.symlink_to("page_alloc.c")
    elif how == "directory":
        path.mkdir()
        (path / "inner.c").write_text("int x;\n")
    elif how == "huge":
        path.write_bytes(b"/* big */\n" * (2 << 20))
    elif how == "submodule":  # not checked out: an empty directory, as git leaves it
        path.mkdir()
        sha = git(tree, "rev-parse", "HEAD").strip()
        git(tree, "update-index", "--add", "--cacheinfo", f"160000,{sha},{rel}")
    if how != "submodule":
        git(tree, "add", "-A")
    git(tree, "commit", "-qm", f"{rel} is now a {how}", env=NEUTRAL)


@pytest.mark.parametrize("how, needle", [
    ("symlink", "is a symlink"), ("directory", "is a tree"), ("submodule", "is a submodule"),
    ("huge", "more than 16777216"),
])
def test_hostile_source_files_in_the_tree_are_one_line(tmp_path: Path, how: str,
                                                       needle: str) -> None:
    tree = make_repo(FIXTURE, tmp_path / "linux")
    _replace_in_commit(tree, "mm/page_isolation.c", how)
    before = snapshot(tree, files=("mm/memory_hotplug.c", "mm/page_alloc.c"))
    for args in (("inspect",), ("--variant", "drain-per-range", "--signoff", "A <a@b.org>",
                                "--no-checkpatch", "--no-selftests")):
        run = run_gen(*args, "--tree", str(tree), cwd=tmp_path, env=NEUTRAL, timeout=120)
        assert_one_line_error(run, "mm/page_isolation.c", needle)
    assert snapshot(tree, files=("mm/memory_hotplug.c", "mm/page_alloc.c")) == before
