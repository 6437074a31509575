"""Mailing-list input: a format-patch file, an mbox holding a series, or a plain unified diff.

The patches are applied in memory, one after the other, on a base snapshot:
nothing is written anywhere.  Input comes from a public mailing list, so
every way it can be wrong ends in an InputError (one line, exit 2), never a
traceback: garbage, a patch that does not apply, unsafe paths, an empty mbox,
something too large to review.
"""

from __future__ import annotations

import email
import email.header
import email.policy
import re
from dataclasses import dataclass

from unidiff import PatchSet
from unidiff.errors import UnidiffParseError

from .change import FileChange, InputError, OverlaySnapshot, Patch, Series, Snapshot
from .gitsrc import wanted

MAX_INPUT = 32 * 1024 * 1024
_FROM_LINE = re.compile(rb"^From [^\n]*$", re.M)
_SUBJECT_NUM = re.compile(r"\[(?:[^\]]*?\s)?(\d+)/(\d+)\]")


@dataclass
class Mail:
    subject: str
    index: int
    total: int
    message_id: str | None
    based_on: str | None
    diff: str


def _decode(b: bytes) -> str:
    # surrogateescape keeps every byte, so a latin-1 line survives the round trip untouched
    return b.decode("utf-8", "surrogateescape")


def _header(msg, name: str) -> str:
    raw = msg.get(name)
    if raw is None:
        return ""
    try:
        return " ".join(str(email.header.make_header(email.header.decode_header(str(raw)))).split())
    except Exception:
        return " ".join(str(raw).split())


def _body(msg) -> str:
    if msg.is_multipart():
        parts = [p for p in msg.walk() if p.get_content_type() == "text/plain"]
        payloads = [p.get_payload(decode=True) or b"" for p in parts]
        return "\n".join(_decode(p) for p in payloads)
    payload = msg.get_payload(decode=True)
    if payload is None:
        payload = str(msg.get_payload()).encode("utf-8", "surrogateescape")
    return _decode(payload)


def split_mails(data: bytes) -> list[Mail]:
    if len(data) > MAX_INPUT:
        raise InputError(f"input is {len(data) // (1024 * 1024)} MiB; qlint reviews at most "
                         f"{MAX_INPUT // (1024 * 1024)} MiB of patches at once")
    if b"\r\n" in data:
        data = data.replace(b"\r\n", b"\n")
    if not data.strip():
        raise InputError("no patches in the input (it is empty)")
    if data.lstrip().startswith((b"diff --git ", b"--- ", b"Index: ")):
        return [Mail("patch", 1, 1, None, None, _decode(data))]
    starts = [m.start() for m in _FROM_LINE.finditer(data)]
    chunks = [data[a:b] for a, b in zip(starts, starts[1:] + [len(data)])] if starts else [data]
    mails = []
    for chunk in chunks:
        msg = email.message_from_bytes(chunk.partition(b"\n")[2] if chunk.startswith(b"From ") else chunk,
                                       policy=email.policy.compat32)
        subject = _header(msg, "Subject")
        body = _body(msg)
        m = _SUBJECT_NUM.search(subject)
        index, total = (int(m.group(1)), int(m.group(2))) if m else (1, 1)
        k = body.find("\ndiff --git ")
        if k < 0 and body.startswith("diff --git "):
            k = -1
        if k == -1 and not body.startswith("diff --git "):
            continue  # a cover letter or a reply: no diff to review
        diff = body[k + 1:] if k >= 0 else body
        diff = re.split(r"\n-- \n", diff)[0] + "\n"
        based = re.search(r"^Based-on:\s*(\S+)", body, re.M)
        title = re.sub(r"^\[[^\]]*\]\s*", "", subject) or "patch"
        mails.append(Mail(title, index, total, _header(msg, "Message-Id") or None,
                          based.group(1) if based else None, diff))
    if not mails:
        raise InputError("no patches in the input (no message carries a diff)")
    mails.sort(key=lambda x: x.index)
    return mails


def _safe(path: str, label: str) -> str:
    if path.startswith("/") or any(part == ".." for part in path.split("/")) or "\0" in path:
        raise InputError(f"{label}: unsafe path {path!r} in the patch")
    return path


def _strip(p: str | None) -> str:
    if p is None or p == "/dev/null":
        return ""
    return p[2:] if p.startswith(("a/", "b/")) else p


