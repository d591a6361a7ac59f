# SPDX-License-Identifier: GPL-2.0
"""Check edited files the way a kernel reviewer reads them, before anything is written.

Between the edits (sourceedit.py) and the commits (series.py). For every
function an edit touched:
- each added site's calls are on the path they were meant for (a drain
  that must run on every successful isolation dominates the success
  return; a retry drain sits in the retry loop after the check; every
  path out of zone_pcp_disable() passes a zone_pcp_enable()), using the
  control flow graph of cflow.py;
- every name the new code reads is in scope, every function it calls is
  declared by the tree (headers, or the file above the function);
- no branch was left empty, no label without a jump (or stacked on
  another), no guard left deciding nothing;
- the file has no new parse errors.
A failure is one line naming the shape and the function (UserError, exit 2).
"""

from dataclasses import dataclass

from tree_sitter import Node

from generator import anchors, cflow, names, render
from generator.catalog import Catalog, InsertStep, Site
from generator.csource import CFile, callee, walk
from generator.errors import UserError
from generator.names import TreeDecls
from generator.placement import Found, classify, find_calls
from generator.sourceedit import gotos_to, labels_of, orphan_guards, snippet_calls


@dataclass(frozen=True)
class Problem:
    function: str
    what: str

    def line(self, path: str) -> str:
        return f"{self.function}() in {path}: {self.what}"


def _fail(path: str, problem: Problem) -> UserError:
    return UserError(f"verifier: {problem.line(path)}",
                     "this tree's shape is not one drainlab can patch safely; "
                     "pick another variant or patch it by hand")


# -- per function ------------------------------------------------------------

def _callees(fnode: Node) -> set[str]:
    return {callee(n) for n in walk(fnode) if n.type == "call_expression"} - {""}


def _empty_branches(fnode: Node) -> int:
    count = 0
    for node in walk(fnode):
        if node.type == "if_statement":
            branches = [node.child_by_field_name("consequence")]
            alt = node.child_by_field_name("alternative")
            if alt is not None and alt.named_children:
                branches.append(alt.named_children[0])
            count += sum(1 for b in branches if b is not None and b.type == "compound_statement"
                         and not [c for c in b.named_children if c.type != "comment"])
    return count


def _label_trouble(fnode: Node) -> set[str]:
    """Labels nothing jumps to, and labels stacked right on another label."""
    out = set()
    for name, node in labels_of(fnode).items():
        body = [c for c in node.named_children if c.type not in ("statement_identifier", "comment")]
        if not gotos_to(fnode, name):
            out.add(f"label {name}: has no goto")
        elif body and body[0].type == "labeled_statement":
            out.add(f"label {name}: only falls through to the next label")
    return out


def check_function(cfile: CFile, name: str, old: Node | None, decls: TreeDecls) -> list[Problem]:
    fnode = cfile.functions[name]
    problems = []
    old_callees = _callees(old) if old is not None else set()
    visible = names.file_names(cfile, fnode.start_byte)
    for fn in sorted(_callees(fnode) - old_callees):
        if fn not in visible and not decls.declares(fn):
            problems.append(Problem(name, f"calls {fn}(), which this tree does not declare"))
    old_names = {(u.text or b"").decode() for u in names.uses(old)} if old is not None else set()
    for use in names.uses(fnode):
        ident = (use.text or b"").decode()
        if ident in old_names:
            continue
        if not names.resolvable(ident, fnode, use, cfile, decls):
            problems.append(Problem(name, f"uses `{ident}`, which is not in scope there "
                                    f"(line {cfile.line_of(use)})"))
            old_names.add(ident)  # once per name
    if old is not None and _empty_branches(fnode) > _empty_branches(old):
        problems.append(Problem(name, "an edit left an empty branch"))
    for trouble in sorted(_label_trouble(fnode) - (_label_trouble(old) if old is not None else set())):
        problems.append(Problem(name, f"an edit left {trouble}"))
    if old is not None:
        for guard in orphan_guards(fnode, old):
            problems.append(Problem(name, f"an edit left `{guard}` guarding nothing"))
    return problems


# -- roles of added sites ---------------------------------------------------------

def _step_callees(step: InsertStep) -> set[str]:
    sample = {var: candidates[0] for var, candidates in step.vars}
    text = render.render(step.template, **sample)
    defines = step.at == "before-function"
    return set(snippet_calls(text, defines)) if not defines else set()


