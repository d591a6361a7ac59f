// SPDX-License-Identifier: GPL-2.0
/*
 * drainlab test fixture: a vendor tree's alloc_contig_range_noprof(), where
 * a vendor hook decides whether to drain.
 */

int alloc_contig_range_noprof(unsigned long start, unsigned long end,
			      unsigned long flags, int gfp_mask)
{
	struct compact_control cc = { .zone = page_zone(pfn_to_page(start)) };
	bool skip_drain = false;
	int ret;

	ret = start_isolate_page_range(start, end, ISOLATE_MODE_CMA);
	if (ret)
		goto done;

	vendor_hook_drain_bypass(cc.zone, &skip_drain);
	if (!skip_drain)
		drain_all_pages(cc.zone);

	ret = migrate_contig_range(&cc, start, end);
done:
	undo_isolate_page_range(start, end);
	return ret;
}
