/* SPDX-License-Identifier: GPL-2.0 */
/* drainlab test fixture: pcplist disabling exists from 5.11 on. */
struct page *__first_valid_page(unsigned long pfn, unsigned long nr_pages);
void zone_pcp_disable(struct zone *zone);
void zone_pcp_enable(struct zone *zone);
