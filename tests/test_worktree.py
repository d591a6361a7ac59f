# SPDX-License-Identifier: GPL-2.0
"""The cache checkout: apply/reset/Ctrl-C, and the user's tree never changes.

Most tests use a small real git repository (seconds); one runs the same
sequence against the real kernel tree.
"""

import os
import subprocess
from pathlib import Path

import pytest

from generator.errors import UserError
from generator.worktree import Worktree, resolve_base

from conftest import PAGE_ISOLATION, make_patch, need_tool, per_pageblock_patch

ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@x", "GIT_AUTHOR_DATE": "2001-01-01T00:00:00+0000",
    "GIT_COMMITTER_DATE": "2001-01-01T00:00:00+0000",
    # Snapshots must not refresh the index themselves.
    "GIT_OPTIONAL_LOCKS": "0",
}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, env=ENV, check=True, capture_output=True,
                          text=True).stdout


def snapshot(repo: Path) -> dict[str, object]:
    """Everything about the user's repository that must stay byte-identical."""
    gitdir = repo / ".git"
    index = gitdir / "index"
    snap: dict[str, object] = {
        "index": index.read_bytes() if index.exists() else b"",
        "index_mtime": index.stat().st_mtime_ns if index.exists() else 0,
        "HEAD": (gitdir / "HEAD").read_bytes(),
        "packed-refs": (gitdir / "packed-refs").read_bytes() if (gitdir / "packed-refs").exists() else b"",
        "refs": sorted(str(p.relative_to(gitdir)) + ":" + p.read_text()
                       for p in (gitdir / "refs").rglob("*") if p.is_file()),
        "config": (gitdir / "config").read_bytes(),
        "worktrees": sorted(os.listdir(gitdir / "worktrees")) if (gitdir / "worktrees").exists() else [],
    }
    snap["rev-parse HEAD"] = git(repo, "rev-parse", "HEAD")
    snap["show-ref"] = git(repo, "show-ref")
    snap["status"] = git(repo, "status", "--porcelain", "--untracked-files=all")
    snap["stash"] = git(repo, "stash", "list")
    snap["worktree list"] = git(repo, "worktree", "list", "--porcelain")
    return snap


