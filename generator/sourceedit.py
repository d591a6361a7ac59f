# SPDX-License-Identifier: GPL-2.0
"""Compute and apply the source edits that add or remove one site in one file.

Edits are line-based byte splices located with tree-sitter: a removed
statement takes its own comment and one now-redundant blank line with it; an
inserted snippet (a template) takes the indentation of its anchor. Each file
is re-parsed after every site so offsets never go stale, and an edit that
adds a parse error is refused.
"""

from dataclasses import dataclass

from tree_sitter import Node

from generator import render
from generator.catalog import Catalog, InsertStep, Site
from generator.csource import CFile, callee
from generator.errors import UserError
from generator.placement import classify, find_calls


@dataclass(frozen=True)
class Splice:
    start: int
    end: int
    text: bytes


def _apply(src: bytes, splices: list[Splice]) -> bytes:
    # Back to front, so earlier offsets stay valid; identical splices once.
    for s in sorted(set(splices), key=lambda s: (s.start, s.end), reverse=True):
        src = src[:s.start] + s.text + src[s.end:]
    return src


def _line_text(cfile: CFile, offset: int) -> bytes:
    return cfile.src[cfile.line_start(offset):cfile.line_end(offset)]


def _removal(cfile: CFile, node: Node) -> Splice:
    """Whole lines of `node` and its own comment, minus one doubled blank line."""
    first = cfile.leading_comment(node) or node
    start, end = cfile.line_start(first.start_byte), cfile.line_end(node.end_byte)
    prev = _line_text(cfile, start - 1) if start > 0 else b"{"
    after = _line_text(cfile, end) if end < len(cfile.src) else b"}"
    if not prev.strip() and (not after.strip() or after.strip().startswith(b"}")):
        start = cfile.line_start(start - 1)
    elif prev.rstrip().endswith(b"{") and not after.strip() and end < len(cfile.src):
        end = cfile.line_end(end)
    return Splice(start, end, b"")


def remove_site(catalog: Catalog, site: Site, cfile: CFile) -> bytes:
    all_functions = {f for s in catalog.sites.values() for f in s.functions}
    splices, helpers = [], set()
    for function in site.functions:
        for found in find_calls(cfile, function, site.calls, all_functions):
            if classify(catalog, site.file, found, callee(found.call)) != site.id:
                continue
            splices.append(_removal(cfile, found.statement))
            if found.via:
                helpers.add(found.via)
    src = _apply(cfile.src, splices)
    return _remove_unused_helpers(cfile.path, src, helpers)


def _remove_unused_helpers(path: str, src: bytes, helpers: set[str]) -> bytes:
    for helper in sorted(helpers):
        cfile = CFile(path, src)
        node = cfile.functions.get(helper)
        if node is None or cfile.calls(cfile.root, (helper,)):
            continue
        splice = _removal(cfile, node)
        end = splice.end
        if end < len(src) and not _line_text(cfile, end).strip():
            end = cfile.line_end(end)  # the blank line that separated it
        src = _apply(src, [Splice(splice.start, end, b"")])
    return src


# -- insertion -------------------------------------------------------------

def _snippet(step: InsertStep, indent: bytes) -> bytes:
    text = render.render(step.template, **dict(step.vars)).encode()
    lines = [indent + line if line.strip() else line for line in text.splitlines(keepends=True)]
    body = b"".join(lines)
    return (b"\n" if step.blank_before else b"") + body


def _anchor_calls(cfile: CFile, site: Site, step: InsertStep) -> tuple[Node, list[Node]]:
    for function in site.functions:
        fnode = cfile.functions.get(function)
        if fnode is None:
            continue
        for name in step.calls:
            calls = cfile.calls(fnode, (name,))
            if calls:
                return fnode, calls if step.all else calls[:1]
    raise UserError(
        f"anchor {' or '.join(c + '()' for c in step.calls)} not found in "
        f"{' or '.join(f + '()' for f in site.functions)} ({site.file})",
        f"this tree cannot take site {site.id}; pick a variant without it",
    )


def _site_function(cfile: CFile, site: Site) -> Node:
    for function in site.functions:
        if function in cfile.functions:
            return cfile.functions[function]
    raise UserError(f"{' or '.join(site.functions)}() not found in {site.file}",
                    "pass a kernel tree with page isolation")


def _insertions(cfile: CFile, site: Site, step: InsertStep) -> list[Splice]:
    if step.at == "before-function":
        fnode = cfile.functions.get(step.function)
        if fnode is None:
            raise UserError(f"{step.function}() not found in {site.file}",
                            f"this tree cannot take site {site.id}")
        at = cfile.line_start((cfile.leading_comment(fnode) or fnode).start_byte)
        return [Splice(at, at, _snippet(step, b""))]
    if step.at == "before-final-return":
        body = CFile.body(_site_function(cfile, site))
        stmts = [c for c in body.named_children if c.type != "comment"]
        if not stmts or stmts[-1].type != "return_statement":
            raise UserError(f"{site.functions[0]}() ({site.file}) does not end in a return",
                            f"this tree cannot take site {site.id}")
        at = cfile.line_start(stmts[-1].start_byte)
        return [Splice(at, at, _snippet(step, cfile.indent_of(stmts[-1])))]
    fnode, calls = _anchor_calls(cfile, site, step)
    splices = []
    for call in calls:
        stmt = cfile.statement_of(call)
        if step.at == "after-call-checked":
            check = CFile.next_statement(stmt)
            if check is not None and check.type == "if_statement":
                stmt = check
        if step.at == "before-return-in-block-of-call":
            stmt = _return_after(stmt, site)
        if step.at in ("before-call", "before-return-in-block-of-call"):
            at = cfile.line_start((cfile.leading_comment(stmt) or stmt).start_byte)
        else:
            at = cfile.line_end(stmt.end_byte)
        splices.append(Splice(at, at, _snippet(step, cfile.indent_of(stmt))))
    return splices


def _return_after(stmt: Node, site: Site) -> Node:
    node = stmt.next_named_sibling
    while node is not None and node.type != "return_statement":
        node = node.next_named_sibling
    if node is None:
        raise UserError(f"no return after the anchor in {site.functions[0]}() ({site.file})",
                        f"this tree cannot take site {site.id}")
    return node


def insert_site(site: Site, cfile: CFile) -> bytes:
    src = cfile.src
    for step in site.insert:
        current = CFile(cfile.path, src)
        src = _apply(src, _insertions(current, site, step))
    return src


def edit_file(catalog: Catalog, path: str, src: bytes,
              remove: list[str], add: list[str]) -> bytes:
    """Remove then add sites in one file, refusing edits that break the parse."""
    errors_before = CFile(path, src).error_count()
    for sid in remove:
        src = remove_site(catalog, catalog.sites[sid], CFile(path, src))
    for sid in add:
        src = insert_site(catalog.sites[sid], CFile(path, src))
    errors_after = CFile(path, src).error_count()
    if errors_after > errors_before:
        raise UserError(
            f"editing {path} (remove {remove}, add {add}) added {errors_after - errors_before} "
            "parse error(s)",
            "check the site's snippet templates",
        )
    return src
