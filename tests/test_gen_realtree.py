# SPDX-License-Identifier: GPL-2.0
"""gen on the real Debian linux-source-6.1 tree: every series applies, is
checkpatch-clean, and every ordered pair of variants composes."""

import itertools
import subprocess
from pathlib import Path

import git as gitpython
import pytest
from conftest import need_tool
from gitstate import FIXED_GIT_ENV, git, run_gen, snapshot

from generator.catalog import load_catalog
from generator.checkpatch import run_checkpatch
from generator.generate import GenerateRequest, TreeRequest, generate, inspect

SIGNOFF = "Drain Lab <drainlab@example.org>"
VARIANTS = sorted(load_catalog().variants)


@pytest.fixture(scope="session")
def clone(real_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throw-away checkout of the real tree; the cached tree itself stays read-only."""
    dest = tmp_path_factory.mktemp("realclone") / "linux"
    subprocess.run(["git", "clone", "-q", "--shared", str(real_tree), str(dest)], check=True)
    return dest


def reset(repo: Path, rev: str) -> None:
    git(repo, "reset", "-q", "--hard", rev)


def gen_series(tree: Path, variant: str, out: Path) -> list[Path]:
    series = generate(GenerateRequest(tree, "HEAD", (), variant, out, SIGNOFF))
    return list(series.patches)


def am(repo: Path, patches: list[Path]) -> None:
    if patches:
        git(repo, "am", "-q", *map(str, patches), env=FIXED_GIT_ENV)


def placement(tree: Path) -> frozenset[str]:
    return inspect(TreeRequest(tree, "HEAD", ()))[1].sites


@pytest.mark.realtree
@pytest.mark.parametrize("variant", VARIANTS)
def test_series_applies_and_is_checkpatch_clean(clone: Path, real_tree: Path, variant: str,
                                                tmp_path: Path) -> None:
    series_reads_back_checkpatch_clean(clone, real_tree, variant, tmp_path)


def series_reads_back_checkpatch_clean(clone: Path, tree: Path, variant: str,
                                       tmp_path: Path) -> None:
    """VARIANT's series on TREE's HEAD: empty where the tree is already there
    (pcp-disable is upstream since 5.11), else it applies, reads back as the
    target and passes the tree's own checkpatch --strict."""
    reset(clone, git(tree, "rev-parse", "HEAD").strip())
    patches = gen_series(clone, variant, tmp_path)
    if variant == "pcp-disable":
        assert patches == []
        return
    assert patches
    am(clone, patches)
    assert placement(clone) == load_catalog().variants[variant].sites
    for result in run_checkpatch(tree, patches, strict=True):
        assert (result.errors, result.warnings, result.checks) == (0, 0, 0), result.output


def compose_every_ordered_pair(clone: Path, tree: Path, tmp_path: Path) -> list[str]:
    """Apply X's series, then Y's on top, for all 49 (X, Y): the pairs whose
    placement does not read back as Y."""
    catalog = load_catalog()
    base = git(tree, "rev-parse", "HEAD").strip()
    tips = {}
    for x in VARIANTS:
        reset(clone, base)
        am(clone, gen_series(clone, x, tmp_path / "x"))
        tips[x] = git(clone, "rev-parse", "HEAD").strip()
    failures = []
    for x, y in itertools.product(VARIANTS, VARIANTS):
        reset(clone, tips[x])
        am(clone, gen_series(clone, y, tmp_path / "y"))
        got = placement(clone)
        if got != catalog.variants[y].sites:
            failures.append(f"{x} -> {y}: {sorted(got)}")
    return failures


@pytest.mark.realtree
def test_every_ordered_pair_composes(clone: Path, real_tree: Path, tmp_path: Path) -> None:
    assert len(VARIANTS) ** 2 == 49
    failures = compose_every_ordered_pair(clone, real_tree, tmp_path)
    assert not failures, failures


@pytest.mark.realtree
def test_per_block_to_per_range_is_the_seed_move(clone: Path, real_tree: Path,
                                                 tmp_path: Path) -> None:
    reset(clone, git(real_tree, "rev-parse", "HEAD").strip())
    am(clone, gen_series(clone, "drain-per-block", tmp_path / "a"))
    patches = gen_series(clone, "drain-per-range", tmp_path / "b")
    first = patches[0].read_text()
    assert "mm/page_isolation: drain pcplists once per isolated range" in first
    removed = [line for line in first.splitlines() if line.startswith("-\t")]
    added = [line for line in first.splitlines() if line.startswith("+\t")]
    assert removed == ["-\t\tdrain_all_pages(zone);"]  # S1, inside set_migratetype_isolate
    assert "+\tdrain_all_pages(page_zone(pfn_to_page(isolate_start)));" in added
    am(clone, patches)
    inspected = inspect(TreeRequest(clone, "HEAD", ()))[1]
    drains = [r for r in inspected.records if r.callee == "drain_all_pages"]
    assert [(r.function, r.site) for r in drains if r.file == "mm/page_isolation.c"] == \
        [("start_isolate_page_range", "S2")]


@pytest.mark.realtree
def test_user_tree_is_byte_identical_after_every_command(real_tree: Path,
                                                         tmp_path: Path) -> None:
    before = snapshot(real_tree)
    head = gitpython.Repo(real_tree).head.commit.hexsha
    commands = [
        ["--list"],
        ["inspect"],
        ["--variant", "drain-per-range", "--signoff", SIGNOFF],      # success, with checkpatch
        ["--variant", "no-drain", "--signoff", SIGNOFF, "--no-checkpatch"],
        ["--variant", "nope", "--signoff", SIGNOFF],                  # failure: unknown variant
        ["--variant", "drain-per-zone", "--base", "no-such-rev"],      # failure: bad base
    ]
    for args in commands:
        tree = [] if args == ["--list"] else ["--tree", str(real_tree)]  # --list reads no tree
        run = run_gen(*args, *tree, cwd=tmp_path)
        assert "Traceback" not in run.stderr
        assert snapshot(real_tree) == before, args
    assert gitpython.Repo(real_tree).head.commit.hexsha == head


TOUCHED_OBJECTS = ("mm/page_isolation.o", "mm/memory_hotplug.o", "mm/page_alloc.o")


@pytest.mark.realtree
@pytest.mark.kernel
@pytest.mark.parametrize("variant", VARIANTS)
def test_touched_objects_compile(built_kernel, variant: str, tmp_path: Path) -> None:
    """Each series compiles, without a new warning, under the minimal x86_64 config."""
    from generator.build import build_objects
    from generator.worktree import Worktree

    patches = gen_series(built_kernel.user_tree, variant, tmp_path)
    with Worktree(built_kernel.user_tree, "HEAD") as wt:
        applied = wt.apply_series(patches)
        assert applied.status == "ok", applied.log
        assert set(wt.changed_files()) <= {o.replace(".o", ".c") for o in TOUCHED_OBJECTS}
        built = build_objects(wt.path, built_kernel.build_dir, TOUCHED_OBJECTS,
                              log_path=tmp_path / "objects.log")
        assert built.ok, built.log_tail
        assert built.warnings == 0, built.log_tail


@pytest.mark.realtree
def test_perl_missing_for_checkpatch_is_one_line(real_tree: Path, tmp_path: Path) -> None:
    from conftest import path_without
    from gitstate import assert_one_line_error

    before = snapshot(real_tree)
    run = run_gen("--variant", "drain-per-range", "--tree", str(real_tree), "--signoff", SIGNOFF,
                  "--no-selftests", cwd=tmp_path, env={"PATH": path_without(tmp_path, "perl")})
    assert_one_line_error(run, "perl not found", "apt-get install perl", "--no-checkpatch")
    assert snapshot(real_tree) == before
    assert not (tmp_path / "patches").exists(), "nothing is written before the check"


# -- Debian's linux-source-6.12: the second real tree ------------------------------

@pytest.fixture(scope="session")
def clone_612(real_tree_612: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("realclone612") / "linux"
    subprocess.run(["git", "clone", "-q", "--shared", str(real_tree_612), str(dest)], check=True)
    return dest


@pytest.mark.realtree
@pytest.mark.parametrize("variant", VARIANTS)
def test_612_series_applies_verifies_and_is_checkpatch_clean(
        clone_612: Path, real_tree_612: Path, variant: str, tmp_path: Path) -> None:
    """gen verifies every series (verify.py) before writing it; here it also applies,
    reads back as the target and passes the tree's own checkpatch --strict."""
    series_reads_back_checkpatch_clean(clone_612, real_tree_612, variant, tmp_path)


@pytest.mark.realtree
def test_612_every_ordered_pair_composes(clone_612: Path, real_tree_612: Path,
                                         tmp_path: Path) -> None:
    failures = compose_every_ordered_pair(clone_612, real_tree_612, tmp_path)
    assert not failures, failures


@pytest.fixture(scope="session")
def objects_612(real_tree_612: Path) -> Path:
    """A configured 6.12 build dir with the base objects compiled once (the cold
    prepare takes minutes on 2 cores; later sessions reuse the dir)."""
    from generator import build, kconfig
    from generator.worktree import Worktree

    for tool in ("git", "make", "gcc", "flex", "bison", "bc", "perl"):
        need_tool(tool)
    with Worktree(real_tree_612, "HEAD") as wt:
        config = kconfig.make_config(wt.path, tree_id=wt.base)
        build_dir = build.build_dir_for(wt.path, config)
        kconfig.install_config(config, build_dir)
        built = build.build_objects(wt.path, build_dir, TOUCHED_OBJECTS,
                                    progress=build.elapsed_printer(60))
        assert built.ok, built.log_tail
        return build_dir


@pytest.mark.realtree
@pytest.mark.kernel
@pytest.mark.parametrize("variant", VARIANTS)
def test_612_touched_objects_compile(objects_612: Path, real_tree_612: Path, variant: str,
                                     tmp_path: Path) -> None:
    """Each 6.12 series compiles, without a new warning, under the minimal x86_64 config."""
    from generator.build import build_objects
    from generator.worktree import Worktree

    patches = gen_series(real_tree_612, variant, tmp_path)
    with Worktree(real_tree_612, "HEAD") as wt:
        applied = wt.apply_series(patches)
        assert applied.status == "ok", applied.log
        built = build_objects(wt.path, objects_612, TOUCHED_OBJECTS,
                              log_path=tmp_path / "objects.log")
        assert built.ok, built.log_tail
        assert built.warnings == 0, built.log_tail
