# SPDX-License-Identifier: GPL-2.0
"""bundle/: the review tarball, its mboxes (read by b4, offline), and
refusing untrusted tarballs."""

import io
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from generator.bundle import mbox, tarball, write_bundle
from generator.errors import UserError
from tests.conftest import need_tool
from tests.gitstate import assert_one_line_error, run_gen

DATA = Path(__file__).parent / "data" / "results-trials"


def _extract(tar: Path, dest: Path) -> Path:
    return tarball.safe_extract(tar, dest) / "drainlab-bundle"


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("bundle")
    out = write_bundle([DATA], tmp / "b.tar.gz")
    return _extract(out, tmp / "x")


def test_bundle_layout(bundle_dir: Path) -> None:
    files = {str(p.relative_to(bundle_dir)) for p in bundle_dir.rglob("*") if p.is_file()}
    for variant in ("drain-per-block", "drain-per-range", "pcp-disable"):
        for trial in range(1, 6):
            assert f"results/{variant}/trial-{trial}/results.json" in files
    assert {"README.txt", "report/report.txt", "report/report.md", "report/report.html",
            "report/summary.json", "report/plots/drain-time.png",
            "series/drain-per-block.mbox", "series/drain-per-range.mbox",
            "range-diff/drain-per-block.txt"} <= files
    # pcp-disable is the tree's own placement: an empty series, so no mbox.
    assert "series/pcp-disable.mbox" not in files


def test_readme_reproduces_every_number(bundle_dir: Path) -> None:
    readme = (bundle_dir / "README.txt").read_text()
    assert "--trials 5" in readme and "--seed 9" in readme and "--profile quick" in readme
    assert "--variants drain-per-block,drain-per-range,pcp-disable" in readme
    assert re.search(r"base commit: [0-9a-f]{40}", readme)
    assert re.search(r"kernel config sha256: [0-9a-f]{64}", readme)
    assert "qemu-system-x86_64" in readme and "tool: drainlab gen " in readme
    assert (bundle_dir / "report/report.txt").read_text().rstrip() in readme


def test_mbox_threading_and_trailers(bundle_dir: Path) -> None:
    text = (bundle_dir / "series/drain-per-block.mbox").read_text()
    ids = re.findall(r"^Message-Id: (<[^>]+>)$", text, re.MULTILINE)
    assert len(ids) == len(set(ids)) == 1 + len(re.findall(r"^Subject: \[PATCH [1-9]", text, re.MULTILINE))
    assert re.findall(r"^In-Reply-To: (<[^>]+>)$", text, re.MULTILINE) == [ids[0]] * (len(ids) - 1)
    assert re.findall(r"^References: (<[^>]+>)$", text, re.MULTILINE) == [ids[0]] * (len(ids) - 1)
    cover = text.split("\nFrom mboxrd@z", 1)[0]
    assert re.search(r"^base-commit: [0-9a-f]{40}\nchange-id: \d{8}-drain-per-block-[0-9a-f]{12}$",
                     cover, re.MULTILINE)
    assert "drain-per-block vs pcp-disable (baseline)" in cover


def test_mbox_is_deterministic(tmp_path: Path) -> None:
    src = DATA / "series" / "drain-per-range"
    a = mbox.write_mbox("drain-per-range", src, "table\n", tmp_path / "a.mbox")
    b = mbox.write_mbox("drain-per-range", src, "table\n", tmp_path / "b.mbox")
    assert a is not None and b is not None and a.message_ids == b.message_ids
    assert (tmp_path / "a.mbox").read_bytes() == (tmp_path / "b.mbox").read_bytes()


