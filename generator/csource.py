# SPDX-License-Identifier: GPL-2.0
"""C source queries with tree-sitter: functions, calls, their statements, loops.

tree-sitter-c is not a preprocessor: kernel macros leave ERROR nodes here
and there, but function definitions (even inside #ifdef blocks, hence the
recursive walk) and the call statements we move are found reliably. Every
edit we make is re-parsed and checked for new ERROR nodes, and proven by a
real build in the tests.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import tree_sitter_c
from tree_sitter import Language, Node, Parser, Tree

_LANGUAGE = Language(tree_sitter_c.language())
LOOP_TYPES = {"for_statement", "while_statement", "do_statement"}
_STATEMENT_PARENTS = {"compound_statement", "if_statement", "labeled_statement", "translation_unit"}


def _parser() -> Parser:
    return Parser(_LANGUAGE)


@lru_cache(maxsize=16)
def _parse(src: bytes) -> Tree:
    # An edit re-reads the same text several times (edit, tidy, verify): parse once.
    return _parser().parse(src)


@lru_cache(maxsize=16)
def _error_count(src: bytes) -> int:
    root = _parse(src).root_node
    if not root.has_error:
        return 0
    return sum(1 for n in walk(root) if n.type == "ERROR" or n.is_missing)


def walk(node: Node) -> Iterator[Node]:
    """Pre-order walk without recursion (kernel files nest deeply)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children))


def function_name(definition: Node) -> str | None:
    """Name declared by a function_definition, through pointer/attribute wrappers."""
    decl = definition.child_by_field_name("declarator")
    while decl is not None:
        if decl.type == "identifier":
            return decl.text.decode() if decl.text else None
        if decl.type == "function_declarator" and decl.child_by_field_name("parameters") is None:
            return None
        inner = decl.child_by_field_name("declarator")
        if inner is None and decl.named_children:
            inner = decl.named_children[0]
        decl = inner
    return None


def _sole_consequence(node: Node, child: Node) -> bool:
    return node.type == "if_statement" and node.child_by_field_name("alternative") is None \
        and node.child_by_field_name("consequence") == child


def callee(call: Node) -> str:
    fn = call.child_by_field_name("function")
    return fn.text.decode() if fn is not None and fn.type == "identifier" and fn.text else ""


@dataclass
class CFile:
    """One parsed C file. Byte offsets index `src`; lines are 1-based."""

    path: str
    src: bytes
    _tree: Tree = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._tree = _parse(self.src)

    @property
    def root(self) -> Node:
        return self._tree.root_node

    @cached_property
    def functions(self) -> dict[str, Node]:
        found: dict[str, Node] = {}
        stack = [self.root]
        while stack:  # definitions are never inside a function body: skip bodies
            node = stack.pop()
            if node.type == "function_definition":
                name = function_name(node)
                if name and name not in found:
                    found[name] = node
                continue
            stack.extend(reversed(node.children))
        return found

    def error_count(self) -> int:
        return _error_count(self.src)

    def calls(self, scope: Node, names: set[str] | tuple[str, ...]) -> list[Node]:
        wanted = set(names)
        return [n for n in walk(scope) if n.type == "call_expression" and callee(n) in wanted]

    def static_helpers_called(self, function: Node) -> list[tuple[str, Node]]:
        """(helper name, call node) for calls to functions defined in this file."""
        defined = self.functions
        return [(callee(n), n) for n in walk(function)
                if n.type == "call_expression" and callee(n) in defined]

    # -- statements ---------------------------------------------------------

    @staticmethod
    def statement_of(call: Node) -> Node:
        """The statement to add or remove for a call.

        Climbs to the statement directly inside a block (or under a label,
        which stays). A call that is the whole body of an `if` without
        `else`, braced or not, takes the `if` with it:
        `if (ret) drain_all_pages(zone);` is one site, not half of one.
        """
        node = call
        while node.parent is not None and node.parent.type not in _STATEMENT_PARENTS:
            node = node.parent
        while node.parent is not None:
            parent = node.parent
            if parent.type == "compound_statement":
                owner = parent.parent
                alone = [c for c in parent.named_children if c.type != "comment"] == [node]
                if alone and owner is not None and _sole_consequence(owner, parent):
                    node = owner
                    continue
            elif parent.type == "if_statement" and _sole_consequence(parent, node):
                node = parent
                continue
            elif parent.type == "if_statement":
                node = parent  # the call sits in the condition
                continue
            return node
        return node

    @staticmethod
    def enclosing_loop(node: Node, stop: Node) -> Node | None:
        """The innermost loop statement around node, below stop (None: not in one)."""
        current = node.parent
        while current is not None and current != stop:
            if current.type in LOOP_TYPES:
                return current
            current = current.parent
        return None

    @staticmethod
    def in_loop(node: Node, stop: Node) -> bool:
        return CFile.enclosing_loop(node, stop) is not None

    @staticmethod
    def next_statement(stmt: Node) -> Node | None:
        sibling = stmt.next_named_sibling
        while sibling is not None and sibling.type == "comment":
            sibling = sibling.next_named_sibling
        return sibling

    @staticmethod
    def body(function: Node) -> Node:
        body = function.child_by_field_name("body")
        assert body is not None
        return body

    # -- lines --------------------------------------------------------------

    def line_of(self, node: Node) -> int:
        return node.start_point[0] + 1

    def line_start(self, offset: int) -> int:
        return self.src.rfind(b"\n", 0, offset) + 1

    def line_end(self, offset: int) -> int:
        """Offset just past the newline of the line holding `offset`."""
        end = self.src.find(b"\n", offset)
        return len(self.src) if end < 0 else end + 1

    def indent_of(self, node: Node) -> bytes:
        start = self.line_start(node.start_byte)
        text = self.src[start:node.start_byte]
        return text if not text.strip() else b""

    def leading_comment(self, node: Node) -> Node | None:
        """A comment ending on the line just above `node`: it belongs to it."""
        prev = node.prev_sibling
        if prev is not None and prev.type == "comment" and \
                prev.end_point[0] == node.start_point[0] - 1:
            return prev
        return None
