# SPDX-License-Identifier: GPL-2.0
"""KCIDB v5 report (JSON, ready for kcidb-submit): one checkout per variant, one build, leaf tests.

Built as a plain dict without kcidb-io (a test-only dependency); validate()
imports it lazily. Schema rules followed here (ecosystem.md section 1): ids
'<origin>:...', dot-separated test paths of [a-zA-Z0-9_-], URLs as URIs
(file:// for local files), no null values anywhere.
"""

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from generator.errors import UserError
from generator.results import RunResult, StageStatus, atomic_write_text, sanitize

ORIGIN = "drainlab"
# kcidb-io 141 LATEST; validate() checks this against the installed schema.
SCHEMA_MAJOR, SCHEMA_MINOR = 5, 3
LOG_EXCERPT_MAX = 16384
_HEX40 = re.compile(r"^[0-9a-f]{40}$")

_BUILD_STATUS = {
    StageStatus.OK: "PASS",
    StageStatus.FAIL: "FAIL",
    StageStatus.ERROR: "ERROR",
    StageStatus.TIMEOUT: "ERROR",
    StageStatus.SKIPPED: "MISS",
}


def patchset_hash(patch_sha256s: Sequence[str]) -> str:
    """sha256 over the newline-terminated sha256 of each patch in order; "" for none."""
    if not patch_sha256s:
        return ""
    return hashlib.sha256("".join(f"{h}\n" for h in patch_sha256s).encode()).hexdigest()


def file_url(path: str) -> str | None:
    return Path(path).resolve().as_uri() if path else None


def _prune(value: Any) -> Any:
    """Drop None values (KCIDB allows no nulls) and the empty objects they leave."""
    if isinstance(value, dict):
        out = {k: _prune(v) for k, v in value.items() if v is not None}
        return {k: v for k, v in out.items() if v != {}}
    if isinstance(value, (list, tuple)):
        return [_prune(v) for v in value if v is not None]
    return value


def _key(run: RunResult) -> str:
    commit = run.meta.base_commit[:12] or "nocommit"
    return f"{sanitize(run.meta.variant)}:{commit}"


def checkout_id(run: RunResult) -> str:
    return f"{ORIGIN}:checkout:{_key(run)}"


def build_id(run: RunResult) -> str:
    return f"{ORIGIN}:build:{_key(run)}:{run.meta.arch}:{run.meta.config.hash[:12] or 'noconfig'}"


def _checkout(run: RunResult) -> dict[str, Any]:
    meta = run.meta
    apply = run.stage("apply")
    return {
        "id": checkout_id(run),
        "origin": ORIGIN,
        "tree_name": Path(meta.tree).name or None,
        "git_commit_hash": meta.base_commit if _HEX40.match(meta.base_commit) else None,
        "git_commit_name": meta.kernel_version or None,
        "patchset_files": [{"name": p.name.replace("/", "_"), "url": file_url(p.path)}
                           for p in meta.patches if p.path],
        "patchset_hash": patchset_hash([p.sha256 for p in meta.patches]),
        "start_time": meta.start_time or None,
        "valid": apply is None or apply.status == StageStatus.OK,
        "misc": {"variant": meta.variant, "tree": meta.tree or None,
                 "base_commit": meta.base_commit or None,
                 "patches": [p.name for p in meta.patches]},
    }


def _build(run: RunResult) -> dict[str, Any]:
    meta = run.meta
    stage = run.stage("build")
    config = meta.artifacts.get("config", "")
    return {
        "id": build_id(run),
        "origin": ORIGIN,
        "checkout_id": checkout_id(run),
        "architecture": meta.arch,
        "config_name": meta.config.name or "drainlab.config",
        "config_url": file_url(config),
        "start_time": meta.start_time or None,
        "duration": stage.seconds if stage else None,
        "status": _BUILD_STATUS[stage.status] if stage else None,
        "log_url": file_url(meta.artifacts.get("build_log", "")),
        "misc": {"variant": meta.variant, "config_hash": meta.config.hash or None,
                 "config_options": list(meta.config.options)},
    }


def _tests(run: RunResult) -> list[dict[str, Any]]:
    meta = run.meta
    excerpt = "\n".join(run.console_tail)[-LOG_EXCERPT_MAX:].replace("\0", "")
    out = []
    for point in run.points:
        bad = point.status in ("FAIL", "ERROR")
        out.append({
            "id": f"{ORIGIN}:test:{_key(run)}:t{meta.trial}:{point.path}",
            "origin": ORIGIN,
            "build_id": build_id(run),
            "path": sanitize_path(point.path),
            "status": point.status,
            "start_time": meta.start_time or None,
            "duration": point.duration_s,
            "log_url": file_url(meta.artifacts.get("console_log", "")),
            "log_excerpt": excerpt if bad and excerpt else None,
            "environment": {"comment": " ".join(meta.qemu_cmdline) or None,
                            "misc": {"accel": meta.accel}},
            "misc": {"variant": meta.variant, "trial": meta.trial,
                     "run_status": run.status.value, "message": point.message or None,
                     "operations": len(point.metrics)},
        })
    return out


def sanitize_path(path: str) -> str:
    """A KCIDB test path: components of [a-zA-Z0-9_-] joined by dots, no empty ones."""
    return ".".join(sanitize(c) for c in path.split(".") if c.strip())


def kcidb_report(runs: Sequence[RunResult]) -> dict[str, Any]:
    """The report for a set of runs. Runs sharing variant and base commit share
    a checkout; runs sharing also arch and config share a build."""
    checkouts: dict[str, dict[str, Any]] = {}
    builds: dict[str, dict[str, Any]] = {}
    tests: list[dict[str, Any]] = []
    for run in runs:
        checkouts.setdefault(checkout_id(run), _checkout(run))
        builds.setdefault(build_id(run), _build(run))
        tests.extend(_tests(run))
    report: dict[str, Any] = _prune({
        "version": {"major": SCHEMA_MAJOR, "minor": SCHEMA_MINOR},
        "checkouts": list(checkouts.values()),
        "builds": list(builds.values()),
        "tests": tests,
    })
    return report


def validate(report: dict[str, Any]) -> None:
    """Check report against the installed kcidb-io schema.

    Raise: UserError when kcidb-io is missing or the report is invalid.
    """
    try:
        import jsonschema
        import kcidb_io
    except ImportError as err:
        raise UserError("kcidb-io is not installed",
                        "pip install 'drainlab[test]' (or kcidb-io==141)") from err
    try:
        kcidb_io.schema.LATEST.validate(report)
    except jsonschema.exceptions.ValidationError as err:
        where = "/".join(str(p) for p in err.absolute_path)
        raise UserError(f"invalid KCIDB report at {where or 'top level'}: {err.message}") from err


def write_kcidb(runs: Sequence[RunResult], path: Path) -> Path:
    atomic_write_text(path, json.dumps(kcidb_report(runs), indent=2) + "\n")
    return path
