// SPDX-License-Identifier: GPL-2.0
/* drainlab test fixture: the call shapes of memory offline, nothing else. */

int offline_pages(unsigned long start_pfn, unsigned long nr_pages,
		  struct zone *zone)
{
	unsigned long end_pfn = start_pfn + nr_pages;
	int ret;

	/* keep freed pages off the pcplists while the range is isolated */
	zone_pcp_disable(zone);
	lru_cache_disable();

	ret = start_isolate_page_range(start_pfn, end_pfn, 0, 0, 0);
	if (ret)
		goto failed_pcp;

	do {
		ret = migrate_range(start_pfn, end_pfn);
		if (ret)
			goto failed_isolated;

		ret = test_pages_isolated(start_pfn, end_pfn, 0);
	} while (ret);

	lru_cache_enable();
	zone_pcp_enable(zone);
	return 0;

failed_isolated:
	undo_isolate_page_range(start_pfn, end_pfn, 0);
failed_pcp:
	lru_cache_enable();
	zone_pcp_enable(zone);
	return ret;
}
