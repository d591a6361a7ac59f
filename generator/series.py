# SPDX-License-Identifier: GPL-2.0
"""Turn a variant into commits and a `git format-patch` series.

Commits are written with object plumbing only (blobs, trees, commit objects
in the object store): no checkout, no index, no ref or HEAD update. The
user's tree, branch, index, stash and files stay byte-identical; the only
trace is unreachable objects that `git gc` prunes.
"""

import io
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import git
from git.objects.fun import tree_entries_from_data, tree_to_stream
from gitdb.base import IStream

from generator import names, render
from generator.catalog import Catalog, Variant, expected_drains
from generator.csource import CFile
from generator.errors import UserError
from generator.placement import Placement, read_placement
from generator.sourceedit import edit_file
from generator.tree import KernelTree
from generator.verify import verify_file

IDENTITY_RE = re.compile(r"^\s*(?P<name>[^<>]+?)\s*<(?P<email>[^<>\s]+@[^<>\s]+)>\s*$")
SUBJECT_MAX = 75  # checkpatch: no longer lines in a commit message


@dataclass(frozen=True)
class Identity:
    name: str
    email: str

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


@dataclass(frozen=True)
class PlannedCommit:
    subject: str
    message: str
    added: tuple[str, ...]
    removed: tuple[str, ...]
    files: tuple[tuple[str, bytes], ...]  # (path, new content) for changed files


@dataclass(frozen=True)
class SeriesPlan:
    variant: Variant
    base: str
    tree: KernelTree
    before: Placement
    after: Placement
    commits: tuple[PlannedCommit, ...]


@dataclass(frozen=True)
class Series:
    plan: SeriesPlan
    tip: str
    directory: Path
    patches: tuple[Path, ...]  # 0001.. (the cover letter is separate)
    cover: Path | None


# -- reading the base ------------------------------------------------------

def read_files(repo: git.Repo, base: str, paths: list[str]) -> dict[str, bytes]:
    commit = resolve(repo, base)
    out = {}
    for path in paths:
        try:
            out[path] = (commit.tree / path).data_stream.read()
        except KeyError:
            raise UserError(f"{path} not found at {base}",
                            "pass a kernel tree with page isolation (mm/page_isolation.c)") from None
    return out


def resolve(repo: git.Repo, rev: str) -> git.Commit:
    try:
        return repo.commit(rev)
    except (git.BadName, ValueError, git.GitCommandError):
        raise UserError(f"--base {rev} is not a commit in {repo.working_tree_dir}",
                        "pass a commit, branch or tag of that tree") from None


def placement_at(catalog: Catalog, files: dict[str, bytes]) -> Placement:
    return read_placement(catalog, {p: CFile(p, src) for p, src in files.items()})


def site_files(catalog: Catalog) -> list[str]:
    return sorted({s.file for s in catalog.sites.values()})


# -- planning --------------------------------------------------------------

def _message(catalog: Catalog, variant: Variant, spec_index: int, added: list[str],
             removed: list[str], before: frozenset[str], after: frozenset[str],
             signoff: Identity) -> tuple[str, str]:
    spec = variant.commits[spec_index]
    where = f"{variant.source}: commit {spec_index + 1} subject"
    subject = render.render_string(spec.subject, where, variant=variant).strip()
    if len(subject) > SUBJECT_MAX:
        raise UserError(f"{where} is {len(subject)} characters", f"keep it <= {SUBJECT_MAX}")
    body = render.render(
        spec.body,
        commit=spec,
        variant=variant,
        added=[catalog.sites[s] for s in added],
        removed=[catalog.sites[s] for s in removed],
        # Only the reasons for what this tree's commit really removes.
        reasons=[text for sid, text in spec.removing if sid in removed],
        drains_before=expected_drains(before, catalog.sites, "offline"),
        drains_after=expected_drains(after, catalog.sites, "offline"),
    ).strip()
    return subject, f"{subject}\n\n{body}\n\nSigned-off-by: {signoff}\n"


def plan_series(catalog: Catalog, variant: Variant, repo: git.Repo, base: str,
                tree: KernelTree, signoff: Identity) -> SeriesPlan:
    """Edits per commit, each verified (verify.py) before any object is written.

    Raises UserError (one line) when this tree cannot take the variant.
    """
    paths = site_files(catalog)
    files = read_files(repo, base, paths)
    decls = names.git_tree_decls(repo, resolve(repo, base).hexsha)
    before = placement_at(catalog, files)
    current = set(before.sites)
    commits = []
    for index, spec in enumerate(variant.commits):
        removed = [s for s in spec.sites if s in current and s not in variant.sites]
        added = [s for s in spec.sites if s not in current and s in variant.sites]
        if not removed and not added:
            continue
        changed = {}
        for path in paths:
            rm = [s for s in removed if catalog.sites[s].file == path]
            add = [s for s in added if catalog.sites[s].file == path]
            if rm or add:
                changed[path] = edit_file(catalog, path, files[path], rm, add, decls)
                verify_file(catalog, path, files[path], changed[path], add, decls)
        new = (current - set(removed)) | set(added)
        subject, message = _message(catalog, variant, index, added, removed,
                                    frozenset(current), frozenset(new), signoff)
        files.update(changed)
        current = new
        commits.append(PlannedCommit(subject, message, tuple(added), tuple(removed),
                                     tuple(sorted(changed.items()))))
    after = placement_at(catalog, files)
    if after.sites != variant.sites:
        # The verifier passed, yet the placement reads differently: name the
        # sites, so the refusal says which shape this tree has that we do not handle.
        missing = sorted(variant.sites - after.sites)
        extra = sorted(after.sites - variant.sites)
        reads = "+".join(sorted(after.sites)) or "none"
        around = ", ".join(catalog.sites[s].title for s in missing + extra)
        raise UserError(
            f"{variant.name}: after the edits this tree reads as {reads} (missing "
            f"{missing or 'nothing'}, extra {extra or 'nothing'}): its code around {around} "
            "has a shape drainlab does not place",
            "pick another variant or patch it by hand")
    return SeriesPlan(variant, resolve(repo, base).hexsha, tree, before, after,
                      tuple(commits))


