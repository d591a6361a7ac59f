// SPDX-License-Identifier: GPL-2.0
/* drainlab test fixture: the call shapes of alloc_contig_range(), nothing else. */

void drain_all_pages(struct zone *zone)
{
	__drain_all_pages(zone, false);
}

int alloc_contig_range(unsigned long start, unsigned long end,
		       unsigned int mt, int gfp)
{
	struct compact_control cc = { .zone = page_zone(pfn_page(start, 1)) };
	int ret;

	ret = start_isolate_page_range(start, end, mt, 0, gfp);
	if (ret)
		goto done;

	drain_all_pages(cc.zone);

	ret = migrate_contig_range(&cc, start, end);
done:
	undo_isolate_page_range(start, end, mt);
	return ret;
}
