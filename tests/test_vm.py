# SPDX-License-Identifier: GPL-2.0
"""vm: QEMU command line, outcome classification, and real TCG boots of the
base kernel: ok, hang (watchdog), crash (panic), Ctrl-C, KVM probe."""

import os
import stat
import time
from pathlib import Path

import pytest

from generator import initramfs, vm
from generator.errors import UserError
from generator.initramfs import CpioEntry

from conftest import BuiltKernel, need_tool, path_without


def test_qemu_command_line() -> None:
    params = vm.QemuParams(smp=2)
    argv = params.argv(Path("/k/bzImage"), Path("/k/initrd.cpio"), ["drainlab.x=1"])
    assert argv == [
        "qemu-system-x86_64", "-kernel", "/k/bzImage", "-initrd", "/k/initrd.cpio",
        "-nographic", "-no-reboot", "-m", "2G", "-smp", "2", "-net", "none",
        "-accel", "tcg", "-cpu", "max",
        "-append", "console=ttyS0 movablecore=512M cma=64M@256M panic=-1 loglevel=4 drainlab.x=1",
    ]
    kvm = params.with_accel("kvm")
    assert (kvm.accel, kvm.cpu) == ("kvm", "host") and params.accel == "tcg"


def test_hotremove_command_line() -> None:
    """The hotremove profile's QEMU: hotpluggable memory, one cold-plugged DIMM, a QMP socket."""
    from generator.run import with_dimm

    params = with_dimm(vm.QemuParams(smp=2), 512)
    argv = params.argv(Path("/k/bzImage"), Path("/k/initrd.cpio"), qmp_socket=Path("/t/qmp.sock"))
    assert argv[argv.index("-m") + 1] == "2G,slots=2,maxmem=4G"
    at = argv.index("-object")
    assert argv[at:at + 6] == [
        "-object", "memory-backend-ram,id=dimm0-ram,size=512M",
        "-device", "pc-dimm,id=dimm0,memdev=dimm0-ram,slot=0",
        "-qmp", "unix:/t/qmp.sock,server=on,wait=off",
    ]
    assert argv[-1].split() == ["console=ttyS0", "movablecore=512M", "cma=64M@256M", "panic=-1",
                                "loglevel=4", "memhp_default_state=online_movable"]
    # Without a DIMM nothing changes: no slots, no QMP, no memhp.
    assert with_dimm(vm.QemuParams(smp=2), 0) == vm.QemuParams(smp=2)


def test_default_vcpus_never_exceed_host_cores() -> None:
    assert vm.QemuParams().smp == len(os.sched_getaffinity(0))


# -- classification, with a stand-in "qemu" that replays a console (a real process) --


def fake_qemu(tmp_path: Path, console: str, rc: int = 0, sleep: float = 0) -> vm.QemuParams:
    log = tmp_path / "console.txt"
    log.write_text(console)
    script = tmp_path / "fake-qemu"
    script.write_text(f"#!/bin/sh\ncat '{log}'\nsleep {sleep}\nexit {rc}\n")
    script.chmod(0o755)
    return vm.QemuParams(binary=str(script), smp=1)


def boot_fake(tmp_path: Path, params: vm.QemuParams, timeout_s: float = 20) -> vm.BootResult:
    files = [tmp_path / "bzImage", tmp_path / "initrd"]
    for f in files:
        f.write_bytes(b"")
    return vm.boot(files[0], files[1], tmp_path / "out" / "console.log", params, timeout_s=timeout_s)


OK_CONSOLE = ("SeaBIOS\r\nDRAINLAB: boot uptime=0.55\r\nDRAINLAB: begin t.sh\r\nok 1\r\n"
              "DRAINLAB: end t.sh rc=0 ms=12\r\nDRAINLAB: done\r\nreboot: Restarting system\r\n")


def test_ok_console_is_ok(tmp_path: Path) -> None:
    res = boot_fake(tmp_path, fake_qemu(tmp_path, OK_CONSOLE))
    assert res.status == "ok" and res.saw_done and res.exit_code == 0 and res.boot_s is not None
    assert "\r" not in res.console_path.read_text()
    assert res.console_path.read_text() == OK_CONSOLE.replace("\r", "")
    stamped = vm.times_path(res.console_path).read_text().splitlines()
    assert [line.split(" ", 1)[1] for line in (s.lstrip() for s in stamped)] == \
        OK_CONSOLE.replace("\r", "").splitlines()


def test_panic_is_a_crash_even_after_done(tmp_path: Path) -> None:
    console = OK_CONSOLE.replace("ok 1\r\n", "BUG: unable to handle page fault for address: 0\r\n"
                                 "Oops: 0000 [#1] PREEMPT SMP\r\n")
    res = boot_fake(tmp_path, fake_qemu(tmp_path, console))
    assert res.status == "crash" and res.crash_line and res.crash_line.startswith("BUG: unable")


