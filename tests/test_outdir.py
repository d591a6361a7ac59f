# SPDX-License-Identifier: GPL-2.0
"""OUT/<variant>: replaced whole (Ctrl-C never leaves half a series), locked against a
second gen, only gen's own files removed, and no directory for an empty series."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from gitstate import as_from_a_terminal, assert_one_line_error, git, make_repo, run_gen, snapshot

FIXTURE = Path(__file__).parent / "data" / "fake_linux"
VARIANT = "drain-per-range"
NEUTRAL = {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
           "SOURCE_DATE_EPOCH": "1600000000"}


@pytest.fixture
def fake_tree(tmp_path: Path) -> Path:
    return make_repo(FIXTURE, tmp_path / "linux")


def slow_git(tmp_path: Path, seconds: float) -> dict[str, str]:
    """PATH with a git that takes SECONDS longer to start format-patch: a slow disk,
    so a Ctrl-C or a second gen lands while the series is being written."""
    bin_dir = tmp_path / "slow-bin"
    bin_dir.mkdir(exist_ok=True)
    real = subprocess.run(["sh", "-c", "command -v git"], capture_output=True, text=True,
                          check=True).stdout.strip()
    wrapper = bin_dir / "git"
    # It leaves a mark when format-patch starts, so a test can time its signal
    # from there, not from a process start that a loaded host makes slow.
    wrapper.write_text(f'#!/bin/sh\ncase " $* " in *" format-patch "*) : >"{bin_dir}/started"; '
                       f'sleep {seconds};; esac\nexec {real} "$@"\n')
    wrapper.chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def argv(tree: Path, out: Path, signoff: str, variant: str = VARIANT) -> list[str]:
    return [sys.executable, "-m", "generator.cli", "--variant", variant, "--tree", str(tree),
            "--out", str(out), "--signoff", signoff, "--no-checkpatch", "--no-selftests"]


def gen(tree: Path, out: Path, signoff: str, cwd: Path, variant: str = VARIANT,
        env: dict[str, str] | None = None):
    return run_gen(*argv(tree, out, signoff, variant)[3:], cwd=cwd, env={**NEUTRAL, **(env or {})})


def start_new_gen(tree: Path, out: Path, cwd: Path, env: dict[str, str],
                  preexec: Callable[[], None] = as_from_a_terminal) -> "subprocess.Popen[str]":
    """A gen rerun as the "New Dev", in its own session (a terminal's process
    group), returned once it reached format-patch (slow_git's mark) or ended."""
    started = cwd / "slow-bin" / "started"
    started.unlink(missing_ok=True)
    proc = subprocess.Popen(argv(tree, out, "New Dev <new@dev.org>"), cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=preexec)
    deadline = time.monotonic() + 30
    while not started.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    return proc


def series_state(directory: Path) -> tuple[str, ...]:
    """The sender of every gen file in DIRECTORY; asserts the series is whole."""
    manifest = (directory / ".drainlab-manifest").read_text()
    files = [directory / n for n in manifest.splitlines() if not n.startswith("#")]
    assert [f.name[:4] for f in files] == ["0000", "0001", "0002", "0003"], files
    senders = []
    for f in files:
        text = f.read_text()
        assert "*** SUBJECT HERE ***" not in text and "*** BLURB HERE ***" not in text, f
        assert text.rstrip().endswith("2.39.5") or "\n-- \n" in text, f  # written to the end
        senders.append(next(line for line in text.splitlines() if line.startswith("From: ")))
    assert set(files) <= set(directory.glob("*.patch"))
    return tuple(senders)


# -- 5: a rerun swaps the new series in whole ------------------------------------

def test_ctrl_c_during_a_rerun_leaves_the_old_or_the_new_series(fake_tree: Path,
                                                                 tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {**os.environ, **NEUTRAL, **slow_git(tmp_path, 1.0)}
    outcomes = set()
    started = tmp_path / "slow-bin" / "started"
    # Delays from the start of format-patch (which sleeps 1 s first): the first
    # land while the series is written, the last after it is swapped in.
    marks = 0
    for delay in (0.0, 0.3, 0.6, 0.9, 1.1, 1.3, 1.6, 2.0, 3.0, 6.0):
        first = gen(fake_tree, out, "Old Dev <old@dev.org>", tmp_path)
        assert first.returncode == 0, first.stderr
        old = series_state(out / VARIANT)
        # The whole process group gets the SIGINT, as from a terminal's Ctrl-C.
        proc = start_new_gen(fake_tree, out, tmp_path, env)
        marks += started.exists()
        time.sleep(delay)
        with contextlib.suppress(ProcessLookupError):  # it may have finished already
            os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert "Traceback" not in err, err
        assert proc.returncode in (0, 130, -signal.SIGINT), (delay, proc.returncode, err)
        state = series_state(out / VARIANT)
        assert state in (old, tuple(s.replace("Old", "New").replace("old@", "new@")
                                    for s in old)), (delay, state)
        outcomes.add("new" if "New Dev" in state[0] else "old")
        assert not list(out.glob(f".{VARIANT}.new-*")), "staging directory left behind"
    # The delays span the write: the early ones must interrupt it, the late ones not.
    assert marks == 10
    assert outcomes == {"old", "new"}, outcomes


def test_sigterm_or_sighup_during_a_rerun_never_leaves_half_a_series(fake_tree: Path,
                                                                       tmp_path: Path) -> None:
    out = tmp_path / "out"
    scratch = tmp_path / "tmp"  # gen's TMPDIR: its scratch git directories go here
    scratch.mkdir()
    env = {**os.environ, **NEUTRAL, **slow_git(tmp_path, 1.0), "TMPDIR": str(scratch)}
    started = tmp_path / "slow-bin" / "started"
    for sig, delay in ((signal.SIGTERM, 0.0), (signal.SIGHUP, 0.4), (signal.SIGTERM, 0.8),
                       (signal.SIGKILL, 0.0)):
        assert gen(fake_tree, out, "Old Dev <old@dev.org>", tmp_path).returncode == 0
        old = series_state(out / VARIANT)
        proc = start_new_gen(fake_tree, out, tmp_path, env)
        assert started.exists(), "gen never reached format-patch"
        time.sleep(delay)
        os.killpg(proc.pid, sig)
        _, err = proc.communicate(timeout=60)
        new = tuple(s.replace("Old", "New").replace("old@", "new@") for s in old)
        # SIGKILL only before the swap: it cannot be held back during the renames.
        assert series_state(out / VARIANT) in (old, new), sig
        if sig == signal.SIGKILL:
            continue
        # TERM and HUP unwind like Ctrl-C: one line, 128 + the signal, and gen's
        # own cleanup ran (no staging directory, no scratch git directory).
        assert proc.returncode == 128 + sig, (sig, proc.returncode, err)
        assert err == f"gen: terminated by {signal.Signals(sig).name}\n", err
        assert not list(out.glob(f".{VARIANT}.new-*")), "staging directory left behind"
        assert list(scratch.iterdir()) == [], "scratch directory left behind"
    # A killed gen cannot clean up its staging directory; the next one does.
    assert gen(fake_tree, out, "New Dev <new@dev.org>", tmp_path).returncode == 0
    assert not list(out.glob(f".{VARIANT}.new-*"))


def test_a_nohup_gen_survives_the_hangup(fake_tree: Path, tmp_path: Path) -> None:
    # nohup ignores SIGHUP before exec; gen must keep it ignored and finish.
    def as_under_nohup() -> None:
        as_from_a_terminal()
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    out = tmp_path / "out"
    env = {**os.environ, **NEUTRAL, **slow_git(tmp_path, 1.0)}
    proc = start_new_gen(fake_tree, out, tmp_path, env, as_under_nohup)
    assert proc.poll() is None, "gen ended before the hangup"
    os.killpg(proc.pid, signal.SIGHUP)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "New Dev" in series_state(out / VARIANT)[0]


# -- 6: one gen at a time per output directory ------------------------------------

def test_concurrent_gens_into_one_out_never_mix(fake_tree: Path, tmp_path: Path) -> None:
    env = {**os.environ, **NEUTRAL, **slow_git(tmp_path, 0.4)}
    refused = 0
    for trial in range(6):
        out = tmp_path / f"out{trial}"
        procs = [subprocess.Popen(argv(fake_tree, out, f"Dev{n} <dev{n}@dev.org>"),
                                  cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for n in (0, 1)]
        results = [(p, *p.communicate(timeout=60)) for p in procs]
        for p, _, err in results:
            assert "Traceback" not in err, err
            assert p.returncode in (0, 2), (p.returncode, err)
            if p.returncode == 2:
                refused += 1
                lines = err.strip().splitlines()
                assert len(lines) == 1, err
                others = [str(q.pid) for q in procs if q is not p]
                assert f"in use by another gen (pid {others[0]})" in lines[0], (lines, others)
        assert any(p.returncode == 0 for p, _, _ in results)
        senders = series_state(out / VARIANT)
        assert len(set(senders)) == 1, senders  # one run's cover with that run's patches
    assert refused >= 1, "the two gens never overlapped: the test proves nothing"


def test_a_second_gen_into_another_out_is_not_blocked(fake_tree: Path, tmp_path: Path) -> None:
    env = {**os.environ, **NEUTRAL, **slow_git(tmp_path, 0.5)}
    procs = [subprocess.Popen(argv(fake_tree, tmp_path / f"out{n}", "D <d@dev.org>"),
                              cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for n in (0, 1)]
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err


# -- 7: only gen's own files, and say what was replaced ---------------------------

def test_a_rerun_keeps_the_users_own_files(fake_tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert gen(fake_tree, out, "Old <old@dev.org>", tmp_path).returncode == 0
    mine = {"my-fix.patch": "my own work\n", "0009-my-numbered.patch": "also mine\n",
            "notes.txt": "notes\n"}
    for name, text in mine.items():
        (out / VARIANT / name).write_text(text)
    run = gen(fake_tree, out, "New <new@dev.org>", tmp_path)
    assert run.returncode == 0, run.stderr
    assert "replaced the previous series (4 files)" in run.stdout
    assert "0009-my-numbered.patch, my-fix.patch, notes.txt" in run.stdout
    for name, text in mine.items():
        assert (out / VARIANT / name).read_text() == text
    assert set(series_state(out / VARIANT)) == {"From: New <new@dev.org>"}


def test_a_user_file_in_the_way_is_refused_not_overwritten(fake_tree: Path,
                                                            tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert gen(fake_tree, out, "D <d@dev.org>", tmp_path).returncode == 0
    names = sorted(p.name for p in (out / VARIANT).glob("*.patch"))
    (out / VARIANT / ".drainlab-manifest").unlink()  # gen no longer knows them as its own
    (out / VARIANT / "0000-cover-letter.patch").write_text("the user's own cover letter\n")
    run = gen(fake_tree, out, "D <d@dev.org>", tmp_path)
    assert_one_line_error(run, "0000-cover-letter.patch", "move it away")
    assert (out / VARIANT / "0000-cover-letter.patch").read_text() == "the user's own cover letter\n"
    assert sorted(p.name for p in (out / VARIANT).glob("*.patch")) == names


def test_a_manifest_never_reaches_outside_the_directory(fake_tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert gen(fake_tree, out, "D <d@dev.org>", tmp_path).returncode == 0
    victim = tmp_path / "victim.patch"
    victim.write_text("keep me\n")
    with open(out / VARIANT / ".drainlab-manifest", "a") as f:
        f.write("../../victim.patch\n/etc/hostname\n.\n")
    assert gen(fake_tree, out, "D <d@dev.org>", tmp_path).returncode == 0
    assert victim.read_text() == "keep me\n"


def test_a_series_from_before_manifests_is_replaced(fake_tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert gen(fake_tree, out, "Old <old@dev.org>", tmp_path).returncode == 0
    (out / VARIANT / ".drainlab-manifest").unlink()
    run = gen(fake_tree, out, "New <new@dev.org>", tmp_path)
    assert run.returncode == 0, run.stderr
    assert set(series_state(out / VARIANT)) == {"From: New <new@dev.org>"}


def _at_target_tree(tmp_path: Path, patches: list[Path]) -> Path:
    applied = make_repo(FIXTURE, tmp_path / "applied")
    git(applied, "am", "-q", *map(str, patches),
        env={**NEUTRAL, "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e"})
    return applied


def test_an_at_target_tree_says_it_removed_the_previous_series(fake_tree: Path,
                                                               tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert gen(fake_tree, out, "D <d@dev.org>", tmp_path).returncode == 0
    patches = sorted((out / VARIANT).glob("0*.patch"))[1:]
    applied = _at_target_tree(tmp_path, patches)
    (out / VARIANT / "mine.txt").write_text("mine\n")
    run = gen(applied, out, "D <d@dev.org>", tmp_path)
    assert run.returncode == 0, run.stderr
    assert "already has this placement" in run.stdout
    assert "removed the previous series" in run.stdout and "4 files" in run.stdout
    assert sorted(os.listdir(out / VARIANT)) == ["mine.txt"]
    # Without a file of the user's, nothing is left: not even the directory.
    assert gen(fake_tree, out, "D <d@dev.org>", tmp_path).returncode == 0
    (out / VARIANT / "mine.txt").unlink()
    run = gen(applied, out, "D <d@dev.org>", tmp_path)
    assert "removed the previous series" in run.stdout
    assert not (out / VARIANT).exists()


# -- 8: an empty series writes nothing --------------------------------------------

def test_an_empty_series_creates_no_directory(fake_tree: Path, tmp_path: Path) -> None:
    before = snapshot(fake_tree)
    run = gen(fake_tree, tmp_path / "fresh" / "out", "D <d@dev.org>", tmp_path,
              variant="pcp-disable")
    assert run.returncode == 0, run.stderr
    assert "nothing written" in run.stdout
    assert not (tmp_path / "fresh").exists()
    (tmp_path / "existing").mkdir()
    run = gen(fake_tree, tmp_path / "existing", "D <d@dev.org>", tmp_path, variant="pcp-disable")
    assert run.returncode == 0, run.stderr
    assert os.listdir(tmp_path / "existing") == []
    assert snapshot(fake_tree) == before


def test_concurrent_selftests_into_one_directory_take_turns(tmp_path: Path) -> None:
    """The same kind for the selftests output: its content is the same, so gens wait."""
    procs = [subprocess.Popen([sys.executable, "-m", "generator.cli", "selftests",
                               "--selftests-out", str(tmp_path / "ks")], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(8)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    names = sorted(os.listdir(tmp_path / "ks"))
    assert names == [".drainlab-lock", "drainlab"], names
    assert (tmp_path / "ks" / "drainlab" / "Makefile").is_file()


@pytest.mark.parametrize("name", ["new\nline", "sp ace", "tab\there", "ünï", "-dash", "'quote\""])
def test_any_bytes_an_out_path_may_hold(fake_tree: Path, tmp_path: Path, name: str) -> None:
    out = tmp_path / name
    run = gen(fake_tree, out, "D <d@dev.org>", tmp_path)
    assert run.returncode == 0, run.stderr
    assert series_state(out / VARIANT)
