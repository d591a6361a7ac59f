# SPDX-License-Identifier: GPL-2.0
"""`gen --variant NAME`: variant -> edits -> commits -> series (-> checkpatch, selftests)."""

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import git

from generator import series as series_mod
from generator import tree as kernel_tree
from generator.catalog import Catalog, header_problem, load_catalog
from generator.errors import UserError
from generator.placement import Placement
from generator.series import Identity, Series


@dataclass(frozen=True)
class TreeRequest:
    tree: Path | None  # None: the default linux-source-6.1 tree
    base: str
    catalog_dirs: tuple[Path, ...]
    # --base given on the command line (even as HEAD): the user chose the commit,
    # so a rebase or merge in progress is a warning, not a refusal.
    base_given: bool = field(default=False, kw_only=True)


@dataclass(frozen=True)
class GenerateRequest(TreeRequest):
    variant: str
    out_dir: Path  # the series goes to out_dir/<variant>
    signoff: str | None
    # Fixed commit dates make the series byte-identical run after run (gen run
    # keys its kernel cache on the patch text); None = now / SOURCE_DATE_EPOCH.
    timestamp: int | None = None
    # gen run still works without a git identity: its series never leave the cache.
    fallback_signoff: bool = False


@dataclass(frozen=True)
class OpenedTree:
    tree: kernel_tree.KernelTree
    repo: git.Repo
    catalog: Catalog


def open_request(request: TreeRequest, catalog: Catalog | None = None) -> OpenedTree:
    catalog = catalog or load_catalog(request.catalog_dirs)
    tree = (kernel_tree.open_tree(request.tree) if request.tree is not None
            else kernel_tree.prepare_default_tree())
    return OpenedTree(tree, git.Repo(tree.path), catalog)


def inspect(request: TreeRequest) -> tuple[OpenedTree, Placement]:
    opened = open_request(request)
    check_operation(opened.repo, request.base_given)
    files = series_mod.read_files(opened.repo, request.base, series_mod.site_files(opened.catalog))
    return opened, series_mod.placement_at(opened.catalog, files)


NAME_MAX = 128
EMAIL_MAX = 254  # RFC 5321's limit for a forward path
EMAIL_RE = re.compile(r"^[^@\s<>\"(),;:\\\[\]]+@[^@\s<>\"(),;:\\\[\]]+$")


def check_identity(name: str, email: str, where: str) -> Identity:
    """NAME <EMAIL> for From: and Signed-off-by:; UserError naming WHERE when it cannot be."""
    for what, value, limit in (("name", name, NAME_MAX), ("email", email, EMAIL_MAX)):
        problem = header_problem(value, limit)
        if problem:
            raise UserError(f"{where}: the {what} {problem}",
                            'an identity is one printable line: "Your Name <you@example.org>"')
    if "<" in name or ">" in name:
        raise UserError(f"{where}: the name holds '<' or '>'", 'pass "Your Name <you@example.org>"')
    if not EMAIL_RE.match(email):
        raise UserError(f"{where}: {email!r} is not a mail address", "pass an address like you@example.org")
    return Identity(name, email)


def identity(repo: git.Repo, signoff: str | None) -> Identity:
    """--signoff "Name <mail>", else the identity git itself would sign off with.

    That is git's committer identity for the tree (GIT_COMMITTER_NAME/EMAIL,
    committer.*, user.*, in git's order), read with `git var` and
    user.useConfigOnly so git never guesses one from the host name. Errors:
    UserError for a missing identity or one that cannot go into a header.
    """
    if signoff is not None:
        m = series_mod.IDENTITY_RE.match(signoff)
        if "\n" in signoff or "\r" in signoff or not m:
            problem = header_problem(signoff, NAME_MAX + EMAIL_MAX + 3) or "is not 'Name <mail@host>'"
            raise UserError(f"--signoff {signoff[:80]!r} {problem}",
                            'pass --signoff "Your Name <you@example.org>" (one line)')
        return check_identity(m.group("name"), m.group("email"), "--signoff")
    status, out, err = repo.git.execute(
        ["git", "-c", "user.useConfigOnly=true", "var", "GIT_COMMITTER_IDENT"],
        with_extended_output=True, with_exceptions=False)
    m = series_mod.IDENTITY_RE.match(str(out).rsplit(" ", 2)[0]) if status == 0 else None
    if m is None:
        why = next((line[len("fatal: "):] for line in str(err).splitlines()
                    if line.startswith("fatal: ")), "user.name/user.email unset")
        raise UserError(f"no git identity for Signed-off-by ({why})",
                        'run git config --global user.name/user.email, or pass --signoff "Name <mail>"')
    return check_identity(m.group("name"), m.group("email"), "your git identity")


