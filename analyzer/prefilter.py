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

from . import cache
from .change import FileChange, Patch
from .index import NOT_MIGRATION_CODE as IGNORED_DIRS  # the semantic diff's own selection
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


def file_digest(path: str, blob_id: str | None, read) -> str:
    """The digest of one version of a file; ``read()`` gives its bytes (called only on a cache miss)."""
    from .index import parse_cached

    if not path:
        return EMPTY
    key = f"{blob_id}:{path}" if blob_id else None
    st = cache.store()
    if key is not None:
        got = _MEMO.get(key)
        if got is None:
            got = st.get("digest", key)
        if got is not None:
            _MEMO[key] = got
            return got
    data = read()
    if data is None:
        return EMPTY
    d = digest(parse_cached(path, blob_id, data, keep=False))
    if key is not None:
        _MEMO[key] = d
        st.put("digest", key, d)
    return d


_MEMO: dict[str, str] = {}


def can_matter(patch: Patch) -> bool:
    """False when no touched C file changes a relevant fact: no rule can say anything about the patch."""
    if patch.touched is not None:
        for status, path, old_oid, new_oid in patch.touched:
            if not path.endswith(C_SUFFIXES) or path.startswith(IGNORED_DIRS):
                continue
            old = file_digest(path, old_oid, lambda o=old_oid: patch.old.read_oid(o)) if old_oid else EMPTY
            new = file_digest(path, new_oid, lambda o=new_oid: patch.new.read_oid(o)) if new_oid else EMPTY
            if old != new:
                return True
        return False
    for f in patch.files:
        if not c_file(f):
            continue
        # a new or deleted file matters when it has relevant facts, a renamed one when they changed
        old = file_digest(f.old_path, patch.old.blob_id(f.old_path) if f.old_path else None, lambda f=f: f.old_data)
        new = file_digest(f.path, patch.new.blob_id(f.path) if f.path else None, lambda f=f: f.new_data)
        if old != new:
            return True
    return False
