# SPDX-License-Identifier: GPL-2.0
"""gen subcommands: generate, inspect and run drain_all_pages() placement variants.

  gen --list                      variants, one line each
  gen --variant NAME              write patches/NAME/ (+ kselftest_out/)
  gen inspect                     where the tree drains now
  gen tree                        prepare the default linux-source-6.1 tree
  gen selftests                   render the kselftest directory only
  gen run --variants a,b|all      apply, build, boot, test, report
  gen report DIR... / gen compare OLD NEW / gen bundle DIR... --out F.tar.gz
  gen run --shard I/N             only shard I of N of the (variant, trial) matrix
  gen merge DIR... --out OUT      merge results directories into one report
  gen lava export OUT --artifacts-url URL   LAVA jobs + artifacts
  gen lava import JOB_LOG... --export OUT   LAVA job logs -> results
"""

import argparse
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from generator import ops, paths
from generator.catalog import Catalog, expected_drains, load_catalog
from generator.errors import UserError

if TYPE_CHECKING:  # these import GitPython, which fails at import time without git
    from generator.generate import TreeRequest
    from generator.series import Series

EXIT_CODES = """\
exit status:
  0    done (gen run: every run met its variant's expectation)
  1    done, with findings: checkpatch complaints, or gen run runs that did
       not meet their expectation
  2    bad input or environment you can fix: arguments, paths, catalog
       files, the tree, a missing program (the one-line error says the fix)
  3    the machine failed: a tool that should have worked did not (the
       error names a log with its full output), disk full
  130  interrupted (Ctrl-C)
"""

# --- the command-line boundary: what each command reads -----------------------

# Options a command may be given; anything else given is an error, never ignored.
TREE_OPTIONS = frozenset({"tree", "base", "catalog"})
SELFTEST_OPTIONS = frozenset({"profile", "selftests_out"})
GENERATE_OPTIONS = frozenset({"variant", "out", "signoff", "no_checkpatch", "no_selftests"})

# Values of options left out. Parsers default to None, so "given" can be told
# from "left at its default" (the conflict check needs that).
DEFAULTS: dict[str, object] = {
    "base": "HEAD", "catalog": [], "profile": "quick", "selftests_out": Path("kselftest_out"),
    "out": Path("patches"), "list": False, "no_checkpatch": False, "no_selftests": False,
    "variants": "all", "trials": 1, "results": Path("results"), "force": False,
    "accel": "auto", "quiet": False, "json": False, "extra_series": [],
}
FLAG_NAMES = {"tree": "--tree", "base": "--base", "catalog": "--catalog", "profile": "--profile",
              "selftests_out": "--selftests-out", "list": "--list", "variant": "--variant",
              "out": "--out", "signoff": "--signoff", "no_checkpatch": "--no-checkpatch",
              "no_selftests": "--no-selftests"}


@dataclass(frozen=True)
class Command:
    """One gen command: what it reads, how its arguments are checked, what it does.

    validate() runs after the paths are absolute and before anything is
    written; it raises UserError (exit 2) or InfraError (exit 3).
    """

    name: str
    options: frozenset[str]
    validate: Callable[[argparse.Namespace], None]
    run: Callable[[argparse.Namespace], int]
    needs_git: bool
    # False: the command's own parser sets its defaults (DEFAULTS are gen's).
    takes_defaults: bool = True


def flag(name: str) -> str:
    return FLAG_NAMES.get(name, "--" + name.replace("_", "-"))


def given_options(args: argparse.Namespace) -> set[str]:
    return {k for k, v in vars(args).items()
            if v is not None and k not in ("command", "func", "own_options")}


def check_conflicts(command: Command, given: set[str],
                    own_options: frozenset[str] = frozenset()) -> None:
    """An option the command would not read is an error, not silently dropped.

    OWN_OPTIONS: what a subcommand with its own parser (gen report) declared there.
    """
    allowed = set(command.options) | {"list": {"list"}, "generate": {"variant"}}.get(command.name, set())
    allowed |= own_options
    if command.name == "generate" and "no_selftests" in given:
        allowed = allowed - SELFTEST_OPTIONS  # --profile would be ignored
    extra = sorted(given - allowed)
    if not extra:
        return
    what = {"list": "gen --list", "generate": "gen --variant"}.get(command.name, f"gen {command.name}")
    names = ", ".join(flag(e) for e in extra)
    helps = "gen --help" if command.name in ("list", "generate") else f"gen {command.name} --help"
    raise UserError(f"{names} cannot be used with {what}",
                    f"drop {names}, or run it as a separate command (`{helps}` lists what each takes)")


