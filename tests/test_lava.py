# SPDX-License-Identifier: GPL-2.0
"""lava.py: jobs for LAVA's qemu device type, validated with LAVA's own schema; LAVA job
logs imported through the console collector; bad logs refused in one line.

tests/data/lava/ holds a real run: `gen lava export` of drain-per-block,drain-per-range
x 2 trials on the 6.1 tree, and the log of job drain-per-range trial 1 as Debian's
lava-run (lava-dispatcher 2023.01) printed it, stored the way a LAVA server stores
it ("- " + each line, lava_common/log.py). See tests/data/lava/README.
"""

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import need
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


def test_import_needs_the_export_manifest(tmp_path: Path) -> None:
    done = run_gen("lava", "import", str(LOG), "--export", str(tmp_path), cwd=tmp_path)
    assert_one_line_error(done, "manifest.json")


def test_export_refuses_a_bad_url_before_any_work(tmp_path: Path) -> None:
    done = run_gen("lava", "export", str(tmp_path / "out"), "--artifacts-url", "lab:/x",
                   cwd=tmp_path)
    assert_one_line_error(done, "--artifacts-url")
    assert not (tmp_path / "out").exists()
