"""``qlint matrix``: the migration matrix of one compat property, from a repository's releases.

The matrix itself (:mod:`qlint.analyzer.diff.matrix`) and its text and HTML
(:mod:`qlint.analyzer.diff.matrix_text`) are computed from tree indexes; this module reads the
releases, the point releases and the property of a commit from a git repository.
"""

from __future__ import annotations

import re

from qlint.analyzer.change import InputError
from qlint.analyzer.diff import behaviour as beh
from qlint.analyzer.diff.matrix import Column, Matrix, _defs, _has_property, build, resolve_subject
from qlint.analyzer.tree.index import TreeIndex

# -- from a git repository --------------------------------------------------------


NO_POINT_RELEASES = (
    "This repository has no stable branch (stable-X.Y) and no point-release tag (vX.Y.Z): point "
    "releases such as X.Y.1 are not shown (add one with --release X.Y.Z=REV)."
)


def from_repo(repo_path: str, spec: str, rev: str = "HEAD", given: dict[str, str] | None = None,
              since: tuple[int, int, int] | None = None, progress=None) -> Matrix:
    """The matrix of ``spec`` (PROPERTY, DRIVER.PROPERTY or a commit adding compat entries) at ``rev``."""
    from qlint.analyzer.sources import history
    from qlint.analyzer.sources.gitsrc import GitSnapshot, _resolve, open_repo, tree_of

    repo = open_repo(repo_path)
    tip = _resolve(repo, rev)
    ref = TreeIndex(GitSnapshot(repo, tree_of(tip), rev))
    spec, fix = _spec_from_commit(repo, spec, ref)
    subj = resolve_subject(ref, spec)
    if fix is not None:
        # what the fix replaced is what the broken releases ran: evidence of the behaviour too
        subj.statements = subj.statements + _replaced_by(repo, fix)
    hist = history.find_history(repo, tip, given)
    tip_version = ref.version() or (0, 0, 0)
    cols: list[Column] = []
    tip_is_release = False
    for rel in reversed(hist.releases):
        if rel.version > tip_version and rel.source != "given":
            continue
        if since is not None and rel.version < since:
            break
        if rel.commit == str(tip.id):
            tip_is_release = True
        if progress is not None:
            progress(rel.name)
        idx = TreeIndex(history.snapshot(repo, rel))
        col = Column(rel.name, rel.version, rel.source, idx)
        cols.append(col)
        has = _has_property(idx, subj)
        if since is None and not has and not (subj.statements and beh.has_statements(idx, subj.statements)):
            break  # the release before the behaviour: older ones behave the same
    cols.reverse()
    if not tip_is_release:
        cols.append(Column(f"{'.'.join(map(str, tip_version))} ({rev})", tip_version, "tree", ref, tip=True))
    if not cols:
        raise InputError(f"no release at or before {rev}")
    note = "" if hist.stable_refs else NO_POINT_RELEASES
    return build(cols, subj, None, note)


_ENTRY_RE = re.compile(r'\{\s*(?:"([^"]+)"|(\w+))\s*,\s*"([^"]+)"\s*,\s*"[^"]*"\s*\}')


def _spec_from_commit(repo, spec: str, ref: TreeIndex):
    """(spec, commit): a commit stands for the property of the first compat entry it adds."""
    import pygit2

    from qlint.analyzer.sources.gitsrc import first_parent, reading

    if re.fullmatch(r"[\w.\-]+", spec) and _defs(ref, spec.rsplit(".", 1)[-1]):
        return spec, None
    m = _ENTRY_RE.search(spec)
    if m:  # a compat entry as written in the array
        drv = m.group(1) or ref.type_macros().get(m.group(2) or "", "")
        return (f"{drv}.{m.group(3)}" if drv else m.group(3)), None
    try:
        c = repo.revparse_single(spec).peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError):
        return spec, None  # not a revision: resolve_subject says what is wrong
    parent = first_parent(repo, c)
    if parent is None:
        return spec, None
    with reading():
        for line in _added_lines(repo.diff(parent, c, context_lines=0)):
            m = _ENTRY_RE.search(line)
            if m:
                drv = m.group(1) or ref.type_macros().get(m.group(2) or "", "")
                return (f"{drv}.{m.group(3)}" if drv else m.group(3)), c
    raise InputError(f"commit {spec} adds no compat entry: name the property instead")


def _added_lines(diff):
    for patch in diff:
        for hunk in patch.hunks:
            yield from (line.content for line in hunk.lines if line.origin == "+")


def _replaced_by(repo, commit) -> list:
    """(path, function, squashed line) of code lines ``commit`` removes from C functions and does not
    keep elsewhere in the file: what the releases before the fix ran."""
    from qlint.analyzer.sources.gitsrc import GitSnapshot, read_blob, reading, tree_of

    parent = commit.parents[0]
    old_idx = TreeIndex(GitSnapshot(repo, tree_of(parent), str(parent.id)))
    out = []
    with reading():
        patches = list(repo.diff(parent, commit, context_lines=0))
    for patch in patches:
        path = patch.delta.old_file.path
        if not path.endswith(".c") or patch.delta.status_char() not in "MR":
            continue
        model = old_idx.model(path)
        new_text = b"".join(read_blob(repo, str(patch.delta.new_file.id), patch.delta.new_file.path).split())
        old_data = read_blob(repo, str(patch.delta.old_file.id), path)
        removed = [ln.old_lineno for h in patch.hunks for ln in h.lines if ln.origin == "-"]
        if model is not None and removed:
            out += [st for st in beh.replaced_lines(path, model, old_data, removed, new_text)
                    if not st[2].startswith("#")]
    return out
