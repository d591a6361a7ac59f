# SPDX-License-Identifier: GPL-2.0
"""Build the guest kernel out of tree, reproducibly and through ccache.

    make O=<build dir> ARCH=x86_64 -j<cores> CC="ccache gcc" bzImage

One build dir per (source checkout, config hash) is kept in the cache, so a
variant only recompiles the files its series touched and relinks (about 7 s,
feasibility §4). Built bzImages are kept per (config hash, series key): a
second run of the same matrix rebuilds nothing.

A failed build is a BuildResult with status "fail" and the log tail; only a
missing tool or a missing build input is an exception.
"""

import enum
import hashlib
import os
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from generator import ops, paths
from generator.errors import UserError
from generator.kconfig import ARCH, KernelConfig, install_config

# Fixed build identity: reproducible objects, and ccache hits for init/version.o
# and everything that includes compile.h.
REPRODUCIBLE_ENV = {
    "KBUILD_BUILD_TIMESTAMP": "Sat Jan  1 00:00:00 UTC 2000",
    "KBUILD_BUILD_USER": "drainlab",
    "KBUILD_BUILD_HOST": "drainlab",
    "KBUILD_BUILD_VERSION": "1",
    "ARCH": ARCH,
    "LC_ALL": "C",
}
BZIMAGE = Path("arch/x86/boot/bzImage")
BUILD_TOOLS = ("make", "gcc", "flex", "bison", "bc", "perl")
_WARNING_RE = re.compile(r": warning: ")
LOG_TAIL_LINES = 40
# Far above a contended cold build (7 min measured); only guards a stuck make.
DEFAULT_TIMEOUT_S = 3600.0

Progress = Callable[[float, str], None]  # (elapsed seconds, make output line)


class BuildStatus(enum.StrEnum):
    OK = "ok"
    FAIL = "fail"


@dataclass(frozen=True)
class BuildResult:
    status: BuildStatus
    seconds: float
    warnings: int  # compiler "warning:" lines in the log
    log_path: Path
    bzimage: Path | None  # a stable copy in the kernel cache (ok only)
    log_tail: str  # last lines of the log (why it failed)
    cached: bool = False  # reused from the kernel cache, nothing was built
    targets: tuple[str, ...] = ("bzImage",)

    @property
    def ok(self) -> bool:
        return self.status == BuildStatus.OK


def jobs() -> int:
    return len(os.sched_getaffinity(0)) or 1


def build_dir_for(src: Path, config: KernelConfig) -> Path:
    """<cache>/build/<source checkout key>-<config hash>: reused across variants."""
    src_key = hashlib.sha256(str(src.resolve()).encode()).hexdigest()[:12]
    return paths.cache_dir() / "build" / f"{src_key}-{config.short}"


def ccache_dir() -> Path:
    return paths.cache_dir() / "ccache"


def build_env(src: Path) -> dict[str, str]:
    env = {**os.environ, **REPRODUCIBLE_ENV}
    env.update(
        CCACHE_DIR=str(ccache_dir()),
        # Relative paths inside the cache: two checkouts (or caches moved
        # around) share hits.
        CCACHE_BASEDIR=str(src.resolve().parent),
        CCACHE_NOHASHDIR="1",
        CCACHE_MAXSIZE=os.environ.get("CCACHE_MAXSIZE", "2G"),
    )
    return env


def check_tools(config: KernelConfig | None = None) -> list[str]:
    """Raise a UserError naming the package of a missing build tool; return make args."""
    for tool in BUILD_TOOLS:
        ops.require_tool(tool)
    if config is not None:
        text = config.path.read_text()
        if "CONFIG_OBJTOOL=y" in text and not Path("/usr/include/gelf.h").exists():
            raise UserError("libelf headers (gelf.h) not found; objtool needs them",
                            "install them: apt-get install libelf-dev")
    if shutil.which("ccache"):
        return ["CC=ccache gcc", "HOSTCC=ccache gcc"]
    return []  # ccache only saves time; plain gcc builds the same kernel


def _make(src: Path, build_dir: Path, targets: Sequence[str], cc: list[str], n_jobs: int) -> list[str]:
    return ["make", "-C", str(src), f"O={build_dir}", f"ARCH={ARCH}", f"-j{n_jobs}", *cc, *targets]


