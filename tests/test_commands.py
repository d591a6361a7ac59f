# SPDX-License-Identifier: GPL-2.0
"""The command-line boundary (generator/commands.py): every argument checked before
anything is written, paths made absolute once, one line and exit 2/3 for what is wrong.

Read-only file systems are real mounts (a tmpfs mounted ro, a read-only bind
mount of a tree): that needs root, which CI has.
"""

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import need, path_without
from gitstate import assert_one_line_error, make_repo, run_gen, snapshot

from generator import commands
from generator import paths as paths_mod

FIXTURE = Path(__file__).parent / "data" / "fake_linux"


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every gen here gets a cache of its own: were a check missing, a `gen run`
    must not start real work in the shared one."""
    monkeypatch.setenv("DRAINLAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def fake_tree(tmp_path: Path) -> Path:
    return make_repo(FIXTURE, tmp_path / "linux")


def _mount(*argv: str) -> None:
    done = subprocess.run(["mount", *argv], capture_output=True, text=True)
    need(done.returncode == 0, f"cannot mount here (root needed): {done.stderr.strip()}")


@contextlib.contextmanager
def read_only_tmpfs(path: Path) -> Iterator[Path]:
    """An empty, really read-only file system at PATH."""
    path.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(path))
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=False)


@contextlib.contextmanager
def read_only_bind(source: Path, path: Path) -> Iterator[Path]:
    """SOURCE seen read-only at PATH (a bind mount remounted ro)."""
    path.mkdir(parents=True, exist_ok=True)
    _mount("--bind", str(source), str(path))
    try:
        _mount("-o", "remount,ro,bind", str(path))
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=False)


def gen(tree: Path, *args: str | bytes, cwd: Path, env: dict[str, str] | None = None):
    return run_gen(*args, "--tree", str(tree), "--no-checkpatch", cwd=cwd, env=env)


def written(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


# -- fault 9: paths that cannot be written: one line, exit 2, nothing written -----------

def test_out_is_an_existing_file(fake_tree: Path, tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("mine\n")
    run = gen(fake_tree, "--variant", "drain-per-range", "--out", "afile", cwd=tmp_path)
    assert_one_line_error(run, f"--out {tmp_path / 'afile'} exists and is not a directory")
    assert (tmp_path / "afile").read_text() == "mine\n"
    assert not (tmp_path / "kselftest_out").exists()  # checked before anything is written


@pytest.mark.parametrize("option", ["--selftests-out", "--results"])
def test_other_output_options_that_are_files(fake_tree: Path, tmp_path: Path, option: str) -> None:
    (tmp_path / "afile").write_text("mine\n")
    args = (["run", "--variants", "drain-per-range"] if option == "--results"
            else ["--variant", "drain-per-range", "--no-checkpatch"])
    run = run_gen(*args, "--tree", str(fake_tree), option, "afile/sub", cwd=tmp_path)
    assert_one_line_error(run, f"{option} {tmp_path / 'afile' / 'sub'}", "is not a directory")
    assert not (tmp_path / "patches").exists()


def test_out_on_a_read_only_filesystem(fake_tree: Path, tmp_path: Path) -> None:
    with read_only_tmpfs(tmp_path / "ro") as ro:
        run = gen(fake_tree, "--variant", "drain-per-range", "--out", str(ro / "p"), cwd=tmp_path)
        assert_one_line_error(run, f"--out {ro / 'p'}: {ro} is on a read-only file system",
                              "pass a writable directory")
    assert not (tmp_path / "kselftest_out").exists()


def test_cwd_on_a_read_only_filesystem(fake_tree: Path, tmp_path: Path) -> None:
    """The default --out (patches/) is relative to a read-only cwd."""
    with read_only_tmpfs(tmp_path / "ro") as ro:
        run = gen(fake_tree, "--variant", "drain-per-range", cwd=ro)
        assert_one_line_error(run, f"--out {ro / 'patches'}", "read-only file system",
                              "relative to the current directory")
        sel = run_gen("selftests", cwd=ro)
        assert_one_line_error(sel, f"--selftests-out {ro / 'kselftest_out'}", "read-only")


def test_a_patch_name_taken_by_a_directory(fake_tree: Path, tmp_path: Path) -> None:
    first = gen(fake_tree, "--variant", "drain-per-range", "--no-selftests", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    series = tmp_path / "patches" / "drain-per-range"
    patch = sorted(series.glob("0002-*.patch"))[0]
    patch.unlink()
    patch.mkdir()
    (patch / "notes").write_text("mine\n")
    run = gen(fake_tree, "--variant", "drain-per-range", "--no-selftests", cwd=tmp_path)
    assert_one_line_error(run, f"{patch} is a directory where gen writes a patch", "move it away")
    assert (patch / "notes").read_text() == "mine\n"
    assert len(list(series.glob("*.patch"))) == 4  # the previous series is still there


def test_the_variant_directory_is_a_file(fake_tree: Path, tmp_path: Path) -> None:
    (tmp_path / "patches").mkdir()
    (tmp_path / "patches" / "drain-per-range").write_text("mine\n")
    run = gen(fake_tree, "--variant", "drain-per-range", "--no-selftests", cwd=tmp_path)
    assert_one_line_error(run, "--out", "drain-per-range exists and is not a directory")


@pytest.mark.parametrize("how", ["file", "read-only", "xdg-file"])
def test_cache_that_cannot_be_written(tmp_path: Path, how: str) -> None:
    afile = tmp_path / "afile"
    afile.write_text("mine\n")
    with contextlib.ExitStack() as stack:
        if how == "file":
            env, cache = {"DRAINLAB_CACHE": "afile"}, afile
        elif how == "xdg-file":
            env, cache = {"DRAINLAB_CACHE": "", "XDG_CACHE_HOME": "afile"}, afile / "drainlab"
        else:
            ro = stack.enter_context(read_only_tmpfs(tmp_path / "ro"))
            env, cache = {"DRAINLAB_CACHE": str(ro / "c")}, ro / "c"
        for argv in (["tree"], ["run", "--variants", "no-drain"]):
            run = run_gen(*argv, cwd=tmp_path, env=env)
            assert_one_line_error(run, f"the cache {cache}", "set DRAINLAB_CACHE to a writable directory")
    assert afile.read_text() == "mine\n"
    assert not (tmp_path / "results").exists()


def test_generation_works_on_a_read_only_tree(fake_tree: Path, tmp_path: Path) -> None:
    """Generation only reads the tree: its commits go to a private object directory."""
    before = snapshot(fake_tree)
    objects = sorted(p.name for p in (fake_tree / ".git" / "objects").rglob("*"))
    with read_only_bind(fake_tree, tmp_path / "ro-tree") as ro:
        run = gen(ro, "--variant", "drain-per-range", "--no-selftests", cwd=tmp_path)
        assert run.returncode == 0, run.stderr
        looked = run_gen("inspect", "--tree", str(ro), cwd=tmp_path)
        assert looked.returncode == 0 and "matches: pcp-disable" in looked.stdout
        refused = run_gen("run", "--tree", str(ro), "--variants", "no-drain", cwd=tmp_path)
        assert_one_line_error(refused, "its git object store is read-only", "git clone --shared")
    assert snapshot(fake_tree) == before
    assert sorted(p.name for p in (fake_tree / ".git" / "objects").rglob("*")) == objects
    patches = sorted((tmp_path / "patches" / "drain-per-range").glob("*.patch"))
    assert len(patches) == 4
    check = subprocess.run(["git", "apply", "--check", *map(str, patches[1:])], cwd=fake_tree,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert not list(Path("/tmp").glob("drainlab-objects-*"))  # the scratch store is gone


def test_a_command_run_in_process_leaves_the_environment_as_it_was(
        fake_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """dispatch() hands children the absolute cache and, for a read-only tree, a
    scratch object directory through os.environ; a caller in the same process
    (the test suite, a tool) must not inherit them in its next command."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DRAINLAB_CACHE", "rel-cache")
    monkeypatch.delenv("GIT_OBJECT_DIRECTORY", raising=False)
    monkeypatch.delenv("GIT_ALTERNATE_OBJECT_DIRECTORIES", raising=False)
    before = dict(os.environ)
    with read_only_bind(fake_tree, tmp_path / "ro-tree") as ro:
        status = commands.dispatch(["--variant", "drain-per-range", "--tree", str(ro),
                                    "--no-selftests", "--no-checkpatch"])
    assert status == 0
    assert (tmp_path / "patches" / "drain-per-range").is_dir()
    assert dict(os.environ) == before


