# SPDX-License-Identifier: GPL-2.0
"""Boot a built kernel + initramfs under QEMU and record what the console said.

    qemu-system-x86_64 -kernel bzImage -initrd initramfs.cpio -nographic -no-reboot
        -m 2G -smp N -net none -accel tcg -cpu max
        -append 'console=ttyS0 movablecore=512M cma=64M@256M panic=-1 loglevel=4 ...'

The serial console is streamed into a log file (raw text, \\r dropped) as it
arrives. A watchdog thread kills QEMU at the deadline and QEMU is killed
again in `finally`, so neither an exception nor Ctrl-C leaves one running.
Every outcome is a BootResult: a hang (watchdog expiry) is a result with the
console tail, never an exception.

Why plain QEMU and not virtme-ng: vng boots the host's root filesystem over
9p/virtiofs and expects udev and a host-like userspace; our guest is a
2 MB busybox initramfs that starts in about 1 s under TCG, needs no 9p or
virtio drivers in a tinyconfig kernel (they would be extra config = a
different build), and its console is exactly the contract in protocol.py.

KVM: this host exposes /dev/kvm but QEMU aborts on MSR 0x10a (nested virt
inside Firecracker; feasibility §6). kvm_probe() boots the kernel once with
a trivial /init under KVM, caches the verdict per host boot id, and the
default falls back to TCG.
"""

import collections
import dataclasses
import enum
import json
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from generator import ops, paths, protocol, qmp
from generator.errors import UserError

QEMU = "qemu-system-x86_64"
# feasibility §6/§7: CMA pinned below the Movable zone (a plain cma=64M lands
# inside the top Movable block), panic=-1 so a panic ends QEMU at once.
DEFAULT_CMDLINE = ("console=ttyS0", "movablecore=512M", "cma=64M@256M", "panic=-1", "loglevel=4")
DEFAULT_TIMEOUT_S = 900.0
# After "DRAINLAB: done" the guest runs reboot -f; give QEMU this long to exit.
DONE_GRACE_S = 15.0
TAIL_LINES = 60

# First console line that makes a boot a crash even if it reached "done".
CRASH_RE = re.compile(
    r"^(?:\[\s*\d+\.\d+\]\s*)?(?:Kernel panic - not syncing|Oops: |BUG: |kernel BUG at|"
    r"general protection fault|Unable to handle kernel|KVM internal error)"
)
# QEMU's own complaints ("qemu-system-x86_64: -foo: invalid option", the KVM abort).
QEMU_ERROR_RE = re.compile(r"^(qemu-system-\S+: |qemu: |error: failed to set MSR|Could not access KVM)")

# Memory hotplug (the hotremove profile): -m 2G,slots=2,maxmem=4G leaves room
# for DIMMs of up to 2 GiB in all; the guest onlines them into ZONE_MOVABLE.
DIMM_SLOTS = 2
MAX_MEMORY = "4G"
MEMHP_CMDLINE = "memhp_default_state=online_movable"

Progress = Callable[[float, str], None]  # (host seconds since start, console line)


def host_cores() -> int:
    return len(os.sched_getaffinity(0)) or 1


class BootStatus(enum.StrEnum):
    OK = "ok"  # reached DRAINLAB: done, no panic/oops/BUG
    HANG = "hang"  # the watchdog fired before DRAINLAB: done
    CRASH = "crash"  # panic/oops/BUG marker, or QEMU exited without DRAINLAB: done
    ERROR = "error"  # QEMU itself failed (bad option, KVM abort) before the guest ran


@dataclass(frozen=True)
class Dimm:
    """A pc-dimm on a memory-backend-ram, cold-plugged on the command line.

    id is what a guest may name in a device_del request (qmp.py); slot fixes
    the ACPI memory device (_UID) the guest finds it by.
    """

    id: str
    size_mb: int
    slot: int = 0

    @property
    def memdev(self) -> str:
        return f"{self.id}-ram"

    def argv(self) -> list[str]:
        return ["-object", f"memory-backend-ram,id={self.memdev},size={self.size_mb}M",
                "-device", f"pc-dimm,id={self.id},memdev={self.memdev},slot={self.slot}"]


