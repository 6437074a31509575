"""Time and memory of a review of C built to be slow, deep or huge.

    python3 bench/hostile_c.py [--qlint CMD] [--timeout S] [--only WORD]

Each row commits one shape into a repository built from the fixture tree and runs
``qlint --jobs 1 --format json BASE..TIP`` (``qlint machines TIP`` for the board file) with an
empty cache, in a process of its own: the seconds, its peak resident memory and how it ended.
``--qlint`` names the command to measure (default: this checkout's), so that two versions can
be compared side by side; a run still going after ``--timeout`` seconds is stopped.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures" / "tree"
AER = (FIXTURES / "hw/pci/pcie_aer.c").read_bytes()
PC = (FIXTURES / "hw/i386/pc.c").read_bytes()
MACHINE = (FIXTURES / "hw/core/machine.c").read_bytes()
WRITE = b"pci_set_long(dev->config + offset + PCI_ERR_ROOT_COMMAND, 1);"
ENTRY = b'    { "acme-nic", "rx-queues", "1" },\n'


def _aer(body: bytes) -> bytes:
    anchor = b"    dev->aer_cap = offset;\n"
    return AER.replace(anchor, anchor + body + b"\n", 1)


def shapes() -> dict[str, dict[str, bytes]]:
    deep = b"F(" * 400 + b"pc_q35_7_1_machine_options" + b")" * 400
    return {
        "490 nested blocks": {"hw/pci/pcie_aer.c": _aer(b"{" * 490 + WRITE + b"}" * 490)},
        "490 nested ifs": {"hw/pci/pcie_aer.c": _aer(b"".join(b"if (size > %d)\n" % i for i in range(490)) + WRITE)},
        "10,000 nested blocks": {"hw/pci/pcie_aer.c": _aer(b"{" * 10000 + WRITE + b"}" * 10000)},
        "970-term && guard": {"hw/pci/pcie_aer.c": _aer(b"if (" + b" && ".join(b"s->f%d" % i for i in range(970))
                                                          + b") { " + WRITE + b" }")},
        "970-term + offset": {"hw/pci/pcie_aer.c": _aer(b"pci_set_long(dev->config + "
                                                          + b" + ".join(b"R%d" % i for i in range(970)) + b", 1);")},
        "board: macro arguments 400 deep": {"hw/i386/pc.c": PC + b"#define F(x) x\nDEFINE_Q35_MACHINE(v7_0, \"pc-q35-7.0\", "
                                            b"NULL, " + deep + b");\n"},
        "non-UTF-8 #define parameters": {"hw/pci/pcie_aer.c": AER + b"#define VMSTATE_ACME(_f\xff, _s) VMSTATE_UINT32(_f\xff, _s)\n"},
        "line of 20k unclosed '/* '": {"hw/pci/pcie_aer.c": AER + b"/* " * 20000 + b"\n"},
        "same, 80k": {"hw/pci/pcie_aer.c": AER + b"/* " * 80000 + b"\n"},
        "20k compat entries": {"hw/core/machine.c": MACHINE.replace(
            ENTRY, b"".join(b'    { "acme-nic", "p%d", "1" },\n' % i for i in range(20000)), 1)},
        "12 MB initializer line": {"hw/core/machine.c": MACHINE.replace(
            ENTRY, b"".join(b'{ "acme-nic", "p%d", "1" }, ' % i for i in range(400000)) + b"\n", 1)},
        "3,000 early exits": {"hw/pci/pcie_aer.c": _aer(b"".join(b"if (size == %d) return -EINVAL;\n" % i
                                                                 for i in range(3000)) + WRITE)},
        "HW_COMPAT macro: '.driver = ' + 40 letters": {"hw/core/machine.c": MACHINE + b"#define HW_COMPAT_2_1 .driver = "
                                                      + b"a" * 40 + b"\n"},
        "20k '#define A(x) \\' lines": {"hw/pci/pcie_aer.c": AER + b"/* DEFINE_PROP VMSTATE_ TypeInfo */\n"
                                       + b"#define VMSTATE_A(x) \\\n" * 20000 + b"\n"},
    }


def _run(cmd: list[str], timeout: float) -> tuple[float, int, str]:
    """(seconds, peak RSS in MiB, outcome) of one run, stopped after ``timeout`` seconds."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, QLINT_CACHE_DIR=cache)
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        deadline = start + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                return time.perf_counter() - start, usage.ru_maxrss // 1024, f"stopped after {timeout:.0f} s"
            time.sleep(0.05)
        secs = time.perf_counter() - start
        err = proc.stderr.read().decode(errors="replace").strip().splitlines()
        code = os.waitstatus_to_exitcode(status)
        last = err[-1] if err else ""
        if code == 2:
            last = last.replace("qlint: ", "")[:70]
            return secs, usage.ru_maxrss // 1024, f"exit 2: {last}"
        return secs, usage.ru_maxrss // 1024, f"exit {code}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--qlint", default=f"{sys.executable} -m qlint.analyzer.cli", help="the qlint command to measure")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds before a run is stopped (default %(default)s)")
    ap.add_argument("--only", help="only the shapes whose name holds this word")
    args = ap.parse_args()
    from qlint.analyzer.sources.fixture_repo import build, commit_change

    cmd = shlex.split(args.qlint)
    print("| input | MB | seconds | peak RSS (MiB) | outcome |\n|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        repo, base, _ = build(FIXTURES, [], Path(tmp) / "repo")
        for name, files in shapes().items():
            if args.only and args.only not in name:
                continue
            tip = commit_change(repo, base, "bench\n", None, files=files)
            size = sum(len(d) for d in files.values())
            what = ["machines", tip] if "board" in name else ["--jobs", "1", "--format", "json", f"{base}..{tip}"]
            secs, rss, outcome = _run(cmd + ["-C", str(Path(tmp) / "repo")] + what, args.timeout)
            print(f"| {name} | {size / 1e6:.2f} | {secs:.1f} | {rss} | {outcome} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
