# SPDX-License-Identifier: GPL-2.0
"""Placements that are right on every tree shape, not only patches that apply.

Each fixture under tests/data/shapes reproduces, in our own words, the
control flow one kernel release gave page isolation (5.8, 5.10, 5.11,
6.16+) or a vendor tree. The series goes through the whole pipeline
(edits -> verifier -> commits -> format-patch) and is read back.
"""

import shutil
import subprocess
from pathlib import Path

import pytest
from gitstate import FIXED_GIT_ENV, git, run_gen

from generator import cflow
from generator.catalog import load_catalog
from generator.csource import CFile
from generator.errors import UserError
from generator.generate import GenerateRequest, TreeRequest, generate, inspect

SHAPES = Path(__file__).parent / "data" / "shapes"
SIGNOFF = "Drain Lab <drainlab@example.org>"


def shape_tree(tmp_path: Path, *layers: str) -> Path:
    """A one-commit git tree: the 5.8 fixture, then each overlay's files on top."""
    dest = tmp_path / "linux"
    for layer in ("v5.8", *layers):
        shutil.copytree(SHAPES / layer, dest, dirs_exist_ok=True)
    subprocess.run(["git", "init", "-q", str(dest)], check=True)
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "fixture", env=FIXED_GIT_ENV)
    return dest


def series(tree: Path, variant: str, out: Path) -> list[str]:
    made = generate(GenerateRequest(tree, "HEAD", (), variant, out, SIGNOFF))
    return [p.read_text() for p in made.patches]


def applied(tree: Path, variant: str, out: Path) -> Path:
    made = generate(GenerateRequest(tree, "HEAD", (), variant, out, SIGNOFF))
    if made.patches:
        git(tree, "am", "-q", *map(str, made.patches), env=FIXED_GIT_ENV)
    assert inspect(TreeRequest(tree, "HEAD", ()))[1].sites == \
        load_catalog().variants[variant].sites
    return tree


def function_of(tree: Path, path: str, name: str) -> tuple[CFile, cflow.Cfg]:
    cfile = CFile(path, (tree / path).read_bytes())
    return cfile, cflow.build(cfile.functions[name])


# -- 1. success path vs error path ---------------------------------------------

def test_per_range_drain_runs_on_the_success_path_of_a_5_8_tree(tmp_path: Path) -> None:
    """5.8: start_isolate_page_range() ends with its `undo:` error path."""
    tree = applied(shape_tree(tmp_path), "drain-per-range", tmp_path / "out")
    cfile, cfg = function_of(tree, "mm/page_isolation.c", "start_isolate_page_range")
    fnode = cfile.functions["start_isolate_page_range"]
    drains = cfile.calls(fnode, ("drain_all_pages",))
    assert len(drains) == 1
    drain = cfg.node_of(drains[0])
    returns = {(r.text or b"").decode(): r for r in cfg.returns_from(cflow.ENTRY)}
    assert set(returns) == {"return nr_isolated;", "return -EBUSY;"}
    assert drain is not None
    assert cfg.dominates(drain.id, returns["return nr_isolated;"].id)
    assert drain.id not in cfg.reachable(cfg.labels["undo"])  # never on the error path


def test_the_seed_move_on_5_8(tmp_path: Path) -> None:
    """The per-pageblock drain leaves set_migratetype_isolate(); one drain, with
    5.8's own names, comes before the success return."""
    first = series(shape_tree(tmp_path), "drain-per-range", tmp_path / "out")[0]
    removed = [line for line in first.splitlines() if line.startswith("-\t")]
    added = [line for line in first.splitlines() if line.startswith("+\t")]
    assert "-\t\tdrain_all_pages(zone);" in removed
    assert [a for a in added if "drain_all_pages" in a] == \
        ["+\tdrain_all_pages(page_zone(pfn_to_page(start_pfn)));"]
    assert "isolate_start" not in first
    body = first.split("\n---\n")[0]
    assert "64 before, 1 after" in body
    assert "replaces the drain after each isolated pageblock" in body


# -- 2. names that exist in this tree ------------------------------------------

@pytest.mark.parametrize("variant, call", [
    ("drain-per-range", "drain_all_pages(page_zone(pfn_to_page(start_pfn)));"),
    ("drain-per-zone", "drain_range_zones(start_pfn, end_pfn);"),
])
def test_snippet_names_are_this_trees_names(tmp_path: Path, variant: str, call: str) -> None:
    text = "".join(series(shape_tree(tmp_path), variant, tmp_path / "out"))
    assert f"+\t{call}" in text
    assert "isolate_start" not in text and "isolate_end" not in text