# -- writing commits with plumbing ----------------------------------------

def _store(repo: git.Repo, kind: bytes, data: bytes) -> bytes:
    binsha: bytes = repo.odb.store(IStream(kind, len(data), io.BytesIO(data))).binsha
    return binsha


def _replace_in_tree(repo: git.Repo, tree_sha: bytes, parts: list[str], blob: bytes) -> bytes:
    entries = tree_entries_from_data(repo.odb.stream(tree_sha).read())
    name = parts[0].encode()
    out = []
    for sha, mode, entry in entries:
        if entry.encode("utf-8", "surrogateescape") == name:
            sha = blob if len(parts) == 1 else _replace_in_tree(repo, sha, parts[1:], blob)
        out.append((sha, mode, entry))
    stream = io.BytesIO()
    tree_to_stream(out, stream.write)
    return _store(repo, b"tree", stream.getvalue())


def _timestamp() -> int:
    # SOURCE_DATE_EPOCH makes the series byte-reproducible (golden tests, range-diffs).
    return int(os.environ.get("SOURCE_DATE_EPOCH") or time.time())


def write_commits(repo: git.Repo, plan: SeriesPlan, signoff: Identity,
                  timestamp: int | None = None) -> str:
    """Commit objects for the plan on top of its base; returns the tip commit id.

    timestamp fixes the dates (a run wants identical patches every time, so
    its kernel cache hits); by default, SOURCE_DATE_EPOCH or now.
    """
    parent = repo.commit(plan.base)
    actor = git.Actor(signoff.name, signoff.email)
    stamp = _timestamp() if timestamp is None else timestamp
    for n, planned in enumerate(plan.commits):
        tree = parent.tree.binsha
        for path, content in planned.files:
            tree = _replace_in_tree(repo, tree, path.split("/"), _store(repo, b"blob", content))
        date = f"{stamp + n} +0000"
        parent = git.Commit.create_from_tree(
            repo, git.Tree(repo, tree), planned.message, parent_commits=[parent], head=False,
            author=actor, committer=actor, author_date=date, commit_date=date)
    return parent.hexsha


# -- format-patch ---------------------------------------------------------

def _mark(on: bool) -> str:
    return "yes" if on else "-"


def _placement_table(catalog: Catalog, before: frozenset[str], after: frozenset[str]) -> str:
    # Fits 75 columns, the width reviewers' mail readers expect.
    rows = [f"  {'site':<5}{'before':<7}{'after':<6}where"]
    for sid, site in catalog.sites.items():
        rows.append(f"  {sid:<5}{_mark(sid in before):<7}{_mark(sid in after):<6}{site.title}")
    return "\n".join(rows) + "\n"


def _fill_cover(path: Path, catalog: Catalog, plan: SeriesPlan) -> None:
    text = path.read_text()
    blurb = render.render(
        "cover-letter.txt.j2",
        variant=plan.variant,
        tree_version=plan.tree.version,
        placement_table=_placement_table(catalog, plan.before.sites, plan.after.sites),
        drains_before=expected_drains(plan.before.sites, catalog.sites, "offline"),
        drains_after=expected_drains(plan.after.sites, catalog.sites, "offline"),
    ).rstrip("\n")
    text = text.replace("*** SUBJECT HERE ***", plan.variant.cover_subject, 1)
    text = text.replace("*** BLURB HERE ***", blurb, 1)
    path.write_text(text)


def format_patches(repo: git.Repo, catalog: Catalog, plan: SeriesPlan, tip: str,
                   out_dir: Path) -> Series:
    """`git format-patch --cover-letter --base` into out_dir, replacing old patches."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.patch"):
        old.unlink()
    if not plan.commits:
        return Series(plan, tip, out_dir, (), None)
    # Pin what user config could change: prefixes (git am needs a/ b/),
    # numbering, sign-off, threading; this is the series reviewers get.
    names = repo.git.execute([
        "git", "-c", "diff.noprefix=false", "-c", "diff.mnemonicPrefix=false",
        "-c", "format.signOff=false", "-c", "format.coverFromDescription=message",
        "format-patch", "--cover-letter", "--numbered", "--subject-prefix=PATCH",
        f"--base={plan.base}", "--no-attach", "--no-color", "-o", str(out_dir),
        f"{plan.base}..{tip}",
    ]).split("\n")
    files = [Path(n) if os.path.isabs(n) else Path(repo.working_tree_dir or ".") / n
             for n in names if n.strip()]
    cover = next((f for f in files if f.name.startswith("0000-")), None)
    if cover is not None:
        _fill_cover(cover, catalog, plan)
    return Series(plan, tip, out_dir, tuple(f for f in files if f != cover), cover)


def clear_output(out_dir: Path) -> None:
    if out_dir.is_dir():
        shutil.rmtree(out_dir)
