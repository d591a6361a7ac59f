// SPDX-License-Identifier: GPL-2.0
/*
 * drainlab test fixture, written for the tests: page isolation as 5.10
 * shaped it (early success return, error path after the loop).
 */

static int set_migratetype_isolate(struct page *page, int migratetype, int isol_flags)
{
	struct zone *zone = page_zone(page);
	unsigned long flags;

	lock_zone(zone, &flags);
	if (is_isolated(page) || find_blocker(zone, page, isol_flags)) {
		unlock_zone(zone, flags);
		return -EBUSY;
	}

	set_pageblock_migratetype(page, MIGRATE_ISOLATE);
	count_isolated(zone);
	unlock_zone(zone, flags);
	drain_all_pages(zone);
	return 0;
}

/* Isolate [start_pfn, end_pfn), or nothing. */
int start_isolate_page_range(unsigned long start_pfn, unsigned long end_pfn,
			     unsigned migratetype, int flags)
{
	unsigned long pfn;
	struct page *page;

	for (pfn = start_pfn; pfn < end_pfn; pfn += pageblock_nr_pages) {
		page = __first_valid_page(pfn, pageblock_nr_pages);
		if (page && set_migratetype_isolate(page, migratetype, flags))
			goto undo;
	}
	return 0;
undo:
	for (end_pfn = pfn, pfn = start_pfn; pfn < end_pfn; pfn += pageblock_nr_pages)
		unisolate_block(pfn, migratetype);

	return -EBUSY;
}
