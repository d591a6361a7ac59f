# SPDX-License-Identifier: GPL-2.0
"""Turn a variant into commits and a `git format-patch` series.

Commits are written with object plumbing only (blobs, trees, commit objects
in the object store): no checkout, no index, no ref or HEAD update. The
user's tree, branch, index, stash and files stay byte-identical; the only
trace is unreachable objects that `git gc` prunes.
"""

import email.charset
import email.header
import io
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import git
from git.objects.fun import tree_entries_from_data, tree_to_stream
from gitdb.base import IStream

from generator import names, ops, outdir, render
from generator.catalog import Catalog, Variant, check_subject, expected_drains
from generator.csource import CFile
from generator.errors import InfraError, UserError
from generator.placement import Placement, read_placement
from generator.sourceedit import edit_file
from generator.tree import KernelTree
from generator.verify import verify_file

IDENTITY_RE = re.compile(r"^\s*(?P<name>[^<>]+?)\s*<(?P<email>[^<>\s]+@[^<>\s]+)>\s*$")
SUBJECT_MAX = 75  # checkpatch: no longer lines in a commit message
# What git mailinfo treats specially in a commit message sent as a mail.
IN_BODY_HEADER_RE = re.compile(r"^(From|Subject|Date|Author)\s*:", re.IGNORECASE)
PATCH_BREAK_RE = re.compile(r"^(---(\s|$)|diff -|Index: )")


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
    replaced: tuple[str, ...] = ()  # gen's previous files in directory, now gone or rewritten
    kept: tuple[str, ...] = ()  # files in directory gen did not write, left alone


# -- reading the base ------------------------------------------------------

SOURCE_MAX = 16 << 20  # mm/page_alloc.c is ~250 KB; tree-sitter holds a few times that


def read_files(repo: git.Repo, base: str, paths: list[str]) -> dict[str, bytes]:
    """The bytes of PATHS in commit BASE (the object store, never the worktree).

    Errors: UserError when a path is missing, is not a regular file in that
    commit (a symlink, a directory, a submodule) or is over SOURCE_MAX bytes.
    """
    commit = resolve(repo, base)
    out = {}
    for path in paths:
        try:
            entry = commit.tree / path
        except KeyError:
            raise UserError(f"{path} not found at {base}",
                            "pass a kernel tree with page isolation (mm/page_isolation.c)") from None
        kind = {0o120000: "a symlink", 0o160000: "a submodule"}.get(entry.mode & 0o170000)
        if entry.type != "blob" or kind:
            raise UserError(f"{path} at {base} is {kind or 'a ' + str(entry.type)}, "
                            "not a regular file", "pass a kernel tree with its C source files")
        if entry.size > SOURCE_MAX:
            raise UserError(f"{path} at {base} is {entry.size} bytes, more than {SOURCE_MAX}",
                            "is this a kernel tree? mm/*.c files are a few hundred KB")
        out[path] = entry.data_stream.read()
    return out


def _rev_parse(repo: git.Repo, spelling: str) -> str | None:
    status, out, _ = repo.git.execute(
        ["git", "rev-parse", "--verify", "--quiet", "--end-of-options", spelling],
        with_extended_output=True, with_exceptions=False)
    sha = str(out).strip()
    return sha if status == 0 and re.fullmatch(r"[0-9a-f]{40}([0-9a-f]{24})?", sha) else None


def resolve(repo: git.Repo, rev: str) -> git.Commit:
    """REV as git itself reads it (any spelling git accepts: @, HEAD@{1}, :/text, tags).

    Errors: UserError naming REV when git finds no commit for it (a tree, a
    blob, an option, nothing at all).
    """
    # Two steps: ":/text^{commit}" would search for the text "text^{commit}".
    found = _rev_parse(repo, rev) if rev.strip() else None
    commit = _rev_parse(repo, f"{found}^{{commit}}") if found else None
    if commit is None:
        raise UserError(f"--base {rev[:80]!r} is not a commit in {repo.working_tree_dir}",
                        "pass a commit, branch or tag of that tree")
    return repo.commit(commit)


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