def _b4(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    b4 = need_tool("b4") if shutil.which("b4") else str(Path(os.sys.executable).with_name("b4"))
    return subprocess.run([b4, "-n", "--offline-mode", *args], cwd=cwd, capture_output=True,
                          text=True, env={**os.environ, "HOME": str(cwd)}, timeout=120, check=False)


@pytest.mark.realtree
@pytest.mark.parametrize("variant", ["drain-per-block", "drain-per-range"])
def test_b4_am_applies_the_mbox_to_a_clean_clone(real_tree: Path, bundle_dir: Path,
                                                  tmp_path: Path, variant: str) -> None:
    box = bundle_dir / "series" / f"{variant}.mbox"
    base = re.search(r"^base-commit: ([0-9a-f]{40})$", box.read_text(), re.MULTILINE)
    assert base is not None
    clone = tmp_path / "clone"
    # A sparse clone of the base (mm/ only, what the series touch): seconds, not minutes.
    subprocess.run(["git", "clone", "-q", "--shared", "--no-checkout", str(real_tree), str(clone)],
                   check=True)
    subprocess.run(["git", "-C", str(clone), "sparse-checkout", "set", "mm"], check=True)
    # The fixtures were recorded on the default tree; a tree prepared again
    # (another commit date) has the same files under another commit id.
    known = subprocess.run(["git", "-C", str(clone), "cat-file", "-e", f"{base.group(1)}^{{commit}}"],
                           capture_output=True, check=False).returncode == 0
    subprocess.run(["git", "-C", str(clone), "checkout", "-q", base.group(1) if known else "HEAD"],
                   check=True)
    start = subprocess.run(["git", "-C", str(clone), "rev-parse", "HEAD"], capture_output=True,
                           text=True, check=True).stdout.strip()
    got = _b4("am", "-m", str(box), "-n", "series.mbx", "-o", str(tmp_path / "am"), cwd=clone)
    assert got.returncode == 0, got.stdout + got.stderr
    covers = list((tmp_path / "am").glob("*.cover"))
    assert len(covers) == 1
    cover = covers[0].read_text()
    assert f"{variant} vs pcp-disable (baseline)" in cover and "drain time ratio" in cover
    am = subprocess.run(["git", "-C", str(clone), "-c", "user.name=t", "-c", "user.email=t@t",
                         "am", str(tmp_path / "am" / "series.mbx")], capture_output=True, text=True,
                        check=False)
    assert am.returncode == 0, am.stdout + am.stderr
    patches = len(list((bundle_dir / "series" / variant).glob("000[1-9]-*.patch")))
    log = subprocess.run(["git", "-C", str(clone), "rev-list", "--count", f"{start}..HEAD"],
                         capture_output=True, text=True, check=True).stdout
    assert int(log) == patches > 0


# ---- untrusted tarballs ----

def _tar(path: Path, *members: tarfile.TarInfo, data: bytes = b"x") -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info in members:
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return path


def _file(name: str, size: int = 1) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    return info


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


@pytest.mark.parametrize("member, needle", [
    (_file("drainlab-bundle/../../evil"), "'..'"),
    (_file("/tmp/evil-abs"), "absolute path"),
    (_link("drainlab-bundle/results", "/etc"), "is a link"),
    (_link("drainlab-bundle/hard", "/etc/passwd", tarfile.LNKTYPE), "is a link"),
])
def test_refused_members_write_nothing(tmp_path: Path, member: tarfile.TarInfo, needle: str) -> None:
    work = tmp_path / "work"
    work.mkdir()
    bad = _tar(tmp_path / "bad.tar.gz", _file("drainlab-bundle/ok.txt"), member)
    before = sorted(p for p in tmp_path.rglob("*"))
    with pytest.raises(UserError, match=re.escape(needle)):
        tarball.safe_extract(bad, work / "dest")
    assert sorted(p for p in tmp_path.rglob("*")) == before, "nothing written anywhere"
    assert not Path("/tmp/evil-abs").exists()
    # The same through the command line: one line, exit 2, no report written.
    run = run_gen("report", str(bad), "--out", str(work / "rep"), cwd=work)
    assert_one_line_error(run, needle)
    assert sorted(p for p in tmp_path.rglob("*")) == before
    assert not (tmp_path / "evil").exists()


def test_device_and_absurd_sizes_are_refused(tmp_path: Path) -> None:
    dev = tarfile.TarInfo("drainlab-bundle/null")
    dev.type = tarfile.CHRTYPE
    with pytest.raises(UserError, match="device"):
        tarball.safe_extract(_tar(tmp_path / "d.tar.gz", dev), tmp_path / "d")
    info = tarfile.TarInfo("drainlab-bundle/huge")
    info.size = tarball.MAX_MEMBER_BYTES + 1
    with pytest.raises(UserError, match="limit"):
        tarball.check_member(info)
    assert not (tmp_path / "d").exists()


def test_bundle_round_trips_through_gen_report(tmp_path: Path) -> None:
    out = tmp_path / "b.tar.gz"
    run = run_gen("bundle", str(DATA), "--out", str(out), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    with tarfile.open(out) as tar:
        names = tar.getnames()
        assert all(n == "drainlab-bundle" or n.startswith("drainlab-bundle/") for n in names)
        assert all(m.isfile() or m.isdir() for m in tar.getmembers())
    rep = run_gen("report", str(out), "--out", str(tmp_path / "rep"), cwd=tmp_path)
    assert rep.returncode == 0, rep.stderr
    assert (tmp_path / "rep" / "report.txt").read_text() == \
        (tmp_path / "rep" / "report.txt").read_text()
    direct = run_gen("report", str(DATA), "--out", str(tmp_path / "rep2"), cwd=tmp_path)
    assert direct.returncode == 0
    assert (tmp_path / "rep" / "report.txt").read_text() == \
        (tmp_path / "rep2" / "report.txt").read_text()


def test_bundle_needs_a_tar_gz_name(tmp_path: Path) -> None:
    run = run_gen("bundle", str(DATA), "--out", str(tmp_path / "b.zip"), cwd=tmp_path)
    assert_one_line_error(run, "not a .tar.gz")
    assert not (tmp_path / "b.zip").exists()
