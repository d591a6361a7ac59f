// SPDX-License-Identifier: GPL-2.0
/*
 * drainlab test fixture: a vendor-style split where the drain sits in a
 * worker that alloc_contig_range_noprof() calls for its result, so the
 * worker does much more than drain.
 */

int contig_isolate_and_migrate(unsigned long start, unsigned long end,
			       struct compact_control *cc)
{
	int ret;

	ret = start_isolate_page_range(start, end, ISOLATE_MODE_CMA);
	if (ret)
		return ret;

	drain_all_pages(cc->zone);

	return migrate_contig_range(cc, start, end);
}

int alloc_contig_range_noprof(unsigned long start, unsigned long end,
			      unsigned long flags, int gfp_mask)
{
	struct compact_control cc = { .zone = page_zone(pfn_to_page(start)) };
	int ret;

	ret = contig_isolate_and_migrate(start, end, &cc);
	undo_isolate_page_range(start, end);
	return ret;
}
