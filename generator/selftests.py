# SPDX-License-Identifier: GPL-2.0
"""Render the drainlab kselftest directory (stress scripts, Makefile, config, settings).

The scripts are POSIX sh for a busybox guest; their TAP and diagnostic lines
follow generator/protocol.py. Parameters come from named profiles in
profiles.yaml and end up as defaults of DRAINLAB_* environment variables.
"""

import hashlib
import math
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import jinja2
import yaml

from generator import outdir, paths, render
from generator.errors import InfraError, UserError

PROFILES_FILE = paths.PACKAGE_DIR / "profiles.yaml"
TEMPLATE_SUBDIR = "kselftest"
# Run order of the tests (kselftest-list.txt keeps it): plain offline first,
# so a kernel that cannot offline at all fails there with the clearest output.
# error-paths.sh fails operations on purpose (each must leave no state); the
# tree's own selftest (tree-mem-on-off.sh) goes last: it offlines and onlines
# blocks of every zone, which must not change what our scripts see.
TEST_PROGS = ("mem-offline-stress.sh", "cma-stress.sh", "isolation-race.sh", "error-paths.sh",
              "tree-mem-on-off.sh")
# Only in profiles with burst_rounds > 0 (the power benchmark's workload for the
# v5.8 race), after isolation-race.sh.
BURST_PROG = "pcp-burst.sh"
# Only in profiles with dimm_mb > 0 (the hotremove profile), before
# tree-mem-on-off.sh: offlines the DIMM QEMU was given and asks the host to
# remove it (generator/qmp.py). The device id and slot are the host's (vm.Dimm).
DIMM_PROG = "dimm-remove.sh"
DIMM_ID = "dimm0"
DIMM_SLOT = 0
# The DIMM's memory blocks are at least this large (x86_64's smallest memory
# block, 1 << SECTION_SIZE_BITS); only the timeout bound uses it, the guest
# reads the real size.
MIN_BLOCK_MB = 128
DIMM_REMOVE_WAIT_S = 60  # the guest waits this long for the blocks to go after its request
TEST_FILES = ("drainlab_lib.sh",)
DATA_FILES = ("Makefile", "config", "settings", "README")
DIRNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

# Inputs of the settings timeout (seconds). TYPICAL_OP_S bounds one offline
# under churn on TCG -smp 2 (measured max 1.4 s); EXTRA_PROBED_BLOCKS covers
# blocks probed and then excluded (the memory hole at the top of RAM);
# TIMEOUT_SLACK_S is what a timed-out write costs beyond op_timeout_s (the
# killed offline unwinding, the re-online check).
TYPICAL_OP_S = 2
EXTRA_PROBED_BLOCKS = 2
TIMEOUT_SLACK_S = 1
SETUP_S = 30
TIMEOUT_STEP_S = 10
BURST_FILL_S = 10  # pcp-burst.sh filling DRAINLAB_CHURN_MB per CPU (150 MiB: ~1-2 s each on TCG)


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    rounds: int
    idle_rounds: int
    churn_workers: int  # 0 = one per online CPU
    churn_mb: int
    op_timeout_s: int
    max_timeouts: int
    max_blocks: int
    cma_sizes: tuple[int, ...]
    cma_reps: int
    cma_min_success_pct: int
    race_rounds: int
    settle_rounds: int  # idle rounds right after churn stops (full pcp lists)
    pcp_high_fraction: int  # vm.percpu_pagelist_high_fraction while testing; 0 = default
    onset_rounds: int = 0  # rounds whose churn starts right as each offline starts
    onset_mb: int = 8  # MiB per pass of an onset round's churn workers
    # Kconfig fragments (file names in generator/kconfig/) merged into the
    # selftests' config: they change the kernel, so its cache key.
    kconfig: tuple[str, ...] = ()
    burst_rounds: int = 0  # pcp-burst.sh rounds per block; 0 = the script is not installed
    # MiB of a pc-dimm QEMU gets (hotplug memory, removed with device_del);
    # 0 = no DIMM and dimm-remove.sh is not installed.
    dimm_mb: int = 0


