# SPDX-License-Identifier: GPL-2.0
"""The lint and type gates of tools/check can fail, and pass on this repository."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "pyproject.toml"

# Each line breaks a rule the project's configuration selects.
BAD = '''import os


def untyped(x):
    return x + 1


def typed() -> int:
    return "not an int"
'''


def check(*argv: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *argv], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_ruff_fails_on_bad_code(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(BAD)
    res = check("ruff", "check", "--no-cache", "--config", str(CONFIG), str(bad), cwd=tmp_path)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "F401" in res.stdout  # unused import


def test_mypy_strict_fails_on_bad_code(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(BAD)
    res = check("mypy", "--config-file", str(CONFIG), "--cache-dir", str(tmp_path / "cache"),
                str(bad), cwd=tmp_path)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "[no-untyped-def]" in res.stdout  # strict = true from pyproject.toml
    assert "[return-value]" in res.stdout


def test_repository_passes_ruff_and_mypy_strict() -> None:
    ruff = check("ruff", "check")
    assert ruff.returncode == 0, ruff.stdout + ruff.stderr
    mypy = check("mypy", "--strict", "generator")
    assert mypy.returncode == 0, mypy.stdout + mypy.stderr
    assert mypy.stdout.startswith("Success: no issues found")
