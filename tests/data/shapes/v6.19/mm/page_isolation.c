// SPDX-License-Identifier: GPL-2.0
/*
 * drainlab test fixture, written for the tests: page isolation as 6.16+
 * shaped it (an isolation mode, the free-page move inside a condition).
 */

static int set_migratetype_isolate(struct page *page, enum isolate_mode mode,
				   unsigned long start_pfn, unsigned long end_pfn)
{
	struct zone *zone = page_zone(page);
	struct page *blocker;
	unsigned long flags;

	lock_zone(zone, &flags);
	if (is_isolated(page)) {
		unlock_zone(zone, flags);
		return -EBUSY;
	}

	blocker = find_blocker(zone, start_pfn, end_pfn, mode);
	if (!blocker) {
		if (!pageblock_isolate_and_move_free_pages(zone, page)) {
			unlock_zone(zone, flags);
			return -EBUSY;
		}
		count_isolated(zone);
		unlock_zone(zone, flags);
		return 0;
	}

	unlock_zone(zone, flags);
	if (mode == ISOLATE_MODE_OFFLINE)
		report_blocker(blocker);

	return -EBUSY;
}

/* Isolate [start_pfn, end_pfn), which need not be pageblock aligned. */
int start_isolate_page_range(unsigned long start_pfn, unsigned long end_pfn,
			     enum isolate_mode mode)
{
	unsigned long isolate_start = block_align_down(start_pfn);
	unsigned long isolate_end = block_align_up(end_pfn);
	unsigned long pfn;
	struct page *page;

	for (pfn = isolate_start; pfn < isolate_end; pfn += pageblock_nr_pages) {
		page = __first_valid_page(pfn, pageblock_nr_pages);
		if (page && set_migratetype_isolate(page, mode, start_pfn, end_pfn)) {
			undo_isolate_page_range(isolate_start, pfn);
			return -EBUSY;
		}
	}
	return 0;
}
