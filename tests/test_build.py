# SPDX-License-Identifier: GPL-2.0
"""build: the real cold build (once per cache), an incremental variant build,
a broken patch, build_objects, the kernel cache and missing-tool errors."""

import time
from pathlib import Path

import pytest

from generator import build
from generator.errors import UserError
from generator.worktree import Worktree

from conftest import PAGE_ISOLATION, BuiltKernel, path_without, per_pageblock_patch


@pytest.mark.parametrize("tool,package", [("gcc", "gcc"), ("make", "make"), ("flex", "flex"),
                                          ("bison", "bison"), ("bc", "bc")])
def test_missing_build_tool_names_the_package(tool: str, package: str, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", path_without(tmp_path, tool))
    with pytest.raises(UserError, match=f"{tool} not found; install it: apt-get install {package}"):
        build.check_tools()


def test_series_key_depends_on_base_and_patch_order(tmp_path: Path) -> None:
    a, b = tmp_path / "a.patch", tmp_path / "b.patch"
    a.write_text("A")
    b.write_text("B")
    key = build.series_key("c0ffee", [a, b])
    assert key == build.series_key("c0ffee", [a, b])
    assert key != build.series_key("c0ffee", [b, a])
    assert key != build.series_key("decaf", [a, b])
    assert build.series_key("c0ffee", []) != key


def test_reproducible_build_environment(tmp_path: Path) -> None:
    env = build.build_env(tmp_path / "src")
    assert env["KBUILD_BUILD_TIMESTAMP"] and env["KBUILD_BUILD_USER"] == "drainlab"
    assert env["KBUILD_BUILD_HOST"] == "drainlab" and env["ARCH"] == "x86_64"
    assert env["CCACHE_DIR"].endswith("/ccache")


@pytest.mark.realtree
@pytest.mark.kernel
def test_base_kernel_and_kernel_cache(built_kernel: BuiltKernel) -> None:
    res = built_kernel.result
    assert res.ok and res.bzimage == built_kernel.bzimage
    assert 1_000_000 < built_kernel.bzimage.stat().st_size < 20_000_000
    assert (built_kernel.build_dir / ".config").read_text() == built_kernel.config.path.read_text()
    # The same (config, series) again: nothing is built.
    start = time.monotonic()
    again = build.build_kernel(built_kernel.src, built_kernel.config, built_kernel.build_dir / "unused.log",
                               series_key=build.series_key(built_kernel.base, []))
    assert again.cached and again.ok and again.bzimage == built_kernel.bzimage
    assert time.monotonic() - start < 1.0


@pytest.mark.realtree
@pytest.mark.kernel
def test_variant_rebuild_is_incremental(built_kernel: BuiltKernel, tmp_path: Path) -> None:
    seen: list[float] = []
    with Worktree(built_kernel.user_tree, "HEAD") as wt:
        patch = tmp_path / "0001.patch"
        patch.write_text(per_pageblock_patch(wt.path))
        assert wt.apply_series([patch]).status == "ok"
        # No series key: always really build (the cache test is above).
        res = build.build_kernel(wt.path, built_kernel.config, tmp_path / "variant.log",
                                 progress=lambda s, line: seen.append(s))
    assert res.ok, res.log_tail
    assert not res.cached and res.bzimage is not None
    assert res.bzimage.read_bytes() != built_kernel.bzimage.read_bytes()
    assert "CC      mm/page_isolation.o" in res.log_path.read_text()
    assert seen, "no progress reported"
    # Feasibility §4: about 7 s warm; allow a contended host.
    assert res.seconds < 180, f"incremental build took {res.seconds:.0f} s"
    print(f"incremental variant build: {res.seconds:.1f} s")


@pytest.mark.realtree
@pytest.mark.kernel
def test_broken_patch_is_a_failed_result(built_kernel: BuiltKernel, tmp_path: Path) -> None:
    with Worktree(built_kernel.user_tree, "HEAD") as wt:
        patch = tmp_path / "0001.patch"
        patch.write_text(per_pageblock_patch(wt.path, extra="\t\tthis_is_not_c(;\n"))
        assert wt.apply_series([patch]).status == "ok"
        res = build.build_objects(wt.path, built_kernel.build_dir, ["mm/page_isolation.o"],
                                  log_path=tmp_path / "objects.log")
    assert res.status == "fail" and not res.ok and res.bzimage is None
    assert "mm/page_isolation.c" in res.log_tail and "error" in res.log_tail
    assert res.targets == ("mm/page_isolation.o",)


@pytest.mark.realtree
@pytest.mark.kernel
def test_build_objects_compiles_only_what_was_asked(built_kernel: BuiltKernel, tmp_path: Path) -> None:
    with Worktree(built_kernel.user_tree, "HEAD") as wt:
        patch = tmp_path / "0001.patch"
        patch.write_text(per_pageblock_patch(wt.path))
        assert wt.apply_series([patch]).status == "ok"
        res = build.build_objects(wt.path, built_kernel.build_dir, ["mm/page_isolation.o"],
                                  log_path=tmp_path / "objects.log")
    assert res.ok, res.log_tail
    log = res.log_path.read_text()
    assert "CC      mm/page_isolation.o" in log
    assert "LD      vmlinux" not in log and "bzImage" not in log
    assert res.seconds < 120
    assert (built_kernel.build_dir / PAGE_ISOLATION.replace(".c", ".o")).exists()
