# SPDX-License-Identifier: GPL-2.0
"""gen entry point: parse, dispatch, and turn every GenError into one line + exit code.

Imports of the stages happen inside main()'s try block, so a Ctrl-C at any
moment (even while Python loads tree-sitter) ends with "gen: interrupted"
and exit 130, never a traceback. An OSError no stage turned into a GenError
(a disk that went away, a file that changed under us) is still one line,
exit 3; a reader that closed the pipe (`gen --list | head -1`) ends gen quietly.
SIGTERM and SIGHUP unwind like Ctrl-C (errors.Terminated) and exit 128 + the
signal's number, as a shell reports it.
"""

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType

# Small and stdlib-only, so bound before any signal can arrive in main().
from generator.errors import Terminated

# What a CI runner's cancel, `timeout` and a closed terminal send.
TERMINATING = (signal.SIGTERM, signal.SIGHUP)


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    # One unwind is enough: a second SIGTERM (systemd, a CI runner) must not cut
    # the cleanup it started short; SIGKILL is still there for a stuck one.
    for sig in TERMINATING:
        signal.signal(sig, signal.SIG_IGN)
    raise Terminated(signum)


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """While inside, SIGTERM and SIGHUP raise errors.Terminated in the main thread.

    A signal the caller ignores stays ignored (`nohup gen run` must survive the
    hangup). Off the main thread (gen called in-process by a test runner's
    worker) nothing changes: Python allows handlers only there. The previous
    handlers come back on the way out.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {sig: signal.getsignal(sig) for sig in TERMINATING}
    try:
        for sig, handler in old.items():
            if handler is not signal.SIG_IGN:
                signal.signal(sig, _raise_terminated)
        yield
    finally:
        for sig, handler in old.items():
            if handler is not None:  # None: set outside Python; nothing to put back
                signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> int:
    with terminate_as_interrupt():
        return _main(argv)


def _main(argv: list[str] | None) -> int:
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
    except Terminated as stop:
        name = signal.Signals(stop.signum).name
        print(f"gen: terminated by {name}", file=sys.stderr)
        return 128 + stop.signum
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