@pytest.fixture
def user_repo(tmp_path: Path) -> Path:
    need_tool("git")
    repo = tmp_path / "user"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "mm").mkdir()
    (repo / "mm" / "a.c").write_text("".join(f"int a{i};\n" for i in range(30)))
    (repo / "mm" / "b.c").write_text("int b;\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    # Some user state that must survive: a stash, a dirty file, an untracked file.
    (repo / "mm" / "b.c").write_text("int b; /* wip */\n")
    git(repo, "stash", "-q")
    (repo / "mm" / "b.c").write_text("int b; /* dirty */\n")
    (repo / "notes.txt").write_text("untracked\n")
    return repo


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_apply_reset_and_user_repo_untouched(user_repo: Path, tmp_path: Path) -> None:
    before = snapshot(user_repo)
    base = resolve_base(user_repo, "HEAD")
    root = tmp_path / "cache-src"
    with Worktree(user_repo, "HEAD", root=root) as wt:
        assert wt.head() == base
        # The cache checkout has the committed content, not the user's dirty edit.
        assert (wt.path / "mm" / "b.c").read_text() == "int b;\n"
        untouched = wt.path / "mm" / "b.c"
        mtime = untouched.stat().st_mtime_ns
        good = make_patch(wt.path, "mm/a.c",
                          (wt.path / "mm/a.c").read_text().replace("int a5;", "int a5 = 5;"),
                          "mm: init a5")
        res = wt.apply_series([write(tmp_path, "0001.patch", good)])
        assert res.status == "ok", res.log
        assert res.applied == 1 and res.conflicting_file is None and res.head != base
        assert "int a5 = 5;" in (wt.path / "mm/a.c").read_text()
        assert wt.changed_files() == ["mm/a.c"]
        wt.reset()
        assert wt.head() == base
        assert "int a5;" in (wt.path / "mm/a.c").read_text()
        # reset rewrote only what the series changed: make keeps the other mtimes.
        assert untouched.stat().st_mtime_ns == mtime
    # The clone is detached and borrows objects; no branch of it moved.
    assert git(wt.path, "rev-parse", "--abbrev-ref", "HEAD").strip() == "HEAD"
    assert (wt.path / ".git/objects/info/alternates").read_text().strip() == str(user_repo / ".git/objects")
    assert snapshot(user_repo) == before


def test_apply_failure_names_the_file_and_resets(user_repo: Path, tmp_path: Path) -> None:
    before = snapshot(user_repo)
    with Worktree(user_repo, "HEAD", root=tmp_path / "src") as wt:
        ok = make_patch(wt.path, "mm/b.c", "int b = 1;\n", "mm: init b")
        # A patch against text the base does not have.
        bad = ok.replace("-int b;\n", "-int bee;\n")
        res = wt.apply_series([write(tmp_path, "0001.patch", ok), write(tmp_path, "0002.patch", bad)])
        assert res.status == "fail"
        assert res.conflicting_file == "mm/b.c"
        assert res.applied == 1
        assert "Patch failed at 0001" in res.log or "patch failed" in res.log
        assert res.head == wt.base
        assert not (wt.path / ".git/rebase-apply").exists()
        assert (wt.path / "mm/b.c").read_text() == "int b;\n"
        # The checkout is usable again at once.
        assert wt.apply_series([write(tmp_path, "ok.patch", ok)]).status == "ok"
    assert snapshot(user_repo) == before


def test_keyboard_interrupt_resets_and_unlocks(user_repo: Path, tmp_path: Path) -> None:
    before = snapshot(user_repo)
    root = tmp_path / "src"
    with pytest.raises(KeyboardInterrupt), Worktree(user_repo, "HEAD", root=root) as wt:
        patch = make_patch(wt.path, "mm/b.c", "int b = 2;\n", "mm: b")
        assert wt.apply_series([write(tmp_path, "p.patch", patch)]).status == "ok"
        raise KeyboardInterrupt
    assert (wt.path / "mm/b.c").read_text() == "int b;\n"
    assert git(wt.path, "rev-parse", "HEAD").strip() == wt.base
    # The lock went with the context: a new run can open the checkout.
    with Worktree(user_repo, "HEAD", root=root) as again:
        assert again.head() == wt.base
    assert snapshot(user_repo) == before


def test_second_run_is_locked_out(user_repo: Path, tmp_path: Path) -> None:
    root = tmp_path / "src"
    with Worktree(user_repo, "HEAD", root=root), \
            pytest.raises(UserError, match="in use by another drainlab run"):
        Worktree(user_repo, "HEAD", root=root).open()


def test_new_user_commits_reach_the_cache_clone(user_repo: Path, tmp_path: Path) -> None:
    root = tmp_path / "src"
    with Worktree(user_repo, "HEAD", root=root) as wt:
        old_base = wt.base
    # The user commits on a side branch (their index/worktree are theirs to change).
    git(user_repo, "checkout", "-q", "-b", "side")
    git(user_repo, "add", "mm/b.c")
    git(user_repo, "commit", "-q", "-m", "side work")
    git(user_repo, "checkout", "-q", "main")
    before = snapshot(user_repo)
    with Worktree(user_repo, "side", root=root) as wt:
        assert wt.base != old_base
        assert wt.head() == wt.base
        assert (wt.path / "mm/b.c").read_text() == "int b; /* dirty */\n"
    assert snapshot(user_repo) == before


def test_unknown_base_is_a_user_error(user_repo: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such commit"):
        Worktree(user_repo, "v9.9-nope", root=tmp_path / "src")


@pytest.mark.realtree
def test_real_tree_byte_identical(real_tree: Path, tmp_path: Path) -> None:
    """Apply ok, apply fail and Ctrl-C on the real kernel tree's cache checkout."""
    before = snapshot(real_tree)
    with Worktree(real_tree, "HEAD") as wt:
        rel = PAGE_ISOLATION
        text = (wt.path / rel).read_text()
        good = per_pageblock_patch(wt.path)
        assert wt.apply_series([write(tmp_path, "good.patch", good)]).status == "ok"
        bad = good.replace("spin_unlock_irqrestore(&zone->lock, flags);\n+",
                           "spin_unlock_irqsave(&zone->lock, flags);\n+")
        res = wt.apply_series([write(tmp_path, "bad.patch", bad)])
        assert res.status == "fail" and res.conflicting_file == rel
    with pytest.raises(KeyboardInterrupt), Worktree(real_tree, "HEAD") as wt:
        assert wt.apply_series([write(tmp_path, "good.patch", good)]).status == "ok"
        raise KeyboardInterrupt
    assert (wt.path / rel).read_text() == text
    assert snapshot(real_tree) == before
