// SPDX-License-Identifier: GPL-2.0
/*
 * drainlab test fixture: alloc_contig_range_noprof() where a local flag,
 * set only for that purpose, decides whether to drain.
 */

int alloc_contig_range_noprof(unsigned long start, unsigned long end,
			      unsigned long flags, int gfp_mask)
{
	struct compact_control cc = { .zone = page_zone(pfn_to_page(start)) };
	const bool drain_pcp = !(gfp_mask & GFP_NO_PCP_DRAIN);
	int ret;

	ret = start_isolate_page_range(start, end, ISOLATE_MODE_CMA);
	if (ret)
		goto done;

	if (drain_pcp)
		drain_all_pages(cc.zone);

	ret = migrate_contig_range(&cc, start, end);
done:
	undo_isolate_page_range(start, end);
	return ret;
}