@dataclass(frozen=True)
class QemuParams:
    """Declarative x86_64 QEMU settings; argv() turns them into a command line."""

    memory: str = "2G"
    # Default: one vCPU per host core, never more (feasibility §7: -smp 4 on 2
    # cores makes offlines 10-30x slower under MTTCG).
    smp: int = field(default_factory=host_cores)
    accel: str = "tcg"  # "tcg" | "kvm"
    cpu: str = "max"  # "max" under TCG, "host" under KVM
    cmdline: tuple[str, ...] = DEFAULT_CMDLINE
    extra_args: tuple[str, ...] = ()
    binary: str = QEMU
    # DIMMs make the memory hotpluggable (slots, maxmem) and give the boot a
    # QMP socket, so the guest can ask for their removal.
    dimms: tuple[Dimm, ...] = ()

    def with_accel(self, accel: str) -> "QemuParams":
        return dataclasses.replace(self, accel=accel, cpu="host" if accel == "kvm" else "max")

    def argv(self, bzimage: Path, initrd: Path, extra_cmdline: Sequence[str] = (),
             qmp_socket: Path | None = None) -> list[str]:
        append = " ".join((*self.cmdline, *extra_cmdline))
        memory = self.memory
        hotplug: list[str] = []
        if self.dimms:
            memory = f"{memory},slots={DIMM_SLOTS},maxmem={MAX_MEMORY}"
            hotplug = [arg for dimm in self.dimms for arg in dimm.argv()]
        if qmp_socket is not None:
            hotplug += ["-qmp", f"unix:{qmp_socket},server=on,wait=off"]
        return [
            self.binary, "-kernel", str(bzimage), "-initrd", str(initrd),
            "-nographic", "-no-reboot", "-m", memory, "-smp", str(self.smp),
            "-net", "none", "-accel", self.accel, "-cpu", self.cpu,
            *hotplug, *self.extra_args, "-append", append,
        ]


@dataclass(frozen=True)
class BootResult:
    status: BootStatus
    seconds: float  # host wall time, QEMU start to exit/kill
    console_path: Path
    qemu_argv: tuple[str, ...]
    exit_code: int | None  # None: killed by the watchdog
    accel: str
    tail: str  # last console lines
    boot_s: float | None = None  # host seconds to "DRAINLAB: boot" (kernel up, /init running)
    crash_line: str | None = None  # the first panic/oops/BUG line
    saw_done: bool = False
    requests: tuple[qmp.HostRequest, ...] = ()  # guest requests to the host (drainlab-qmp:)

    @property
    def ok(self) -> bool:
        return self.status == BootStatus.OK


def times_path(console_path: Path) -> Path:
    """The console again, each line prefixed with host seconds since QEMU started."""
    return console_path.with_name(console_path.name + ".times")


def requests_path(console_path: Path) -> Path:
    """The guest's host requests and what became of them, one JSON object a line
    (written only when the guest made one)."""
    return console_path.with_name(console_path.name + ".requests")


def boot(
    bzimage: Path,
    initrd: Path,
    console_path: Path,
    params: QemuParams | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    extra_cmdline: Sequence[str] = (),
    on_line: Progress | None = None,
) -> BootResult:
    """Boot once, stream the console to CONSOLE_PATH, classify the outcome.

    CONSOLE_PATH gets the raw console text (parse it); times_path(CONSOLE_PATH)
    the same lines with host timestamps. on_line(seconds, line) sees each line
    as it arrives (an exception from it, e.g. KeyboardInterrupt, stops QEMU).
    """
    params = params or QemuParams()
    for what, path in (("kernel", bzimage), ("initramfs", initrd)):
        if not Path(path).is_file():
            raise UserError(f"{what} {path} not found", "build it first")
    console_path.parent.mkdir(parents=True, exist_ok=True)
    # The QMP socket lives in a private temporary directory: a unix socket
    # path must fit in 108 bytes, which a results directory may not.
    qmp_dir = Path(tempfile.mkdtemp(prefix="drainlab-qmp-")) if params.dimms else None
    qmp_socket = qmp_dir / "qmp.sock" if qmp_dir else None
    device_ids = {d.id for d in params.dimms}
    requests: list[qmp.HostRequest] = []
    requests_path(console_path).unlink(missing_ok=True)  # an earlier boot's
    argv = params.argv(bzimage, initrd, extra_cmdline, qmp_socket)
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    expired = threading.Event()
    boot_s: float | None = None
    crash_line: str | None = None
    qemu_error = False
    saw_done = False

    start = time.monotonic()
    try:
        proc = ops.spawn(argv)
    except BaseException:
        if qmp_dir is not None:
            shutil.rmtree(qmp_dir, ignore_errors=True)
        raise

    def _expire() -> None:
        expired.set()
        ops.terminate(proc)

    watchdog = threading.Timer(timeout_s, _expire)
    watchdog.daemon = True
    grace: threading.Timer | None = None
    try:
        watchdog.start()
        assert proc.stdout is not None
        with open(console_path, "w") as console, open(times_path(console_path), "w") as times:
            for raw in proc.stdout:
                line = raw.decode("utf-8", "replace").replace("\r", "")
                console.write(line)
                console.flush()
                text = line.rstrip("\n")
                tail.append(text)
                now = time.monotonic() - start
                times.write(f"{now:9.3f} {text}\n")
                if on_line is not None:
                    on_line(now, text)
                req = qmp.handle_request(text, now, qmp_socket, device_ids, len(requests))
                if req is not None:
                    requests.append(req)
                if boot_s is None and protocol.BOOT_RE.search(text):
                    boot_s = now
                if crash_line is None and CRASH_RE.search(text):
                    crash_line = text.strip()
                if QEMU_ERROR_RE.search(text):
                    qemu_error = True
                if not saw_done and protocol.DONE_RE.search(text):
                    saw_done = True
                    # reboot -f should end QEMU now; do not wait for the full watchdog.
                    watchdog.cancel()
                    grace = threading.Timer(DONE_GRACE_S, lambda: ops.terminate(proc))
                    grace.daemon = True
                    grace.start()
        exit_code: int | None = proc.wait()
    finally:
        watchdog.cancel()
        if grace is not None:
            grace.cancel()
        ops.kill(proc)
        if qmp_dir is not None:
            shutil.rmtree(qmp_dir, ignore_errors=True)
    seconds = time.monotonic() - start
    if requests:
        requests_path(console_path).write_text("".join(r.to_json() + "\n" for r in requests))
    if expired.is_set():
        exit_code = None

    if crash_line is not None:
        status = BootStatus.CRASH
    elif saw_done:
        status = BootStatus.OK
    elif expired.is_set():
        status = BootStatus.HANG
    elif qemu_error and boot_s is None:
        status = BootStatus.ERROR
    else:
        status = BootStatus.CRASH
    return BootResult(status, seconds, console_path, tuple(argv), exit_code, params.accel,
                      "\n".join(tail), boot_s, crash_line, saw_done, tuple(requests))