def check_message(message: str, where: str) -> None:
    """The commit message's first line becomes a Subject: header: one line, <= 75 columns.

    A subject that git would fold into the next line (no blank line after
    it) or that holds control characters is a UserError naming WHERE.
    """
    subject, _, rest = message.partition("\n")
    check_subject(subject, where + " subject")
    if rest and not rest.startswith("\n"):
        raise UserError(f"{where}: the subject is followed by text on the next line "
                        f"(git would fold it into the Subject: header): {subject[:60]!r}",
                        "keep the subject one line, then a blank line")
    bad = next((c for c in message if not (c.isprintable() or c in "\n\t")), None)
    if bad is not None:
        raise UserError(f"{where}: the message holds the control character {bad!r}",
                        "use printable text only")
    # git am reads the mail back: an in-body header at the top of the body
    # changes the author or subject, and a "---" or "diff -" line ends the
    # message there (the rest would be taken for the patch).
    body = rest.strip("\n")
    if IN_BODY_HEADER_RE.match(body):
        raise UserError(f"{where}: the body starts with a mail header line "
                        f"({body.splitlines()[0][:40]!r}) that git am would take as one",
                        "start the rationale with a plain sentence")
    cut = next((line for line in body.splitlines() if PATCH_BREAK_RE.match(line)), None)
    if cut is not None:
        raise UserError(f"{where}: the body has the line {cut[:40]!r}, where git am would "
                        "end the message", "reword the rationale")


def _commit_object(tree: str, parent: str, who: Identity, date: str, message: str) -> bytes:
    # Written by hand, not with GitPython's Commit.create_from_tree, which reads
    # i18n.commitEncoding from the user's config into the object.
    ident = f"{who.name} <{who.email}> {date}"
    return (f"tree {tree}\nparent {parent}\nauthor {ident}\ncommitter {ident}\n\n{message}"
            ).encode()


def write_commits(repo: git.Repo, plan: SeriesPlan, signoff: Identity,
                  timestamp: int | None = None) -> str:
    """Commit objects for the plan on top of its base; returns the tip commit id.

    timestamp fixes the dates (a run wants identical patches every time, so
    its kernel cache hits); by default, SOURCE_DATE_EPOCH or now. Commit n
    (from 0) is dated timestamp + n, +0000. Errors: UserError for a message
    that cannot be mailed as it is (see check_message).
    """
    parent = repo.commit(plan.base)
    parent_sha, tree = parent.hexsha, parent.tree.binsha
    stamp = _timestamp() if timestamp is None else timestamp
    for n, planned in enumerate(plan.commits):
        check_message(planned.message, f"{plan.variant.source}: commit {n + 1}")
        for path, content in planned.files:
            tree = _replace_in_tree(repo, tree, path.split("/"), _store(repo, b"blob", content))
        data = _commit_object(tree.hex(), parent_sha, signoff, f"{stamp + n} +0000",
                              planned.message)
        parent_sha = _store(repo, b"commit", data).hex()
    return parent_sha


# -- format-patch ---------------------------------------------------------

def _mark(on: bool) -> str:
    return "yes" if on else "-"


def _placement_table(catalog: Catalog, before: frozenset[str], after: frozenset[str]) -> str:
    # Fits 75 columns, the width reviewers' mail readers expect.
    rows = [f"  {'site':<5}{'before':<7}{'after':<6}where"]
    for sid, site in catalog.sites.items():
        rows.append(f"  {sid:<5}{_mark(sid in before):<7}{_mark(sid in after):<6}{site.title}")
    return "\n".join(rows) + "\n"


def cover_subject(plan: SeriesPlan) -> str:
    """The variant's cover subject, rendered in the sandbox and checked as a header."""
    where = f"{plan.variant.source}: cover subject"
    subject = render.render_string(plan.variant.cover_subject, where,
                                   variant=plan.variant).strip()
    check_subject(subject, where)
    return subject


