/* SPDX-License-Identifier: GPL-2.0 */
/* drainlab test fixture: declarations a 5.8-shaped tree has, nothing else. */
#ifndef FIXTURE_MM_H
#define FIXTURE_MM_H

#define pageblock_nr_pages	512UL
#define pfn_to_page(pfn)	pfn_page(pfn)
#define MIGRATE_ISOLATE		4
#define MIGRATE_MOVABLE		1
#define REPORT_FAILURE		2
#define MEMORY_OFFLINE		1

struct page *pfn_page(unsigned long pfn);
struct zone *page_zone(const struct page *page);
void drain_all_pages(struct zone *zone);
void lru_add_drain_all(void);

#endif
