# SPDX-License-Identifier: GPL-2.0
"""The guest's initramfs: static busybox, a selftests directory and our /init.

The newc archive is written here in Python (no cpio binary, no root needed
for the /dev/console node the kernel opens before /init runs). Entries have
fixed owners and mtimes, so the same inputs give the same bytes; archives are
cached under <cache>/initramfs by (selftests content hash, /init hash,
busybox hash).
"""

import hashlib
import os
import re
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Protocol

from generator import ops, paths, render
from generator.errors import UserError

TEST_ROOT = "/kselftest"
INIT_TEMPLATE = "initramfs/init.j2"
BASH_SHIM = b'#!/bin/busybox sh\nexec /bin/busybox sh "$@"\n'
_SAFE_NAME = re.compile(r"^[A-Za-z0-9._+-][A-Za-z0-9._+/-]*$")
_DIRS = ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "dev", "proc", "sys", "tmp",
         "etc", "root", "mnt", "run")
# Nodes the kernel needs before /init mounts devtmpfs (stdin/stdout of init).
_DEVICES = (("dev/console", 0o600, 5, 1), ("dev/null", 0o666, 1, 3), ("dev/ttyS0", 0o600, 4, 64))


@dataclass(frozen=True)
class CpioEntry:
    name: str  # path inside the archive, no leading "/"
    mode: int  # full st_mode (type bits included)
    data: bytes = b""  # file contents, or the target of a symlink
    rdev: tuple[int, int] = (0, 0)  # (major, minor) of a device node


@dataclass(frozen=True)
class Initramfs:
    path: Path  # uncompressed newc archive
    key: str  # cache key: sha256 over selftests hash, /init and busybox
    size: int
    cached: bool
    init_text: str


def write_newc(entries: Iterable[CpioEntry], out: BinaryIO) -> None:
    """Write a SVR4 "newc" cpio archive (what the kernel's initramfs unpacker reads)."""
    ino = 1
    for entry in [*entries, CpioEntry("TRAILER!!!", 0)]:
        name = entry.name.encode() + b"\0"
        nlink = 2 if stat.S_ISDIR(entry.mode) else 1
        fields = (ino, entry.mode, 0, 0, nlink, 0, len(entry.data), 0, 0,
                  entry.rdev[0], entry.rdev[1], len(name), 0)
        header = b"070701" + b"".join(b"%08X" % f for f in fields)
        out.write(header + name)
        out.write(b"\0" * (-(len(header) + len(name)) % 4))
        out.write(entry.data)
        out.write(b"\0" * (-len(entry.data) % 4))
        ino += 1
    # The kernel does not care, but `cpio -t` and friends like 512-byte blocks.
    pos = out.tell() if out.seekable() else 0
    out.write(b"\0" * (-pos % 512))


def directory_hash(directory: Path) -> str:
    """sha256 over relative paths, exec bits and contents of every file under DIRECTORY."""
    h = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        rel = path.relative_to(directory).as_posix()
        h.update(f"{rel}\0{os.stat(path).st_mode & 0o111:o}\0".encode())
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def render_init(test_progs: Sequence[str], dirname: str = "", timeout_s: int | None = None) -> str:
    for prog in test_progs:
        if not _SAFE_NAME.match(prog) or ".." in prog.split("/"):
            raise UserError(f"test program name {prog!r} is not a plain relative path",
                            "use letters, digits and ._+-/ only")
    if dirname and not _SAFE_NAME.match(dirname):
        raise UserError(f"selftests dirname {dirname!r} is not a plain name", "use letters, digits and ._+-")
    root = f"{TEST_ROOT}/{dirname}" if dirname else TEST_ROOT
    return render.render(INIT_TEMPLATE, test_progs=list(test_progs), test_root=root,
                         timeout_s=timeout_s or 0)


def _tree_entries(directory: Path, prefix: str) -> list[CpioEntry]:
    entries = []
    for path in sorted(directory.rglob("*")):
        rel = f"{prefix}/{path.relative_to(directory).as_posix()}"
        st = os.lstat(path)
        if stat.S_ISDIR(st.st_mode):
            entries.append(CpioEntry(rel, stat.S_IFDIR | 0o755))
        elif stat.S_ISLNK(st.st_mode):
            entries.append(CpioEntry(rel, stat.S_IFLNK | 0o777, os.readlink(path).encode()))
        elif stat.S_ISREG(st.st_mode):
            perm = 0o755 if st.st_mode & 0o111 else 0o644
            entries.append(CpioEntry(rel, stat.S_IFREG | perm, path.read_bytes()))
    return entries


def initramfs_cache() -> Path:
    return paths.cache_dir() / "initramfs"


