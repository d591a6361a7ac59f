# SPDX-License-Identifier: GPL-2.0
"""Guest requests to the host, carried out over QEMU's QMP socket.

The hotremove profile's guest asks the host to unplug a DIMM by printing a
console line (protocol.HOST_REQUEST_RE):

    drainlab-qmp: device_del dimm0

vm.boot() sees it, and handle_request() checks it against the device ids
drainlab itself put on QEMU's command line (the console is guest output:
hostile input) and sends it over QMP. Every request, refused or failed
included, becomes a HostRequest, never an exception: the run records it as
a test point of its own.

QMP (docs/interop/qmp-spec in QEMU) is newline-delimited JSON over the
-qmp unix socket: QEMU greets with {"QMP": ...}, the client sends
{"execute": "qmp_capabilities"} and gets {"return": {}}, then commands;
asynchronous {"event": ...} messages may arrive between replies and are
skipped. Plain socket + json: the exchange is three lines.
"""

import json
import socket
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator import protocol

# Bounds: the console reader waits for the reply, so a stuck QEMU costs at
# most this long; a reply line longer than MAX_LINE is a broken peer.
TIMEOUT_S = 10.0
MAX_LINE = 1 << 20
# A guest printing requests in a loop gets this many carried out, no more.
MAX_REQUESTS = 8
# The only command a guest may ask for, and how many arguments it takes.
ALLOWED = {"device_del": 1}


class QmpError(Exception):
    """The QMP exchange failed: socket error, timeout, bad JSON, or an error reply."""


@dataclass(frozen=True)
class HostRequest:
    """One guest request and what the host did with it.

    outcome: "ok" (QEMU accepted the command), "refused" (not a request the
    host carries out: unknown command, a device drainlab did not create, too
    many requests, no QMP socket) or "error" (QMP failed or replied with an
    error). seconds: host seconds since QEMU started, when the line arrived.
    """

    line: str
    command: str
    args: tuple[str, ...]
    outcome: str
    detail: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    def to_json(self) -> str:
        return json.dumps({"seconds": round(self.seconds, 3), "line": self.line,
                           "command": self.command, "args": list(self.args),
                           "outcome": self.outcome, "detail": self.detail})


class QmpClient:
    """A connected, capability-negotiated QMP session on a unix socket.

    Raise: QmpError on any failure (connect, greeting, negotiation).
    """

    def __init__(self, path: Path, timeout_s: float = TIMEOUT_S) -> None:
        self._deadline = time.monotonic() + timeout_s
        self._buf = b""
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._sock.settimeout(timeout_s)
            self._sock.connect(str(path))
            greeting = self._read()
            if "QMP" not in greeting:
                raise QmpError(f"no QMP greeting: {json.dumps(greeting)[:200]}")
            self.execute("qmp_capabilities")
        except OSError as err:
            self.close()
            raise QmpError(f"QMP socket {path}: {err.strerror or err}") from err
        except QmpError:
            self.close()
            raise

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> "QmpClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read(self) -> dict[str, Any]:
        """The next JSON object from QEMU (one line)."""
        while b"\n" not in self._buf:
            left = self._deadline - time.monotonic()
            if left <= 0:
                raise QmpError("QMP timed out")
            self._sock.settimeout(left)
            try:
                chunk = self._sock.recv(65536)
            except TimeoutError as err:
                raise QmpError("QMP timed out") from err
            except OSError as err:
                raise QmpError(f"QMP read failed: {err.strerror or err}") from err
            if not chunk:
                raise QmpError("QEMU closed the QMP socket")
            self._buf += chunk
            if len(self._buf) > MAX_LINE:
                raise QmpError("QMP reply line too long")
        line, self._buf = self._buf.split(b"\n", 1)
        try:
            obj = json.loads(line)
        except ValueError as err:
            raise QmpError(f"QMP sent bad JSON: {line[:200]!r}") from err
        if not isinstance(obj, dict):
            raise QmpError(f"QMP sent a non-object: {line[:200]!r}")
        return obj

    def execute(self, command: str, arguments: dict[str, Any] | None = None) -> Any:
        """Send one command, return its "return" value; events in between are skipped.

        Raise: QmpError for an {"error": {"class", "desc"}} reply or a failed exchange.
        """
        msg: dict[str, Any] = {"execute": command}
        if arguments:
            msg["arguments"] = arguments
        try:
            self._sock.sendall(json.dumps(msg).encode() + b"\n")
        except OSError as err:
            raise QmpError(f"QMP write failed: {err.strerror or err}") from err
        while True:
            reply = self._read()
            if "event" in reply:
                continue
            if "error" in reply:
                what = reply["error"] if isinstance(reply["error"], dict) else {}
                raise QmpError(f"{command}: {what.get('class', 'error')}: {what.get('desc', '')}")
            if "return" in reply:
                return reply["return"]
            raise QmpError(f"unexpected QMP reply: {json.dumps(reply)[:200]}")


def parse_request(line: str) -> tuple[str, tuple[str, ...]] | None:
    """("device_del", ("dimm0",)) for a request line, else None (not a request)."""
    m = protocol.HOST_REQUEST_RE.match(line.strip())
    if not m:
        return None
    words = m.group("body").split()
    return (words[0], tuple(words[1:])) if words else ("", ())


def handle_request(line: str, seconds: float, socket_path: Path | None,
                   device_ids: Collection[str], done: int) -> HostRequest | None:
    """Carry out one console line's request, if it is one; None if it is not.

    device_ids: the ids drainlab put on QEMU's command line (the only ones a
    guest may name); done: requests already handled in this boot. Never
    raises for what the guest wrote or for QMP failing.
    """
    parsed = parse_request(line)
    if parsed is None:
        return None
    command, args = parsed
    text = line.strip()[:200]

    def result(outcome: str, detail: str) -> HostRequest:
        return HostRequest(text, command[:40], tuple(a[:40] for a in args[:4]), outcome, detail, seconds)

    if done >= MAX_REQUESTS:
        return result("refused", f"more than {MAX_REQUESTS} requests in one boot")
    if command not in ALLOWED:
        return result("refused", f"unknown request {command[:40]!r} (allowed: {', '.join(ALLOWED)})")
    if len(args) != ALLOWED[command]:
        return result("refused", f"{command} takes {ALLOWED[command]} argument(s), got {len(args)}")
    if args[0] not in device_ids:
        known = ", ".join(sorted(device_ids)) or "none"
        return result("refused", f"device {args[0][:40]!r} was not created by drainlab (its: {known})")
    if socket_path is None:
        return result("refused", "this boot has no QMP socket")
    try:
        with QmpClient(socket_path) as client:
            client.execute(command, {"id": args[0]})
    except QmpError as err:
        return result("error", str(err))
    return result("ok", f"QEMU accepted {command} {args[0]}")
