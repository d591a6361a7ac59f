# SPDX-License-Identifier: GPL-2.0
"""Statement-level control flow of one C function, and dominance over it.

Enough C for the page isolation code a reviewer reads: blocks, if/else,
for/while/do loops, switch, break/continue, goto/labels, return. A node is
a statement (an `if` or a loop stands for its condition); ENTRY and EXIT
are pseudo nodes. Preprocessor blocks inside a function are read as plain
sequences (both arms of an #ifdef run one after the other: an
over-approximation that only adds paths).

Used to find anchors by their role ("the success return after the
isolation loop") and to check that an inserted call sits on the path it
was meant for (verify.py).
"""

from dataclasses import dataclass, field

from tree_sitter import Node

from generator.csource import CFile

ENTRY = -1
EXIT = -2
LOOPS = ("for_statement", "while_statement", "do_statement")
_SEQUENCES = ("compound_statement", "preproc_if", "preproc_ifdef", "preproc_else",
              "preproc_elif", "preproc_elifdef")
_SKIP = ("comment", "preproc_call", "preproc_def", "preproc_function_def", "preproc_include",
         "{", "}", "#if", "#ifdef", "#ifndef", "#else", "#endif", "#elif", "identifier",
         "preproc_defined", "binary_expression", "unary_expression", "parenthesized_expression",
         "number_literal", "call_expression", "\n")


@dataclass
class _Ctx:
    brk: int | None = None
    cont: int | None = None