def build_initramfs(
    selftests_dir: Path | None,
    test_progs: Sequence[str],
    content_hash: str | None = None,
    dirname: str | None = None,
    timeout_s: int | None = None,
    busybox: Path | None = None,
    extra_files: Mapping[str, bytes] | None = None,
) -> Initramfs:
    """An initramfs running TEST_PROGS (relative to SELFTESTS_DIR) from /init.

    selftests_dir is copied to /kselftest/<dirname> (dirname defaults to the
    directory's own name); content_hash is the bundle's hash (computed from
    the files when not given). timeout_s bounds each program in the guest
    (busybox timeout); the host watchdog in vm.boot() bounds the whole boot.
    extra_files maps paths relative to /kselftest ("memory-hotplug/x.sh") to
    contents: files taken from the tree under test at run time (the tree's own
    selftests), installed executable beside the bundle.
    With selftests_dir None and no programs, /init only boots and powers off
    (the KVM probe and boot smoke tests use that).
    """
    bb = Path(busybox or ops.require_tool("busybox")).resolve()
    bb_bytes = bb.read_bytes()
    if not _is_static(bb_bytes):
        raise UserError(f"{bb} is not a static binary", "install it: apt-get install busybox-static")
    if selftests_dir is not None:
        selftests_dir = Path(selftests_dir)
        if not selftests_dir.is_dir():
            raise UserError(f"selftests directory {selftests_dir} not found", "render the selftests first")
        dirname = dirname or selftests_dir.name
        content_hash = content_hash or directory_hash(selftests_dir)
    elif test_progs:
        raise UserError("test programs given without a selftests directory", "pass selftests_dir")
    init_text = render_init(test_progs, dirname or "", timeout_s)

    extras = sorted((extra_files or {}).items())
    for rel, _ in extras:
        parts = PurePosixPath(rel).parts
        if not parts or rel.startswith("/") or ".." in parts or (dirname and parts[0] == dirname):
            raise UserError(f"bad initramfs extra file path {rel!r}",
                            "use a relative path outside the bundle")
    h = hashlib.sha256()
    for part in (content_hash or "-", dirname or "-", init_text, hashlib.sha256(bb_bytes).hexdigest()):
        h.update(part.encode() + b"\0")
    for rel, data in extras:
        h.update(b"extra\0" + rel.encode() + b"\0" + hashlib.sha256(data).hexdigest().encode() + b"\0")
    key = h.hexdigest()
    dest = initramfs_cache() / f"{key[:24]}.cpio"
    if dest.exists():
        return Initramfs(dest, key, dest.stat().st_size, True, init_text)

    entries = [CpioEntry(d, stat.S_IFDIR | 0o755) for d in _DIRS]
    entries += [CpioEntry(n, stat.S_IFCHR | m, rdev=(ma, mi)) for n, m, ma, mi in _DEVICES]
    entries.append(CpioEntry("bin/busybox", stat.S_IFREG | 0o755, bb_bytes))
    entries.append(CpioEntry("bin/sh", stat.S_IFLNK | 0o777, b"busybox"))
    # kselftest scripts often say #!/bin/bash; busybox ash runs most of them.
    # (A symlink would not do: this busybox has no "bash" applet name.)
    entries.append(CpioEntry("bin/bash", stat.S_IFREG | 0o755, BASH_SHIM))
    entries.append(CpioEntry("init", stat.S_IFREG | 0o755, init_text.encode()))
    entries.append(CpioEntry(TEST_ROOT.lstrip("/"), stat.S_IFDIR | 0o755))
    if selftests_dir is not None:
        prefix = f"{TEST_ROOT.lstrip('/')}/{dirname}"
        entries.append(CpioEntry(prefix, stat.S_IFDIR | 0o755))
        entries += _tree_entries(selftests_dir, prefix)
    made = {TEST_ROOT.lstrip("/")}
    for rel, data in extras:
        path = f"{TEST_ROOT.lstrip('/')}/{rel}"
        for parent in reversed(PurePosixPath(path).parents[:-1]):
            if str(parent) not in made:
                made.add(str(parent))
                entries.append(CpioEntry(str(parent), stat.S_IFDIR | 0o755))
        entries.append(CpioEntry(path, stat.S_IFREG | 0o755, data))

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(f".tmp{os.getpid()}")
    with open(tmp, "wb") as out:
        write_newc(entries, out)
    os.replace(tmp, dest)
    return Initramfs(dest, key, dest.stat().st_size, False, init_text)


def _is_static(elf: bytes) -> bool:
    """True for an ELF without a PT_INTERP (program interpreter) segment."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2:  # 64-bit ELF only
        return False
    phoff = int.from_bytes(elf[32:40], "little")
    phentsize = int.from_bytes(elf[54:56], "little")
    phnum = int.from_bytes(elf[56:58], "little")
    for i in range(phnum):
        off = phoff + i * phentsize
        if int.from_bytes(elf[off:off + 4], "little") == 3:  # PT_INTERP
            return False
    return True


class _Bundle(Protocol):
    directory: Path
    dirname: str
    test_progs: tuple[str, ...]
    content_hash: str
    timeout_s: int


def for_bundle(bundle: _Bundle) -> Initramfs:
    """The initramfs for a selftests.render_selftests() bundle (per-script timeout_s
    applied in the guest, as the kselftest runner's settings file would)."""
    return build_initramfs(bundle.directory, bundle.test_progs, bundle.content_hash,
                           bundle.dirname, bundle.timeout_s)
