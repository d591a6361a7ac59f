# SPDX-License-Identifier: GPL-2.0
"""The variant catalog: sites (where a drain can sit) and variants (target placements).

Both are YAML data, validated here at load so a bad entry is reported as
file:line before anything touches a tree. A user extends the catalog by
dropping a YAML file into a directory passed with --catalog.
"""

import builtins
import re
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from generator import inputs, paths
from generator.errors import UserError

NAME_RE = re.compile(r"^[a-z0-9-]+$")  # variant names become directory names
# Names a results directory already uses for itself (series/, kselftest/,
# report/) or that --variants reads as a keyword (all, none): no variant and
# no --extra-series kernel may take one.
RESERVED_NAMES = frozenset({"series", "kselftest", "report", "all", "none"})
ANCHORS = (
    "after-call",
    "after-call-checked",
    "before-call",
    "before-success-return-after-call",
    "before-success-return-after-loop",
    "before-function",
)
LOOP_VALUES = ("yes", "no", "any")
_OLD_ANCHORS = {"before-final-return": "before-success-return-after-loop",
                "before-return-in-block-of-call": "before-success-return-after-call"}
_EXPR_RE = re.compile(r"^[A-Za-z_]\w*(?:(?:\.|->)[A-Za-z_]\w*)*$")
PER_PAGEBLOCK = "per-pageblock"
# Commit and cover subjects become mail Subject: headers: one printable line
# (checkpatch wants commit message lines <= 75 columns).
SUBJECT_MAX = 75
TEXT_MAX = 4096  # summary, history, rationale: prose, not files
BODY_RE = re.compile(r"^commit/[A-Za-z0-9][A-Za-z0-9._-]*\.j2$")  # a template under templates/
JINJA_MARKS = ("{{", "{%", "{#")
# x86_64: a 128 MiB memory block holds 64 pageblocks of 2 MiB.
X86_64_PAGEBLOCKS_PER_BLOCK = 64


@dataclass(frozen=True)
class InsertStep:
    at: str
    template: str
    calls: tuple[str, ...] = ()
    function: str = ""
    all: bool = False
    blank_before: bool = False
    # Snippet variable -> candidate expressions, first whose leading name is
    # in scope at the insertion point wins (5.x says start_pfn, 6.x isolate_start).
    vars: tuple[tuple[str, tuple[str, ...]], ...] = ()
    in_loop: bool = False  # the anchor call must sit inside a loop (a retry loop)


@dataclass(frozen=True)
class Site:
    id: str
    title: str
    file: str
    functions: tuple[str, ...]
    calls: tuple[str, ...]
    loop: str
    offline_drains: int | str
    cma_drains: int | str
    insert: tuple[InsertStep, ...]


@dataclass(frozen=True)
class CommitSpec:
    sites: tuple[str, ...]
    subject: str
    body: str
    rationale: str  # true on any tree: says what the commit's target is
    # site id -> why removing it helps; rendered only when this tree's commit
    # really removes that site (a 6.1 tree has no per-pageblock drain to replace).
    removing: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Variant:
    name: str
    summary: str
    history: str
    sites: frozenset[str]
    cover_subject: str
    cover_rationale: str
    commits: tuple[CommitSpec, ...]
    source: str
    expect: str = "pass"  # "fail" for a negative control: the stress test must catch it
    replaces: str = ""  # a built-in variant this user variant shadows, on purpose


@dataclass(frozen=True)
class Catalog:
    sites: dict[str, Site]
    variants: dict[str, Variant]

    def variant(self, name: str) -> Variant:
        if not NAME_RE.match(name or ""):
            raise UserError(
                f"invalid variant name {name!r}", "names are [a-z0-9-]+; see `gen --list`"
            )
        if name not in self.variants:
            raise UserError(
                f"unknown variant {name!r}", "valid variants: " + ", ".join(self.variants)
            )
        return self.variants[name]

    def site_order(self) -> list[str]:
        return list(self.sites)


def expected_drains(site_ids: Iterable[str], sites: dict[str, Site], kind: str,
                    pageblocks: int = X86_64_PAGEBLOCKS_PER_BLOCK) -> int:
    """Drains per operation (no retry) for a placement; kind is offline or cma."""
    total = 0
    for sid in site_ids:
        value = getattr(sites[sid], f"{kind}_drains")
        total += pageblocks if value == PER_PAGEBLOCK else int(value)
    return total


