# SPDX-License-Identifier: GPL-2.0
"""bundle.py: the review bundle directory, its README and its SVG plots."""

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from generator import bundle, collect, results
from generator.errors import InfraError, UserError
from generator.results import StageResult, StageStatus

CONSOLE = Path(__file__).parent / "data" / "console"
SVG = "{http://www.w3.org/2000/svg}"


def make_run(scenario: str, variant: str, trial: int = 1) -> results.RunResult:
    meta = results.RunMeta(variant=variant, trial=trial, base_commit="e" * 40,
                           kernel_version="6.1.192-drainlab",
                           artifacts={"console_log": str(CONSOLE / f"{scenario}.log")})
    stages = [StageResult(n, StageStatus.OK, 1.0) for n in results.STAGES]
    return results.build_run_result(meta, stages, collect.read_console(CONSOLE / f"{scenario}.log"))


@pytest.fixture()
def runs() -> list[results.RunResult]:
    return [make_run("all-pass", "base", 1), make_run("one-fail", "base", 2),
            make_run("printk-prefixed", "drain-per-block", 1), make_run("no-markers", "no-drain", 1)]


@pytest.fixture()
def series(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name in ("base", "drain-per-block"):
        d = tmp_path / "in" / name
        d.mkdir(parents=True)
        (d / "0000-cover-letter.patch").write_text(f"Subject: [PATCH 0/1] {name}\n")
        (d / "0001-mm.patch").write_text("diff --git a/mm/page_isolation.c b/mm/page_isolation.c\n")
        out[name] = d
    return out


def test_bundle_layout_and_readme(tmp_path: Path, runs: list[results.RunResult],
                                  series: dict[str, Path]) -> None:
    rd = tmp_path / "in" / "rd.txt"
    rd.write_text("1:  abc = 1:  abc mm: move drain\n")
    out = bundle.write_bundle(tmp_path / "bundle", runs, title="drain placement v1",
                              cover="Moves drain_all_pages() per pageblock.", series=series,
                              range_diffs={"base..drain-per-block": rd, "inline": "2:  def ! 2:  def\n"})
    files = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert files == {
        "README.txt",
        "series/base/0000-cover-letter.patch", "series/base/0001-mm.patch",
        "series/drain-per-block/0000-cover-letter.patch", "series/drain-per-block/0001-mm.patch",
        "range-diff/base..drain-per-block.txt", "range-diff/inline.txt",
        "logs/base-t1.log", "logs/base-t2.log", "logs/drain-per-block-t1.log", "logs/no-drain-t1.log",
        "results/base-t1.json", "results/base-t2.json", "results/drain-per-block-t1.json",
        "results/no-drain-t1.json",
        "report/junit.xml", "report/kcidb.json", "report/table.txt",
        "plots/offline-latency.svg", "plots/drains-per-offline.svg",
    }
    assert (out / "range-diff/base..drain-per-block.txt").read_text() == rd.read_text()
    assert (out / "logs/base-t2.log").read_bytes() == (CONSOLE / "one-fail.log").read_bytes()
    assert results.read_results(out / "results/base-t2.json") == runs[1]
    readme = (out / "README.txt").read_text()
    assert readme.startswith("drain placement v1\n==================\n")
    assert (out / "report/table.txt").read_text().rstrip() in readme
    assert "drain-per-block-t1: warning: WARNING: CPU: 0 PID: 231" in readme
    assert "  plots/offline-latency.svg" in readme
    assert json.loads((out / "report/kcidb.json").read_text())["version"]["major"] == 5
    assert not list(tmp_path.glob(".bundle.tmp-*"))


def test_range_diffs_from_a_callable(tmp_path: Path, runs: list[results.RunResult]) -> None:
    out = bundle.write_bundle(tmp_path / "b", runs[:1], range_diffs=lambda: {"v1 vs v2": "x\n"})
    assert (out / "range-diff/v1_vs_v2.txt").read_text() == "x\n"


def test_latency_plot_has_one_dot_per_successful_offline(runs: list[results.RunResult]) -> None:
    root = ET.fromstring(bundle.latency_svg(runs))
    assert root.tag == f"{SVG}svg"
    offlines = sum(1 for r in runs for m in r.metrics() if m.op == "offline" and m.ok)
    assert len(root.findall(f"{SVG}circle")) == offlines > 0
    assert len(root.findall(f"{SVG}line[@class='median']")) == 2  # no-drain has no offline
    labels = [t.text for t in root.findall(f"{SVG}text")]
    assert "base" in labels and "no-drain" in labels and "1 ms" in labels


def test_drains_plot_bars(runs: list[results.RunResult]) -> None:
    from generator.report import stats

    root = ET.fromstring(bundle.drains_svg(stats.summarize(runs)))
    bars = root.findall(f"{SVG}rect[@class='bar']")
    assert len(bars) == 2
    assert "not measured" in [t.text for t in root.findall(f"{SVG}text")]


def test_existing_bundle_is_not_overwritten_by_default(tmp_path: Path,
                                                       runs: list[results.RunResult]) -> None:
    out = tmp_path / "b"
    out.mkdir()
    (out / "keep").write_text("x")
    with pytest.raises(UserError, match="already exists"):
        bundle.write_bundle(out, runs)
    assert (out / "keep").exists()
    bundle.write_bundle(out, runs[:1], overwrite=True)
    assert not (out / "keep").exists() and (out / "README.txt").exists()


def test_missing_series_dir_leaves_nothing_behind(tmp_path: Path, runs: list[results.RunResult]) -> None:
    with pytest.raises(UserError, match="series directory"):
        bundle.write_bundle(tmp_path / "b", runs, series={"x": tmp_path / "nope"})
    assert list(tmp_path.iterdir()) == []


def test_write_failure_is_infra_error(tmp_path: Path, runs: list[results.RunResult],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(bundle.shutil, "copyfile", broken)
    with pytest.raises(InfraError, match="cannot write bundle .*No space left"):
        bundle.write_bundle(tmp_path / "b", runs)
    assert list(tmp_path.iterdir()) == []
