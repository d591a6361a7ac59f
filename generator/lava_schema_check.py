# SPDX-License-Identifier: GPL-2.0
"""Validate LAVA job definitions with LAVA's own schema (run by the system python).

    /usr/bin/python3 lava_schema_check.py JOB.yaml...

Debian's lava-common installs lava_common into the system python only, so
generator/lava.py runs this file there instead of importing it. It needs
nothing but lava_common and PyYAML (both Debian dependencies of
lava-common). Output: one JSON object per job on stdout,
{"path": ..., "ok": true|false, "error": "..."}; exit 0 when every job
validates, 1 when one does not, 3 when lava_common cannot be imported.
"""

import json
import sys


def main(paths: list[str]) -> int:
    try:
        import yaml
        from lava_common.schemas import validate  # type: ignore[import-not-found]
    except ImportError as err:
        print(json.dumps({"path": "", "ok": False, "error": f"cannot import lava_common: {err}"}))
        return 3
    worst = 0
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                job = yaml.safe_load(f)
            validate(job, strict=True)
            print(json.dumps({"path": path, "ok": True, "error": ""}))
        except Exception as err:  # noqa: BLE001 - voluptuous, YAML and OS errors alike
            print(json.dumps({"path": path, "ok": False, "error": f"{type(err).__name__}: {err}"}))
            worst = 1
    return worst


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
