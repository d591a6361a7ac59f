# SPDX-License-Identifier: GPL-2.0
"""Read where a tree drains the pcplists during page isolation (`gen inspect`).

The placement of a tree is the set of catalog sites its code occupies. A
call inside a static helper counts at the helper's call site, so a drain
moved into `drain_range_zones()` still reads as "in start_isolate_page_range()".
"""

from dataclasses import dataclass

from tree_sitter import Node

from generator.catalog import Catalog, Site
from generator import csource
from generator.csource import CFile
from generator.errors import UserError

# Calls `gen inspect` lists. Only drain_all_pages and zone_pcp_* make up sites;
# the LRU drains are shown because they sit beside them and matter to review.
TRACKED_CALLS = (
    "drain_all_pages",
    "__drain_all_pages",
    "zone_pcp_disable",
    "zone_pcp_enable",
    "lru_add_drain_all",
    "lru_cache_disable",
)


@dataclass(frozen=True)
class CallRecord:
    callee: str
    function: str
    via: str  # static helper the call sits in, or ""
    file: str
    line: int
    in_loop: bool
    site: str  # catalog site id, or "" for a call that is context only


@dataclass(frozen=True)
class Placement:
    records: tuple[CallRecord, ...]
    sites: frozenset[str]

    def matching_variants(self, catalog: Catalog) -> list[str]:
        return [v.name for v in catalog.variants.values() if v.sites == self.sites]


@dataclass(frozen=True)
class Found:
    """One tracked call with the nodes an edit needs (valid for one parse)."""

    call: Node
    statement: Node  # in the site function: the call's statement, or the helper call's
    function: str
    via: str
    in_loop: bool


def site_functions(catalog: Catalog, file: str) -> list[str]:
    names: list[str] = []
    for site in catalog.sites.values():
        if site.file == file:
            names += [f for f in site.functions if f not in names]
    return names


def find_calls(cfile: CFile, function: str, callees: tuple[str, ...],
               not_helpers: set[str]) -> list[Found]:
    """Calls to `callees` in `function`, and one level into its static helpers."""
    fnode = cfile.functions.get(function)
    if fnode is None:
        return []
    found = [Found(c, cfile.statement_of(c), function, "", cfile.in_loop(c, fnode))
             for c in cfile.calls(fnode, callees)]
    for helper, helper_call in cfile.static_helpers_called(fnode):
        if helper in not_helpers or helper in callees:
            continue
        hnode = cfile.functions[helper]
        outer_loop = cfile.in_loop(helper_call, fnode)
        for c in cfile.calls(hnode, callees):
            found.append(Found(c, cfile.statement_of(helper_call), function, helper,
                               outer_loop or cfile.in_loop(c, hnode)))
    return found


def site_matches(site: Site, found: Found, callee: str) -> bool:
    if found.function not in site.functions or callee not in site.calls:
        return False
    return site.loop == "any" or (site.loop == "yes") == found.in_loop


def classify(catalog: Catalog, file: str, found: Found, callee: str) -> str:
    for site in catalog.sites.values():
        if site.file == file and site_matches(site, found, callee):
            return site.id
    return ""


def require_functions(catalog: Catalog, files: dict[str, CFile]) -> None:
    """Every site needs one of its functions in the tree: else name what is missing."""
    for site in catalog.sites.values():
        cfile = files.get(site.file)
        if cfile is None:
            raise UserError(f"{site.file} not found in the tree",
                            "pass a kernel tree with page isolation (mm/page_isolation.c)")
        if not any(f in cfile.functions for f in site.functions):
            raise UserError(
                f"{' or '.join(f + '()' for f in site.functions)} not found in {site.file}",
                "this tree's page isolation code has another shape; pass a tree >= v5.8",
            )


def read_placement(catalog: Catalog, files: dict[str, CFile]) -> Placement:
    require_functions(catalog, files)
    records: list[CallRecord] = []
    all_site_functions = {f for s in catalog.sites.values() for f in s.functions}
    for path in sorted(files):
        cfile = files[path]
        for function in site_functions(catalog, path):
            for found in find_calls(cfile, function, TRACKED_CALLS, all_site_functions):
                name = csource.callee(found.call)
                records.append(CallRecord(
                    name, function, found.via, path, cfile.line_of(found.call),
                    found.in_loop, classify(catalog, path, found, name)))
    records.sort(key=lambda r: (r.file, r.line))
    return Placement(tuple(records), frozenset(r.site for r in records if r.site))
