# SPDX-License-Identifier: GPL-2.0
"""The variant catalog: built-in entries, validation with file:line, user extension."""

import os
from pathlib import Path

import pytest
from gitstate import assert_one_line_error, run_gen

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
    # Names the results directory or --variants already use: series/ would be overwritten.
    (VALID.replace("name: my-variant", "name: series"), "name 'series' is reserved"),
    (VALID.replace("name: my-variant", "name: all"), "name 'all' is reserved"),
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


# -- values that land in mail headers: one printable line, bounded -----------

def _yaml_str(value: str) -> str:
    # A double-quoted YAML scalar can carry any character as an escape.
    escaped = "".join(c if c.isprintable() and c not in '"\\' else f"\\u{ord(c):04x}"
                      for c in value)
    return f'"{escaped}"'


@pytest.mark.parametrize("field, value, needle", [
    ("subject", "mm: cover\nCc: someone@example.org", "control character '\\n'"),
    ("subject", "mm: cover\rBcc: someone@example.org", "control character '\\r'"),
    ("subject", "mm: tab\there", "control character '\\t'"),
    ("subject", "mm: line\u2028separator", "U+2028"),
    ("subject", "mm: " + "x" * 72, "more than 75"),
    ("subject", "mm: nul\x00byte", "control character"),
    ("cover", "mm: cover\nCc: someone@example.org", "control character '\\n'"),
    ("cover", "mm: " + "y" * 80, "more than 75"),
    ("summary", "one\nX-Injected: yes", "control character '\\n'"),
    ("rationale", "text \x1b[31m red", "control character"),
])
def test_header_values_are_one_printable_line(tmp_path: Path, field: str, value: str,
                                              needle: str) -> None:
    text = {
        "subject": VALID.replace('subject: "mm: move the drain"', f"subject: {_yaml_str(value)}"),
        "cover": VALID.replace('subject: "mm: a user variant"', f"subject: {_yaml_str(value)}"),
        "summary": VALID.replace("summary: a user variant", f"summary: {_yaml_str(value)}"),
        "rationale": VALID.replace("  rationale: because", f"  rationale: {_yaml_str(value)}", 1),
    }[field]
    assert text != VALID
    with pytest.raises(UserError) as err:
        load_catalog([_write(tmp_path, text)])
    assert needle in err.value.line()
    assert f"{tmp_path / 'v.yaml'}:" in err.value.line()


@pytest.mark.parametrize("body", ["../../../etc/passwd", "kselftest/settings.j2",
                                  "/etc/passwd", "commit/no-such.txt.j2"])
def test_body_is_a_commit_template(tmp_path: Path, body: str) -> None:
    text = VALID.replace("body: commit/move-drain.txt.j2", f"body: {body}")
    with pytest.raises(UserError) as err:
        load_catalog([_write(tmp_path, text)])
    assert "body" in err.value.line()


# -- input files: bounded, regular, UTF-8, plain YAML -------------------------

def test_a_50_mb_catalog_is_refused_at_once(tmp_path: Path) -> None:
    cat = tmp_path / "cat"
    cat.mkdir()
    with open(cat / "huge.yaml", "w") as f:
        f.write("name: huge\nsummary: ")
        f.write("x" * (50 << 20))
        f.write("\n")
    # 30 s: today's parser needs minutes and gigabytes before it fails.
    run = run_gen("--list", "--catalog", str(cat), cwd=tmp_path, timeout=30)
    assert_one_line_error(run, str(cat / "huge.yaml"), "bytes, more than 65536")


@pytest.mark.parametrize("encoding", ["latin-1", "utf-16", "bytes"])
def test_a_catalog_that_is_not_utf8_is_one_line(tmp_path: Path, encoding: str) -> None:
    cat = tmp_path / "cat"
    cat.mkdir()
    text = VALID.replace("summary: a user variant", "summary: José's variant")
    data = b"\xff\xfe\xfd" + text.encode() if encoding == "bytes" else text.encode(encoding)
    (cat / "v.yaml").write_bytes(data)
    run = run_gen("--list", "--catalog", str(cat), cwd=tmp_path)
    assert_one_line_error(run, str(cat / "v.yaml"), "not UTF-8", "save the file as UTF-8")


