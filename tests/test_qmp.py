# SPDX-License-Identifier: GPL-2.0
"""Guest requests to the host (drainlab-qmp: lines) and the QMP client.

The QMP tests talk to a real qemu-system-x86_64 that runs no guest code:
`-machine none`, or a pc machine with a DIMM started paused (-S), so they
cost a fraction of a second of QEMU start-up.
"""

import json
import os
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from generator import qmp, vm
from tests.conftest import need_tool

# Recorded from the hotremove profile's guest (dimm-remove.sh) and hostile variants.
REQUEST = "drainlab-qmp: device_del dimm0"


def handle(line: str, socket_path: Path | None = None, done: int = 0) -> qmp.HostRequest | None:
    return qmp.handle_request(line, 12.5, socket_path, {"dimm0"}, done)


@pytest.mark.parametrize("line", [
    "ok 3 dimm/dimm0/offline",
    "# metric test=dimm/dimm0/remove op=remove us=1 result=ok",
    "[   12.345] drainlab-qmp: device_del dimm0",  # a kernel line, not the guest's request
    "echo drainlab-qmp: device_del dimm0",
    "",
])
def test_lines_that_are_not_requests_are_ignored(line: str) -> None:
    assert handle(line) is None


@pytest.mark.parametrize(("line", "detail"), [
    ("drainlab-qmp: quit", "unknown request 'quit'"),
    ("drainlab-qmp: human-monitor-command info", "unknown request"),
    ("drainlab-qmp:", "unknown request ''"),
    ("drainlab-qmp: device_del", "takes 1 argument(s), got 0"),
    ("drainlab-qmp: device_del dimm0 now", "takes 1 argument(s), got 2"),
    ("drainlab-qmp: device_del virtio-disk0", "'virtio-disk0' was not created by drainlab"),
    ('drainlab-qmp: device_del dimm0"}', "was not created by drainlab"),
])
def test_hostile_or_unknown_requests_are_refused_and_recorded(line: str, detail: str) -> None:
    req = handle(line, Path("/nonexistent/qmp.sock"))
    assert req is not None and req.outcome == "refused" and not req.ok
    assert detail in req.detail and req.seconds == 12.5
    assert json.loads(req.to_json())["outcome"] == "refused"


def test_requests_beyond_the_bound_are_refused() -> None:
    req = handle(REQUEST, Path("/nonexistent"), done=qmp.MAX_REQUESTS)
    assert req is not None and req.outcome == "refused" and "more than" in req.detail


def test_no_socket_is_a_refusal_and_a_dead_socket_an_error(tmp_path: Path) -> None:
    req = handle(REQUEST, None)
    assert req is not None and req.outcome == "refused" and "no QMP socket" in req.detail
    req = handle(REQUEST, tmp_path / "missing.sock")
    assert req is not None and req.outcome == "error" and "QMP socket" in req.detail
    assert (req.command, req.args) == ("device_del", ("dimm0",))


def test_a_peer_that_is_not_qmp_is_an_error(tmp_path: Path) -> None:
    """A socket that says something else, or nothing, fails the request within the timeout."""
    path = tmp_path / "s"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(2)

    def serve() -> None:
        for reply in (b"hello\n", b'{"nope": 1}\n'):
            conn, _ = server.accept()
            conn.sendall(reply)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        for want in ("bad JSON", "no QMP greeting"):
            req = handle(REQUEST, path)
            assert req is not None and req.outcome == "error" and want in req.detail, req
    finally:
        thread.join(5)
        server.close()


# ---- against a real QEMU ----------------------------------------------------------


def _start_qemu(args: list[str]) -> Iterator[Path]:
    need_tool(vm.QEMU)
    # A short directory: a unix socket path must fit in 108 bytes.
    with tempfile.TemporaryDirectory(prefix="dl-qmp-") as tmp:
        sock = Path(tmp) / "qmp.sock"
        proc = subprocess.Popen([vm.QEMU, *args, "-display", "none", "-nodefaults",
                                 "-qmp", f"unix:{sock},server=on,wait=off"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 20
            while not sock.exists() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert sock.exists(), proc.stdout.read().decode() if proc.poll() is not None else "no socket"
            yield sock
        finally:
            proc.kill()
            proc.wait()


@pytest.fixture
def qemu_none() -> Iterator[Path]:
    yield from _start_qemu(["-machine", "none", "-accel", "tcg"])


@pytest.fixture
def qemu_with_dimm() -> Iterator[Path]:
    """A pc machine with drainlab's own DIMM arguments, paused before any guest code runs."""
    params = vm.QemuParams(memory="256M", dimms=(vm.Dimm("dimm0", 128),))
    argv = params.argv(Path("k"), Path("i"))
    hotplug = argv[argv.index("-m"):argv.index("-smp")] + \
        [a for d in params.dimms for a in d.argv()]
    yield from _start_qemu(["-machine", "pc", "-accel", "tcg", "-S", *hotplug])


def test_client_negotiates_and_reports_an_error_reply(qemu_none: Path) -> None:
    with qmp.QmpClient(qemu_none) as client:
        assert isinstance(client.execute("query-status"), dict)
        with pytest.raises(qmp.QmpError, match="DeviceNotFound|not found"):
            client.execute("device_del", {"id": "dimm0"})
    # The same failure through the request path is a recorded error, not an exception.
    req = handle(REQUEST, qemu_none)
    assert req is not None and req.outcome == "error" and "device_del" in req.detail


def test_device_del_of_drainlabs_dimm_is_accepted(qemu_with_dimm: Path) -> None:
    with qmp.QmpClient(qemu_with_dimm) as client:
        devices = client.execute("query-memory-devices")
        assert [d["data"]["id"] for d in devices] == ["dimm0"]
        assert devices[0]["data"]["size"] == 128 << 20 and devices[0]["data"]["slot"] == 0
    req = handle(REQUEST, qemu_with_dimm)
    assert req is not None and req.ok, req
    # QEMU asked the (paused) guest to eject it; until the guest does, a second
    # request is QEMU's error, recorded as such.
    again = handle(REQUEST, qemu_with_dimm, done=1)
    assert again is not None and again.outcome in ("ok", "error")


def test_socket_path_fits_a_unix_socket() -> None:
    # vm.boot puts the socket in a mkdtemp directory; its path must fit sun_path.
    assert len(os.path.join(tempfile.gettempdir(), "drainlab-qmp-xxxxxxxx", "qmp.sock")) < 100