@dataclass(frozen=True)
class SelftestBundle:
    directory: Path
    dirname: str
    files: tuple[str, ...]
    test_progs: tuple[str, ...]
    content_hash: str
    profile: Profile
    timeout_s: int


# Smallest allowed value of every integer field. idle_rounds >= 1 because the
# first idle round doubles as the probe that excludes structurally
# unofflineable blocks.
_INT_MINIMUM = {
    "rounds": 1,
    "idle_rounds": 1,
    "churn_workers": 0,
    "churn_mb": 1,
    "op_timeout_s": 1,
    "max_timeouts": 1,
    "max_blocks": 1,
    "cma_reps": 1,
    "cma_min_success_pct": 0,
    "race_rounds": 1,
    "settle_rounds": 0,
    "pcp_high_fraction": 0,
    "onset_rounds": 0,
    "onset_mb": 1,
    "burst_rounds": 0,
    "dimm_mb": 0,
}
# dimm_mb: QEMU's maxmem (vm.MAX_MEMORY, 4G) less the boot memory (2G).
_INT_MAXIMUM = {"cma_min_success_pct": 100, "pcp_high_fraction": 1000, "dimm_mb": 2048}
# Keys a profile may leave out (their defaults are in Profile).
_OPTIONAL = frozenset({"onset_rounds", "onset_mb", "kconfig", "burst_rounds", "dimm_mb"})
KCONFIG_DIR = paths.PACKAGE_DIR / "kconfig"
FRAGMENT_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*\.config$")


def _bad(where: str, what: str) -> UserError:
    return UserError(f"{PROFILES_FILE.name}: {where}: {what}", f"fix {PROFILES_FILE}")


def _check_int(where: str, key: str, value: Any) -> int:
    # bool is an int subclass: `rounds: yes` must not pass as 1.
    if not isinstance(value, int) or isinstance(value, bool):
        raise _bad(where, f"{key} must be an integer, got {value!r}")
    low, high = _INT_MINIMUM[key], _INT_MAXIMUM.get(key)
    if value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in {low}..{high}"
        raise _bad(where, f"{key} must be {bound}, got {value}")
    return value


def _check_sizes(where: str, value: Any) -> tuple[int, ...]:
    if not isinstance(value, list) or not value:
        raise _bad(where, f"cma_sizes must be a non-empty list of page counts, got {value!r}")
    for size in value:
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise _bad(where, f"cma_sizes entries must be integers >= 1, got {size!r}")
    if len(set(value)) != len(value):
        raise _bad(where, f"cma_sizes has duplicates: {value}")
    return tuple(value)


