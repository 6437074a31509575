"""Decide cheaply whether a patch can matter to any rule, before the semantic diff runs.

Every rule starts from something a patch changes in the model of a file it touches: config
writes of init functions (and their guards), ``DEFINE_PROP_*`` entries and property macros,
VMState descriptions and ``VMSTATE_*`` macros, compat arrays, and feature bits set by
``*features`` functions.  Everything else a rule reads (the tree index: QOM types, other
files' properties, compat tables) is looked up only from such a change.  So a patch in which
every touched C file has the same *relevant facts* before and after (compared without line
numbers, which moving code changes) cannot produce a finding, and cannot create or meet an
obligation of a series: the review skips it.

The relevant facts of one version of a file are reduced to a digest, cached on disk by blob
id (see ``cache``), so a second run over the same history needs neither the file's text nor
its model to skip a patch.
"""

from __future__ import annotations

import hashlib
from collections import Counter

from . import cache
from .change import FileChange, Patch
from .index import MACRO_NAME_RE, changes_tree_facts
from .index import (
    NOT_MIGRATION_CODE as IGNORED_DIRS,  # the semantic diff's own selection
)
from .model import FileModel

C_SUFFIXES = (".c", ".h")
EMPTY = ""  # the digest of a file with no relevant facts (or no file)


def c_file(f: FileChange) -> bool:
    """A touched file the semantic diff may read (PatchReview.c_files, binary files included).

    Decided from the path alone, so that a patch skipped here never had its texts read.
    """
    p = f.path or f.old_path
    return p.endswith(C_SUFFIXES) and not p.startswith(IGNORED_DIRS)


def digest(model: FileModel) -> str:
    """A hash of everything in ``model`` from which a rule can start, without line numbers."""
    from .semdiff import is_init_function

    init: dict[str, bool] = {}
    parts: list[str] = []
    for w in model.writes:
        if w.function not in init:
            init[w.function] = is_init_function(model, w.function)
        parts.append(repr(("w", w.target, w.offset, w.value, w.how, w.function, w.guards, w.value_fields,
                           w.base_var, w.base_type, init[w.function])))
    for p in model.props:
        parts.append(repr(("p", p.name, p.macro, p.struct, p.field, p.bit, p.default, p.array)))
    parts += [repr(("o", a)) for a in model.open_prop_arrays]
    parts += [repr(("pm", k, tuple(v))) for k, v in model.prop_array_macros.items()]
    parts += [repr(("pd", k, v[0], tuple(v[1]))) for k, v in model.prop_macros.items()]
    parts += [repr(("m", k, v)) for k, v in model.masks.items()]
    for d in model.vmstates:
        parts.append(repr(("v", d.var, d.name, d.version_id, d.minimum_version_id,
                           tuple((x.macro, x.args) for x in d.fields), d.subsections, d.needed, d.unmigratable)))
    for vm in model.vmstate_macros:
        parts.append(repr(("vm", vm.name, vm.params, vm.fields)))
    for a in model.compat_arrays:
        parts.append(repr(("c", a.name, a.family, a.version, a.style,
                           tuple((e.driver, e.driver_is_macro, e.property, e.value) for e in a.entries))))
    for fn in model.functions.values():
        if fn.feature_calls and "features" in fn.name:
            parts.append(repr(("f", fn.name, tuple(sorted((c, feat, g) for c, feat, g, _ in fn.feature_calls)))))
    if not parts:
        return EMPTY
    h = hashlib.sha1()
    for p in sorted(parts):
        h.update(p.encode("utf-8", "replace"))
        h.update(b"\0")
    return h.hexdigest()


def entries(model: FileModel) -> tuple:
    """(array, version, driver, property, value) of every compat entry in ``model``, once per
    occurrence, in a stable order."""
    return tuple(sorted(((a.name, a.version, e.driver, e.property, e.value)
                         for a in model.compat_arrays for e in a.entries), key=repr))


def file_facts(path: str, blob_id: str | None, read) -> tuple[str, tuple]:
    """(digest, compat entries) of one version of a file; ``read()`` gives its bytes (called only
    on a cache miss).  Both come from one parse and are cached together by blob id."""
    from .index import facts_model

    if not path:
        return _NONE
    key = f"{blob_id}:{path}" if blob_id else None
    st = cache.store()
    if key is not None:
        got = _MEMO.get(key)
        if got is None:
            got = st.get("facts", key)
        if got is not None:
            _MEMO[key] = got
            return got
    data = read()
    if data is None:
        return _NONE
    m = facts_model(path, blob_id, data)
    got = (digest(m), entries(m))
    if key is not None:
        _MEMO[key] = got
        st.put("facts", key, got)
    return got


def file_digest(path: str, blob_id: str | None, read) -> str:
    """The digest of one version of a file (see ``file_facts``)."""
    return file_facts(path, blob_id, read)[0]


_NONE: tuple[str, tuple] = (EMPTY, ())

_MEMO: dict[str, tuple[str, tuple]] = {}


def can_matter(patch: Patch) -> bool:
    """False when no touched C file changes a relevant fact: no rule can say anything about the patch."""
    # a new or deleted file matters when it has relevant facts, a renamed one when they changed
    return any(file_digest(*old) != file_digest(*new) for old, new in _touched(patch))


def _touched(patch: Patch) -> list[tuple[tuple, tuple]]:
    """((path, blob id, read), same for the new side) of every touched C file the semantic diff
    may read; a side that does not exist has path '' (an added or deleted file)."""
    out = []
    if patch.touched is not None:
        for _status, path, old_oid, new_oid in patch.touched:
            if path.endswith(C_SUFFIXES) and not path.startswith(IGNORED_DIRS):
                out.append(((path if old_oid else "", old_oid, lambda o=old_oid: patch.old.read_oid(o)),
                            (path if new_oid else "", new_oid, lambda o=new_oid: patch.new.read_oid(o))))
        return out
    for f in patch.files:
        if c_file(f):
            out.append(((f.old_path, patch.old.blob_id(f.old_path) if f.old_path else None, lambda f=f: f.old_data),
                        (f.path, patch.new.blob_id(f.path) if f.path else None, lambda f=f: f.new_data)))
    return out


def entries_added(patch: Patch) -> set[tuple]:
    """Compat entries in a touched file after the patch that the same file lacked before it (or
    had fewer copies of).

    A superset of what the patch adds to the tree (an entry moved between files is listed):
    a patch with none adds no entry anywhere, so a search for the patch that adds an entry
    can pass it by without building its tree index.
    """
    out: set[tuple] = set()
    for old, new in _touched(patch):
        got = file_facts(*new)[1]
        if got:
            out.update(Counter(got) - Counter(file_facts(*old)[1]))
    return out


def could_add_entry(patch: Patch, names: set[str], types_matter: bool = True) -> bool:
    """Can ``patch`` make the tree have a compat entry for a property called one of ``names`` that
    the tree before it lacked, or make an existing one apply to other types?

    True when it adds an entry whose property is one of ``names`` or a macro (resolved through
    the tree's type macros), or, with ``types_matter``, when it changes type macros or QOM types
    (the caller knows whether the tree holds an entry for the property that a type change
    could make apply, or a name that is a macro).
    """
    if any(e[3] in names or MACRO_NAME_RE.fullmatch(e[3]) for e in entries_added(patch)):
        return True
    return types_matter and changes_tree_facts(patch, compat=False)

