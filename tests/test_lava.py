# SPDX-License-Identifier: GPL-2.0
"""lava.py: jobs for LAVA's qemu device type, validated with LAVA's own schema; LAVA job
logs imported through the console collector; bad logs refused in one line.

tests/data/lava/ holds a real run: `gen lava export` of drain-per-block,drain-per-range
x 2 trials on the 6.1 tree, and the log of job drain-per-range trial 1 as Debian's
lava-run (lava-dispatcher 2023.01) printed it, stored the way a LAVA server stores
it ("- " + each line, lava_common/log.py). See tests/data/lava/README.
"""

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import need, need_tool
from gitstate import assert_one_line_error, run_gen

from generator import lava, vm
from generator import results as res
from generator.errors import UserError

DATA = Path(__file__).parent / "data" / "lava"
LOG = DATA / "drain-per-range-t1.yaml"
BIN = Path(sys.executable).parent


def need_lava_schema() -> None:
    need(os.access(lava.SYSTEM_PYTHON, os.X_OK) and subprocess.run(
        [lava.SYSTEM_PYTHON, "-c", "import lava_common.schemas"], capture_output=True,
        check=False).returncode == 0, "lava-common not installed (apt-get install lava-common)")


def a_meta(variant: str = "drain-per-range", trial: int = 1) -> res.RunMeta:
    return res.RunMeta(variant=variant, trial=trial, base_commit="a" * 40,
                       config=res.ConfigInfo("c" * 64), selftests_hash="5" * 64,
                       patches=(res.PatchInfo("0001-x.patch", "1" * 64),))


def a_job(tmp_path: Path, params: vm.QemuParams | None = None) -> Path:
    text = lava.job_definition(a_meta(), params or vm.QemuParams(smp=2),
                               "https://lab.example/a/bzImage",
                               "https://lab.example/a/initramfs.cpio", 600)
    path = tmp_path / "job.yaml"
    path.write_text(text)
    return path


# ---- job definitions ----------------------------------------------------------


def test_a_job_validates_with_lavas_schema(tmp_path: Path) -> None:
    need_lava_schema()
    lava.validate_jobs([a_job(tmp_path)])


@pytest.mark.parametrize("old,new,why", [
    ("visibility: public", "visibility: everyone", "visibility"),
    ("    to: tmpfs\n", "    to: tmpfs\n    bogus: 1\n", "bogus"),
    ("  arch: x86_64\n", "  arch: x86_64\n  drainlab_speed: fast\n", "drainlab_speed"),
])
def test_the_schema_check_can_fail(tmp_path: Path, old: str, new: str, why: str) -> None:
    need_lava_schema()
    path = a_job(tmp_path)
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(UserError, match="fails LAVA's schema") as err:
        lava.validate_jobs([path])
    assert why in err.value.line()


def test_the_job_boots_our_kernel_initramfs_cmdline_memory_and_cpus(tmp_path: Path) -> None:
    params = vm.QemuParams(smp=3, memory="2G")
    job = yaml.safe_load(a_job(tmp_path, params).read_text())
    jid = lava.job_id(a_meta())
    assert job["device_type"] == "qemu" and job["context"]["arch"] == "x86_64"
    assert job["context"]["memory"] == 2048 and job["context"]["no_kvm"] is True
    assert job["context"]["cpu"] == "max"
    assert {"-smp 3", "-no-reboot", "-accel tcg", "-net none"} <= set(job["context"]["extra_options"])
    images = job["actions"][0]["deploy"]["images"]
    argv = shlex.split(images["kernel"]["image_arg"])
    assert argv[:2] == ["-kernel", "{kernel}"] and argv[2] == "-append"
    assert argv[3].split() == [*vm.DEFAULT_CMDLINE, f"drainlab.job={jid}"]
    assert images["ramdisk"]["image_arg"] == "-initrd {ramdisk}"
    assert job["actions"][1]["boot"]["prompts"] == ["DRAINLAB: done"]
    assert job["metadata"]["drainlab.job"] == jid


