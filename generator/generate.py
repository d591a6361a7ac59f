# SPDX-License-Identifier: GPL-2.0
"""`gen --variant NAME`: variant -> edits -> commits -> series (-> checkpatch, selftests)."""

from dataclasses import dataclass
from pathlib import Path

import git

from generator import series as series_mod
from generator import tree as kernel_tree
from generator.catalog import Catalog, load_catalog
from generator.errors import UserError
from generator.placement import Placement
from generator.series import Identity, Series


@dataclass(frozen=True)
class TreeRequest:
    tree: Path | None  # None: the default linux-source-6.1 tree
    base: str
    catalog_dirs: tuple[Path, ...]


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
    files = series_mod.read_files(opened.repo, request.base, series_mod.site_files(opened.catalog))
    return opened, series_mod.placement_at(opened.catalog, files)


def identity(repo: git.Repo, signoff: str | None) -> Identity:
    """--signoff "Name <mail>", else the tree's git config (as git itself reads it)."""
    if signoff is not None:
        m = series_mod.IDENTITY_RE.match(signoff)
        if not m:
            raise UserError(f"--signoff {signoff!r} is not 'Name <mail@host>'",
                            'pass --signoff "Your Name <you@example.org>"')
        return Identity(m.group("name"), m.group("email"))
    values = []
    for key in ("user.name", "user.email"):
        try:
            values.append(repo.git.config("--get", key).strip())
        except git.GitCommandError:
            values.append("")
    if not all(values):
        raise UserError("no git identity for Signed-off-by (user.name/user.email unset)",
                        'run git config --global user.name/user.email, or pass --signoff "Name <mail>"')
    return Identity(values[0], values[1])


def refuse_dirty(repo: git.Repo, base: str, paths: list[str]) -> None:
    """Uncommitted edits to the files we rewrite would be silently left out."""
    if base != "HEAD":
        return
    # --no-optional-locks: a plain status may rewrite the user's index.
    dirty = repo.git.execute(["git", "--no-optional-locks", "status", "--porcelain",
                              "--untracked-files=no", "--", *paths], strip_newline_in_stdout=False)
    if dirty.strip():
        files = ", ".join(line[3:] for line in dirty.splitlines() if line.strip())
        raise UserError(f"the tree has uncommitted changes in {files}",
                        "commit or stash them, or pass --base REV")


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
    refuse_dirty(opened.repo, request.base, series_mod.site_files(catalog))
    plan = series_mod.plan_series(catalog, variant, opened.repo, request.base,
                                  opened.tree, signoff)
    tip = series_mod.write_commits(opened.repo, plan, signoff, request.timestamp)
    # The variant name is validated ([a-z0-9-]+), so it is safe as a path part.
    out_dir = (request.out_dir / variant.name).resolve()
    return series_mod.format_patches(opened.repo, catalog, plan, tip, out_dir)
