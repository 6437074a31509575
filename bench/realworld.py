#!/usr/bin/env python3
"""Measure qlint on labelled real QEMU commits and mailing-list series.

    python3 bench/realworld.py --repo QEMU_GIT --data DIR [--series] [--update-readme]

QEMU_GIT is a QEMU git directory holding the commits (bare is fine; or set $QEMU_GIT).  DIR holds
the labelled corpus, corpus-dev.tsv and series-dev.tsv (or set $QLINT_REALWORLD); its README.md
says what the columns mean.  Each corpus row is reviewed as `qlint -C REPO --format json PARENT..COMMIT` (series: BASE..TIP)
in parallel; the Markdown report goes to stdout, raw per-case results to --json-out.
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import csv
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
LABELS = ("BREAK", "GUARDED", "CLEAN", "NEWDEV")
FAILED = ("exit2", "crash", "missing")
BEGIN, END = "<!-- realworld:begin -->", "<!-- realworld:end -->"
SERIES_IN_DATA = Path("series-dev.tsv")  # --series given without a file: the one in --data
INTRO = """# qlint benchmarks

`realworld.py` runs qlint on labelled QEMU commits; `python3 bench/realworld.py --help` lists the
options. To refresh the tables below:

    python3 bench/realworld.py --repo QEMU_GIT --data DIR --series --update-readme

"""


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repo", default=os.environ.get("QEMU_GIT"),
                   help="QEMU git directory (bare is fine; default: $QEMU_GIT)")
    p.add_argument("--data", type=Path, default=os.environ.get("QLINT_REALWORLD"),
                   help="directory of the labelled corpus (default: $QLINT_REALWORLD)")
    p.add_argument("--corpus", type=Path, help="the corpus file (default: DIR/corpus-dev.tsv)")
    p.add_argument("--series", type=Path, nargs="?", const=SERIES_IN_DATA,
                   help="also run the series file (default: DIR/series-dev.tsv)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per case")
    p.add_argument("--only", help="comma-separated corpus ids and/or series branches")
    p.add_argument("--label", help="comma-separated labels to run (" + ",".join(LABELS) + ")")
    p.add_argument("--qlint", help='qlint command (default: qlint on PATH, else python -m qlint.analyzer.cli)')
    p.add_argument("--update-readme", action="store_true", help="rewrite the section in bench/README.md")
    p.add_argument("--json-out", type=Path, help="write raw per-case results here")
    args = p.parse_args(argv)
    args.only = set(filter(None, (args.only or "").split(","))) or None
    args.label = set(filter(None, (args.label or "").split(","))) or None
    if args.label and not args.label <= set(LABELS):
        p.error(f"--label: unknown {','.join(sorted(args.label - set(LABELS)))}")
    if args.repo is None:
        p.error("no QEMU repository: pass --repo QEMU_GIT or set $QEMU_GIT")
    if args.data is None and (args.corpus is None or args.series is SERIES_IN_DATA):
        p.error("no corpus: pass --data DIR (or set $QLINT_REALWORLD), or --corpus FILE and --series FILE")
    if args.corpus is None:
        args.corpus = args.data / "corpus-dev.tsv"
    if args.series is SERIES_IN_DATA:
        args.series = args.data / "series-dev.tsv"
    for f in filter(None, (args.corpus, args.series)):
        if not f.is_file():
            p.error(f"no such file: {f}")
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
    cases = load_cases(args)
    if not cases:
        print("no cases selected", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    run_all(cases, cmd, args.repo, args.jobs, args.timeout)
    elapsed = time.monotonic() - t0
    filters = "".join(f" --{k} {','.join(sorted(v))}" for k, v in (("only", args.only), ("label", args.label)) if v)
    shown = ["python3", *cmd[1:]] if cmd[0] == sys.executable else cmd  # no path of this machine
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
