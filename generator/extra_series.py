# SPDX-License-Identifier: GPL-2.0
"""`gen run --extra-series DIR`: a test-only kernel run beside the catalog's variants.

A power benchmark needs kernels that are known to be wrong in ways the
catalog cannot express (a placement is a set of drain sites; a leak on an
error path is not). Such a kernel is a directory of `git format-patch`
files on --base, made at run time against the user's tree (never shipped,
never a catalog variant). gen run applies it in the cache checkout like a
variant's series, so the user's tree is only read, and records its runs
under the directory's name. Its runs are expected to fail: a known-bad
kernel the stress tests pass is a finding, and `gen run` exits 1 for it.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from generator.catalog import RESERVED_NAMES
from generator.errors import UserError

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")  # a results directory name, like a variant's
PATCH_RE = re.compile(r"^[0-9]{4}-[A-Za-z0-9._-]+\.patch$")  # git format-patch's file names
EXPECT = "fail"
PATCH_MAX = 32 << 20  # bytes per patch: a kernel commit's mail is KBs, a big one MBs


@dataclass(frozen=True)
class ExtraSeries:
    name: str  # DIR's name: the results go to RESULTS/<name>/trial-N/
    directory: Path
    patches: tuple[Path, ...]  # NNNN-*.patch in order, the cover letter (0000-) left out


def load_extra_series(directory: Path, taken: Iterable[str]) -> ExtraSeries:
    """The patches of DIRECTORY, checked before any work.

    TAKEN: names already in use (the catalog's variants, earlier extra
    series). Errors: UserError (exit 2) for a missing directory or a file,
    a name that is not [a-z0-9-], is reserved or clashes, and a directory
    without patches or with one that is not a regular file, is larger than
    PATCH_MAX or is not a format-patch mail.
    """
    option = f"--extra-series {directory}"
    if not directory.is_dir():
        what = "not a directory" if directory.exists() else "no such directory"
        raise UserError(f"{option}: {what}", "pass a directory of git format-patch files")
    name = directory.name
    if not NAME_RE.match(name):
        raise UserError(f"{option}: its name {name!r} is not [a-z0-9-] (it names the results)",
                        "rename the directory, e.g. leak-isolate")
    if name in RESERVED_NAMES:
        raise UserError(f"{option}: {name!r} is a name gen run uses itself "
                        f"({', '.join(sorted(RESERVED_NAMES))})", "rename the directory, e.g. leak-isolate")
    if name in set(taken):
        raise UserError(f"{option}: {name!r} is already a variant's or another series' name",
                        "rename the directory")
    patches = []
    for path in sorted(directory.iterdir()):
        if not PATCH_RE.match(path.name) or path.name.startswith("0000-"):
            continue
        if path.is_symlink() or not path.is_file():
            raise UserError(f"{option}: {path.name} is not a regular file",
                            "pass the directory git format-patch wrote")
        _check_patch(path, option)
        patches.append(path)
    if not patches:
        raise UserError(f"{option}: no NNNN-*.patch file besides a cover letter",
                        "pass the directory git format-patch wrote")
    return ExtraSeries(name, directory, tuple(patches))


def _check_patch(path: Path, option: str) -> None:
    """PATH looks like one git format-patch mail: a `From <sha>` line first and a
    `diff --git` in it. Anything else would only fail `git am` in the cache
    checkout, recorded as a run of a known-bad kernel."""
    try:
        size = path.stat().st_size
        if size > PATCH_MAX:
            raise UserError(f"{option}: {path.name} is {size} bytes, more than {PATCH_MAX}",
                            "pass the directory git format-patch wrote")
        data = path.read_bytes()
    except OSError as err:
        raise UserError(f"{option}: cannot read {path.name}: {err.strerror}",
                        "check the file") from None
    if not data.startswith(b"From ") or b"\ndiff --git " not in data:
        raise UserError(f"{option}: {path.name} is not a git format-patch mail "
                        "(no 'From ' line first or no 'diff --git')",
                        "pass the directory git format-patch wrote")


def load_all(directories: Iterable[Path], taken: Iterable[str]) -> tuple[ExtraSeries, ...]:
    """Every --extra-series, in the order given; names unique among themselves and TAKEN."""
    names = set(taken)
    out = []
    for directory in directories:
        extra = load_extra_series(directory, names)
        names.add(extra.name)
        out.append(extra)
    return tuple(out)