def absolute(path: Path) -> Path:
    """PATH made absolute against the cwd, without resolving links or '..'.

    Stages run tools in other directories (make and merge_config.sh in the
    cache checkout), where a relative path would name another file.
    """
    return path if path.is_absolute() else Path.cwd() / path


def absolute_paths(args: argparse.Namespace) -> None:
    """Every Path the parser made (options, defaults, positional DIRs) made absolute."""
    for name, value in vars(args).items():
        if isinstance(value, Path):
            setattr(args, name, absolute(value))
        elif isinstance(value, list) and value and all(isinstance(v, Path) for v in value):
            setattr(args, name, [absolute(v) for v in value])
    # Children (make, git, tests) and later stages see the same absolute cache.
    os.environ["DRAINLAB_CACHE"] = str(paths.cache_dir())


# --- checks shared by the commands ---------------------------------------------

def _nearest_existing(path: Path) -> Path:
    probe = path
    while not os.path.lexists(probe) and probe != probe.parent:
        probe = probe.parent
    return probe


def _read_only(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def check_output_dir(option: str, path: Path) -> None:
    """PATH is a directory gen can create or write into, else one UserError."""
    if os.path.lexists(path) and not path.is_dir():
        raise UserError(f"{option} {path} exists and is not a directory",
                        f"pass a directory to {option} (it is created if missing)")
    probe = _nearest_existing(path)
    if not probe.is_dir():
        raise UserError(f"{option} {path}: {probe} is not a directory",
                        f"pass another {option}")
    if not os.access(probe, os.W_OK | os.X_OK):
        why = "is on a read-only file system" if _read_only(probe) else "is not writable"
        cwd = " (the default is relative to the current directory)" if path.parent == Path.cwd() else ""
        raise UserError(f"{option} {path}: {probe} {why}{cwd}",
                        f"pass a writable directory to {option}")


def check_cache(writing: bool) -> None:
    """The cache (DRAINLAB_CACHE, else XDG_CACHE_HOME/drainlab, else ~/.cache/drainlab)
    is a directory gen can write when WRITING."""
    cache = paths.cache_dir()
    if os.path.lexists(cache) and not cache.is_dir():
        raise UserError(f"the cache {cache} exists and is not a directory",
                        "set DRAINLAB_CACHE to a writable directory")
    if not writing:
        return
    probe = _nearest_existing(cache)
    if not probe.is_dir():
        raise UserError(f"the cache {cache}: {probe} is not a directory",
                        "set DRAINLAB_CACHE to a writable directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        why = "is on a read-only file system" if _read_only(probe) else "is not writable"
        raise UserError(f"the cache {cache}: {probe} {why}",
                        "set DRAINLAB_CACHE to a writable directory")


def _check_catalog_dirs(args: argparse.Namespace) -> None:
    for directory in args.catalog:
        if not directory.is_dir():
            raise UserError(f"--catalog {directory}: no such directory",
                            "pass a directory of variant YAML files")


def _check_tree_options(args: argparse.Namespace, writes_cache: bool) -> None:
    _check_catalog_dirs(args)
    if args.base.startswith("-") or not args.base.strip():
        raise UserError(f"--base {args.base!r} is not a revision", "pass a commit, tag or branch")
    if args.tree is not None:
        if not args.tree.is_dir():
            raise UserError(f"--tree {args.tree}: no such directory", "pass a kernel git checkout")
        check_cache(writing=writes_cache)
    else:
        check_cache(writing=writes_cache or not _default_tree_ready())


def _check_selftest_options(args: argparse.Namespace) -> None:
    from generator.selftests import load_profile

    load_profile(args.profile)
    check_output_dir("--selftests-out", args.selftests_out)


def _catalog(args: argparse.Namespace) -> Catalog:
    return load_catalog(tuple(args.catalog))


# --- read-only trees -------------------------------------------------------------

def _objects_dir(tree: Path) -> Path | None:
    git_dir = tree / ".git"
    if git_dir.is_file():  # a worktree or submodule: "gitdir: PATH"
        text = git_dir.read_text(errors="replace").strip()
        if text.startswith("gitdir:"):
            git_dir = (tree / text[len("gitdir:"):].strip())
    objects = git_dir / "objects"
    common = git_dir / "commondir"
    if common.is_file():
        objects = git_dir / common.read_text().strip() / "objects"
    return objects if objects.is_dir() else None


def scratch_objects_for(tree: Path) -> Path | None:
    """A private object directory when TREE's own cannot be written (read-only mount).

    gen writes the series' commits as loose objects (never refs) into the
    tree's object store. When that store is read-only, GIT_OBJECT_DIRECTORY
    points git and GitPython at a temporary one that borrows the tree's
    objects as alternates, so generation still only reads the tree.
    """
    objects = _objects_dir(tree)
    if objects is None or os.access(objects, os.W_OK | os.X_OK):
        return None
    scratch = Path(tempfile.mkdtemp(prefix="drainlab-objects-"))
    os.environ["GIT_OBJECT_DIRECTORY"] = str(scratch)
    alternates = [str(objects.resolve())]
    if os.environ.get("GIT_ALTERNATE_OBJECT_DIRECTORIES"):
        alternates.append(os.environ["GIT_ALTERNATE_OBJECT_DIRECTORIES"])
    os.environ["GIT_ALTERNATE_OBJECT_DIRECTORIES"] = os.pathsep.join(alternates)
    return scratch


# --- the commands ------------------------------------------------------------------

def _tree_request(args: argparse.Namespace) -> "TreeRequest":
    from generator.generate import TreeRequest

    return TreeRequest(args.tree, args.base, tuple(args.catalog), base_given=args.base_given)


def _default_tree_ready() -> bool:
    from generator import tree as kernel_tree

    return kernel_tree.is_ready(kernel_tree.default_tree_path())


def _validate_tree(args: argparse.Namespace) -> None:
    check_cache(writing=not _default_tree_ready())  # a ready tree is only read


def _cmd_tree(args: argparse.Namespace) -> int:
    from generator import tree as kernel_tree

    print(kernel_tree.prepare_default_tree().path)
    return 0


def list_lines(catalog: Catalog) -> list[str]:
    lines = []
    for v in catalog.variants.values():
        sites = "+".join(s for s in catalog.sites if s in v.sites) or "none"
        drains = expected_drains(v.sites, catalog.sites, "offline")
        retry = " (+1/retry)" if "S4" in v.sites else ""
        lines.append(f"{v.name:<17} {sites:<12} {drains:>2} drains/128MiB offline{retry:<10}"
                     f"  {v.summary}  [{v.history}]")
    return lines


def _validate_list(args: argparse.Namespace) -> None:
    _check_catalog_dirs(args)


def _cmd_list(args: argparse.Namespace) -> int:
    for line in list_lines(_catalog(args)):
        print(line)
    return 0


def _validate_inspect(args: argparse.Namespace) -> None:
    _check_tree_options(args, writes_cache=False)
    _catalog(args)


def _cmd_inspect(args: argparse.Namespace) -> int:
    from generator.generate import inspect

    opened, placement = inspect(_tree_request(args))
    print(f"tree: {opened.tree.path} (Linux {opened.tree.version}), base {args.base}")
    print(f"{'call':<18} {'function':<44} {'file:line':<26} site")
    for r in placement.records:
        function = f"{r.function} via {r.via}" if r.via else r.function
        where = f"{r.file}:{r.line}"
        print(f"{r.callee:<18} {function:<44} {where:<26} {r.site or '-'}")
    sites = "+".join(s for s in opened.catalog.sites if s in placement.sites) or "none"
    matches = placement.matching_variants(opened.catalog)
    print(f"placement: {sites}")
    print(f"matches: {', '.join(matches) if matches else 'no catalog variant'}")
    return 0


def _validate_generate(args: argparse.Namespace) -> None:
    _check_tree_options(args, writes_cache=False)
    _catalog(args).variant(args.variant)  # one line listing the valid names
    check_output_dir("--out", args.out)
    series_dir = args.out / args.variant
    check_output_dir("--out", series_dir)
    if series_dir.is_dir():
        for entry in sorted(series_dir.glob("*.patch")):
            if entry.is_dir():
                raise UserError(f"{entry} is a directory where gen writes a patch",
                                "move it away, or pass another --out")
    if not args.no_selftests:
        _check_selftest_options(args)


def _cmd_generate(args: argparse.Namespace) -> int:
    from generator import tree as kernel_tree
    from generator.checkpatch import require_checkpatch
    from generator.generate import GenerateRequest, generate

    request = GenerateRequest(args.tree, args.base, tuple(args.catalog), args.variant,
                              args.out, args.signoff, base_given=args.base_given)
    if not args.no_checkpatch:  # fail before writing anything, not after
        tree = (kernel_tree.open_tree(args.tree) if args.tree is not None
                else kernel_tree.prepare_default_tree())
        require_checkpatch(tree.path)
    scratch = scratch_objects_for(args.tree or kernel_tree.default_tree_path())
    try:
        series = generate(request)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    name = series.plan.variant.name
    if not series.patches:
        print(f"{name}: the tree already has this placement; empty series, nothing written")
        if series.replaced:
            print(f"{name}: removed the previous series from {series.directory} "
                  f"({len(series.replaced)} files: {', '.join(series.replaced)})")
    else:
        print(f"{name}: {len(series.patches)} patch(es) + cover letter in {series.directory}")
        for commit in series.plan.commits:
            print(f"  {commit.subject}")
        if series.replaced:
            print(f"{name}: replaced the previous series ({len(series.replaced)} files)")
    if series.kept:
        print(f"{name}: left alone in {series.directory} (not written by gen): "
              f"{', '.join(series.kept)}")
    status = 0
    if series.patches and not args.no_checkpatch:
        status = _report_checkpatch(series)
    if not args.no_selftests:
        _render_selftests(args)
    return status


def _report_checkpatch(series: "Series") -> int:
    from generator.checkpatch import run_checkpatch

    results = run_checkpatch(series.plan.tree.path, list(series.patches))
    bad = [r for r in results if not r.clean]
    for r in results:
        print(f"  checkpatch {r.patch}: {r.errors} errors, {r.warnings} warnings, {r.checks} checks")
    return 1 if bad else 0


def _render_selftests(args: argparse.Namespace) -> None:
    from generator.selftests import render_selftests

    bundle = render_selftests(args.selftests_out, args.profile)
    print(f"selftests ({bundle.profile.name} profile) in {bundle.directory}")


def _cmd_selftests(args: argparse.Namespace) -> int:
    _render_selftests(args)
    return 0


def _validate_run(args: argparse.Namespace) -> None:
    if args.trials < 1:
        raise UserError(f"--trials {args.trials}: must be at least 1", "pass --trials 1 or more")
    if args.smp is not None and not 1 <= args.smp <= 255:
        raise UserError(f"--smp {args.smp}: must be 1..255", "pass a vCPU count, or leave it out")
    if args.watchdog is not None and not args.watchdog > 0:
        raise UserError(f"--watchdog {args.watchdog}: must be more than 0 seconds",
                        "pass a number of seconds, or leave it out")
    if args.quiet and args.json:
        raise UserError("--quiet and --json cannot be used together", "pick one output mode")
    if args.shard is not None:
        from generator.shard import parse_shard

        parse_shard(args.shard)  # a bad I/N is one line before any work
    _check_tree_options(args, writes_cache=True)
    catalog = _catalog(args)
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    if not names:
        raise UserError(f"--variants {args.variants!r} names no variant",
                        "pass names separated by commas, or all")
    if names == ["none"]:
        if not args.extra_series:
            raise UserError("--variants none runs nothing without --extra-series",
                            "name variants, or add --extra-series DIR")
    elif len(names) > 1 and {"all", "none"} & set(names):
        # A keyword in a list read as an unknown variant named 'all'.
        raise UserError(f"--variants {args.variants!r}: all and none stand alone, not in a list",
                        "pass all, none (with --extra-series) or variant names")
    elif names != ["all"]:
        for name in names:
            catalog.variant(name)
    from generator.selftests import load_profile

    load_profile(args.profile)
    check_output_dir("--results", args.results)
    from generator.extra_series import load_all

    load_all(args.extra_series, catalog.variants)
    if args.tree is not None and scratch_needed(args.tree):
        raise UserError(f"--tree {args.tree}: its git object store is read-only",
                        "gen run keeps the series' commits there for the review bundle; "
                        f"run on a writable clone (git clone --shared {args.tree} CLONE)")


def scratch_needed(tree: Path) -> bool:
    objects = _objects_dir(tree)
    return objects is not None and not os.access(objects, os.W_OK | os.X_OK)


def _cmd_run(args: argparse.Namespace) -> int:
    from generator.printer import Printer
    from generator.run import RunRequest, run_matrix
    from generator.shard import parse_shard

    # Checked before any work: a bad spec writes nothing.
    shard = parse_shard(args.shard) if args.shard is not None else None
    variants = tuple(v.strip() for v in args.variants.split(",") if v.strip())
    request = RunRequest(args.tree, args.base, tuple(args.catalog), variants, args.trials,
                         args.profile, args.results, args.force, args.smp, args.watchdog,
                         args.accel, args.seed, shard=shard, base_given=args.base_given,
                         extra_series=tuple(args.extra_series))
    mode = "json" if args.json else "quiet" if args.quiet else "human"
    matrix = run_matrix(request, Printer(mode))
    return 1 if matrix.unexpected else 0


def _cmd_merge(args: argparse.Namespace) -> int:
    from generator.merge import load_runs, write_merged
    from generator.report import table

    merged = load_runs(args.dirs, allow_mixed=args.allow_mixed)
    out = write_merged(merged, args.out)
    for line in merged.mixed:
        print(f"mixed (allowed): {line}")
    print(table.format_table(list(merged.runs)), end="")
    print(f"{len(merged.runs)} run(s) from {len(args.dirs)} director(ies): "
          f"{out}/junit.xml kcidb.json table.txt bundle.tar.gz")
    return 0


def _cmd_lava_export(args: argparse.Namespace) -> int:
    from generator.lava import ExportRequest, export_jobs
    from generator.printer import Printer

    variants = tuple(v.strip() for v in args.variants.split(",") if v.strip())
    request = ExportRequest(args.tree, args.base, tuple(args.catalog), variants, args.trials,
                            args.profile, args.out, False, args.smp, args.watchdog, args.accel,
                            artifacts_url=args.artifacts_url, out=args.out,
                            base_given=args.base_given)
    exported = export_jobs(request, Printer("quiet" if args.quiet else "human"))
    for job in exported.jobs:
        print(job.path)
    print(f"{len(exported.jobs)} LAVA job(s), valid for LAVA's schema; publish "
          f"{exported.out}/artifacts at {args.artifacts_url.rstrip('/')}/artifacts; "
          f"local run: lava-run --device {exported.device} --job-id 1 --output-dir LOG JOB")
    return 0


def _cmd_lava_import(args: argparse.Namespace) -> int:
    from generator.lava import import_logs
    from generator.report import table

    runs = import_logs(args.logs, args.export, args.results, args.force)
    print(table.format_table(runs), end="")
    print(f"{len(runs)} LAVA job(s) imported into {args.results}")
    return 0


COMMANDS: dict[str, Command] = {c.name: c for c in (
    Command("list", frozenset({"catalog"}), _validate_list, _cmd_list, False),
    Command("generate", TREE_OPTIONS | SELFTEST_OPTIONS | GENERATE_OPTIONS, _validate_generate,
            _cmd_generate, True),
    Command("inspect", TREE_OPTIONS, _validate_inspect, _cmd_inspect, True),
    Command("tree", frozenset(), _validate_tree, _cmd_tree, True),
    Command("selftests", SELFTEST_OPTIONS, _check_selftest_options, _cmd_selftests, False),
    # gen report / compare / bundle (generator/evidence.py): their own parsers
    # declare their options (own_options) and checks; registered here so a
    # stray option is still refused.
    *(Command(name, frozenset(), lambda a: None, lambda a: int(a.func(a)), False, False)
      for name in ("report", "compare", "bundle")),
    # gen lava export / import (generator/lava.py): export reads the tree options.
    Command("lava", TREE_OPTIONS | {"profile", "lava_command", "out", "variants", "trials",
                                    "artifacts_url", "smp", "watchdog", "accel", "quiet", "logs",
                                    "export", "results", "force"},
            lambda a: None, lambda a: int(a.func(a)), True),
    Command("run", TREE_OPTIONS | {"profile", "variants", "trials", "results", "force", "smp",
                                   "watchdog", "accel", "seed", "shard", "quiet", "json",
                                   "extra_series"},
            _validate_run, _cmd_run, True),
)}


# --- the parser ----------------------------------------------------------------------

def _add_tree_options(p: argparse.ArgumentParser, top: bool) -> None:
    # Subcommands accept the same options; SUPPRESS keeps a value given before
    # the subcommand from being reset by the subparser's default.
    d = None if top else argparse.SUPPRESS
    p.add_argument("--tree", type=Path, default=d,
                   help="kernel git checkout (default: the linux-source-6.1 tree in the cache)")
    p.add_argument("--base", default=d, help="revision to start from (default HEAD)")
    p.add_argument("--catalog", type=Path, action="append", default=d,
                   help="extra directory of variant YAML files (repeatable)")
    p.add_argument("--profile", default=d, help="selftest profile: quick or full")
    p.add_argument("--selftests-out", type=Path, default=d,
                   help="where the kselftest directory goes (default kselftest_out/)")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (problem; fix) and exit 2 like every other."""

    def error(self, message: str) -> NoReturn:
        raise UserError(f"{self.prog}: {message}", f"`{self.prog} --help` lists the options")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gen", description=__doc__, epilog=EXIT_CODES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--list", action="store_true", default=None, help="list the variants")
    parser.add_argument("--variant", help="generate the series for this variant")
    parser.add_argument("--out", type=Path, help="series go to OUT/<variant>/ (default patches/)")
    parser.add_argument("--signoff", help='"Name <mail>" (default: git config of the tree)')
    parser.add_argument("--no-checkpatch", action="store_true", default=None,
                        help="skip checkpatch.pl")
    parser.add_argument("--no-selftests", action="store_true", default=None,
                        help="do not render selftests")
    _add_tree_options(parser, top=True)
    sub = parser.add_subparsers(dest="command")
    for name, text in (
        ("tree", "prepare the default linux-source-6.1 tree and print its path"),
        ("inspect", "show where the tree drains pcplists during isolation"),
        ("selftests", "render the kselftest directory"),
    ):
        p = sub.add_parser(name, help=text, epilog=EXIT_CODES,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        _add_tree_options(p, top=False)
    p = sub.add_parser("run", help="apply, build, boot and test variants; report results",
                       epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_tree_options(p, top=False)
    p.add_argument("--variants", help="comma-separated names, or all (default all); none: only the "
                   "--extra-series")
    p.add_argument("--trials", type=int, help="runs per variant (default 1)")
    p.add_argument("--results", type=Path, help="results directory (default results/)")
    p.add_argument("--force", action="store_true", default=None, help="redo runs already recorded")
    p.add_argument("--smp", type=int, help="guest vCPUs (default: host cores)")
    p.add_argument("--watchdog", type=float, help="seconds before a guest counts as hung")
    p.add_argument("--accel", choices=("auto", "tcg", "kvm"),
                   help="auto (default): KVM only if a probe boots a guest with it")
    p.add_argument("--seed", type=int, help="seed of the per-round variant order (default: random, "
                   "recorded in results.json)")
    p.add_argument("--shard", metavar="I/N",
                   help="run only shard I of N of the (variant, trial) matrix (CI fan-out)")
    p.add_argument("--quiet", action="store_true", default=None, help="print only the results table")
    p.add_argument("--json", action="store_true", default=None, help="progress as JSON lines")
    p.add_argument("--extra-series", type=Path, action="append", metavar="DIR",
                   help="test only: also run this git format-patch directory on --base, a known-bad "
                   "kernel named after DIR that must fail (repeatable; benchmarks/bench_power.py)")
    from generator import evidence  # gen report / compare / bundle

    evidence.add_parsers(sub)
    p = sub.add_parser("merge", help="merge results directories (CI shards, LAVA imports)")
    p.add_argument("dirs", nargs="+", type=Path, metavar="DIR", help="results directories")
    p.add_argument("--out", type=Path, default=Path("merged"),
                   help="output directory, must not exist (default merged/)")
    p.add_argument("--allow-mixed", action="store_true",
                   help="merge runs that differ in base commit, config or selftests")
    p.set_defaults(func=_cmd_merge)
    lava = sub.add_parser("lava", help="export LAVA jobs, import LAVA job logs")
    lava_sub = lava.add_subparsers(dest="lava_command", required=True)
    p = lava_sub.add_parser("export", help="one LAVA job per (variant, trial) + the artifacts")
    _add_tree_options(p, top=False)
    p.add_argument("out", type=Path, metavar="OUT", help="output directory (must not exist)")
    p.add_argument("--variants", default="all", help="comma-separated names, or all")
    p.add_argument("--trials", type=int, default=1, help="jobs per variant (default 1)")
    p.add_argument("--artifacts-url", required=True, metavar="URL",
                   help="where OUT/ will be published (http(s):// or file://)")
    p.add_argument("--smp", type=int, help="guest vCPUs (default: host cores, as gen run)")
    p.add_argument("--watchdog", type=float, help="seconds before the boot counts as hung")
    p.add_argument("--accel", choices=("tcg", "kvm"), default="tcg",
                   help="tcg (default, as here) or kvm on the lab's device")
    p.add_argument("--quiet", action="store_true", help="print only the job files")
    p.set_defaults(func=_cmd_lava_export)
    p = lava_sub.add_parser("import", help="LAVA job logs -> results.json per run")
    p.add_argument("logs", nargs="+", type=Path, metavar="JOB_LOG",
                   help="LAVA job logs (YAML as lavacli jobs logs --raw prints, or lava-run's stderr)")
    p.add_argument("--export", type=Path, required=True, metavar="OUT",
                   help="the directory gen lava export wrote (its manifest.json)")
    p.add_argument("--results", type=Path, default=Path("results"),
                   help="results directory (default results/)")
    p.add_argument("--force", action="store_true", help="replace runs already recorded")
    p.set_defaults(func=_cmd_lava_import)
    return parser


def command_of(args: argparse.Namespace) -> Command | None:
    if args.command:
        if args.command not in COMMANDS:  # a subparser added without its Command entry
            return Command(args.command, frozenset(given_options(args)), lambda a: None,
                           args.func, True, False)
        return COMMANDS[args.command]
    if args.list:
        return COMMANDS["list"]
    if args.variant is not None:
        return COMMANDS["generate"]
    return None


def dispatch(argv: list[str] | None) -> int:
    """Parse, check every argument, then run: nothing is written before the checks pass.

    The command hands its children (make, git, the tests) the absolute cache
    and, for a read-only tree, a scratch object directory through os.environ;
    the environment is restored afterwards so an in-process caller (a test,
    a tool importing drainlab) never inherits one command's settings in the next.
    """
    saved = dict(os.environ)
    try:
        return _dispatch(argv)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _dispatch(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    command = command_of(args)
    given = given_options(args)
    if command is None:
        names = ", ".join(flag(g) for g in sorted(given))
        raise UserError(f"{names} given without a command" if given else "no command given",
                        "add --variant NAME, --list or a subcommand (`gen --help` lists them)")
    check_conflicts(command, given, getattr(args, "own_options", frozenset()))
    # --base left out: a rebase or merge in progress is refused, not used.
    args.base_given = "base" in given
    for name, value in DEFAULTS.items():
        if command.takes_defaults and name in command.options and getattr(args, name, None) is None:
            setattr(args, name, value)
    for name in ("tree", "variant", "signoff", "smp", "watchdog", "seed", "list"):
        if not hasattr(args, name):
            setattr(args, name, None)
    if command.needs_git:
        ops.require_tool("git")  # GitPython fails at import without it
    absolute_paths(args)
    command.validate(args)
    return int(command.run(args))

