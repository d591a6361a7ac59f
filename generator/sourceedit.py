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

from generator import anchors, names, render
from generator.catalog import Catalog, InsertStep, Site
from generator.csource import CFile, callee, walk
from generator.errors import UserError
from generator.names import TreeDecls
from generator.placement import Found, classify, find_calls


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
    """The file without the site's calls, and without what existed only for them.

    One call at a time, re-parsing in between: a removal may rewrite the
    statement around it (an `if` whose only branch statement it was).
    Afterwards labels and guards left with nothing to do are tidied or
    refused (_tidy_function).
    """
    all_functions = {f for s in catalog.sites.values() for f in s.functions}
    helpers: set[str] = set()
    src, original = cfile.src, cfile
    touched: set[str] = set()
    for _ in range(64):  # a site has a handful of calls; bound the loop anyway
        current = CFile(cfile.path, src)
        target = next(((function, found) for function in site.functions
                       for found in find_calls(current, function, site.calls, all_functions)
                       if classify(catalog, site.file, found, callee(found.call)) == site.id),
                      None)
        if target is None:
            break
        function, found = target
        touched.add(function)
        if found.via:
            _require_drain_only_helper(current, site, function, found)
            helpers.add(found.via)
        src = _apply(src, _removal_edits(current, site, function, found.statement))
    for function in sorted(touched):
        src = _tidy_function(site, function, original, src)
    return _remove_unused_helpers(cfile.path, src, helpers)


def _require_drain_only_helper(cfile: CFile, site: Site, function: str, found: Found) -> None:
    """A drain reached through a helper is removed by removing the call to the
    helper, which is right only when the helper exists for the drain: static,
    called once, its result unused. Anything else (an exported worker whose
    result the caller needs, as 7.x's alloc_contig_frozen_range_noprof()) would
    lose its other work: refuse with the reason instead of a wrong patch.
    """
    helper = cfile.functions[found.via]
    is_static = any(c.type == "storage_class_specifier" and c.text == b"static"
                    for c in helper.children)
    callers = len(cfile.calls(cfile.root, (found.via,)))
    stmt = found.statement
    bare = stmt.type == "expression_statement" and bool(stmt.named_children) and \
        stmt.named_children[0].type == "call_expression" and \
        callee(stmt.named_children[0]) == found.via
    why = ("is not static" if not is_static else
           f"has {callers} callers in {site.file}" if callers != 1 else
           "returns a result its caller uses" if not bare else "")
    if why:
        raise UserError(
            f"site {site.id}: the drain of {function}() ({site.file}) sits in {found.via}(), "
            f"which {why}; removing the call to {found.via}() would drop its other work",
            "remove that drain by hand, or pick a variant that keeps it")


def _negated(condition: Node) -> str:
    """The C text of !(condition) without double negation: `(!ret)` -> `ret`."""
    inner = condition.named_children[0] if condition.type == "parenthesized_expression" \
        and condition.named_children else condition
    text = (inner.text or b"").decode()
    if inner.type == "unary_expression" and text.startswith("!"):
        operand = inner.child_by_field_name("argument")
        if operand is not None:
            body = (operand.text or b"").decode()
            return body[1:-1] if operand.type == "parenthesized_expression" else body
    if inner.type == "binary_expression":
        op = inner.child_by_field_name("operator")
        flipped = {"==": "!=", "!=": "=="}.get((op.text or b"").decode() if op else "")
        if flipped and op is not None:
            return text[:op.start_byte - inner.start_byte] + flipped + \
                text[op.end_byte - inner.start_byte:]
    if inner.type in ("identifier", "field_expression", "call_expression"):
        return "!" + text
    return f"!({text})"


def _only_statement(block: Node, stmt: Node) -> bool:
    return block.type == "compound_statement" and \
        [c for c in block.named_children if c.type != "comment"] == [stmt]


def _removal_edits(cfile: CFile, site: Site, function: str, stmt: Node) -> list[Splice]:
    """Splices removing one site statement without leaving an empty branch."""
    if stmt.type == "if_statement":
        cond = stmt.child_by_field_name("condition")
        if cond is not None and any(n.type == "call_expression" for n in walk(cond)):
            raise UserError(
                f"site {site.id}: the drain in {function}() ({site.file}) is guarded by a "
                f"condition that calls a function ({(cond.text or b'').decode()}); removing it "
                "would drop that call",
                "remove that drain by hand, or pick a variant that keeps it")
    block = stmt.parent
    owner = block.parent if block is not None else None
    if block is not None and owner is not None and _only_statement(block, stmt):
        if owner.type == "if_statement" and owner.child_by_field_name("consequence") == block:
            alt = owner.child_by_field_name("alternative")
            inner = alt.named_children[0] if alt is not None and alt.named_children else None
            cond = owner.child_by_field_name("condition")
            if inner is None or cond is None or inner.type == "if_statement":
                raise anchors.refuse(site, function, "keeps the drain as the only statement "
                                     "of an if/else-if chain; cannot remove it cleanly")
            # `if (!ret) { drain } else { X }` -> `if (ret) { X }`
            text = f"if ({_negated(cond)}) " + (inner.text or b"").decode()
            return [Splice(owner.start_byte, owner.end_byte, text.encode())]
        if owner.type == "else_clause":
            consequence = owner.parent.child_by_field_name("consequence") \
                if owner.parent is not None else None
            if consequence is not None:
                return [Splice(consequence.end_byte, owner.end_byte, b"")]
    return [_removal(cfile, stmt)] + _borrowed_comment(cfile, site, stmt)


