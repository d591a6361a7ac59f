# SPDX-License-Identifier: GPL-2.0
"""Which names a place in a C file can use.

Three layers, innermost first: the function's parameters and the locals
declared before that place in an enclosing block; the file's own
definitions, prototypes, macros and enum constants above the function; and
what the tree's headers declare (include/linux, include/asm-generic,
mm/internal.h), found with `git grep` at the base commit. Text matching on
headers is heuristic (no preprocessor), so it errs on the side of
"declared": a declaration starts a line, a use inside an inline function
is indented.
"""

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import git
from tree_sitter import Node

from generator.csource import CFile, function_name, walk

HEADER_PATHS = ("include/linux", "include/asm-generic", "include/uapi/asm-generic", "mm/internal.h")
_DECLARATOR_WRAPPERS = ("pointer_declarator", "array_declarator", "function_declarator",
                        "init_declarator", "parenthesized_declarator", "attributed_declarator")
_DECLARATIONS = ("declaration", "parameter_declaration", "field_declaration")


def declarator_name(decl: Node | None) -> str | None:
    """The identifier a declarator declares (through pointers, arrays, initialisers)."""
    while decl is not None:
        if decl.type == "identifier":
            return (decl.text or b"").decode()
        if decl.type not in _DECLARATOR_WRAPPERS:
            return None
        decl = decl.child_by_field_name("declarator")
    return None


def declared_by(declaration: Node) -> list[str]:
    """Names a declaration (or parameter) declares."""
    names = []
    for i in range(declaration.child_count):
        if declaration.field_name_for_child(i) == "declarator":
            name = declarator_name(declaration.children[i])
            if name:
                names.append(name)
    return names


def _field_of(node: Node) -> str | None:
    parent = node.parent
    if parent is None:
        return None
    for i in range(parent.child_count):
        if parent.children[i] == node:
            return parent.field_name_for_child(i)
    return None


def is_declarator(ident: Node) -> bool:
    """True for the name being declared, not for a use."""
    node = ident
    while node.parent is not None and node.parent.type in _DECLARATOR_WRAPPERS:
        if _field_of(node) != "declarator":
            return False
        node = node.parent
    parent = node.parent
    return parent is not None and parent.type in _DECLARATIONS + ("function_definition",) \
        and _field_of(node) == "declarator"


def uses(scope: Node) -> Iterator[Node]:
    """Identifier nodes that read a name (not declarators, not called function names)."""
    for node in walk(scope):
        if node.type != "identifier" or is_declarator(node):
            continue
        parent = node.parent
        if parent is not None and parent.type == "call_expression" and \
                parent.child_by_field_name("function") == node:
            continue
        yield node


def parameters(function: Node) -> list[str]:
    decl = function.child_by_field_name("declarator")
    while decl is not None and decl.type != "function_declarator":
        decl = decl.child_by_field_name("declarator")
    params = decl.child_by_field_name("parameters") if decl is not None else None
    if params is None:
        return []
    return [n for p in params.named_children if p.type == "parameter_declaration"
            for n in declared_by(p)]


def _declarations_in(children: list[Node], before: int) -> list[str]:
    names: list[str] = []
    for child in children:
        if child.start_byte >= before:
            break
        if child.type == "declaration":
            names += declared_by(child)
        elif child.type.startswith("preproc_"):
            names += _declarations_in(list(child.named_children), before)
    return names


def in_scope(function: Node, at: Node | int) -> set[str]:
    """Parameters and locals visible at a node (or byte offset) inside function."""
    offset = at if isinstance(at, int) else at.start_byte
    names = set(parameters(function))
    node: Node | None = function.child_by_field_name("body")
    # Descend from the body to the innermost block holding the offset.
    while node is not None:
        if node.type == "compound_statement":
            names.update(_declarations_in(list(node.named_children), offset))
        elif node.type == "for_statement":
            init = node.child_by_field_name("initializer")
            if init is not None and init.type == "declaration" and init.end_byte <= offset:
                names.update(declared_by(init))
        inner = [c for c in node.named_children if c.start_byte <= offset < c.end_byte or
                 (c.start_byte <= offset <= c.end_byte and c.type == "compound_statement")]
        node = inner[0] if inner else None
    return names


def _top_level(node: Node) -> bool:
    parent = node.parent
    while parent is not None and parent.type.startswith("preproc_"):
        parent = parent.parent
    return parent is not None and parent.type == "translation_unit"


def file_names(cfile: CFile, before: int) -> set[str]:
    """Names the file defines or declares above `before` (functions, globals, macros, enums)."""
    names: set[str] = set()
    for node in walk(cfile.root):
        if node.start_byte >= before:
            continue
        if node.type == "function_definition" and _top_level(node):
            name = function_name(node)
            if name:
                names.add(name)
        elif node.type == "declaration" and _top_level(node):
            names.update(declared_by(node))
        elif node.type in ("preproc_def", "preproc_function_def", "enumerator"):
            name_node = node.child_by_field_name("name")
            if name_node is not None and name_node.text:
                names.add(name_node.text.decode())
    return names


def _declaration_patterns(name: str) -> list[re.Pattern[str]]:
    n = re.escape(name)
    return [
        re.compile(rf"^\s*#\s*define\s+{n}\b"),
        re.compile(rf"^(?:extern\s+)?[A-Za-z_][\w\s\*]*?[\s\*]{n}\s*\("),  # prototype, unindented
        re.compile(rf"^{n}\s*\("),                                          # type on the line above
        re.compile(rf"^\s*extern\b.*\b{n}\b"),
        re.compile(rf"^[A-Za-z_][\w\s\*]*?[\s\*]{n}\s*(?:;|=|\[)"),         # global variable
        re.compile(rf"^\s+{n}\s*(?:=[^=].*)?,?\s*(?:/\*.*)?$"),             # enum constant
        re.compile(rf"^(?:DECLARE|DEFINE)_[A-Z_]+\(\s*{n}\b"),
    ]


def looks_declared(name: str, lines: list[str]) -> bool:
    patterns = _declaration_patterns(name)
    return any(p.search(line) for line in lines for p in patterns)


@dataclass
class TreeDecls:
    """What a tree's headers declare, at one commit; lookups are cached."""

    grep: Callable[[str], list[str]]  # name -> header lines that mention it as a word
    _cache: dict[str, bool] = field(default_factory=dict)

    def declares(self, name: str) -> bool:
        if name not in self._cache:
            self._cache[name] = looks_declared(name, self.grep(name))
        return self._cache[name]


def git_tree_decls(repo: git.Repo, base: str) -> TreeDecls:
    def grep(name: str) -> list[str]:
        try:
            # Options over config: color.ui, grep.lineNumber, grep.column,
            # grep.patternType or submodule.recurse must not change the lines.
            out = repo.git.execute(["git", "grep", "--no-color", "--no-line-number", "--no-column",
                                    "--basic-regexp", "--no-recurse-submodules", "-h", "-w", "-I",
                                    "-e", name, base, "--", *HEADER_PATHS],
                                   strip_newline_in_stdout=False)
        except git.GitCommandError:
            return []  # exit 1: no match
        return str(out).splitlines()
    return TreeDecls(grep)


def resolvable(name: str, function: Node, at: Node, cfile: CFile, decls: TreeDecls) -> bool:
    """Is `name` usable at `at`: a local/parameter, a file-level name above the function,
    or declared by the tree's headers?"""
    return name in in_scope(function, at) or name in file_names(cfile, function.start_byte) \
        or decls.declares(name)
