// SPDX-License-Identifier: GPL-2.0
/*
 * drainlab test fixture: a 5.8-shaped __offline_pages() with the LRU cache
 * disabling of later releases backported, but no pcplist disabling.
 */

static int __offline_pages(unsigned long start_pfn, unsigned long end_pfn)
{
	struct zone *zone;
	int ret;

	zone = zone_of_range(start_pfn, end_pfn);
	if (!zone)
		return -EINVAL;

	lru_cache_disable();
	ret = start_isolate_page_range(start_pfn, end_pfn, MIGRATE_MOVABLE,
				       MEMORY_OFFLINE | REPORT_FAILURE);
	if (ret < 0)
		goto failed_removal;

	do {
		migrate_all(start_pfn, end_pfn);
		ret = walk_system_ram_range(start_pfn, end_pfn - start_pfn, NULL,
					    check_isolated_cb);
	} while (ret);

	lru_cache_enable();
	return 0;

failed_removal:
	lru_cache_enable();
	return ret;
}

int offline_pages(unsigned long start_pfn, unsigned long nr_pages)
{
	return __offline_pages(start_pfn, start_pfn + nr_pages);
}
