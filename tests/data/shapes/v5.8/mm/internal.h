/* SPDX-License-Identifier: GPL-2.0 */
/* drainlab test fixture: no pcplist disabling in a 5.8-shaped tree. */
struct page *__first_valid_page(unsigned long pfn, unsigned long nr_pages);
