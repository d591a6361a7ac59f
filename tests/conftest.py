# SPDX-License-Identifier: GPL-2.0
"""Shared fixtures. A missing host tool skips a test on a laptop but fails it in CI:
a skip in CI would hide a missing install step in tools/setup.sh."""

import difflib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from generator import paths
from generator import tree as kernel_tree
from generator.build import BuildResult
from generator.kconfig import KernelConfig

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(condition: bool, why: str) -> None:
    """Skip (laptop) or fail (CI) when a prerequisite is missing."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"prerequisite missing in CI: {why}")
    pytest.skip(why)


def need_tool(name: str) -> str:
    path = shutil.which(name)
    need(path is not None, f"{name} not installed")
    return path or ""


@pytest.fixture(scope="session")
def real_tree() -> Path:
    """The default Debian linux-source-6.1 git tree (read-only for tests)."""
    need(kernel_tree.DEBIAN_TARBALL.exists(), "linux-source-6.1 not installed")
    return kernel_tree.prepare_default_tree().path


@pytest.fixture(scope="session")
def real_tree_612() -> Path:
    """Debian's linux-source-6.12 as a git tree: the second real tree (read-only for tests)."""
    need(kernel_tree.debian_tarball("6.12").exists(), "linux-source-6.12 not installed")
    return kernel_tree.prepare_debian_tree("6.12").path


# --- kernel build + VM stages (worktree, kconfig, build, initramfs, vm) ---------

BUILD_TOOLS = ("git", "make", "gcc", "flex", "bison", "bc", "perl")


@dataclass(frozen=True)
class BuiltKernel:
    """The base kernel of the real tree, built once per cache (not per session)."""

    user_tree: Path
    base: str
    src: Path  # the cache checkout it was built from
    config: KernelConfig
    build_dir: Path
    bzimage: Path  # stable copy in the kernel cache
    result: BuildResult  # of the build, or the kernel-cache hit


@pytest.fixture(scope="session")
def built_kernel(real_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> BuiltKernel:
    """Configure and build the base kernel once. The cold build (3-7 min on 2
    cores) happens once per cache: later sessions get the cached bzImage, and
    the build dir + ccache make variant builds incremental."""
    from generator import build, kconfig
    from generator.worktree import Worktree

    for tool in BUILD_TOOLS:
        need_tool(tool)
    log = tmp_path_factory.mktemp("built-kernel") / "build.log"
    with Worktree(real_tree, "HEAD") as wt:
        config = kconfig.make_config(wt.path, tree_id=wt.base)
        result = build.build_kernel(wt.path, config, log, series_key=build.series_key(wt.base, []),
                                    progress=build.elapsed_printer(60))
        assert result.ok, f"base kernel build failed:\n{result.log_tail}"
        assert result.bzimage is not None
        return BuiltKernel(real_tree, wt.base, wt.path, config, build.build_dir_for(wt.path, config),
                           result.bzimage, result)


# What a cold config cache may still share with the warm one: the default tree,
# the cache checkout, build dirs, ccache and built kernels (all keyed by
# content). Left out, so they start empty: config/, initramfs/, logs/, the KVM probe.
SHARED_CACHE_PARTS = ("linux-6.1", "src", "build", "ccache", "kernels")


def cold_config_cache(dest: Path) -> Path:
    """A cache at DEST as a new user's first run has it (no kernel config made
    yet), whose built kernels are the shared cache's: a first run without its
    cold kernel build. Use as DRAINLAB_CACHE."""
    shared = paths.cache_dir()
    dest.mkdir(parents=True)
    for part in SHARED_CACHE_PARTS:
        (shared / part).mkdir(parents=True, exist_ok=True)
        (dest / part).symlink_to(shared / part)
    return dest


def path_without(tmp_path: Path, *missing: str) -> str:
    """A PATH of symlinks to every program on the current PATH except MISSING:
    a real 'not installed' for require_tool(), without touching the host."""
    shadow = tmp_path / "shadow-bin"
    shadow.mkdir(exist_ok=True)
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        if not directory or not os.path.isdir(directory):
            continue
        for name in os.listdir(directory):
            target = os.path.join(directory, name)
            link = shadow / name
            if name in missing or link.exists() or link.is_symlink():
                continue
            if os.access(target, os.X_OK) and not os.path.isdir(target):
                link.symlink_to(target)
    return str(shadow)


def make_patch(src: Path, rel: str, new_text: str, subject: str) -> str:
    """A git-am-able mail for changing SRC/REL to NEW_TEXT."""
    old = (src / rel).read_text().splitlines(keepends=True)
    diff = "".join(difflib.unified_diff(old, new_text.splitlines(keepends=True), f"a/{rel}", f"b/{rel}"))
    return (
        "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n"
        "From: Test Author <test@example.org>\n"
        "Date: Mon, 1 Jan 2001 00:00:00 +0000\n"
        f"Subject: [PATCH] {subject}\n\n"
        f"{subject}.\n\nSigned-off-by: Test Author <test@example.org>\n---\n"
        f"diff --git a/{rel} b/{rel}\n{diff}--\n2.39.5\n\n"
    )


PAGE_ISOLATION = "mm/page_isolation.c"
_ISOLATE_OK = "\t\tspin_unlock_irqrestore(&zone->lock, flags);\n\t\treturn 0;\n"


def per_pageblock_patch(src: Path, extra: str = "") -> str:
    """Feasibility §9's variant A half: drain_all_pages(zone) after each isolated
    pageblock in set_migratetype_isolate(). EXTRA is inserted after it (a test
    can break the build with it)."""
    text = (src / PAGE_ISOLATION).read_text()
    assert _ISOLATE_OK in text, "6.1 set_migratetype_isolate() success path not found"
    new = text.replace(_ISOLATE_OK, "\t\tspin_unlock_irqrestore(&zone->lock, flags);\n"
                       f"\t\tdrain_all_pages(zone);\n{extra}\t\treturn 0;\n", 1)
    return make_patch(src, PAGE_ISOLATION, new, "mm/page_isolation: drain per pageblock")
