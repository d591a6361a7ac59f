# SPDX-License-Identifier: GPL-2.0
"""Shards: N CI jobs that together run every (variant, trial) pair exactly once.

A shard is a filter over the matrix, not a schedule of its own: the pairs
are ranked in one canonical order (variant name, then trial) and shard I of
N keeps the pairs whose rank % N == I - 1. The filter keeps the order it is
given, so it composes with whatever order `gen run` runs its matrix in.

Why this ranking: with T trials and N dividing T, shard I runs trials
I, I + N, ... of every variant, i.e. whole rounds. Every CI machine then
runs every variant, so a slow runner slows all variants alike instead of
posing as a slow placement.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass

from generator.errors import UserError

SPEC_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class ShardSpec:
    """Shard `index` (1-based) of `count`."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> ShardSpec:
    """'I/N' with 1 <= I <= N -> ShardSpec.

    Raise: UserError (one line, naming the spec and the fix) for anything else.
    """
    m = SPEC_RE.match(text)
    if not m:
        raise UserError(f"--shard {text!r} is not I/N",
                        "give the shard as I/N, e.g. --shard 1/4 for the first of 4 jobs")
    index, count = int(m.group(1)), int(m.group(2))
    if count < 1:
        raise UserError(f"--shard {text}: the number of shards must be at least 1",
                        "e.g. --shard 1/4")
    if not 1 <= index <= count:
        raise UserError(f"--shard {text}: shard index {index} is outside 1..{count}",
                        f"use --shard 1/{count} ... --shard {count}/{count}")
    return ShardSpec(index, count)


Pair = tuple[str, int]  # (variant, trial)


def shard_pairs(pairs: Sequence[Pair], spec: ShardSpec | None) -> list[Pair]:
    """The (variant, trial) pairs of PAIRS that shard SPEC runs, in PAIRS' order.

    None: every pair (no sharding). Duplicate pairs count once in the ranking.
    """
    if spec is None:
        return list(pairs)
    rank = {pair: n for n, pair in enumerate(sorted(set(pairs)))}
    return [p for p in pairs if rank[p] % spec.count == spec.index - 1]
