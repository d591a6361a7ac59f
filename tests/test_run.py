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


def test_a_refused_or_failed_host_request_fails_the_run(tmp_path: Path) -> None:
    """Each guest request to the host is a test point; one not carried out fails the run."""
    from generator import collect, qmp
    from generator import results as res
    from generator.run import host_points

    console = collect.parse_console("DRAINLAB: boot uptime=0.5\nDRAINLAB: begin t.sh\nTAP version 13\n"
                                    "1..1\nok 1 x\nDRAINLAB: end t.sh rc=0 ms=5\nDRAINLAB: done\n")
    stages = [res.StageResult("boot", res.StageStatus.OK), res.StageResult("test", res.StageStatus.OK)]
    meta = res.RunMeta(variant="v", trial=1)
    ok = qmp.handle_request("drainlab-qmp: device_del dimm0", 1.0, None, {"dimm0"}, 0)
    bad = qmp.handle_request("drainlab-qmp: device_del ide0", 2.0, None, {"dimm0"}, 1)
    assert ok is not None and bad is not None
    accepted = qmp.HostRequest(ok.line, ok.command, ok.args, "ok", "QEMU accepted", 1.0)
    assert res.build_run_result(meta, stages, console, host_points((accepted,))).status == res.RunStatus.PASS
    run = res.build_run_result(meta, stages, console, host_points((accepted, bad)))
    assert run.status == res.RunStatus.FAIL
    point = next(p for p in run.points if p.path == "drainlab.host.request2")
    assert point.status == "FAIL" and "not created by drainlab" in point.message
    assert res.build_run_result(meta, stages, console).status == res.RunStatus.PASS
    res.write_results(run, tmp_path / "results.json")  # the schema takes the new point
    assert res.read_results(tmp_path / "results.json").status == res.RunStatus.FAIL
