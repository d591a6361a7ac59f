// SPDX-License-Identifier: GPL-2.0
/* drainlab test fixture: offline_pages() as 5.10 shaped it, nothing else. */

int offline_pages(unsigned long start_pfn, unsigned long nr_pages)
{
	const unsigned long end_pfn = start_pfn + nr_pages;
	struct zone *zone;
	int ret;

	zone = zone_of_range(start_pfn, end_pfn);
	if (!zone)
		return -EINVAL;

	ret = start_isolate_page_range(start_pfn, end_pfn, MIGRATE_MOVABLE,
				       MEMORY_OFFLINE | REPORT_FAILURE);
	if (ret)
		return ret;

	do {
		migrate_all(start_pfn, end_pfn);

		/*
		 * A page freed to a pcplist after the drains of isolation
		 * keeps the range busy: drain again before the next pass.
		 */
		ret = test_pages_isolated(start_pfn, end_pfn, MEMORY_OFFLINE);
		if (ret)
			drain_all_pages(zone);
	} while (ret);

	finish_offline(zone, start_pfn, end_pfn);
	return 0;
}
