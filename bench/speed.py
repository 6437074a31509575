#!/usr/bin/env python3
"""Speed of qlint on real QEMU history, side by side with `git log -p` and checkpatch, in one run.

    python3 bench/speed.py --repo QEMU_GIT [--limit N] [--checkpatch N] [--no-precommit] [--update-readme]

QEMU_GIT is a QEMU git directory (bare is fine; or set $QEMU_GIT).

The range is the release cycle between the "Update version for ... v10.0.0 release" and
"... v10.1.0 release" commits (found through VERSION on the tip's first-parent history).
--limit reviews only the first N commits of it (and times `git log -p` on the same commits).

Measured, each as its own process:
- `git log -p --no-merges A..B -- '*.c' '*.h'` (output discarded);
- qlint --format json on A..B with an empty cache, --jobs 1 and --jobs 2 (each its own cache
  directory), then warm (the cache the cold run filled), --jobs 1 and 2;
- scripts/checkpatch.pl (read from the repository, never copied) on a sample of the commits;
- `qlint --staged` on a full checkout with the range's last commit that changes hw/*.c staged,
  with an empty cache (cold) and again (warm).
Peak memory is the largest total resident set (RSS) and proportional set (PSS: shared pages
split between the processes that share them) of the qlint process and its workers, sampled
from /proc every 250 ms (a sample costs about 15 ms of CPU: sampled every 20 ms, the sampler
would take 40% of a core from the runs it times).  The JSON findings of every qlint variant must be identical;
the script says so (and exits 1 when they are not).  Stdlib only; caches live in a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from realworld import git_rev

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- speed:begin -->", "<!-- speed:end -->"


def git(repo: str, *args: str, **kw) -> str:
    return subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True, text=True, **kw).stdout


def release_commit(repo: str, tip: str, version: str) -> str:
    for line in git(repo, "log", "--first-parent", "--format=%H %s", tip, "--", "VERSION").splitlines():
        sha, subject = line.split(" ", 1)
        if f"v{version} release" in subject or f"{version} release" in subject:
            return sha
    sys.exit(f"speed.py: no release commit for {version} on {tip}")


def _tree_mem_kib(root: int) -> tuple[int, int]:
    """(resident set, proportional set) of ``root`` and all its descendants, in KiB (Linux /proc).

    The resident sets of forked workers count the pages they share with their parent once per
    process; the proportional set size splits each shared page between its sharers, so its sum
    is the memory the process tree really holds.
    """
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as fh:
                st = fh.read()
            fields = st[st.rindex(")") + 2:].split()
            parents[int(d)] = int(fields[1])
            rss[int(d)] = int(fields[21]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
        except (OSError, ValueError, IndexError):
            continue
    total, pss, stack, seen = 0, 0, [root], set()
    while stack:
        p = stack.pop()
        if p in seen:
            continue
        seen.add(p)
        total += rss.get(p, 0)
        pss += _pss_kib(p)
        stack.extend(c for c, pp in parents.items() if pp == p)
    return total, pss


# Seconds between two memory samples.  Reading smaps_rollup of a 600 MB process tree costs about
# 15 ms of CPU; at 20 ms intervals that slowed a --jobs 2 run on two cores by a fifth.  Peak
# memory is a plateau (caches filled to their budgets), so a few samples a second find it.
SAMPLE_INTERVAL = 0.25


def _pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def timed(cmd: list[str], env: dict | None = None, stdout=subprocess.PIPE) -> tuple[float, tuple[int, int], subprocess.CompletedProcess]:
    """(seconds, peak (RSS, PSS) KiB of the process tree, result)."""
    peak = [0, 0]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.PIPE, env=env)
    done = threading.Event()

    def sample():
        while not done.is_set():
            r, p = _tree_mem_kib(proc.pid)
            peak[0], peak[1] = max(peak[0], r), max(peak[1], p)
            done.wait(SAMPLE_INTERVAL)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    out, err = proc.communicate()
    dt = time.perf_counter() - t0
    done.set()
    th.join()
    return dt, (peak[0], peak[1]), subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def qlint_cmd() -> list[str]:
    """The qlint of this Python (its venv's script), never another one found on PATH."""
    exe = Path(sys.executable).with_name("qlint")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "qlint.analyzer.cli"]