def test_exit_without_done_is_a_crash(tmp_path: Path) -> None:
    res = boot_fake(tmp_path, fake_qemu(tmp_path, "DRAINLAB: boot uptime=1.0\nDRAINLAB: begin t.sh\n"))
    assert res.status == "crash" and not res.saw_done and res.crash_line is None


def test_qemu_failure_is_an_error(tmp_path: Path) -> None:
    console = ("error: failed to set MSR 0x10a to 0x69\n"
               "qemu-system-x86_64: ../../target/i386/kvm/kvm.c:3183: "
               "kvm_buf_set_msrs: Assertion `ret == cpu->kvm_msr_buf->nmsrs' failed.\n")
    res = boot_fake(tmp_path, fake_qemu(tmp_path, console, rc=134))
    assert res.status == "error" and res.exit_code == 134


def test_guest_requests_are_carried_out_or_recorded(tmp_path: Path) -> None:
    """A console request line goes to QMP (here: no QEMU listens, so a QMP error);
    a request for a device drainlab did not create is refused; both are recorded."""
    console = ("DRAINLAB: boot uptime=0.5\ndrainlab-qmp: device_del dimm0\n"
               "drainlab-qmp: device_del ide0\nDRAINLAB: done\n")
    params = fake_qemu(tmp_path, console)
    args = tmp_path / "args"
    script = Path(params.binary)
    script.write_text(script.read_text().replace("cat ", f"echo \"$@\" > '{args}'\ncat ", 1))
    params = vm.QemuParams(binary=params.binary, smp=1, dimms=(vm.Dimm("dimm0", 256),))
    res = boot_fake(tmp_path, params)
    assert res.status == "ok"
    first, second = res.requests
    assert (first.outcome, first.args) == ("error", ("dimm0",)) and "QMP socket" in first.detail
    assert (second.outcome, second.args) == ("refused", ("ide0",))
    recorded = vm.requests_path(res.console_path).read_text().splitlines()
    assert [r.split('"outcome": ')[1][:9] for r in recorded] == ['"error", ', '"refused"']
    sock = args.read_text().split("-qmp unix:")[1].split(",")[0]
    assert sock.endswith("/qmp.sock") and not Path(sock).parent.exists()  # removed after the boot
    # A boot without requests leaves no requests file (an earlier boot's is removed).
    res = boot_fake(tmp_path, fake_qemu(tmp_path, OK_CONSOLE))
    assert res.requests == () and not vm.requests_path(res.console_path).exists()


def test_watchdog_makes_a_hang_result(tmp_path: Path) -> None:
    res = boot_fake(tmp_path, fake_qemu(tmp_path, "DRAINLAB: boot uptime=1.0\n", sleep=60), timeout_s=2)
    assert res.status == "hang" and res.exit_code is None and res.seconds < 15
    assert "DRAINLAB: boot" in res.tail


def test_missing_kernel_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="kernel .* not found"):
        vm.boot(tmp_path / "nope", tmp_path / "nope.cpio", tmp_path / "c.log")


def test_missing_qemu_names_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", path_without(tmp_path, "qemu-system-x86_64"))
    with pytest.raises(UserError, match="qemu-system-x86_64 not found; "
                                        "install it: apt-get install qemu-system-x86"):
        boot_fake(tmp_path, vm.QemuParams())


# -- real boots (TCG) ---------------------------------------------------------------


def selftests(tmp_path: Path, scripts: dict[str, str]) -> initramfs.Initramfs:
    d = tmp_path / "drainlab"
    d.mkdir()
    for name, body in scripts.items():
        (d / name).write_text("#!/bin/sh\n" + body + "\n")
        (d / name).chmod(0o755)
    # Unique content per test, so the archive path names this test's QEMU.
    (d / "id").write_text(str(tmp_path))
    return initramfs.build_initramfs(d, list(scripts), timeout_s=120)


def qemu_running(initrd: Path) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if str(initrd).encode() in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


@pytest.fixture
def qemu() -> str:
    return need_tool("qemu-system-x86_64")


