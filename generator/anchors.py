# SPDX-License-Identifier: GPL-2.0
"""Find where an insert step goes, by the role of the place, following control flow.

A role names what the place does, not where it is: "the success return
after the isolation loop" is the return that start_isolate_page_range()
reaches when its loop runs to completion, whether the function ends there
(v5.19+) or goes on with an `undo:` error path (v5.8 .. v5.18). A place
that has no such role in a tree is refused with one line naming the shape
and the function (UserError, exit 2).
"""

import re
from dataclasses import dataclass

from tree_sitter import Node

from generator import cflow, names
from generator.catalog import InsertStep, Site
from generator.cflow import Cfg
from generator.csource import CFile, callee, walk
from generator.errors import UserError


@dataclass(frozen=True)
class Anchor:
    function: Node
    stmt: Node        # the statement to insert before or after
    before: bool
    call: Node | None  # the call the role is defined by


def refuse(site: Site, function: str, problem: str) -> UserError:
    return UserError(f"site {site.id} ({site.title}): {function}() in {site.file} {problem}",
                     f"this tree cannot take site {site.id}; pick a variant without it")


def site_function(cfile: CFile, site: Site) -> tuple[str, Node]:
    for function in site.functions:
        if function in cfile.functions:
            return function, cfile.functions[function]
    raise UserError(f"{' or '.join(f + '()' for f in site.functions)} not found in {site.file}",
                    "pass a kernel tree with page isolation")


def anchor_calls(cfile: CFile, fnode: Node, step: InsertStep) -> list[Node]:
    """Calls to the first of step.calls the function makes (in a loop if in_loop)."""
    for name in step.calls:
        calls = cfile.calls(fnode, (name,))
        if step.in_loop:
            calls = [c for c in calls if cflow.enclosing_loop(c, fnode) is not None]
        if calls:
            return calls
    return []


def _in_condition(cfile: CFile, call: Node) -> bool:
    """A call in a loop's own condition has no statement to go after."""
    return cfile.statement_of(call).type in cflow.LOOPS


def success_return_after_call(cfg: Cfg, call: Node) -> list[Node]:
    node = cfg.node_of(call)
    if node is None:
        return []
    return [r for r in cfg.returns_from(node.id) if cflow.is_zero_return(r)]


_LOCK_RE = re.compile(r"(?:^|_)(un)?lock(?:_|$)")


def lock_held_at(cfile: CFile, fnode: Node, node: Node) -> str:
    """The spinlock still held where `node` is ("" if none): a drain sleeps.

    Scoped guards (`scoped_guard(...) { }`, `guard(...)(...)`) hold to the end
    of their block; otherwise the last lock/unlock call before `node` in
    source order decides (the page isolation code locks and unlocks zone->lock
    in straight lines).
    """
    current = node.parent
    while current is not None and current != fnode:
        if current.type == "compound_statement":
            prev = current.prev_named_sibling
            if prev is not None and (prev.text or b"").startswith(b"scoped_guard") \
                    and prev.type == "expression_statement":
                return (prev.text or b"").decode().split("\n")[0].strip()
            for stmt in current.named_children:
                if stmt.start_byte >= node.start_byte:
                    break
                if (stmt.text or b"").startswith(b"guard("):
                    return (stmt.text or b"").decode().split("\n")[0].strip()
        current = current.parent
    last = ""
    for call in cfile.calls(fnode, tuple({callee(c) for c in walk(fnode)
                                          if c.type == "call_expression"})):
        name = callee(call)
        if call.start_byte >= node.start_byte or "mutex" in name:
            continue
        m = _LOCK_RE.search(name)
        if m:
            last = "" if m.group(1) else name + "()"
    return last


def success_return_after_loop(cfg: Cfg, fnode: Node, call: Node) -> Node | None:
    loop = cflow.enclosing_loop(call, fnode)
    if loop is None:
        return None
    exit_node = cfg.loop_exit(loop)
    if exit_node is None:
        return None
    ret = cfg.straight_to_return(exit_node)
    return None if ret is None or cflow.is_error_return(ret) else ret


def find(cfile: CFile, site: Site, step: InsertStep) -> list[Anchor]:
    """Anchors of one insert step in a parsed file (not for before-function)."""
    name, fnode = site_function(cfile, site)
    calls = anchor_calls(cfile, fnode, step)
    for other in site.functions:  # 5.x: offline_pages() wraps __offline_pages()
        if not calls and other in cfile.functions:
            name, fnode = other, cfile.functions[other]
            calls = anchor_calls(cfile, fnode, step)
    if not calls:
        name, fnode = site_function(cfile, site)
        where = " inside a loop" if step.in_loop else ""
        raise refuse(site, name, f"has no call to {' or '.join(c + '()' for c in step.calls)}"
                     f"{where} to anchor on")
    cfg = cflow.build(fnode)
    if step.at == "before-success-return-after-call":
        rets = success_return_after_call(cfg, calls[0])
        if len(rets) != 1:
            raise refuse(site, name, f"has {'no' if not rets else len(rets)} `return 0` after "
                         f"{_name(calls[0])}(): no single success path to place it on")
        held = lock_held_at(cfile, fnode, rets[0])
        if held:
            raise refuse(site, name, f"returns 0 after {_name(calls[0])}() with a lock held "
                         f"({held}): a drain there would sleep under a spinlock")
        return [Anchor(fnode, rets[0], True, calls[0])]
    if step.at == "before-success-return-after-loop":
        ret = success_return_after_loop(cfg, fnode, calls[0])
        if ret is None:
            raise refuse(site, name, f"has no success return after the loop around "
                         f"{_name(calls[0])}()")
        return [Anchor(fnode, ret, True, calls[0])]
    anchors = []
    for call in calls if step.all else calls[:1]:
        if _in_condition(cfile, call):
            raise refuse(site, name, f"checks {_name(call)}() in a loop condition: no statement "
                         "to place it after")
        stmt = cfile.statement_of(call)
        if step.at == "after-call-checked":
            check = CFile.next_statement(stmt)
            if check is not None and check.type == "if_statement":
                stmt = check
        anchors.append(Anchor(fnode, stmt, step.at == "before-call", call))
    return anchors


def _name(call: Node) -> str:
    fn = call.child_by_field_name("function")
    return (fn.text or b"").decode() if fn is not None else "?"


_LEAD_RE = re.compile(r"^[A-Za-z_]\w*")


def bind_vars(site: Site, step: InsertStep, fnode: Node, function: str,
              offset: int) -> dict[str, str]:
    """Snippet variables -> the first candidate whose leading name is in scope at offset."""
    visible = names.in_scope(fnode, offset)
    bound = {}
    for var, candidates in step.vars:
        chosen = next((c for c in candidates
                       if (m := _LEAD_RE.match(c)) and m.group(0) in visible), None)
        if chosen is None:
            raise refuse(site, function, f"has none of {', '.join(candidates)} in scope "
                         f"for the snippet's {var}")
        bound[var] = chosen
    return bound
