# SPDX-License-Identifier: GPL-2.0
"""The installed drainlab version, recorded in every results.json."""

from functools import lru_cache
from importlib import metadata


@lru_cache(maxsize=1)
def tool_version() -> str:
    try:
        return metadata.version("drainlab")
    except metadata.PackageNotFoundError:  # run from a source tree that is not installed
        return "0+unknown"
