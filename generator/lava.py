# SPDX-License-Identifier: GPL-2.0
"""LAVA: export the matrix as LAVA jobs, import LAVA job logs back as results.

    gen lava export --variants a,b --trials N --artifacts-url URL OUT/
        OUT/artifacts/<variant>/bzImage    the kernel of each variant
        OUT/artifacts/initramfs.cpio       busybox + selftests + /init (one for all)
        OUT/jobs/<job id>.yaml             one LAVA job per (variant, trial)
        OUT/device-qemu.yaml               a device dictionary for lava-run without a server
        OUT/manifest.json                  job id -> variant, trial, RunMeta (for import)
        OUT/kselftest/, OUT/series/        what the guest runs, what was applied

    gen lava import JOB_LOG... --export OUT/ --results DIR/
        DIR/<variant>/trial-<n>/results.json (+ console.log, junit.xml, ...)

Why templates and not tuxlava: tuxlava's QEMU jobs boot a root filesystem
image, log in on a shell prompt and append their own kernel arguments
(root=, console_msg_format=syslog, ...); our guest is an initramfs whose
/init runs the selftests and reboots, with a fixed kernel command line.
templates/lava/qemu-job.yaml.j2 holds the job text; every rendered job is
validated with LAVA's own schema (lava_common.schemas.validate, Debian's
lava-common) before OUT/ appears.

The job id (<variant>-t<trial>-<8 hex>) rides on the kernel command line as
`drainlab.job=<id>`, a parameter the kernel ignores (no built-in module is
called drainlab): the dispatcher logs the QEMU command line, so a job log
names the job it belongs to and import can refuse a log of another job.

A LAVA job log (as a server stores it, `lavacli jobs logs --raw`) is a
YAML list of {dt, lvl, msg}; lvl "target" entries are the serial console
lines, and a lvl "results" entry with definition "lava", case "job" closes
every finished job. The console goes through the same collector as a local
run (collect.parse_console), so report, merge and bundle work unchanged.
"""

import hashlib
import json
import math
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from generator import build, collect, paths, render, vm
from generator import results as res
from generator.errors import GenError, InfraError, UserError
from generator.printer import Printer
from generator.report import write_reports
from generator.run import RunRequest, preflight, prepare, variant_names
from generator.worktree import Worktree

SYSTEM_PYTHON = "/usr/bin/python3"  # where Debian's lava-common is importable
SCHEMA_CHECK = paths.PACKAGE_DIR / "lava_schema_check.py"
MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
JOB_TOKEN = "drainlab.job"
JOB_TOKEN_RE = re.compile(r"\bdrainlab\.job=(?P<id>[A-Za-z0-9._-]+)")
URL_SCHEMES = ("http", "https", "file")
DEPLOY_MARGIN_MIN = 15  # job timeout on top of the boot: downloads, power-off


@dataclass(frozen=True)
class ExportRequest(RunRequest):
    artifacts_url: str = ""
    out: Path = Path("lava")


@dataclass(frozen=True)
class ExportedJob:
    job_id: str
    variant: str
    trial: int
    path: Path  # the job definition, under OUT/jobs/


@dataclass(frozen=True)
class Export:
    out: Path
    jobs: tuple[ExportedJob, ...]
    device: Path


# ---- export ----------------------------------------------------------------


def memory_mib(memory: str) -> int:
    """QEMU -m value ("2G", "512M", "1024") -> MiB, as LAVA's context wants it."""
    m = re.fullmatch(r"(\d+)([MG]?)", memory.strip().upper())
    if not m:
        raise UserError(f"QEMU memory {memory!r} is not a size like 2G or 512M")
    return int(m.group(1)) * (1024 if m.group(2) == "G" else 1)


def job_id(meta: res.RunMeta) -> str:
    """<variant>-t<trial>-<8 hex of base, config, selftests and patches>."""
    digest = hashlib.sha256("\n".join(
        [meta.base_commit, meta.config.hash, meta.selftests_hash,
         *(p.sha256 for p in meta.patches)]).encode()).hexdigest()[:8]
    return f"{meta.variant}-t{meta.trial}-{digest}"


