# SPDX-License-Identifier: GPL-2.0
"""Shared fixtures. A missing host tool skips a test on a laptop but fails it in CI:
a skip in CI would hide a missing install step in tools/setup.sh."""

import os
import shutil
from pathlib import Path

import pytest

from generator import tree as kernel_tree

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(condition: bool, why: str) -> None:
    """Skip (laptop) or fail (CI) when a prerequisite is missing."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"prerequisite missing in CI: {why}")
    pytest.skip(why)


def need_tool(name: str) -> str:
    path = shutil.which(name)
    need(path is not None, f"{name} not installed")
    return path or ""


@pytest.fixture(scope="session")
def real_tree() -> Path:
    """The default Debian linux-source-6.1 git tree (read-only for tests)."""
    need(kernel_tree.DEBIAN_TARBALL.exists(), "linux-source-6.1 not installed")
    return kernel_tree.prepare_default_tree().path
