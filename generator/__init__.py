# SPDX-License-Identifier: GPL-2.0
"""drainlab: settle where drain_all_pages() belongs in page isolation, with evidence."""

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("drainlab")
except _metadata.PackageNotFoundError:  # run from a source tree that is not installed
    __version__ = "0+unknown"