def test_a_fifo_in_the_catalog_does_not_hang(tmp_path: Path) -> None:
    cat = tmp_path / "cat"
    cat.mkdir()
    os.mkfifo(cat / "pipe.yaml")
    run = run_gen("--list", "--catalog", str(cat), cwd=tmp_path, timeout=30)
    assert_one_line_error(run, str(cat / "pipe.yaml"), "FIFO")


@pytest.mark.parametrize("kind", ["directory", "device", "dangling-link"])
def test_other_file_types_are_one_line(tmp_path: Path, kind: str) -> None:
    cat = tmp_path / "cat"
    cat.mkdir()
    target = cat / "v.yaml"
    if kind == "directory":
        target.mkdir()
    elif kind == "device":
        target.symlink_to("/dev/null")
    else:
        target.symlink_to(tmp_path / "nowhere.yaml")
    run = run_gen("--list", "--catalog", str(cat), cwd=tmp_path, timeout=30)
    assert_one_line_error(run, str(target))


@pytest.mark.parametrize("text, needle", [
    ("[" * 20000 + "]" * 20000, "nested too deeply"),
    ("name: a\nsummary: \x01control\n", "malformed YAML"),
    (("a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
      "c: [*b, *b, *b, *b, *b, *b, *b, *b]\n"), "aliases"),
])
def test_hostile_yaml_is_one_line(tmp_path: Path, text: str, needle: str) -> None:
    cat = tmp_path / "cat"
    cat.mkdir()
    (cat / "v.yaml").write_text(text)
    run = run_gen("--list", "--catalog", str(cat), cwd=tmp_path, timeout=60)
    assert_one_line_error(run, str(cat / "v.yaml"), needle)


# -- user catalogs never silently replace a variant ---------------------------

def test_two_user_files_with_one_name_are_refused(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "one.yaml").write_text(VALID)
    (b / "two.yaml").write_text(VALID.replace("summary: a user variant", "summary: other"))
    with pytest.raises(UserError) as err:
        load_catalog([a, b])
    assert "my-variant" in err.value.line()
    assert str(a / "one.yaml") in err.value.line() and str(b / "two.yaml") in err.value.line()
    # Both in one directory, too.
    (a / "two.yaml").write_text(VALID)
    with pytest.raises(UserError) as err:
        load_catalog([a])
    assert str(a / "one.yaml") in err.value.line() and str(a / "two.yaml") in err.value.line()


def test_a_user_file_named_like_a_builtin_needs_replaces(tmp_path: Path) -> None:
    shadow = VALID.replace("name: my-variant", "name: drain-per-range")
    (tmp_path / "v.yaml").write_text(shadow)
    with pytest.raises(UserError) as err:
        load_catalog([tmp_path])
    assert "drain-per-range" in err.value.line()
    assert "drain-per-range.yaml" in err.value.line()
    assert "replaces: drain-per-range" in err.value.line()
    (tmp_path / "v.yaml").write_text(shadow + "replaces: drain-per-range\n")
    catalog = load_catalog([tmp_path])
    assert catalog.variants["drain-per-range"].sites == {"S2"}
    assert catalog.variants["drain-per-range"].source == str(tmp_path / "v.yaml")


@pytest.mark.parametrize("extra, needle", [
    ("replaces: drain-per-range\n", "not this variant's name"),
    ("replaces: my-variant\n", "names no built-in"),
])
def test_replaces_must_name_the_builtin_it_shadows(tmp_path: Path, extra: str, needle: str) -> None:
    with pytest.raises(UserError) as err:
        load_catalog([_write(tmp_path, VALID + extra)])
    assert needle in err.value.line()


def test_a_builtin_replaced_twice_is_refused(tmp_path: Path) -> None:
    shadow = VALID.replace("name: my-variant", "name: no-drain") + "replaces: no-drain\n"
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "v.yaml").write_text(shadow)
    with pytest.raises(UserError) as err:
        load_catalog([tmp_path / "a", tmp_path / "b"])
    assert str(tmp_path / "a" / "v.yaml") in err.value.line()
    assert str(tmp_path / "b" / "v.yaml") in err.value.line()


def test_the_same_file_reached_twice_counts_once(tmp_path: Path) -> None:
    _write(tmp_path, VALID)
    (tmp_path.parent / f"{tmp_path.name}-link").symlink_to(tmp_path)
    catalog = load_catalog([tmp_path, tmp_path, tmp_path.parent / f"{tmp_path.name}-link"])
    assert "my-variant" in catalog.variants
