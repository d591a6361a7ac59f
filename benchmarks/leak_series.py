#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A test-only kernel that leaks page isolation on one error path (for bench_power.py).

NOT a catalog variant, never shipped, never for merging: a known-bad
kernel whose only purpose is to show that the stress tests' invariant
checks catch an isolation leak. The edit is computed at run time from the
tree under test (no kernel code lives in this repository):

    offline_pages():  memory_notify(MEM_GOING_OFFLINE) refused
        -> goto failed_removal_isolated      (undo_isolate_page_range(), then
                                              MEM_CANCEL_OFFLINE)
    becomes
        -> goto <new label>                  (after the undo: MEM_CANCEL_OFFLINE only)

so an offline that a memory notifier refuses returns with every pageblock
of the range still MIGRATE_ISOLATE: the /proc/pagetypeinfo Isolate count
stays up, their free pages stay out of MemFree, and the next offline of the
block fails with EBUSY (set_migratetype_isolate() finds it isolated).
Every other path, the success path included, is unchanged.

The function is found and the edit placed with drainlab's tree-sitter
reader (generator/csource.py); a tree whose notifier-failure path does not
start by undoing the isolation is refused (LeakShapeError). The patch is
made with git plumbing in a scratch repository that borrows the tree's
objects through alternates: the user's tree, refs, index and object store
are only read.

    python benchmarks/leak_series.py --out DIR [--tree T] [--base REV]
        writes DIR/leak-isolate/0001-*.patch (for gen run --extra-series)
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tree_sitter import Node

from generator.csource import CFile, callee, walk
from generator.series import Identity, alternate_line, neutral_git_env

NAME = "leak-isolate"  # the extra series' name: its runs go to RESULTS/leak-isolate/
PATH = "mm/memory_hotplug.c"
FUNCTION = "offline_pages"
NOTIFY = "memory_notify"
GOING_OFFLINE = "MEM_GOING_OFFLINE"
UNDO = "undo_isolate_page_range"
NEW_LABEL = "failed_removal_leak_isolated"
SUBJECT = "mm/memory_hotplug: TEST ONLY: leak isolation when a notifier refuses"
MESSAGE = f"""{SUBJECT}

NOT FOR MERGING: a deliberately broken kernel for drainlab's power
benchmark (benchmarks/bench_power.py). When a memory notifier refuses
MEM_GOING_OFFLINE, offline_pages() now skips undo_isolate_page_range()
and leaves every pageblock of the range isolated. The stress tests'
invariant checks must catch it in every boot.
"""
# Fixed identity and date: the same tree gives a byte-identical patch, so
# gen run's kernel cache (keyed by the patch text) hits on every re-run.
IDENTITY = Identity("drainlab power benchmark", "drainlab@localhost")
DATE = "946684800 +0000"


class LeakShapeError(Exception):
    """The tree's offline_pages() does not have the shape the edit needs."""


@dataclass(frozen=True)
class LeakEdit:
    path: str
    before: bytes
    after: bytes
    old_label: str  # the label the notifier failure jumped to (failed_removal_isolated)
    goto_line: int  # 1-based line of the retargeted goto in `before`
    label_line: int  # 1-based line of the new label in `after`


def _refusal_goto(cfile: CFile, function: Node) -> Node:
    """The goto taken when MEM_GOING_OFFLINE is refused: in the first `if` after the
    memory_notify(MEM_GOING_OFFLINE, ...) statement that jumps somewhere."""
    notify = [c for c in cfile.calls(function, (NOTIFY,))
              if (args := c.child_by_field_name("arguments")) is not None
              and args.named_child_count and args.named_children[0].text == GOING_OFFLINE.encode()]
    if len(notify) != 1:
        raise LeakShapeError(f"{FUNCTION}() calls {NOTIFY}({GOING_OFFLINE}, ...) "
                             f"{len(notify)} times, not once")
    stmt: Node | None = CFile.statement_of(notify[0])
    for _ in range(4):  # ret = memory_notify(); ret = notifier_to_errno(ret); if (ret) ...
        stmt = CFile.next_statement(stmt) if stmt is not None else None
        if stmt is not None and stmt.type == "if_statement":
            gotos = [n for n in walk(stmt) if n.type == "goto_statement"]
            if len(gotos) == 1:
                return gotos[0]
            break
    raise LeakShapeError(f"no `if (...) goto` right after {NOTIFY}({GOING_OFFLINE}) in {FUNCTION}()")


def _labeled(function: Node, label: str) -> Node:
    for node in walk(function):
        if node.type == "labeled_statement":
            name = node.child_by_field_name("label")
            if name is not None and name.text == label.encode():
                return node
    raise LeakShapeError(f"no label {label}: in {FUNCTION}()")


