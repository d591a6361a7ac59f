// SPDX-License-Identifier: GPL-2.0
/* drainlab test fixture: __offline_pages() as 5.9 shaped it, nothing else. */

static int __offline_pages(unsigned long start_pfn, unsigned long end_pfn)
{
	unsigned long pfn, present = 0;
	struct zone *zone;
	int ret;

	/* the range must not have holes */
	ret = walk_system_ram_range(start_pfn, end_pfn - start_pfn, &present,
				    count_ram_cb);
	if (ret || present != end_pfn - start_pfn) {
		ret = -EINVAL;
		goto failed_removal;
	}

	zone = zone_of_range(start_pfn, end_pfn);
	if (!zone) {
		ret = -EINVAL;
		goto failed_removal;
	}

	ret = start_isolate_page_range(start_pfn, end_pfn, MIGRATE_MOVABLE,
				       MEMORY_OFFLINE | REPORT_FAILURE);
	if (ret < 0)
		goto failed_removal;

	do {
		for (pfn = start_pfn; pfn;) {
			if (pending_signal()) {
				ret = -EINTR;
				goto failed_removal_isolated;
			}
			lru_add_drain_all();
			pfn = next_movable(pfn, end_pfn);
			if (pfn)
				migrate_from(pfn, end_pfn);
		}

		/* is every page free now? */
		ret = walk_system_ram_range(start_pfn, end_pfn - start_pfn, NULL,
					    check_isolated_cb);
		/*
		 * A free racing with isolation can leave a page on a pcplist
		 * that was drained already: drain again, then re-check.
		 */
		if (ret)
			drain_all_pages(zone);
	} while (ret);

	finish_offline(zone, start_pfn, end_pfn);
	return 0;

failed_removal_isolated:
	undo_isolate_page_range(start_pfn, end_pfn, MIGRATE_MOVABLE);
failed_removal:
	return ret;
}

int offline_pages(unsigned long start_pfn, unsigned long nr_pages)
{
	return __offline_pages(start_pfn, start_pfn + nr_pages);
}