def test_6_19_names_are_kept(tmp_path: Path) -> None:
    text = "".join(series(shape_tree(tmp_path, "v6.19"), "drain-per-range", tmp_path / "out"))
    assert "+\tdrain_all_pages(page_zone(pfn_to_page(isolate_start)));" in text


@pytest.mark.parametrize("layers", [(), ("v5.8-lru",)])
def test_pcp_disable_is_refused_where_zone_pcp_disable_is_not_declared(
        tmp_path: Path, layers: tuple[str, ...]) -> None:
    """Even with lru_cache_disable() backported (the anchor exists), the call must not."""
    tree = shape_tree(tmp_path, *layers)
    run = run_gen("--variant", "pcp-disable", "--tree", str(tree), "--signoff", SIGNOFF,
                  "--no-checkpatch", "--no-selftests", cwd=tmp_path)
    assert run.returncode == 2, run.stdout
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr
    assert "zone_pcp_disable(), which this tree does not declare" in run.stderr


# -- 3. anchors that moved ------------------------------------------------------

def test_retry_drain_goes_in_the_retry_loop_not_the_hole_check(tmp_path: Path) -> None:
    """5.8 calls walk_system_ram_range() twice: the hole check first, the re-check in the loop."""
    tree = applied(shape_tree(tmp_path), "drain-per-range", tmp_path / "out")
    cfile, _ = function_of(tree, "mm/memory_hotplug.c", "__offline_pages")
    fnode = cfile.functions["__offline_pages"]
    (drain,) = cfile.calls(fnode, ("drain_all_pages",))
    loop = cflow.enclosing_loop(drain, fnode)
    assert loop is not None and loop.type == "do_statement"
    recheck = [c for c in cfile.calls(fnode, ("walk_system_ram_range",))
               if cflow.enclosing_loop(c, fnode) == loop]
    assert recheck and recheck[0].start_byte < drain.start_byte


@pytest.mark.parametrize("variant", ["drain-per-block", "drain-again"])
def test_per_block_drain_on_6_19(tmp_path: Path, variant: str) -> None:
    """6.16+: the free-page move is the condition of an `if`; the drain goes on its
    success path, after the unlock, before `return 0`."""
    tree = applied(shape_tree(tmp_path, "v6.19"), variant, tmp_path / "out")
    text = (tree / "mm/page_isolation.c").read_text()
    assert "\t\tunlock_zone(zone, flags);\n\t\tdrain_all_pages(zone);\n\t\treturn 0;\n" in text
    assert text.count("drain_all_pages") == 1


# -- 4. removals that leave debris ----------------------------------------------

def test_removing_the_only_statement_of_a_branch_rewrites_the_if(tmp_path: Path) -> None:
    tree = applied(shape_tree(tmp_path), "drain-per-range", tmp_path / "out")
    text = (tree / "mm/page_isolation.c").read_text()
    assert "if (!ret)" not in text and "} else {" not in text
    assert "\tif (ret) {\n\t\twarn_if_movable(zone);" in text


def test_removing_a_drain_under_a_vendor_hook_is_refused(tmp_path: Path) -> None:
    tree = shape_tree(tmp_path, "v6.19", "vendor-guard")
    run = run_gen("--variant", "drain-per-range", "--tree", str(tree), "--signoff", SIGNOFF,
                  "--no-checkpatch", "--no-selftests", cwd=tmp_path)
    assert run.returncode == 2 and run.stderr.count("\n") == 1, run.stderr
    assert "alloc_contig_range_noprof()" in run.stderr and "`skip_drain`" in run.stderr
    assert not (tmp_path / "patches" / "drain-per-range").exists()


def test_removing_a_drain_takes_its_own_flag(tmp_path: Path) -> None:
    tree = applied(shape_tree(tmp_path, "v6.19", "flag-guard"), "drain-per-range",
                   tmp_path / "out")
    assert "drain_pcp" not in (tree / "mm/page_alloc.c").read_text()


def test_removing_pcp_disable_retargets_its_error_label(tmp_path: Path) -> None:
    """5.11: the error label existed only for zone_pcp_enable()."""
    tree = applied(shape_tree(tmp_path, "v5.11"), "drain-per-range", tmp_path / "out")
    text = (tree / "mm/memory_hotplug.c").read_text()
    assert "failed_removal_pcplists_disabled" not in text
    assert "\tif (ret)\n\t\tgoto failed_removal;\n" in text
    assert "zone_pcp" not in text and "frees go straight" not in text


