# SPDX-License-Identifier: GPL-2.0
"""Statement-level control flow and dominance on small C functions written for the test."""

from generator import cflow
from generator.csource import CFile

SRC = b"""
int f(int a)
{
	int r = 0;

	if (a)
		goto fail;
	do {
		r = step();
		if (r < 0)
			break;
	} while (again(r));
	mark();
	return 0;
fail:
	undo();
	return -EINVAL;
}
"""


def graph() -> tuple[CFile, cflow.Cfg]:
    cfile = CFile("f.c", SRC)
    return cfile, cflow.build(cfile.functions["f"])


def stmt(cfile: CFile, cfg: cflow.Cfg, name: str) -> int:
    node = cfg.node_of(cfile.calls(cfile.functions["f"], (name,))[0])
    assert node is not None
    return node.id


def test_goto_and_labels_split_the_success_and_error_paths() -> None:
    cfile, cfg = graph()
    rets = {(r.text or b"").decode(): r.id for r in cfg.returns_from(cflow.ENTRY)}
    assert set(rets) == {"return 0;", "return -EINVAL;"}
    assert cfg.dominates(stmt(cfile, cfg, "mark"), rets["return 0;"])
    assert not cfg.dominates(stmt(cfile, cfg, "mark"), rets["return -EINVAL;"])
    assert rets["return -EINVAL;"] in cfg.reachable(cfg.labels["fail"])


def test_loop_body_does_not_dominate_the_code_after_a_break() -> None:
    cfile, cfg = graph()
    assert cfg.dominates(stmt(cfile, cfg, "step"), stmt(cfile, cfg, "mark"))  # do runs once
    loop = cflow.enclosing_loop(cfile.calls(cfile.functions["f"], ("step",))[0],
                                cfile.functions["f"])
    assert loop is not None and loop.type == "do_statement"
    exit_node = cfg.loop_exit(loop)
    assert exit_node == stmt(cfile, cfg, "mark")
    assert cfg.straight_to_return(exit_node) is not None


def test_error_and_zero_returns_are_told_apart() -> None:
    _, cfg = graph()
    rets = cfg.returns_from(cflow.ENTRY)
    assert [cflow.is_zero_return(r) for r in rets] == [True, False]
    assert [cflow.is_error_return(r) for r in rets] == [False, True]
