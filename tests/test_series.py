# SPDX-License-Identifier: GPL-2.0
"""The series as mail: byte-identical under any git config, one identity and fixed dates,
and every header value one printable line."""

import os
from pathlib import Path

import pytest
from gitstate import assert_one_line_error, git, make_repo, run_gen, snapshot
from test_render import q

FIXTURE = Path(__file__).parent / "data" / "fake_linux"
SIGNOFF = "A Dev <a@dev.org>"
FIXED = {"SOURCE_DATE_EPOCH": "1600000000"}
# Only the test's own configuration: no ~/.gitconfig of the machine.
NEUTRAL = {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1", **FIXED}

# Every option we know of that changes what `git format-patch` (or the commit
# objects under it) writes. Set in the global config, in the tree's own
# .git/config and through GIT_CONFIG_* in the environment.
HOSTILE = {
    "diff.context": "0", "diff.interHunkContext": "20", "diff.noprefix": "true",
    "diff.mnemonicPrefix": "true", "diff.algorithm": "patience", "diff.indentHeuristic": "false",
    "diff.renames": "copies", "diff.suppressBlankEmpty": "true", "diff.relative": "true",
    "diff.srcPrefix": "x/", "diff.dstPrefix": "y/", "diff.statGraphWidth": "5",
    "diff.external": "false", "diff.orderFile": "/dev/null",
    "core.abbrev": "20", "core.quotePath": "false", "core.attributesFile": "/dev/null",
    "format.suffix": ".txt", "format.thread": "shallow", "format.signature": "EVIL SIGNATURE",
    "format.headers": "X-Evil: yes", "format.cc": "cc@evil.example", "format.to": "to@evil.example",
    "format.from": "Evil <from@evil.example>", "format.subjectPrefix": "RFC",
    "format.numbered": "false", "format.signOff": "true", "format.coverLetter": "false",
    "format.outputDirectory": "elsewhere", "format.filenameMaxLength": "12",
    "format.notes": "true", "format.attach": "true", "format.forceInBodyFrom": "true",
    "format.encodeEmailHeaders": "false", "format.useAutoBase": "whenAble",
    "format.coverFromDescription": "subject", "format.signatureFile": "/etc/hostname",
    "i18n.commitEncoding": "ISO-8859-1", "i18n.logOutputEncoding": "ISO-8859-1",
    "log.showSignature": "true", "log.decorate": "full", "log.mailmap": "true",
    "mailmap.file": "/dev/null", "color.ui": "always", "notes.displayRef": "refs/notes/*",
    "grep.lineNumber": "true", "grep.column": "true", "grep.patternType": "fixed",
    "grep.fullName": "true", "submodule.recurse": "true", "core.pager": "false",
    "user.name": "Config User", "user.email": "config@evil.example",
}


@pytest.fixture
def fake_tree(tmp_path: Path) -> Path:
    return make_repo(FIXTURE, tmp_path / "linux")


def _series(out: Path, variant: str) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / variant).glob("*.patch"))}


def _gen(tree: Path, out: Path, variant: str, cwd: Path, env: dict[str, str]):
    return run_gen("--variant", variant, "--tree", str(tree), "--out", str(out),
                   "--signoff", SIGNOFF, "--no-checkpatch", "--no-selftests", cwd=cwd, env=env)


def _hostile_setup(tree: Path, tmp_path: Path) -> dict[str, str]:
    global_config = tmp_path / "hostile.gitconfig"
    global_config.write_text("".join(
        f"[{k.rsplit('.', 1)[0]}]\n\t{k.rsplit('.', 1)[1]} = {v}\n" for k, v in HOSTILE.items()))
    for key, value in HOSTILE.items():
        git(tree, "config", key, value)
    # Attributes the user keeps out of the tree: a diff driver for every .c file.
    (tree / ".git" / "info").mkdir(exist_ok=True)
    (tree / ".git" / "info" / "attributes").write_text("*.c diff=evil\n")
    git(tree, "config", "diff.evil.xfuncname", "^(EVIL).*$")
    env = {"GIT_CONFIG_GLOBAL": str(global_config), "GIT_CONFIG_NOSYSTEM": "0",
           "GIT_CONFIG_COUNT": "2", "GIT_CONFIG_KEY_0": "diff.context", "GIT_CONFIG_VALUE_0": "0",
           "GIT_CONFIG_KEY_1": "format.headers", "GIT_CONFIG_VALUE_1": "X-Env: yes",
           "GIT_CONFIG_PARAMETERS": "'diff.noprefix'='true'", "GIT_DIFF_OPTS": "--unified=0",
           "EMAIL": "env@evil.example", **FIXED}
    return env


