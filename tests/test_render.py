# SPDX-License-Identifier: GPL-2.0
"""Catalog text is data: every template runs in jinja2's sandbox with StrictUndefined."""

from pathlib import Path

import jinja2.sandbox
import pytest
from gitstate import assert_one_line_error, make_repo, run_gen, snapshot

from generator import render
from generator.errors import UserError

FIXTURE = Path(__file__).parent / "data" / "fake_linux"
ALL_SITES = "[S1, S2, S2z, S3o, S3c, S4, P]"


def q(text: str) -> str:
    """TEXT as a single-quoted YAML scalar (a quote inside is written twice)."""
    return "'" + text.replace("'", "''") + "'"


def variant_yaml(name: str, subject: str = "mm: move the drain",
                 cover: str = "mm: a user variant") -> str:
    return (f"name: {name}\nsummary: s\nhistory: h\nsites: [S2]\n"
            f"cover: {{subject: {q(cover)}, rationale: r}}\n"
            f"commits:\n  - sites: {ALL_SITES}\n    subject: {q(subject)}\n"
            "    body: commit/move-drain.txt.j2\n    rationale: r\n")


def _gen_variant(tmp_path: Path, yaml_text: str, name: str):
    tree = make_repo(FIXTURE, tmp_path / "linux")
    cat = tmp_path / "cat"
    cat.mkdir()
    (cat / "v.yaml").write_text(yaml_text)
    before = snapshot(tree)
    run = run_gen("--variant", name, "--tree", str(tree), "--catalog", str(cat),
                  "--no-checkpatch", "--no-selftests", "--signoff", "A <a@b.org>", cwd=tmp_path)
    assert snapshot(tree) == before
    return run


def _popen(marker: Path) -> str:
    return f"touch {marker}"


@pytest.mark.parametrize("where", ["subject", "cover"])
def test_catalog_template_cannot_run_a_command(tmp_path: Path, where: str) -> None:
    marker = tmp_path / "marker"
    payload = "{{ cycler.__init__.__globals__.os.popen('" + _popen(marker) + "').read() }}"
    text = variant_yaml("evil", subject=payload) if where == "subject" else \
        variant_yaml("evil", cover=payload)
    run = _gen_variant(tmp_path, text, "evil")
    assert_one_line_error(run, "v.yaml")
    assert not marker.exists(), "a catalog template ran a shell command"
    assert not (tmp_path / "patches" / "evil").exists()


# Other ways out of a template: globals of other helpers, the object graph,
# format strings, and resource bombs. Each is refused, none runs or hangs.
ESCAPES = [
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ joiner.__init__.__globals__.os.popen('id').read() }}",
    "{{ namespace.__init__.__globals__.os.popen('id').read() }}",
    "{{ self.__init__.__globals__ }}",
    "{{ variant.__class__.__mro__[1].__subclasses__() }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ 'x'.format.__globals__ }}",
    "{{ '{0.__class__}'.format(variant) }}",
    "{{ 'a' * 100000000 }}",
    "{{ range(100000000) | list }}",
    "{{ 9 ** 9 ** 9 }}",
    "{{ 'x' | center(99999999999) }}",
    "{% for i in variant.sites %}{% endfor %}",
    "{% set x = 1 %}",
    "{% include 'cover-letter.txt.j2' %}",
    "{% macro m() %}{% endmacro %}",
]


@pytest.mark.parametrize("source", ESCAPES)
def test_inline_template_escapes_are_refused(source: str) -> None:
    from generator.catalog import load_catalog

    variant = load_catalog().variant("drain-per-range")
    with pytest.raises(UserError) as err:
        render.render_string(source, "v.yaml: commit 1 subject", variant=variant)
    assert "v.yaml: commit 1 subject" in err.value.line()


def test_file_templates_run_in_the_sandbox_too() -> None:
    from generator import selftests

    for env in (render.environment(), selftests._environment()):
        assert isinstance(env, jinja2.sandbox.SandboxedEnvironment)
        assert env.undefined is jinja2.StrictUndefined
        with pytest.raises(jinja2.sandbox.SecurityError):
            env.from_string("{{ cycler.__init__.__globals__ }}").render()


def test_undefined_in_the_cover_subject_is_an_error(tmp_path: Path) -> None:
    run = _gen_variant(tmp_path, variant_yaml("undef", cover="mm: {{ undefined }}"), "undef")
    assert_one_line_error(run, "cover subject", "'undefined' is undefined")
    assert not (tmp_path / "patches" / "undef").exists()


def test_cover_subject_is_rendered_with_the_variant(tmp_path: Path) -> None:
    run = _gen_variant(tmp_path, variant_yaml("rendered", cover="mm: {{ variant.name | upper }}"),
                       "rendered")
    assert run.returncode == 0, run.stderr
    cover = (tmp_path / "patches" / "rendered" / "0000-cover-letter.patch").read_text()
    assert "Subject: [PATCH 0/1] mm: RENDERED\n" in cover
