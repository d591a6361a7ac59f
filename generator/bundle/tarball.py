# SPDX-License-Identifier: GPL-2.0
"""Bundle tarballs: written whole or not at all, read as untrusted input.

Writing: the directory is packed to a temporary file beside OUT with fixed
owner, mode and mtime (the same content gives the same members) and renamed
over OUT.

Reading: a bundle may come from another machine. Before anything is
written, every member is checked: regular files and directories only (no
symlinks, hard links, devices, FIFOs), a relative path without '..', no
member larger than MAX_MEMBER_BYTES and no more than MAX_TOTAL_BYTES or
MAX_MEMBERS in all. Then members are extracted one by one into the target
directory, each path resolved and checked to stay inside it.
"""

import os
import tarfile
from pathlib import Path, PurePosixPath

from generator.errors import InfraError, UserError

MAX_MEMBER_BYTES = 256 << 20
MAX_TOTAL_BYTES = 1 << 30
MAX_MEMBERS = 20000
FIXED_MTIME = 946684800  # 2000-01-01: members do not carry the build time


def _normalize(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = FIXED_MTIME
    info.mode = 0o755 if info.isdir() else 0o644
    return info


def write_tarball(src: Path, out: Path, top: str) -> Path:
    """Pack directory src as top/... into out (.tar.gz), atomically.

    Raise: InfraError when writing fails (out is then untouched).
    """
    out = out.absolute()
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(tmp, "w:gz", format=tarfile.PAX_FORMAT) as tar:
            tar.add(src, arcname=top, recursive=False, filter=_normalize)
            for path in sorted(src.rglob("*")):
                if path.is_symlink() or not (path.is_file() or path.is_dir()):
                    continue  # only what a reader will accept goes in
                tar.add(path, arcname=f"{top}/{path.relative_to(src).as_posix()}",
                        recursive=False, filter=_normalize)
        os.replace(tmp, out)
    except OSError as err:
        raise InfraError(f"cannot write {out}: {err.strerror or err}",
                         f"check free space and permissions in {out.parent}") from err
    finally:
        if tmp.exists():
            tmp.unlink()
    return out


def check_member(info: tarfile.TarInfo) -> None:
    """Raise UserError unless info is a plain file or directory at a safe relative path."""
    name = info.name
    path = PurePosixPath(name)
    if not name or path.is_absolute() or name.startswith(("/", "\\")) or ":" in path.parts[0]:
        raise UserError(f"bundle member {name!r} has an absolute path",
                        "only bundles written by gen bundle can be read")
    if ".." in path.parts or "\\" in name:
        raise UserError(f"bundle member {name!r} points outside the bundle ('..')",
                        "only bundles written by gen bundle can be read")
    if info.issym() or info.islnk():
        raise UserError(f"bundle member {name!r} is a link", "bundles hold plain files only")
    if not (info.isfile() or info.isdir()):
        raise UserError(f"bundle member {name!r} is a device, FIFO or other special file",
                        "bundles hold plain files only")
    if info.size > MAX_MEMBER_BYTES:
        raise UserError(f"bundle member {name!r} is {info.size} bytes (limit {MAX_MEMBER_BYTES})",
                        "this is not a drainlab bundle")


def safe_extract(tarball: Path, dest: Path) -> Path:
    """Extract tarball into dest (created) after checking every member.

    Raise: UserError on an unreadable tarball or a refused member; nothing
    is extracted when any member is refused, and nothing is ever written
    outside dest.
    """
    try:
        with tarfile.open(tarball, "r:*") as tar:
            members = tar.getmembers()
            if len(members) > MAX_MEMBERS:
                raise UserError(f"{tarball}: {len(members)} members (limit {MAX_MEMBERS})",
                                "this is not a drainlab bundle")
            for info in members:
                check_member(info)
            total = sum(m.size for m in members)
            if total > MAX_TOTAL_BYTES:
                raise UserError(f"{tarball}: {total} bytes unpacked (limit {MAX_TOTAL_BYTES})",
                                "this is not a drainlab bundle")
            dest.mkdir(parents=True, exist_ok=True)
            root = dest.resolve()
            for info in members:
                target = (root / info.name).resolve()
                if target != root and root not in target.parents:
                    raise UserError(f"bundle member {info.name!r} resolves outside {dest}")
                if info.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(info)
                if src is None:
                    raise UserError(f"bundle member {info.name!r} cannot be read")
                with src, open(target, "xb") as out:
                    out.write(src.read(MAX_MEMBER_BYTES + 1)[:MAX_MEMBER_BYTES])
    except (tarfile.TarError, EOFError, OSError) as err:
        raise UserError(f"cannot read bundle {tarball}: {err}",
                        "pass a .tar.gz written by gen bundle") from err
    return dest
