// SPDX-License-Identifier: GPL-2.0
/*
 * drainlab test fixture: the 7.x split of alloc_contig_range_noprof() into a
 * thin wrapper and an exported "frozen" worker that isolates and drains.
 * Another file (cma) calls the worker directly.
 */

int alloc_contig_frozen_range_noprof(unsigned long start, unsigned long end,
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

int alloc_contig_range_noprof(unsigned long start, unsigned long end,
			      unsigned long flags, int gfp_mask)
{
	int ret;

	if (WARN_ON(flags & FROZEN_ONLY))
		return -EINVAL;

	ret = alloc_contig_frozen_range_noprof(start, end, flags, gfp_mask);
	if (!ret)
		mark_range_refcounted(start, end);
	return ret;
}
