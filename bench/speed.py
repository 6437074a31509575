#!/usr/bin/env python3
"""Speed of qlint on real QEMU history, side by side with `git log -p` (and optionally checkpatch).

    python3 bench/speed.py --repo QEMU_GIT [--limit N] [--checkpatch N] [--precommit]

The range defaults to the release cycle between the "Update version for ... v10.0.0 release" and
"... v10.1.0 release" commits (found through VERSION on master's first-parent history).  --limit
reviews only the first N commits of it and scales `git log -p` to the same commits, for a quick
run.  Peak memory is the largest resident set of the qlint process.  Stdlib only.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def git(repo: str, *args: str, **kw) -> str:
    return subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True, text=True, **kw).stdout


def release_commit(repo: str, tip: str, version: str) -> str:
    for line in git(repo, "log", "--first-parent", "--format=%H %s", tip, "--", "VERSION").splitlines():
        sha, subject = line.split(" ", 1)
        if f"v{version} release" in subject or f"{version} release" in subject:
            return sha
    sys.exit(f"speed.py: no release commit for {version} on {tip}")


def timed(cmd: list[str], **kw) -> tuple[float, int, subprocess.CompletedProcess]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, **kw)
    dt = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return dt, max(peak, before), r


def qlint_cmd() -> list[str]:
    exe = shutil.which("qlint")
    return [exe] if exe else [sys.executable, "-m", "qlint.analyzer.cli"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repo", required=True)
    ap.add_argument("--tip", default="master^")
    ap.add_argument("--from-version", default="10.0.0")
    ap.add_argument("--to-version", default="10.1.0")
    ap.add_argument("--limit", type=int, default=0, help="review only the first N commits of the range")
    ap.add_argument("--checkpatch", type=int, default=0, help="time scripts/checkpatch.pl on N commits")
    ap.add_argument("--precommit", action="store_true", help="time --staged on a checkout of the range tip")
    a = ap.parse_args()

    start = release_commit(a.repo, a.tip, a.from_version)
    end = release_commit(a.repo, a.tip, a.to_version)
    commits = git(a.repo, "rev-list", "--reverse", "--no-merges", f"{start}..{end}").split()
    if a.limit:
        commits = commits[: a.limit]
    first, last = commits[0], commits[-1]
    rng = f"{first}~1..{last}"
    print(f"range {a.from_version}..{a.to_version}: {len(commits)} non-merge commits reviewed ({rng})")

    t_log, _, _ = timed(["git", "-C", a.repo, "log", "-p", "--no-merges", rng, "--", "*.c", "*.h"])
    t_q, peak, r = timed(qlint_cmd() + ["-C", a.repo, "--format", "json", rng])
    if r.returncode not in (0, 1):
        print("qlint failed:", r.stderr.decode()[:300])
        return 2
    rows = [
        ("git log -p (C files)", t_log, t_log / len(commits)),
        ("qlint (one process)", t_q, t_q / len(commits)),
    ]
    if a.checkpatch:
        with tempfile.TemporaryDirectory() as tmp:
            cp = Path(tmp) / "checkpatch.pl"
            cp.write_text(git(a.repo, "show", f"{a.tip}:scripts/checkpatch.pl"))
            t0 = time.perf_counter()
            n = min(a.checkpatch, len(commits))
            for c in commits[:n]:
                patch = git(a.repo, "format-patch", "--stdout", "-1", c)
                subprocess.run(["perl", str(cp), "--no-tree", "-q", "-"], input=patch, text=True,
                               capture_output=True)
            t_cp = (time.perf_counter() - t0) / n
        rows.append((f"checkpatch.pl ({n} commits)", t_cp * len(commits), t_cp))
    print()
    print("| what | total (s) | per commit (ms) |")
    print("|---|---|---|")
    for name, total, per in rows:
        print(f"| {name} | {total:.1f} | {per * 1000:.0f} |")
    print(f"\nqlint / git log -p: {t_q / t_log:.1f}x; peak RSS of qlint: {peak / 1024:.0f} MiB")

    if a.precommit:
        with tempfile.TemporaryDirectory() as tmp:
            wt = Path(tmp) / "qemu"
            subprocess.run(["git", "clone", "-q", "--shared", "--no-checkout", a.repo, str(wt)], check=True)
            git(str(wt), "checkout", "-q", f"{last}~1")
            git(str(wt), "cherry-pick", "-n", last)
            cold, _, _ = timed(qlint_cmd() + ["-C", str(wt), "--staged"])
            warm, _, _ = timed(qlint_cmd() + ["-C", str(wt), "--staged"])
        print(f"pre-commit (--staged, last commit of the range): first run {cold:.2f} s, second run {warm:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
