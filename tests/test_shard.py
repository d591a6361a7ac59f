# SPDX-License-Identifier: GPL-2.0
"""shard.py: I/N specs, and N shards that together run every (variant, trial) once."""

import itertools
from pathlib import Path

import pytest
from gitstate import assert_one_line_error, run_gen

from generator.errors import UserError
from generator.shard import ShardSpec, parse_shard, shard_pairs

VARIANTS = ("drain-per-block", "drain-per-range", "drain-per-zone", "no-drain", "pcp-disable")


def matrix(variants: tuple[str, ...], trials: int) -> list[tuple[str, int]]:
    return [(v, t) for v in variants for t in range(1, trials + 1)]


@pytest.mark.parametrize("text,spec", [("1/1", ShardSpec(1, 1)), ("2/4", ShardSpec(2, 4)),
                                       (" 3 / 3 ", ShardSpec(3, 3))])
def test_parse_shard(text: str, spec: ShardSpec) -> None:
    assert parse_shard(text) == spec
    assert str(spec) == f"{spec.index}/{spec.count}"


@pytest.mark.parametrize("text", ["3/2", "0/2", "a/b", "1/0", "1", "-1/2", "1/2/3", ""])
def test_bad_specs_are_refused(text: str) -> None:
    with pytest.raises(UserError):
        parse_shard(text)


@pytest.mark.parametrize("n_variants,trials,shards", [
    (v, t, n) for v, t, n in itertools.product((1, 2, 5), (1, 2, 3, 10), (1, 2, 3, 4, 7))])
def test_shards_partition_the_matrix(n_variants: int, trials: int, shards: int) -> None:
    pairs = matrix(VARIANTS[:n_variants], trials)
    got = [shard_pairs(pairs, ShardSpec(i, shards)) for i in range(1, shards + 1)]
    flat = [p for g in got for p in g]
    assert sorted(flat) == sorted(pairs)  # every pair once, none twice
    sizes = [len(g) for g in got]
    assert max(sizes) - min(sizes) <= 1  # balanced


def test_the_slice_does_not_depend_on_the_order_given() -> None:
    pairs = matrix(VARIANTS, 4)
    shuffled = list(reversed(pairs))
    spec = ShardSpec(2, 3)
    assert sorted(shard_pairs(pairs, spec)) == sorted(shard_pairs(shuffled, spec))
    # ... and keeps the order it is given (an interleaved schedule stays interleaved).
    assert shard_pairs(shuffled, spec) == [p for p in shuffled if p in shard_pairs(pairs, spec)]


def test_shards_that_divide_the_trials_run_whole_rounds() -> None:
    pairs = matrix(VARIANTS[:2], 2)
    assert shard_pairs(pairs, ShardSpec(1, 2)) == [("drain-per-block", 1), ("drain-per-range", 1)]
    assert shard_pairs(pairs, ShardSpec(2, 2)) == [("drain-per-block", 2), ("drain-per-range", 2)]


def test_no_spec_is_the_whole_matrix() -> None:
    pairs = matrix(VARIANTS, 2)
    assert shard_pairs(pairs, None) == pairs


@pytest.mark.parametrize("spec,needle", [("3/2", "outside 1..2"), ("0/2", "outside 1..2"),
                                         ("a/b", "not I/N"), ("1/0", "at least 1")])
def test_gen_run_bad_shard_is_one_line_and_writes_nothing(tmp_path: Path, spec: str,
                                                          needle: str) -> None:
    results = tmp_path / "results"
    run = run_gen("run", "--variants", "drain-per-block", "--shard", spec,
                  "--results", str(results), cwd=tmp_path)
    assert_one_line_error(run, "--shard", needle)
    assert not results.exists()
    assert list(tmp_path.iterdir()) == []
