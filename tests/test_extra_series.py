# SPDX-License-Identifier: GPL-2.0
"""gen run --extra-series DIR: a test-only known-bad kernel beside the catalog's variants."""

from pathlib import Path

import pytest
from gitstate import assert_one_line_error, run_gen

from generator.catalog import load_catalog
from generator.errors import UserError
from generator.extra_series import PATCH_MAX, load_all, load_extra_series
from generator.results import RunMeta, RunResult, RunStatus
from generator.run import expectations, unexpected_outcomes

CATALOG = tuple(load_catalog().variants)


# The shape of one git format-patch mail (written for these tests).
MAIL = ("From 0123456789abcdef0123456789abcdef01234567 Mon Sep 17 00:00:00 2001\n"
        "From: Fixture <fixture@example.org>\nSubject: [PATCH] {name}\n\n---\n"
        "diff --git a/f.c b/f.c\n--- a/f.c\n+++ b/f.c\n@@ -1 +1 @@\n-a\n+b\n")


def series_dir(root: Path, name: str = "leak-isolate", files: tuple[str, ...] = (
        "0000-cover-letter.patch", "0002-second.patch", "0001-first.patch", "notes.txt")) -> Path:
    d = root / name
    d.mkdir(parents=True)
    for f in files:
        (d / f).write_text(MAIL.format(name=f) if f.endswith(".patch") else f"{f}\n")
    return d


def test_patches_in_order_without_the_cover_letter(tmp_path: Path) -> None:
    extra = load_extra_series(series_dir(tmp_path), CATALOG)
    assert extra.name == "leak-isolate"
    assert [p.name for p in extra.patches] == ["0001-first.patch", "0002-second.patch"]


@pytest.mark.parametrize("name,files,needle", [
    ("Leak", ("0001-a.patch",), "is not [a-z0-9-]"),
    ("no-drain", ("0001-a.patch",), "already a variant's"),
    ("leak", ("0000-cover-letter.patch", "README"), "no NNNN-*.patch"),
])
def test_bad_directories_are_refused(tmp_path: Path, name: str, files: tuple[str, ...],
                                     needle: str) -> None:
    with pytest.raises(UserError, match=needle.replace("*", r"\*").replace("[", r"\[")
                       .replace("]", r"\]")):
        load_extra_series(series_dir(tmp_path, name, files), CATALOG)


def test_a_symlinked_patch_and_a_missing_directory_are_refused(tmp_path: Path) -> None:
    d = series_dir(tmp_path, files=("0001-a.patch",))
    (d / "0002-b.patch").symlink_to(d / "0001-a.patch")
    with pytest.raises(UserError, match="not a regular file"):
        load_extra_series(d, CATALOG)
    with pytest.raises(UserError, match="no such directory"):
        load_extra_series(tmp_path / "gone", CATALOG)


@pytest.mark.parametrize("name,content,needle", [
    ("series", None, "a name gen run uses itself"),
    ("kselftest", None, "a name gen run uses itself"),
    ("all", None, "a name gen run uses itself"),
    ("leak", b"hello, not a patch\n", "not a git format-patch mail"),
    ("leak", bytes(range(256)) * 64, "not a git format-patch mail"),
    ("leak", b"From 0123 Mon Sep 17 00:00:00 2001\nSubject: [PATCH] empty\n\n", "no 'diff --git'"),
])
def test_reserved_names_and_files_that_are_not_patches(tmp_path: Path, name: str,
                                                       content: bytes | None, needle: str) -> None:
    d = series_dir(tmp_path, name, ("0001-a.patch",))
    if content is not None:
        (d / "0001-a.patch").write_bytes(content)
    with pytest.raises(UserError, match=needle):
        load_extra_series(d, CATALOG)


def test_a_huge_patch_and_a_file_for_a_directory_are_refused(tmp_path: Path) -> None:
    d = series_dir(tmp_path, files=("0001-a.patch",))
    with open(d / "0001-a.patch", "ab") as f:
        f.truncate(PATCH_MAX + 1)  # sparse: no disk used
    with pytest.raises(UserError, match="more than"):
        load_extra_series(d, CATALOG)
    with pytest.raises(UserError, match="not a directory"):
        load_extra_series(d / "0001-a.patch", CATALOG)


def test_two_series_of_one_name_are_refused(tmp_path: Path) -> None:
    a = series_dir(tmp_path / "a", files=("0001-a.patch",))
    b = series_dir(tmp_path / "b", files=("0001-b.patch",))
    with pytest.raises(UserError, match="already"):
        load_all([a, b], CATALOG)


def run_of(variant: str, status: RunStatus) -> RunResult:
    return RunResult(RunMeta(variant, 1), status)


def test_an_extra_series_must_fail_like_the_negative_control(tmp_path: Path) -> None:
    extras = load_all([series_dir(tmp_path, files=("0001-a.patch",))], CATALOG)
    expect = expectations(load_catalog(), extras)
    assert expect["leak-isolate"] == "fail" and expect["no-drain"] == "fail"
    assert expect["pcp-disable"] == "pass"
    runs = [run_of("leak-isolate", RunStatus.FAIL), run_of("pcp-disable", RunStatus.PASS)]
    assert unexpected_outcomes(expect, runs) == []
    missed = unexpected_outcomes(expect, [run_of("leak-isolate", RunStatus.PASS)])
    assert missed == ["leak-isolate trial 1: pass (expected fail)"]


def test_gen_run_checks_it_before_any_work(tmp_path: Path) -> None:
    bad = series_dir(tmp_path, "pcp-disable", ("0001-a.patch",))
    run = run_gen("run", "--variants", "no-drain", "--extra-series", str(bad),
                  "--results", str(tmp_path / "results"), cwd=tmp_path)
    assert_one_line_error(run, "--extra-series", "pcp-disable", "rename the directory")
    assert not (tmp_path / "results").exists()
    run = run_gen("--variant", "no-drain", "--extra-series", str(bad), cwd=tmp_path)
    assert_one_line_error(run)
    junk = series_dir(tmp_path, "junk", ("0001-a.patch",))
    (junk / "0001-a.patch").write_bytes(b"\x00\xff binary junk")
    run = run_gen("run", "--variants", "none", "--extra-series", str(junk),
                  "--results", str(tmp_path / "results"), cwd=tmp_path)
    assert_one_line_error(run, "0001-a.patch", "not a git format-patch mail")
    assert not (tmp_path / "results").exists()


def test_variants_none_needs_an_extra_series(tmp_path: Path) -> None:
    run = run_gen("run", "--variants", "none", "--results", str(tmp_path / "results"), cwd=tmp_path)
    assert_one_line_error(run, "--variants none", "--extra-series")
    assert not (tmp_path / "results").exists()
