# SPDX-License-Identifier: GPL-2.0
"""gen on a small fixture tree: outputs, bad input, and the user's tree left as it was."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gitstate import as_from_a_terminal, assert_one_line_error, git, make_repo, run_gen, snapshot

FIXTURE = Path(__file__).parent / "data" / "fake_linux"
NO_IDENTITY = {"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1",
               "HOME": "/nonexistent", "EMAIL": ""}


@pytest.fixture
def fake_tree(tmp_path: Path) -> Path:
    return make_repo(FIXTURE, tmp_path / "linux")


def gen(tree: Path, *args: str, cwd: Path, env: dict[str, str] | None = None):
    return run_gen(*args, "--tree", str(tree), "--no-checkpatch", "--no-selftests",
                   cwd=cwd, env=env)


def test_inspect_reads_the_fixture_placement(fake_tree: Path, tmp_path: Path) -> None:
    run = run_gen("inspect", "--tree", str(fake_tree), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "placement: S3c+P" in run.stdout
    assert "matches: pcp-disable" in run.stdout
    assert "drain_all_pages    alloc_contig_range" in run.stdout


def test_generate_then_inspect_the_result(fake_tree: Path, tmp_path: Path) -> None:
    before = snapshot(fake_tree)
    run = gen(fake_tree, "--variant", "drain-per-zone", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert snapshot(fake_tree) == before
    patches = sorted((tmp_path / "patches" / "drain-per-zone").glob("*.patch"))
    assert [p.name[:4] for p in patches] == ["0000", "0001", "0002", "0003"]
    # Apply to a second checkout and read the placement back.
    other = make_repo(FIXTURE, tmp_path / "other")
    git(other, "am", "-q", *[str(p) for p in patches[1:]],
        env={"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e"})
    inspected = run_gen("inspect", "--tree", str(other), cwd=tmp_path)
    assert "placement: S2z+S4" in inspected.stdout, inspected.stdout
    assert "drain_all_pages    start_isolate_page_range via drain_range_zones" in inspected.stdout


def test_tree_already_at_target_gives_an_empty_series(fake_tree: Path, tmp_path: Path) -> None:
    run = gen(fake_tree, "--variant", "pcp-disable", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "already has this placement; empty series" in run.stdout
    assert not list((tmp_path / "patches" / "pcp-disable").glob("*.patch"))


def test_series_headers(fake_tree: Path, tmp_path: Path) -> None:
    run = gen(fake_tree, "--variant", "drain-per-range", "--signoff", "A Dev <a@dev.org>",
              cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    cover, *patches = sorted((tmp_path / "patches" / "drain-per-range").glob("*.patch"))
    text = cover.read_text()
    assert "Subject: [PATCH 0/3] mm: drain pcplists once per isolated range" in text
    assert "base-commit: " + git(fake_tree, "rev-parse", "HEAD").strip() in text
    assert "*** BLURB HERE ***" not in text
    first = patches[0].read_text()
    assert "Subject: [PATCH 1/3] mm/page_isolation: drain pcplists once per isolated" in first
    assert "Signed-off-by: A Dev <a@dev.org>" in first
    assert "From: A Dev <a@dev.org>" in first


# -- bad input: one line, exit 2, no traceback, tree untouched -------------

def test_unknown_variant_lists_the_valid_ones(fake_tree: Path, tmp_path: Path) -> None:
    before = snapshot(fake_tree)
    run = gen(fake_tree, "--variant", "drain-everywhere", cwd=tmp_path)
    assert_one_line_error(run, "unknown variant 'drain-everywhere'", "drain-per-range",
                          "no-drain")
    assert snapshot(fake_tree) == before


def test_variant_names_are_validated(fake_tree: Path, tmp_path: Path) -> None:
    run = gen(fake_tree, "--variant", "../../etc", cwd=tmp_path)
    assert_one_line_error(run, "invalid variant name", "[a-z0-9-]+")
    assert not (tmp_path / "etc").exists()


def test_not_a_git_repo(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    run = gen(tmp_path / "plain", "--variant", "no-drain", cwd=tmp_path)
    assert_one_line_error(run, "is not a git repository", "kernel git checkout")


def test_not_a_kernel_tree(tmp_path: Path) -> None:
    repo = tmp_path / "notkernel"
    repo.mkdir()
    (repo / "README").write_text("hello\n")
    make_repo(repo, tmp_path / "repo")
    run = gen(tmp_path / "repo", "--variant", "no-drain", cwd=tmp_path)
    assert_one_line_error(run, "is not a kernel tree")


def test_missing_anchor_function_is_named(fake_tree: Path, tmp_path: Path) -> None:
    path = fake_tree / "mm" / "page_isolation.c"
    path.write_text(path.read_text().replace("start_isolate_page_range(unsigned",
                                             "begin_isolation(unsigned"))
    git(fake_tree, "commit", "-qam", "rename", env={"GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e"})
    before = snapshot(fake_tree)
    run = gen(fake_tree, "--variant", "drain-per-range", cwd=tmp_path)
    assert_one_line_error(run, "start_isolate_page_range() not found in mm/page_isolation.c")
    assert snapshot(fake_tree) == before


def test_dirty_tree_is_refused(fake_tree: Path, tmp_path: Path) -> None:
    path = fake_tree / "mm" / "memory_hotplug.c"
    path.write_text(path.read_text() + "/* my work in progress */\n")
    before = snapshot(fake_tree)
    run = gen(fake_tree, "--variant", "drain-per-range", cwd=tmp_path)
    assert_one_line_error(run, "uncommitted changes in mm/memory_hotplug.c", "commit or stash")
    assert snapshot(fake_tree) == before
    assert path.read_text().endswith("/* my work in progress */\n")


def test_malformed_catalog_yaml(fake_tree: Path, tmp_path: Path) -> None:
    cat = tmp_path / "cat"
    cat.mkdir()
    (cat / "broken.yaml").write_text("name: x\nsites: [S1\n")
    run = run_gen("--list", "--catalog", str(cat), cwd=tmp_path)
    assert_one_line_error(run, "malformed YAML", f"{cat / 'broken.yaml'}:")


def test_missing_git_identity(fake_tree: Path, tmp_path: Path) -> None:
    before = snapshot(fake_tree)
    run = gen(fake_tree, "--variant", "drain-per-range", cwd=tmp_path, env=NO_IDENTITY)
    assert_one_line_error(run, "no git identity", "--signoff")
    assert snapshot(fake_tree) == before
    ok = gen(fake_tree, "--variant", "drain-per-range", "--signoff", "A <a@b.c>",
             cwd=tmp_path, env=NO_IDENTITY)
    assert ok.returncode == 0, ok.stderr


def test_checkpatch_missing_from_the_tree(fake_tree: Path, tmp_path: Path) -> None:
    run = run_gen("--variant", "drain-per-range", "--tree", str(fake_tree), "--no-selftests",
                  cwd=tmp_path)
    assert_one_line_error(run, "scripts/checkpatch.pl not found", "--no-checkpatch")


def test_template_with_an_undefined_variable_fails(fake_tree: Path, tmp_path: Path) -> None:
    cat = tmp_path / "cat"
    cat.mkdir()
    (cat / "v.yaml").write_text(
        "name: bad-subject\nsummary: s\nhistory: h\nsites: [S2]\n"
        "cover: {subject: s, rationale: r}\n"
        "commits:\n  - sites: [S1, S2, S2z, S3o, S3c, S4, P]\n"
        "    subject: 'mm: {{ no_such_thing }}'\n"
        "    body: commit/move-drain.txt.j2\n    rationale: r\n")
    run = gen(fake_tree, "--variant", "bad-subject", "--catalog", str(cat), cwd=tmp_path)
    assert_one_line_error(run, "'no_such_thing' is undefined")


def test_catalog_text_never_reaches_a_shell(fake_tree: Path, tmp_path: Path) -> None:
    cat = tmp_path / "cat"
    cat.mkdir()
    marker = "pwned"  # relative to cwd = tmp_path; short, so the subject stays legal
    (cat / "v.yaml").write_text(
        "name: shelly\nsummary: s\nhistory: h\nsites: [S2]\n"
        f"cover: {{subject: 'x $(touch {marker})', rationale: r}}\n"
        "commits:\n  - sites: [S1, S2, S2z, S3o, S3c, S4, P]\n"
        f"    subject: 'mm: `touch {marker}`; $(touch {marker})'\n"
        "    body: commit/move-drain.txt.j2\n    rationale: r\n")
    run = gen(fake_tree, "--variant", "shelly", "--catalog", str(cat), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert not (tmp_path / marker).exists()
    first = sorted((tmp_path / "patches" / "shelly").glob("0001-*.patch"))[0].read_text()
    assert f"$(touch {marker})" in first


def test_ctrl_c_leaves_the_tree_as_it_was(fake_tree: Path, tmp_path: Path) -> None:
    before = snapshot(fake_tree)
    for delay in (0.15, 0.3, 0.5):
        proc = subprocess.Popen(
            [sys.executable, "-m", "generator.cli", "--variant", "no-drain", "--tree",
             str(fake_tree), "--no-checkpatch", "--no-selftests"],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=as_from_a_terminal)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert "Traceback" not in err
        # -2: the signal landed before Python installed its handler (nothing ran yet).
        assert proc.returncode in (0, 130, -signal.SIGINT)
        assert snapshot(fake_tree) == before
