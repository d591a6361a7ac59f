// SPDX-License-Identifier: GPL-2.0
/* drainlab test fixture: the call shapes of page isolation, nothing else. */

static struct page *__first_valid_page(unsigned long pfn, unsigned long nr)
{
	return pfn_page(pfn, nr);
}

static int set_migratetype_isolate(struct page *page, int mt, int flags,
				   unsigned long start_pfn, unsigned long end_pfn)
{
	struct zone *zone = page_zone(page);

	lock_zone(zone);
	if (!find_unmovable(page)) {
		set_pageblock_migratetype(page, ISOLATE);
		unlock_zone(zone);
		return 0;
	}
	unlock_zone(zone);
	return -EBUSY;
}

/* Isolate every pageblock in [start_pfn, end_pfn). */
int start_isolate_page_range(unsigned long start_pfn, unsigned long end_pfn,
			     int mt, int flags, int gfp)
{
	unsigned long isolate_start = start_pfn;
	unsigned long isolate_end = end_pfn;
	unsigned long pfn;
	struct page *page;

	for (pfn = isolate_start; pfn < isolate_end; pfn += BLOCK) {
		page = __first_valid_page(pfn, BLOCK);
		if (page && set_migratetype_isolate(page, mt, flags, start_pfn,
						    end_pfn))
			return -EBUSY;
	}
	return 0;
}
