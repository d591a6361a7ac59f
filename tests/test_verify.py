# SPDX-License-Identifier: GPL-2.0
"""The verifier sees what a reviewer sees: each check fails on an edit that is wrong
in that one way, and passes the right edit."""

import re
from pathlib import Path

import pytest

from generator.catalog import load_catalog
from generator.errors import UserError
from generator.names import TreeDecls
from generator.verify import verify_file

SHAPES = Path(__file__).parent / "data" / "shapes"
ISOLATION = "mm/page_isolation.c"
HOTPLUG = "mm/memory_hotplug.c"
ALLOC = "mm/page_alloc.c"


def decls(*layers: str) -> TreeDecls:
    """What the fixture tree's headers declare (the last layer wins per file)."""
    headers: dict[str, str] = {}
    for layer in ("v5.8", *layers):
        for path in (SHAPES / layer).rglob("*.h"):
            headers[str(path.relative_to(SHAPES / layer))] = path.read_text()
    text = "\n".join(headers.values()).splitlines()
    return TreeDecls(lambda name: [line for line in text if re.search(rf"\b{name}\b", line)])


def source(layer: str, path: str) -> str:
    own = SHAPES / layer / path
    return (own if own.exists() else SHAPES / "v5.8" / path).read_text()


def check(path: str, old: str, new: str, added: list[str], layers: tuple[str, ...] = ()) -> None:
    verify_file(load_catalog(), path, old.encode(), new.encode(), added, decls(*layers))


def refused(path: str, old: str, new: str, added: list[str], *needles: str,
            layers: tuple[str, ...] = ()) -> None:
    with pytest.raises(UserError) as err:
        check(path, old, new, added, layers)
    line = err.value.line()
    assert "\n" not in line and "drainlab bug" not in line
    for needle in needles:
        assert needle in line, line


OLD_ISOLATION = source("v5.8", ISOLATION)
SUCCESS = "\treturn nr_isolated;\n"
FAILURE = "\treturn -EBUSY;\n}"


def test_a_range_drain_before_the_success_return_passes() -> None:
    new = OLD_ISOLATION.replace(SUCCESS, "\tdrain_all_pages(page_zone(pfn_to_page(start_pfn)));\n"
                                + SUCCESS)
    check(ISOLATION, OLD_ISOLATION, new, ["S2"])


def test_a_range_drain_on_the_error_path_is_caught() -> None:
    """What "before-final-return" did on 5.8: the drain ran only when isolation failed."""
    new = OLD_ISOLATION.replace(FAILURE, "\tdrain_all_pages(page_zone(pfn_to_page(start_pfn)));\n"
                                + FAILURE)
    refused(ISOLATION, OLD_ISOLATION, new, ["S2"], "start_isolate_page_range()",
            "does not dominate the success return")


def test_a_name_this_function_does_not_have_is_caught() -> None:
    new = OLD_ISOLATION.replace(SUCCESS, "\tdrain_all_pages(page_zone(pfn_to_page(isolate_start)));\n"
                                + SUCCESS)
    refused(ISOLATION, OLD_ISOLATION, new, ["S2"], "uses `isolate_start`, which is not in scope")


def test_a_call_the_tree_does_not_declare_is_caught() -> None:
    old = source("v5.8-lru", HOTPLUG)
    new = old.replace("\tlru_cache_disable();\n", "\tzone_pcp_disable(zone);\n\tlru_cache_disable();\n")
    new = new.replace("\tlru_cache_enable();\n", "\tlru_cache_enable();\n\tzone_pcp_enable(zone);\n")
    refused(HOTPLUG, old, new, ["P"], "calls zone_pcp_disable(), which this tree does not declare",
            layers=("v5.8-lru",))
    check(HOTPLUG, old, new, ["P"], layers=("v5.8-lru", "v5.11"))  # declared there


def test_a_disable_with_a_return_that_skips_the_enable_is_caught() -> None:
    old = source("v5.8-lru", HOTPLUG)
    new = old.replace("\tlru_cache_disable();\n", "\tzone_pcp_disable(zone);\n\tlru_cache_disable();\n")
    new = new.replace("\tlru_cache_enable();\n\treturn 0;", "\tlru_cache_enable();\n"
                      "\tzone_pcp_enable(zone);\n\treturn 0;")
    refused(HOTPLUG, old, new, ["P"], "a path returns without undoing zone_pcp_disable()",
            layers=("v5.8-lru", "v5.11"))


def test_an_empty_branch_is_caught() -> None:
    new = OLD_ISOLATION.replace("\t\tdrain_all_pages(zone);\n", "")
    refused(ISOLATION, OLD_ISOLATION, new, [], "set_migratetype_isolate()", "empty branch")


def test_a_label_nothing_jumps_to_is_caught() -> None:
    new = OLD_ISOLATION.replace("\t\t\t\tgoto undo;\n", "\t\t\t\treturn -EBUSY;\n")
    refused(ISOLATION, OLD_ISOLATION, new, [], "label undo: has no goto")


def test_a_label_that_only_falls_through_is_caught() -> None:
    old = source("v5.11", HOTPLUG)
    new = old.replace("failed_removal_pcplists_disabled:\n\tzone_pcp_enable(zone);\n",
                      "failed_removal_pcplists_disabled:\n")
    refused(HOTPLUG, old, new, [], "only falls through to the next label", layers=("v5.11",))


def test_a_guard_left_deciding_nothing_is_caught() -> None:
    old = source("flag-guard", ALLOC)
    new = old.replace("\tif (drain_pcp)\n\t\tdrain_all_pages(cc.zone);\n\n", "")
    refused(ALLOC, old, new, [], "`drain_pcp` guarding nothing", layers=("v6.19",))


def test_a_retry_drain_outside_the_retry_loop_is_caught() -> None:
    old = source("v5.8", HOTPLUG)
    hole_check = "\t\t\t\t    count_ram_cb);\n"
    new = old.replace(hole_check, hole_check + "\tif (ret)\n\t\tdrain_all_pages(zone);\n")
    refused(HOTPLUG, old, new, ["S4"], "__offline_pages()", "S4")


def test_a_new_parse_error_is_caught() -> None:
    new = OLD_ISOLATION.replace(SUCCESS, "\tdrain_all_pages(zone;\n" + SUCCESS)
    refused(ISOLATION, OLD_ISOLATION, new, [], "parse error")