def _run_make(
    src: Path,
    build_dir: Path,
    targets: Sequence[str],
    log_path: Path,
    cc: list[str],
    progress: Progress | None,
    n_jobs: int | None,
    timeout: float,
) -> tuple[BuildStatus, float, int, str]:
    argv = _make(src, build_dir, targets, cc, n_jobs or jobs())
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        log.write("$ " + " ".join(argv) + "\n")
        log.flush()
        done = ops.stream(argv, log, cwd=src, env=build_env(src), on_line=progress, timeout=timeout)
        if done.timed_out:
            log.write(f"drainlab: make killed after {timeout:.0f} s\n")
    text = log_path.read_text(errors="replace")
    warnings = len(_WARNING_RE.findall(text))
    tail = "\n".join(text.rstrip("\n").splitlines()[-LOG_TAIL_LINES:])
    status = BuildStatus.OK if done.returncode == 0 else BuildStatus.FAIL
    return status, done.seconds, warnings, tail


def build_kernel(
    src: Path,
    config: KernelConfig,
    log_path: Path,
    series_key: str = "",
    progress: Progress | None = None,
    n_jobs: int | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> BuildResult:
    """Build bzImage for the checkout SRC as it is now.

    series_key (see series_key()) names what SRC holds; with it a kernel built
    before is returned at once (cached=True) and a new one is stored.
    """
    cached = kernel_cache_path(config, series_key) if series_key else None
    if cached is not None and cached.exists():
        return BuildResult(BuildStatus.OK, 0.0, 0, cached.parent / "build.log", cached,
                           "", cached=True)
    cc = check_tools(config)
    build_dir = build_dir_for(src, config)
    install_config(config, build_dir)
    status, seconds, warnings, tail = _run_make(
        src, build_dir, ["bzImage"], log_path, cc, progress, n_jobs, timeout)
    bzimage = None
    if status == BuildStatus.OK:
        built = build_dir / BZIMAGE
        if cached is not None:
            bzimage = _store(built, log_path, cached)
        else:
            bzimage = log_path.parent / "bzImage"
            shutil.copyfile(built, bzimage)
    return BuildResult(status, seconds, warnings, log_path, bzimage, tail)


def build_objects(
    src: Path,
    build_dir: Path,
    objects: Sequence[str],
    log_path: Path | None = None,
    progress: Progress | None = None,
    n_jobs: int | None = None,
    timeout: float = 1800.0,
) -> BuildResult:
    """Compile only OBJECTS (e.g. "mm/page_isolation.o") in a configured build dir.

    The build dir must hold a .config (install_config) — the first call in a
    fresh dir also runs the prepare steps, later calls take seconds.
    """
    if not (build_dir / ".config").exists():
        raise UserError(f"{build_dir} has no .config", "configure it first (kconfig.install_config)")
    cc = check_tools()
    log_path = log_path or build_dir / "drainlab-objects.log"
    status, seconds, warnings, tail = _run_make(
        src, build_dir, list(objects), log_path, cc, progress, n_jobs, timeout)
    return BuildResult(status, seconds, warnings, log_path, None, tail, targets=tuple(objects))


# -- kernel cache ---------------------------------------------------------------


def series_key(base_commit: str, patch_files: Sequence[Path]) -> str:
    """sha256 over the base commit and the patch texts, in order."""
    h = hashlib.sha256(f"base={base_commit}\n".encode())
    for patch in patch_files:
        h.update(b"\0patch\0" + Path(patch).read_bytes())
    return h.hexdigest()


def kernel_cache_path(config: KernelConfig, key: str) -> Path:
    return paths.cache_dir() / "kernels" / f"{config.short}-{key[:16]}" / "bzImage"


def _store(built: Path, log_path: Path, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name("bzImage.tmp")
    shutil.copyfile(built, tmp)
    if log_path.resolve() != (dest.parent / "build.log").resolve():
        shutil.copyfile(log_path, dest.parent / "build.log")
    os.replace(tmp, dest)  # last: a bzImage in the cache is always complete
    return dest


def elapsed_printer(every: float = 10.0) -> Progress:
    """A progress callback printing the elapsed time every EVERY seconds."""
    last = [-every]

    def _progress(elapsed: float, line: str) -> None:
        if elapsed - last[0] >= every:
            last[0] = elapsed
            print(f"  build: {elapsed:5.0f} s  {line.strip()[:70]}", flush=True)

    return _progress