def leak_edit(src: bytes, path: str = PATH) -> LeakEdit:
    """The edit of SRC (the bytes of mm/memory_hotplug.c) that makes a refused
    offline skip undo_isolate_page_range(). Errors: LeakShapeError."""
    cfile = CFile(path, src)
    function = cfile.functions.get(FUNCTION)
    if function is None:
        raise LeakShapeError(f"{path} has no {FUNCTION}()")
    if NEW_LABEL.encode() in src:
        raise LeakShapeError(f"{path} already has {NEW_LABEL}")
    goto = _refusal_goto(cfile, function)
    target = goto.child_by_field_name("label")
    assert target is not None and target.text is not None
    label = target.text.decode()
    labeled = _labeled(function, label)
    body = [c for c in labeled.named_children if c.type not in ("statement_identifier", "comment")]
    if not body or body[0].type != "expression_statement" or \
            [callee(c) for c in walk(body[0]) if c.type == "call_expression"][:1] != [UNDO]:
        raise LeakShapeError(f"{label}: in {FUNCTION}() does not start with {UNDO}()")
    undo_end = cfile.line_end(body[0].end_byte)
    after = (src[:target.start_byte] + NEW_LABEL.encode() + src[target.end_byte:undo_end]
             + NEW_LABEL.encode() + b":\n" + src[undo_end:])
    if CFile(path, after).error_count() > cfile.error_count():
        raise LeakShapeError(f"the edit of {FUNCTION}() does not parse")
    label_line = src[:undo_end].count(b"\n") + 1
    return LeakEdit(path, src, after, label, cfile.line_of(goto), label_line)


# -- the patch, with git plumbing in a scratch repository ---------------------

def _git(args: list[str], cwd: Path, env: dict[str, str], stdin: bytes | None = None) -> bytes:
    done = subprocess.run(["git", *args], cwd=cwd, env=env, input=stdin, capture_output=True,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args[:2])} failed: {done.stderr.decode(errors='replace')}")
    return done.stdout


def write_leak_series(tree: Path, base: str, out: Path) -> tuple[Path, LeakEdit]:
    """OUT/leak-isolate/0001-*.patch: the leak as one commit on BASE of TREE.

    The directory appears whole (written beside it, then renamed) and
    replaces a previous one. Returns (directory, edit). Errors:
    LeakShapeError for a tree the edit does not fit, RuntimeError when git fails.
    """
    with tempfile.TemporaryDirectory(prefix="drainlab-leak-") as scratch_dir:
        scratch = Path(scratch_dir)
        env = neutral_git_env(scratch, IDENTITY, DATE)
        # Reads only: rev-parse and cat-file never write to the user's repository.
        commit = _git(["rev-parse", "--verify", "--end-of-options", f"{base}^{{commit}}"],
                      tree, env).decode().strip()
        objects = Path(_git(["rev-parse", "--path-format=absolute", "--git-common-dir"],
                            tree, env).decode().strip()) / "objects"
        mode = _git(["ls-tree", commit, "--", PATH], tree, env).decode().split()[0]
        edit = leak_edit(_git(["cat-file", "blob", f"{commit}:{PATH}"], tree, env))
        repo = scratch / "repo"
        _git(["init", "-q", "--template=", str(repo)], scratch, env)
        (repo / ".git" / "objects" / "info" / "alternates").write_bytes(alternate_line(str(objects)))
        env["GIT_INDEX_FILE"] = str(scratch / "index")
        blob = _git(["hash-object", "-w", "--stdin"], repo, env, edit.after).decode().strip()
        _git(["read-tree", commit], repo, env)
        _git(["update-index", "--cacheinfo", f"{mode},{blob},{PATH}"], repo, env)
        new_tree = _git(["write-tree"], repo, env).decode().strip()
        tip = _git(["commit-tree", new_tree, "-p", commit, "-F", "-"], repo, env,
                   MESSAGE.encode()).decode().strip()
        staging = scratch / NAME
        _git(["format-patch", "--no-color", "--no-signature", f"--base={commit}", "-o", str(staging),
              f"{commit}..{tip}"], repo, env)
        out.mkdir(parents=True, exist_ok=True)
        dest = out / NAME
        tmp = Path(tempfile.mkdtemp(prefix=f".{NAME}-", dir=out))
        shutil.rmtree(tmp)
        shutil.copytree(staging, tmp)
        if dest.exists():
            shutil.rmtree(dest)
        tmp.rename(dest)
    return dest, edit


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, help="kernel git checkout (default: the 6.1 tree)")
    parser.add_argument("--base", default="HEAD")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.tree is None:
        from generator.tree import prepare_default_tree

        args.tree = prepare_default_tree().path
    if not args.tree.is_dir():
        print(f"leak_series: --tree {args.tree} is not a directory: pass a kernel git checkout",
              file=sys.stderr)
        return 2
    if args.out.exists() and not args.out.is_dir():
        print(f"leak_series: --out {args.out} is not a directory: pass a directory (created if "
              "missing)", file=sys.stderr)
        return 2
    try:
        dest, edit = write_leak_series(args.tree, args.base, args.out)
    except (LeakShapeError, RuntimeError) as err:
        print(f"leak_series: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"leak_series: cannot write {args.out}: {err.strerror}: check the path and free "
              "space", file=sys.stderr)
        return 3
    print(f"{dest}: {PATH}:{edit.goto_line} goto {edit.old_label} -> {NEW_LABEL} "
          f"(new label at line {edit.label_line})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
