# SPDX-License-Identifier: GPL-2.0
"""The variant catalog: built-in entries, validation with file:line, user extension."""

from pathlib import Path

import pytest

from generator.catalog import expected_drains, load_catalog
from generator.errors import UserError

BUILTIN = {"drain-per-block": {"S1"}, "drain-again": {"S1", "S4"},
           "drain-per-range": {"S2", "S4"}, "drain-per-zone": {"S2z", "S4"},
           "drain-in-callers": {"S3o", "S3c", "S4"}, "pcp-disable": {"P", "S3c"},
           "no-drain": set()}


def test_builtin_variants_declare_the_issue_table() -> None:
    catalog = load_catalog()
    assert {name: set(v.sites) for name, v in catalog.variants.items()} == BUILTIN


def test_expected_offline_drains_follow_the_sites() -> None:
    catalog = load_catalog()
    drains = {n: expected_drains(v.sites, catalog.sites, "offline")
              for n, v in catalog.variants.items()}
    assert drains == {"drain-per-block": 64, "drain-again": 64, "drain-per-range": 1,
                      "drain-per-zone": 1, "drain-in-callers": 1, "pcp-disable": 1,
                      "no-drain": 0}


VALID = """\
name: my-variant
summary: a user variant
history: test
sites: [S2]
cover:
  subject: "mm: a user variant"
  rationale: because
commits:
  - sites: [S1, S2, S2z, S3o, S3c, S4, P]
    subject: "mm: move the drain"
    body: commit/move-drain.txt.j2
    rationale: because
"""


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "v.yaml").write_text(text)
    return tmp_path


def test_user_directory_adds_a_variant_without_python(tmp_path: Path) -> None:
    catalog = load_catalog([_write(tmp_path, VALID)])
    assert catalog.variants["my-variant"].sites == {"S2"}


@pytest.mark.parametrize("text, needle", [
    (VALID.replace("sites: [S2]", "sites: [S9]"), "unknown site 'S9'"),
    (VALID.replace("name: my-variant", "name: ../evil"), "invalid name"),
    (VALID.replace("  - sites: [S1, S2, S2z, S3o, S3c, S4, P]", "  - sites: [S1]"),
     "cover every site exactly once"),
    (VALID + "colour: blue\n", "unknown key(s) colour"),
    (VALID.replace("history: test\n", ""), "'history' must be a non-empty string"),
])
def test_invalid_entries_name_file_and_line(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(UserError) as err:
        load_catalog([_write(tmp_path, text)])
    assert needle in err.value.line()
    assert f"{tmp_path / 'v.yaml'}:" in err.value.line()


def test_malformed_yaml_reports_file_and_line(tmp_path: Path) -> None:
    bad = VALID.replace("cover:\n", "cover: [\n")
    with pytest.raises(UserError) as err:
        load_catalog([_write(tmp_path, bad)])
    assert "malformed YAML" in err.value.line()
    assert f"{tmp_path / 'v.yaml'}:" in err.value.line()


def test_yaml_is_loaded_safely(tmp_path: Path) -> None:
    evil = VALID.replace("summary: a user variant",
                         "summary: !!python/object/apply:os.system ['touch pwned']")
    with pytest.raises(UserError) as err:
        load_catalog([_write(tmp_path, evil)])
    assert "malformed YAML" in err.value.line()
    assert not (Path.cwd() / "pwned").exists()