# Files git keeps in the git directory while an operation is half done.
OPERATIONS = (
    ("rebase-merge", "a rebase", "git rebase --continue or --abort"),
    ("rebase-apply/applying", "a git am", "git am --continue or --abort"),
    ("rebase-apply", "a rebase", "git rebase --continue or --abort"),
    ("MERGE_HEAD", "a merge", "git merge --continue or --abort"),
    ("CHERRY_PICK_HEAD", "a cherry-pick", "git cherry-pick --continue or --abort"),
    ("REVERT_HEAD", "a revert", "git revert --continue or --abort"),
    ("sequencer", "a cherry-pick or revert sequence", "git cherry-pick/revert --continue or --abort"),
    ("BISECT_LOG", "a bisect", "git bisect reset"),
)


def operation_in_progress(repo: git.Repo) -> tuple[str, str] | None:
    """(what, how to end it) when the tree is in the middle of a git operation, else None."""
    dirs = [Path(repo.git_dir), Path(repo.common_dir)]
    for name, what, fix in OPERATIONS:
        if any((d / name).exists() for d in dirs):
            return what, fix
    return None


def check_operation(repo: git.Repo, base_given: bool) -> None:
    """HEAD in the middle of a rebase, am, merge, ... is not a base anyone chose."""
    state = operation_in_progress(repo)
    if state is None:
        return
    what, fix = state
    if not base_given:
        raise UserError(f"{repo.working_tree_dir} is in the middle of {what} (HEAD is a "
                        "half-done state)", f"finish it ({fix}), or pass --base REV to use a commit anyway")
    print(f"gen: warning: {repo.working_tree_dir} is in the middle of {what}; using --base as given",
          file=sys.stderr)


def refuse_dirty(repo: git.Repo, base: str, paths: list[str]) -> None:
    """Uncommitted edits to the files we rewrite would be silently left out.

    Applies when BASE is HEAD however it is spelled (@, HEAD~0, the branch
    name, the commit id): the edits sit on top of exactly that commit.
    """
    try:
        head = repo.head.commit.hexsha
    except ValueError:  # an unborn branch: resolve() names the problem
        return
    if series_mod.resolve(repo, base).hexsha != head:
        return
    # --no-optional-locks: a plain status may rewrite the user's index.
    dirty = repo.git.execute(["git", "--no-optional-locks", "status", "--porcelain",
                              "--untracked-files=no", "--", *paths], strip_newline_in_stdout=False)
    if dirty.strip():
        files = ", ".join(line[3:] for line in dirty.splitlines() if line.strip())
        raise UserError(f"the tree has uncommitted changes in {files}",
                        "commit or stash them first (gen starts from the commit, without them)")


def generate(request: GenerateRequest) -> Series:
    catalog = load_catalog(request.catalog_dirs)
    variant = catalog.variant(request.variant)  # fail on a bad name before any tree work
    opened = open_request(request, catalog)
    try:
        signoff = identity(opened.repo, request.signoff)
    except UserError:
        if not request.fallback_signoff:
            raise
        signoff = Identity("drainlab", "drainlab@localhost")
    check_operation(opened.repo, request.base_given)
    refuse_dirty(opened.repo, request.base, series_mod.site_files(catalog))
    plan = series_mod.plan_series(catalog, variant, opened.repo, request.base,
                                  opened.tree, signoff)
    tip = series_mod.write_commits(opened.repo, plan, signoff, request.timestamp)
    # The variant name is validated ([a-z0-9-]+), so it is safe as a path part.
    out_dir = (request.out_dir / variant.name).resolve()
    return series_mod.format_patches(opened.repo, catalog, plan, tip, out_dir)
