# SPDX-License-Identifier: GPL-2.0
"""gen entry point: parse, dispatch, and turn every GenError into one line + exit code.

Imports of the stages happen inside main()'s try block, so a Ctrl-C at any
moment (even while Python loads tree-sitter) ends with "gen: interrupted"
and exit 130, never a traceback. An OSError no stage turned into a GenError
(a disk that went away, a file that changed under us) is still one line,
exit 3; a reader that closed the pipe (`gen --list | head -1`) ends gen quietly.
"""

import os
import sys


def main(argv: list[str] | None = None) -> int:
    try:
        from generator import commands
        from generator.errors import GenError

        try:
            status = commands.dispatch(argv)
            sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
            return status
        except GenError as err:
            print(f"gen: error: {err.line()}", file=sys.stderr)
            return err.exit_code
    except KeyboardInterrupt:
        print("gen: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Python would complain again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, as a shell reports a reader that went away
    except OSError as err:
        where = f" {err.filename}" if err.filename else ""
        print(f"gen: error:{where}: {err.strerror or err}; check that path and re-run",
              file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
