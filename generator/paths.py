# SPDX-License-Identifier: GPL-2.0
"""Where drainlab keeps what it can rebuild: the default tree, build dirs, ccache."""

import hashlib
import importlib
import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def cache_dir() -> Path:
    """The cache root, absolute; DRAINLAB_CACHE overrides XDG_CACHE_HOME/drainlab.

    The command line pins the absolute result into DRAINLAB_CACHE once
    (commands.absolute_paths), so every stage and child process agrees on it.
    """
    explicit = os.environ.get("DRAINLAB_CACHE")
    if explicit:
        return Path(os.path.abspath(explicit))
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(os.path.abspath(xdg)) / "drainlab"


def templates_dir() -> Path:
    # Installed wheels map top-level templates/ to generator/templates via
    # package-dir; an editable install or a plain checkout has it beside us.
    # Imported by name: the package exists only through that mapping, which mypy
    # cannot follow.
    tpl = importlib.import_module("generator.templates")
    return Path(tpl.__path__[0])


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file: the identity of configs and patches in cache keys and results."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
