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
import sys
from pathlib import Path

from generator import tree as kernel_tree
from generator.catalog import Catalog, expected_drains, load_catalog
from generator.checkpatch import require_checkpatch, run_checkpatch
from generator.generate import GenerateRequest, TreeRequest, generate, inspect
from generator.series import Series


def _tree_request(args: argparse.Namespace) -> TreeRequest:
    return TreeRequest(args.tree, args.base, tuple(args.catalog), base_given=args.base_given)


def _cmd_tree(args: argparse.Namespace) -> int:
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


def _cmd_list(args: argparse.Namespace) -> int:
    for line in list_lines(load_catalog(tuple(args.catalog))):
        print(line)
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
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


def _cmd_generate(args: argparse.Namespace) -> int:
    request = GenerateRequest(args.tree, args.base, tuple(args.catalog), args.variant,
                              args.out, args.signoff, base_given=args.base_given)
    if not args.no_checkpatch:  # fail before writing anything, not after
        tree = (kernel_tree.open_tree(args.tree) if args.tree is not None
                else kernel_tree.prepare_default_tree())
        require_checkpatch(tree.path)
    series = generate(request)
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


def _report_checkpatch(series: Series) -> int:
    results = run_checkpatch(series.plan.tree.path, list(series.patches))
    bad = [r for r in results if not r.clean]
    for r in results:
        print(f"  checkpatch {r.patch}: {r.errors} errors, {r.warnings} warnings, {r.checks} checks")
    return 1 if bad else 0


def _render_selftests(args: argparse.Namespace) -> None:
    try:
        from generator.selftests import render_selftests
    except ImportError:  # the selftests stage is optional for series generation
        return
    bundle = render_selftests(args.selftests_out, args.profile)
    print(f"selftests ({bundle.profile.name} profile) in {bundle.directory}")


def _cmd_selftests(args: argparse.Namespace) -> int:
    _render_selftests(args)
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from generator.printer import Printer
    from generator.run import RunRequest, run_matrix
    from generator.shard import parse_shard

    # Checked before any work: a bad spec writes nothing.
    shard = parse_shard(args.shard) if args.shard is not None else None
    variants = tuple(v.strip() for v in args.variants.split(",") if v.strip())
    request = RunRequest(args.tree, args.base, tuple(args.catalog), variants, args.trials,
                         args.profile, args.results, args.force, args.smp, args.watchdog,
                         args.accel, args.seed, shard=shard, base_given=args.base_given)
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


def _add_tree_options(p: argparse.ArgumentParser, top: bool) -> None:
    # Subcommands accept the same options; SUPPRESS keeps a value given before
    # the subcommand from being reset by the subparser's default.
    d = (lambda v: v) if top else (lambda v: argparse.SUPPRESS)
    p.add_argument("--tree", type=Path, default=d(None),
                   help="kernel git checkout (default: the linux-source-6.1 tree in the cache)")
    p.add_argument("--base", default=d(None), help="revision to start from (default HEAD)")
    p.add_argument("--catalog", type=Path, action="append", default=d([]),
                   help="extra directory of variant YAML files (repeatable)")
    p.add_argument("--profile", default=d("quick"), help="selftest profile: quick or full")
    p.add_argument("--selftests-out", type=Path, default=d(Path("kselftest_out")),
                   help="where the kselftest directory goes (default kselftest_out/)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gen", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--list", action="store_true", help="list the variants")
    parser.add_argument("--variant", help="generate the series for this variant")
    parser.add_argument("--out", type=Path, default=Path("patches"),
                        help="series go to OUT/<variant>/ (default patches/)")
    parser.add_argument("--signoff", help='"Name <mail>" (default: git config of the tree)')
    parser.add_argument("--no-checkpatch", action="store_true", help="skip checkpatch.pl")
    parser.add_argument("--no-selftests", action="store_true", help="do not render selftests")
    _add_tree_options(parser, top=True)
    sub = parser.add_subparsers(dest="command")
    for name, func, text in (
        ("tree", _cmd_tree, "prepare the default linux-source-6.1 tree and print its path"),
        ("inspect", _cmd_inspect, "show where the tree drains pcplists during isolation"),
        ("selftests", _cmd_selftests, "render the kselftest directory"),
    ):
        p = sub.add_parser(name, help=text)
        _add_tree_options(p, top=False)
        p.set_defaults(func=func)
    p = sub.add_parser("run", help="apply, build, boot and test variants; report results")
    _add_tree_options(p, top=False)
    p.add_argument("--variants", default="all", help="comma-separated names, or all")
    p.add_argument("--trials", type=int, default=1, help="runs per variant (default 1)")
    p.add_argument("--results", type=Path, default=Path("results"),
                   help="results directory (default results/)")
    p.add_argument("--force", action="store_true", help="redo runs already recorded")
    p.add_argument("--smp", type=int, help="guest vCPUs (default: host cores)")
    p.add_argument("--watchdog", type=float, help="seconds before a guest counts as hung")
    p.add_argument("--accel", choices=("auto", "tcg", "kvm"), default="auto",
                   help="auto: KVM only if a probe boots a guest with it")
    p.add_argument("--seed", type=int, help="seed of the per-round variant order (default: random, "
                   "recorded in results.json)")
    p.add_argument("--shard", metavar="I/N",
                   help="run only shard I of N of the (variant, trial) matrix (CI fan-out)")
    p.add_argument("--quiet", action="store_true", help="print only the results table")
    p.add_argument("--json", action="store_true", help="progress as JSON lines")
    p.set_defaults(func=_cmd_run)
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


def dispatch(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # None: --base left out, so a rebase or merge in progress is refused, not used.
    args.base_given = args.base is not None
    args.base = args.base if args.base is not None else "HEAD"
    if getattr(args, "func", None):
        return int(args.func(args))
    if args.list:
        return _cmd_list(args)
    if args.variant is not None:
        return _cmd_generate(args)
    parser.print_usage(sys.stderr)
    return 2
