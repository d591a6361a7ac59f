#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Benchmark the run stages on the real tree: checkout, config, build, boot.

Measures, with the cache as it is (run it twice to see the warm numbers):
  checkout   Worktree open (clone on first use) + reset
  kconfig    make_config (cached by inputs after the first run)
  base       build_kernel of the base (cold once per cache, then a cache hit)
  variant    apply a one-line drain_all_pages() patch + incremental rebuild
  boot       N TCG boots of the base kernel with a trivial /init (host s to init)
  kvm        the KVM probe (cached per host boot; --refresh re-probes)
Never run it next to another kernel build: 2 cores.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

# E402: these imports need the sys.path entries above.
from generator import build, initramfs, kconfig, vm  # noqa: E402
from generator.tree import prepare_default_tree  # noqa: E402
from generator.worktree import Worktree  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--boots", type=int, default=3)
    ap.add_argument("--refresh-kvm", action="store_true")
    args = ap.parse_args()
    from conftest import per_pageblock_patch  # the same one-line variant as the tests

    tree = prepare_default_tree().path
    out = Path(tempfile.mkdtemp(prefix="bench-stages-"))
    t = time.monotonic()
    with Worktree(tree, "HEAD") as wt:
        print(f"checkout   {time.monotonic() - t:7.2f} s  {wt.path}")
        t = time.monotonic()
        cfg = kconfig.make_config(wt.path, tree_id=wt.base)
        print(f"kconfig    {time.monotonic() - t:7.2f} s  sha256 {cfg.short}")
        base = build.build_kernel(wt.path, cfg, out / "base.log", series_key=build.series_key(wt.base, []),
                                  progress=build.elapsed_printer(30))
        print(f"base       {base.seconds:7.2f} s  {base.status} cached={base.cached}")
        patch = out / "0001.patch"
        patch.write_text(per_pageblock_patch(wt.path))
        t = time.monotonic()
        applied = wt.apply_series([patch])
        apply_s = time.monotonic() - t
        variant = build.build_kernel(wt.path, cfg, out / "variant.log")
        print(f"variant    {variant.seconds:7.2f} s  {variant.status} "
              f"(apply {apply_s:.2f} s, {applied.status})")
    if not base.ok or base.bzimage is None:
        return 1
    tiny = initramfs.build_initramfs(None, [])
    boots = [vm.boot(base.bzimage, tiny.path, out / f"boot{i}.log", timeout_s=120) for i in range(args.boots)]
    to_init = [b.boot_s for b in boots if b.boot_s is not None]
    print(f"boot       {statistics.median(b.seconds for b in boots):7.2f} s  median total; to /init "
          f"{', '.join(f'{s:.2f}' for s in to_init)} s; {[str(b.status) for b in boots]}")
    t = time.monotonic()
    probe = vm.kvm_probe(base.bzimage, tiny.path, refresh=args.refresh_kvm)
    print(f"kvm        {time.monotonic() - t:7.2f} s  usable={probe.usable}: {probe.reason}")
    print(f"qemu       {' '.join(boots[0].qemu_argv)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