@pytest.mark.realtree
@pytest.mark.kernel
def test_real_boot_runs_the_programs(built_kernel: BuiltKernel, tmp_path: Path, qemu: str) -> None:
    image = selftests(tmp_path, {
        "facts.sh": 'echo "# fact ncpu=$(grep -c ^processor /proc/cpuinfo)"; '
                    'grep "Page block order" /proc/pagetypeinfo; cat /sys/kernel/debug/cma/*/count; '
                    'test -e /sys/kernel/tracing/available_filter_functions && echo tracefs-ok; '
                    "printf 'no newline'",
        "fails.sh": "exit 7",
    })
    lines: list[str] = []
    res = vm.boot(built_kernel.bzimage, image.path, tmp_path / "console.log", timeout_s=120,
                  on_line=lambda t, line: lines.append(line))
    assert res.status == "ok", res.tail
    assert res.accel == "tcg" and res.exit_code == 0 and res.boot_s is not None
    print(f"boot to /init: {res.boot_s:.2f} s host, total {res.seconds:.2f} s")
    text = res.console_path.read_text()
    assert text.splitlines() == lines
    assert f"# fact ncpu={vm.host_cores()}" in text  # ACPI brings up every vCPU
    assert "Page block order: 9" in text  # HUGETLBFS: 2 MiB pageblocks
    assert "\n16384\n" in text  # cma=64M@256M: 16384 pages
    assert "tracefs-ok" in text
    # The end marker starts its own line even after output without a newline.
    assert "\nDRAINLAB: end facts.sh rc=0 ms=" in text
    assert "\nDRAINLAB: end fails.sh rc=7 ms=" in text
    assert text.index("DRAINLAB: end fails.sh") < text.index("DRAINLAB: done")


@pytest.mark.realtree
@pytest.mark.kernel
def test_real_hang_is_killed_and_recorded(built_kernel: BuiltKernel, tmp_path: Path, qemu: str) -> None:
    image = selftests(tmp_path, {"hang.sh": "echo about to hang; while :; do sleep 1; done"})
    start = time.monotonic()
    res = vm.boot(built_kernel.bzimage, image.path, tmp_path / "console.log", timeout_s=15)
    assert res.status == "hang" and res.exit_code is None and not res.saw_done
    assert 15 <= res.seconds < 25 and time.monotonic() - start < 30
    assert "DRAINLAB: begin hang.sh" in res.tail and "about to hang" in res.tail
    assert "about to hang" in res.console_path.read_text()
    assert qemu_running(image.path) == []


@pytest.mark.realtree
@pytest.mark.kernel
def test_real_ctrl_c_leaves_no_qemu(built_kernel: BuiltKernel, tmp_path: Path, qemu: str) -> None:
    image = selftests(tmp_path, {"slow.sh": "sleep 600"})

    def interrupt(t: float, line: str) -> None:
        if "DRAINLAB: begin" in line:
            assert qemu_running(image.path), "QEMU should be running here"
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        vm.boot(built_kernel.bzimage, image.path, tmp_path / "console.log", timeout_s=120, on_line=interrupt)
    assert qemu_running(image.path) == []


@pytest.mark.realtree
@pytest.mark.kernel
def test_real_panic_is_a_crash(built_kernel: BuiltKernel, tmp_path: Path, qemu: str) -> None:
    # An /init that exits: "Kernel panic - not syncing: Attempted to kill init!",
    # and panic=-1 + -no-reboot end QEMU at once.
    busybox = Path(need_tool("busybox")).resolve()
    initrd = tmp_path / "exit.cpio"
    with open(initrd, "wb") as out:
        initramfs.write_newc([
            CpioEntry("dev", stat.S_IFDIR | 0o755),
            CpioEntry("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1)),
            CpioEntry("bin", stat.S_IFDIR | 0o755),
            CpioEntry("bin/busybox", stat.S_IFREG | 0o755, busybox.read_bytes()),
            CpioEntry("init", stat.S_IFREG | 0o755, b"#!/bin/busybox sh\necho init exits\nexit 3\n"),
        ], out)
    res = vm.boot(built_kernel.bzimage, initrd, tmp_path / "console.log", timeout_s=60)
    assert res.status == "crash", res.tail
    assert res.crash_line and "Kernel panic - not syncing: Attempted to kill init" in res.crash_line
    assert res.exit_code == 0 and res.seconds < 30


@pytest.mark.realtree
@pytest.mark.kernel
def test_kvm_probe_is_quick_and_cached(built_kernel: BuiltKernel, tmp_path: Path, qemu: str) -> None:
    tiny = initramfs.build_initramfs(None, [])
    start = time.monotonic()
    probe = vm.kvm_probe(built_kernel.bzimage, tiny.path, refresh=True)
    assert time.monotonic() - start < 15
    assert probe.reason and probe.boot_id
    print(f"KVM probe: usable={probe.usable} ({probe.reason})")
    start = time.monotonic()
    assert vm.kvm_probe(built_kernel.bzimage, tiny.path) == probe  # cached for this boot id
    assert time.monotonic() - start < 0.5
    accel, why = vm.choose_accel(built_kernel.bzimage, tiny.path, want="auto")
    assert accel == ("kvm" if probe.usable else "tcg") and why == probe.reason
    assert vm.choose_accel(built_kernel.bzimage, tiny.path, want="tcg")[0] == "tcg"
