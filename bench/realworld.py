#!/usr/bin/env python3
"""Measure qlint on labelled real QEMU commits and mailing-list series.

    python3 bench/realworld.py --repo QEMU_GIT --data DIR [--series] [--update-readme]
    python3 bench/realworld.py --repo QEMU_GIT --data DIR --fresh -n 150 --seed S [--tsv-out F]

QEMU_GIT is a QEMU git directory holding the commits (bare is fine; or set $QEMU_GIT).  DIR holds
the labelled data, corpus-dev.tsv and the series files (or set $QLINT_REALWORLD); its README.md
says what the columns mean.

Each corpus row is reviewed as `qlint -C REPO --format json PARENT..COMMIT` (series: BASE..TIP)
in parallel; the Markdown report goes to stdout, raw per-case results to --json-out.  --fresh
reviews instead a reproducible random sample of the repository's mailing-list series branches
that no series file lists, and lists every error and warning for judgement by hand.
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import csv
import hashlib
import json
import os
import posixpath
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPO_ENV = "QEMU_GIT"
DATA_ENV = "QLINT_REALWORLD"
SEEN = ("series-dev.tsv", "series-fresh-1.tsv")
LABELS = ("BREAK", "GUARDED", "CLEAN", "NEWDEV")
FAILED = ("exit2", "crash", "missing")
BEGIN, END = "<!-- realworld:begin -->", "<!-- realworld:end -->"
INTRO = """# qlint benchmarks

`realworld.py` runs qlint on labelled QEMU commits; `python3 bench/realworld.py --help` lists the
options. To refresh the tables below:

    python3 bench/realworld.py --repo QEMU_GIT --data DIR --series --update-readme

