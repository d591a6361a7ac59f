# SPDX-License-Identifier: GPL-2.0
"""The README's commands, run exactly as written, in a fresh copy of this checkout.

`./bootstrap.sh run` (same script, same argv, the default relative results
directory) runs first, in a directory that has never seen drainlab: its own
.venv is created by tools/setup.sh, and the kernel config cache is empty,
as on a new user's machine. Built kernels are shared with the usual cache
(they are keyed by content), so the run costs boots, not cold builds. Then
every other command of the README's ```sh blocks runs in the same copy:
a README command that no test runs is a promise nobody checks.
"""

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import cold_config_cache, need_tool

from generator.catalog import load_catalog
from generator.results import RunStatus, read_results
from generator.run import RUN_TOOLS

pytestmark = [pytest.mark.kernel, pytest.mark.realtree]

ROOT = Path(__file__).resolve().parent.parent
MAIN = "./bootstrap.sh run"
# Not run from here, with the reason: CI runs exactly this command, and the
# suite cannot run itself.
NOT_RUN_HERE = {"./bootstrap.sh test": "it is the test suite; CI runs it as written"}


def readme_commands(readme: Path = ROOT / "README.md") -> list[str]:
    """Every command line of the README's ```sh blocks, comments stripped."""
    commands = []
    for block in re.findall(r"^```sh\n(.*?)^```", readme.read_text(), re.M | re.S):
        for line in block.splitlines():
            command = re.sub(r"\s+#.*$", "", line).strip()
            if command and not command.startswith("#"):
                commands.append(command)
    return commands


@dataclass(frozen=True)
class Fresh:
    path: Path  # the copy of this checkout
    env: dict[str, str]
    main: subprocess.CompletedProcess[str]  # `./bootstrap.sh run`


def _copy_checkout(dest: Path) -> Path:
    """This checkout as git would clone it, with the working tree's edits:
    tracked and untracked files, nothing ignored (.venv, results, caches)."""
    names = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, check=True, capture_output=True).stdout.split(b"\0")
    for name in filter(None, names):
        src = ROOT / os.fsdecode(name)
        if src.is_file():
            target = dest / os.fsdecode(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
    return dest


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Fresh:
    for tool in RUN_TOOLS:
        need_tool(tool)
    base = tmp_path_factory.mktemp("readme")
    checkout = _copy_checkout(base / "drainlab")
    env = {**os.environ, "DRAINLAB_CACHE": str(cold_config_cache(base / "cache"))}
    env.pop("VIRTUAL_ENV", None)
    main = subprocess.run(MAIN.split(), cwd=checkout, env=env, capture_output=True, text=True,
                          timeout=5400)
    print(main.stdout[-5000:], main.stderr[-3000:])
    return Fresh(checkout, env, main)


def test_the_readme_main_command(fresh: Fresh) -> None:
    assert MAIN in readme_commands()
    run = fresh.main
    assert "Traceback" not in run.stderr
    assert run.returncode == 0, (run.stdout[-3000:], run.stderr[-3000:])
    catalog = load_catalog()
    for name, variant in catalog.variants.items():
        path = fresh.path / "results" / name / "trial-1" / "results.json"
        result = read_results(path)
        if variant.expect == "pass":
            assert result.status == RunStatus.PASS, (name, result.status)
        else:
            assert result.status in (RunStatus.FAIL, RunStatus.HANG), (name, result.status)
    assert (fresh.path / ".venv" / "bin" / "gen").exists()  # setup.sh made the copy's own venv


def test_every_readme_command_is_run_here() -> None:
    listed = set(readme_commands())
    assert set(NOT_RUN_HERE) <= listed, "an exemption for a command the README no longer has"
    assert {c for c in listed if not c.startswith("gen ")} - set(NOT_RUN_HERE) == {MAIN}


# What each command must have done, beyond exit 0 and no traceback.
def _check(command: str, fresh: Fresh, out: str) -> None:
    if command.startswith("gen --list"):
        assert len(out.splitlines()) == len(load_catalog().variants)
    elif command.startswith("gen inspect"):
        assert "matches: pcp-disable" in out  # v6.1 upstream
    elif command.startswith("gen --variant drain-per-range"):
        assert len(list((fresh.path / "patches" / "drain-per-range").glob("*.patch"))) == 4
        assert "0 errors, 0 warnings" in out
    elif command.startswith("gen selftests"):
        profile = "full" if "--profile full" in command else "quick"
        assert f"({profile} profile)" in out
        assert (fresh.path / "kselftest_out" / "drainlab" / "Makefile").is_file()
    elif command.startswith("gen run"):
        names = command.split("--variants", 1)[1].split()[0].split(",")
        if names == ["all"]:
            names = list(load_catalog().variants)
        trials = int(command.split("--trials", 1)[1].split()[0]) if "--trials" in command else 1
        for name in names:
            for trial in range(1, trials + 1):
                assert (fresh.path / "results" / name / f"trial-{trial}" / "results.json").is_file()
    elif command.startswith("gen report"):
        text = (fresh.path / "results" / "report" / "report.txt").read_text()
        assert "drain-per-block" in text and max(len(line) for line in text.splitlines()) <= 72
    elif command.startswith("gen compare"):
        assert out.startswith("no regression"), out
    elif command.startswith("gen bundle"):
        assert (fresh.path / "bundle.tar.gz").stat().st_size > 0
    elif command.startswith("gen tree"):
        assert Path(out.strip()).is_dir()
    else:
        raise AssertionError(f"no check for README command {command!r}: add one here")


@pytest.mark.parametrize("command", [c for c in readme_commands() if c.startswith("gen ")])
def test_readme_command(fresh: Fresh, command: str) -> None:
    """As a user who followed the quick start: the copy's .venv/bin on PATH."""
    assert fresh.main.returncode == 0, "the main command failed; see test_the_readme_main_command"
    env = {**fresh.env, "PATH": f"{fresh.path / '.venv' / 'bin'}{os.pathsep}{fresh.env['PATH']}"}
    run = subprocess.run(["sh", "-c", command], cwd=fresh.path, env=env, capture_output=True,
                         text=True, timeout=3600)
    assert "Traceback" not in run.stderr
    assert run.returncode == 0, (command, run.stdout[-2000:], run.stderr[-2000:])
    _check(command, fresh, run.stdout)
