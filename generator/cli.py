# SPDX-License-Identifier: GPL-2.0
"""gen: command-line entry. Builds requests, calls the stages, prints one line on error."""

import argparse
import sys

from generator import tree as kernel_tree
from generator.errors import GenError


def _cmd_tree(args: argparse.Namespace) -> int:
    tree = kernel_tree.prepare_default_tree()
    print(tree.path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gen", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    p = sub.add_parser("tree", help="prepare the default linux-source-6.1 tree and print its path")
    p.set_defaults(func=_cmd_tree)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_usage(sys.stderr)
        return 2
    try:
        return int(args.func(args))
    except GenError as err:
        print(f"gen: error: {err.line()}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("gen: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