def _fill_cover(path: Path, catalog: Catalog, plan: SeriesPlan) -> None:
    text = path.read_text(encoding="utf-8")
    blurb = render.render(
        "cover-letter.txt.j2",
        variant=plan.variant,
        tree_version=plan.tree.version,
        placement_table=_placement_table(catalog, plan.before.sites, plan.after.sites),
        drains_before=expected_drains(plan.before.sites, catalog.sites, "offline"),
        drains_after=expected_drains(plan.after.sites, catalog.sites, "offline"),
    ).rstrip("\n")
    subject = cover_subject(plan)
    head, sep, body = text.partition("\n\n")
    lines = head.split("\n")
    for i, line in enumerate(lines):
        if line.startswith("Subject: "):
            lines[i] = "Subject: " + _header_value(
                line[len("Subject: "):].replace("*** SUBJECT HERE ***", subject, 1), "Subject")
        elif line.startswith("From: ") and not line.isascii():
            # git leaves the cover's From: raw; the patches' From: is RFC 2047.
            name, _, address = line[len("From: "):].rpartition(" <")
            lines[i] = f"From: {_header_value(name, 'From')} <{address}"
    head = "\n".join(lines)
    body = body.replace("*** BLURB HERE ***", blurb, 1)
    if not (head + body).isascii() and "Content-Type:" not in head:
        head += ("\nMIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8"
                 "\nContent-Transfer-Encoding: 8bit")
    path.write_text(head + sep + body, encoding="utf-8")


def _header_value(value: str, name: str) -> str:
    """VALUE as git writes a header: as is when ASCII, else RFC 2047 Q-encoded, folded."""
    if value.isascii():
        return value
    charset = email.charset.Charset("utf-8")
    charset.header_encoding = email.charset.QP
    return email.header.Header(value, charset, header_name=name).encode(maxlinelen=78)


def _object_dirs(repo: git.Repo) -> list[str]:
    """Every object directory the series' commits may be in, for the neutral repo's alternates."""
    dirs = [str((Path(repo.common_dir) / "objects").resolve())]
    if os.environ.get("GIT_OBJECT_DIRECTORY"):
        dirs.append(os.environ["GIT_OBJECT_DIRECTORY"])
    extra = os.environ.get("GIT_ALTERNATE_OBJECT_DIRECTORIES", "")
    dirs += [d for d in extra.split(os.pathsep) if d]
    return [str(Path(d).resolve()) for d in dirs]


def neutral_git_env(home: Path, committer: Identity, date: str) -> dict[str, str]:
    """An environment in which git reads no configuration but its built-in defaults.

    No GIT_* variable of the caller survives (GIT_DIR, GIT_CONFIG_PARAMETERS,
    GIT_CONFIG_COUNT..., GIT_DIFF_OPTS, GIT_EXTERNAL_DIFF, replace objects),
    no system or global config (~/.gitconfig, $XDG_CONFIG_HOME/git/config),
    a C locale and UTC. The committer (the cover letter's From: and Date:)
    is COMMITTER at DATE ("<epoch> +0000").
    """
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("GIT_") and k not in ("EMAIL", "XDG_CONFIG_HOME", "HOME")}
    env.update({
        "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1", "GIT_NO_REPLACE_OBJECTS": "1",
        "GIT_ATTR_NOSYSTEM": "1", "HOME": str(home), "XDG_CONFIG_HOME": str(home),
        "LC_ALL": "C", "LANG": "C", "TZ": "UTC",
        "GIT_COMMITTER_NAME": committer.name, "GIT_COMMITTER_EMAIL": committer.email,
        "GIT_COMMITTER_DATE": date, "GIT_AUTHOR_NAME": committer.name,
        "GIT_AUTHOR_EMAIL": committer.email, "GIT_AUTHOR_DATE": date,
    })
    return env


def _attributes(repo: git.Repo, plan: SeriesPlan) -> dict[str, bytes]:
    """The base commit's .gitattributes on the way to every changed file (diff drivers
    shape hunk headers); never the user's worktree, info/attributes or core.attributesFile."""
    tree = repo.commit(plan.base).tree
    wanted = {""}
    for commit in plan.commits:
        for path, _ in commit.files:
            parts = path.split("/")[:-1]
            wanted |= {"/".join(parts[:i]) for i in range(len(parts) + 1)}
    found = {}
    for directory in sorted(wanted):
        rel = f"{directory}/.gitattributes" if directory else ".gitattributes"
        try:
            blob = tree / rel
        except KeyError:
            continue
        if blob.type == "blob" and blob.size <= 1 << 20:
            found[rel] = blob.data_stream.read()
    return found