@pytest.mark.parametrize("layer, check", [
    ("v5.9", "\t\t\t\t\t    check_isolated_cb);\n\t} while (ret);"),
    ("v5.10", "\t\tret = test_pages_isolated(start_pfn, end_pfn, MEMORY_OFFLINE);\n\t} while (ret);"),
])
def test_removing_the_retry_drain_takes_the_comment_about_it(tmp_path: Path, layer: str,
                                                             check: str) -> None:
    """5.9 comments the retry drain itself; 5.10 explains it above the check it follows."""
    tree = applied(shape_tree(tmp_path, layer), "drain-per-block", tmp_path / "out")
    text = (tree / "mm/memory_hotplug.c").read_text()
    assert "drain again" not in text
    assert check in text


# -- 5. words that match the diff ------------------------------------------------

def test_words_on_a_tree_without_per_pageblock_drains(tmp_path: Path) -> None:
    """6.x: patch 1 of drain-per-range only adds a drain; it must not claim to replace 64."""
    tree = shape_tree(tmp_path, "v6.19")
    first = series(tree, "drain-per-range", tmp_path / "out")[0].split("\n---\n")[0]
    assert "64 drains" not in first and "replaces" not in first
    assert "This adds:" in first and "This removes:" not in first
    assert "1 before, 2 after" in first
    cover = (tmp_path / "out" / "drain-per-range").glob("0000-*.patch")
    assert "instead of 64" not in next(cover).read_text()


def test_refusals_are_user_errors_not_bugs(tmp_path: Path) -> None:
    tree = shape_tree(tmp_path, "v6.19", "vendor-guard")
    with pytest.raises(UserError) as err:
        generate(GenerateRequest(tree, "HEAD", (), "no-drain", tmp_path / "out", SIGNOFF))
    assert "drainlab bug" not in err.value.line()


def test_no_per_block_drain_inside_a_scoped_lock(tmp_path: Path) -> None:
    """Newest mainline returns 0 inside scoped_guard(spinlock_irqsave, &zone->lock):
    a drain before that return would sleep under the spinlock, so it is refused."""
    tree = shape_tree(tmp_path, "v6.19", "scoped-guard")
    run = run_gen("--variant", "drain-per-block", "--tree", str(tree), "--signoff", SIGNOFF,
                  "--no-checkpatch", "--no-selftests", cwd=tmp_path)
    assert run.returncode == 2 and run.stderr.count("\n") == 1, run.stderr
    assert "set_migratetype_isolate()" in run.stderr and "lock held" in run.stderr
    # The once-per-range placement does not drain under the lock: it is fine here.
    applied(tree, "drain-per-range", tmp_path / "out")


# -- a drain reached through a helper -----------------------------------------

@pytest.mark.parametrize("variant", ["drain-per-range", "no-drain"])
def test_7_x_drain_leaves_the_worker_not_the_wrapper(tmp_path: Path, variant: str) -> None:
    """7.x: alloc_contig_range_noprof() wraps the exported worker that isolates
    and drains. Removing S3c takes the drain out of the worker; the wrapper
    still calls the worker for its result."""
    tree = shape_tree(tmp_path, "v6.19", "v7.2")
    text = "".join(series(tree, variant, tmp_path / "out"))
    removed = [line for line in text.splitlines() if line.startswith("-\t")]
    assert "-\tdrain_all_pages(cc.zone);" in removed
    assert not any("alloc_contig_frozen_range_noprof(start" in line for line in removed)
    tree = applied(tree, variant, tmp_path / "out2")
    page_alloc = (tree / "mm/page_alloc.c").read_text()
    assert "ret = alloc_contig_frozen_range_noprof(start, end, flags, gfp_mask);" in page_alloc
    assert "drain_all_pages" not in page_alloc


def test_7_x_drain_goes_back_into_the_worker(tmp_path: Path) -> None:
    tree = applied(shape_tree(tmp_path, "v6.19", "v7.2"), "no-drain", tmp_path / "a")
    tree = applied(tree, "pcp-disable", tmp_path / "b")
    cfile = CFile("mm/page_alloc.c", (tree / "mm/page_alloc.c").read_bytes())
    assert cfile.calls(cfile.functions["alloc_contig_frozen_range_noprof"], ("drain_all_pages",))
    assert not cfile.calls(cfile.functions["alloc_contig_range_noprof"], ("drain_all_pages",))


def test_a_drain_in_a_worker_that_does_more_is_refused(tmp_path: Path) -> None:
    """Removing the call to a helper that is exported and returns a result would
    drop the isolation and the migration with the drain: one true line instead."""
    tree = shape_tree(tmp_path, "v6.19", "helper-does-more")
    assert inspect(TreeRequest(tree, "HEAD", ()))[1].sites == frozenset({"S3c", "P"})
    with pytest.raises(UserError) as err:
        series(tree, "drain-per-range", tmp_path / "out")
    line = err.value.line()
    assert "sits in contig_isolate_and_migrate(), which is not static" in line
    assert "\n" not in line