@dataclass
class Cfg:
    """Successor edges between statement node ids (Node.id), with ENTRY/EXIT."""

    function: Node
    succ: dict[int, set[int]] = field(default_factory=dict)
    nodes: dict[int, Node] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)
    _dom: dict[int, set[int]] | None = None

    # -- building ---------------------------------------------------------

    def _node(self, stmt: Node, *targets: int | None) -> int:
        self.nodes[stmt.id] = stmt
        self.succ.setdefault(stmt.id, set()).update(t for t in targets if t is not None)
        return stmt.id

    def _seq(self, children: list[Node], nxt: int, ctx: _Ctx) -> int:
        entry = nxt
        for child in reversed(children):
            if child.type in _SKIP or not child.is_named:
                continue
            entry = self._stmt(child, entry, ctx)
        return entry

    def _stmt(self, stmt: Node, nxt: int, ctx: _Ctx) -> int:
        kind = stmt.type
        if kind in _SEQUENCES:
            return self._seq(list(stmt.children), nxt, ctx)
        if kind == "if_statement":
            cons = stmt.child_by_field_name("consequence")
            alt = stmt.child_by_field_name("alternative")
            then_entry = self._stmt(cons, nxt, ctx) if cons is not None else nxt
            else_entry = nxt
            if alt is not None:
                inner = alt.named_children[0] if alt.type == "else_clause" and alt.named_children else alt
                else_entry = self._stmt(inner, nxt, ctx)
            return self._node(stmt, then_entry, else_entry)
        if kind in ("for_statement", "while_statement"):
            head = self._node(stmt, nxt)
            body = stmt.child_by_field_name("body")
            if body is not None:
                self.succ[head].add(self._stmt(body, head, _Ctx(nxt, head)))
            return head
        if kind == "do_statement":
            head = self._node(stmt, nxt)
            body = stmt.child_by_field_name("body")
            entry = self._stmt(body, head, _Ctx(nxt, head)) if body is not None else head
            self.succ[head].add(entry)
            return entry
        if kind == "labeled_statement":
            label = stmt.child_by_field_name("label")
            if label is not None and label.text:
                self.labels[label.text.decode()] = stmt.id
            stmts_in = [c for c in stmt.named_children if c.type != "statement_identifier"]
            return self._node(stmt, self._seq(stmts_in, nxt, ctx))
        if kind == "switch_statement":
            head = self._node(stmt)
            body = stmt.child_by_field_name("body")
            cases = [c for c in (body.named_children if body is not None else [])
                     if c.type == "case_statement"]
            follow, has_default = nxt, False
            for case in reversed(cases):
                stmts = [c for c in case.named_children if c != case.child_by_field_name("value")]
                follow = self._node(case, self._seq(stmts, follow, _Ctx(nxt, ctx.cont)))
                self.succ[head].add(follow)
                has_default |= case.child_by_field_name("value") is None
            if not has_default:
                self.succ[head].add(nxt)
            return head
        if kind == "return_statement":
            return self._node(stmt, EXIT)
        if kind == "break_statement":
            return self._node(stmt, ctx.brk if ctx.brk is not None else nxt)
        if kind == "continue_statement":
            return self._node(stmt, ctx.cont if ctx.cont is not None else nxt)
        if kind == "goto_statement":
            self._node(stmt)
            self._gotos.append(stmt)
            return stmt.id
        return self._node(stmt, nxt)

    # -- queries ------------------------------------------------------------

    def preds(self) -> dict[int, set[int]]:
        out: dict[int, set[int]] = {n: set() for n in self.succ}
        out.setdefault(EXIT, set())
        for n, targets in self.succ.items():
            for t in targets:
                out.setdefault(t, set()).add(n)
        return out

    def reachable(self, start: int, stop: set[int] | None = None) -> set[int]:
        """Nodes reachable from start (start included); do not walk past `stop`."""
        seen, todo = {start}, [start]
        while todo:
            n = todo.pop()
            if stop and n in stop and n != start:
                continue
            for t in self.succ.get(n, ()):
                if t not in seen:
                    seen.add(t)
                    todo.append(t)
        return seen

    def dominators(self) -> dict[int, set[int]]:
        if self._dom is not None:
            return self._dom
        live = self.reachable(ENTRY)
        preds = self.preds()
        dom = {n: set(live) for n in live}
        dom[ENTRY] = {ENTRY}
        changed = True
        while changed:
            changed = False
            for n in live:
                if n == ENTRY:
                    continue
                ps = [dom[p] for p in preds.get(n, ()) if p in live]
                new = set.intersection(*ps) | {n} if ps else {n}
                if new != dom[n]:
                    dom[n], changed = new, True
        self._dom = dom
        return dom

    def dominates(self, a: int, b: int) -> bool:
        """Every path from the function entry to b passes through a."""
        return a in self.dominators().get(b, set())

    def is_live(self, n: int) -> bool:
        return n in self.dominators()

    def node_of(self, node: Node) -> Node | None:
        """The statement node that holds `node` (an `if` for its condition)."""
        current: Node | None = node
        while current is not None and current.id not in self.nodes:
            current = current.parent
        return current

    def returns_from(self, start: int) -> list[Node]:
        """Return statements reachable from start, in source order."""
        found = [self.nodes[n] for n in self.reachable(start)
                 if n in self.nodes and self.nodes[n].type == "return_statement"]
        return sorted(found, key=lambda r: r.start_byte)

    def loop_exit(self, loop: Node) -> int | None:
        """The node a loop goes to when its condition fails (not by break/goto)."""
        inside = {n for n, node in self.nodes.items()
                  if loop.start_byte <= node.start_byte and node.end_byte <= loop.end_byte}
        outside = [t for t in self.succ.get(loop.id, ()) if t not in inside]
        return outside[0] if len(outside) == 1 else None

    def straight_to_return(self, start: int) -> Node | None:
        """Follow single-successor statements from start to a return; None on a branch."""
        n, seen = start, set()
        while n not in seen and n in self.nodes:
            seen.add(n)
            node = self.nodes[n]
            if node.type == "return_statement":
                return node
            targets = self.succ.get(n, set())
            if len(targets) != 1:
                return None
            n = next(iter(targets))
        return None

    def exit_avoiding(self, start: int, through: set[int]) -> bool:
        """Can the function return from start without passing through `through`?"""
        return EXIT in self.reachable(start, stop=through)

    _gotos: list[Node] = field(default_factory=list)


def build(function: Node) -> Cfg:
    """The control flow graph of a function_definition node."""
    cfg = Cfg(function)
    body = function.child_by_field_name("body")
    cfg.succ[ENTRY] = set()
    cfg.succ[EXIT] = set()
    entry = cfg._stmt(body, EXIT, _Ctx()) if body is not None else EXIT
    cfg.succ[ENTRY].add(entry)
    for goto in cfg._gotos:
        label = goto.child_by_field_name("label")
        name = label.text.decode() if label is not None and label.text else ""
        cfg.succ[goto.id].add(cfg.labels.get(name, EXIT))
    return cfg


def enclosing_loop(node: Node, stop: Node) -> Node | None:
    """The innermost loop statement around node, below stop."""
    return CFile.enclosing_loop(node, stop)


def is_error_return(ret: Node) -> bool:
    """`return -EXXX;` (a negative errno constant): the error path, by the kernel's convention."""
    values = [c for c in ret.named_children if c.type != "comment"]
    if not values:
        return False
    value = values[0]
    while value.type == "parenthesized_expression" and value.named_children:
        value = value.named_children[0]
    text = (value.text or b"").decode().replace(" ", "")
    return value.type == "unary_expression" and text.startswith("-E")


def is_zero_return(ret: Node) -> bool:
    values = [c for c in ret.named_children if c.type != "comment"]
    return bool(values) and (values[0].text or b"").strip() == b"0"
