# SPDX-License-Identifier: GPL-2.0
"""One variant's series as one mbox that b4 reads offline (`b4 am -m FILE`).

Input: the `git format-patch --cover-letter --base` files gen wrote
(0000-cover-letter.patch, 0001-*.patch, ...). Output: an mboxrd file with

  - deterministic Message-Ids: <change-id>-v1-<n>-<8 hex of the message>@drainlab
    (the same series always gives the same ids);
  - In-Reply-To and References of every patch pointing at the cover letter;
  - in the cover letter: the results table of this variant against the
    baseline (before the shortlog), and b4's trailers at its end:
    `base-commit:` (from format-patch --base) and `change-id:`
    (b4's YYYYMMDD-<slug>-<12 hex> shape, from the series content).

Bodies are not re-encoded: headers are edited as text, so the patches
git am sees are the bytes gen wrote.
"""

import email.utils
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from generator.errors import UserError
from generator.results import atomic_write_bytes

MBOX_FROM = b"From mboxrd@z Thu Jan  1 00:00:00 1970\n"
_FROM_LINE = re.compile(rb"^(>*From )", re.MULTILINE)
_SHORTLOG = re.compile(r"^\S.*\(\d+\):$", re.MULTILINE)
_BASE = re.compile(r"^base-commit: ([0-9a-f]{40})$", re.MULTILINE)
_SLUG_BAD = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class Mbox:
    variant: str
    path: Path
    change_id: str
    base_commit: str
    message_ids: tuple[str, ...]  # cover first


def _split(text: str) -> tuple[str, str]:
    """(headers, body) of one format-patch file, without the leading From line."""
    if text.startswith("From "):
        text = text.split("\n", 1)[1]
    head, sep, body = text.partition("\n\n")
    if not sep:
        raise UserError("a series file has no header/body separator",
                        "regenerate the series with gen --variant")
    return head, body


def _drop_headers(head: str, names: Sequence[str]) -> str:
    """Remove the named headers (with their continuation lines)."""
    out, skipping = [], False
    lower = tuple(n.lower() + ":" for n in names)
    for line in head.split("\n"):
        if line[:1] in (" ", "\t") and skipping:
            continue
        skipping = line.lower().startswith(lower)
        if not skipping:
            out.append(line)
    return "\n".join(out)


def _date_stamp(head: str) -> str:
    m = re.search(r"^Date: (.+)$", head, re.MULTILINE)
    try:
        when = email.utils.parsedate_to_datetime(m.group(1)) if m else None
    except (TypeError, ValueError):
        when = None
    return when.strftime("%Y%m%d") if when else "19700101"


def change_id(variant: str, cover_head: str, patches: Sequence[bytes]) -> str:
    """b4's change-id shape, YYYYMMDD-<slug>-<12 hex>, from the series content."""
    digest = hashlib.sha256(variant.encode())
    for data in patches:
        digest.update(hashlib.sha256(data).digest())
    slug = _SLUG_BAD.sub("-", variant.lower()).strip("-")[:40] or "series"
    return f"{_date_stamp(cover_head)}-{slug}-{digest.hexdigest()[:12]}"


def _cover_body(body: str, table: str, cid: str) -> str:
    """Results table before the shortlog; change-id after base-commit."""
    block = table.rstrip("\n") + "\n\n"
    m = _SHORTLOG.search(body)
    at = m.start() if m else (body.find("base-commit:") if "base-commit:" in body else len(body))
    body = body[:at] + block + body[at:]
    if _BASE.search(body):
        return _BASE.sub(lambda b: f"{b.group(0)}\nchange-id: {cid}", body, count=1)
    sig = body.rfind("\n-- \n")
    at = sig + 1 if sig >= 0 else len(body)
    return body[:at] + f"change-id: {cid}\n" + body[at:]


def _mboxrd(message: str) -> bytes:
    data = message.encode("utf-8", errors="surrogateescape")
    if not data.endswith(b"\n"):
        data += b"\n"
    return MBOX_FROM + _FROM_LINE.sub(rb">\1", data) + b"\n"


def series_files(series_dir: Path) -> tuple[Path | None, list[Path]]:
    files = sorted(p for p in series_dir.glob("*.patch") if p.is_file() and not p.is_symlink())
    cover = next((p for p in files if p.name.startswith("0000-")), None)
    return cover, [p for p in files if p != cover]


def write_mbox(variant: str, series_dir: Path, table: str, out: Path) -> Mbox | None:
    """The mbox of series_dir at out (atomic); None for an empty series.

    Raise: UserError when the series has patches but no cover letter or no
    base-commit (gen always writes both).
    """
    cover, patches = series_files(series_dir)
    if not patches:
        return None
    if cover is None:
        raise UserError(f"{series_dir}: patches without a cover letter",
                        "regenerate the series with gen --variant")
    raw = [p.read_bytes() for p in patches]
    cover_head, cover_body = _split(cover.read_text(encoding="utf-8", errors="surrogateescape"))
    base = _BASE.search(cover_body)
    if base is None:
        raise UserError(f"{cover}: no base-commit: line", "generate with git format-patch --base")
    cid = change_id(variant, cover_head, raw)
    ids: list[str] = []
    messages = []
    for n, path in enumerate([cover, *patches]):
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
        head, body = _split(text)
        if n == 0:
            body = _cover_body(body, table, cid)
        digest = hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:8]
        mid = f"<{cid}-v1-{n}-{digest}@drainlab>"
        head = _drop_headers(head, ("Message-Id", "In-Reply-To", "References"))
        head += f"\nMessage-Id: {mid}"
        if n > 0:
            head += f"\nIn-Reply-To: {ids[0]}\nReferences: {ids[0]}"
        ids.append(mid)
        messages.append(f"{head}\n\n{body}")
    atomic_write_bytes(out, b"".join(_mboxrd(m) for m in messages))
    return Mbox(variant, out, cid, base.group(1), tuple(ids))
