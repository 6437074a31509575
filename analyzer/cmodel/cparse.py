"""Extract qlint's C model from QEMU source with tree-sitter.

This is the only module that imports tree_sitter.  It turns one file's bytes
into a :class:`~qlint.analyzer.cmodel.model.FileModel` and drops the syntax tree.

QEMU is full of macros that tree-sitter cannot expand; most files contain a
few ERROR nodes.  Extraction walks through them: an ERROR node is just another
container, and everything that still looks like a declaration, a function or a
call inside it is read.

Whatever the input, reading costs time linear in the file (walks use explicit stacks, scans
of the raw text are linear), bounded by the limits of :mod:`.limits`: a file over one is a
:class:`~.limits.LimitError`.  Bytes that are not UTF-8 are kept as lone surrogates
(``surrogateescape``), the same way everywhere, so a model read back from the cache equals
the one parsed.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import tree_sitter
import tree_sitter_c

from qlint.analyzer.cmodel import lexemes
from qlint.analyzer import limits
from qlint.analyzer.limits import (
    C_FILE_BYTES,
    COMPAT_ENTRIES,
    CONDITION_DEPTH,
    READ_BUDGET_BASE,
    READ_BUDGET_PER_BYTE,
    mib,
    over,
)
from qlint.analyzer.cmodel.model import (
    CONFIG_TARGETS,
    CompatArray,
    CompatEntry,
    ConfigWrite,
    FileModel,
    Function,
    Guard,
    PropertyDef,
    TypeInfoDef,
    VMField,
    VMStateDesc,
    VMStateMacro,
)

_LANGUAGE = tree_sitter.Language(tree_sitter_c.language())
_PARSER = tree_sitter.Parser(_LANGUAGE)


_BLANK = bytes(0x0A if b == 0x0A else 0x20 for b in range(256))  # every byte a space, newlines kept


def _parse(data: bytes, path: str = "") -> tree_sitter.Tree:
    """tree-sitter's tree of ``data``, in at most limits.PARSE_SECONDS of CPU time.

    tree-sitter-c is quadratic on some text no compiler takes: each ``/*`` of a line of 20,000
    with no ``*/`` lexes to the end of the file and fails (90 s).  A comment that is never
    closed runs to the end of the file for the C preprocessor, so that text is blanked first
    (its newlines kept): the tree is the one of the C the compiler sees.  Other such shapes
    (``/ *``, ``#include <`` repeated on a line, initializers opened thousands of times) are
    stopped by the time limit, a LimitError.
    """
    cut = lexemes.unclosed_comment(data)
    if cut is not None:
        data = data[:cut] + data[cut:].translate(_BLANK)
    deadline = time.process_time() + limits.PARSE_SECONDS

    def read(offset: int, _point) -> bytes:
        return data[offset:offset + 65536]

    def progress(*_state) -> bool:
        return time.process_time() > deadline  # True cancels the parse

    try:
        tree = _PARSER.parse(read, progress_callback=progress)
    except ValueError:  # "Parsing failed": cancelled
        _PARSER.reset()  # else the next parse would go on with this one
        if time.process_time() <= deadline:
            raise
        tree = None
    if tree is None:
        raise over(f"{path or 'a region of a file'}: tree-sitter took more than {limits.PARSE_SECONDS} s of CPU time to "
                   "parse it (text no C compiler takes?)", "PARSE_SECONDS")
    # the same tree over the bytes themselves (a tree read through a callback reads a node's
    # text through it too, 64 KiB at a time); with nothing edited, every node is reused
    return _PARSER.parse(data, old_tree=tree)


class _Budget:
    """What reading the file being extracted may still cost (limits.READ_BUDGET_PER_BYTE): the
    characters of nested text read again and the conditions held for its statements."""

    __slots__ = ("left", "path")

    def __init__(self):
        self.left, self.path = 1 << 62, ""

    def start(self, path: str, size: int) -> None:
        self.left, self.path = READ_BUDGET_PER_BYTE * size + READ_BUDGET_BASE, path

    def spend(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            self.left = 1 << 62  # one error, whatever catches it
            raise over(f"{self.path or 'a region of a file'}: reading its functions goes over their text more than "
                       f"{READ_BUDGET_PER_BYTE} times (statements or conditions nested too deep, or too many "
                       f"conditions around each statement)", "READ_BUDGET_PER_BYTE")


_BUDGET = _Budget()

COMPAT_ARRAY_RE = re.compile(r"^([a-z0-9]+(?:_[a-z0-9]+)*?)_compat_(\d+)_(\d+)(?:_\d+)?$")  # _4_0_1: a stable point release
COMPAT_MACRO_RE = re.compile(r"^([A-Z0-9]+(?:_[A-Z0-9]+)*?)_COMPAT_(\d+)_(\d+)$")
_COMPAT_DEFINE_RE = re.compile(rb"^[ \t]*#[ \t]*define[ \t]+(\w+_COMPAT_\d+_\d+)\b", re.M)
# One entry of a HW_COMPAT_X_Y macro.  Possessive quantifiers, a value that ends on a character
# that is not white space (or is one character) and a single place for a value made of white
# space keep it linear in the text: the plain pattern backtracks exponentially on a long word
# after ".driver =" and with the cube of a run of white space in a value.  It finds what
# the plain one finds (a test compares them).
_MACRO_ENTRY_RE = re.compile(
    r"\.driver\s*+=\s*+((?:\"(?:[^\"\\]|\\.)*+\"|\w++)(?:\s*+(?:\"(?:[^\"\\]|\\.)*+\"|\w++))*+)\s*+,\s*+"
    r"\.property\s*+=\s*+(\"(?:[^\"\\]|\\.)*+\"|\w++)\s*+,\s*+"
    r"\.value\s*+=(?:\s*+(?=[^\s,}\n])|\s*(?=[^\S\n]\n*+(?!\s)))"
    r"(\"(?:[^\"\\]|\\.)*+\"|[^,}\n](?:[^,}\n]*?(?<!\s))?)\s*+,?\s*+(?:\\\s*+)?[,}]",
    re.S,
)
_SHIFT_RE = re.compile(r"^\(*\s*(?:1|1U|1UL|1ULL|1LL|BIT|BIT_ULL)\s*(?:<<\s*|\()\s*\(?\s*([A-Za-z_]\w*)\s*\)*$")
_NUMBER_RE = re.compile(r"^\(*\s*(0[xX][0-9a-fA-F]+|\d+)[uUlL]*\s*\)*$")

_PCI_SET_RE = re.compile(
    r"^(?:pci_set_(?:byte|word|long|quad)(?:_by_mask)?"
    r"|pci_(?:byte|word|long|quad)_test_and_(?:set|clear)_mask"
    r"|pci_config_set_\w+"
    r"|st[bwlq]_(?:le_|be_)?p)$"
)
_CAP_CALL_RE = re.compile(
    r"^(?:pci_add_capability|pcie_add_capability|pci_register_bar|pci_pm_init"
    r"|msix?_init(?:_exclusive_bar)?|pcie_\w*init|pcie_\w*cap\w*_init|pcie_\w*_cap_init)$"
)
# PCIDeviceClass fields copied into config at realize time.
_CLASS_CONFIG_FIELDS = {
    "vendor_id": "PCI_VENDOR_ID",
    "device_id": "PCI_DEVICE_ID",
    "revision": "PCI_REVISION_ID",
    "class_id": "PCI_CLASS_DEVICE",
    "subsystem_vendor_id": "PCI_SUBSYSTEM_VENDOR_ID",
    "subsystem_id": "PCI_SUBSYSTEM_ID",
}
# pci_config_set_X() helpers and the register each one writes.
_CONFIG_SETTERS = {
    "vendor_id": "PCI_VENDOR_ID",
    "device_id": "PCI_DEVICE_ID",
    "revision": "PCI_REVISION_ID",
    "class": "PCI_CLASS_DEVICE",
    "prog_interface": "PCI_CLASS_PROG",
    "interrupt_pin": "PCI_INTERRUPT_PIN",
}
# Fields through which a device state reaches its embedded PCIDevice.
_PCI_EMBED_FIELDS = {"dev", "parent_obj", "pci_dev", "pdev", "pci", "parent", "pci_device", "pcidev", "parent_dev"}
_PCI_VAR_NAMES = {"pci_dev", "pdev", "pci_device", "pcidev", "pci", "dev", "d", "pd"}


def parse(path: str, data: bytes, facts_only: bool = False) -> FileModel:
    """Parse one C file into a FileModel.  Never raises on odd C.

    ``facts_only``: the model is good only for the prefilter's digest and compat entries
    (``prefilter.file_facts``), never for a rule.  Function bodies that cannot make a config
    write or a feature call (no word of ``MAY_WRITE``) are not walked, unless they name a
    function that writes (the callers decide whether a helper is init code).  Most bodies are
    skipped; the digest is the same as a full model's (a test compares them).
    """
    return _extract(path, data, facts_only)[0]


def parse_facts(path: str, data: bytes) -> tuple[FileModel, Shape]:
    """A facts-only model (see ``parse``) and the file's Shape."""
    model, tree, defined = _extract(path, data, True)
    writers = frozenset(w.function.encode() for w in model.writes)
    return model, Shape(writers, tuple(sorted(_shape_items(tree.root_node, writers))), tuple(sorted(defined)))


def _extract(path: str, data: bytes, facts_only: bool, tree: tree_sitter.Tree | None = None,
             writers: frozenset[bytes] = frozenset()) -> tuple[FileModel, tree_sitter.Tree, list[tuple[int, str]]]:
    """The model of ``data``, its tree, and (first row, name) of every function it defines.
    ``writers``: facts-only, functions that write besides those of ``data`` (it is cut from a file)."""
    check_size(path, data)
    _BUDGET.start(path, len(data))
    if tree is None:
        tree = _parse(data, path)
    model = FileModel(path=path)
    root = tree.root_node
    model.has_errors = root.has_error
    ex = _Extractor(model, data, facts_only, writers)
    ex.run(root)
    ex.skipped_callers()
    ex.compat_macros()
    ex.vmstate_macros()
    ex.prop_macros()
    return model, tree, ex.defined


def check_size(path: str, data: bytes) -> None:
    """A LimitError if ``data`` is over limits.C_FILE_BYTES."""
    if len(data) > C_FILE_BYTES:
        raise over(f"{path or 'a region of a file'} is {mib(len(data))}; qlint reads at most {mib(C_FILE_BYTES)} "
                   "of one C file", "C_FILE_BYTES")


def shape_items(data: bytes, writers: frozenset[bytes]
                ) -> tuple[list[tuple[int, int, bool, bool]], list[tuple[int, str]]] | None:
    """The Shape items of ``data`` parsed on its own (a few items cut from a file at item
    boundaries) and the functions it defines (as Shape.functions), or None when it does not
    parse cleanly or holds a directive."""
    root = _parse(data).root_node
    if root.has_error or not _region_kinds(root):
        return None
    fns = []
    for n in root.named_children:
        if n.type == "function_definition":
            name, _params, body = _function_parts(n)
            if name and body is not None:
                fns.append((n.start_point[0], name))
    return _shape_items(root, writers), fns


def region_model(data: bytes, writers: frozenset[bytes]) -> tuple[
        FileModel, list[tuple[int, int, bool, bool]], list[tuple[str, bytes]], list[tuple[int, str]]] | None:
    """A facts-only model of a few top-level items cut from a file at item boundaries and
    parsed on their own, their Shape items, their syntax errors and the functions they define
    (as Shape.functions); None if they hold a conditional, a directive other than ``#include``
    and ``#define``, or a syntax error between items.  ``writers``: the file's functions that
    write; bodies that name one are walked, so the calls to them are known.  A syntax error
    inside an item is common (macros such as ``QLIST_FOREACH(...) {``); in a whole file, a new
    one can also take the items after it down with it.

    An item's facts come from its own text: a function's walk and a declaration's reading
    know nothing of the rest of the file.  So the facts of the same items in the whole file
    are these, apart from which functions call which (see ``prefilter._carry``).
    """
    tree = _parse(data)
    root = tree.root_node
    if not _region_kinds(root):
        return None
    model, _tree, defined = _extract("", data, True, tree, writers)
    return model, _shape_items(root, writers), _errors(root), defined


def _region_kinds(root) -> bool:
    """Are the top-level items of a region parsed on its own of a kind a region may hold: no
    conditional, no directive but #include and #define, no syntax error between items?"""
    return not any(k.type == "ERROR" or (k.type.startswith("preproc") and k.type not in ("preproc_include", *_DEFINES))
                   for k in root.named_children)


def _errors(root) -> list[tuple[str, bytes]]:
    """The syntax errors under ``root`` (error and missing nodes: kind and text), in order."""
    out = []
    stack = [root]
    while stack:
        n = stack.pop()
        if n.is_error or n.is_missing:
            out.append((n.type, n.text))
            continue
        stack.extend(reversed([c for c in n.children if c.has_error or c.is_missing]))
    return out


def _shape_items(root, writers: frozenset[bytes]) -> list[tuple[int, int, bool, bool]]:
    """(first row, last row, inert, closed) of the top-level items under ``root``, in order; the
    items of a preprocessor conditional are its own, and its directive rows are not inert.  A
    closed item ends where the next one cannot continue it: a comment, a directive, or text
    ending with ``;`` or ``}`` (not a macro call such as ``DEFINE_MACHINE(7, 2)``)."""
    out: list[tuple[int, int, bool, bool]] = []
    stack = list(reversed(root.named_children))
    while stack:
        item = stack.pop()
        if isinstance(item, tuple):  # a directive row of a conditional
            out.append(item)
            continue
        t = item.type
        a, (b, col) = item.start_point[0], item.end_point
        if col == 0 and b > a:
            b -= 1  # a directive ends with its newline
        if t in ("preproc_ifdef", "preproc_if", "preproc_else", "preproc_elif", "preproc_elifdef"):
            inner = [c for c in item.named_children if c.start_point[0] > a and c.type not in _CONDITION_KINDS]
            if not inner:
                out.append((a, b, False, True))
                continue
            # the directive's own rows (not the blank rows before its first item; #endif) stay fixed
            head = a
            for c in item.children:
                if c.start_byte >= inner[0].start_byte:
                    break
                head = max(head, c.end_point[0] if c.is_named else c.start_point[0])  # its newline may take blank rows
            out.append((a, head, False, True))
            last = item.child(item.child_count - 1)
            tail = ([(last.start_point[0],) * 2 + (False, True)]
                    if last is not None and last.type == "#endif" and not last.is_missing else [])
            stack.extend(reversed(inner + tail))
            continue
        text = item.text
        closed = t == "comment" or t.startswith("preproc") or text.rstrip().endswith((b";", b"}"))
        if t in ("comment", "preproc_include"):
            inert = True  # qlint reads no fact from an #include (nor follows it)
        elif t in _DEFINES:
            # a fact from a macro is a mask (1 << N, BIT(N)) or what the raw-text scans read:
            # DEFINE_PROP_*, VMSTATE_*, *_COMPAT_* lists
            inert = not (item.has_error or TOPLEVEL_FACTS.search(text) or b"DEFINE_PROP" in text
                         or any(w in text for w in writers))
        elif t == "function_definition":
            name, params, body = _function_parts(item)
            inert = bool(name) and body is not None and not (
                item.has_error or b"#" in text or b"GlobalProperty" in body.text or _may_write(params, body)
                or any(w in text for w in writers))
        else:
            inert = not (item.has_error or b"#" in text or TOPLEVEL_FACTS.search(text) or any(w in text for w in writers))
        out.append((a, b, inert, closed))
    return out


_DEFINES = ("preproc_def", "preproc_function_def")

# Children of a preprocessor conditional that are its condition, not items.
_CONDITION_KINDS = ("identifier", "binary_expression", "unary_expression", "call_expression", "defined",
                    "parenthesized_expression", "number_literal", "char_literal", "preproc_defined")

# What a top-level item other than a function needs to hold to give a fact (see _Extractor: its
# declarations, enumerators and the raw-text macro scans; a directive is ruled out apart).
TOPLEVEL_FACTS = re.compile(rb"Property|VMState|VMSTATE|GlobalProperty|compat|COMPAT|<<|BIT|QEMUMachine|MachineClass")


@dataclass(frozen=True)
class Shape:
    """Where a file's facts can come from (see ``prefilter._carry``): its top-level items as
    (first row, last row, inert, closed), 0-based, in order (see _shape_items), and the
    functions that write.  An inert item cannot hold a fact: a function that neither writes
    nor names a function that does, nor holds a directive, a GlobalProperty or a syntax error;
    a comment; an #include; a declaration with none of the words of TOPLEVEL_FACTS; a #define
    that makes no mask and no list the raw-text scans read.  Other directive rows are not
    inert.  ``functions``: (first row, name) of every function definition, in
    order (a name defined twice, under #ifdef, is one entry of the model: the last one)."""

    writers: frozenset[bytes]
    items: tuple[tuple[int, int, bool, bool], ...]
    functions: tuple[tuple[int, str], ...]


def statement_spans(data: bytes) -> list[tuple[int, int, int]]:
    """(first line, last line, depth) of every statement directly inside a block, for ``--fix``.

    A fix wraps whole statements in a guard, and a config write may sit inside a
    larger one (``if (pci_add_capability(...) < 0) { return; }``).
    """
    tree = _parse(data)
    out: list[tuple[int, int, int]] = []
    stack = [(tree.root_node, 0)]
    while stack:
        n, depth = stack.pop()
        inner = depth + 1 if n.type == "compound_statement" else depth
        for c in n.named_children:
            if n.type == "compound_statement" and c.type != "comment":
                out.append((c.start_point[0] + 1, c.end_point[0] + 1, inner))
            stack.append((c, inner))
    return sorted(out)


def has_syntax_errors(data: bytes) -> bool:
    return _parse(data).root_node.has_error


# ---------------------------------------------------------------------------
# helpers on nodes


def _text(node) -> str:
    return node.text.decode("utf-8", "surrogateescape")


def _norm(node) -> str:
    """Tokens of ``node`` joined without white space or comments."""
    text = node.text
    _BUDGET.spend(len(text))
    if node.type != "preproc_arg" and text.isascii() and not _NORM_SLOW.search(text):
        # no string, character, comment, directive or line continuation: every byte that is not
        # white space belongs to a token (a macro's body is one token that keeps its spaces)
        return b"".join(text.split()).decode()
    out: list[str] = []
    stack = [node]
    while stack:
        n = stack.pop()
        if n.type == "comment":
            continue
        if n.child_count == 0:
            out.append(_text(n))
        else:
            stack.extend(reversed(n.children))
    return "".join(out)


_NORM_SLOW = re.compile(rb"[\"'/\\#]")


def _string_value(node) -> str | None:
    if node is None:
        return None
    if node.type == "string_literal":
        return "".join(_text(c) for c in node.children if c.type in ("string_content", "escape_sequence"))
    if node.type == "concatenated_string":
        if any(c.type != "string_literal" for c in node.named_children):
            return None  # "Opteron_G3" "-" TYPE_X86_CPU: resolved later with the type macros
        parts = [_string_value(c) for c in node.named_children]
        return "".join(p or "" for p in parts)
    return None


def _unparen(node):
    while node is not None and node.type in ("parenthesized_expression", "cast_expression"):
        if node.type == "cast_expression":
            node = node.child_by_field_name("value")
        else:
            inner = [c for c in node.named_children if c.type != "comment"]
            if len(inner) != 1:
                return node
            node = inner[0]
    return node


class _Joined:
    """Two argument nodes read as one, ``struct Foo``: the type, named by its tag as struct_fields does."""

    def __init__(self, first, second):
        self.type = second.type
        self.start_point, self.end_point = first.start_point, second.end_point
        self.text = second.text
        self.named_children, self.children = second.named_children, second.children


def _type_args_joined(args: list) -> list:
    """``DEFINE_PROP_*("name", struct Foo, field, ...)``: tree-sitter splits the type argument in two.

    A lone ``struct``/``union`` argument followed by a name is one argument, the type.
    """
    out = []
    i = 0
    while i < len(args):
        a = args[i]
        if i + 1 < len(args) and _text(a) in ("struct", "union"):
            out.append(_Joined(a, args[i + 1]))
            i += 2
            continue
        out.append(a)
        i += 1
    return out


def _args(call) -> list:
    al = call.child_by_field_name("arguments")
    if al is None:
        return []
    return [c for c in al.named_children if c.type != "comment"]


def _call_name(call) -> str | None:
    fn = call.child_by_field_name("function")
    if fn is not None and fn.type == "identifier":
        return _text(fn)
    return None


def _declarator_name(node) -> str | None:
    while node is not None:
        if node.type in ("identifier", "field_identifier", "type_identifier"):
            return _text(node)
        nxt = node.child_by_field_name("declarator")
        if nxt is None:
            for c in node.named_children:
                if c.type == "identifier":
                    return _text(c)
            return None
        node = nxt
    return None


def _fields_in(node) -> tuple[str, ...]:
    out = []
    stack = [node]
    while stack:
        n = stack.pop()
        if n.type == "field_identifier":
            out.append(_text(n))
        stack.extend(n.named_children)  # an anonymous node is a token: no field inside
    return tuple(sorted(set(out)))


def _field_chain(node) -> tuple[str | None, list[str]]:
    """``s->dev.config`` -> ("s", ["dev", "config"]); PCI_DEVICE(s)->config -> ("PCI_DEVICE()", [...])."""
    fields: list[str] = []
    node = _unparen(node)
    while node is not None and node.type == "field_expression":
        f = node.child_by_field_name("field")
        fields.append(_text(f) if f is not None else "?")
        node = _unparen(node.child_by_field_name("argument"))
    fields.reverse()
    if node is None:
        return None, fields
    if node.type == "identifier":
        return _text(node), fields
    if node.type == "call_expression":
        return (_call_name(node) or "?") + "()", fields
    if node.type == "pointer_expression":
        inner = _unparen(node.child_by_field_name("argument"))
        if inner is not None and inner.type == "identifier":
            return _text(inner), fields
    return None, fields


def _flatten_sum(node) -> list:
    """The terms of ``a + b + (c + d)``, in order (a loop: a sum may have thousands of terms)."""
    out = []
    stack = [node]
    while stack:
        n = _unparen(stack.pop())
        if n is not None and n.type == "binary_expression":
            op = n.child_by_field_name("operator")
            if op is not None and _text(op) == "+":
                stack.append(n.child_by_field_name("right"))
                stack.append(n.child_by_field_name("left"))
                continue
        out.append(n)
    return out


class _Text:
    """A file's raw text with its lines and the line of any offset, made once (the raw-text scans
    of #defines ask for them once per #define)."""

    __slots__ = ("data", "_lines", "_rows")

    def __init__(self, data: bytes):
        self.data, self._lines, self._rows = data, None, None

    @property
    def lines(self) -> list[bytes]:
        if self._lines is None:
            self._lines = self.data.split(b"\n")
        return self._lines

    def row(self, offset: int) -> int:
        if self._rows is None:
            self._rows = lexemes.Lines(self.data)
        return self._rows.row(offset)

    def defines(self, rx: re.Pattern, close: bool = False):
        """(match, 0-based row, body, first line, last line) of each ``#define`` that ``rx`` (a
        multi-line pattern matching from the start of the line) finds, as the preprocessor sees
        them: a ``#define`` on a continuation line of another is part of that one's body, not
        a definition.  ``close``: ``rx`` ends with the ``(`` of a parameter list, and only
        definitions with a ``)`` after it count (the match is then extended to it)."""
        data, pos = self.data, 0
        while True:
            m = rx.search(data, pos)
            if m is None:
                return
            if close:
                end = data.find(b")", m.end())
                if end < 0:
                    return  # no later one has a ")" after it either
            row = self.row(m.start())
            body, first, last = _logical_define(self.lines, row)
            yield m, row, body, first, last
            nxt = data.find(b"\n", m.start())
            for _ in range(last - first):  # past the continuation lines
                nxt = data.find(b"\n", nxt + 1) if nxt >= 0 else -1
            pos = len(data) if nxt < 0 else nxt + 1
            if close:
                pos = max(pos, end + 1)


def _function_macros(text: _Text, name_re: bytes):
    """(name, params, top-level calls of the body, 1-based line) of each ``#define NAME(params) ...``."""
    rx = re.compile(rb"^[ \t]*#[ \t]*define[ \t]+(" + name_re + rb")\(", re.M)
    for m, row, body, _first, _last in text.defines(rx, close=True):
        body = body[body.find(")") + 1:] if body.lstrip().startswith("(") else body
        raw = text.data[m.end():text.data.find(b")", m.end())]
        params = tuple(p.strip() for p in raw.decode("utf-8", "surrogateescape").split(",") if p.strip())
        yield m.group(1).decode(), params, [(n, tuple(a)) for n, a in _calls_in(body)], row + 1


def _designated(init) -> dict:
    """``{ .name = x, .parent = y }`` -> {"name": node, "parent": node}."""
    vals = {}
    for pair in init.named_children:
        if pair.type != "initializer_pair":
            continue
        des = pair.child_by_field_name("designator")
        val = pair.child_by_field_name("value")
        if des is not None and val is not None:
            vals[_text(des).lstrip(".")] = val
    return vals


def macro_props(name: str, params, calls, args, array: str, path: str, line: int) -> list[PropertyDef]:
    """The properties a DEFINE_PROP-holding macro defines when called with ``args``."""
    subst = dict(zip(params, args))

    def sub(t: str) -> str:
        return re.sub(r"\b\w+\b", lambda m: subst.get(m.group(0), m.group(0)), t)

    out = []
    for macro, margs in calls:
        a = [sub(x) for x in margs]
        if len(a) < 3 or not macro.startswith("DEFINE_PROP"):
            continue
        pname = a[0].strip('"') if a[0].startswith('"') else a[0]
        bit = a[3] if macro.startswith("DEFINE_PROP_BIT") and len(a) > 3 else None
        default = (a[4] if len(a) > 4 else None) if macro.startswith("DEFINE_PROP_BIT") else (a[3] if len(a) > 3 else None)
        out.append(PropertyDef(name=pname, macro=macro, struct=a[1], field=a[2], bit=bit, default=default,
                               array=array, line=line, path=path))
    return out


def _initializer_of(node):
    """The initializer_list of ``(const VMStateField[]) {...}`` or of a plain ``{...}``."""
    if node is None:
        return None
    if node.type == "initializer_list":
        return node
    if node.type == "compound_literal_expression":
        v = node.child_by_field_name("value")
        return v if v is not None and v.type == "initializer_list" else None
    return None


def _calls_in(text: str) -> list[tuple[str, list[str]]]:
    """Top-level NAME(args) calls in a macro body, arguments split at top-level commas."""
    out = []
    i = 0
    for m in re.finditer(r"\b([A-Z_][A-Z0-9_]*)\s*\(", text):
        if m.start() < i:
            continue
        depth, j, args, cur = 1, m.end(), [], []
        while j < len(text) and depth:
            c = text[j]
            if c in "([{":
                depth += 1
            elif c in ")]}":
                depth -= 1
                if depth == 0:
                    break
            if c == "," and depth == 1:
                args.append("".join(cur))
                cur = []
            else:
                cur.append(c)
            j += 1
        args.append("".join(cur))
        out.append((m.group(1), ["".join(a.split()) for a in args if a.strip()]))
        i = j + 1
    return out


def _c_int(text: str) -> int:
    """A C integer literal: 0x1f, 017 (octal), 42."""
    if len(text) > 1 and text[0] == "0" and text[1] not in "xX":
        return int(text, 8) if all(c in "01234567" for c in text) else int(text.lstrip("0") or "0")
    return int(text, 0)


def _define_value(text: str) -> str:
    r"""The value of a #define without its comments (``/\*.*?\*/|//[^\n]*``, in linear time)."""
    return lexemes.substitute(text, _NOTHING, literals=False).strip()


def _NOTHING(_comment: str) -> str:
    return ""


# ---------------------------------------------------------------------------


def _logical_define(lines: list[bytes], row: int) -> tuple[str, int, int]:
    """The body of the #define starting on 0-based line ``row`` of ``lines``, as the C
    preprocessor sees it.

    Returns (body with continuations replaced by newlines, its first line, last line).
    """
    out = []
    i = row
    while i < len(lines):
        ln = lines[i].rstrip(b"\r")
        cont = ln.endswith(b"\\")
        out.append(ln[:-1] if cont else ln)
        if not cont:
            break
        i += 1
    first = out[0]
    m = re.match(rb"\s*#\s*define\s+\w+", first)
    out[0] = first[m.end():] if m else first
    return b"\n".join(out).decode("utf-8", "surrogateescape"), row + 1, i + 1


# What a function needs to hold to make a ConfigWrite or a feature call (see _Scope.call,
# assignment and resolve_pointer): a PCI config or capability helper, a config-space array,
# st*_p, a feature call, a PCIDeviceClass id field, or (in its parameters) a byte pointer that
# may point into config space.
MAY_WRITE = re.compile(
    rb"\b(?:config|wmask|w1cmask|cmask)\b"
    rb"|\bpci_(?:set_|byte_test|word_test|long_test|quad_test|config_set_|add_capability|register_bar|pm_init)"
    rb"|\bpcie_add_capability|\bpcie_\w*init|\bmsix?_init|\bst[bwlq]_(?:le_|be_)?p\b"
    rb"|\bvirtio_(?:add|set)_feature\b"
    rb"|\b(?:vendor_id|device_id|revision|class_id|subsystem_vendor_id|subsystem_id)\b"
)
_BYTE_PARAM = re.compile(rb"\buint8_t\b")


def _function_parts(n) -> tuple[str | None, object, object]:
    """(name, parameter list, body) of a function_definition node."""
    d = n.child_by_field_name("declarator")
    while d is not None:
        if d.type == "function_declarator":
            name = _declarator_name(d.child_by_field_name("declarator"))
            return name, d.child_by_field_name("parameters"), n.child_by_field_name("body")
        d = d.child_by_field_name("declarator")
    return None, None, n.child_by_field_name("body")


def _may_write(params, body) -> bool:
    return bool(MAY_WRITE.search(body.text) or (params is not None and _BYTE_PARAM.search(params.text)))


class _Extractor:
    def __init__(self, model: FileModel, data: bytes = b"", facts_only: bool = False,
                 writers: frozenset[bytes] = frozenset()):
        self.m = model
        self.data = data
        self.text = _Text(data)
        self.facts_only = facts_only
        self.writers = writers  # facts-only: writers defined outside data
        self.skipped: list[tuple] = []  # (function, parameters, body) not walked
        self.defined: list[tuple[int, str]] = []  # (first row, name) of every function definition
        self.entries = 0  # compat entries read so far (limits.COMPAT_ENTRIES)

    def skipped_callers(self) -> None:
        """Facts-only: walk the skipped bodies that name a function with a write (they may call it)."""
        writers = {w.function.encode() for w in self.m.writes} | self.writers
        for fn, params, body, at in self.skipped:
            if any(w in body.text for w in writers):
                self._walk(fn, params, body, at)
        self.skipped.clear()

    def run(self, root) -> None:
        # (node, its parent, the statement a write under the parent is reported at: see _Scope)
        stack = [(root, None, root)]
        while stack:
            n, parent, up = stack.pop()
            t = n.type
            if t == "function_definition":
                self._function(n, _stop_at(n, parent, up))
                continue
            if t == "preproc_def":
                self._define(n)
                continue
            if t == "enumerator":
                self._enumerator(n)
                continue
            if t == "declaration":
                self._declaration(n)
            if t == "struct_specifier":
                self._struct(n, parent)
            here = _stop_at(n, parent, up)
            stack.extend((c, n, here) for c in reversed(n.named_children))  # the kinds above are named nodes

    # -- top-level facts ---------------------------------------------------

    def _define(self, n) -> None:
        name_node = n.child_by_field_name("name")
        val_node = n.child_by_field_name("value")
        if name_node is None:
            return
        name = _text(name_node)
        value = _define_value(_text(val_node)) if val_node is not None else ""
        if name.startswith("TYPE_"):
            mm = re.fullmatch(r'"([^"\\]*)"', value)
            if mm:
                self.m.type_macros[name] = mm.group(1)
        self._number_or_mask(name, value)

    def _number_or_mask(self, name: str, value: str) -> None:
        mm = _NUMBER_RE.match(value)
        if mm:
            self.m.numbers[name] = _c_int(mm.group(1))
            return
        ms = _SHIFT_RE.match(value)
        if ms:
            self.m.masks[name] = ms.group(1)

    def _enumerator(self, n) -> None:
        name_node = n.child_by_field_name("name")
        val = n.child_by_field_name("value")
        if name_node is None or val is None:
            return
        self._number_or_mask(_text(name_node), _norm(val).replace("<<", " << ").replace("(", "( "))
        # _SHIFT_RE tolerates the spaces inserted above
        v = _norm(val)
        ms = re.match(r"^\(*(?:1|1U|1UL|1ULL|1LL)<<\(?([A-Za-z_]\w*)\)*$", v) or re.match(
            r"^(?:BIT|BIT_ULL)\(([A-Za-z_]\w*)\)$", v
        )
        if ms:
            self.m.masks[_text(name_node)] = ms.group(1)

    def compat_macros(self) -> None:
        """#define HW_COMPAT_X_Y tables, read from the raw text as the preprocessor would."""
        if b"_COMPAT_" not in self.data:
            return
        for m, row, body, base_line, end_line in self.text.defines(_COMPAT_DEFINE_RE):
            name = m.group(1).decode()
            mc = COMPAT_MACRO_RE.match(name)
            if mc:
                self._compat_macro(name, mc, row, body, base_line, end_line)

    def _compat_macro(self, name: str, mc, row: int, body: str, base_line: int, end_line: int) -> None:
        entries = []
        for em in _MACRO_ENTRY_RE.finditer(body):
            line = base_line + body.count("\n", 0, em.start())
            self._count_entry()
            drv, prop, value = em.group(1), em.group(2), em.group(3).strip()
            plain = re.fullmatch(r'"((?:[^"\\]|\\.)*)"', drv)
            entries.append(
                CompatEntry(
                    array=name,
                    driver=plain.group(1) if plain else " ".join(drv.split()),
                    driver_is_macro=plain is None,
                    property=prop.strip('"'),
                    value=value.strip('"') if value.startswith('"') else value,
                    line=line,
                    path=self.m.path,
                    text=re.sub(r"\s+", " ", em.group(0)).strip(),
                )
            )
        self.m.compat_arrays.append(
            CompatArray(
                name=name,
                family=mc.group(1).lower(),
                version=(int(mc.group(2)), int(mc.group(3))),
                entries=tuple(entries),
                line=row + 1,
                end_line=end_line,
                path=self.m.path,
                style="macro",
            )
        )

    def _declaration(self, n) -> None:
        type_node = n.child_by_field_name("type")
        type_name = _text(type_node) if type_node is not None else ""
        for d in n.children_by_field_name("declarator"):
            if d.type != "init_declarator":
                continue
            decl = d.child_by_field_name("declarator")
            value = d.child_by_field_name("value")
            if value is None or value.type != "initializer_list":
                continue
            name = _declarator_name(decl)
            if not name:
                continue
            if type_name in ("QEMUMachine", "MachineClass"):
                self._inline_compat(name, value)
            if type_name == "TypeInfo":
                self._typeinfo(name, value, n)
            elif type_name == "VMStateDescription":
                self._vmstate(name, value, n)
            elif decl is not None and decl.type == "array_declarator":
                if COMPAT_ARRAY_RE.match(name) and type_name == "GlobalProperty":
                    self._compat_array(name, value, n)
                elif type_name == "Property":
                    self._prop_array(name, value)

    def _struct(self, n, parent) -> None:
        """``struct Tag { ... }`` (and ``typedef struct Tag { ... } Name;``): the member names."""
        body = n.child_by_field_name("body")
        if body is None:
            return
        names = []
        tag = n.child_by_field_name("name")
        if tag is not None:
            names.append(_text(tag))
        if parent is not None and parent.type == "type_definition":
            names += [nm for d in parent.children_by_field_name("declarator")
                      if (nm := _declarator_name(d))]
        if not names:
            return
        members = frozenset(_members(body))
        for nm in names:
            if nm in self.m.struct_fields and self.m.struct_fields[nm] != members:
                members = members | self.m.struct_fields[nm]  # #ifdef'd twice: either may build
            self.m.struct_fields[nm] = members

    def _typeinfo(self, var: str, init, decl) -> None:
        fields = _designated(init)
        name = fields.get("name")
        if name is None:
            return
        sname = _string_value(name)
        parent = fields.get("parent")
        spar = _string_value(parent) if parent is not None else None
        ci = fields.get("class_init")
        isz = fields.get("instance_size")
        struct = None
        if isz is not None:
            mm = re.search(r"sizeof\(\s*(\w+)\s*\)", _text(isz))
            struct = mm.group(1) if mm else None
        self.m.typeinfos.append(
            TypeInfoDef(
                var=var,
                name=sname if sname is not None else _norm(name),
                name_is_macro=sname is None,
                parent=(spar if spar is not None else _norm(parent)) if parent is not None else None,
                parent_is_macro=parent is not None and spar is None,
                class_init=_norm(ci) if ci is not None else None,
                instance_struct=struct,
                line=decl.start_point[0] + 1,
                path=self.m.path,
            )
        )

    def _vmstate(self, var: str, init, decl) -> None:
        vals = _designated(init)
        name_node = vals.get("name")
        name = (_string_value(name_node) or _norm(name_node)) if name_node is not None else var
        fields: list[VMField] = []
        f = vals.get("fields")
        lst = _initializer_of(f)
        if lst is not None:
            for e in lst.named_children:
                if e.type != "call_expression":
                    continue
                macro = _call_name(e) or ""
                if macro == "VMSTATE_END_OF_LIST":
                    continue
                fields.append(VMField(macro, tuple(_norm(a) for a in _args(e)), e.start_point[0] + 1, _text(e)))
        subs: list[str] = []
        lst = _initializer_of(vals.get("subsections"))
        if lst is not None:
            for e in lst.named_children:
                t = _norm(e).lstrip("&")
                if t and t != "NULL":
                    subs.append(t)
        needed = vals.get("needed")
        self.m.vmstates.append(
            VMStateDesc(
                var=var,
                name=name,
                version_id=_norm(vals["version_id"]) if "version_id" in vals else None,
                minimum_version_id=_norm(vals["minimum_version_id"]) if "minimum_version_id" in vals else None,
                fields=tuple(fields),
                subsections=tuple(subs),
                needed=_norm(needed) if needed is not None else None,
                line=decl.start_point[0] + 1,
                end_line=decl.end_point[0] + 1,
                path=self.m.path,
                unmigratable="unmigratable" in vals and _norm(vals["unmigratable"]) not in ("0", "false"),
            )
        )

    def prop_macros(self) -> None:
        """#define FOO_PROPERTIES(params) DEFINE_PROP_X(...), ...: properties several arrays share."""
        if b"DEFINE_PROP" not in self.data:
            return
        for name, params, calls, line in _function_macros(self.text, rb"\w+"):
            if any(n.startswith("DEFINE_PROP") for n, _ in calls):
                self.m.prop_macros[name] = (params, calls, line)

    def vmstate_macros(self) -> None:
        """#define VMSTATE_FOO(params) VMSTATE_X(...), ...: read from the raw text."""
        if b"VMSTATE_" not in self.data:
            return
        for name, params, calls, line in _function_macros(self.text, rb"VMSTATE_\w+"):
            fields = tuple(c for c in calls if c[0].startswith("VMSTATE_"))
            if fields:
                self.m.vmstate_macros.append(VMStateMacro(name=name, params=params, fields=fields, line=line,
                                                          path=self.m.path))

    def _inline_compat(self, var: str, init) -> None:
        """``QEMUMachine pc_machine_v1_1 = { .name = "pc-1.1", .compat_props = (GlobalProperty[]) {...} }``."""
        vals = _designated(init)
        name = _string_value(vals.get("name")) if "name" in vals else None
        lst = _initializer_of(vals.get("compat_props"))
        vm = re.search(r"^([a-z]++)[\w-]*?-(\d+)\.(\d+)", name or "")  # possessive: linear on a long name
        if lst is None or vm is None:
            return
        self._compat_array(var, lst, init, (vm.group(1), int(vm.group(2)), int(vm.group(3))), style="inline")

    def _local_compat_arrays(self, fn_name: str, body) -> None:
        """GlobalProperty arrays declared inside a versioned machine's options function.

        ``ccw_machine_9_0_class_options() { static GlobalProperty compat[] = {...}; }``
        is the 9.0 compat list of that board.
        """
        if b"GlobalProperty" not in body.text:
            return
        vm = re.search(r"^([a-z0-9]+(?:_[a-z0-9]+)*?)_(?:machine_)?(\d+)_(\d+)(?:_|$)", fn_name)
        stack = [body]
        while stack:
            n = stack.pop()
            if n.type == "declaration":
                type_node = n.child_by_field_name("type")
                if type_node is None or _text(type_node) != "GlobalProperty":
                    continue
                for d in n.children_by_field_name("declarator"):
                    if d.type != "init_declarator":
                        continue
                    name = _declarator_name(d.child_by_field_name("declarator"))
                    value = d.child_by_field_name("value")
                    if not name or value is None or value.type != "initializer_list":
                        continue
                    if COMPAT_ARRAY_RE.match(name):
                        self._compat_array(name, value, n)
                    elif vm:
                        fam = vm.group(1).removesuffix("_machine")
                        self._compat_array(name, value, n, (fam, int(vm.group(2)), int(vm.group(3))), fn_name)
                continue
            stack.extend(n.children)

    def _compat_array(self, name: str, init, decl, version=None, owner: str | None = None,
                      style: str = "array") -> None:
        mc = COMPAT_ARRAY_RE.match(name)
        if mc is None and version is None:
            return
        family, major, minor = version if version is not None else (mc.group(1), int(mc.group(2)), int(mc.group(3)))
        if owner:
            name = f"{owner}:{name}"
        entries = []
        for e in init.named_children:
            if e.type != "initializer_list":
                continue
            items = [c for c in e.named_children if c.type != "comment"]
            drv = prop = val = None
            if items and items[0].type == "initializer_pair":
                for pair in items:
                    des = pair.child_by_field_name("designator")
                    v = pair.child_by_field_name("value")
                    if des is None or v is None:
                        continue
                    key = _text(des).lstrip(".")
                    if key == "driver":
                        drv = v
                    elif key == "property":
                        prop = v
                    elif key == "value":
                        val = v
            elif len(items) >= 3:
                drv, prop, val = items[0], items[1], items[2]
            if drv is None or prop is None:
                continue
            self._count_entry()
            sdrv = _string_value(drv)
            sprop = _string_value(prop)
            sval = _string_value(val) if val is not None else None
            entries.append(
                CompatEntry(
                    array=name,
                    driver=sdrv if sdrv is not None else _norm(drv),
                    driver_is_macro=sdrv is None,
                    property=sprop if sprop is not None else _norm(prop),
                    value=sval if sval is not None else (_norm(val) if val is not None else ""),
                    line=e.start_point[0] + 1,
                    path=self.m.path,
                    text=re.sub(r"\s+", " ", _text(e)),
                )
            )
        self.m.compat_arrays.append(
            CompatArray(
                name=name,
                family=family,
                version=(major, minor),
                entries=tuple(entries),
                line=decl.start_point[0] + 1,
                end_line=decl.end_point[0] + 1,
                path=self.m.path,
                style=style,
            )
        )

    def _count_entry(self) -> None:
        self.entries += 1
        if self.entries > COMPAT_ENTRIES:
            raise over(f"{self.m.path or 'a region of a file'} holds more than {COMPAT_ENTRIES:,} compat entries",
                       "COMPAT_ENTRIES")

    def _prop_array(self, name: str, init) -> None:
        for e in init.named_children:
            if e.type == "comment":
                continue
            if e.type != "call_expression":
                self.m.open_prop_arrays.add(name)
                continue
            macro = _call_name(e) or ""
            if macro == "DEFINE_PROP_END_OF_LIST":
                continue
            args = _type_args_joined(_args(e))
            if not macro.startswith("DEFINE_PROP"):
                self.m.prop_array_macros.setdefault(name, []).append((macro, tuple(_norm(a) for a in args)))
            pname = _string_value(args[0]) if args else None
            if pname is None and args and args[0].type == "identifier":
                pname = _text(args[0])  # a name behind a macro: compat entries spell it the same way
            if not macro.startswith("DEFINE_PROP") or pname is None or len(args) < 3:
                self.m.open_prop_arrays.add(name)
                continue
            bit = None
            default = None
            if macro.startswith("DEFINE_PROP_BIT"):
                bit = _norm(args[3]) if len(args) > 3 else None
                default = _norm(args[4]) if len(args) > 4 else None
            elif len(args) > 3:
                default = _norm(args[3])
                if macro in ("DEFINE_PROP_SIGNED", "DEFINE_PROP_UNSIGNED") and len(args) > 3:
                    default = _norm(args[3])
            self.m.props.append(
                PropertyDef(
                    name=pname,
                    macro=macro,
                    struct=_norm(args[1]),
                    field=_norm(args[2]),
                    bit=bit,
                    default=default,
                    array=name,
                    line=e.start_point[0] + 1,
                    path=self.m.path,
                )
            )

    # -- functions -----------------------------------------------------------

    def _function(self, n, at) -> None:
        """``at``: where a write directly under the function would be reported (see _stop_at)."""
        name, params, body = _function_parts(n)
        if not name or body is None:
            return
        fn = Function(name=name, line=n.start_point[0] + 1, end_line=n.end_point[0] + 1)
        self.m.functions[name] = fn
        self.defined.append((n.start_point[0], name))
        self._local_compat_arrays(name, body)
        if self.facts_only and not _may_write(params, body):
            self.skipped.append((fn, params, body, (n, at)))
            return
        self._walk(fn, params, body, (n, at))

    def _walk(self, fn: Function, params, body, at) -> None:
        """``at``: (the function_definition, the statement a write directly under it is reported at)."""
        scope = _Scope(self.m, fn)
        if params is not None:
            for p in params.named_children:
                if p.type == "parameter_declaration":
                    scope.declare(p)
                    d = p.child_by_field_name("declarator")
                    if d is not None and d.type == "pointer_declarator" and scope.types.get(_declarator_name(d) or "") == "uint8_t":
                        scope.byte_params.add(_declarator_name(d))
        scope.walk(body, *at)
        if not self.facts_only:
            fn.fields_read = set(_fields_in(body))
        kids = [c for c in body.named_children if c.type != "comment"]
        if len(kids) == 1 and kids[0].type == "return_statement":
            fn.always_true = _norm(kids[0]) in ("returntrue;", "return1;")


# The walk's work items (see _Scope.walk).
_BLOCK, _NEXT, _STATEMENT, _BRANCHES, _EXPR = range(5)
# Statements whose children are walked as statements or as expressions, by kind.
_NESTING_STATEMENTS = frozenset(("for_statement", "while_statement", "do_statement", "switch_statement",
                                 "case_statement", "labeled_statement", "ERROR"))
_STATEMENTS = frozenset(("compound_statement", "if_statement", "expression_statement", "declaration",
                         "for_statement", "while_statement", "do_statement", "switch_statement",
                         "case_statement", "labeled_statement", "return_statement", "ERROR"))
_STOP_KINDS = frozenset(("expression_statement", "declaration"))
_STOP_PARENTS = frozenset(("compound_statement", "if_statement"))


def _stop_at(node, parent, up):
    """The statement a write at ``node`` is reported at: ``node`` itself when it is an expression
    statement or a declaration, sits directly in a block or an if, or is the root; else that of
    its parent, ``up``.  Carried down the walks: asking a node for its parent costs tree-sitter a
    walk from the root, which is quadratic in the depth of deeply nested code."""
    if parent is None or node.type in _STOP_KINDS or parent.type in _STOP_PARENTS:
        return node
    return up


class _Scope:
    """Walks one function body with the stack of enclosing conditions."""

    def __init__(self, model: FileModel, fn: Function):
        self.m = model
        self.fn = fn
        self.types: dict[str, str] = {}
        self.aliases: dict[str, tuple[str, list[str], str]] = {}  # var -> (target, offset terms, base var)
        self.is_class_init = "class_init" in fn.name
        self.byte_params: set[str] = set()
        self.at = None  # the statement of the call or assignment being read (see walk)

    def declare(self, decl) -> None:
        type_node = decl.child_by_field_name("type")
        tname = _text(type_node) if type_node is not None else ""
        for d in decl.children_by_field_name("declarator"):
            inner = d.child_by_field_name("declarator") if d.type == "init_declarator" else d
            var = _declarator_name(inner)
            if not var:
                continue
            self.types[var] = tname
            if d.type == "init_declarator":
                value = d.child_by_field_name("value")
                if value is not None:
                    self._maybe_alias(var, value)
                    if value.type == "call_expression" and (_call_name(value) or "") == "PCI_DEVICE":
                        self.types[var] = "PCIDevice"

    def _maybe_alias(self, var: str, value) -> None:
        res = self.resolve_pointer(value, strict=False)
        if res is not None:
            self.aliases[var] = res

    # -- statements ------------------------------------------------------

    def walk(self, body, parent, up) -> None:
        """Walk a function body (``parent``: its function_definition; ``up``: see _stop_at).

        One explicit stack, not recursion: blocks and conditions nest as deep as a file makes
        them.  Everything happens in the order of a recursive walk: a statement, then the
        statements inside it, then the next one, whose guards include the early exits before
        it.  An item is (kind, node or nodes, guards, parent, up):
        - _BLOCK: a block, or a single statement standing for one;
        - _NEXT: the statements of a block from index ``i`` on (its early exits seen so far are
          in ``guards``);
        - _STATEMENT: one statement; _BRANCHES: an if's branches, once its condition is walked;
        - _EXPR: an expression's nodes still to visit (a stack, as (node, parent, up)).
        """
        stack: list[tuple] = [(_BLOCK, body, (), parent, up)]
        types = self.types
        fn = self.fn
        while stack:
            kind, node, guards, parent, up = stack.pop()
            if kind == _EXPR:
                self._expr(node, guards, parent, stack)
                continue
            if kind == _NEXT:
                children, i = node
                if i:
                    c = children[i - 1]
                    if c.type == "if_statement" and c.child_by_field_name("alternative") is None:
                        cons = c.child_by_field_name("consequence")
                        if cons is not None and _exits(cons):
                            cond = c.child_by_field_name("condition")
                            guards = guards + (Guard(_cond(cond, types), _norm(cond), taken=False,
                                                     validation=_reports_error(cons)),)
                            _BUDGET.spend(len(guards))
                if i < len(children):
                    stack.append((_NEXT, (children, i + 1), guards, parent, up))
                    stack.append((_STATEMENT, children[i], guards, parent, up))
                continue
            if kind == _BLOCK:
                if node.type == "compound_statement":
                    here = _stop_at(node, parent, up)
                    stack.append((_NEXT, ([c for c in node.named_children if c.type != "comment"], 0), guards,
                                  node, here))
                else:
                    stack.append((_NEXT, ((node,), 0), guards, parent, up))
                continue
            if kind == _BRANCHES:
                cond = node.child_by_field_name("condition")
                g = _cond(cond, types)
                text = _norm(cond)
                fn.conds.append(Guard(g, text))
                here = _stop_at(node, parent, up)
                alt = node.child_by_field_name("alternative")
                if alt is not None:
                    inner = guards + (Guard(g, text, False),)
                    _BUDGET.spend(len(inner))
                    at = _stop_at(alt, node, here)
                    stack.extend((_BLOCK, c, inner, alt, at) for c in reversed(alt.named_children))
                cons = node.child_by_field_name("consequence")
                if cons is not None:
                    inner = guards + (Guard(g, text, True),)
                    _BUDGET.spend(len(inner))
                    stack.append((_BLOCK, cons, inner, node, here))
                continue
            # _STATEMENT
            t = node.type
            if t == "compound_statement":
                stack.append((_BLOCK, node, guards, parent, up))
            elif t == "if_statement":
                cond = node.child_by_field_name("condition")
                stack.append((_BRANCHES, node, guards, parent, up))
                if cond is not None:
                    stack.append((_EXPR, [(cond, node, _stop_at(node, parent, up))], guards, cond, None))
            elif t == "declaration":
                self.declare(node)
                stack.append((_EXPR, [(node, parent, up)], guards, node, None))
            elif t in _NESTING_STATEMENTS:
                here = _stop_at(node, parent, up)
                for c in reversed(node.named_children):
                    if c.type in _STATEMENTS:
                        stack.append((_STATEMENT, c, guards, node, here))
                    else:
                        stack.append((_EXPR, [(c, node, here)], guards, c, None))
            else:
                if t == "return_statement":
                    val = next((c for c in node.named_children if c.type != "comment"), None)
                    if val is not None:
                        fn.conds.append(Guard(_cond(val, types), _norm(val)))
                if guards and t in ("expression_statement", "return_statement"):
                    fn.guarded.append((guards, _norm(node), node.start_point[0] + 1))
                stack.append((_EXPR, [(node, parent, up)], guards, node, None))

    def _expr(self, todo: list, guards: tuple[Guard, ...], root, stack: list) -> None:
        """Visit the nodes of an expression (``todo``: a stack of (node, parent, up); ``root``: the
        node it started from, or None when resumed): its calls and assignments.  A statement
        inside it (a GNU statement expression) goes on the walk's stack, before what is left of
        this expression."""
        while todo:
            n, parent, up = todo.pop()
            t = n.type
            if t == "call_expression":
                self.at = _stop_at(n, parent, up)
                self.call(n, guards)
            elif t == "assignment_expression":
                self.at = _stop_at(n, parent, up)
                self.assignment(n, guards)
            elif t in ("compound_statement", "if_statement") and n is not root:
                if todo:
                    stack.append((_EXPR, todo, guards, None, None))
                stack.append((_STATEMENT, n, guards, parent, up))
                return
            kids = n.named_children
            if kids:
                here = _stop_at(n, parent, up)
                todo.extend((c, n, here) for c in reversed(kids))  # tokens hold no call or assignment

    # -- facts -------------------------------------------------------------

    def call(self, n, guards) -> None:
        name = _call_name(n)
        if not name:
            return
        fn = self.fn
        fn.calls.add(name)
        fn.call_sites.append((name, guards, n.start_point[0] + 1))
        if name in ("virtio_add_feature", "virtio_set_feature") and len(_args(n)) >= 2:
            fn.feature_calls.append((name, _norm(_args(n)[1]), guards, n.start_point[0] + 1))
        args = _args(n)
        if name in ("device_class_set_props", "device_class_set_props_n") and len(args) >= 2:
            fn.prop_arrays.add(_norm(args[1]))
            return
        if name.startswith(("object_class_property_add", "object_property_add")) and len(args) >= 2:
            s = _string_value(args[1])
            if s:
                fn.dynamic_props.add(s)
            elif args[1].type == "identifier" and _text(args[1]).isupper():
                fn.dynamic_props.add("?")  # a name behind a macro: qlint cannot list it
            return
        if _PCI_SET_RE.match(name) and args:
            res = self.resolve_pointer(args[0], strict=not name.startswith("pci_"))
            if res is None:
                return
            target, terms, base = res
            if name.startswith("pci_config_set_"):
                suffix = name[len("pci_config_set_"):]
                terms = terms + [_CONFIG_SETTERS.get(suffix, "PCI_" + suffix.upper())]
            value = ",".join(_norm(a) for a in args[1:])
            self.add_write(target, terms, value, name, n, guards, args[1:], base)
            return
        if name in ("memset", "memcpy") and len(args) == 3:
            res = self.resolve_pointer(args[0], strict=True)
            if res is None:
                return
            target, terms, base = res
            self.add_write(target, terms, _norm(args[1]) + "," + _norm(args[2]), name, n, guards, args[1:], base)
            return
        if _CAP_CALL_RE.match(name) and args:
            base = _field_chain(args[0])[0] or _norm(args[0])
            rest = [a for a in args[1:] if _norm(a) not in ("errp", "&error_abort", "&error_fatal", "&local_err", "&err", "NULL")]
            self.add_write("cap", [name], ",".join(_norm(a) for a in rest), name, n, guards, rest, base)

    def assignment(self, n, guards) -> None:
        left = _unparen(n.child_by_field_name("left"))
        right = n.child_by_field_name("right")
        op = n.child_by_field_name("operator")
        optext = _text(op) if op is not None else "="
        if left is None or right is None:
            return
        if left.type == "identifier":
            var = _text(left)
            self._maybe_alias(var, right)
            return
        if left.type == "subscript_expression":
            arr = left.child_by_field_name("argument")
            idx = left.child_by_field_name("index")
            if arr is None or idx is None:
                return
            res = self.resolve_pointer(arr, strict=True)
            if res is None:
                return
            target, terms, base = res
            value = _norm(right) if optext == "=" else optext + _norm(right)
            self.add_write(target, terms + [_norm(idx)], value, "[]" + optext, n, guards, [right], base)
            return
        if left.type == "field_expression":
            f = left.child_by_field_name("field")
            fname = _text(f) if f is not None else ""
            r = _unparen(right)
            if optext == "=" and fname:
                self.fn.fields_written.append((fname, _norm(right), tuple(guards), n.start_point[0] + 1))
            if r is not None and r.type == "identifier" and optext == "=":
                self.fn.assigned_fns.add(_text(r))
            if fname in ("props", "props_") and r is not None and r.type == "identifier":
                self.fn.prop_arrays.add(_text(r))
            if fname == "vmsd" and r is not None:
                self.fn.vmsds.add(_norm(r).lstrip("&"))
            if self.is_class_init and fname in _CLASS_CONFIG_FIELDS and optext == "=":
                base, _ = _field_chain(left)
                self.add_write("config", [_CLASS_CONFIG_FIELDS[fname]], _norm(right),
                               "class." + fname, n, guards, [right], base or "")

    def add_write(self, target, terms, value, how, node, guards, value_nodes, base) -> None:
        stmt = self.at  # the statement around ``node`` (see _stop_at)
        vf: set[str] = set()
        for v in value_nodes:
            vf.update(_fields_in(v))
        self.m.writes.append(
            ConfigWrite(
                target=target,
                offset="+".join(sorted(t for t in terms if t)),
                value=value,
                how=how,
                function=self.fn.name,
                line=stmt.start_point[0] + 1,
                end_line=stmt.end_point[0] + 1,
                text=_text(stmt),
                guards=tuple(guards),
                value_fields=tuple(sorted(vf)),
                base_var=base or "",
                base_type=self.types.get(base or "", ""),
            )
        )

    # -- pointers into config space ---------------------------------------------

    def resolve_pointer(self, node, strict: bool):
        """Return (target, offset terms, base var) if ``node`` points into config space."""
        indexes = []  # &(&p[i])[j]: j, then i (a loop: they may nest deep)
        while True:
            node = _unparen(node)
            if node is None:
                return None
            if node.type != "pointer_expression":
                break
            op = node.child_by_field_name("operator")
            inner = _unparen(node.child_by_field_name("argument"))
            if op is None or _text(op) != "&" or inner is None or inner.type != "subscript_expression":
                return None
            indexes.append(inner.child_by_field_name("index"))
            node = inner.child_by_field_name("argument")
        if indexes:
            res = self._resolve_sum(node, strict)
            if res is None or any(i is None for i in indexes):
                return None
            return res[0], res[1] + [_norm(i) for i in reversed(indexes)], res[2]
        return self._resolve_sum(node, strict)

    def _resolve_sum(self, node, strict: bool):
        """resolve_pointer of a sum of terms (or one term), ``node`` not a pointer expression."""
        terms = _flatten_sum(node)
        for i, term in enumerate(terms):
            term = _unparen(term)
            if term is None:
                continue
            found = None
            if term.type == "field_expression":
                base, chain = _field_chain(term)
                if chain and chain[-1] in CONFIG_TARGETS and self._pci_like(base, chain, strict):
                    found = (chain[-1], [], base or "")
            elif term.type == "identifier" and _text(term) in self.aliases:
                found = self.aliases[_text(term)]
            elif term.type == "identifier" and not strict and _text(term) in self.byte_params:
                # a helper handed a pointer into config space: pcie_cap_v1_fill(uint8_t *exp_cap, ...)
                name = _text(term)
                tgt = next((t for t in ("w1cmask", "wmask", "cmask") if t in name), "config")
                found = (tgt, [name], name)
            if found is not None:
                rest = [_norm(t) for j, t in enumerate(terms) if j != i and t is not None]
                return found[0], list(found[1]) + rest, found[2]
        return None

    def _pci_like(self, base: str | None, chain: list[str], strict: bool) -> bool:
        if base is not None and base.endswith("()"):
            return base.startswith("PCI")
        inner = chain[:-1]
        if inner:
            return inner[-1] in _PCI_EMBED_FIELDS
        t = self.types.get(base or "", "")
        if t:
            return "PCI" in t or "Pci" in t
        if not strict:
            return True
        return base in _PCI_VAR_NAMES


def _exits(node) -> bool:
    if node.type == "return_statement" or node.type == "goto_statement":
        return True
    if node.type == "compound_statement":
        kids = [c for c in node.named_children if c.type != "comment"]
        return bool(kids) and kids[-1].type in ("return_statement", "goto_statement")
    return False


def _reports_error(node) -> bool:
    """Does this early-exit block report an error (error_setg(), return -EINVAL, ...)?"""
    text = _norm(node)
    return bool(re.search(r"\berror_(?:setg|report|propagate|prepend)\w*\(|\breturn-|\breturnfalse;|goto(?:err|fail|out_err)", text))


# A chain of one logical operator longer than this is read as a balanced tree (and and or are
# associative, in qlint's three-valued reading too), so that `a && b && ... && z` nests log2(N) deep.
_LONG_CHAIN = 16


def _chain(node, op: str, most: int) -> list | None:
    """The operands of a chain of ``op`` (``&&`` or ``||``) at ``node``, in order, through
    parentheses; None when there are ``most`` or fewer."""
    out, stack = [], [node]
    while stack:
        n = _unparen(stack.pop())
        if n is not None and n.type == "binary_expression" and _text(n.child_by_field_name("operator")) == op:
            stack.append(n.child_by_field_name("right"))
            stack.append(n.child_by_field_name("left"))
            continue
        out.append(n)
        if len(out) + len(stack) > most:
            most = -1  # long: collect all of it
    return out if most < 0 else None


def _cond(node, types: dict[str, str] | None = None, depth: int = 0):
    """Turn a condition into qlint's small expression tree (see model.Cond).

    Field atoms end with the struct type of the variable the field is read
    from, when the field is read directly from a declared variable (else None).
    A tree deeper than limits.CONDITION_DEPTH is a LimitError.
    """
    types = types or {}
    node = _unparen(node)
    if node is None:
        return ("other", "")
    if depth > CONDITION_DEPTH:
        raise over(f"{_BUDGET.path or 'a region of a file'}:{node.start_point[0] + 1}: a condition nested more "
                   f"than {CONDITION_DEPTH} deep", "CONDITION_DEPTH")
    t = node.type
    if t == "unary_expression":
        op = node.child_by_field_name("operator")
        if op is not None and _text(op) == "!":
            return ("not", _cond(node.child_by_field_name("argument"), types, depth + 1))
    if t == "binary_expression":
        op = _text(node.child_by_field_name("operator"))
        left = node.child_by_field_name("left")
        right = node.child_by_field_name("right")
        if op in ("&&", "||"):
            kind = "and" if op == "&&" else "or"
            chain = _chain(node, op, _LONG_CHAIN)
            if chain is not None:
                inner = depth + 1 + (len(chain) - 1).bit_length()
                return _balanced(kind, [_cond(c, types, inner) for c in chain])
            return (kind, _cond(left, types, depth + 1), _cond(right, types, depth + 1))
        if op == "&":
            for a, b in ((left, right), (right, left)):
                fa = _field_ref(a)
                bu = _unparen(b)
                if fa and bu is not None:
                    if bu.type == "identifier":
                        return ("bit", fa, _text(bu), _field_struct(a, types))
                    ms = re.match(r"^\(*(?:1|1U|1UL|1ULL|1LL)<<\(?([A-Za-z_]\w*)\)*$", _norm(bu)) or re.match(
                        r"^(?:BIT|BIT_ULL)\(([A-Za-z_]\w*)\)$", _norm(bu)
                    )
                    if ms:
                        return ("bitnr", fa, ms.group(1), _field_struct(a, types))
        if op in ("<", ">", "<=", ">="):
            fl, fr = _field_ref(left), _field_ref(right)
            if fl and not fr:
                return ("cmp", op, fl, _norm(right), _field_struct(left, types))
            if fr and not fl:
                flip = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}[op]
                return ("cmp", flip, fr, _norm(left), _field_struct(right, types))
            return ("other", _norm(node))
        if op in ("==", "!="):
            lv, rv = _norm(right), _norm(left)
            inner = _cond(left, types, depth + 1)
            if rv in ("0", "false", "NULL"):
                inner, lv = _cond(right, types, depth + 1), rv
            if lv in ("0", "false", "NULL"):
                return inner if op == "!=" else ("not", inner)
            fl = _field_ref(left)
            if fl:
                return ("cmp", op, fl, _norm(right), _field_struct(left, types))
        return ("other", _norm(node))
    if t == "field_expression":
        f = node.child_by_field_name("field")
        return ("field", _text(f), _field_struct(node, types)) if f is not None else ("other", _norm(node))
    if t == "call_expression":
        args = _args(node)
        refs = [(a, _field_ref(a)) for a in args]
        refs = [(a, f) for a, f in refs if f]
        idents = [_text(_unparen(a)) for a in args if _unparen(a) is not None and _unparen(a).type == "identifier"]
        if len(refs) == 1 and idents:
            return ("bitnr", refs[0][1], idents[-1], _field_struct(refs[0][0], types))
        return ("call", _call_name(node) or _norm(node))
    return ("other", _norm(node))


