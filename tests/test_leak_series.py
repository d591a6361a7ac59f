# SPDX-License-Identifier: GPL-2.0
"""benchmarks/leak_series.py: the test-only isolation-leak kernel of the power benchmark.

The edit is checked on a small C file written for this test (the shape of
offline_pages(): a notifier call, an `if (ret) goto`, an undo label) and on
the real 6.1 tree: the patch applies in the cache checkout, changes only the
notifier failure path, compiles, and leaves the user's tree byte-identical.
"""

import subprocess
import sys
from pathlib import Path

import pytest
from gitstate import git, make_repo, snapshot

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import leak_series  # noqa: E402

SHAPE = b"""\
int offline_pages(unsigned long first, unsigned long count)
{
\tint ret;

\tret = isolate_all(first, count);
\tif (ret)
\t\tgoto out;
\tret = memory_notify(MEM_GOING_OFFLINE, &info);
\tret = notifier_to_errno(ret);
\tif (ret) {
\t\twhy = "refused";
\t\tgoto undo_isolation;
\t}
\tret = move_everything(first, count);
\tif (ret)
\t\tgoto undo_isolation;
\treturn 0;

undo_isolation:
\tundo_isolate_page_range(first, first + count, 1);
\tmemory_notify(MEM_CANCEL_OFFLINE, &info);
out:
\treturn ret;
}
"""


def test_the_refused_offline_jumps_past_the_undo_and_nothing_else_moves() -> None:
    edit = leak_series.leak_edit(SHAPE, "fixture.c")
    assert edit.old_label == "undo_isolation"
    after = edit.after.decode().splitlines()
    assert after[edit.goto_line - 1] == f"\t\tgoto {leak_series.NEW_LABEL};"
    assert after[edit.label_line - 1] == f"{leak_series.NEW_LABEL}:"
    assert after[edit.label_line - 2] == "\tundo_isolate_page_range(first, first + count, 1);"
    assert after[edit.label_line] == "\tmemory_notify(MEM_CANCEL_OFFLINE, &info);"
    # The other goto to the undo label (a failed migration) still undoes.
    assert after.count("\t\tgoto undo_isolation;") == 1
    before = SHAPE.decode().splitlines()
    assert [line for line in after if line not in before] == \
        [f"\t\tgoto {leak_series.NEW_LABEL};", f"{leak_series.NEW_LABEL}:"]
    assert len(after) == len(before) + 1


@pytest.mark.parametrize("change,why", [
    (b"memory_notify(MEM_GOING_OFFLINE", b"memory_notify(MEM_GOING_ONLINE"),
    (b"\tundo_isolate_page_range(first, first + count, 1);\n", b""),
    (b"\t\twhy = \"refused\";\n\t\tgoto undo_isolation;\n", b"\t\twhy = \"refused\";\n"),
    (b"int offline_pages(", b"int offline_range("),
], ids=["no-notifier-call", "label-does-not-undo", "no-goto", "no-function"])
def test_a_tree_of_another_shape_is_refused(change: bytes, why: bytes) -> None:
    with pytest.raises(leak_series.LeakShapeError):
        leak_series.leak_edit(SHAPE.replace(change, why), "fixture.c")


def test_a_tree_already_holding_the_label_is_refused() -> None:
    with pytest.raises(leak_series.LeakShapeError, match="already has"):
        leak_series.leak_edit(SHAPE + f"/* {leak_series.NEW_LABEL} */\n".encode(), "fixture.c")


def test_the_patch_is_written_whole_and_reproducibly(tmp_path: Path) -> None:
    src = tmp_path / "src" / "mm"
    src.mkdir(parents=True)
    (src / "memory_hotplug.c").write_bytes(SHAPE)
    repo = make_repo(tmp_path / "src", tmp_path / "repo")
    before = snapshot(repo, ("mm/memory_hotplug.c",))
    objects = sorted(p.name for p in (repo / ".git" / "objects").rglob("*"))
    first, _ = leak_series.write_leak_series(repo, "HEAD", tmp_path / "out")
    text = [p.read_bytes() for p in sorted(first.iterdir())]
    again, _ = leak_series.write_leak_series(repo, "HEAD", tmp_path / "out")
    assert first == again == tmp_path / "out" / "leak-isolate"
    assert [p.read_bytes() for p in sorted(again.iterdir())] == text
    assert len(text) == 1 and b"Subject: [PATCH] mm/memory_hotplug: TEST ONLY" in text[0]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["leak-isolate"]
    # The user's repository: byte-identical, not one object added.
    assert snapshot(repo, ("mm/memory_hotplug.c",)) == before
    assert sorted(p.name for p in (repo / ".git" / "objects").rglob("*")) == objects
    # And it applies on the base with git am.
    git(repo, "checkout", "-q", "-b", "leak")
    git(repo, "am", "-q", str(next(first.iterdir())))
    assert (repo / "mm" / "memory_hotplug.c").read_bytes() == leak_series.leak_edit(SHAPE).after


@pytest.mark.realtree
def test_on_the_real_tree_only_the_notifier_failure_path_changes(real_tree: Path, tmp_path: Path) -> None:
    from generator.worktree import Worktree

    before = snapshot(real_tree)
    directory, edit = leak_series.write_leak_series(real_tree, "HEAD", tmp_path)
    assert snapshot(real_tree) == before
    with Worktree(real_tree, "HEAD") as wt:
        applied = wt.apply_series(sorted(directory.glob("0001-*.patch")))
        assert applied.status == "ok", applied.log
        assert wt.changed_files() == ["mm/memory_hotplug.c"]
        diff = git(wt.path, "diff", "-U0", wt.base, "HEAD")
    changed = [line for line in diff.splitlines()
               if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert changed == ["-\t\tgoto failed_removal_isolated;",
                       f"+\t\tgoto {leak_series.NEW_LABEL};",
                       f"+{leak_series.NEW_LABEL}:"]
    # The refusal is the MEM_GOING_OFFLINE notifier's; the label sits after the undo.
    lines = edit.after.decode().splitlines()
    assert 'reason = "notifier failure";' in lines[edit.goto_line - 2]
    assert lines[edit.label_line - 2].strip().startswith("undo_isolate_page_range(")
    assert lines[edit.label_line].strip() == "memory_notify(MEM_CANCEL_OFFLINE, &arg);"


@pytest.mark.realtree
@pytest.mark.kernel
def test_the_leak_kernel_compiles(built_kernel, tmp_path: Path) -> None:
    from generator import build
    from generator.worktree import Worktree

    directory, _ = leak_series.write_leak_series(built_kernel.user_tree, "HEAD", tmp_path)
    with Worktree(built_kernel.user_tree, "HEAD") as wt:
        assert wt.apply_series(sorted(directory.glob("0001-*.patch"))).status == "ok"
        res = build.build_objects(wt.path, built_kernel.build_dir, ["mm/memory_hotplug.o"],
                                  log_path=tmp_path / "objects.log")
    assert res.ok, res.log_tail
    assert "CC      mm/memory_hotplug.o" in (tmp_path / "objects.log").read_text()


@pytest.mark.parametrize("tree_is_file", [False, True])
def test_a_missing_tree_or_a_file_for_out_is_one_line(tmp_path: Path, tree_is_file: bool) -> None:
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "leak_series.py"
    (tmp_path / "afile").write_text("x")
    args = ["--tree", str(tmp_path), "--out", str(tmp_path / "afile")] if tree_is_file else \
        ["--tree", str(tmp_path / "gone"), "--out", str(tmp_path / "out")]
    done = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "is not a directory" in done.stderr
    assert not (tmp_path / "out").exists()
