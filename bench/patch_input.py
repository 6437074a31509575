"""Time the --patch input path on inputs built to be slow, and on a real series.

    python3 bench/patch_input.py [--repo QEMU_GIT --range A..B]

Each row is one input: its size, the seconds to read and apply it in memory (split_mails and
apply_series, no review), and how it ended.  Two rows run the whole review on the fixture tree
(``qlint --patch``), for the costs that grew with the square of the input: a subject of
brackets and N config writes in one function.  With ``--repo``, the series of ``--range`` is
also sent through ``git format-patch`` and read back (QEMU_GIT: a QEMU git directory, bare is
fine; $QEMU_GIT when set).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _inputs() -> dict[str, bytes]:
    add = b"diff --git a/y.c b/y.c\nnew file mode 100644\n--- /dev/null\n+++ b/y.c\n@@ -0,0 +1,400000 @@\n"
    add += b"".join(b"+int line_%d;\n" % i for i in range(400000))
    far = b"".join(b"@@ -99000,3 +99000,3 @@\n l%d\n-l%d\n+X%d\n l%d\n" % (i, i + 1, i, i + 2) for i in range(0, 3000, 3))
    return {
        "6 MB new file": add,
        "6 MB new file, base64 attachment": (
            b"Subject: [PATCH] x\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\nmsg\n--b\n"
            b"Content-Transfer-Encoding: base64\n\n" + __import__("base64").encodebytes(add) + b"--b--\n"),
        "6 MB new file, quoted-printable": (b"Subject: x\nContent-Transfer-Encoding: quoted-printable\n\n"
                                            + add.replace(b"=", b"=3D")),
        "1000 hunks 96k lines from their place": b"diff --git a/z.c b/z.c\n--- a/z.c\n+++ b/z.c\n" + far,
        "subject of 256 KiB of '[ '": b"Subject: [PATCH] " + b"[ " * 131072 + b"\n\n---\n" + add[:4000],
        "5000 mails": b"".join(b"From 1234 Mon Sep 17 00:00:00 2001\nSubject: [PATCH %d/5000] x\n\nx\n" % i
                               for i in range(1, 5001)),
    }


def _read_and_apply(data: bytes) -> tuple[float, str]:
    from qlint.analyzer.change import EmptySnapshot, InputError, OverlaySnapshot
    from qlint.analyzer.sources.mbox import apply_series, split_mails

    base = OverlaySnapshot(EmptySnapshot(), {"z.c": b"".join(b"l%d\n" % i for i in range(100000))}, "base")
    start = time.perf_counter()
    try:
        patches = apply_series(split_mails(data), base, "bench")
        outcome = f"{len(patches)} patches"
    except InputError as exc:
        outcome = f"exit 2: {str(exc)[:60]}"
    return time.perf_counter() - start, outcome


def _review(repo: Path, data: bytes) -> tuple[float, str]:
    start = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "qlint.analyzer.cli", "-C", str(repo), "--patch", "-"],
                       input=data, capture_output=True)
    return time.perf_counter() - start, f"exit {r.returncode}"


def _reviews(tmp: Path) -> dict[str, tuple[float, str]]:
    from qlint.analyzer.sources.fixture_repo import build

    repo = tmp / "repo"
    build(ROOT / "fixtures" / "tree", [], repo)
    aer = next((ROOT / "fixtures/examples/pci-config-unguarded/invalid/aer-mask-unguarded").glob("0*.patch"))
    out = {"review: subject of 62 KiB of '[ '": _review(repo, aer.read_bytes().replace(
        b"Subject: [PATCH]", b"Subject: [PATCH] " + b"[ " * 31744, 1))}
    for n in (8000, 32000):
        writes = b"".join(b"+    pci_set_long(dev->config + offset + 0x%x, %d);\n" % (4 * i, i) for i in range(n))
        diff = (b"diff --git a/hw/pci/pcie_aer.c b/hw/pci/pcie_aer.c\n--- a/hw/pci/pcie_aer.c\n+++ b/hw/pci/pcie_aer.c\n"
                b"@@ -16,2 +16,%d @@\n     pcie_add_capability(dev, PCI_EXT_CAP_ID_ERR, cap_ver, offset, size);\n" % (n + 2)
                + writes + b"     dev->aer_cap = offset;\n")
        out[f"review: {n} config writes in one function"] = _review(repo, diff)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repo", default=os.environ.get("QEMU_GIT"),
                    help="a QEMU git directory, for a real series (default: $QEMU_GIT)")
    ap.add_argument("--range", default="master^~40..master^", help="the real series (default %(default)s)")
    args = ap.parse_args()
    rows = {name: (len(data), *_read_and_apply(data)) for name, data in _inputs().items()}
    if args.repo:
        mbox = subprocess.run(["git", "-C", args.repo, "format-patch", "--stdout", args.range],
                              capture_output=True, check=True).stdout
        from qlint.analyzer.sources.gitsrc import GitSnapshot, _resolve, open_repo

        repo = open_repo(args.repo)
        commit = _resolve(repo, args.range.split("..")[0])
        from qlint.analyzer.sources.mbox import apply_series, split_mails

        start = time.perf_counter()
        patches = apply_series(split_mails(mbox), GitSnapshot(repo, commit.tree, str(commit.id)), "bench")
        rows[f"real series {args.range}"] = (len(mbox), time.perf_counter() - start, f"{len(patches)} patches")
    with tempfile.TemporaryDirectory() as tmp:
        for name, (secs, outcome) in _reviews(Path(tmp)).items():
            rows[name] = (0, secs, outcome)
    print("| input | MB | seconds | outcome |\n|---|---|---|---|")
    for name, (size, secs, outcome) in rows.items():
        print(f"| {name} | {size / 1e6:.1f} | {secs:.2f} | {outcome} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
