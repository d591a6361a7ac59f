# SPDX-License-Identifier: GPL-2.0
"""Names in scope at a place in a function, and declarations in a tree's headers."""

from generator import names
from generator.csource import CFile

SRC = b"""
#define LIMIT 4
static int helper(int x);

int f(unsigned long start_pfn, int n)
{
	unsigned long isolate_start = start_pfn;
	int i;

	for (int j = 0; j < n; j++) {
		int inner = j;
		use(inner);
	}
	return helper(i);
}
"""


def test_parameters_and_locals_in_scope() -> None:
    cfile = CFile("f.c", SRC)
    f = cfile.functions["f"]
    inside_loop = cfile.calls(f, ("use",))[0]
    at_return = cfile.calls(f, ("helper",))[0]
    assert {"start_pfn", "n", "isolate_start", "i", "j", "inner"} <= names.in_scope(f, inside_loop)
    assert "inner" not in names.in_scope(f, at_return) and "j" not in names.in_scope(f, at_return)
    assert {"LIMIT", "helper"} <= names.file_names(cfile, f.start_byte)


def test_header_declarations_not_mere_mentions() -> None:
    header = [
        "void zone_pcp_disable(struct zone *zone);",
        "#define pageblock_nr_pages 512",
        "\tdrain_all_pages(zone);  /* a call inside an inline helper */",
        " * lru_cache_disable() is mentioned in a comment",
    ]
    assert names.looks_declared("zone_pcp_disable", header)
    assert names.looks_declared("pageblock_nr_pages", header)
    assert not names.looks_declared("drain_all_pages", header)
    assert not names.looks_declared("lru_cache_disable", header)
