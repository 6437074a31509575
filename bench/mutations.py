#!/usr/bin/env python3
"""Mutate real QEMU code into breaks qlint must flag and rewrites it must leave alone.

    python3 bench/mutations.py --repo QEMU_GIT --data DIR [--sites N] [--seed S] [--tsv-out F]

Three families of cases, every patch generated from QEMU_GIT at run time and reviewed as
`qlint -C QEMU_GIT --base REV --patch FILE --format json`:

- compat ablation: each GUARDED commit of DIR/corpus-dev.tsv that adds entries to a compat array
  (a `GlobalProperty *compat*[]` array, a `.compat_props = (GlobalProperty[])` list or a
  `#define *COMPAT*` macro) with those entries taken out of its diff ("removed"), or put in the
  next older array of the same file instead ("moved"), reviewed on its parent: an error is due.
- break operators on C files under hw/ at --revs (by default master^ and two releases), sites
  found by scanning the C text and sampled by --seed: an error is due where `qlint machines
  --holds` says a versioned machine type builds the file.
- benign operators on the same kinds of sites (reflow, comments, renames, a helper): no error.

The Markdown report goes to stdout; --tsv-out writes one row per case.
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import csv
import difflib
import json
import os
import random
import re
import shlex
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from realworld import (DATA_ENV, REPO_ENV, ROOT, git, git_rev, pct, qlint_command,
                       run_qlint, table)

RELEASES = ("8.0.0", "9.2.0")

# ---------------------------------------------------------------------------------------------
# C text scanning.  A benchmark's scanner: regexes and brace counting over QEMU's usual layout.


def match_close(text: str, i: int) -> int:
    """Index just past the bracket closing the one at text[i], skipping strings and comments."""
    pairs = {"(": ")", "{": "}", "[": "]"}
    stack = [pairs[text[i]]]
    j = i + 1
    n = len(text)
    while j < n:
        ch = text[j]
        if ch in "\"'":
            k = j + 1
            while k < n and text[k] != ch:
                k += 2 if text[k] == "\\" else 1
            j = k + 1
            continue
        if text.startswith("/*", j):
            k = text.find("*/", j + 2)
            j = n if k < 0 else k + 2
            continue
        if text.startswith("//", j):
            k = text.find("\n", j)
            j = n if k < 0 else k
            continue
        if ch in pairs:
            stack.append(pairs[ch])
        elif ch in ")}]":
            if ch != stack[-1]:
                return -1
            stack.pop()
            if not stack:
                return j + 1
        j += 1
    return -1


def split_top(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """(start, end) of each comma-separated item of text[start:end] at bracket depth 0."""
    items, i, item = [], start, start
    while i < end:
        ch = text[i]
        if ch in "({[":
            k = match_close(text, i)
            if k < 0:
                return []
            i = k
            continue
        if ch in "\"'":
            k = i + 1
            while k < end and text[k] != ch:
                k += 2 if text[k] == "\\" else 1
            i = k + 1
            continue
        if text.startswith("/*", i):
            k = text.find("*/", i + 2)
            i = end if k < 0 else k + 2
            continue
        if ch == ",":
            items.append((item, i))
            item = i + 1
        i += 1
    items.append((item, end))
    return [(a + len(text[a:b]) - len(text[a:b].lstrip()), b - (len(text[a:b]) - len(text[a:b].rstrip())))
            for a, b in items if text[a:b].strip()]


def line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos)


def line_start(text: str, pos: int) -> int:
    return text.rfind("\n", 0, pos) + 1


def line_end(text: str, pos: int) -> int:
    k = text.find("\n", pos)
    return len(text) if k < 0 else k + 1


@dataclass
class VField:
    start: int
    end: int  # text[start:end] is the macro call, without its comma
    macro: str
    whole_line: bool  # the call and its comma are alone on their lines

    def line_span(self, text: str) -> tuple[int, int]:
        comma = text.find(",", self.end)
        return line_start(text, self.start), line_end(text, comma if comma >= 0 else self.end)


@dataclass
class VMSD:
    var: str
    static: bool
    start: int  # of the initializer's "{"
    end: int  # past its "}"
    name: tuple[int, int] | None = None  # span of the string literal's contents
    version: tuple[int, int] | None = None  # span of the number
    minimum: tuple[int, int] | None = None
    needed: str | None = None
    fields: list[VField] = field(default_factory=list)
    fields_span: tuple[int, int] | None = None  # inside the fields array's braces
    subsections: list[tuple[int, int, str]] = field(default_factory=list)  # (start, end, var)


VMSD_RE = re.compile(r"^(static\s+)?(?:const\s+)?VMStateDescription\s+(\w+)\s*=\s*\{", re.M)
FIELD_RE = re.compile(r"(VMSTATE_\w+)\s*\(")


@lru_cache(maxsize=2)
def vmstate_descriptions(text: str) -> list[VMSD]:
    out = []
    for m in VMSD_RE.finditer(text):
        end = match_close(text, m.end() - 1)
        if end < 0:
            continue
        d = VMSD(m.group(2), bool(m.group(1)), m.end() - 1, end)
        body = text[d.start:end]
        if nm := re.search(r"\.name\s*=\s*\"([^\"\\]+)\"", body):
            d.name = (d.start + nm.start(1), d.start + nm.end(1))
        for key, attr in (("version_id", "version"), ("minimum_version_id", "minimum")):
            if v := re.search(r"\." + key + r"\s*=\s*(\d+)\s*,", body):
                setattr(d, attr, (d.start + v.start(1), d.start + v.end(1)))
        if nd := re.search(r"\.needed\s*=\s*(\w+)\s*,", body):
            d.needed = nd.group(1)
        if fm := re.search(r"\.fields\s*=\s*\((?:const\s+)?VMStateField\s*\[\s*\]\s*\)\s*\{", body):
            o = d.start + fm.end() - 1
            c = match_close(text, o)
            if c > 0:
                d.fields_span = (o + 1, c - 1)
                for a, b in split_top(text, o + 1, c - 1):
                    call = FIELD_RE.match(text, a)
                    if not call or match_close(text, call.end() - 1) != b:
                        continue
                    ls, le = line_start(text, a), line_end(text, b)
                    whole = not text[ls:a].strip() and text[b:le].strip() in (",", "")
                    d.fields.append(VField(a, b, call.group(1), whole))
        if sm := re.search(r"\.subsections\s*=\s*\([^)]*\)\s*\{", body):
            o = d.start + sm.end() - 1
            c = match_close(text, o)
            if c > 0:
                for a, b in split_top(text, o + 1, c - 1):
                    if am := re.fullmatch(r"&(\w+)", text[a:b]):
                        d.subsections.append((a, b, am.group(1)))
        out.append(d)
    return out


@dataclass
class Func:
    name: str
    sig: str
    start: int  # of the body's "{"
    end: int  # past its "}"


FUNC_RE = re.compile(r"^(?:static\s+)?(?:inline\s+)?[\w\s\*]*?\b(\w+)\s*\(([^;{)]*)\)\s*\{", re.M)


@lru_cache(maxsize=2)
def functions(text: str) -> list[Func]:
    out = []
    for m in FUNC_RE.finditer(text):
        if m.group(1) in ("if", "while", "for", "switch"):
            continue
        end = match_close(text, m.end() - 1)
        if end > 0:
            out.append(Func(m.group(1), m.group(2), m.end() - 1, end))
    return out


CONFIG_WRITE_RE = re.compile(r"\b(pci_set_(?:byte|word|long|quad)|pci_config_set_\w+)\s*\(")
PROP_RE = re.compile(r"\bDEFINE_PROP_(BOOL|UINT8|UINT16|UINT32|UINT64|INT32|INT64|SIZE|SIZE32)\s*\(")
BIT_RE = re.compile(r"\bDEFINE_PROP_BIT(?:64)?\s*\(")
PCI_ID_RE = re.compile(r"\b(\w+)->(revision|class_id)\s*=\s*([^;]+);")


def call_args(text: str, m: re.Match) -> tuple[int, list[tuple[int, int]]] | None:
    close = match_close(text, m.end() - 1)
    if close < 0:
        return None
    return close, split_top(text, m.end(), close - 1)


def pci_dev_var(text: str, f: Func) -> str | None:
    """The PCIDevice * a function has as parameter or first local."""
    if m := re.search(r"PCIDevice\s*\*\s*(\w+)", f.sig):
        return m.group(1)
    if m := re.search(r"^\s*PCIDevice\s*\*\s*(\w+)\s*=", text[f.start:f.end], re.M):
        return m.group(1)
    return None


# ---------------------------------------------------------------------------------------------
# Operators.  Each takes a file's text and returns its sites: (label, thunk giving the new text).

Site = tuple[str, Callable[[], str]]


def splice(text: str, a: int, b: int, new: str) -> str:
    return text[:a] + new + text[b:]


def unconditional(f: VField) -> bool:
    return "_TEST" not in f.macro and not f.macro.endswith("_V") and f.macro not in (
        "VMSTATE_END_OF_LIST", "VMSTATE_UNUSED")


def op_swap(text: str) -> list[Site]:
    sites = []
    for d in vmstate_descriptions(text):
        fs = d.fields
        for x, y in zip(fs, fs[1:]):
            if not (unconditional(x) and unconditional(y)) or text[x.start:x.end] == text[y.start:y.end]:
                continue
            sites.append((f"{d.var}: {text[x.start:x.end]} <-> {text[y.start:y.end]}",
                          lambda x=x, y=y: text[:x.start] + text[y.start:y.end] + text[x.end:y.start]
                          + text[x.start:x.end] + text[y.end:]))
    return sites


def op_remove_field(text: str) -> list[Site]:
    sites = []
    for d in vmstate_descriptions(text):
        real = [f for f in d.fields if unconditional(f)]
        if len(real) < 2:
            continue
        for f in real:
            if f.whole_line:
                a, b = f.line_span(text)
                sites.append((f"{d.var}: -{text[f.start:f.end]}", lambda a=a, b=b: splice(text, a, b, "")))
    return sites


SCALAR_RE = re.compile(r"VMSTATE_(U?INT(8|16|32|64)|BOOL)$")


def op_add_field(text: str) -> list[Site]:
    """A copy of a scalar field of the same description, added at the end of its list."""
    sites = []
    for d in vmstate_descriptions(text):
        end = next((f for f in d.fields if f.macro == "VMSTATE_END_OF_LIST" and f.whole_line), None)
        src = next((f for f in d.fields if SCALAR_RE.match(f.macro) and f.whole_line), None)
        if end and src:
            a = line_start(text, end.start)
            new = text[a:end.start] + text[src.start:src.end] + ",\n"
            sites.append((f"{d.var}: +{text[src.start:src.end]}", lambda a=a, new=new: splice(text, a, a, new)))
    return sites


RETYPE = {"UINT8": "UINT16", "UINT16": "UINT32", "UINT32": "UINT16", "UINT64": "UINT32",
          "INT8": "INT16", "INT16": "INT32", "INT32": "INT64", "INT64": "INT32", "BOOL": "UINT8"}
RETYPE_RE = re.compile(r"VMSTATE_(U?INT(?:8|16|32|64)|BOOL)(?=_|$)")


def op_retype(text: str) -> list[Site]:
    sites = []
    for d in vmstate_descriptions(text):
        for f in d.fields:
            if m := RETYPE_RE.match(f.macro):
                new = f"VMSTATE_{RETYPE[m.group(1)]}{f.macro[m.end():]}"
                sites.append((f"{d.var}: {f.macro} -> {new} ({text[f.start:f.end]})",
                              lambda f=f, new=new: splice(text, f.start, f.start + len(f.macro), new)))
    return sites


def subsection_vars(ds: list[VMSD]) -> set[str]:
    return {v for d in ds for _a, _b, v in d.subsections}


def op_rename(subsection: bool) -> Callable[[str], list[Site]]:
    def op(text: str) -> list[Site]:
        ds = vmstate_descriptions(text)
        subs = subsection_vars(ds)
        # a description's .name is on the wire only for a subsection or a top-level section
        top = set(re.findall(r"(?:->|\.)vmsd\s*=\s*&(\w+)|vmstate_register\w*\([^;]*?&(\w+)", text))
        top = {a or b for a, b in top}
        return [(f'{d.var}: .name "{text[slice(*d.name)]}"', lambda d=d: splice(text, d.name[1], d.name[1], "-m"))
                for d in ds if d.name and (d.var in subs if subsection else d.var in top and d.var not in subs)]
    return op


def op_drop_subsection(text: str) -> list[Site]:
    sites = []
    for d in vmstate_descriptions(text):
        for a, b, var in d.subsections:
            comma = re.compile(r"\s*,").match(text, b)
            end = comma.end() if comma else b
            if text[line_start(text, a):a].strip() == "" and text[end:line_end(text, end)].strip() == "":
                a, end = line_start(text, a), line_end(text, end)
            sites.append((f"{d.var}: -&{var}", lambda a=a, end=end: splice(text, a, end, "")))
    return sites


def op_needed_true(text: str) -> list[Site]:
    ds = vmstate_descriptions(text)
    subs = subsection_vars(ds)
    funcs = {f.name: f for f in functions(text)}
    sites, seen = [], set()
    for d in ds:
        f = funcs.get(d.needed or "")
        if d.var not in subs or not f or f.name in seen:
            continue
        body = text[f.start + 1:f.end - 1]
        if re.fullmatch(r"\s*return\s+true\s*;\s*", body):
            continue
        seen.add(f.name)
        at = line_end(text, f.start)
        sites.append((f"{d.var}: {f.name}() returns true", lambda at=at: splice(text, at, at, "    return true;\n")))
    return sites


def op_raise_minimum(text: str) -> list[Site]:
    sites = []
    for d in vmstate_descriptions(text):
        if d.version and d.minimum:
            v = int(text[slice(*d.version)]) + 1
            first, second = sorted((d.version, d.minimum), reverse=True)  # later span first

            def mut(d=d, v=v, first=first, second=second):
                return splice(splice(text, *first, str(v)), *second, str(v))
            sites.append((f"{d.var}: version_id/minimum_version_id -> {v}", mut))
    return sites


@lru_cache(maxsize=2)
def realize_functions(text: str) -> list[tuple[Func, str]]:
    out = []
    for f in functions(text):
        if "realize" in f.name:
            var = pci_dev_var(text, f)
            if var:
                out.append((f, var))
    return out


def op_add_config_write(text: str) -> list[Site]:
    sites = []
    for f, var in realize_functions(text):
        at = line_start(text, f.end - 1)
        line = f"    pci_set_word({var}->config + PCI_SUBSYSTEM_ID, 0x5a5a);\n"
        sites.append((f"{f.name}: +pci_set_word({var}->config + PCI_SUBSYSTEM_ID)", lambda at=at, line=line: splice(text, at, at, line)))
    return sites


def op_add_checked_config_write(text: str) -> list[Site]:
    """A new write to a byte migration compares (under the cmask QEMU sets for every device)."""
    sites = []
    for f, var in realize_functions(text):
        at = line_start(text, f.end - 1)
        line = f"    pci_set_byte({var}->config + PCI_CLASS_PROG, 0x5a);\n"
        sites.append((f"{f.name}: +pci_set_byte({var}->config + PCI_CLASS_PROG)",
                      lambda at=at, line=line: splice(text, at, at, line)))
    return sites


def op_change_config_write(text: str) -> list[Site]:
    sites = []
    for f, _var in realize_functions(text):
        for m in CONFIG_WRITE_RE.finditer(text, f.start, f.end):
            got = call_args(text, m)
            if not got or len(got[1]) < 2:
                continue
            a, b = got[1][-1]
            val = text[a:b]
            sites.append((f"{f.name}: {m.group(1)}(..., {val}) -> ({val}) ^ 1",
                          lambda a=a, b=b, val=val: splice(text, a, b, f"({val}) ^ 1")))
    return sites


def op_pci_id(which: str) -> Callable[[str], list[Site]]:
    def op(text: str) -> list[Site]:
        sites = []
        for f in functions(text):
            if "class_init" not in f.name:
                continue
            for m in PCI_ID_RE.finditer(text, f.start, f.end):
                if m.group(2) != which:
                    continue
                val = m.group(3).strip()
                if which == "revision":
                    new = str(int(val, 0) + 1) if re.fullmatch(r"0x[0-9a-fA-F]+|\d+", val) else f"({val}) + 1"
                else:
                    new = "PCI_CLASS_SYSTEM_OTHER" if val == "PCI_CLASS_OTHERS" else "PCI_CLASS_OTHERS"
                a, b = m.start(3), m.start(3) + len(m.group(3).rstrip())
                sites.append((f"{f.name}: {m.group(1)}->{which} = {val} -> {new}",
                              lambda a=a, b=b, new=new: splice(text, a, b, new)))
        return sites
    return op


def prop_default_change(val: str) -> str:
    if val in ("true", "false"):
        return "false" if val == "true" else "true"
    if re.fullmatch(r"0x[0-9a-fA-F]+|\d+", val):
        return str(int(val, 0) + 1)
    return f"({val}) + 1"


def op_prop_default(text: str) -> list[Site]:
    sites = []
    for m in PROP_RE.finditer(text):
        got = call_args(text, m)
        if not got or len(got[1]) != 4:
            continue
        a, b = got[1][3]
        val = text[a:b]
        new = prop_default_change(val)
        name = text[slice(*got[1][0])]
        sites.append((f"DEFINE_PROP_{m.group(1)}({name}): {val} -> {new}",
                      lambda a=a, b=b, new=new: splice(text, a, b, new)))
    return sites


def op_bit_on(text: str) -> list[Site]:
    sites = []
    for m in BIT_RE.finditer(text):
        got = call_args(text, m)
        if not got or len(got[1]) != 5 or text[slice(*got[1][4])] != "false":
            continue
        a, b = got[1][4]
        name = text[slice(*got[1][0])]
        sites.append((f"{text[m.start():m.end() - 1].strip()}({name}): false -> true",
                      lambda a=a, b=b: splice(text, a, b, "true")))
    return sites


# benign operators


def op_reflow(text: str) -> list[Site]:
    """Re-indent a field list by two columns and join its first two one-line fields."""
    sites = []
    for d in vmstate_descriptions(text):
        fs = [f for f in d.fields if f.whole_line]
        if len(fs) < 3 or not all(f.whole_line for f in d.fields):
            continue

        def mut(d=d, fs=fs):
            a, b = line_start(text, d.fields[0].start), line_end(text, d.fields[-1].end)
            block = text[a:b]
            lines = block.splitlines(True)
            x, y = fs[0], fs[1]
            lx = text[line_start(text, x.start):line_end(text, x.end)]
            ly = text[line_start(text, y.start):line_end(text, y.end)]
            if lx.count("\n") == 1 and ly.count("\n") == 1 and len(lx.rstrip()) + len(ly.strip()) < 96:
                joined = lx.rstrip("\n") + " " + ly.strip() + "\n"
                block = block.replace(lx + ly, joined, 1)
                lines = block.splitlines(True)
            return text[:a] + "".join("  " + ln if ln.strip() else ln for ln in lines) + text[b:]
        sites.append((f"{d.var}: fields re-indented and re-wrapped", mut))
    return sites


def op_comments(text: str) -> list[Site]:
    sites = []
    for d in vmstate_descriptions(text):
        fs = [f for f in d.fields if f.whole_line]
        if not fs or not d.name:
            continue

        def mut(d=d, fs=fs):
            t = text
            for f in reversed(fs[:3]):
                a = line_start(t, f.start)
                t = splice(t, a, a, t[a:f.start] + "/* field kept for migration */\n")
            e = line_end(t, d.name[1]) - 1
            return splice(t, e, e, " /* stream id */")
        sites.append((f"{d.var}: comments among the fields and on .name", mut))
    return sites


def rename_word(body: str, old: str, new: str) -> str:
    """Rename identifier old in C code, leaving member accesses, strings and comments alone."""
    out, i = [], 0
    tok = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|/\*.*?\*/|//[^\n]*|\b' + re.escape(old) + r"\b", re.S)
    for m in tok.finditer(body):
        if m.group(0) != old:
            continue
        before = body[:m.start()].rstrip()
        if before.endswith(("->", ".")):
            continue
        out.append(body[i:m.start()] + new)
        i = m.end()
    out.append(body[i:])
    return "".join(out)


LOCAL_RE = re.compile(r"^\s+(?:const\s+)?(?:struct\s+)?\w+\s*\*?\s*(\w+)\s*(?:=[^;]*)?;", re.M)


def op_rename_local(text: str) -> list[Site]:
    sites = []
    for f, _var in realize_functions(text):
        body = text[f.start:f.end]
        for m in LOCAL_RE.finditer(body):
            name = m.group(1)
            if name in ("return", "else") or len(re.findall(r"\b" + name + r"\b", body)) < 2:
                continue
            new = name + "_r"
            sites.append((f"{f.name}: local {name} -> {new}",
                          lambda f=f, name=name, new=new: text[:f.start] + rename_word(text[f.start:f.end], name, new)
                          + text[f.end:]))
            break
    return sites


def op_rename_vmsd_var(text: str) -> list[Site]:
    return [(f"{d.var} -> {d.var}_r", lambda d=d: rename_word(text, d.var, d.var + "_r"))
            for d in vmstate_descriptions(text) if d.static]


HELPER_LINE_RE = re.compile(r"^(\s*)(pci_set_(?:byte|word|long|quad)|pci_config_set_\w+)\s*\(.*\);\s*$")
HELPER_WORDS = {"config", "wmask", "w1cmask", "cmask"}


def op_move_to_helper(text: str) -> list[Site]:
    """Consecutive config writes of a realize function moved into a new static helper."""
    sites = []
    for f, var in realize_functions(text):
        body_lines = text[f.start:f.end].splitlines(True)
        run: list[int] = []
        best: list[int] = []
        for i, ln in enumerate(body_lines):
            m = HELPER_LINE_RE.match(ln)
            # only the PCIDevice, its config arrays and called functions: a local alias such as
            # "uint8_t *conf = dev->config" is not in the helper's scope
            words = set(re.findall(r"\b([a-z_][a-z0-9_]*)\b(?!\s*\()", ln)) if m else set()
            ok = m and all(w == var or w in HELPER_WORDS for w in words)
            if ok:
                run.append(i)
                best = run if len(run) > len(best) else best
            else:
                run = []
        if not best:
            continue

        def mut(f=f, var=var, best=best[:], body_lines=body_lines):
            helper = f"{f.name}_config_init"
            moved = "".join("    " + body_lines[i].strip() + "\n" for i in best)
            indent = re.match(r"\s*", body_lines[best[0]]).group(0)
            new_body = (body_lines[:best[0]] + [f"{indent}{helper}({var});\n"] + body_lines[best[-1] + 1:])
            fs = line_start(text, text.rfind("\n", 0, f.start) if text[f.start - 1] == "\n" else f.start)
            # the helper goes before the line that starts the function's declaration
            decl = text.rfind("\n\n", 0, f.start) + 2
            decl = decl if decl > 1 and decl <= fs else fs
            return (text[:decl] + f"static void {helper}(PCIDevice *{var})\n{{\n{moved}}}\n\n"
                    + text[decl:f.start] + "".join(new_body) + text[f.end:])
        sites.append((f"{f.name}: {len(best)} config write(s) -> {f.name}_config_init()", mut))
    return sites


BREAK_OPS: dict[str, Callable[[str], list[Site]]] = {
    "swap-fields": op_swap,
    "remove-field": op_remove_field,
    "add-field": op_add_field,
    "retype-field": op_retype,
    "rename-vmsd": op_rename(False),
    "rename-subsection": op_rename(True),
    "drop-subsection": op_drop_subsection,
    "needed-true": op_needed_true,
    "raise-minimum-version": op_raise_minimum,
    "add-config-write": op_add_config_write,
    "add-checked-config-write": op_add_checked_config_write,
    "change-config-write": op_change_config_write,
    "change-revision": op_pci_id("revision"),
    "change-class-id": op_pci_id("class_id"),
    "prop-default": op_prop_default,
    "feature-bit-on": op_bit_on,
}
BENIGN_OPS: dict[str, Callable[[str], list[Site]]] = {
    "reflow-fields": op_reflow,
    "add-comments": op_comments,
    "rename-local": op_rename_local,
    "rename-vmsd-var": op_rename_vmsd_var,
    "config-writes-to-helper": op_move_to_helper,
}


def file_diff(path: str, old: str, new: str) -> str:
    body = "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"a/{path}", f"b/{path}"))
    return f"diff --git a/{path} b/{path}\n{body}"


def as_patch(subject: str, diff: str) -> str:
    return (f"From: qlint bench <bench@example.invalid>\nSubject: [PATCH] {subject}\n\n"
            f"Generated mutation.\n---\n{diff}")


# ---------------------------------------------------------------------------------------------
# Compat ablation: the diff of a real commit with its compat entries taken out or moved.

ARRAY_RE = re.compile(r"GlobalProperty\s+(\w*compat\w*)\s*\[\s*\]\s*=\s*\{|"
                      r"(compat_props)\s*=\s*\(GlobalProperty\s*\[\s*\]\s*\)\s*\{")
MACRO_RE = re.compile(r"^[ \t]*#[ \t]*define[ \t]+(\w*COMPAT\w*)\b.*\\\n", re.M)


@dataclass
class Region:
    name: str
    first: int  # 1-based line of the opening line
    last: int  # 1-based, inclusive
    open_line: int  # 1-based line after which an entry can go


def compat_regions(text: str) -> list[Region]:
    out = []
    for m in ARRAY_RE.finditer(text):
        o = m.end() - 1
        c = match_close(text, o)
        if c > 0:
            out.append(Region(m.group(1) or m.group(2), line_of(text, m.start()) + 1, line_of(text, c - 1) + 1,
                              line_of(text, o) + 1))
    lines = text.splitlines()
    for m in MACRO_RE.finditer(text):
        first = line_of(text, m.start()) + 1
        last = first
        while last < len(lines) and lines[last - 1].rstrip().endswith("\\"):
            last += 1
        out.append(Region(m.group(1), first, last, first))
    return out


def region_at(regions: list[Region], line: int | None) -> Region | None:
    """The array or macro whose entries include line (not its opening line, nor an array's "};")."""
    if line is None:
        return None
    return next((r for r in regions if r.first < line < r.last or (r.first < line == r.last and r.name.isupper())),
                None)


def version_of(name: str) -> tuple[str, tuple[int, int]] | None:
    m = re.fullmatch(r"(\w*?)_?(\d+)_(\d+)", name)
    return (m.group(1).lower(), (int(m.group(2)), int(m.group(3)))) if m else None


def older_region(regions: list[Region], name: str) -> Region | None:
    """The array or macro of the same family with the next older version."""
    me = version_of(name)
    if not me:
        return None
    cands = [(v[1], r) for r in regions if (v := version_of(r.name)) and v[0] == me[0] and v[1] < me[1]]
    return max(cands, key=lambda x: x[0])[1] if cands else None


HUNK_RE = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@(.*)$")


@dataclass
class Hunk:
    old_start: int
    new_start: int
    tail: str  # what follows the second "@@"
    lines: list[str]


@dataclass
class FileDiff:
    header: list[str]
    path: str | None
    hunks: list[Hunk]
    trailer: list[str] = field(default_factory=list)  # e.g. a mail's signature after the last hunk


def parse_diff(diff: str) -> tuple[str, list[FileDiff]]:
    """(text before the first file, file sections) of a git diff or format-patch."""
    head: list[str] = []
    files: list[FileDiff] = []
    cur: FileDiff | None = None
    for ln in diff.splitlines(True):
        if ln.startswith("diff --git "):
            cur = FileDiff([ln], None, [])
            files.append(cur)
        elif cur is None:
            head.append(ln)
        elif m := HUNK_RE.match(ln.rstrip("\n")):
            if cur.trailer:
                raise ValueError(f"hunk after the end of {cur.path}")
            cur.hunks.append(Hunk(int(m.group(1)), int(m.group(3)), m.group(5), []))
        elif cur.hunks and not cur.trailer and ln[:1] in (" ", "+", "-", "\\"):
            cur.hunks[-1].lines.append(ln)
        elif cur.hunks:
            cur.trailer.append(ln)
        else:
            if ln.startswith("+++ b/"):
                cur.path = ln[6:].rstrip("\n")
            elif ln.startswith("--- a/") and cur.path is None:
                cur.path = ln[6:].rstrip("\n")
            cur.header.append(ln)
    return "".join(head), files


def hunk_positions(h: Hunk) -> list[tuple[str, int | None, int | None]]:
    """For each line of a hunk: (line, old line number, new line number)."""
    old, new = h.old_start, h.new_start
    out = []
    for ln in h.lines:
        tag = ln[:1]
        if tag == " ":
            out.append((ln, old, new))
            old, new = old + 1, new + 1
        elif tag == "-":
            out.append((ln, old, None))
            old += 1
        elif tag == "+":
            out.append((ln, None, new))
            new += 1
        else:
            out.append((ln, None, None))
    return out


def render_file(fd: FileDiff) -> str:
    """A file section, its hunk headers counted from the hunks' lines."""
    out = list(fd.header)
    offset = 0
    for h in fd.hunks:
        n_old = sum(ln[:1] in " -" for ln in h.lines)
        n_new = sum(ln[:1] in " +" for ln in h.lines)
        new_start = h.old_start + offset + (1 if n_old == 0 else -1 if n_new == 0 else 0)
        out.append(f"@@ -{h.old_start},{n_old} +{new_start},{n_new} @@{h.tail}\n")
        out += h.lines
        offset += n_new - n_old
    return "".join(out + fd.trailer)


def strip_lines(diff: str, drop_new: dict[str, set[int]], keep_old: dict[str, set[int]]) -> str:
    """The diff without the added lines drop_new[path] (new line numbers), the removed lines
    keep_old[path] (old line numbers) turned back into context, hunk headers recounted, hunks
    left with no change dropped, and files left with no hunk dropped."""
    head, files = parse_diff(diff)
    out = [head]
    for fd in files:
        dn, ko = drop_new.get(fd.path, set()), keep_old.get(fd.path, set())
        if not fd.hunks:  # mode change, binary...
            out.append(render_file(fd))
            continue
        hunks = []
        for h in fd.hunks:
            lines = []
            for ln, o, n in hunk_positions(h):
                if ln[:1] == "+" and n in dn:
                    continue
                if ln[:1] == "-" and o in ko:
                    ln = " " + ln[1:]
                lines.append(ln)
            if any(ln[:1] in "+-" for ln in lines):
                hunks.append(Hunk(h.old_start, h.new_start, h.tail, lines))
        if hunks:
            out.append(render_file(FileDiff(fd.header, fd.path, hunks, fd.trailer)))
    return "".join(out)


def apply_section(old: str, fd: FileDiff) -> str:
    """The new text of a file from its old text and its diff section."""
    lines = old.splitlines(True)
    out, at = [], 1
    for h in fd.hunks:
        start = h.old_start if any(ln[:1] in " -" for ln in h.lines) else h.old_start + 1
        out += lines[at - 1:start - 1]
        at = start
        for ln in h.lines:
            if ln[:1] == " ":
                out.append(lines[at - 1])
                at += 1
            elif ln[:1] == "-":
                at += 1
            elif ln[:1] == "+":
                out.append(ln[1:])
    out += lines[at - 1:]
    return "".join(out)


def entry_line(ln: str) -> bool:
    s = ln[1:].strip().rstrip("\\").strip()
    return bool(s) and not s.startswith(("/*", "*", "//"))


@dataclass
class Ablation:
    removed: str | None
    moved: str | None
    why_not_moved: str
    arrays: list[str]


def norm_entry(ln: str) -> str:
    return ln.strip().rstrip("\\").strip()


def whole_initialisers(block: list[str]) -> list[str]:
    """Entry lines inserted inside an old-style list ("},{" or "},\\ {" before them, the closing
    "}," left to the context) made into whole "{ ... }," initialisers."""
    if block and re.match(r"\s*\}\s*,\s*\{", block[0]):
        block = [re.sub(r"^(\s*)\}\s*,\s*\{", r"\1{", block[0]), *block[1:]]
    elif block and re.fullmatch(r"\s*\}\s*,?\s*\\?\s*", block[0]):
        block = block[1:]
    body = "".join(block)
    if block and body.count("{") == body.count("}") + 1:
        indent = re.match(r"\s*", block[0]).group(0)
        block = [*block, f"{indent}}},\n"]
    return block


def ablate(diff: str, old_texts: dict[str, str], new_texts: dict[str, str]) -> Ablation | None:
    """The removed and moved variants of a diff that adds compat entries, or None if it adds none.

    old_texts/new_texts: the parent's and the commit's text of each changed file."""
    _, files = parse_diff(diff)
    drop, keep = defaultdict(set), defaultdict(set)
    added = defaultdict(list)  # (path, region name) -> added lines
    for fd in files:
        if fd.path not in new_texts:
            continue
        new_regions = compat_regions(new_texts[fd.path])
        old_regions = compat_regions(old_texts.get(fd.path, ""))
        kept = set()
        for h in fd.hunks:
            for ln, o, n in hunk_positions(h):
                if ln[:1] == "+" and (r := region_at(new_regions, n)) and not r.name.endswith("_defaults"):
                    drop[fd.path].add(n)
                    added[(fd.path, r.name)].append(ln[1:])
                elif ln[:1] == "-" and (r := region_at(old_regions, o)) and not r.name.endswith("_defaults"):
                    keep[fd.path].add(o)
                    kept.add(norm_entry(ln[1:]))
        for key in [k for k in added if k[0] == fd.path]:
            # a line the commit only re-punctuated (a macro's last entry gaining its "\\") stays put
            added[key] = [ln for ln in added[key] if norm_entry(ln) not in kept]
    if not any(entry_line("+" + ln) for block in added.values() for ln in block):
        return None
    removed = strip_lines(diff, drop, keep)
    head, rfiles = parse_diff(removed)
    sections = {fd.path: fd for fd in rfiles}
    new_files: dict[str, str] = {}
    why = ""
    for (path, name), block in added.items():
        if not any(entry_line("+" + ln) for ln in block):
            continue
        text = new_files.get(path)
        if text is None:
            old = old_texts.get(path, "")
            text = apply_section(old, sections[path]) if path in sections else old
        older = older_region(compat_regions(old_texts.get(path, "")), name)
        if not older:
            why = f"no array older than {name} in {path}"
            break
        block = whole_initialisers(block)
        body = "".join(block)
        if body.count("{") != body.count("}") or not body.lstrip().startswith("{"):
            why = f"the lines added to {name} are not whole initialisers"
            break
        target = next((r for r in compat_regions(text) if r.name == older.name), None)
        if not target:
            why = f"{older.name} gone from {path}"
            break
        if target.name.isupper():  # a macro: every moved line continues it
            block = [ln if ln.rstrip().endswith("\\") else ln.rstrip("\n") + " \\\n" for ln in block]
        lines = text.splitlines(True)
        new_files[path] = "".join(lines[:target.open_line] + block + lines[target.open_line:])
    moved = None
    if not why:
        out = [head]
        for fd in rfiles:
            out.append(file_diff(fd.path, old_texts[fd.path], new_files[fd.path]) if fd.path in new_files
                       else render_file(fd))
        out += [file_diff(p, old_texts[p], t) for p, t in new_files.items() if p not in sections]
        moved = "".join(out)
    return Ablation(removed, moved, why, sorted({n for (_p, n), b in added.items() if b}))


# ---------------------------------------------------------------------------------------------
# Running


def cat_files(repo: str, rev: str, paths: list[str]) -> dict[str, str]:
    """The text of each path at rev that exists (one git process)."""
    if not paths:
        return {}
    p = subprocess.run(["git", "-C", repo, "cat-file", "--batch"], capture_output=True,
                       input="".join(f"{rev}:{x}\n" for x in paths).encode())
    out, data, i = {}, p.stdout, 0
    for path in paths:
        nl = data.index(b"\n", i)
        head = data[i:nl].split()
        i = nl + 1
        if head[-1] == b"missing":
            continue
        size = int(head[2])
        out[path] = data[i:i + size].decode("utf-8", "replace")
        i += size + 1
    return out


def held_by_versioned(cmd: list[str], repo: str, rev: str, paths: list[str]) -> dict[str, bool]:
    """Whether `qlint machines --holds` names a versioned machine type building each path."""
    out = {}
    for k in range(0, len(paths), 300):
        chunk = paths[k:k + 300]
        p = subprocess.run([*cmd, "-C", repo, "machines", "--format", "json", rev,
                            *[a for x in chunk for a in ("--holds", x)]], capture_output=True, text=True)
        if p.returncode != 0:
            raise SystemExit(f"qlint machines failed at {rev}: {p.stderr.strip()[:200]}")
        for h in json.loads(p.stdout)["holds"]:
            out[h["query"]] = any(b.get("machine_types") for f in h["files"] for b in f.get("boards") or [])
    return out


def release_commit(repo: str, upstream: str, version: str) -> str:
    for ln in git(repo, "log", "--first-parent", "--format=%H %s", upstream, "--", "VERSION").splitlines():
        sha, subject = ln.split(" ", 1)
        if subject.strip() == f"Update version for v{version} release":
            return sha
    raise SystemExit(f"no release commit for v{version} on {upstream}")


def mutation_cases(args, cmd: list[str], rev: str, name: str, tmp: Path) -> list[dict]:
    sha = git(args.repo, "rev-parse", "--verify", f"{rev}^{{commit}}").strip()
    paths = [p for p in git(args.repo, "ls-tree", "-r", "--name-only", sha, "hw/").split()
             if p.endswith(".c")]
    texts = {p: t for p, t in cat_files(args.repo, sha, paths).items() if t.endswith("\n")}
    ops = {**{k: ("break", v) for k, v in BREAK_OPS.items()}, **{k: ("benign", v) for k, v in BENIGN_OPS.items()}}
    ops = {k: v for k, v in ops.items() if not args.ops or k in args.ops}
    sites = {op: [] for op in ops}
    for path in sorted(texts):
        for op, (_fam, fn) in ops.items():
            try:
                found = fn(texts[path])
            except (ValueError, IndexError, RecursionError):
                found = []
            sites[op] += [(path, label, thunk) for label, thunk in found]
    holds = held_by_versioned(cmd, args.repo, sha, sorted({p for s in sites.values() for p, _l, _t in s}))
    cases = []
    for op, (fam, _fn) in ops.items():
        pool = sites[op]
        random.Random(f"{args.seed}:{op}:{name}").shuffle(pool)
        want = {True: args.sites, False: args.unheld_sites}
        for path, label, thunk in pool:
            held = holds.get(path, False)
            if want[held] <= 0:
                continue
            new = thunk()
            if new == texts[path]:
                continue  # an operator that changed nothing is a bug of this script: tests catch it
            want[held] -= 1
            f = tmp / f"{len(os.listdir(tmp))}.patch"
            f.write_text(as_patch(f"{op} on {path}", file_diff(path, texts[path], new)))
            cases.append(dict(family=fam, operator=op, rev=name, base=sha, path=path, site=label,
                              held=held, patch=str(f), n_sites=len(pool)))
            if not any(want.values()):
                break
    return cases


def ablation_cases(args, tmp: Path) -> tuple[list[dict], list[dict]]:
    cases, skipped = [], []
    with open(args.corpus, newline="") as fh:
        rows = [r for r in csv.DictReader(fh, delimiter="\t") if r["label"] == "GUARDED"]
    for r in rows:
        commit, parent = r["commit"], r["parent"]
        diff = git(args.repo, "show", "--format=email", "--no-color", "--no-renames", commit,
                   "--", ".", ":(exclude)tests")
        _, files = parse_diff(diff)
        paths = [fd.path for fd in files if fd.path and fd.path.endswith((".c", ".h", ".inc"))]
        news = cat_files(args.repo, commit, paths)
        olds = cat_files(args.repo, parent, paths)
        ab = ablate(diff, olds, news)
        if ab is None:
            continue
        for kind, text in (("removed", ab.removed), ("moved", ab.moved)):
            if text is None:
                skipped.append(dict(id=r["id"], kind=r["kind"], why=ab.why_not_moved))
                continue
            f = tmp / f"{r['id']}-{kind}.patch"
            f.write_text(text)
            cases.append(dict(family="ablation", operator=f"ablation-{kind}", rev=parent[:10], base=parent,
                              path=";".join(paths), site=f"{r['id']} ({r['kind']}): {', '.join(ab.arrays)}",
                              id=r["id"], kind=r["kind"], held=True, patch=str(f),
                              # a commit that only added the entries leaves no change to review
                              empty="\ndiff --git " not in "\n" + text))
    return cases, skipped


def run_cases(cases: list[dict], cmd: list[str], repo: str, jobs: int, timeout: float) -> None:
    tty = sys.stderr.isatty()
    with cf.ThreadPoolExecutor(max_workers=max(1, jobs)) as ex:
        for c in cases:
            if c.get("empty"):
                c.update(status="empty", exit=None, findings=[], wall=0.0, stderr="")
        futs = {ex.submit(run_qlint, [*cmd, "--base", c["base"]], repo, f"--patch={c['patch']}", timeout): c
                for c in cases if not c.get("empty")}
        for i, fut in enumerate(cf.as_completed(futs), 1):
            c = futs[fut]
            try:
                c.update(fut.result())
            except Exception as e:  # never let one case abort the run
                c.update(status="crash", exit=None, findings=[], wall=0.0, stderr=repr(e)[:200])
            if tty:
                print(f"\r{i}/{len(cases)} cases", end="", file=sys.stderr, flush=True)
    if tty and cases:
        print(file=sys.stderr)
    for c in cases:
        errs = [f for f in c["findings"] if f.get("severity") == "error"]
        c.update(n_errors=len(errs), flagged=bool(errs), rules=",".join(sorted({str(f.get("rule")) for f in errs})))


def rows_for(cs: list[dict]) -> list:
    """sites, flagged, silent, exit 2, crash/timeout, rate (flagged / sites)."""
    cs = [c for c in cs if c["status"] != "empty"]
    ok = [c for c in cs if c["status"] == "ok"]
    flagged = sum(c["flagged"] for c in ok)
    bad = sum(c["status"] == "exit2" for c in cs)
    other = sum(c["status"] not in ("ok", "exit2") for c in cs)
    return [len(cs), flagged, len(ok) - flagged, bad, other, pct(flagged, len(cs))]


def report(cases: list[dict], skipped: list[dict], args, revs: list[tuple[str, str]], elapsed: float) -> list[str]:
    head = ["sites", "flagged (error)", "silent", "bad input (exit 2)", "crash/timeout", "rate"]
    out = []
    ab = [c for c in cases if c["family"] == "ablation"]
    if ab:
        out += ["### Compat ablation", "",
                "A GUARDED commit's diff with the compat entries it adds removed, or moved to the next older"
                " array of the same file; reviewed on the commit's parent. The rate is the share flagged.", "",
                table(["kind", *head, "compat-only commits"],
                      [[c, *rows_for(g := [x for x in ab if x["operator"] == c]), sum(x["status"] == "empty" for x in g)]
                       for c in ("ablation-removed", "ablation-moved")])]
        out += ["", "A compat-only commit (the fix of an earlier break) has nothing left once its entries are removed:"
                " it is not reviewed and not counted in sites."]
        kinds = sorted({c["kind"] for c in ab})
        out += ["", "Per corpus kind:", "",
                table(["corpus kind", "removed: sites", "flagged", "moved: sites", "flagged"],
                      [[k, *(v for op in ("ablation-removed", "ablation-moved")
                             for v in rows_for([c for c in ab if c["kind"] == k and c["operator"] == op])[:2])]
                       for k in kinds])]
        if skipped:
            out += ["", f"Not moved ({len(skipped)}): " + "; ".join(f"{s['id']} ({s['why']})" for s in skipped)]
        by_id = defaultdict(dict)
        for c in ab:
            by_id[c["id"]][c["operator"]] = c

        def verdict(c):
            if c is None:
                return "-"
            if c["status"] != "ok":
                return c["status"]
            found = ", ".join(sorted({str(f.get("rule")) for f in c["findings"]}))
            return ("flagged" if c["flagged"] else "silent") + (f" ({found})" if found else "")
        miss = [(i, d) for i, d in sorted(by_id.items())
                if any(c["status"] != "empty" and not c["flagged"] for c in d.values())]
        out += ["", f"#### Ablation misses ({len(miss)} commits)", "",
                table(["id", "kind", "arrays", "removed", "moved"],
                      [[i, next(iter(d.values()))["kind"], next(iter(d.values()))["site"].split(": ", 1)[1],
                        verdict(d.get("ablation-removed")), verdict(d.get("ablation-moved"))] for i, d in miss])
                if miss else "none"]
    for fam, title, note in (("break", "Break operators", "rate = flagged / sites: 100 % is the target on held files."),
                             ("benign", "Benign operators", "rate = flagged / sites: 0 % is the target.")):
        sub = [c for c in cases if c["family"] == fam]
        if not sub:
            continue
        rows = []
        for op in dict.fromkeys(c["operator"] for c in sub):
            for held in (True, False):
                g = [c for c in sub if c["operator"] == op and c["held"] == held]
                if g:
                    rows.append([op, "yes" if held else "no", *rows_for(g)])
        for held in (True, False):
            g = [c for c in sub if c["held"] == held]
            if g:
                rows.append(["**all**", "yes" if held else "no", *rows_for(g)])
        out += ["", f"### {title}", "", note + " held = a versioned machine type builds the file.", "",
                table(["operator", "held", *head], rows)]
        per_rev = [[name, *rows_for([c for c in sub if c["rev"] == name and c["held"]])] for name, _ in revs]
        out += ["", f"{title}, held files only, per tree:", "", table(["tree", *head], per_rev)]
    want = [c for c in cases if (c["family"] == "break" and c["held"] and not c["flagged"])
            or (c["family"] == "benign" and c["flagged"])]
    out += ["", f"### Misses on held files and false errors ({len(want)})", "",
            table(["operator", "tree", "path", "site", "status", "errors"],
                  [[c["operator"], c["rev"], c["path"], c["site"][:90], c["status"], c["rules"] or "-"] for c in want])
            if want else "none"]
    walls = [c.get("wall", 0.0) for c in cases]
    out += ["", f"{len(cases)} reviews, {sum(walls):.0f}s of review time, {elapsed:.0f}s elapsed with --jobs {args.jobs}."]
    return out


def write_tsv(path: Path, cases: list[dict]) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow(["operator", "rev", "path", "site", "held", "exit", "n_errors", "rules", "stderr"])
        for c in cases:
            w.writerow([c["operator"], c["rev"], c["path"], c["site"], "yes" if c["held"] else "no",
                        c["status"] if c["exit"] is None else c["exit"], c["n_errors"], c["rules"] or "-",
                        c["stderr"] or "-"])


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repo", "--mirror", dest="repo", default=os.environ.get(REPO_ENV),
                   help=f"QEMU git directory, bare is fine (default: ${REPO_ENV})")
    p.add_argument("--data", type=Path, default=os.environ.get(DATA_ENV),
                   help=f"directory holding corpus-dev.tsv (default: ${DATA_ENV})")
    p.add_argument("--upstream", default="master^", help="newest tree mutated (default: %(default)s)")
    p.add_argument("--releases", default=",".join(RELEASES),
                   help="older trees mutated: release commits of these versions on --upstream (default: %(default)s)")
    p.add_argument("--sites", type=int, default=3,
                   help="sites per operator per tree in files a versioned machine builds (default: %(default)s)")
    p.add_argument("--unheld-sites", type=int, default=1,
                   help="sites per operator per tree in other files (default: %(default)s)")
    p.add_argument("--seed", help="seed of the sample (default: the current time; the report names it)")
    p.add_argument("--ops", help="comma-separated operators to run (default: all)")
    p.add_argument("--no-ablation", action="store_true", help="skip the compat ablation")
    p.add_argument("--no-operators", action="store_true", help="skip the break and benign operators")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="reviews in parallel")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per review")
    p.add_argument("--qlint", help="qlint command (default: qlint on PATH, else python -m qlint.analyzer.cli)")
    p.add_argument("--tsv-out", type=Path, help="one row per case: operator, rev, path, site, held, exit,"
                   " n_errors, rules")
    args = p.parse_args(argv)
    if not args.repo:
        p.error(f"no QEMU git directory: pass --repo or set ${REPO_ENV}")
    if subprocess.run(["git", "-C", args.repo, "rev-parse", "--git-dir"], capture_output=True).returncode:
        p.error(f"not a git directory: {args.repo}")
    if not args.no_ablation:
        if args.data is None:
            p.error(f"no labelled data: pass --data DIR (or set ${DATA_ENV}), or --no-ablation")
        args.corpus = Path(args.data) / "corpus-dev.tsv"
        if not args.corpus.is_file():
            p.error(f"no such file: {args.corpus}")
    args.ops = set(filter(None, (args.ops or "").split(","))) or None
    if args.ops and not args.ops <= set(BREAK_OPS) | set(BENIGN_OPS):
        p.error("--ops: unknown " + ",".join(sorted(args.ops - set(BREAK_OPS) - set(BENIGN_OPS))))
    if args.sites < 0 or args.unheld_sites < 0:
        p.error("--sites and --unheld-sites must be at least 0")
    args.seed = args.seed or str(int(time.time()))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    cmd = qlint_command(args.qlint)
    revs = [] if args.no_operators else [(args.upstream, args.upstream)] + [
        (f"v{v}", release_commit(args.repo, args.upstream, v)) for v in filter(None, args.releases.split(","))]
    with tempfile.TemporaryDirectory(prefix="qlint-mutations-") as tmpdir:
        tmp = Path(tmpdir)
        cases, skipped = ([], []) if args.no_ablation else ablation_cases(args, tmp)
        for name, rev in revs:
            cases += mutation_cases(args, cmd, rev, name, tmp)
        if not cases:
            print("no cases", file=sys.stderr)
            return 2
        t0 = time.monotonic()
        run_cases(cases, cmd, args.repo, args.jobs, args.timeout)
        elapsed = time.monotonic() - t0
    shown = ["python3", *cmd[1:]] if cmd[0] == sys.executable else [os.path.basename(cmd[0]), *cmd[1:]]
    opts = f" --seed {args.seed} --sites {args.sites} --unheld-sites {args.unheld_sites}"
    trees = ", ".join(f"{n}" + ("" if n == r else f" ({r[:10]})") for n, r in revs)
    out = [f"Generated by `bench/mutations.py{opts}` on qlint commit `{git_rev(ROOT)}`, command"
           f" `{shlex.join(shown)}`" + (f", trees {trees}" if trees else "") + ".", ""]
    out += report(cases, skipped, args, revs, elapsed)
    print("\n".join(out))
    if args.tsv_out:
        write_tsv(args.tsv_out, cases)
    return 0


if __name__ == "__main__":
    sys.exit(main())
