# SPDX-License-Identifier: GPL-2.0
"""merge.py and `gen merge`: results directories of shards merged into one set of runs,
refused when they disagree on what was tested."""

import dataclasses
import json
import shutil
import tarfile
from pathlib import Path

import pytest
from gitstate import assert_one_line_error, run_gen

from generator import collect, merge, results
from generator.errors import UserError
from generator.report import table

RECORDED = Path(__file__).parent / "data" / "console-recorded"


def make_run(variant: str, trial: int, base: str = "a" * 40, config: str = "c" * 64,
             selftests: str = "5" * 64) -> results.RunResult:
    meta = results.RunMeta(variant=variant, trial=trial, base_commit=base,
                           config=results.ConfigInfo(config), selftests_hash=selftests,
                           start_time=f"2026-11-30T10:0{trial}:00+00:00")
    stages = [results.StageResult(n, results.StageStatus.OK, 1.0) for n in results.STAGES]
    console = collect.read_console(RECORDED / f"{variant}.log")
    return results.build_run_result(meta, stages, console)


def write_dir(root: Path, runs: list[results.RunResult]) -> Path:
    for run in runs:
        out = root / run.meta.variant / f"trial-{run.meta.trial}"
        out.mkdir(parents=True)
        results.write_results(run, out / "results.json")
        shutil.copyfile(RECORDED / f"{run.meta.variant}.log", out / "console.log")
    return root


def test_two_shards_merge_into_the_whole_matrix(tmp_path: Path) -> None:
    whole = [make_run(v, t) for v in ("drain-per-block", "no-drain") for t in (1, 2)]
    a = write_dir(tmp_path / "shard-1", [r for r in whole if r.meta.trial == 1])
    b = write_dir(tmp_path / "shard-2", [r for r in whole if r.meta.trial == 2])
    merged = merge.load_runs([a, b])
    assert [(r.meta.variant, r.meta.trial) for r in merged.runs] == \
        [("drain-per-block", 1), ("drain-per-block", 2), ("no-drain", 1), ("no-drain", 2)]
    assert merged.mixed == ()
    # Console logs are taken from beside each results.json, not the recorded path.
    assert all(Path(r.meta.artifacts["console_log"]).parent.parent.parent in (a, b)
               for r in merged.runs)
    out = merge.write_merged(merged, tmp_path / "merged")
    assert (out / "table.txt").read_text() == table.format_table(whole)
    kcidb = json.loads((out / "kcidb.json").read_text())
    assert len(kcidb["tests"]) == sum(len(r.points) for r in whole)
    with tarfile.open(out / "bundle.tar.gz") as tar:
        names = tar.getnames()
    assert any(n.endswith("README.txt") for n in names)
    assert len([n for n in names if n.endswith("console.log")]) == 4, names


@pytest.mark.parametrize("field,kwargs", [("base commit", {"base": "b" * 40}),
                                          ("config hash", {"config": "d" * 64}),
                                          ("selftests hash", {"selftests": "6" * 64})])
def test_disagreeing_runs_are_refused_and_named(tmp_path: Path, field: str,
                                                kwargs: dict[str, str]) -> None:
    a = write_dir(tmp_path / "shard-1", [make_run("drain-per-block", 1)])
    b = write_dir(tmp_path / "shard-2", [make_run("drain-per-block", 2, **kwargs)])
    with pytest.raises(UserError) as err:
        merge.load_runs([a, b])
    line = err.value.line()
    assert f"disagree on {field}:" in line and str(a) in line and str(b) in line
    assert "--allow-mixed" in line
    allowed = merge.load_runs([a, b], allow_mixed=True)
    assert len(allowed.runs) == 2 and allowed.mixed[0].startswith(field)


def test_a_copy_of_the_same_run_counts_once(tmp_path: Path) -> None:
    run = make_run("drain-per-block", 1)
    a = write_dir(tmp_path / "a", [run])
    b = write_dir(tmp_path / "b", [run])
    assert len(merge.load_runs([a, b]).runs) == 1


def test_overlapping_shards_are_refused(tmp_path: Path) -> None:
    a = write_dir(tmp_path / "a", [make_run("drain-per-block", 1)])
    other = make_run("drain-per-block", 1)
    b = write_dir(tmp_path / "b", [dataclasses.replace(
        other, meta=dataclasses.replace(other.meta, start_time="2026-11-30T11:00:00+00:00"))])
    with pytest.raises(UserError, match="recorded twice"):
        merge.load_runs([a, b])


def test_bad_results_file_is_named(tmp_path: Path) -> None:
    a = write_dir(tmp_path / "a", [make_run("drain-per-block", 1)])
    bad = a / "drain-per-block" / "trial-1" / "results.json"
    bad.write_text('{"schema_version": 99}')
    with pytest.raises(UserError, match=str(bad)):
        merge.load_runs([a])


def test_missing_and_empty_directories(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        merge.load_runs([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="holds no results.json"):
        merge.load_runs([tmp_path / "empty"])


def test_gen_merge_cli(tmp_path: Path) -> None:
    a = write_dir(tmp_path / "shard-1", [make_run("drain-per-block", 1)])
    b = write_dir(tmp_path / "shard-2", [make_run("drain-per-block", 2, base="b" * 40)])
    out = tmp_path / "merged"
    refused = run_gen("merge", str(a), str(b), "--out", str(out), cwd=tmp_path)
    assert_one_line_error(refused, "base commit", "--allow-mixed")
    assert not out.exists() and not list(tmp_path.glob(".merged*"))
    ok = run_gen("merge", str(a), str(b), "--out", str(out), "--allow-mixed", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "mixed (allowed): base commit" in ok.stdout
    assert (out / "junit.xml").is_file() and (out / "bundle.tar.gz").is_file()
    again = run_gen("merge", str(a), "--out", str(out), cwd=tmp_path)
    assert_one_line_error(again, "already exists")


def test_check_consistent_on_runs_from_any_loader() -> None:
    """The check a report command calls on runs it loaded itself."""
    runs = [make_run("drain-per-block", 1), make_run("drain-per-block", 2, config="d" * 64)]
    with pytest.raises(UserError, match="config hash: c{12} .* vs d{12}"):
        merge.check_consistent(runs, ["x", "y"])
    assert merge.check_consistent(runs[:1], ["x"]) == ()
    mixed = merge.check_consistent(runs, ["x", "y"], allow_mixed=True)
    assert len(mixed) == 1 and "(1 run(s) in x)" in mixed[0]
    assert merge.results_dir_of(Path("/r/shard-1/v/trial-2/results.json")) == "/r/shard-1"


def test_gen_report_refuses_mixed_runs_unless_allowed(tmp_path: Path) -> None:
    """gen report (the evidence report) runs the same check on what it loads."""
    a = write_dir(tmp_path / "shard-1", [make_run("drain-per-block", 1), make_run("no-drain", 1)])
    b = write_dir(tmp_path / "shard-2", [make_run("drain-per-block", 2, selftests="6" * 64),
                                         make_run("no-drain", 2, selftests="6" * 64)])
    out = tmp_path / "report"
    refused = run_gen("report", str(a), str(b), "--out", str(out), "--baseline", "no-drain",
                      cwd=tmp_path)
    assert_one_line_error(refused, "selftests hash", str(a), str(b), "--allow-mixed")
    assert not out.exists()
    ok = run_gen("report", str(a), str(b), "--out", str(out), "--baseline", "no-drain",
                 "--allow-mixed", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "mixed (allowed): selftests hash" in ok.stdout
    assert (out / "report.txt").is_file()