def test_recorded_jobs_all_validate_and_match_the_manifest() -> None:
    need_lava_schema()
    manifest = json.loads((DATA / "manifest.json").read_text())
    jobs = sorted((DATA / "jobs").glob("*.yaml"))
    assert len(jobs) == len(manifest["jobs"]) == 4
    lava.validate_jobs(jobs)
    for jid, entry in manifest["jobs"].items():
        assert (DATA / entry["definition"]).is_file()
        assert jid.startswith(f"{entry['variant']}-t{entry['trial']}-")


# ---- job logs ------------------------------------------------------------------


def test_read_a_real_lava_run_log() -> None:
    log = lava.read_job_log(LOG)
    assert log.job_id.startswith("drain-per-range-t1-")
    assert log.result == "pass", log.error
    assert "DRAINLAB: done" in log.console and "DRAINLAB: boot" in log.console
    # The dispatcher ran QEMU as gen run does: same -m, -smp, accel, cmdline.
    entries = yaml.safe_load(LOG.read_text())
    boot = next(str(e["msg"]) for e in entries if str(e["msg"]).startswith("Boot command:"))
    for part in ("-m 2048", "-no-reboot", "-accel tcg", "-net none", "-cpu max",
                 " ".join(vm.DEFAULT_CMDLINE)):
        assert part in boot, (part, boot)


def test_lava_run_json_lines_read_the_same(tmp_path: Path) -> None:
    raw = tmp_path / "lava-run.stderr"
    raw.write_text("".join(line[2:] + "\n" for line in LOG.read_text().splitlines()))
    assert raw.read_text().startswith("{")
    a, b = lava.read_job_log(LOG), lava.read_job_log(raw)
    assert (a.job_id, a.console, a.result) == (b.job_id, b.console, b.result)