def header_problem(value: str, limit: int) -> str | None:
    """Why VALUE cannot go into a mail header or trailer as it is, or None.

    One line, printable (no control characters, no Unicode line or paragraph
    separators), no surrounding blanks, at most LIMIT characters.
    """
    if not value.strip():
        return "is empty"
    bad = next((c for c in value if not c.isprintable()), None)
    if bad is not None:
        return f"holds the control character {bad!r}" if bad in "\r\n\t" or ord(bad) < 32 \
            else f"holds the non-printable character U+{ord(bad):04X}"
    if value != value.strip():
        return "starts or ends with blanks"
    if len(value) > limit:
        return f"is {len(value)} characters, more than {limit}"
    return None


def check_subject(subject: str, where: str) -> None:
    """A rendered subject that goes into a Subject: header; UserError naming WHERE."""
    problem = header_problem(subject, SUBJECT_MAX)
    if problem:
        raise UserError(f"{where} {problem}: {subject[:60]!r}",
                        f"a subject is one printable line of at most {SUBJECT_MAX} characters")


# -- loading ---------------------------------------------------------------

class _LineLoader(yaml.SafeLoader):
    """SafeLoader that remembers where each mapping starts, for error messages."""


    def compose_node(self, parent: Any, index: Any) -> Any:
        # Aliases let a few KB expand into a huge document: a catalog has no use for them.
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not allowed here",
                                              event.start_mark)
        return super().compose_node(parent, index)


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[Hashable, Any]:
    mapping = loader.construct_mapping(node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _load_yaml(path: Path) -> Any:
    """Parse one catalog file: bounded size, UTF-8, YAML without tags or aliases."""
    text = inputs.read_text(path, inputs.CATALOG_MAX, "catalog file")
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        line = mark.line + 1 if mark else 0
        raise UserError(
            f"malformed YAML at {path}:{line}: {err.problem}", "fix the YAML syntax"
        ) from None
    except yaml.YAMLError as err:  # the reader: control characters, bad encodings
        raise UserError(f"malformed YAML in {path}: {' '.join(str(err).split())}",
                        "fix the YAML syntax") from None
    except RecursionError:
        raise UserError(f"malformed YAML in {path}: nested too deeply",
                        "a catalog entry is a few levels of mappings and lists") from None


class _Fields:
    """Typed access to one YAML mapping; every complaint names file:line."""

    def __init__(self, data: Any, path: Path, what: str) -> None:
        if not isinstance(data, dict):
            raise UserError(f"{path}: {what} must be a mapping", "see generator/catalog/*.yaml")
        self.data, self.path, self.what = data, path, what
        self.line = data.get("__line__", 0)

    def fail(self, problem: str, fix: str) -> UserError:
        return UserError(f"{self.path}:{self.line}: {self.what}: {problem}", fix)

    def str(self, key: str, default: str | None = None) -> str:
        value = self.data.get(key, default)
        if not isinstance(value, str) or (default is None and not value.strip()):
            raise self.fail(f"'{key}' must be a non-empty string", f"set {key}: ...")
        return value

    # Below the method named `str`, a bare `str` in a signature names that method.
    def line_str(self, key: builtins.str, limit: int,
                 default: builtins.str | None = None) -> builtins.str:
        """A one-line printable string (it ends up in a header, a path or a table)."""
        value = self.str(key, default)
        if value == "" and default == "":
            return value
        problem = header_problem(value, limit)
        if problem:
            raise self.fail(f"'{key}' {problem}", f"make {key} one printable line of at most "
                            f"{limit} characters")
        return value

    def prose(self, key: builtins.str) -> builtins.str:
        """Free text (a rationale): any printable text; line breaks become spaces."""
        value = " ".join(self.str(key).split())
        problem = header_problem(value, TEXT_MAX)
        if problem:
            raise self.fail(f"'{key}' {problem}", "write it as plain printable text")
        return value

    def subject(self, key: builtins.str) -> builtins.str:
        """A subject template: checked as a header now if it is plain text, after rendering if not."""
        value = self.line_str(key, 4096)
        if not any(mark in value for mark in JINJA_MARKS):
            self.line_str(key, SUBJECT_MAX)
        return value

    def strings(self, key: builtins.str, required: bool = True) -> tuple[builtins.str, ...]:
        value = self.data.get(key, [] if not required else None)
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(f"'{key}' must be a list of strings", f"set {key}: [a, b]")
        return tuple(value)

    def unknown(self, allowed: set[builtins.str]) -> None:
        extra = set(self.data) - allowed - {"__line__"}
        if extra:
            raise self.fail(f"unknown key(s) {', '.join(sorted(extra))}",
                            "allowed: " + ", ".join(sorted(allowed)))


def _drain_count(f: _Fields, key: str) -> int | str:
    value = f.data.get(key)
    if value == PER_PAGEBLOCK or (isinstance(value, int) and value >= 0):
        return value
    raise f.fail(f"'{key}' must be a count or {PER_PAGEBLOCK}", f"set {key}: 1")


def _load_step(raw: Any, path: Path, site: str) -> InsertStep:
    f = _Fields(raw, path, f"site {site} insert step")
    f.unknown({"at", "template", "call", "function", "all", "blank_before", "vars", "in_loop"})
    at = f.str("at")
    if at in _OLD_ANCHORS:
        raise f.fail(f"anchor {at!r} places by position, not by role",
                     f"use {_OLD_ANCHORS[at]}")
    if at not in ANCHORS:
        raise f.fail(f"unknown anchor {at!r}", "use one of " + ", ".join(ANCHORS))
    calls = f.strings("call", required=False)
    if ("call" in at or at.endswith("loop")) and not calls:
        raise f.fail(f"anchor {at} needs 'call'", "set call: [function_name]")
    function = f.str("function", "") if at == "before-function" else ""
    if at == "before-function" and not function:
        raise f.fail("anchor before-function needs 'function'", "set function: name")
    variables = f.data.get("vars", {}) or {}
    if not isinstance(variables, dict):
        raise f.fail("'vars' must be a mapping", "set vars: {zone: zone}")
    pairs = []
    for key, value in variables.items():
        if key == "__line__":
            continue
        candidates = value if isinstance(value, list) else [value]
        if not candidates or not all(isinstance(c, str) and _EXPR_RE.match(c) for c in candidates):
            raise f.fail(f"vars.{key} must be a name or a list of names (a.b allowed)",
                         f"set {key}: [start_pfn]")
        pairs.append((str(key), tuple(candidates)))
    return InsertStep(at, f.str("template"), calls, function, bool(f.data.get("all", False)),
                      bool(f.data.get("blank_before", False)), tuple(pairs),
                      bool(f.data.get("in_loop", False)))


def load_sites(path: Path) -> dict[str, Site]:
    raw = _load_yaml(path)
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping of site ids", "see generator/sites.yaml")
    sites = {}
    for sid, body in raw.items():
        if sid == "__line__":
            continue
        f = _Fields(body, path, f"site {sid}")
        f.unknown({"title", "file", "functions", "calls", "loop", "offline_drains",
                   "cma_drains", "insert"})
        loop = str(f.data.get("loop", "any"))
        if loop not in LOOP_VALUES:
            raise f.fail(f"loop must be one of {', '.join(LOOP_VALUES)}", "set loop: any")
        steps = f.data.get("insert", [])
        if not isinstance(steps, list) or not steps:
            raise f.fail("'insert' must be a non-empty list", "add insert steps")
        sites[sid] = Site(sid, f.str("title"), f.str("file"), f.strings("functions"),
                          f.strings("calls"), loop, _drain_count(f, "offline_drains"),
                          _drain_count(f, "cma_drains"),
                          tuple(_load_step(s, path, sid) for s in steps))
    return sites


def _load_variant(path: Path, sites: dict[str, Site]) -> Variant:
    f = _Fields(_load_yaml(path), path, "variant")
    f.unknown({"name", "summary", "history", "sites", "cover", "commits", "expect", "replaces"})
    expect = f.str("expect", "pass")
    if expect not in ("pass", "fail"):
        raise f.fail(f"expect must be pass or fail, not {expect!r}", "set expect: pass")
    name = f.line_str("name", 64)
    if not NAME_RE.match(name):
        raise f.fail(f"invalid name {name!r}", "variant names are [a-z0-9-]+ (they become paths)")
    if name in RESERVED_NAMES:
        raise f.fail(f"name {name!r} is reserved ({', '.join(sorted(RESERVED_NAMES))})",
                     "rename the variant")
    target = f.strings("sites", required=False)
    for sid in target:
        if sid not in sites:
            raise f.fail(f"unknown site {sid!r}", "known sites: " + ", ".join(sites))
    cover = _Fields(f.data.get("cover"), path, f"variant {name} cover")
    commits = f.data.get("commits")
    if not isinstance(commits, list) or not commits:
        raise f.fail("'commits' must be a non-empty list", "add commits: [...]")
    specs = []
    for raw in commits:
        c = _Fields(raw, path, f"variant {name} commit")
        c.unknown({"sites", "subject", "body", "rationale", "removing"})
        for sid in c.strings("sites"):
            if sid not in sites:
                raise c.fail(f"unknown site {sid!r}", "known sites: " + ", ".join(sites))
        body = c.line_str("body", 200)
        if not BODY_RE.match(body):
            raise c.fail(f"body {body!r} is not a template under templates/commit/",
                         "set body: commit/move-drain.txt.j2 (or another commit/*.j2)")
        if not (paths.templates_dir() / body).is_file():
            raise c.fail(f"body template {body} not found",
                         "use one of templates/commit/*.j2")
        removing = c.data.get("removing", {}) or {}
        if not isinstance(removing, dict) or not all(
                isinstance(v, str) for k, v in removing.items() if k != "__line__"):
            raise c.fail("'removing' must map site ids to sentences", "set removing: {S1: ...}")
        for sid in removing:
            if sid != "__line__" and sid not in c.strings("sites"):
                raise c.fail(f"removing names {sid!r}, which this commit does not handle",
                             "list it under sites too")
        sentences = []
        for k, v in removing.items():
            if k == "__line__":
                continue
            sentence = " ".join(v.split())
            problem = header_problem(sentence, TEXT_MAX)
            if problem:
                raise c.fail(f"'removing: {k}' {problem}", "write it as plain printable text")
            sentences.append((str(k), sentence))
        specs.append(CommitSpec(c.strings("sites"), c.subject("subject"), body,
                                c.prose("rationale"), tuple(sentences)))
    covered = [sid for spec in specs for sid in spec.sites]
    if sorted(covered) != sorted(sites):
        missing = set(sites) - set(covered)
        twice = {s for s in covered if covered.count(s) > 1}
        raise f.fail(
            f"commits must cover every site exactly once (missing: {sorted(missing)}, "
            f"repeated: {sorted(twice)})",
            "list each site id in exactly one commit",
        )
    replaces = f.line_str("replaces", 64, "")
    if replaces and replaces != str(name):
        raise f.fail(f"replaces: {replaces!r} is not this variant's name {name!r}",
                     f"a variant shadows the built-in of its own name: set replaces: {name}")
    return Variant(name, f.line_str("summary", 200), f.line_str("history", 200),
                   frozenset(target), cover.subject("subject"), cover.prose("rationale"),
                   tuple(specs), str(path), expect, replaces)


def builtin_dir() -> Path:
    return paths.PACKAGE_DIR / "catalog"


def _variant_files(directory: Path) -> list[Path]:
    if not Path(directory).is_dir():
        raise UserError(f"catalog directory {directory} not found", "pass an existing directory")
    return sorted(Path(directory).glob("*.yaml"))


def load_catalog(extra_dirs: Iterable[Path] = ()) -> Catalog:
    """Load sites.yaml and every variant file; user directories may add variants.

    A name may be declared once: two files with one name are an error naming
    both. A user file may shadow a built-in variant only when it says
    `replaces: <its name>`; `replaces:` naming no built-in is an error too.
    The same file reached twice (a directory passed twice, a symlink) counts once.
    """
    sites = load_sites(paths.PACKAGE_DIR / "sites.yaml")
    variants: dict[str, Variant] = {}
    builtin: dict[str, Variant] = {}
    replaced: dict[str, Variant] = {}
    seen: set[Path] = set()
    for directory in (builtin_dir(), *extra_dirs):
        is_builtin = directory == builtin_dir()
        for path in _variant_files(directory):
            real = path.resolve()
            if real in seen:
                continue
            seen.add(real)
            variant = _load_variant(path, sites)
            other = variants.get(variant.name)
            if is_builtin:
                if other is not None:
                    raise UserError(f"{path}: duplicate variant {variant.name} (also in "
                                    f"{other.source})", "rename one of them")
                builtin[variant.name] = variant
            elif variant.replaces:
                if variant.name not in builtin:
                    raise UserError(f"{path}: replaces: {variant.replaces} names no built-in "
                                    "variant", "drop replaces: (it is only for shadowing a "
                                    "built-in) or fix the name")
                if variant.name in replaced:
                    raise UserError(f"variant {variant.name} is replaced twice: in "
                                    f"{replaced[variant.name].source} and in {path}",
                                    "keep one of the two files")
                replaced[variant.name] = variant
            elif other is not None:
                if other.source in {v.source for v in builtin.values()}:
                    raise UserError(f"{path}: variant {variant.name} has the name of a built-in "
                                    f"variant ({other.source})", f"rename it, or add replaces: "
                                    f"{variant.name} to shadow the built-in on purpose")
                raise UserError(f"variant {variant.name} is declared twice: in {other.source} "
                                f"and in {path}", "rename one of them or drop one file")
            variants[variant.name] = variant
    return Catalog(sites, variants)