def _parse_profile(name: str, raw: Any) -> Profile:
    where = f"profile {name!r}"
    if not isinstance(raw, dict):
        raise _bad(where, "must be a mapping of parameters")
    wanted = {f.name for f in fields(Profile)} - {"name"}
    missing, unknown = wanted - raw.keys() - _OPTIONAL, raw.keys() - wanted
    if missing:
        raise _bad(where, f"missing {', '.join(sorted(missing))}")
    if unknown:
        raise _bad(where, f"unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    if not isinstance(raw["description"], str) or not raw["description"].strip():
        raise _bad(where, "description must be a non-empty string")
    ints = {key: _check_int(where, key, raw[key]) for key in _INT_MINIMUM if key in raw}
    if ints.get("dimm_mb", 0) % MIN_BLOCK_MB:
        raise _bad(where, f"dimm_mb must be a multiple of {MIN_BLOCK_MB} (a whole number of "
                   f"memory blocks), got {ints['dimm_mb']}")
    return Profile(
        name=name,
        description=raw["description"].strip(),
        cma_sizes=_check_sizes(where, raw["cma_sizes"]),
        kconfig=_check_fragments(where, raw.get("kconfig", [])),
        **ints,
    )


def _check_fragments(where: str, value: Any) -> tuple[str, ...]:
    """kconfig: a list of fragment file names that exist in generator/kconfig/."""
    if not isinstance(value, list):
        raise _bad(where, f"kconfig must be a list of fragment names, got {value!r}")
    for name in value:
        if not isinstance(name, str) or not FRAGMENT_RE.match(name):
            raise _bad(where, f"kconfig entries must be file names like debug.config, got {name!r}")
        if not (KCONFIG_DIR / name).is_file():
            raise _bad(where, f"kconfig fragment {name} is not in {KCONFIG_DIR}")
    return tuple(value)


def kconfig_lines(profile: Profile) -> list[str]:
    """The option lines of the profile's kconfig fragments, in order.

    Shape: ["CONFIG_DEBUG_KERNEL=y", ...]; comments and blank lines dropped.
    Raise: InfraError when a fragment cannot be read.
    """
    lines: list[str] = []
    for name in profile.kconfig:
        try:
            text = (KCONFIG_DIR / name).read_text()
        except OSError as err:
            raise InfraError(f"cannot read {KCONFIG_DIR / name}: {err.strerror}",
                             "restore the fragment") from err
        lines += [ln.strip() for ln in text.splitlines()
                  if ln.strip() and (not ln.startswith("#") or ln.endswith(" is not set"))]
    return lines


def load_profiles(path: Path = PROFILES_FILE) -> dict[str, Profile]:
    """Every profile in PATH, all validated (one bad entry fails the whole file)."""
    from generator import inputs

    try:
        raw = yaml.safe_load(inputs.read_text(path, inputs.CATALOG_MAX, "profiles file"))
    except (OSError, yaml.YAMLError) as err:
        raise UserError(f"cannot read {path}: {err}", "restore generator/profiles.yaml") from err
    if not isinstance(raw, dict) or not raw:
        raise _bad("top level", "must map profile names to parameter sets")
    return {str(name): _parse_profile(str(name), body) for name, body in raw.items()}


def load_profile(name: str, path: Path = PROFILES_FILE) -> Profile:
    profiles = load_profiles(path)
    if name not in profiles:
        raise UserError(f"unknown selftest profile {name!r}", f"use one of: {', '.join(sorted(profiles))}")
    return profiles[name]


def settings_timeout(profile: Profile) -> int:
    """Seconds the kselftest runner gives each script: a generous bound, not a guess.

    Every script is bounded by its operation count times TYPICAL_OP_S plus the
    time its timeouts may burn before a block or size is abandoned; the runner
    applies the value per script, so the largest script decides.
    """
    per_timeout = profile.op_timeout_s + TIMEOUT_SLACK_S
    blocks, probed = profile.max_blocks, profile.max_blocks + EXTRA_PROBED_BLOCKS
    rounds = profile.idle_rounds + profile.rounds + profile.settle_rounds + profile.onset_rounds
    mem = (blocks * rounds * 2 + probed) * TYPICAL_OP_S
    mem += blocks * profile.max_timeouts * per_timeout
    points = len(profile.cma_sizes) * 2  # each size idle, then under churn
    cma = points * profile.cma_reps * 2 * TYPICAL_OP_S + points * profile.max_timeouts * per_timeout
    race = (probed * 2 + blocks * profile.race_rounds * 4) * TYPICAL_OP_S
    race += blocks * profile.max_timeouts * 2 * per_timeout  # offline and alloc may both time out
    # error-paths.sh: a probe, the other blocks out and back, two cycles, and
    # up to three killed or finished offlines of a full block, each with a refill.
    errors = (probed * 2 + 8 + 3 * 3) * TYPICAL_OP_S + blocks * per_timeout
    burst = probed * 2 * TYPICAL_OP_S + blocks * profile.max_timeouts * per_timeout
    burst += blocks * profile.burst_rounds * (BURST_FILL_S + 2 * TYPICAL_OP_S)
    # dimm-remove.sh: one churn pass, the DIMM's blocks offline (settled, then
    # under churn), each may time out, then the wait for the host to remove them.
    dimm_blocks = profile.dimm_mb // MIN_BLOCK_MB
    dimm = dimm_blocks * (TYPICAL_OP_S + profile.op_timeout_s + TIMEOUT_SLACK_S) + DIMM_REMOVE_WAIT_S
    worst = SETUP_S + max(mem, cma, race, errors, burst if profile.burst_rounds else 0,
                          dimm if profile.dimm_mb else 0)
    return math.ceil(worst / TIMEOUT_STEP_S) * TIMEOUT_STEP_S


def test_progs(profile: Profile) -> tuple[str, ...]:
    """The scripts a profile runs, in order: pcp-burst.sh (after isolation-race.sh)
    only with burst_rounds, dimm-remove.sh (before tree-mem-on-off.sh) only with dimm_mb."""
    progs: tuple[str, ...] = TEST_PROGS
    if profile.burst_rounds:
        at = progs.index("isolation-race.sh") + 1
        progs = progs[:at] + (BURST_PROG,) + progs[at:]
    if profile.dimm_mb:
        at = progs.index("tree-mem-on-off.sh")
        progs = progs[:at] + (DIMM_PROG,) + progs[at:]
    return progs


def _environment() -> jinja2.Environment:
    return render.sandboxed(paths.templates_dir() / TEMPLATE_SUBDIR)


def _context(profile: Profile, dirname: str, timeout_s: int) -> dict[str, Any]:
    return {
        "profile": profile,
        "dirname": dirname,
        "timeout_s": timeout_s,
        "test_progs": test_progs(profile),
        "test_files": TEST_FILES,
        # Shell word lists are built here so templates only paste text.
        "cma_sizes_words": " ".join(str(size) for size in profile.cma_sizes),
        "kconfig_lines": kconfig_lines(profile),
        "dimm_id": DIMM_ID,
        "dimm_slot": DIMM_SLOT,
        "dimm_remove_wait_s": DIMM_REMOVE_WAIT_S,
    }


def render_files(profile: Profile, dirname: str = "drainlab") -> dict[str, str]:
    """Output file name -> rendered text, in install order; nothing is written."""
    env = _environment()
    context = _context(profile, dirname, settings_timeout(profile))
    rendered = {}
    for name in test_progs(profile) + TEST_FILES + DATA_FILES:
        try:
            rendered[name] = env.get_template(f"{name}.j2").render(context)
        except jinja2.TemplateError as err:
            raise InfraError(f"template {TEMPLATE_SUBDIR}/{name}.j2 failed: {err}",
                             "fix the template") from err
    return rendered


def content_hash(files: dict[str, str]) -> str:
    """sha256 over names and contents; length-prefixed so no two sets collide."""
    digest = hashlib.sha256()
    for name in sorted(files):
        for part in (name.encode(), files[name].encode()):
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
    return digest.hexdigest()


def _write_tree(target: Path, files: dict[str, str]) -> None:
    """Write FILES into a fresh sibling directory, then swap it in for TARGET."""
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        for name, text in files.items():
            path = staging / name
            path.write_text(text)
            os.chmod(path, 0o755 if name.endswith(".sh") and name not in TEST_FILES else 0o644)
        os.chmod(staging, 0o755)
        with outdir.signals_held():  # a Ctrl-C leaves the old directory or the new one
            if target.is_symlink() or target.is_file():
                target.unlink()
            elif target.exists():
                shutil.rmtree(target)
            staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def render_selftests(out_dir: Path, profile: str = "quick", dirname: str = "drainlab") -> SelftestBundle:
    """Write OUT_DIR/DIRNAME, a drop-in for tools/testing/selftests/DIRNAME/."""
    if not DIRNAME_RE.match(dirname) or dirname in (".", ".."):
        raise UserError(f"bad selftest directory name {dirname!r}", "use letters, digits, '.', '_' or '-'")
    prof = load_profile(profile)
    files = render_files(prof, dirname)
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        # Two gens writing one directory take turns (the same files either way).
        with outdir.locked(out_dir, wait=True):
            _write_tree(out_dir / dirname, files)
    except OSError as err:
        raise InfraError(f"cannot write {out_dir / dirname}: {err}", "check the output directory") from err
    return SelftestBundle(
        directory=out_dir / dirname,
        dirname=dirname,
        files=tuple(files),
        test_progs=test_progs(prof),
        content_hash=content_hash(files),
        profile=prof,
        timeout_s=settings_timeout(prof),
    )