@pytest.mark.parametrize("variant", ["drain-per-range", "drain-per-zone", "drain-in-callers"])
def test_series_is_the_same_under_a_hostile_git_config(fake_tree: Path, tmp_path: Path,
                                                       variant: str) -> None:
    neutral = _gen(fake_tree, tmp_path / "neutral", variant, tmp_path, NEUTRAL)
    assert neutral.returncode == 0, neutral.stderr
    expected = _series(tmp_path / "neutral", variant)
    assert len(expected) >= 3

    env = _hostile_setup(fake_tree, tmp_path)
    before = snapshot(fake_tree)
    hostile = _gen(fake_tree, tmp_path / "hostile", variant, tmp_path, env)
    assert hostile.returncode == 0, hostile.stderr
    assert snapshot(fake_tree) == before
    got = _series(tmp_path / "hostile", variant)
    assert list(got) == list(expected)
    for name in expected:
        assert got[name] == expected[name], name
    assert not (tmp_path / "elsewhere").exists()

    # And it applies: git am in a fresh clone of the fixture (neutral config).
    other = make_repo(FIXTURE, tmp_path / "other")
    patches = [str(tmp_path / "hostile" / variant / n) for n in got if not n.startswith("0000-")]
    git(other, "am", "-q", *patches, env={**NEUTRAL, "GIT_COMMITTER_NAME": "t",
                                          "GIT_COMMITTER_EMAIL": "t@e"})
    log = git(other, "log", "--format=%an <%ae>|%s", f"-{len(patches)}", env=NEUTRAL)
    assert all(line.startswith(SIGNOFF + "|") for line in log.splitlines()), log


def _headers(text: str) -> dict[str, str]:
    head = text.split("\n\n", 1)[0]
    return {line.split(":", 1)[0]: line.split(":", 1)[1].strip()
            for line in head.splitlines()[1:] if ":" in line and not line.startswith(" ")}


def test_cover_letter_has_the_series_identity_and_fixed_date(fake_tree: Path,
                                                             tmp_path: Path) -> None:
    env = {**NEUTRAL, "GIT_CONFIG_GLOBAL": str(tmp_path / "g")}
    (tmp_path / "g").write_text("[user]\n\tname = Config Person\n\temail = config@example.org\n")
    runs = []
    for n in range(2):
        run = _gen(fake_tree, tmp_path / f"out{n}", "drain-per-range", tmp_path, env)
        assert run.returncode == 0, run.stderr
        runs.append(_series(tmp_path / f"out{n}", "drain-per-range"))
    assert runs[0] == runs[1], "two runs with fixed dates differ"
    cover, *patches = runs[0].values()
    cover_headers = _headers(cover.decode())
    assert cover_headers["From"] == SIGNOFF
    assert cover_headers["Date"] == "Sun, 13 Sep 2020 12:26:40 +0000"
    for patch in patches:
        assert _headers(patch.decode())["From"] == SIGNOFF