def _topic(site: Site) -> str:
    """The word a comment about this site's calls uses: drain, pcp."""
    parts = [p for p in site.calls[0].split("_") if p and p != "zone"]
    return parts[0] if parts else site.calls[0]


def _borrowed_comment(cfile: CFile, site: Site, stmt: Node) -> list[Splice]:
    """A comment about the removed call that sits on the statement just before it.

    5.10 explains its retry drain above `ret = test_pages_isolated(...)`,
    the line before `if (ret) drain_all_pages(zone);`: with the drain gone
    that comment describes nothing, so it goes too.
    """
    if cfile.leading_comment(stmt) is not None:
        return []
    prev = stmt.prev_named_sibling
    if prev is None or prev.type == "comment" or prev.end_point[0] != stmt.start_point[0] - 1:
        return []
    comment = cfile.leading_comment(prev)
    topic = _topic(site)
    if comment is None or topic not in (comment.text or b"").decode().lower() or \
            topic in (prev.text or b"").decode().lower():
        return []
    return [Splice(cfile.line_start(comment.start_byte), cfile.line_end(comment.end_byte), b"")]


def _tidy_function(site: Site, function: str, before: CFile, src: bytes) -> bytes:
    """Labels and guards that only served the removed calls go too, or the edit is refused."""
    for _ in range(16):
        after = CFile(before.path, src)
        fnode = after.functions.get(function)
        old = before.functions.get(function)
        if fnode is None or old is None:
            return src
        edits = _stacked_label(after, fnode, old) or _orphan_guard(site, function, after,
                                                                   fnode, old)
        if not edits:
            return src
        src = _apply(src, edits)
    return src


def labels_of(fnode: Node) -> dict[str, Node]:
    out = {}
    for node in walk(fnode):
        if node.type == "labeled_statement":
            label = node.child_by_field_name("label")
            if label is not None and label.text:
                out[label.text.decode()] = node
    return out


def gotos_to(fnode: Node, label: str) -> list[Node]:
    out = []
    for node in walk(fnode):
        if node.type == "goto_statement":
            target = node.child_by_field_name("label")
            if target is not None and (target.text or b"").decode() == label:
                out.append(node)
    return out


def _label_body(labeled: Node) -> Node | None:
    inner = [c for c in labeled.named_children if c.type not in ("statement_identifier", "comment")]
    return inner[0] if inner else None


def _stacked_label(after: CFile, fnode: Node, old: Node) -> list[Splice]:
    """`a: b: stmt` where a had its own statements before: jump to b, drop a."""
    old_labels = labels_of(old)
    for name, node in labels_of(fnode).items():
        body = _label_body(node)
        was = _label_body(old_labels[name]) if name in old_labels else None
        if body is None or body.type != "labeled_statement":
            continue
        if was is not None and was.type == "labeled_statement":
            continue  # stacked before the edit: not ours to tidy
        target = (body.child_by_field_name("label").text or b"").decode()  # type: ignore[union-attr]
        edits = [Splice(g.start_byte, g.end_byte, f"goto {target};".encode())
                 for g in gotos_to(fnode, name)]
        start = after.line_start(node.start_byte)
        edits.append(Splice(start, after.line_start(body.start_byte), b""))
        return edits
    return []


def condition_names(fnode: Node) -> dict[str, int]:
    """How often each identifier is read in a branch or loop condition."""
    counts: dict[str, int] = {}
    for node in walk(fnode):
        if node.type in ("if_statement", "while_statement", "do_statement", "for_statement",
                         "conditional_expression"):
            cond = node.child_by_field_name("condition")
            for ident in (n for n in walk(cond) if n.type == "identifier") if cond else ():
                key = (ident.text or b"").decode()
                counts[key] = counts.get(key, 0) + 1
    return counts


def orphan_guards(fnode: Node, old: Node) -> list[str]:
    """Locals that decided a branch before the edit and decide nothing now, yet remain."""
    locals_now = names.in_scope(fnode, fnode.end_byte - 1) - set(names.parameters(fnode))
    deciding_before, deciding_now = condition_names(old), condition_names(fnode)
    return sorted(n for n in deciding_before if n not in deciding_now and n in locals_now
                  and any((u.text or b"").decode() == n for u in walk(fnode)
                          if u.type == "identifier"))


