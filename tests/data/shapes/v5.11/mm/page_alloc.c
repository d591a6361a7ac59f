// SPDX-License-Identifier: GPL-2.0
/* drainlab test fixture: alloc_contig_range() as 5.11 shaped it, nothing else. */

int alloc_contig_range(unsigned long start, unsigned long end,
		       unsigned migratetype, int gfp_mask)
{
	struct compact_control cc = { .zone = page_zone(pfn_to_page(start)) };
	int ret;

	ret = start_isolate_page_range(align_down(start), align_up(end), migratetype, 0);
	if (ret)
		return ret;

	drain_all_pages(cc.zone);

	ret = migrate_contig_range(&cc, start, end);
	undo_isolate_page_range(align_down(start), align_up(end), migratetype);
	return ret;
}