def _balanced(kind: str, items: list) -> tuple:
    """(kind, a, b) trees over ``items``, in order, nested log2(len(items)) deep."""
    while len(items) > 1:
        items = [(kind, items[k], items[k + 1]) if k + 1 < len(items) else items[k] for k in range(0, len(items), 2)]
    return items[0]


def _members(body) -> list[str]:
    """Member names of a field_declaration_list, through anonymous struct/union members (in
    order; a stack of the lists being read, as they may nest deep)."""
    out: list[str] = []
    lists = [iter(body.named_children)]
    while lists:
        c = next(lists[-1], None)
        if c is None:
            lists.pop()
            continue
        if c.type == "field_declaration":
            decls = c.children_by_field_name("declarator")
            for d in decls:
                nm = _declarator_name(d)
                if not nm:  # void (*fn)(int): the name sits inside a parenthesised declarator
                    stack = [d]
                    while stack and not nm:
                        x = stack.pop()
                        nm = _text(x) if x.type == "field_identifier" else None
                        stack.extend(reversed(x.named_children))
                if nm:
                    out.append(nm)
            t = c.child_by_field_name("type")
            if not decls and t is not None and t.type in ("struct_specifier", "union_specifier"):
                inner = t.child_by_field_name("body")
                if inner is not None:
                    lists.append(iter(inner.named_children))
        elif c.type.startswith("preproc_"):
            lists.append(iter(c.named_children))  # members under #ifdef: either branch may build
    return out


def _field_struct(node, types: dict[str, str]) -> str | None:
    """The declared struct type of ``v`` in ``v->field`` (not through embedded members)."""
    node = _unparen(node)
    if node is not None and node.type == "pointer_expression":
        node = _unparen(node.child_by_field_name("argument"))
    if node is None or node.type != "field_expression":
        return None
    arg = _unparen(node.child_by_field_name("argument"))
    if arg is not None and arg.type == "identifier":
        t = types.get(_text(arg), "")
        return t or None
    return None


def _field_ref(node) -> str | None:
    node = _unparen(node)
    if node is not None and node.type == "pointer_expression":
        node = _unparen(node.child_by_field_name("argument"))
    if node is not None and node.type == "field_expression":
        f = node.child_by_field_name("field")
        return _text(f) if f is not None else None
    return None