def _orphan_guard(site: Site, function: str, after: CFile, fnode: Node,
                  old: Node) -> list[Splice]:
    for name in orphan_guards(fnode, old):
        occurrences = [u for u in walk(fnode) if u.type == "identifier"
                       and (u.text or b"").decode() == name]
        decls = [d for d in walk(fnode) if d.type == "declaration" and name in names.declared_by(d)]
        others = [u for u in occurrences if not any(d.start_byte <= u.start_byte < d.end_byte
                                                    for d in decls)]
        simple = len(decls) == 1 and names.declared_by(decls[0]) == [name] and \
            not any(n.type == "call_expression" for n in walk(decls[0]))
        if others or not simple:
            setter = others[0] if others else decls[0]
            line = (after.src[after.line_start(setter.start_byte):
                              after.line_end(setter.start_byte)].decode().strip())
            raise anchors.refuse(site, function, f"decides whether to drain with `{name}` "
                                 f"(`{line}`); removing the drain leaves that guard deciding "
                                 "nothing")
        return [_removal(after, decls[0])]
    return []


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

def _snippet(text: str, blank_before: bool, indent: bytes) -> bytes:
    lines = [indent + line if line.strip() else line
             for line in text.encode().splitlines(keepends=True)]
    return (b"\n" if blank_before else b"") + b"".join(lines)


def snippet_calls(text: str, file_level: bool) -> list[str]:
    """Functions a snippet calls (and, at file level, the ones it defines first)."""
    wrapped = text if file_level else "void drainlab_snippet(void)\n{\n" + text + "\n}\n"
    parsed = CFile("<snippet>", wrapped.encode())
    defined = set(parsed.functions)
    return [c for c in dict.fromkeys(callee(n) for n in walk(parsed.root)
                                     if n.type == "call_expression")
            if c and c not in defined]


def _require_declared(site: Site, cfile: CFile, fnode: Node, text: str, file_level: bool,
                      decls: TreeDecls) -> None:
    visible = names.file_names(cfile, fnode.start_byte)
    for name in snippet_calls(text, file_level):
        if name not in visible and not decls.declares(name):
            raise UserError(
                f"site {site.id} ({site.title}) calls {name}(), which this tree does not "
                f"declare (include/linux, mm/internal.h, {site.file})",
                f"this tree cannot take site {site.id}; pick a variant without it")


def _insertions(cfile: CFile, site: Site, step: InsertStep, decls: TreeDecls) -> list[Splice]:
    if step.at == "before-function":
        fnode = cfile.functions.get(step.function)
        if fnode is None:
            raise UserError(f"{step.function}() not found in {site.file}",
                            f"this tree cannot take site {site.id}")
        text = render.render(step.template)
        _require_declared(site, cfile, fnode, text, True, decls)
        at = cfile.line_start((cfile.leading_comment(fnode) or fnode).start_byte)
        return [Splice(at, at, _snippet(text, step.blank_before, b""))]
    splices = []
    function, fnode = anchors.site_function(cfile, site)
    # A call this tree cannot make is the truest reason to refuse: say it first.
    sample = render.render(step.template, **{v: c[0] for v, c in step.vars})
    _require_declared(site, cfile, fnode, sample, False, decls)
    for anchor in anchors.find(cfile, site, step):
        stmt = anchor.stmt
        if anchor.before:
            at = cfile.line_start((cfile.leading_comment(stmt) or stmt).start_byte)
        else:
            at = cfile.line_end(stmt.end_byte)
        bound = anchors.bind_vars(site, step, anchor.function, function, at)
        text = render.render(step.template, **bound)
        _require_declared(site, cfile, anchor.function, text, False, decls)
        splices.append(Splice(at, at, _snippet(text, step.blank_before, cfile.indent_of(stmt))))
    return splices


def insert_site(site: Site, cfile: CFile, decls: TreeDecls) -> bytes:
    src = cfile.src
    for step in site.insert:
        current = CFile(cfile.path, src)
        src = _apply(src, _insertions(current, site, step, decls))
    return src


def edit_file(catalog: Catalog, path: str, src: bytes,
              remove: list[str], add: list[str], decls: TreeDecls) -> bytes:
    """Remove then add sites in one file, refusing edits that break the parse."""
    errors_before = CFile(path, src).error_count()
    for sid in remove:
        src = remove_site(catalog, catalog.sites[sid], CFile(path, src))
    for sid in add:
        src = insert_site(catalog.sites[sid], CFile(path, src), decls)
    errors_after = CFile(path, src).error_count()
    if errors_after > errors_before:
        raise UserError(
            f"editing {path} (remove {remove}, add {add}) added {errors_after - errors_before} "
            "parse error(s)",
            "check the site's snippet templates",
        )
    return src
