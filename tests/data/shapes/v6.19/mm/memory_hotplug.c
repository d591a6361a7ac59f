// SPDX-License-Identifier: GPL-2.0
/* drainlab test fixture: offline_pages() as 6.x shaped it, nothing else. */

int offline_pages(unsigned long start_pfn, unsigned long nr_pages,
		  struct zone *zone, struct memory_group *group)
{
	const unsigned long end_pfn = start_pfn + nr_pages;
	int ret;

	/*
	 * Frees go straight to the buddy lists while the range is isolated,
	 * and nothing waits in the LRU caches.
	 */
	zone_pcp_disable(zone);
	lru_cache_disable();

	ret = start_isolate_page_range(start_pfn, end_pfn, ISOLATE_MODE_OFFLINE);
	if (ret)
		goto failed_removal_pcplists_disabled;

	do {
		ret = migrate_all(start_pfn, end_pfn);
		if (ret)
			goto failed_removal_isolated;
		ret = test_pages_isolated(start_pfn, end_pfn, ISOLATE_MODE_OFFLINE);
	} while (ret);

	finish_offline(zone, start_pfn, end_pfn);
	lru_cache_enable();
	zone_pcp_enable(zone);
	return 0;

failed_removal_isolated:
	undo_isolate_page_range(start_pfn, end_pfn);
failed_removal_pcplists_disabled:
	lru_cache_enable();
	zone_pcp_enable(zone);
	return ret;
}
