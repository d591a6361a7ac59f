# SPDX-License-Identifier: GPL-2.0
"""The guest kernel's .config: tinyconfig + our fragment + the selftests' config.

    make O=<tmp> ARCH=x86_64 tinyconfig
    scripts/kconfig/merge_config.sh -m -O <tmp> <tmp>/.config drainlab.config [extra ...]
    make O=<tmp> ARCH=x86_64 olddefconfig

olddefconfig drops, without a word, any option whose dependencies are off.
So every option any fragment asks for is checked in the final .config, and a
dropped one is a UserError naming it, its requested value and what it became.

The final .config is cached by the hash of its inputs (source tree id +
fragment texts), and identified by the sha256 of its own text: build dirs and
built kernels are keyed by that hash, because a config change is nearly a
cold rebuild (feasibility §4).
"""

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from generator import ops, paths
from generator.errors import UserError

ARCH = "x86_64"
DEFAULT_FRAGMENT = paths.PACKAGE_DIR / "kconfig" / "drainlab.config"

_SET_RE = re.compile(r"^(CONFIG_[A-Za-z0-9_]+)=(.*)$")
_UNSET_RE = re.compile(r"^# (CONFIG_[A-Za-z0-9_]+) is not set$")


@dataclass(frozen=True)
class KernelConfig:
    path: Path  # the final .config (in the config cache; copy it, do not edit)
    sha256: str  # of the final .config text
    requested: tuple[tuple[str, str], ...]  # (CONFIG_NAME, value) merged over the fragments
    fragments: tuple[Path, ...]

    @property
    def short(self) -> str:
        return self.sha256[:16]


def parse_config(text: str) -> dict[str, str]:
    """Kconfig assignments in a fragment or .config; '# X is not set' reads as 'n'."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        m = _SET_RE.match(line)
        if m:
            values[m.group(1)] = m.group(2)
            continue
        m = _UNSET_RE.match(line)
        if m:
            values[m.group(1)] = "n"
    return values


def requested_options(fragments: Sequence[Path]) -> dict[str, tuple[str, Path]]:
    """CONFIG_NAME -> (value, fragment that set it last), like merge_config.sh."""
    merged: dict[str, tuple[str, Path]] = {}
    for frag in fragments:
        try:
            text = Path(frag).read_text()
        except OSError as exc:
            raise UserError(f"config fragment {frag}: {exc.strerror}", "pass an existing file") from None
        for name, value in parse_config(text).items():
            merged[name] = (value, Path(frag))
    return merged


def _satisfied(want: str, have: str | None) -> bool:
    if want == "n":
        return have in (None, "n")
    if want == "m":
        # No modules in this kernel: a tristate asked for as =m is built in.
        return have in ("m", "y")
    return have == want


def check_config(dotconfig: Path, fragments: Sequence[Path]) -> tuple[tuple[str, str], ...]:
    """Raise a UserError naming every requested option the final .config lacks."""
    final = parse_config(dotconfig.read_text())
    wanted = requested_options(fragments)
    dropped = []
    for name, (value, frag) in wanted.items():
        have = final.get(name)
        if not _satisfied(value, have):
            got = "not set" if have in (None, "n") else f"={have}"
            dropped.append(f"{name}={value} (from {frag.name}; final .config: {got})")
    if dropped:
        raise UserError(
            "kconfig dropped requested option(s): " + ", ".join(dropped),
            "their dependencies are off or the symbol does not exist in this tree; "
            "fix the fragment (search the symbol in `make menuconfig` to see what it depends on)",
        )
    return tuple((name, value) for name, (value, _) in wanted.items())


def _inputs_key(src: Path, tree_id: str, fragments: Sequence[Path]) -> str:
    h = hashlib.sha256()
    h.update(f"arch={ARCH}\ntree={tree_id or src.resolve()}\n".encode())
    for frag in fragments:
        h.update(b"\0fragment\0" + Path(frag).read_bytes())
    return h.hexdigest()


def config_cache() -> Path:
    return paths.cache_dir() / "config"


def make_config(
    src: Path,
    extra_fragments: Sequence[Path] = (),
    tree_id: str = "",
    fragment: Path = DEFAULT_FRAGMENT,
) -> KernelConfig:
    """Produce (or reuse) the checked .config for SRC.

    tree_id names SRC's content (the base commit): with it the result is
    cached; without it the config is regenerated (about 7 s).
    """
    for tool in ("make", "gcc", "flex", "bison"):
        ops.require_tool(tool)
    fragments = (Path(fragment), *(Path(f) for f in extra_fragments))
    for frag in fragments:
        if not frag.is_file():
            raise UserError(f"config fragment {frag} not found", "pass an existing file")
    cache = config_cache()
    cache.mkdir(parents=True, exist_ok=True)
    cached = cache / f"{_inputs_key(src, tree_id, fragments)[:24]}.config" if tree_id else None
    if cached is not None and cached.exists():
        requested = check_config(cached, fragments)
        return KernelConfig(cached, paths.sha256_of(cached), requested, fragments)

    with tempfile.TemporaryDirectory(prefix="kconfig-", dir=cache) as tmp:
        out = Path(tmp)
        make = ["make", "-s", f"O={out}", f"ARCH={ARCH}"]
        _run(make + ["tinyconfig"], src)
        _run(["sh", str(src / "scripts/kconfig/merge_config.sh"), "-m", "-O", str(out),
              str(out / ".config"), *map(str, fragments)], src)
        _run(make + ["olddefconfig"], src)
        requested = check_config(out / ".config", fragments)
        digest = paths.sha256_of(out / ".config")
        final = cached or cache / f"{digest[:24]}.config"
        tmp_final = final.with_suffix(".tmp")
        shutil.copyfile(out / ".config", tmp_final)
        os.replace(tmp_final, final)
    return KernelConfig(final, digest, requested, fragments)


def install_config(config: KernelConfig, build_dir: Path) -> None:
    """Put the config into a build dir unless it is already there (keeps mtimes)."""
    build_dir.mkdir(parents=True, exist_ok=True)
    dest = build_dir / ".config"
    if dest.exists() and paths.sha256_of(dest) == config.sha256:
        return
    shutil.copyfile(config.path, dest)


def _run(argv: list[str], cwd: Path) -> None:
    # A failure names the tool's telling line and keeps its whole output in a log.
    ops.run(argv, cwd=cwd, timeout=300)
