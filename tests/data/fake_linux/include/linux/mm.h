/* SPDX-License-Identifier: GPL-2.0 */
/* drainlab test fixture: the declarations the fixture's snippets need, nothing else. */
#ifndef FAKE_MM_H
#define FAKE_MM_H

#define pageblock_nr_pages	512UL
#define pfn_to_page(pfn)	pfn_page(pfn, 1)

struct page *pfn_page(unsigned long pfn, unsigned long nr);
struct zone *page_zone(const struct page *page);
void drain_all_pages(struct zone *zone);
void lru_cache_disable(void);
void lru_cache_enable(void);

#endif
