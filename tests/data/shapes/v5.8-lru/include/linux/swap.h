/* SPDX-License-Identifier: GPL-2.0 */
/* drainlab test fixture: a backported LRU cache switch, nothing else. */
extern void lru_cache_disable(void);
extern void lru_cache_enable(void);