def lava_context(params: vm.QemuParams) -> dict[str, Any]:
    """The job context a LAVA qemu device type turns into our QEMU options."""
    # -net none as gen run: no NIC (a lab's template may add one; then it is a no-op).
    extra = [f"-smp {params.smp}", "-no-reboot", "-net none", *params.extra_args]
    if params.accel != "kvm":
        extra.append("-accel tcg")
    return {"cpu": params.cpu, "machine": "pc", "memory_mib": memory_mib(params.memory),
            "no_kvm": params.accel != "kvm", "extra_options": extra}


def cmdline(params: vm.QemuParams, jid: str) -> str:
    return " ".join((*params.cmdline, f"{JOB_TOKEN}={jid}"))


def job_definition(meta: res.RunMeta, params: vm.QemuParams, kernel_url: str, initrd_url: str,
                   watchdog_s: float) -> str:
    """The LAVA job (YAML text) that boots one (variant, trial) like `gen run` does."""
    jid = job_id(meta)
    boot_minutes = math.ceil(watchdog_s / 60)
    return render.render(
        "lava/qemu-job.yaml.j2", job_id=jid, variant=meta.variant, trial=meta.trial,
        job_name=f"drainlab {meta.variant} trial {meta.trial} ({jid})",
        base_commit=meta.base_commit, config_hash=meta.config.hash,
        selftests_hash=meta.selftests_hash, kernel_url=kernel_url, initrd_url=initrd_url,
        kernel_arg=f"-kernel {{kernel}} -append \"{cmdline(params, jid)}\"",
        boot_minutes=boot_minutes, job_minutes=boot_minutes + DEPLOY_MARGIN_MIN,
        **lava_context(params))


def device_dictionary(params: vm.QemuParams) -> str:
    """A rendered LAVA device dictionary for a local qemu device (lava-run)."""
    return render.render("lava/qemu-device.yaml.j2", qemu_binary=params.binary,
                         **lava_context(params))


def validate_jobs(job_paths: Sequence[Path]) -> None:
    """Validate job definitions with lava_common.schemas.validate (strict).

    Raise: UserError naming the first invalid job and LAVA's reason, or that
    lava-common is missing.
    """
    if not job_paths:
        return
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        raise UserError(f"{SYSTEM_PYTHON} not found (LAVA's schema needs Debian's python3)",
                        "install it: apt-get install lava-common")
    proc = subprocess.run([SYSTEM_PYTHON, str(SCHEMA_CHECK), *map(str, job_paths)],
                          capture_output=True, text=True, check=False)
    checked = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode == 3:
        raise UserError("LAVA's job schema is not installed (python3 cannot import lava_common)",
                        "install it: apt-get install lava-common (tools/setup.sh does)")
    bad = [c for c in checked if not c["ok"]]
    if bad:
        first = bad[0]
        raise UserError(f"LAVA job {first['path']} fails LAVA's schema: {first['error']}",
                        "fix templates/lava/qemu-job.yaml.j2")
    if proc.returncode != 0 or len(checked) != len(job_paths):
        raise InfraError(f"LAVA schema check failed (exit {proc.returncode}): "
                         f"{(proc.stderr or proc.stdout).strip()[-300:]}")


