# SPDX-License-Identifier: GPL-2.0
"""The text contract between the guest and the host, in one place.

The selftest scripts (templates/kselftest) print TAP 13 with diagnostic lines
of these shapes, and the guest /init (templates/initramfs/init.j2) wraps each
script's output in markers on the serial console. The collector parses only
what is described here.

Diagnostic lines inside a script's TAP (one line each, space-separated
key=value pairs; keys are [a-z0-9_]+, values contain no spaces):

    # metric test=<test point> op=<offline|online|cma_alloc|cma_free|remove> us=<latency>
             result=<ok|EBUSY|EINVAL|EINTR|ENOMEM|timeout|...> [block=memoryN]
             [round=N] [pages=N] [drains=N] [drain_all_pages=N]
             [zone_pcp_disable=N] [set_migratetype_isolate=N] [test_pages_isolated=N]
             [drain_ns=N]
    # fact <key>=<value> ...      guest facts (block_size_bytes, pageblock_pages, ncpu, ...)
    # excluded block=memoryN reason=<EINVAL|EBUSY|...> why=<word>
    # leak op=<label> invariant=<isolate|pcp_batch|cma_used|memfree|console>
           zone=<zone, zone@node, CMA area, or all> before=<v> after=<v>
    # summary script=<name> key=value ...

What the generated scripts (generator/selftests.py) print in these shapes:

    test=      the TAP description of the point the op belongs to:
               offline/<block>/r<round>/<idle|churn|settled|onset>, cma/<area>/<pages>/<idle|churn>,
               race/<block>/r<round>, dimm/<id>/<offline|remove> (dimm-remove.sh: op=remove
               is the wait from its host request until the DIMM's blocks are gone, with
               blocks= and left=); probe/<block> (isolation-race.sh's probe and
               excluded blocks) has no TAP point
    fact keys  block_size_bytes pageblock_pages page_size ncpu; clock=<date|adjtimex|uptime>
               clock_overhead_us (latencies include about that much);
               profiler=<function_profile|off> traced=<f,g,...> why=<word>;
               churn=<file|anon|mixed> churn_workers churn_mb; blocks=<memoryN,...> excluded=<n>;
               cma_area cma_count cma_order_per_bit cma_base_pfn
               invariants=<isolate,memfree,pcp_batch,...|none> inv_values=<n>: what the
               first invariant snapshot could read (dl_inv_snapshot)
    leak       an invariant an operation did not give back (templates/kselftest
               drainlab_lib.sh dl_inv_check): op= is the test point (plus /<rep>
               for a CMA allocation); isolate = Isolate pageblocks of
               /proc/pagetypeinfo, pcp_batch = the pcp batch of every CPU
               (comma-separated) in /proc/zoneinfo, cma_used = debugfs
               cma/<area>/used, memfree = MemFree KiB (lower than the tolerance
               allows), console = kernel log lines with WARNING:, BUG: or
               "page type is"
    summary    script pass fail skip ops timeouts leaks, plus blocks excluded rounds
               (memory scripts) or area allocs alloc_ok (cma-stress); skipped_all=1
               on a "1..0 # SKIP" run

`drains` is the number of __drain_all_pages() calls during the operation
(summed over CPUs by the ftrace function profiler); it counts every drain,
including drain_all_pages() calls that GCC inlined into page_alloc.c callers
and the forced drain of zone_pcp_disable(). `drain_ns` is the total time spent
in those calls during the operation, in nanoseconds (the profiler's Time
column, which exists with CONFIG_FUNCTION_GRAPH_TRACER; it prints microseconds
with up to 3 decimals). A counter that the running kernel cannot trace is left
out of the line, never printed as 0.

Console markers printed by the guest /init (at the start of a line):

    DRAINLAB: boot uptime=<s>
    DRAINLAB: begin <script>
    DRAINLAB: end <script> rc=<exit code> ms=<elapsed>
    DRAINLAB: done

A request to the host, printed by a guest script (dimm-remove.sh) at the
start of a line; the host carries it out over QMP (generator/qmp.py) only
for a device id it created itself, and records every request as a test
point drainlab.host.request<n> (refused and failed ones fail):

    drainlab-qmp: device_del <id>
"""

import re

MARK = "DRAINLAB:"
# Metrics whose test= starts with this come from a probe pass (finding which
# blocks can go offline at all); they belong to no TAP test point.
PROBE_PREFIX = "probe/"
BOOT_RE = re.compile(r"DRAINLAB: boot uptime=(?P<uptime>[0-9.]+)")
BEGIN_RE = re.compile(r"DRAINLAB: begin (?P<script>\S+)")
END_RE = re.compile(r"DRAINLAB: end (?P<script>\S+) rc=(?P<rc>-?\d+) ms=(?P<ms>\d+)")
DONE_RE = re.compile(r"DRAINLAB: done\b")
HOST_REQUEST_RE = re.compile(r"^drainlab-qmp:(?P<body>.*)$")

DIAG_RE = re.compile(r"^#\s*(?P<kind>metric|fact|excluded|summary|leak)\s+(?P<body>.*)$")
PAIR_RE = re.compile(r"([a-z0-9_]+)=(\S*)")

# Functions the profiler counts around each operation. Ones missing from the
# running kernel's available_filter_functions are skipped by the scripts.
PROFILED_FUNCTIONS = (
    "__drain_all_pages",
    "drain_all_pages",
    "zone_pcp_disable",
    "set_migratetype_isolate",
    "test_pages_isolated",
)


def parse_pairs(body: str) -> dict[str, str]:
    """'a=1 b=x' -> {'a': '1', 'b': 'x'}; text that is not key=value is ignored."""
    return {k: v for k, v in PAIR_RE.findall(body)}


def parse_diagnostic(line: str) -> tuple[str, dict[str, str]] | None:
    """('metric', {...}) for a drainlab diagnostic line, else None."""
    m = DIAG_RE.match(line.strip())
    if not m:
        return None
    return m.group("kind"), parse_pairs(m.group("body"))
