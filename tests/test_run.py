# SPDX-License-Identifier: GPL-2.0
"""The run driver's schedule: interleaved, shuffled rounds from a recorded seed."""

from collections import Counter
from pathlib import Path

from generator.run import interleave, tree_selftests

NAMES = ["drain-per-block", "drain-per-range", "pcp-disable"]


def test_every_round_runs_every_variant_once() -> None:
    slots = interleave(NAMES, 5, seed=9)
    assert len(slots) == 15
    for trial in range(1, 6):
        rnd = [s for s in slots if s.trial == trial]
        assert sorted(s.variant for s in rnd) == sorted(NAMES)
        assert [s.position for s in rnd] == [1, 2, 3]
    assert Counter(s.variant for s in slots) == Counter({n: 5 for n in NAMES})
    assert all(s.seed == 9 for s in slots)


def test_order_is_shuffled_and_reproducible_from_the_seed() -> None:
    orders = [tuple(s.variant for s in interleave(NAMES, 20, seed=s)) for s in (1, 1, 2)]
    assert orders[0] == orders[1], "same seed, same schedule"
    assert orders[0] != orders[2], "another seed, another schedule"
    firsts = {s.variant for s in interleave(NAMES, 20, seed=1) if s.position == 1}
    assert len(firsts) > 1, "the first variant of a round changes between rounds"


def test_tree_selftests_are_read_from_the_tree_under_test(tmp_path: Path) -> None:
    assert tree_selftests(tmp_path) == {}, "a tree without the script gives nothing to install"
    script = tmp_path / "tools/testing/selftests/memory-hotplug/mem-on-off-test.sh"
    script.parent.mkdir(parents=True)
    script.write_bytes(b"#!/bin/bash\nexit 0\n")
    assert tree_selftests(tmp_path) == {"memory-hotplug/mem-on-off-test.sh": b"#!/bin/bash\nexit 0\n"}
