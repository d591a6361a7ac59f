# SPDX-License-Identifier: GPL-2.0
"""The series output directory OUT/<variant>: locked, replaced whole, and only gen's own files.

    OUT/.drainlab-lock                 flock + the pid of the gen that holds it
    OUT/.<variant>.new-XXXX/           the new series while it is written
    OUT/<variant>/.drainlab-manifest   the names gen wrote last time

A new series is written beside the old one and swapped in with SIGINT,
SIGTERM and SIGHUP held back, so a Ctrl-C at any moment leaves the old
series or the new one, complete. Only files listed in the manifest are
ever removed; anything else a user keeps in OUT/<variant>/ stays.
"""

import contextlib
import fcntl
import os
import re
import shutil
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from generator import inputs
from generator.errors import UserError

LOCK_NAME = ".drainlab-lock"
MANIFEST = ".drainlab-manifest"
MANIFEST_HEADER = "# drainlab: the files gen wrote here; a rerun replaces only these\n"
MANIFEST_MAX = 64 << 10
# git format-patch file names: NNNN-<sanitized subject>.patch
OWN_NAME_RE = re.compile(r"^[0-9]{4}-[A-Za-z0-9._-]+\.patch$")
_HELD_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
# A series written before manifests existed: its cover letter says who made it.
_LEGACY_MARK = re.compile(r"generated\s+by\s+drainlab")
_LEGACY_COUNT_RE = re.compile(r"^Subject: \[PATCH 0/(\d+)\]", re.MULTILINE)


@dataclass(frozen=True)
class Published:
    directory: Path
    written: tuple[str, ...]  # names of the new series
    replaced: tuple[str, ...]  # names of gen's previous files that were removed
    kept: tuple[str, ...]  # other files in the directory, left alone


@contextmanager
def locked(root: Path, wait: bool = False) -> Iterator[None]:
    """Hold ROOT's output lock; another gen holding it is a one-line UserError naming its pid.

    WAIT: block until the other gen is done instead (for outputs whose
    content does not depend on the run, like the selftests).
    """
    path = root / LOCK_NAME
    try:
        handle: IO[str] = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - `with` below
    except OSError as err:
        raise UserError(f"cannot create {path}: {err.strerror}",
                        "pass a writable --out directory") from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            handle.seek(0)
            pid = handle.read(32).strip()
            who = f"pid {pid}" if pid.isdigit() else "pid unknown"
            raise UserError(f"{root} is in use by another gen ({who}) writing a series there",
                            "wait for it to finish, or pass another --out") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield


@contextmanager
def signals_held() -> Iterator[None]:
    """Hold back Ctrl-C (and TERM/HUP) for a few renames; it is delivered right after."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def staging_dir(root: Path, variant: str) -> Path:
    """A fresh hidden directory in ROOT (same file system as the target: renames are atomic)."""
    staging = Path(tempfile.mkdtemp(prefix=f".{variant}.new-", dir=root))
    umask = os.umask(0o022)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)  # it becomes OUT/<variant>: a normal directory
    return staging


def remove_stale_staging(root: Path, variant: str) -> None:
    """Staging directories a killed gen (SIGKILL, SIGTERM mid-write) left; call under the lock."""
    for stale in root.glob(f".{variant}.new-*"):
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)


def previous_files(target: Path) -> tuple[str, ...]:
    """The names gen wrote into TARGET last time (manifest; or a pre-manifest drainlab series)."""
    manifest = target / MANIFEST
    if manifest.is_file() or manifest.is_symlink():
        text = inputs.read_text(manifest, MANIFEST_MAX, "series manifest")
        names = [line.strip() for line in text.splitlines()
                 if line.strip() and not line.startswith("#")]
        return tuple(n for n in names if OWN_NAME_RE.match(n))
    return _legacy_files(target)


def _legacy_files(target: Path) -> tuple[str, ...]:
    cover = target / "0000-cover-letter.patch"
    if not cover.is_file():
        return ()
    try:
        text = inputs.read_text(cover, 1 << 20, "cover letter")
    except UserError:
        return ()
    count = _LEGACY_COUNT_RE.search(text)
    if not _LEGACY_MARK.search(text) or count is None:
        return ()
    wanted = {f"{n:04d}" for n in range(1, int(count.group(1)) + 1)}
    patches = [p.name for p in target.glob("[0-9][0-9][0-9][0-9]-*.patch")
               if p.name[:4] in wanted and OWN_NAME_RE.match(p.name)]
    return (cover.name, *sorted(patches))


def _entries(target: Path) -> list[str]:
    try:
        return sorted(os.listdir(target))
    except FileNotFoundError:
        return []


def _check_target(target: Path) -> None:
    if os.path.lexists(target) and not target.is_dir():
        raise UserError(f"{target} exists and is not a directory",
                        "move it away, or pass another --out")


def publish(staging: Path, target: Path, names: tuple[str, ...]) -> Published:
    """Swap the series in STAGING (files NAMES) in for gen's previous files in TARGET.

    A user's file whose name the new series needs is an error, before
    anything changes. STAGING is gone afterwards.
    """
    _check_target(target)
    previous = previous_files(target) if target.is_dir() else ()
    present = _entries(target)
    in_way = [n for n in names if n in present and n not in previous]
    if in_way:
        raise UserError(f"{target / in_way[0]} is not gen's (not in {MANIFEST}) and the new "
                        "series needs its name", "move it away, or pass another --out")
    for name in (*names, *previous):
        path = target / name
        if path.is_dir() and not path.is_symlink():
            raise UserError(f"{path} is a directory where gen writes a patch",
                            "move it away, or pass another --out")
    removed = tuple(n for n in previous if n in present and n not in names)
    kept = tuple(n for n in present if n not in previous and n not in names and n != MANIFEST)
    _write_manifest(staging, names)
    try:
        with signals_held():
            if not target.is_dir():
                os.rename(staging, target)  # one atomic step
            else:
                for name in removed:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(target / name)
                for name in (*names, MANIFEST):
                    os.replace(staging / name, target / name)
                os.rmdir(staging)
    except OSError as err:  # e.g. OUT/<variant> is a link to another file system
        raise UserError(f"cannot move the new series into {target}: {err.strerror}",
                        "make OUT/<variant> a plain directory, or pass another --out") from None
    replaced = tuple(n for n in previous if n in present)
    return Published(target, names, replaced, kept)


def remove_previous(target: Path) -> Published:
    """An empty series: remove gen's previous files (and TARGET if that empties it)."""
    _check_target(target)
    previous = previous_files(target) if target.is_dir() else ()
    present = _entries(target)
    removed = tuple(n for n in previous if n in present)
    kept = tuple(n for n in present if n not in previous and n != MANIFEST)
    with signals_held():
        for name in removed:
            path = target / name
            if not path.is_dir() or path.is_symlink():
                os.unlink(path)
        if target.is_dir() and (removed or MANIFEST in present):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(target / MANIFEST)
        if target.is_dir() and not _entries(target):
            os.rmdir(target)
    return Published(target, (), removed, kept)


def discard(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)


def _write_manifest(directory: Path, names: tuple[str, ...]) -> None:
    (directory / MANIFEST).write_text(MANIFEST_HEADER + "".join(f"{n}\n" for n in names),
                                      encoding="utf-8")
