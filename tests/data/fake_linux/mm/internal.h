/* SPDX-License-Identifier: GPL-2.0 */
/* drainlab test fixture: mm-internal declarations, nothing else. */
void zone_pcp_disable(struct zone *zone);
void zone_pcp_enable(struct zone *zone);