# -- accelerator choice -----------------------------------------------------------


@dataclass(frozen=True)
class KvmProbe:
    usable: bool
    reason: str
    boot_id: str
    seconds: float


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"


def probe_cache() -> Path:
    return paths.cache_dir() / "kvm-probe.json"


def kvm_probe(bzimage: Path, initrd: Path, timeout_s: float = 10.0, refresh: bool = False) -> KvmProbe:
    """Does KVM really run a guest here? Answer cached per host boot.

    initrd should be a trivial one (initramfs.build_initramfs(None, [])):
    KVM is usable only if the guest reaches "DRAINLAB: done" within
    timeout_s. Here QEMU aborts at once with "failed to set MSR 0x10a".
    """
    boot_id = _boot_id()
    cache = probe_cache()
    if not refresh and cache.exists():
        try:
            data = json.loads(cache.read_text())
            if data.get("boot_id") == boot_id:
                return KvmProbe(bool(data["usable"]), str(data["reason"]), boot_id, float(data["seconds"]))
        except (ValueError, KeyError):
            pass
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        result = KvmProbe(False, "/dev/kvm missing or not accessible", boot_id, 0.0)
    else:
        params = QemuParams(smp=1, memory="256M", cmdline=("console=ttyS0", "panic=-1", "loglevel=4"))
        console = cache.with_name("kvm-probe.console.log")
        res = boot(bzimage, initrd, console, params.with_accel("kvm"), timeout_s=timeout_s)
        if res.ok:
            reason = f"guest booted under KVM in {res.seconds:.1f} s"
        else:
            lines = [ln.strip() for ln in res.tail.splitlines() if ln.strip()]
            # QEMU's first complaint ("failed to set MSR 0x10a") says more than its assertion.
            why = next((ln for ln in lines if QEMU_ERROR_RE.search(ln)), lines[-1] if lines else "no output")
            reason = f"KVM boot {res.status} after {res.seconds:.1f} s: {why[:160]}"
        result = KvmProbe(res.ok, reason, boot_id, res.seconds)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(json.dumps(dataclasses.asdict(result)) + "\n")
    os.replace(tmp, cache)
    return result


def choose_accel(bzimage: Path, probe_initrd: Path, want: str | None = None) -> tuple[str, str]:
    """("kvm"|"tcg", why). want/DRAINLAB_ACCEL: "tcg", "kvm" (forced) or "auto"."""
    want = want or os.environ.get("DRAINLAB_ACCEL", "auto")
    if want in ("tcg", "kvm"):
        return want, f"forced ({want})"
    probe = kvm_probe(bzimage, probe_initrd)
    return ("kvm", probe.reason) if probe.usable else ("tcg", probe.reason)