def _neutral_repo(repo: git.Repo, plan: SeriesPlan, where: Path, env: dict[str, str]) -> Path:
    """A scratch repository that sees the user's objects (alternates) and nothing else of theirs."""
    shadow = where / "repo"
    ops.run(["git", "init", "-q", "--template=", str(shadow)], env=env)
    info = shadow / ".git" / "objects" / "info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "alternates").write_bytes(b"".join(alternate_line(d) for d in _object_dirs(repo)))
    for rel, data in _attributes(repo, plan).items():
        (shadow / rel).parent.mkdir(parents=True, exist_ok=True)
        (shadow / rel).write_bytes(data)
    return shadow


def alternate_line(directory: str) -> bytes:
    """One line of objects/info/alternates for any path bytes (git reads C-quoted lines)."""
    raw = os.fsencode(directory)
    if not any(b < 0x20 or b in b'"\\' or b >= 0x7f for b in raw):
        return raw + b"\n"
    escaped = b"".join(b"\\" + bytes([b]) if b in b'"\\' else bytes([b]) if 0x20 <= b < 0x7f
                       else b"\\%03o" % b for b in raw)
    return b'"' + escaped + b'"\n'


def _first_commit(repo: git.Repo, tip: str, count: int) -> git.Commit:
    commit = repo.commit(tip)
    for _ in range(count - 1):
        commit = commit.parents[0]
    return commit


def write_series(repo: git.Repo, catalog: Catalog, plan: SeriesPlan, tip: str,
                 directory: Path) -> tuple[Path, ...]:
    """`git format-patch --cover-letter --base` of base..tip into DIRECTORY, cover filled in.

    git runs with no user or repository configuration at all (see
    neutral_git_env), so the series is byte-identical whatever the user's
    git config says. Returns the files, cover letter first.
    """
    first = _first_commit(repo, tip, len(plan.commits))
    who = Identity(str(first.author.name), str(first.author.email))
    date = f"@{first.committed_date} +0000"  # "@": git reads any epoch, even 1
    with tempfile.TemporaryDirectory(prefix="drainlab-git-") as scratch:
        env = neutral_git_env(Path(scratch), who, date)
        shadow = _neutral_repo(repo, plan, Path(scratch), env)
        ops.run([
            "git", "format-patch", "--cover-letter", "--numbered", "--subject-prefix=PATCH",
            f"--base={plan.base}", "--no-attach", "--no-color", "--no-thread",
            "-o", str(directory), f"{plan.base}..{tip}",
        ], cwd=shadow, env=env)
    # The (fresh) directory, not format-patch's one-name-per-line output: an
    # --out path may itself hold a newline.
    files = tuple(sorted(directory.glob("[0-9][0-9][0-9][0-9]-*.patch")))
    cover = next((f for f in files if f.name.startswith("0000-")), None)
    if cover is None or len(files) != len(plan.commits) + 1:
        raise InfraError(f"git format-patch wrote {len(files)} files for "
                         f"{len(plan.commits)} commits", "this is a drainlab bug: please report it")
    _fill_cover(cover, catalog, plan)
    return (cover, *(f for f in files if f != cover))


def format_patches(repo: git.Repo, catalog: Catalog, plan: SeriesPlan, tip: str,
                   out_dir: Path) -> Series:
    """Write the series into OUT_DIR (OUT/<variant>), replacing gen's previous series whole.

    The parent OUT is locked for the duration (a second gen fails at once,
    naming this one's pid); the series is written beside the old one and
    swapped in (see outdir). Only gen's own previous files are removed; an
    empty series creates no directory.
    """
    root = out_dir.parent
    if not plan.commits:
        if not out_dir.is_dir():
            return Series(plan, tip, out_dir, (), None)
        with outdir.locked(root):
            done = outdir.remove_previous(out_dir)
        return Series(plan, tip, out_dir, (), None, done.replaced, done.kept)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"cannot create {root}: {err.strerror}",
                        "pass a writable --out directory") from None
    with outdir.locked(root):
        outdir.remove_stale_staging(root, plan.variant.name)
        staging = outdir.staging_dir(root, plan.variant.name)
        try:
            files = write_series(repo, catalog, plan, tip, staging)
            done = outdir.publish(staging, out_dir, tuple(f.name for f in files))
        finally:
            outdir.discard(staging)
    cover, *patches = (out_dir / f.name for f in files)
    return Series(plan, tip, out_dir, tuple(patches), cover, done.replaced, done.kept)
