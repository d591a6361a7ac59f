// SPDX-License-Identifier: GPL-2.0
/*
 * drainlab test fixture, written for the tests: the control flow of page
 * isolation as 5.8 and 5.9 shaped it, nothing else.
 */

static int set_migratetype_isolate(struct page *page, int migratetype, int isol_flags)
{
	struct zone *zone = page_zone(page);
	struct page *blocker;
	unsigned long flags;
	int ret = -EBUSY;

	lock_zone(zone, &flags);
	if (is_isolated(page))
		goto out;

	blocker = find_blocker(zone, page, isol_flags);
	if (!blocker) {
		set_pageblock_migratetype(page, MIGRATE_ISOLATE);
		count_isolated(zone);
		ret = 0;
	}

out:
	unlock_zone(zone, flags);
	if (!ret) {
		drain_all_pages(zone);
	} else {
		warn_if_movable(zone);
		if ((isol_flags & REPORT_FAILURE) && blocker)
			report_blocker(blocker);
	}

	return ret;
}

/* Isolate [start_pfn, end_pfn), or nothing. */
int start_isolate_page_range(unsigned long start_pfn, unsigned long end_pfn,
			     unsigned migratetype, int flags)
{
	unsigned long pfn;
	unsigned long undo_pfn;
	struct page *page;
	int nr_isolated = 0;

	for (pfn = start_pfn; pfn < end_pfn; pfn += pageblock_nr_pages) {
		page = __first_valid_page(pfn, pageblock_nr_pages);
		if (page) {
			if (set_migratetype_isolate(page, migratetype, flags)) {
				undo_pfn = pfn;
				goto undo;
			}
			nr_isolated++;
		}
	}
	return nr_isolated;
undo:
	for (pfn = start_pfn; pfn < undo_pfn; pfn += pageblock_nr_pages)
		unisolate_block(pfn, migratetype);

	return -EBUSY;
}
