// SPDX-License-Identifier: GPL-2.0
/*
 * drainlab test fixture, written for the tests: set_migratetype_isolate()
 * holding the zone lock with a scoped guard, so its `return 0` is inside
 * the locked section (the shape of the newest mainline).
 */

static int set_migratetype_isolate(struct page *page, enum isolate_mode mode,
				   unsigned long start_pfn, unsigned long end_pfn)
{
	struct zone *zone = page_zone(page);
	struct page *blocker;

	scoped_guard(spinlock_irqsave, &zone->lock) {
		if (is_isolated(page))
			return -EBUSY;
		blocker = find_blocker(zone, start_pfn, end_pfn, mode);
		if (!blocker) {
			if (!pageblock_isolate_and_move_free_pages(zone, page))
				return -EBUSY;
			count_isolated(zone);
			return 0;
		}
	}
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
