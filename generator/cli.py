# SPDX-License-Identifier: GPL-2.0
"""gen entry point: parse, dispatch, and turn every GenError into one line + exit code.

Imports of the stages happen inside main()'s try block, so a Ctrl-C at any
moment (even while Python loads tree-sitter) ends with "gen: interrupted"
and exit 130, never a traceback.
"""

import sys


def main(argv: list[str] | None = None) -> int:
    try:
        from generator import commands
        from generator.errors import GenError

        try:
            return commands.dispatch(argv)
        except GenError as err:
            print(f"gen: error: {err.line()}", file=sys.stderr)
            return err.exit_code
    except KeyboardInterrupt:
        print("gen: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