def test_cover_letter_identity_follows_git_without_signoff(fake_tree: Path,
                                                           tmp_path: Path) -> None:
    # The identity git itself signs off with: GIT_COMMITTER_* beat user.* in the config.
    env = {**NEUTRAL, "GIT_CONFIG_GLOBAL": str(tmp_path / "g"),
           "GIT_COMMITTER_NAME": "Env Committer", "GIT_COMMITTER_EMAIL": "env@example.org"}
    (tmp_path / "g").write_text("[user]\n\tname = Config Person\n\temail = config@example.org\n")
    run = run_gen("--variant", "drain-per-range", "--tree", str(fake_tree), "--no-checkpatch",
                  "--no-selftests", cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr
    cover, *patches = _series(tmp_path / "patches", "drain-per-range").values()
    assert _headers(cover.decode())["From"] == "Env Committer <env@example.org>"
    for patch in patches:
        text = patch.decode()
        assert _headers(text)["From"] == "Env Committer <env@example.org>"
        assert "Signed-off-by: Env Committer <env@example.org>" in text


def test_gen_run_series_are_byte_identical(fake_tree: Path, tmp_path: Path) -> None:
    """gen run's fixed timestamp: the whole series, cover included, is the same every time."""
    import time

    from generator.generate import GenerateRequest, generate

    outs = []
    for n in range(2):
        series = generate(GenerateRequest(fake_tree, "HEAD", (), "drain-per-zone",
                                          tmp_path / f"run{n}", SIGNOFF, 1_700_000_000))
        assert series.cover is not None
        outs.append({p.name: p.read_bytes() for p in (series.cover, *series.patches)})
        time.sleep(1.1)  # a cover dated "now" would differ
    assert outs[0] == outs[1]


# -- every value that lands in a header or trailer ------------------------------

@pytest.mark.parametrize("signoff, needle", [
    ("A Dev <a@dev.org>\nCc: victim@example.org", "--signoff"),
    ("A Dev\n<a@dev.org>", "--signoff"),
    ("A\nDev <a@dev.org>", "--signoff"),
    ("A Dev <a@dev.org>\r\nBcc: victim@example.org", "--signoff"),
    ("A\tDev <a@dev.org>", "control character"),
    ("A\u2028Dev <a@dev.org>", "U+2028"),
    ("A\x7fDev <a@dev.org>", "U+007F"),
    ("A" * 200 + " <a@dev.org>", "more than 128"),
    ("A Dev <a@dev.org,victim@example.org>", "not a mail address"),
    ("A Dev <a@dev.org> trailing", "--signoff"),
])
def test_signoff_is_one_printable_line(fake_tree: Path, tmp_path: Path, signoff: str,
                                       needle: str) -> None:
    before = snapshot(fake_tree)
    run = run_gen("--variant", "drain-per-range", "--tree", str(fake_tree), "--signoff", signoff,
                  "--no-checkpatch", "--no-selftests", cwd=tmp_path, env=NEUTRAL)
    assert_one_line_error(run, needle)
    assert snapshot(fake_tree) == before
    assert not (tmp_path / "patches").exists()


@pytest.mark.parametrize("name", ["Ctl\x01Char", "Line\u2028Sep", "X" * 200])
def test_git_identity_is_checked_like_signoff(fake_tree: Path, tmp_path: Path, name: str) -> None:
    env = {**NEUTRAL, "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": "c@example.org"}
    run = run_gen("--variant", "drain-per-range", "--tree", str(fake_tree), "--no-checkpatch",
                  "--no-selftests", cwd=tmp_path, env=env)
    assert_one_line_error(run, "your git identity")


def _catalog(tmp_path: Path, subject: str, cover: str = "mm: a user variant") -> Path:
    cat = tmp_path / "cat"
    cat.mkdir(exist_ok=True)
    (cat / "v.yaml").write_text(
        f"name: hdr\nsummary: s\nhistory: h\nsites: [S2]\ncover: {{subject: {q(cover)}, "
        f"rationale: r}}\ncommits:\n  - sites: [S1, S2, S2z, S3o, S3c, S4, P]\n"
        f"    subject: {q(subject)}\n    body: commit/move-drain.txt.j2\n    rationale: r\n")
    return cat


@pytest.mark.parametrize("subject, cover, needle", [
    # Templates that render to more than one line, or too long, or to nothing.
    ("mm: {{ 'a\\nCc: victim@example.org' }}", "mm: c", "commit 1"),
    ("mm: {{ variant.summary * 80 }}", "mm: c", "75"),
    ("{{ '' }}", "mm: c", "is empty"),
    ("mm: ok", "mm: {{ 'c\\nCc: victim@example.org' }}", "cover subject"),
    ("mm: ok", "mm: {{ variant.summary * 80 }}", "more than 75"),
])
def test_rendered_subjects_are_one_line(fake_tree: Path, tmp_path: Path, subject: str,
                                        cover: str, needle: str) -> None:
    cat = _catalog(tmp_path, subject, cover)
    run = run_gen("--variant", "hdr", "--tree", str(fake_tree), "--catalog", str(cat),
                  "--signoff", SIGNOFF, "--no-checkpatch", "--no-selftests", cwd=tmp_path,
                  env=NEUTRAL)
    assert_one_line_error(run, needle)
    assert not (tmp_path / "patches" / "hdr").exists()


def test_non_ascii_cover_subject_is_encoded_like_git_does(fake_tree: Path, tmp_path: Path) -> None:
    cat = _catalog(tmp_path, "mm: move the drain", "mm: drain für José")
    run = run_gen("--variant", "hdr", "--tree", str(fake_tree), "--catalog", str(cat),
                  "--signoff", "José Dev <jose@dev.org>", "--no-checkpatch", "--no-selftests",
                  cwd=tmp_path, env=NEUTRAL)
    assert run.returncode == 0, run.stderr
    cover = (tmp_path / "patches" / "hdr" / "0000-cover-letter.patch").read_text()
    head = cover.split("\n\n", 1)[0]
    assert head.isascii(), head
    assert "Subject: =?utf-8?q?" in head
    assert "From: =?utf-8?q?Jos=C3=A9_Dev?= <jose@dev.org>" in head
    import email

    message = email.message_from_string(cover.split("\n", 1)[1])
    subject = str(email.header.make_header(email.header.decode_header(message["Subject"])))
    assert subject == "[PATCH 0/1] mm: drain für José"
    sender = str(email.header.make_header(email.header.decode_header(message["From"])))
    assert sender == "José Dev <jose@dev.org>"


@pytest.mark.parametrize("rationale, needle", [
    ("From: Evil <evil@example.org> wrote this", "mail header line"),
    ("Subject: another subject", "mail header line"),
    ("word " * 14 + "--- and the rest is taken for the patch", "where git am would end"),
    ("word " * 14 + "diff --git a/x b/x", "where git am would end"),
])
def test_commit_bodies_survive_git_am(fake_tree: Path, tmp_path: Path, rationale: str,
                                      needle: str) -> None:
    cat = _catalog(tmp_path, "mm: move the drain")
    text = (cat / "v.yaml").read_text().replace("    rationale: r\n",
                                                  f"    rationale: '{rationale}'\n")
    (cat / "v.yaml").write_text(text)
    run = run_gen("--variant", "hdr", "--tree", str(fake_tree), "--catalog", str(cat),
                  "--signoff", SIGNOFF, "--no-checkpatch", "--no-selftests", cwd=tmp_path,
                  env=NEUTRAL)
    assert_one_line_error(run, needle)


@pytest.mark.parametrize("name", [b"new\nline", b"caf\xe9", b'"quoted"', b"back\\slash"])
def test_any_bytes_a_tree_path_may_hold(tmp_path: Path, name: bytes) -> None:
    """The scratch repository borrows the tree's objects whatever its path holds."""
    where = Path(os.fsdecode(os.fsencode(tmp_path) + b"/" + name))
    tree = make_repo(FIXTURE, where)
    run = _gen(tree, tmp_path / "out", "drain-per-range", tmp_path, NEUTRAL)
    assert run.returncode == 0, run.stderr
    assert len(_series(tmp_path / "out", "drain-per-range")) == 4


@pytest.mark.parametrize("epoch, date", [("1", "Thu, 1 Jan 1970 00:00:01 +0000"),
                                         ("4102444800", "Fri, 1 Jan 2100 00:00:00 +0000")])
def test_any_fixed_date_reaches_the_cover_letter(fake_tree: Path, tmp_path: Path, epoch: str,
                                                 date: str) -> None:
    run = _gen(fake_tree, tmp_path / "out", "drain-per-range", tmp_path,
               {**NEUTRAL, "SOURCE_DATE_EPOCH": epoch})
    assert run.returncode == 0, run.stderr
    cover, first, *_ = _series(tmp_path / "out", "drain-per-range").values()
    assert _headers(cover.decode())["Date"] == date
    assert _headers(first.decode())["Date"] == date  # the first commit's date