def load_note() -> str:
    try:
        la = os.getloadavg()
        return f"load average before the run {la[0]:.1f} / {la[1]:.1f} / {la[2]:.1f} on {os.cpu_count()} CPUs"
    except OSError:
        return f"{os.cpu_count()} CPUs"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repo", default=os.environ.get("QEMU_GIT"),
                    help="QEMU git directory (bare is fine; default: $QEMU_GIT)")
    ap.add_argument("--tip", default="master^")
    ap.add_argument("--from-version", default="10.0.0")
    ap.add_argument("--to-version", default="10.1.0")
    ap.add_argument("--limit", type=int, default=0, help="review only the first N commits of the range")
    ap.add_argument("--checkpatch", type=int, default=30, help="time scripts/checkpatch.pl on N commits (0: skip)")
    ap.add_argument("--no-precommit", action="store_true", help="skip the --staged measurement")
    ap.add_argument("--skip-cold-j1", action="store_true", help="skip the slowest variant (cold cache, one process)")
    ap.add_argument("--update-readme", action="store_true", help="rewrite the speed section of bench/README.md")
    a = ap.parse_args()
    if a.repo is None:
        ap.error("no QEMU repository: pass --repo QEMU_GIT or set $QEMU_GIT")
    if subprocess.run(["git", "-C", a.repo, "rev-parse", "--git-dir"], capture_output=True).returncode:
        sys.exit(f"speed.py: not a git directory: {a.repo}")

    note = load_note()
    start = release_commit(a.repo, a.tip, a.from_version)
    end = release_commit(a.repo, a.tip, a.to_version)
    commits = git(a.repo, "rev-list", "--reverse", "--no-merges", f"{start}..{end}").split()
    if a.limit:
        rng = f"{start}..{commits[: a.limit][-1]}"
        commits = git(a.repo, "rev-list", "--reverse", "--no-merges", rng).split()
    else:
        rng = f"{start}..{end}"
    n = len(commits)
    print(f"range {a.from_version}..{a.to_version}: {n} non-merge commits ({rng})", flush=True)

    rows: list[tuple[str, float, int | None]] = []
    t_log, _, _ = timed(["git", "-C", a.repo, "log", "-p", "--no-merges", rng, "--", "*.c", "*.h"],
                        stdout=subprocess.DEVNULL)
    rows.append(("git log -p --no-merges (C files)", t_log, None))
    print(f"git log -p: {t_log:.2f} s", flush=True)

    outputs: dict[str, bytes] = {}
    ok = True
    with tempfile.TemporaryDirectory(prefix="qlint-speed-") as tmp:
        variants = [("cold", 1, "c1"), ("cold", 2, "c2"), ("warm", 1, "c2"), ("warm", 2, "c2")]
        if a.skip_cold_j1:
            variants = variants[1:]
        for kind, jobs, cdir in variants:
            env = dict(os.environ, QLINT_CACHE_DIR=str(Path(tmp) / cdir))
            env.pop("QLINT_NO_CACHE", None)
            dt, peak, r = timed(qlint_cmd() + ["-C", a.repo, "--format", "json", "--jobs", str(jobs), rng], env=env)
            if r.returncode not in (0, 1) or not r.stdout.startswith(b"{"):
                print(f"qlint ({kind}, --jobs {jobs}) failed ({r.returncode}): {r.stderr.decode()[:300]}")
                return 2
            name = f"qlint, {kind} cache, --jobs {jobs}"
            outputs[name] = r.stdout
            rows.append((name, dt, peak))
            print(f"{name}: {dt:.2f} s, peak RSS {peak[0] / 1024:.0f} MiB, PSS {peak[1] / 1024:.0f} MiB", flush=True)
        cache_bytes = sum(p.stat().st_size for p in (Path(tmp) / "c2").rglob("*") if p.is_file())

        if a.checkpatch:
            cp = Path(tmp) / "checkpatch.pl"
            cp.write_text(git(a.repo, "show", f"{a.tip}:scripts/checkpatch.pl"))
            sample = commits[:: max(1, n // a.checkpatch)][: a.checkpatch]
            t0 = time.perf_counter()
            for c in sample:
                patch = git(a.repo, "format-patch", "--stdout", "-1", c)
                subprocess.run(["perl", str(cp), "--no-tree", "-q", "-"], input=patch, text=True, capture_output=True)
            per = (time.perf_counter() - t0) / len(sample)
            rows.append((f"checkpatch.pl (+ format-patch), {len(sample)} commits sampled, scaled", per * n, None))

        pre = None
        if not a.no_precommit:
            # a typical commit: the range's last one that changes device code
            typical = git(a.repo, "log", "-1", "--no-merges", "--format=%H", rng, "--", "hw/*.c").strip() or commits[-1]
            wt = Path(tmp) / "qemu"
            subprocess.run(["git", "clone", "-q", "--shared", "--no-checkout", a.repo, str(wt)], check=True)
            git(str(wt), "checkout", "-q", f"{typical}~1")
            git(str(wt), "cherry-pick", "-n", typical)
            env = dict(os.environ, QLINT_CACHE_DIR=str(Path(tmp) / "pre"))
            env.pop("QLINT_NO_CACHE", None)
            cold, _, r1 = timed(qlint_cmd() + ["-C", str(wt), "--staged"], env=env)
            warm, _, r2 = timed(qlint_cmd() + ["-C", str(wt), "--staged"], env=env)
            warm2, _, _ = timed(qlint_cmd() + ["-C", str(wt), "--staged"], env=env)
            pre = (cold, min(warm, warm2), typical[:10])

    base = outputs[next(iter(outputs))]
    same = all(v == base for v in outputs.values())
    ok = ok and same

    nfind = len(json.loads(base)["findings"])
    lines = ["| what | total (s) | per commit (ms) | vs git log -p | peak RSS, summed (MiB) | peak PSS, summed (MiB) |",
             "|---|---|---|---|---|---|"]
    for name, total, peak in rows:
        rss, pss = (f"{peak[0] / 1024:.0f}", f"{peak[1] / 1024:.0f}") if peak else ("", "")
        lines.append(f"| {name} | {total:.1f} | {total / n * 1000:.1f} | {total / t_log:.1f}x | {rss} | {pss} |")
    text = [
        f"Measured by `bench/speed.py` on qlint commit `{git_rev(ROOT)}` ({note}); "
        f"range {a.from_version}..{a.to_version}, {n} non-merge commits.",
        "",
        *lines,
        "",
        f"- Findings of all qlint variants identical: **{'yes' if same else 'NO'}** ({nfind} findings).",
        f"- Cache after the run: {cache_bytes / 2**20:.0f} MiB.",
    ]
    if pre is not None:
        text.append(f"- Pre-commit, `qlint --staged` on a full checkout with commit {pre[2]} staged: "
                    f"cold cache {pre[0]:.2f} s, warm {pre[1]:.2f} s.")
    out = "\n".join(text) + "\n"
    print()
    print(out)
    if a.update_readme:
        readme = Path(__file__).resolve().parent / "README.md"
        cur = readme.read_text()
        if BEGIN in cur and END in cur:
            cur = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _m: BEGIN + "\n" + out + END, cur, flags=re.S)
        else:
            cur = cur.rstrip("\n") + "\n\n" + BEGIN + "\n" + out + END + "\n"
        readme.write_text(cur)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