def test_a_read_only_cache_with_a_ready_default_tree(fake_tree: Path, tmp_path: Path) -> None:
    """Everything but gen run only reads a cache whose default tree is ready."""
    from generator import tree as kernel_tree

    cache = tmp_path / "cache-src"
    default = make_repo(FIXTURE, cache / kernel_tree.DEFAULT_TREE_NAME)
    (default / ".git" / kernel_tree.READY_MARK).write_text(f"{kernel_tree.TREE_FORMAT}\n6.1.0\n")
    before = snapshot(default)
    with read_only_bind(cache, tmp_path / "ro-cache") as ro:
        env = {"DRAINLAB_CACHE": str(ro)}
        assert run_gen("tree", cwd=tmp_path, env=env).stdout.strip() == str(ro / "linux-6.1")
        looked = run_gen("inspect", cwd=tmp_path, env=env)
        assert "matches: pcp-disable" in looked.stdout, looked.stderr
        made = run_gen("--variant", "drain-per-zone", "--no-checkpatch", cwd=tmp_path, env=env)
        assert made.returncode == 0, made.stderr
        refused = run_gen("run", "--variants", "no-drain", cwd=tmp_path, env=env)
        assert_one_line_error(refused, f"the cache {ro}", "read-only file system")
    assert snapshot(default) == before
    assert len(list((tmp_path / "patches" / "drain-per-zone").glob("*.patch"))) == 4


