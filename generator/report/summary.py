# SPDX-License-Identifier: GPL-2.0
"""summary.json: the Comparison as JSON (machine-readable twin of report.txt)."""

import dataclasses
import json
import math
from typing import Any

from generator.report.model import Comparison

SUMMARY_VERSION = 1


def _plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        if hasattr(obj, "iqr"):
            out["iqr"] = obj.iqr
        return out
    if isinstance(obj, (list, tuple)):
        return [_plain(x) for x in obj]
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, float) and not math.isfinite(obj):
        return None  # JSON has no inf/nan
    return obj


def summary_json(cmp: Comparison) -> str:
    return json.dumps({"summary_version": SUMMARY_VERSION, **_plain(cmp)}, indent=1) + "\n"
