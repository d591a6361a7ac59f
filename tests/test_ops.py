# SPDX-License-Identifier: GPL-2.0
"""generator/ops.py: a failed tool is one line, its most telling one, and a log
file (named in that line) keeps everything it printed. Real tools, real failures."""

import re
from pathlib import Path

import pytest
from conftest import need_tool

from generator import ops
from generator.errors import InfraError


def _fail(argv: list[str], cwd: Path) -> tuple[str, str]:
    """Run a failing tool; return the error line and the text of the log it names."""
    with pytest.raises(InfraError) as caught:
        ops.run(argv, cwd=cwd)
    line = caught.value.line()
    assert "\n" not in line
    m = re.search(r"full output in (\S+\.log)$", line)
    assert m, line
    return line, Path(m.group(1)).read_text()


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DRAINLAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_the_error_line_not_the_first_line_of_the_tail(tmp_path: Path, private_cache: Path) -> None:
    """merge_config.sh's shape: many 'Previous value' lines, then the cause."""
    noise = "; ".join(f"echo 'Previous value: # CONFIG_{n} is not set'" for n in range(40))
    script = f"{noise}; echo 'The merge file rel/config does not exist.  Exit.' >&2; exit 1"
    line, log = _fail(["sh", "-c", script], tmp_path)
    said = line.split("(exit 1): ", 1)[1]
    assert said.startswith("The merge file rel/config does not exist")
    assert "Previous value" not in said
    assert "CONFIG_2 " not in line  # the long script is shortened in the command shown
    assert "CONFIG_0 is" in log and "CONFIG_39 is" in log and "does not exist" in log
    assert str(private_cache / "logs") in line  # a stable place, not a temp dir


def test_a_real_tar_failure(tmp_path: Path) -> None:
    need_tool("tar")
    line, log = _fail(["tar", "-xJf", "no-such.tar.xz"], tmp_path)
    assert "no-such.tar.xz: Cannot open: No such file or directory" in line
    assert "$ tar -xJf no-such.tar.xz" in log and f"# cwd: {tmp_path}" in log


def test_a_real_make_failure_names_the_error_not_the_last_line(tmp_path: Path) -> None:
    need_tool("make")
    (tmp_path / "Makefile").write_text("all:\n\t@echo building\n\t@false\n\t@echo never\n")
    line, log = _fail(["make", "-C", str(tmp_path)], tmp_path)
    assert re.search(r"make: \*\*\* \[.*Makefile:\d+: all\] Error 1", line), line
    assert "building" in log


def test_a_real_git_failure(tmp_path: Path) -> None:
    need_tool("git")
    line, _ = _fail(["git", "-C", str(tmp_path), "rev-parse", "HEAD"], tmp_path)
    assert "fatal: not a git repository" in line


def test_no_error_word_gives_the_last_non_empty_line(tmp_path: Path) -> None:
    line, _ = _fail(["sh", "-c", "echo first; echo; echo the last words; echo; exit 4"], tmp_path)
    assert "(exit 4): the last words" in line


def test_logs_fall_back_when_the_cache_cannot_be_written(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "afile").write_text("")
    monkeypatch.setenv("DRAINLAB_CACHE", str(tmp_path / "afile"))
    line, log = _fail(["sh", "-c", "echo 'error: here' >&2; exit 1"], tmp_path)
    assert "error: here" in line and "error: here" in log


@pytest.mark.parametrize("text, want", [
    ("ok\nfatal: bad object\nhint: try again\n", "fatal: bad object"),
    ("gcc: error: x.c: No such file or directory\ncompilation terminated.\n",
     "gcc: error: x.c: No such file or directory"),
    ("Permission denied\nbye\n", "Permission denied"),
    ("", "(no output)"),
])
def test_telling_line(text: str, want: str) -> None:
    assert ops.telling_line(text) == want


def test_stderr_is_searched_before_stdout() -> None:
    assert ops.telling_line("error: the cause", "an error in the chatter") == "error: the cause"


def test_a_multi_line_error_keeps_its_context_and_its_cause() -> None:
    """Errors built from a tool's stderr (git am, git fetch) name the telling line too."""
    err = InfraError("git fetch from /t failed: remote: counting objects\nremote: done\n"
                     "fatal: couldn't find remote ref nope\nhint: check the name")
    line = err.line()
    assert line.startswith("git fetch from /t failed: remote: counting objects")
    assert "fatal: couldn't find remote ref nope" in line and "\n" not in line