def test_git_missing_from_path(fake_tree: Path, tmp_path: Path) -> None:
    env = {"PATH": path_without(tmp_path, "git")}
    helped = run_gen("--help", cwd=tmp_path, env=env)
    assert helped.returncode == 0 and "exit status" in helped.stdout, helped.stderr
    listed = run_gen("--list", cwd=tmp_path, env=env)
    assert listed.returncode == 0 and "drain-per-range" in listed.stdout
    for argv in (["inspect", "--tree", str(fake_tree)],
                 ["--variant", "drain-per-range", "--tree", str(fake_tree)],
                 ["run", "--variants", "no-drain"], ["tree"]):
        assert_one_line_error(run_gen(*argv, cwd=tmp_path, env=env), "git not found",
                              "apt-get install git")
    assert not (tmp_path / "patches").exists()


@pytest.mark.parametrize("name", ["sp ace", "new\nline", "-leading-dash", b"not-utf8-\xff\xfe"])
def test_any_bytes_a_path_may_hold(fake_tree: Path, tmp_path: Path, name: str | bytes) -> None:
    out = os.fsencode(name)
    run = gen(fake_tree, "--variant", "drain-per-range", b"--out=" + out,
              b"--selftests-out=" + out + b"/ks", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    where = Path(os.fsdecode(os.fsencode(tmp_path) + b"/" + out))
    assert len(list((where / "drain-per-range").glob("*.patch"))) == 4
    assert (where / "ks" / "drainlab" / "Makefile").is_file()


@pytest.mark.parametrize("name", ["my tree", "-tree", b"tr\xe9e"])
def test_any_bytes_a_tree_path_may_hold(tmp_path: Path, name: str | bytes) -> None:
    where = Path(os.fsdecode(os.fsencode(tmp_path) + b"/" + os.fsencode(name)))
    tree = make_repo(FIXTURE, where)
    looked = run_gen(b"--tree=" + os.fsencode(name), "inspect", cwd=tmp_path)  # relative
    assert "matches: pcp-disable" in looked.stdout, looked.stderr
    made = gen(tree, "--variant", "no-drain", "--no-selftests", cwd=tmp_path)
    assert made.returncode == 0, made.stderr


@pytest.mark.parametrize("var, value, want", [
    ("DRAINLAB_CACHE", "rel-cache", "rel-cache"),
    ("XDG_CACHE_HOME", "rel-xdg", "rel-xdg/drainlab"),
    ("HOME", "rel-home", "rel-home/.cache/drainlab"),
])
def test_the_cache_from_the_environment_is_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    var: str, value: str, want: str) -> None:
    for name in ("DRAINLAB_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(var, value)
    monkeypatch.chdir(tmp_path)
    assert paths_mod.cache_dir() == tmp_path / want


@pytest.mark.parametrize("argv", [["--list"], ["--help"], ["selftests", "--selftests-out", "k"]])
def test_a_closed_pipe_ends_gen_quietly(tmp_path: Path, argv: list[str]) -> None:
    """`gen --list | head -1`: the reader is gone before gen writes."""
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run([sys.executable, "-m", "generator.cli", *argv], cwd=tmp_path,
                              stdout=write, stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write)
    assert proc.stderr == "", proc.stderr
    assert proc.returncode in (0, 141)  # argparse exits before the flush meets the pipe


# -- fault 11: every argument checked before anything is written ------------------------

def test_bad_profile_is_found_before_the_series_is_written(fake_tree: Path, tmp_path: Path) -> None:
    run = gen(fake_tree, "--variant", "drain-per-range", "--profile", "nope", cwd=tmp_path)
    assert_one_line_error(run, "unknown selftest profile 'nope'", "quick")
    assert written(tmp_path / "patches") == []


def test_bad_selftests_out_is_found_before_the_series_is_written(fake_tree: Path,
                                                                 tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("")
    run = gen(fake_tree, "--variant", "drain-per-range", "--selftests-out", "taken", cwd=tmp_path)
    assert_one_line_error(run, "--selftests-out", "is not a directory")
    assert written(tmp_path / "patches") == []


@pytest.mark.parametrize("argv, needle", [
    (["--trials", "0"], "--trials 0: must be at least 1"),
    (["--trials", "-3"], "--trials -3: must be at least 1"),
    (["--smp", "0"], "--smp 0: must be 1..255"),
    (["--watchdog", "-1"], "--watchdog -1.0: must be more than 0"),
    (["--watchdog", "nan"], "--watchdog nan: must be more than 0"),
    (["--variants", ","], "names no variant"),
    (["--variants", "no-drain,bogus"], "unknown variant 'bogus'"),
    (["--variants", "all,none"], "all and none stand alone"),
    (["--variants", "drain-again,all"], "all and none stand alone"),
    (["--profile", "nope"], "unknown selftest profile 'nope'"),
    (["--catalog", "no/such/dir"], "--catalog"),
    (["--base=--output=x"], "is not a revision"),
])
def test_run_arguments_are_checked_before_any_work(fake_tree: Path, tmp_path: Path,
                                                   argv: list[str], needle: str) -> None:
    cache = tmp_path / "cache"
    run = run_gen("run", "--tree", str(fake_tree), *argv, cwd=tmp_path,
                  env={"DRAINLAB_CACHE": str(cache)})
    assert_one_line_error(run, needle)
    assert not (tmp_path / "results").exists() and not cache.exists()


@pytest.mark.parametrize("argv, needle", [
    (["run", "--trials", "abc"], "gen run: argument --trials: invalid int value: 'abc'"),
    (["run", "--accel", "fast"], "argument --accel: invalid choice: 'fast'"),
    (["--bogus"], "unrecognized arguments: --bogus"),
    (["inspect", "extra"], "unrecognized arguments: extra"),
    (["--variant"], "argument --variant: expected one argument"),
    ([], "no command given"),
])
def test_usage_errors_are_one_line(tmp_path: Path, argv: list[str], needle: str) -> None:
    assert_one_line_error(run_gen(*argv, cwd=tmp_path), needle, "--help")


def test_exit_codes_are_documented(tmp_path: Path) -> None:
    helped = run_gen("--help", cwd=tmp_path)
    run_help = run_gen("run", "--help", cwd=tmp_path)
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    for text in (helped.stdout, run_help.stdout, readme):
        for code in ("0 ", "1 ", "2 ", "3 ", "130 "):
            assert f"\n  {code}" in text or f"| {code.strip()} |" in text, (code, text[-800:])


# -- fault 14: an option the command would ignore is an error ---------------------------

@pytest.mark.parametrize("argv, needle", [
    (["--list", "--variant", "drain-per-range"], "--variant cannot be used with gen --list"),
    (["--variant", "drain-per-range", "inspect"], "--variant cannot be used with gen inspect"),
    (["--list", "inspect"], "--list cannot be used with gen inspect"),
    (["--list", "--out", "x"], "--out cannot be used with gen --list"),
    (["--variant", "drain-per-range", "--no-selftests", "--profile", "full"],
     "--profile cannot be used with gen --variant"),
    (["selftests", "--tree", "."], "--tree cannot be used with gen selftests"),
    (["tree", "--base", "HEAD~1"], "--base cannot be used with gen tree"),
    (["run", "--selftests-out", "x"], "--selftests-out cannot be used with gen run"),
    (["run", "--quiet", "--json"], "--quiet and --json cannot be used together"),
    (["--out", "x"], "--out given without a command"),
    (["--variant", "drain-per-range", "report", "x"], "--variant cannot be used with gen report"),
    (["--tree", "x", "compare", "a", "b"], "--tree cannot be used with gen compare"),
    (["--signoff", "A <a@b.org>", "bundle", "x", "--out", "b.tar.gz"],
     "--signoff cannot be used with gen bundle"),
])
def test_conflicting_arguments_are_an_error(tmp_path: Path, argv: list[str], needle: str) -> None:
    run = run_gen(*argv, cwd=tmp_path)
    assert_one_line_error(run, needle)
    assert not (tmp_path / "x").exists() and not (tmp_path / "patches").exists()
    assert not (tmp_path / "cache").exists()


# -- the paths every stage sees are absolute ---------------------------------------------

def test_paths_are_made_absolute_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DRAINLAB_CACHE", "rel-cache")
    args = commands.build_parser().parse_args(
        ["run", "--tree", "t", "--results", "r", "--catalog", "c"])
    for name, value in commands.DEFAULTS.items():
        if getattr(args, name, None) is None:
            setattr(args, name, value)
    commands.absolute_paths(args)
    assert args.tree == tmp_path / "t" and args.results == tmp_path / "r"
    assert args.catalog == [tmp_path / "c"]
    assert args.selftests_out == tmp_path / "kselftest_out"  # a default, too
    assert os.environ["DRAINLAB_CACHE"] == str(tmp_path / "rel-cache")
