// SPDX-License-Identifier: GPL-2.0
/* drainlab test fixture: offline_pages() as 5.11/5.12 shaped it, nothing else. */

int offline_pages(unsigned long start_pfn, unsigned long nr_pages)
{
	const unsigned long end_pfn = start_pfn + nr_pages;
	struct zone *zone;
	int ret;

	zone = zone_of_range(start_pfn, end_pfn);
	if (!zone)
		return -EINVAL;

	/* frees go straight to the buddy lists while the range is isolated */
	zone_pcp_disable(zone);

	ret = start_isolate_page_range(start_pfn, end_pfn, MIGRATE_MOVABLE,
				       MEMORY_OFFLINE | REPORT_FAILURE);
	if (ret)
		goto failed_removal_pcplists_disabled;

	do {
		ret = migrate_all(start_pfn, end_pfn);
		if (ret)
			goto failed_removal_isolated;
		ret = test_pages_isolated(start_pfn, end_pfn, MEMORY_OFFLINE);
	} while (ret);

	finish_offline(zone, start_pfn, end_pfn);
	zone_pcp_enable(zone);
	return 0;

failed_removal_isolated:
	undo_isolate_page_range(start_pfn, end_pfn, MIGRATE_MOVABLE);
failed_removal_pcplists_disabled:
	zone_pcp_enable(zone);
failed_removal:
	report_failure(start_pfn, end_pfn);
	return ret;
}