"""


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repo", "--mirror", dest="repo", default=os.environ.get(REPO_ENV),
                   help=f"QEMU git directory, bare is fine (default: ${REPO_ENV})")
    p.add_argument("--data", type=Path, default=os.environ.get(DATA_ENV),
                   help=f"directory of the labelled data: corpus-dev.tsv, series-*.tsv (default: ${DATA_ENV})")
    p.add_argument("--corpus", type=Path, help="corpus file (default: DATA/corpus-dev.tsv)")
    p.add_argument("--series", type=Path, nargs="?", const=Path(),
                   help="also run the series file (default: DATA/series-dev.tsv)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="cases reviewed in parallel")
    f = p.add_argument_group("fresh series (--fresh)")
    f.add_argument("--fresh", action="store_true",
                   help="review a random sample of the repository's series branches instead of the corpus")
    f.add_argument("-n", "--count", type=int, default=150, help="series to sample (default: %(default)s)")
    f.add_argument("--seed", help="seed of the sample (default: the current time; the report names it)")
    f.add_argument("--exclude", type=Path, action="append",
                   help="series file whose branches are not sampled (repeatable; default: "
                   + ", ".join("DATA/" + x for x in SEEN) + ")")
    f.add_argument("--max-patches", type=int, default=30, help="skip longer series (default: %(default)s)")
    f.add_argument("--upstream", default="master", help="BASE is the merge-base with this (default: %(default)s)")
    f.add_argument("--qlint-jobs", type=int, default=1, help="qlint -j for each series (default: %(default)s)")
    f.add_argument("--tsv-out", type=Path, help="write branch, base, tip, n_patches, touches_hw, n_errors,"
                   " n_warnings here")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per case")
    p.add_argument("--only", help="comma-separated corpus ids and/or series branches")
    p.add_argument("--label", help="comma-separated labels to run (" + ",".join(LABELS) + ")")
    p.add_argument("--qlint", help='qlint command (default: qlint on PATH, else python -m qlint.analyzer.cli)')
    p.add_argument("--update-readme", action="store_true", help="rewrite the section in bench/README.md")
    p.add_argument("--json-out", type=Path, help="write raw per-case results here")
    args = p.parse_args(argv)
    if args.data is None and (args.fresh or not args.corpus or args.series == Path()):
        p.error(f"no labelled data: pass --data DIR (or set ${DATA_ENV}), or --corpus FILE and --series FILE")
    args.corpus = args.corpus or args.data / "corpus-dev.tsv"
    if args.series == Path():
        args.series = args.data / "series-dev.tsv"
    args.only = set(filter(None, (args.only or "").split(","))) or None
    args.label = set(filter(None, (args.label or "").split(","))) or None
    if args.label and not args.label <= set(LABELS):
        p.error(f"--label: unknown {','.join(sorted(args.label - set(LABELS)))}")
    if args.fresh:
        if args.series or args.only or args.label or args.update_readme:
            p.error("--fresh takes no --series, --only, --label or --update-readme (its verdicts are by hand)")
        if args.count < 1 or args.max_patches < 1 or args.qlint_jobs < 0:
            p.error("-n and --max-patches must be at least 1, --qlint-jobs at least 0")
        args.exclude = args.exclude or [args.data / x for x in SEEN]
        if args.seed is None:
            args.seed = str(int(time.time()))
    elif args.tsv_out:
        p.error("--tsv-out needs --fresh")
    for f in (args.exclude if args.fresh else filter(None, (args.corpus, args.series))):
        if not f.is_file():
            p.error(f"no such file: {f}")
    if not args.repo:
        p.error(f"no QEMU git directory: pass --repo (or --mirror) or set ${REPO_ENV}")
    if subprocess.run(["git", "-C", args.repo, "rev-parse", "--git-dir"], capture_output=True).returncode:
        p.error(f"not a git directory: {args.repo}")
    return args


def qlint_command(override: str | None) -> list[str]:
    if override:
        return shlex.split(override)
    return ["qlint"] if shutil.which("qlint") else [sys.executable, "-m", "qlint.analyzer.cli"]


def load_cases(args: argparse.Namespace) -> list[dict]:
    cases = []
    with open(args.corpus, newline="") as fh:
        for r in csv.DictReader(fh, delimiter="\t"):
            if (args.only and r["id"] not in args.only) or (args.label and r["label"] not in args.label):
                continue
            cls = r["notes"].split(":", 1)[0] if r["label"] == "BREAK" else ""
            cases.append(dict(id=r["id"], label=r["label"], kind=r["kind"] or "-", cls=cls,
                              range=f"{r['parent']}..{r['commit']}", files=r["files"],
                              functions=r["functions"], notes=r["notes"]))
    if args.series:
        with open(args.series, newline="") as fh:
            for r in csv.DictReader(fh, delimiter="\t"):
                if not args.only or r["branch"] in args.only:
                    cases.append(dict(id=r["branch"], label="SERIES", kind="-", cls="",
                                      range=f"{r['base']}..{r['tip']}", n_patches=r["n_patches"],
                                      touches_hw=r["touches_hw"], files="", functions=""))
    return cases


def git(repo: str, *argv: str) -> str:
    return subprocess.run(["git", "-C", repo, *argv], capture_output=True, text=True,
                          errors="replace").stdout


def is_ci_commit(author: str, subject: str, files: list[str]) -> bool:
    """A commit the mirror adds to run its CI, not a patch of the series."""
    return (subject.strip() == "ci" or author == "GitHub Actions Bot"
            or bool(files) and all(f.startswith(".github/") for f in files))


def is_c_file(path: str) -> bool:
    return not path.startswith("tests/") and path.endswith((".c", ".h", ".c.inc", ".h.inc"))


def series_range(repo: str, branch: str, upstream: str, max_patches: int) -> dict | str:
    """BASE..TIP of one series branch and what it touches, or why it is not sampled."""
    tip = git(repo, "rev-parse", "--verify", "-q", f"refs/heads/{branch}^{{commit}}").strip()
    base = git(repo, "merge-base", tip, upstream).strip() if tip else ""
    if not base:
        return "no merge-base with " + upstream
    # Oldest first; one record per commit: NUL, id, parents, author, subject, then the files.
    out = git(repo, "log", "--reverse", "-z", "--no-renames", "--name-only",
              f"--max-count={max_patches + 20}", "--format=%x01%H%x00%P%x00%an%x00%s", f"{base}..{tip}")
    commits = []
    for rec in out.split("\x01")[1:]:
        sha, parents, author, subject, *rest = rec.split("\x00")
        commits.append(dict(sha=sha, merge=len(parents.split()) > 1, ci=False,
                            files=[f.strip("\n") for f in rest if f.strip("\n")], author=author, subject=subject))
    for c in commits:
        c["ci"] = is_ci_commit(c["author"], c["subject"], c["files"])
    while commits and commits[0]["ci"]:  # CI commits under the series: the series starts above them
        base = commits.pop(0)["sha"]
    if not commits:
        return "empty"
    if any(c["ci"] for c in commits):
        return "CI commits among the patches"
    if any(c["merge"] for c in commits):
        return "merge commits"
    if len(commits) > max_patches:
        return f"more than {max_patches} patches"
    files = {f for c in commits for f in c["files"] if not f.startswith("tests/")}
    if not any(is_c_file(f) for f in files):
        return "no C file outside tests/"
    hw = any(f.startswith(("hw/", "include/hw/")) for f in files)
    return dict(base=base, tip=tip, n_patches=str(len(commits)), touches_hw="yes" if hw else "no")


def sample_series(args: argparse.Namespace) -> tuple[list[dict], dict]:
    """The first --count eligible series branches in the order of sha256(seed:name).

    A branch's place depends only on the seed and its own name, so branches added to the
    repository later do not reshuffle the sample of a seed.
    """
    seen = set()
    for f in args.exclude:
        with open(f, newline="") as fh:
            seen |= {r["branch"] for r in csv.DictReader(fh, delimiter="\t")}
    names = git(args.repo, "for-each-ref", "--format=%(refname:lstrip=2)", "refs/heads").split()
    pool = [b for b in names if b != args.upstream and not b.endswith("_ci") and b not in seen]
    pool.sort(key=lambda b: hashlib.sha256(f"{args.seed}:{b}".encode()).hexdigest())
    cases, skipped = [], Counter()
    walked = 0  # branches looked at, reported after the loop
    for branch in pool:
        walked += 1
        got = series_range(args.repo, branch, args.upstream, args.max_patches)
        if isinstance(got, str):
            skipped[got] += 1
            continue
        cases.append(dict(id=branch, label="SERIES", kind="-", cls="", range=f"{got['base']}..{got['tip']}",
                          files="", functions="", **got))
        if len(cases) == args.count:
            break
    info = dict(branches=len(names), excluded=len(names) - len(pool), candidates=len(pool),
                walked=walked if pool else 0, skipped=skipped)
    return cases, info


def missing_commits(repo: str, cases: list[dict]) -> set[str]:
    revs = sorted({rev for c in cases for rev in c["range"].split("..")})
    out = subprocess.run(["git", "-C", repo, "cat-file", "--batch-check"], capture_output=True, text=True,
                         input="".join(f"{r}^{{commit}}\n" for r in revs)).stdout.splitlines()
    return {rev for rev, line in zip(revs, out) if line.endswith("missing")}


def stderr_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        return ""
    return (lines[-1] if lines[0].startswith("Traceback") else lines[0])[:200]


def parse_findings(stdout: str) -> list[dict]:
    doc = json.loads(stdout)
    if not isinstance(doc, dict) or not isinstance(doc.get("findings"), list):
        raise ValueError("no 'findings' list in output")
    if not all(isinstance(f, dict) for f in doc["findings"]):
        raise ValueError("finding is not an object")
    return doc["findings"]


def run_qlint(cmd: list[str], repo: str, rng: str, timeout: float) -> dict:
    res: dict = {"status": "ok", "exit": None, "findings": [], "stderr": ""}
    t0 = time.monotonic()
    try:  # own session, so a timeout also kills whatever qlint spawned
        p = subprocess.Popen([*cmd, "-C", repo, "--format", "json", rng], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, errors="replace", start_new_session=True)
    except OSError as e:
        res.update(status="crash", stderr=f"cannot run {cmd[0]}: {e}", wall=0.0)
        return res
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        res.update(status="timeout", stderr=f"timeout after {timeout:g}s")
    else:
        res.update(exit=p.returncode, stderr=stderr_line(err))
        if p.returncode in (0, 1):
            try:
                res["findings"] = parse_findings(out)
            except ValueError as e:
                res.update(status="crash", stderr=res["stderr"] or f"bad JSON output: {e}"[:200])
        else:
            res["status"] = "exit2" if p.returncode == 2 else "crash"
    res["wall"] = round(time.monotonic() - t0, 3)
    return res


def norm(path: str | None) -> str:
    return posixpath.normpath(path or "")


def evaluate(c: dict) -> None:
    fs = c["findings"]
    files = {norm(f) for f in c["files"].split(";") if f}
    funcs = {f for f in c["functions"].split(";") if f}
    errors = [f for f in fs if f.get("severity") == "error"]
    in_files = [f for f in errors if norm(f.get("path")) in files]
    c.update(has_error=bool(errors), any=bool(fs), rules=sorted({str(f.get("rule")) for f in fs}),
             flagged=bool(in_files) if c["label"] == "BREAK" else bool(errors),
             near=any(f.get("function") in funcs for f in in_files),
             exit_consistent=c["status"] != "ok" or (c["exit"] == 1) == bool(errors))


def run_all(cases: list[dict], cmd: list[str], repo: str, jobs: int, timeout: float) -> None:
    missing = missing_commits(repo, cases)
    todo = []
    for c in cases:
        gone = [r for r in c["range"].split("..") if r in missing]
        if gone:
            c.update(status="missing", exit=None, findings=[], wall=0.0, stderr="missing commit " + " ".join(gone))
        else:
            todo.append(c)
    tty = sys.stderr.isatty()
    with cf.ThreadPoolExecutor(max_workers=max(1, jobs)) as ex:
        futs = {ex.submit(run_qlint, cmd, repo, c["range"], timeout): c for c in todo}
        for i, fut in enumerate(cf.as_completed(futs), 1):
            try:
                futs[fut].update(fut.result())
            except Exception as e:  # never let one case abort the run
                futs[fut].update(status="crash", exit=None, findings=[], wall=0.0, stderr=repr(e)[:200])
            if tty:
                print(f"\r{i}/{len(todo)} cases", end="", file=sys.stderr, flush=True)
    if tty and todo:
        print(file=sys.stderr)
    for c in cases:
        evaluate(c)


def table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(x).replace("|", "\\|") for x in r) + " |" for r in rows]
    return "\n".join(lines)


def counts(cs: list[dict], near: bool = True) -> list:
    return [len(cs), sum(c["flagged"] for c in cs), sum(c["near"] for c in cs) if near else "",
            sum(c["any"] for c in cs), sum(c["status"] in FAILED for c in cs),
            sum(c["status"] == "timeout" for c in cs)]


def grouped(cs: list[dict], key) -> list[tuple[str, list[dict]]]:
    groups = defaultdict(list)
    for c in cs:
        groups[key(c)].append(c)
    return sorted(groups.items())


def rules_of(c: dict, severity: str | None = None) -> str:
    hits = Counter(f.get("rule") for f in c["findings"] if severity in (None, f.get("severity")))
    return ", ".join(f"{r}×{n}" if n > 1 else str(r) for r, n in sorted(hits.items(), key=str)) or "-"


def corpus_report(cs: list[dict]) -> list[str]:
    head = ["label", "kind", "cases", "flagged (error)", "near functions", "any finding", "exit-2/crash", "timeouts"]
    rows = []
    for label in LABELS:
        sub = [c for c in cs if c["label"] == label]
        for kind, g in grouped(sub, lambda c: c["kind"]):
            rows.append([label, kind, *counts(g, label == "BREAK")])
        if sub:
            rows.append([f"**{label}**", "**all**", *counts(sub, label == "BREAK")])
    out = ["### Corpus by label and kind", "",
           "BREAK is flagged by an error in one of its `files`; the other labels by any error.", "",
           table(head, rows)]
    brk = [c for c in cs if c["label"] == "BREAK"]
    if brk:
        rows = []
        for cls, by_cls in grouped(brk, lambda c: c["cls"]):
            rows += [[cls, kind, *counts(g)] for kind, g in grouped(by_cls, lambda c: c["kind"])]
            rows.append([f"**{cls}**", "**all**", *counts(by_cls)])
        out += ["", "### BREAK: DETECTABLE vs HARD", "", table(["class", *head[1:]], rows)]
        miss = [[c["id"], c["cls"], c["kind"], rules_of(c, "error"), c["notes"][:100]] for c in brk if not c["flagged"]]
        out += ["", f"### BREAK misses ({len(miss)})", "",
                table(["id", "class", "kind", "errors elsewhere", "notes"], miss) if miss else "none"]
    lists = [("GUARDED with an error", "GUARDED", "has_error", ["id", "rules", "paths"]),
             ("CLEAN with any finding", "CLEAN", "any", ["id", "rules"]),
             ("NEWDEV with any finding", "NEWDEV", "any", ["id", "rules"])]
    for title, label, key, hd in lists:
        hit = [c for c in cs if c["label"] == label and c[key]]
        rows = [[c["id"], rules_of(c, "error" if key == "has_error" else None),
                 ", ".join(sorted({str(f.get("path")) for f in c["findings"] if f.get("severity") == "error"}))][:len(hd)]
                for c in hit]
        if any(c["label"] == label for c in cs):
            out += ["", f"### {title} ({len(hit)})", "", table(hd, rows) if rows else "none"]
    return out


def series_report(ss: list[dict]) -> list[str]:
    head = ["series", "cases", "with error", "any finding", "exit 2", "crash/missing", "timeouts"]

    def row(name, g):
        return [name, len(g), sum(c["has_error"] for c in g), sum(c["any"] for c in g),
                sum(c["status"] == "exit2" for c in g), sum(c["status"] in ("crash", "missing") for c in g),
                sum(c["status"] == "timeout" for c in g)]
    rows = [row("all", ss)] + [row(f"touches_hw={k}", g) for k, g in grouped(ss, lambda c: c["touches_hw"])]
    lines = [f"- `{c['id']}` ({c['n_patches']} patch{'es' * (c['n_patches'] != '1')}, hw={c['touches_hw']}"
             + ("" if c["status"] == "ok" else f", {c['status']}") + f"): {rules_of(c)}" for c in ss]
    return ["### Mailing-list series", "", table(head, rows), "", *lines]


def pct(n: int, d: int) -> str:
    return f"{100 * n / d:.1f} %" if d else "-"


def findings_table(ss: list[dict], severity: str) -> list[str]:
    rows = [[f"`{c['id']}`", str(f.get("commit") or "")[:10], f.get("rule"), f"{f.get('path')}:{f.get('line')}",
             f.get("confidence") or "-", " ".join(str(f.get("message") or "").split())[:200]]
            for c in ss for f in c["findings"] if f.get("severity") == severity]
    if not rows:
        return ["none"]
    return [table(["branch", "commit", "rule", "file:line", "confidence", "message"], rows)]


def fresh_report(ss: list[dict], info: dict, args: argparse.Namespace) -> list[str]:
    def sev(c, name):
        return sum(f.get("severity") == name for f in c["findings"])
    for c in ss:
        c.update(n_errors=sev(c, "error"), n_warnings=sev(c, "warning"))
    skipped = ", ".join(f"{n} {why}" for why, n in info["skipped"].most_common()) or "none"
    with_error = sum(c["has_error"] for c in ss)
    out = ["### Fresh mailing-list series", "",
           f"Seed `{args.seed}`: {len(ss)} of {args.count} series sampled from {info['candidates']} branches"
           f" (of {info['branches']}: `{args.upstream}`, `_ci` twins and the {len(args.exclude)} series files'"
           f" branches left out), walking {info['walked']}; skipped: {skipped}.", "",
           f"- series sampled: {len(ss)} ({sum(c['touches_hw'] == 'yes' for c in ss)} touch hw/)",
           f"- series with an error: {with_error} ({pct(with_error, len(ss))})",
           f"- errors: {sum(c['n_errors'] for c in ss)}",
           f"- warnings: {sum(c['n_warnings'] for c in ss)}",
           f"- failed runs: {sum(c['status'] != 'ok' for c in ss)}", ""]

    def row(name, g):
        return [name, len(g), sum(c["has_error"] for c in g), pct(sum(c["has_error"] for c in g), len(g)),
                sum(c["n_errors"] for c in g), sum(c["n_warnings"] for c in g), sum(c["status"] != "ok" for c in g)]
    out += [table(["series", "cases", "with error", "with error %", "errors", "warnings", "failed"],
                  [row("all", ss)] + [row(f"touches_hw={k}", g) for k, g in grouped(ss, lambda c: c["touches_hw"])])]
    out += ["", "#### Errors", "", *findings_table(ss, "error"),
            "", "#### Warnings", "", *findings_table(ss, "warning")]
    return out


def write_tsv(path: Path, ss: list[dict]) -> None:
    cols = ["branch", "base", "tip", "n_patches", "touches_hw", "n_errors", "n_warnings"]
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow(cols)
        for c in ss:
            w.writerow([c["id"], c["base"], c["tip"], c["n_patches"], c["touches_hw"],
                        "-" if c["status"] != "ok" else c["n_errors"], "-" if c["status"] != "ok" else c["n_warnings"]])


def common_report(cases: list[dict], elapsed: float) -> list[str]:
    per_rule: dict[str, Counter] = defaultdict(Counter)
    for c in cases:
        for f in c["findings"]:
            per_rule[str(f.get("rule"))][c["label"]] += 1
    cols = [lb for lb in (*LABELS, "SERIES") if any(c["label"] == lb for c in cases)]
    out = ["", "### Findings per rule and label", "",
           table(["rule", *cols], [[r, *(n[lb] for lb in cols)] for r, n in sorted(per_rule.items())])
           if per_rule else "no findings"]
    bad = [c for c in cases if c["status"] != "ok"]
    if bad:
        out += ["", f"### Failed runs ({len(bad)})", "",
                table(["id", "status", "exit", "stderr"], [[c["id"], c["status"], "-" if c["exit"] is None else c["exit"], c["stderr"]] for c in bad])]
    odd = [c["id"] for c in cases if not c["exit_consistent"]]
    if odd:
        out += ["", f"Exit code disagrees with error findings in {len(odd)} cases: {', '.join(odd[:20])}"]
    out += ["", "### Wall time", ""]
    for name, g in (("corpus", [c for c in cases if c["label"] != "SERIES"]),
                    ("series", [c for c in cases if c["label"] == "SERIES"])):
        walls = [c["wall"] for c in g if c["status"] != "missing"]
        if walls:
            out.append(f"- {name}: {len(walls)} cases, total {sum(walls):.1f}s, median {statistics.median(walls):.2f}s"
                       f", max {max(walls):.1f}s")
    out.append(f"- elapsed: {elapsed:.1f}s")
    return out


def git_rev(root: Path) -> str:
    rev = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "analyzer", "rules"],
                           capture_output=True, text=True).stdout.strip()
    return (rev.stdout.strip() or "unknown") + ("-dirty" if dirty else "")


def update_readme(section: str) -> None:
    path = ROOT / "bench/README.md"
    text = path.read_text() if path.exists() else INTRO + f"{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        text = text.rstrip("\n") + f"\n\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    path.write_text(f"{head}{BEGIN}\n{section}\n{END}{rest.split(END, 1)[1]}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    cmd = qlint_command(args.qlint)
    if args.fresh:
        cmd += ["-j", str(args.qlint_jobs)]
        cases, info = sample_series(args)
    else:
        cases = load_cases(args)
    if not cases:
        print("no cases selected", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    run_all(cases, cmd, args.repo, args.jobs, args.timeout)
    elapsed = time.monotonic() - t0
    # no path of this machine in the report
    shown = ["python3", *cmd[1:]] if cmd[0] == sys.executable else [os.path.basename(cmd[0]), *cmd[1:]]
    if args.fresh:
        opts = f" --fresh -n {args.count} --seed {args.seed} --max-patches {args.max_patches}"
        out = [f"Generated by `bench/realworld.py{opts}` on qlint commit `{git_rev(ROOT)}`,"
               f" command `{shlex.join(shown)}`.", "", *fresh_report(cases, info, args)]
        if args.tsv_out:
            write_tsv(args.tsv_out, cases)
    else:
        filters = "".join(f" --{k} {','.join(sorted(v))}" for k, v in (("only", args.only), ("label", args.label)) if v)
        out = [f"Generated by `bench/realworld.py{filters}` on qlint commit `{git_rev(ROOT)}`,"
               f" command `{shlex.join(shown)}`, corpus `{args.corpus.name}`.", ""]
        corpus = [c for c in cases if c["label"] != "SERIES"]
        series = [c for c in cases if c["label"] == "SERIES"]
        if corpus:
            out += corpus_report(corpus)
        if series:
            out += ["", *series_report(series)]
    out += common_report(cases, elapsed)
    report = "\n".join(out)
    print(report)
    if args.json_out:
        args.json_out.write_text(json.dumps(cases, indent=1) + "\n")
    if args.update_readme:
        update_readme(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
