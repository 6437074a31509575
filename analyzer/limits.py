"""What reading one input may cost: the limits of qlint's C model, documented in docs/limits.md.

qlint reviews patches from a public list unattended, so no input may stall it.  Its reading of
C is linear in what it reads, and these limits bound what is left: the cost of what one file,
one condition or one macro expansion may make qlint do.  Each is far above what QEMU needs (the
figures in docs/limits.md), and reaching one is never a review of less than was asked: it is
exit status 2 with one line naming the limit (:class:`LimitError`), or, where the README
promises it (a board whose machine types do not expand), the thing is left out as unreadable.

The limits of the other inputs (mails, patches, configuration, the cache) live beside the
code that reads them; docs/limits.md lists them all.
"""

from __future__ import annotations

from qlint.analyzer.change import InputError

# One C file qlint parses (a touched file, before or after; a file the tree index reads):
# 8 MiB, 11 times QEMU's largest (disas/nanomips.c, 714 KB).  Larger is exit 2.
C_FILE_BYTES = 8 << 20

# Compat entries in one file (QEMU: 600 in hw/core/machine.c).  More is exit 2: each costs a
# lookup of its driver's properties, and an entry that is wrong a finding.
COMPAT_ENTRIES = 50_000

# CPU seconds tree-sitter may take to parse one file.  QEMU's largest file takes 0.05 s;
# tree-sitter-c is quadratic on a few shapes of text no compiler takes (a comment never closed
# is blanked first, as the compiler reads it: see cparse._parse).  Over it is exit 2.  The one
# limit measured in time: no count of tree-sitter's work grows with all of those shapes.
PARSE_SECONDS = 20

# Conditions nest at most this deep in a guard, a .needed function or a return (after long
# chains of one operator, `a && b && ... && z`, are read as balanced trees).  QEMU nests its
# expressions at most 27 deep.  Deeper is exit 2.
CONDITION_DEPTH = 256

# Reading one file's functions goes over text again (the conditions and statements of nested
# blocks are each read whole) and gives every statement the conditions around it (each early
# exit adds one for the statements after it).  Both are counted, in characters read again and
# conditions held, against this many per byte of the file plus READ_BUDGET_BASE: QEMU's files
# need at most 2.1 per byte and 247,454 in all.  Over it is exit 2.
READ_BUDGET_PER_BYTE = 4
READ_BUDGET_BASE = 2_000_000

# A board's machine-type macros (machines.py): an expansion takes at most MACRO_STEPS tokens,
# holds at most MACRO_TOKENS pending ones, and nests macro arguments at most MACRO_ARG_DEPTH
# deep (QEMU master: 1,385 steps, 249 pending tokens, 2 deep).  An invocation over one of them
# defines no machine type qlint can read: it is left out, as macros that do not expand are.
MACRO_STEPS = 200_000
MACRO_TOKENS = 1_000_000
MACRO_ARG_DEPTH = 64

# VMSTATE_* macros defined in the tree are expanded at most VMSTATE_EXPANSION_DEPTH levels deep
# (deeper calls stay as written), into at most VMSTATE_FIELDS fields for one description.
# More is exit 2.
VMSTATE_EXPANSION_DEPTH = 3
VMSTATE_FIELDS = 100_000

# Findings of one review.  More is exit 2: a reply that long helps no one, and each finding
# quotes its lines.
FINDINGS = 50_000

# Characters of one quoted source line in a finding; a longer line is cut, ending with "...".
QUOTE_LINE_CHARS = 1000


class LimitError(InputError):
    """An input over one of qlint's limits: one line naming the limit, exit status 2."""


def over(what: str, limit: str) -> LimitError:
    """The error for ``what`` (which names the input and says how it is over) and ``limit`` (the
    name of the constant here)."""
    return LimitError(f"{what} (limits.{limit}; see docs/limits.md)")


def mib(n: int) -> str:
    return f"{n / (1 << 20):.3g} MiB"
