# SPDX-License-Identifier: GPL-2.0
"""Reading input files a user can hand us (catalog YAML, sites, profiles, results).

Every read is bounded before parsing: a catalog entry is a few KB, so a
50 MB file, a FIFO, a device or a directory where a file should be is one
line naming the file, not minutes of parsing, gigabytes of memory or a
read that never returns.
"""

import errno
import os
import stat
from pathlib import Path

from generator.errors import UserError

CATALOG_MAX = 64 << 10  # one variant or sites.yaml: a few KB today


def read_text(path: Path, limit: int, what: str) -> str:
    """The UTF-8 text of PATH, at most LIMIT bytes.

    WHAT names the file's role in the error ("catalog file"). Symlinks are
    followed; the target must be a regular file. Errors: UserError (exit 2)
    for a missing or unreadable file, another file type, more than LIMIT
    bytes or bytes that are not UTF-8.
    """
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError as err:
        hint = "pass a regular file" if err.errno == errno.EISDIR else "check the path"
        raise UserError(f"cannot read {what} {path}: {err.strerror}", hint) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UserError(f"{what} {path} is {_kind(info.st_mode)}, not a regular file",
                            "replace it with a regular file, or move it away")
        if info.st_size > limit:
            raise UserError(f"{what} {path} is {info.st_size} bytes, more than {limit}",
                            f"keep it under {limit // 1024} KiB (is it the right file?)")
        chunks, size = [], 0
        while size <= limit:  # the size can change after fstat
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        data = b"".join(chunks)
    except OSError as err:
        raise UserError(f"cannot read {what} {path}: {err.strerror}", "check the file") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise UserError(f"{what} {path} is more than {limit} bytes",
                        f"keep it under {limit // 1024} KiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        raise UserError(f"{what} {path}:{line}: not UTF-8 (byte 0x{data[err.start]:02x} at offset "
                        f"{err.start})", "save the file as UTF-8") from None


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"