def _apply_file(pf, base: str | None, label: str) -> tuple[str, set[int], set[int]]:
    """Apply one file's hunks; return (new text, added new-side lines, removed old-side lines)."""
    old_lines = base.splitlines(keepends=True) if base else []
    out: list[str] = []
    pos = 0
    added: set[int] = set()
    removed: set[int] = set()
    for n, h in enumerate(pf, 1):
        src = [ln.value for ln in h if ln.is_context or ln.is_removed]
        start = max(h.source_start - 1, 0) if h.source_length else h.source_start
        at = _find(old_lines, src, start, pos)
        if at is None:
            raise InputError(f"{label}: does not apply: {pf.path} hunk {n} (@@ -{h.source_start} +{h.target_start})")
        out.extend(old_lines[pos:at])
        old_no = at + 1
        for ln in h:
            if ln.is_context:
                out.append(old_lines[old_no - 1])
                old_no += 1
            elif ln.is_removed:
                removed.add(old_no)
                old_no += 1
            elif ln.is_added:
                out.append(ln.value if ln.value.endswith("\n") else ln.value + "\n")
                added.add(len(out))
        pos = old_no - 1
    out.extend(old_lines[pos:])
    return "".join(out), added, removed


def _find(lines: list[str], src: list[str], start: int, floor: int) -> int | None:
    def fits(at: int) -> bool:
        if at < floor or at + len(src) > len(lines):
            return False
        return all(lines[at + i].rstrip("\n") == s.rstrip("\n") for i, s in enumerate(src))

    if not src:
        return max(min(start, len(lines)), floor)
    for delta in range(0, 2000):
        for at in (start - delta, start + delta) if delta else (start,):
            if fits(at):
                return at
    return None


def apply_series(mails: list[Mail], base: Snapshot, description: str) -> list[Patch]:
    patches: list[Patch] = []
    current: dict[str, bytes | None] = {}
    prev: Snapshot = base
    for mail in mails:
        label = f"patch {mail.index}/{mail.total}" if mail.total > 1 else "patch"
        try:
            ps = PatchSet(mail.diff)
        except (UnidiffParseError, Exception) as exc:
            raise InputError(f"{label}: not a unified diff ({str(exc).splitlines()[0] if str(exc) else 'parse error'})") from None
        if not len(ps) and "diff --git" not in mail.diff:
            raise InputError(f"{label}: no diff in it")
        files: list[FileChange] = []
        changes = dict(current)
        for pf in ps:
            src = _safe(_strip(pf.source_file), label)
            dst = _safe(_strip(pf.target_file), label)
            status = "A" if pf.is_added_file else "D" if pf.is_removed_file else ("R" if src and dst and src != dst else "M")
            fc = FileChange(path=dst if status != "D" else "", old_path=src if status != "A" else "", status=status,
                            old_data=None, new_data=None)
            if pf.is_binary_file:
                fc.binary = True
                files.append(fc)
                continue
            old_bytes = prev.read(src) if src else None
            if src and status != "A" and old_bytes is None:
                raise InputError(f"{label}: does not apply: {src} is not in the base tree")
            old_text = _decode(old_bytes) if old_bytes is not None else None
            new_text, added, removed = _apply_file(pf, old_text, label)
            fc.added, fc.removed = added, removed
            if wanted(src) or wanted(dst):
                fc.old_data = old_bytes
                fc.new_data = new_text.encode("utf-8", "surrogateescape") if status != "D" else None
            if status == "D":
                changes[src] = None
            else:
                if status == "R":
                    changes[src] = None
                changes[dst] = new_text.encode("utf-8", "surrogateescape")
            files.append(fc)
        new = OverlaySnapshot(base, changes, f"{description}#{mail.index}")
        ident = mail.message_id or f"{description}#{mail.index}"
        patches.append(Patch(ident=ident, short="",
                             subject=mail.subject, files=files, old=prev, new=new, index=mail.index,
                             total=mail.total, message_id=mail.message_id))
        prev, current = new, changes
    return patches


def review_patch(repo_path: str, data: bytes, base_rev: str, name: str) -> Series:
    from .gitsrc import GitSnapshot, ReleaseFinder, _resolve, open_repo, point_releases

    repo = open_repo(repo_path)
    commit = _resolve(repo, base_rev)
    base = GitSnapshot(repo, commit.tree, str(commit.id))
    mails = split_mails(data)
    patches = apply_series(mails, base, name)
    # number patches in the order they apply, whatever the subjects said
    total = len(patches)
    for i, p in enumerate(patches, 1):
        if p.total != total:
            p.index, p.total = i, total
    finder = ReleaseFinder(repo)
    return Series(
        patches=patches,
        base=base,
        tip=patches[-1].new,
        description=name,
        release_lookup=lambda _s, v: (GitSnapshot(repo, finder.releases(commit)[v].tree, f"v{v[0]}.{v[1]}.0")
                                      if v in finder.releases(commit) else None),
        release_versions=lambda: sorted(finder.releases(commit)),
        point_releases=point_releases(repo, commit),
    )


def based_on(data: bytes) -> list[str]:
    try:
        return [m.based_on for m in split_mails(data) if m.based_on]
    except InputError:
        return []