def test_import_gives_results_with_the_drain_counts(tmp_path: Path) -> None:
    results = tmp_path / "results"
    done = run_gen("lava", "import", str(LOG), "--export", str(DATA), "--results", str(results),
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    (path,) = results.glob("*/trial-*/results.json")
    run = res.read_results(path)
    assert (run.meta.variant, run.meta.trial) == ("drain-per-range", 1)
    assert run.status == res.RunStatus.PASS, run.points
    clean = [m for m in run.metrics() if m.op == "offline" and m.result == "ok"
             and m.counters.get("test_pages_isolated") == 1]
    assert len(clean) >= 3 and {m.counters["drains"] for m in clean} == {1}
    assert run.meta.selftests_hash and run.meta.config.hash and run.meta.base_commit
    assert (path.parent / "console.log").read_text() == lava.read_job_log(LOG).console
    for name in ("junit.xml", "kcidb.json", "table.txt"):
        assert (results / name).is_file() and (path.parent / name).is_file()
    # A second import of the same job is refused, --force replaces it.
    again = run_gen("lava", "import", str(LOG), "--export", str(DATA), "--results", str(results),
                    cwd=tmp_path)
    assert_one_line_error(again, "already holds a run")
    forced = run_gen("lava", "import", str(LOG), "--export", str(DATA), "--results",
                     str(results), "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr


def _cut(text: str, fraction: float) -> str:
    return text[:int(len(text) * fraction)]


def bad_logs(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    text = LOG.read_text()
    jid = lava.read_job_log(LOG).job_id
    lines = text.splitlines(keepends=True)
    cases = {
        "truncated mid-entry": (_cut(text, 0.6), "truncated"),
        "truncated at a line": ("".join(lines[:len(lines) * 2 // 3]), "truncated"),
        "not YAML": ("\x00\x01 this is { not: [ yaml\n", "not YAML"),
        "YAML, not a log": ("job: 1\nresult: pass\n", "list of {dt, lvl, msg}"),
        "console log": ((DATA.parent / "console-recorded" / "pcp-disable.log").read_text(),
                        "not a LAVA job log"),
        "another job": (text.replace(f"drainlab.job={jid}", "console=ttyS1"), "another job"),
        "unknown job": (text.replace(jid, "drain-per-range-t9-00000000"), "not in"),
    }
    out = {}
    for n, (name, (body, needle)) in enumerate(cases.items()):
        path = tmp_path / f"bad-{n}.yaml"
        path.write_text(body)
        out[name] = (path, needle)
    return out


def test_bad_logs_are_one_line_and_nothing_is_written(tmp_path: Path) -> None:
    for name, (path, needle) in bad_logs(tmp_path).items():
        results = tmp_path / f"results-{path.stem}"
        # A good log first: nothing of it may be written either.
        done = run_gen("lava", "import", str(LOG), str(path), "--export", str(DATA),
                       "--results", str(results), cwd=tmp_path)
        assert_one_line_error(done, needle)
        assert str(path) in done.stderr, name
        assert not results.exists(), name


def test_import_needs_the_export_manifest(tmp_path: Path) -> None:
    done = run_gen("lava", "import", str(LOG), "--export", str(tmp_path), cwd=tmp_path)
    assert_one_line_error(done, "manifest.json")


def test_export_refuses_a_bad_url_before_any_work(tmp_path: Path) -> None:
    done = run_gen("lava", "export", str(tmp_path / "out"), "--artifacts-url", "lab:/x",
                   cwd=tmp_path)
    assert_one_line_error(done, "--artifacts-url")
    assert not (tmp_path / "out").exists()


# ---- end to end: export, LAVA's own dispatcher, import ---------------------------


@pytest.mark.kernel
@pytest.mark.realtree
def test_export_lava_run_import(real_tree: Path, tmp_path: Path) -> None:
    """Every exported job validates; lava-run (no server) boots one; its log
    imports with the placement's drain counts."""
    need_lava_schema()
    lava_run = need_tool("lava-run")
    out = tmp_path / "lava"
    done = run_gen("lava", "export", str(out), "--variants", "drain-per-block,drain-per-range",
                   "--trials", "2", "--artifacts-url", f"file://{out}", cwd=tmp_path,
                   timeout=3000)
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-2000:])
    jobs = sorted((out / "jobs").glob("*.yaml"))
    assert len(jobs) == 4
    lava.validate_jobs(jobs)
    (job,) = [j for j in jobs if j.name.startswith("drain-per-range-t1-")]
    proc = subprocess.run([lava_run, "--device", str(out / "device-qemu.yaml"), "--job-id", "1",
                           "--output-dir", str(tmp_path / "lava-out"), str(job)],
                          capture_output=True, text=True, timeout=2400, check=False)
    log = tmp_path / "job-1.yaml"  # stored as a LAVA server stores it
    log.write_text("".join(f"- {line}\n" for line in proc.stderr.splitlines()
                           if line.startswith("{")))
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = tmp_path / "results"
    imported = run_gen("lava", "import", str(log), "--export", str(out), "--results",
                       str(results), cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    (path,) = results.glob("drain-per-range/trial-1/results.json")
    run = res.read_results(path)
    assert run.status == res.RunStatus.PASS, run.points
    clean = [m for m in run.metrics() if m.op == "offline" and m.result == "ok"
             and m.counters.get("test_pages_isolated") == 1]
    assert len(clean) >= 3 and {m.counters["drains"] for m in clean} == {1}
    if os.environ.get("DRAINLAB_RECORD_LAVA"):  # refresh tests/data/lava from this run
        shutil.rmtree(DATA, ignore_errors=True)
        shutil.copytree(out, DATA, ignore=shutil.ignore_patterns("artifacts", "build", "series",
                                                                  "kselftest"))
        shutil.copyfile(log, LOG)


def test_export_refuses_a_profile_that_needs_qmp_before_any_work(tmp_path: Path) -> None:
    """The hotremove profile's guest asks the host for device_del over QMP: a LAVA job cannot."""
    done = run_gen("lava", "export", str(tmp_path / "out"), "--artifacts-url", "https://x.org/d",
                   "--profile", "hotremove", cwd=tmp_path)
    assert_one_line_error(done, "QMP")
    assert not (tmp_path / "out").exists()
