# SPDX-License-Identifier: GPL-2.0
"""gen run --extra-series DIR: a test-only known-bad kernel beside the catalog's variants."""

from pathlib import Path

import pytest
from gitstate import assert_one_line_error, run_gen

from generator.catalog import load_catalog
from generator.errors import UserError
from generator.extra_series import load_all, load_extra_series
from generator.results import RunMeta, RunResult, RunStatus
from generator.run import expectations, unexpected_outcomes

CATALOG = tuple(load_catalog().variants)


def series_dir(root: Path, name: str = "leak-isolate", files: tuple[str, ...] = (
        "0000-cover-letter.patch", "0002-second.patch", "0001-first.patch", "notes.txt")) -> Path:
    d = root / name
    d.mkdir(parents=True)
    for f in files:
        (d / f).write_text(f"{f}\n")
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


def test_variants_none_needs_an_extra_series(tmp_path: Path) -> None:
    run = run_gen("run", "--variants", "none", "--results", str(tmp_path / "results"), cwd=tmp_path)
    assert_one_line_error(run, "--variants none", "--extra-series")
    assert not (tmp_path / "results").exists()