def _check_url(url: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme not in URL_SCHEMES or not (parsed.netloc or parsed.path):
        raise UserError(f"--artifacts-url {url!r} is not an http(s):// or file:// URL",
                        "give the URL where OUT/ will be published, e.g. https://lab.example/drainlab")
    return url.rstrip("/")


def export_jobs(request: ExportRequest, printer: Printer) -> Export:
    """Build every variant's kernel (cached) and write OUT/ whole, or nothing.

    Raise: UserError for bad input (URL, existing OUT, unknown variant, a
    series that does not apply or build), InfraError for the machine's faults.
    """
    url = _check_url(request.artifacts_url)
    from generator.selftests import load_profile

    if load_profile(request.profile).dimm_mb:
        # dimm-remove.sh asks the host for device_del over QMP; a LAVA qemu
        # job has no one reading the console for it.
        raise UserError(f"profile {request.profile} needs the host to unplug a DIMM over QMP, "
                        "which a LAVA job cannot do", "use gen run for it, or another --profile")
    # Absolute: merge_config.sh runs in the cache checkout and reads the
    # selftests' config fragment from under OUT.
    out = request.out.absolute()
    if out.exists():
        raise UserError(f"output directory {out} already exists", "remove it or pass another OUT")
    preflight()
    from generator.generate import open_request
    from generator.run import _series_for

    opened = open_request(request)
    names = variant_names(opened.catalog, request.variants)
    base_date = opened.repo.commit(request.base).committed_date
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        work = replace(request, results_dir=tmp)
        jobs: list[ExportedJob] = []
        manifest: dict[str, Any] = {"version": MANIFEST_VERSION, "artifacts_url": url, "jobs": {}}
        with Worktree(opened.tree.path, request.base) as wt:
            prep = prepare(work, wt, opened.tree.version, printer)
            params = prep.params.with_accel("kvm" if request.accel == "kvm" else "tcg")
            initrd = tmp / "artifacts" / "initramfs.cpio"
            initrd.parent.mkdir(parents=True)
            shutil.copyfile(prep.initrd.path, initrd)
            for variant in names:
                series = _series_for(opened.tree.path, work, variant, base_date)
                patches = list(series.patches)
                kernel = _build(wt, prep, variant, patches, tmp, printer)
                infos = tuple(res.PatchInfo(p.name, paths.sha256_of(p)) for p in patches)
                for trial in range(1, request.trials + 1):
                    meta = res.RunMeta(
                        variant=variant, trial=trial, tree=str(prep.tree), base_commit=prep.base,
                        kernel_version=prep.version, patches=infos,
                        config=res.ConfigInfo(prep.config.sha256, tuple(
                            f"{k}={v}" for k, v in prep.config.requested),
                            "tinyconfig+drainlab.config+selftests"),
                        qemu_cmdline=tuple(params.argv(Path("bzImage"), Path("initramfs.cpio"),
                                                       (f"{JOB_TOKEN}={'{job}'}",))),
                        accel=params.accel, selftests_hash=prep.selftests.content_hash)
                    jid = job_id(meta)
                    meta = replace(meta, qemu_cmdline=tuple(
                        a.replace("{job}", jid) for a in meta.qemu_cmdline))
                    text = job_definition(
                        meta, params, f"{url}/artifacts/{kernel.relative_to(tmp / 'artifacts')}",
                        f"{url}/artifacts/initramfs.cpio", prep.watchdog_s)
                    path = tmp / "jobs" / f"{jid}.yaml"
                    path.parent.mkdir(exist_ok=True)
                    res.atomic_write_text(path, text)
                    jobs.append(ExportedJob(jid, variant, trial, out / "jobs" / path.name))
                    manifest["jobs"][jid] = {"variant": variant, "trial": trial,
                                             "definition": f"jobs/{path.name}",
                                             "meta": res.to_plain(meta)}
        device = tmp / "device-qemu.yaml"
        res.atomic_write_text(device, device_dictionary(params))
        res.atomic_write_text(tmp / MANIFEST, json.dumps(manifest, indent=2) + "\n")
        validate_jobs(sorted((tmp / "jobs").glob("*.yaml")))
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    printer.event("lava", f"{len(jobs)} job(s) in {out}/jobs, artifacts in {out}/artifacts "
                  f"(publish them at {url}/artifacts); all valid for LAVA's schema")
    return Export(out, tuple(jobs), out / "device-qemu.yaml")


def _build(wt: Worktree, prep: Any, variant: str, patches: list[Path], tmp: Path,
           printer: Printer) -> Path:
    applied = wt.apply_series(patches)
    if applied.status != "ok":
        raise UserError(f"{variant}: the series does not apply ({applied.conflicting_file})",
                        "export only variants that apply to --base")
    log = tmp / "build" / f"{variant}.log"
    log.parent.mkdir(exist_ok=True)
    printer.event("build", f"{variant}: make bzImage")
    built = build.build_kernel(wt.path, prep.config, log, build.series_key(prep.base, patches),
                               progress=printer.ticker("build", variant))
    if not built.ok or built.bzimage is None:
        tail = built.log_tail.strip().splitlines()[-1:] or ["?"]
        raise GenError(f"{variant}: the kernel does not build: {tail[0]}",
                       "gen run records build failures; export only variants that build")
    dest = tmp / "artifacts" / variant / "bzImage"
    dest.parent.mkdir(parents=True)
    shutil.copyfile(built.bzimage, dest)
    return dest


# ---- import ----------------------------------------------------------------


@dataclass(frozen=True)
class JobLog:
    """What a LAVA job log says about one drainlab job."""

    path: Path
    job_id: str
    console: str  # the target (serial console) lines, joined
    result: str  # the LAVA job result: pass, fail, incomplete
    error: str  # LAVA's error message for a failed job, "" otherwise
    first_dt: str  # time stamp of the first entry


def _not_a_log(path: Path, why: str) -> UserError:
    return UserError(f"{path}: not a LAVA job log ({why})",
                     "pass the YAML log LAVA stores (`lavacli jobs logs --raw ID`) "
                     "or what lava-run printed on stderr")


def read_job_log(path: Path) -> JobLog:
    """Parse and check one LAVA job log.

    Raise UserError (one line) when it is not YAML, not a list of
    {dt, lvl, msg}, cut short (no job result at its end), or names no
    drainlab job (a log of another job).
    """
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        raise UserError(f"cannot read {path}: {err.strerror}", "pass a LAVA job log") from None
    if text.lstrip().startswith("{"):
        # lava-run's own output: the same entries, one JSON object a line;
        # the server stores them as "- " + line (lava_common/log.py).
        text = "".join(f"- {line}\n" for line in text.splitlines() if line.strip())
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        entries = yaml.load(text, Loader=loader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        lines = text.count("\n")
        if mark is not None and text.startswith("- ") and mark.line >= lines - 1:
            raise UserError(f"{path}: truncated LAVA job log (its last entry is cut off at "
                            f"line {mark.line + 1})",
                            "fetch the whole log again once the job has finished") from None
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise _not_a_log(path, f"not YAML{where}") from None
    if not isinstance(entries, list) or not entries or not all(
            isinstance(e, dict) and {"dt", "lvl", "msg"} <= e.keys() for e in entries):
        raise _not_a_log(path, "expected a YAML list of {dt, lvl, msg} entries")
    target = [str(e["msg"]) for e in entries if e["lvl"] == "target"]
    ids = {m.group("id") for e in entries for m in JOB_TOKEN_RE.finditer(str(e["msg"]))}
    end = [e["msg"] for e in entries if e["lvl"] == "results" and isinstance(e["msg"], dict)
           and e["msg"].get("definition") == "lava" and e["msg"].get("case") == "job"]
    if not end:
        raise UserError(f"{path}: truncated LAVA job log (no job result at its end)",
                        "fetch the whole log again once the job has finished")
    if not ids:
        raise UserError(f"{path}: a LAVA job log of another job (no {JOB_TOKEN}= in it)",
                        "pass logs of jobs written by gen lava export")
    if len(ids) > 1:
        raise UserError(f"{path}: names several drainlab jobs ({', '.join(sorted(ids))})",
                        "pass one LAVA job log per file")
    extra = end[-1].get("extra") or {}
    error = str(extra.get("error_msg", "")) if isinstance(extra, dict) else ""
    return JobLog(path, ids.pop(), "\n".join(target) + "\n", str(end[-1].get("result", "")),
                  error, str(entries[0]["dt"]))


def load_manifest(export_dir: Path) -> dict[str, Any]:
    path = export_dir / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise UserError(f"cannot read {path}: {getattr(err, 'strerror', None) or err}",
                        "pass the directory gen lava export wrote (--export OUT)") from None
    if not isinstance(data, dict) or data.get("version") != MANIFEST_VERSION \
            or not isinstance(data.get("jobs"), dict):
        raise UserError(f"{path} is not a gen lava export manifest (version {MANIFEST_VERSION})",
                        "export again with this gen")
    return data


def job_result(log: JobLog, meta: res.RunMeta, console_path: Path) -> res.RunResult:
    """A RunResult for one LAVA job, as run.run_one() would record a local boot."""
    console = collect.parse_console(log.console)
    timed_out = "timed out" in log.error.lower() or "timeout" in log.error.lower()
    if console.done and not timed_out:
        boot = res.StageStatus.OK
    elif timed_out:
        boot = res.StageStatus.TIMEOUT
    elif not console.boot_seen and log.result == "incomplete":
        boot = res.StageStatus.ERROR  # the lab never booted it (download, device)
    else:
        boot = res.StageStatus.FAIL
    stages = [res.StageResult("apply", res.StageStatus.OK, None, "gen lava export"),
              res.StageResult("build", res.StageStatus.OK, None, "gen lava export"),
              res.StageResult("boot", boot, None, log.error or f"LAVA job {log.result}"),
              res.StageResult("test", res.StageStatus.OK if console.done else
                              res.StageStatus.FAIL, None)]
    meta = replace(meta, start_time=_iso(log.first_dt), artifacts={
        "console_log": str(console_path), "lava_job_log": str(log.path.resolve())})
    return res.build_run_result(meta, stages, console)


def _iso(dt: str) -> str:
    try:
        return datetime.fromisoformat(dt).replace(tzinfo=UTC).isoformat(
            timespec="seconds")
    except ValueError:
        return ""


def import_logs(logs: Sequence[Path], export_dir: Path, results_dir: Path,
                force: bool = False) -> list[res.RunResult]:
    """Read every log first; then write each run's directory whole (temporary
    sibling + rename) and the reports over every run in results_dir.

    Raise UserError before anything is written when a log is bad, unknown to
    the manifest, given twice, or its run is already recorded (unless force).
    """
    manifest = load_manifest(export_dir)
    parsed = [read_job_log(p) for p in logs]
    seen: dict[str, Path] = {}
    for log in parsed:
        if log.job_id not in manifest["jobs"]:
            raise UserError(f"{log.path}: job {log.job_id} is not in {export_dir / MANIFEST}",
                            "pass the --export directory these jobs came from")
        if log.job_id in seen:
            raise UserError(f"{log.path} and {seen[log.job_id]} are logs of the same job "
                            f"{log.job_id}", "pass each job's log once")
        seen[log.job_id] = log.path
    planned = []
    for log in parsed:
        entry = manifest["jobs"][log.job_id]
        meta = res.from_plain(res.RunMeta, entry["meta"])
        run_dir = results_dir / meta.variant / f"trial-{meta.trial}"
        if run_dir.exists() and not force:
            raise UserError(f"{run_dir} already holds a run", "pass --force to replace it, "
                            "or import into another --results directory")
        planned.append((log, meta, run_dir))
    imported = []
    for log, meta, run_dir in planned:
        tmp = run_dir.with_name(f".{run_dir.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            tmp.mkdir(parents=True)
            res.atomic_write_text(tmp / "console.log", log.console)
            result = job_result(log, meta, run_dir / "console.log")
            res.write_results(result, tmp / "results.json")
            write_reports([result], tmp)
            if run_dir.exists():
                shutil.rmtree(run_dir)
            os.rename(tmp, run_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        imported.append(result)
    from generator.merge import find_results
    everything = [res.read_results(p) for p in find_results(results_dir)]
    write_reports(everything, results_dir)
    return imported
