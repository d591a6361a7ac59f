// SPDX-License-Identifier: GPL-2.0
/* drainlab test fixture: alloc_contig_range_noprof() as 6.x shaped it, nothing else. */

int alloc_contig_range_noprof(unsigned long start, unsigned long end,
			      unsigned long flags, int gfp_mask)
{
	struct compact_control cc = { .zone = page_zone(pfn_to_page(start)) };
	int ret;

	ret = start_isolate_page_range(start, end, ISOLATE_MODE_CMA);
	if (ret)
		goto done;

	drain_all_pages(cc.zone);

	ret = migrate_contig_range(&cc, start, end);
done:
	undo_isolate_page_range(start, end);
	return ret;
}