def _role_problems(cfile: CFile, site: Site, step: InsertStep, function: str, fnode: Node,
                   placed: list[Found]) -> list[str]:
    wanted = _step_callees(step)
    stmts = [f.statement for f in placed if callee(f.call) in wanted or f.via in wanted]
    if not stmts:
        return [f"site {site.id}: no call of {', '.join(sorted(wanted))} was placed"]
    cfg = cflow.build(fnode)
    calls = anchors.anchor_calls(cfile, fnode, step)
    if not calls:
        return [f"site {site.id}: its anchor {'/'.join(step.calls)}() is gone"]
    anchor = cfg.node_of(calls[0])
    # (statement, its control flow node): a statement the graph does not hold is skipped.
    pairs = [(s, cf.id) for s in stmts if (cf := cfg.node_of(s)) is not None]
    nodes = [n for _, n in pairs]
    out = []
    if any(not cfg.is_live(n) for n in nodes):
        out.append(f"site {site.id}: a placed call is unreachable")
    if step.at == "before-success-return-after-call":
        rets = anchors.success_return_after_call(cfg, calls[0])
        if len(rets) != 1 or not any(cfg.dominates(n, rets[0].id) for n in nodes):
            out.append(f"site {site.id}: the drain does not run on every success path "
                       f"after {step.calls[0]}()")
        for s in stmts:
            held = anchors.lock_held_at(cfile, fnode, s)
            if held:
                out.append(f"site {site.id}: the drain runs with a lock held ({held})")
    elif step.at == "before-success-return-after-loop":
        ret = anchors.success_return_after_loop(cfg, fnode, calls[0])
        if ret is None or not any(cfg.dominates(n, ret.id) for n in nodes):
            out.append(f"site {site.id}: the drain does not dominate the success return after "
                       "the isolation loop (it would run on the error path only, or not always)")
        if any(cflow.enclosing_loop(s, fnode) is not None for s in stmts):
            out.append(f"site {site.id}: the once-per-range drain sits inside a loop")
    elif step.at == "after-call-checked" and anchor is not None:
        check = CFile.next_statement(cfile.statement_of(calls[0]))
        for s, n in pairs:
            if not cfg.dominates(anchor.id, n):
                out.append(f"site {site.id}: the drain does not come after "
                           f"{step.calls[0]}() on every path")
            if check is not None and check.type == "if_statement" and \
                    check.start_byte <= s.start_byte < check.end_byte:
                out.append(f"site {site.id}: the drain sits in the failure check of "
                           f"{step.calls[0]}()")
    elif step.at == "after-call" and anchor is not None:
        loop = cflow.enclosing_loop(calls[0], fnode) if step.in_loop else None
        for s, n in pairs:
            if not cfg.dominates(anchor.id, n) and not step.all:
                out.append(f"site {site.id}: the call does not follow {step.calls[0]}()")
            if loop is not None and not (loop.start_byte <= s.start_byte < loop.end_byte):
                out.append(f"site {site.id}: the drain is not inside the retry loop around "
                           f"{step.calls[0]}()")
    elif step.at == "before-call" and anchor is not None:
        if not any(cfg.dominates(n, anchor.id) for n in nodes):
            out.append(f"site {site.id}: the call does not come before {step.calls[0]}()")
        enables = {f.statement for f in placed} - set(stmts)
        through = {e.id for e in (cfg.node_of(x) for x in enables) if e is not None}
        if through and any(cfg.exit_avoiding(n, through) for n in nodes):
            out.append(f"site {site.id}: a path returns without undoing "
                       f"{', '.join(sorted(wanted))}()")
    return out


def _function_with_anchor(cfile: CFile, site: Site, step: InsertStep) -> tuple[str, Node]:
    for name in site.functions:
        fnode = cfile.functions.get(name)
        if fnode is not None and anchors.anchor_calls(cfile, fnode, step):
            return name, fnode
    return anchors.site_function(cfile, site)


def check_sites(catalog: Catalog, cfile: CFile, added: list[str]) -> list[Problem]:
    all_functions = {f for s in catalog.sites.values() for f in s.functions}
    problems = []
    for sid in added:
        site = catalog.sites[sid]
        for step in site.insert:
            if step.at == "before-function":
                continue
            function, fnode = _function_with_anchor(cfile, site, step)
            placed = [f for f in find_calls(cfile, function, site.calls, all_functions)
                      if classify(catalog, site.file, f, callee(f.call)) == sid]
            problems += [Problem(function, w) for w in
                         _role_problems(cfile, site, step, function, fnode, placed)]
    return problems


# -- whole file ----------------------------------------------------------------------

def verify_file(catalog: Catalog, path: str, old_src: bytes, new_src: bytes,
                added: list[str], decls: TreeDecls) -> None:
    """Raise UserError (one line) on the first problem of an edited file."""
    old, new = CFile(path, old_src), CFile(path, new_src)
    if new.error_count() > old.error_count():
        raise _fail(path, Problem("(file)", f"{new.error_count() - old.error_count()} new "
                                  "parse error(s)"))
    for name, fnode in new.functions.items():
        before = old.functions.get(name)
        if before is not None and before.text == fnode.text:
            continue
        for problem in check_function(new, name, before, decls):
            raise _fail(path, problem)
    for problem in check_sites(catalog, new, [s for s in added
                                              if catalog.sites[s].file == path]):
        raise _fail(path, problem)
