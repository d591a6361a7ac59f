# SPDX-License-Identifier: GPL-2.0
"""The wheel ships the templates, catalog and config data the package reads at run time."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_carries_templates_and_data(tmp_path: Path) -> None:
    src = tmp_path / "src"  # pip builds in-tree: keep build/ out of the checkout
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for name in ("generator", "templates"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path),
                    str(src)], check=True, capture_output=True, cwd=tmp_path)
    (wheel,) = tmp_path.glob("drainlab-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    wanted = [f"generator/templates/{p.relative_to(ROOT / 'templates')}"
              for p in (ROOT / "templates").rglob("*.j2")]
    wanted += [f"generator/{p.relative_to(ROOT / 'generator')}"
               for pattern in ("catalog/*.yaml", "*.yaml", "kconfig/*.config")
               for p in (ROOT / "generator").glob(pattern)]
    wanted += ["generator/report/kcidb.py", "generator/cli.py", "generator/bundle/mbox.py"]
    assert len(wanted) > 25
    assert not [w for w in wanted if w not in names]
