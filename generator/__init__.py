# SPDX-License-Identifier: GPL-2.0
"""drainlab: settle where drain_all_pages() belongs in page isolation, with evidence."""
