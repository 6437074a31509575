"""The ``qlint`` command line."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import click

from qlint.analyzer import reporters
from qlint.analyzer.change import InputError
from qlint.analyzer.finding import CONFIDENCES
from qlint.analyzer.reporters._escape import inert, one_line

EXIT_OK, EXIT_FINDINGS, EXIT_INPUT = 0, 1, 2
CONTEXT = {"help_option_names": ["-h", "--help"]}


def _fail(msg: str) -> None:
    """One line on stderr, whatever the message holds (a revision with a newline, escape bytes), and exit 2."""
    _end_progress()
    click.echo(f"qlint: {one_line(msg)}", err=True)
    sys.exit(EXIT_INPUT)


def _repo_option(f):
    return click.option("-C", "repo", default=None, metavar="DIR",
                        help="The QEMU git repository (bare or not; default: the current directory).")(f)


def _repo(given: str | None) -> str:
    """The repository: -C given to the command, else to qlint itself (`qlint -C DIR COMMAND`), else "."."""
    if given is not None:
        return given
    ctx = click.get_current_context(silent=True)
    return (ctx.find_root().params.get("repo") if ctx is not None else None) or "."


def _version_option(f):
    return click.version_option(package_name="qlint", prog_name="qlint", message="%(prog)s %(version)s")(f)


def _emit(report, fmt: str) -> int:
    if fmt == "patch":
        _make_fixes(report)
    _write(reporters.get(fmt).render(report))
    return EXIT_FINDINGS if report.errors else EXIT_OK


def _write(text: str) -> None:
    """Standard output, every byte as read: a patch keeps the non-UTF-8 bytes of the files it
    changes (the reporters for people have escaped theirs)."""
    click.echo(text.encode("utf-8", "surrogateescape"), nl=False)


def _make_fixes(report) -> None:
    """Compute the fixes before rendering; say on stderr which findings have none (stdout stays
    a patch)."""
    for f, why in report.fixes.skipped:
        click.echo(f"qlint: no automatic fix for {f.rule} at {one_line(f.path)}:{f.line} ({one_line(why)})", err=True)


@click.command("review", context_settings=CONTEXT, short_help="Review commits (the default command).")
@_repo_option
@click.option("--format", "fmt", default="text", help="Output format: " + ", ".join(reporters.formats()) + ".")
@click.option("--fix", "fix", is_flag=True,
              help="Print a patch (for git apply) that adds the fixes qlint can write; same as --format patch.")
@click.option("--staged", is_flag=True, help="Review the index against HEAD (for a pre-commit hook).")
@click.option("--patch", "patch_file", metavar="FILE|-",
              help="Review a format-patch file, an mbox series or a unified diff, applied in memory.")
@click.option("--base", "base_rev", default="HEAD", metavar="REV", help="What --patch applies to (default HEAD).")
@click.option("--config", "config_file", metavar="FILE", help="Configuration (default: .qlint.toml of the base tree).")
@click.option("--baseline", "baseline_file", metavar="FILE", help="Report only findings not in this baseline.")
@click.option("--write-baseline", "write_baseline_file", metavar="FILE",
              help="Record the findings of this run as a baseline.")
@click.option("--jobs", "-j", "jobs", type=click.IntRange(min=0), default=0, metavar="N",
              help="Processes for a range (default 0: one, or one per CPU up to 8 for 200 commits or more).")
@click.option("--no-cache", "no_cache", is_flag=True,
              help="Neither read nor write the fact cache (also QLINT_NO_CACHE=1).")
@click.option("--min-confidence", "min_confidence", type=click.Choice(CONFIDENCES), default="low",
              help="Report only findings of this confidence or higher (a bot that posts to a list: high).")
@_version_option
@click.argument("revs", nargs=-1)
def review_cmd(repo: str, fmt: str, fix: bool, staged: bool, patch_file: str | None, base_rev: str,
               config_file: str | None, baseline_file: str | None, write_baseline_file: str | None, jobs: int,
               no_cache: bool, min_confidence: str, revs: tuple[str, ...]) -> None:
    """Review commits for migration-compatibility breaks (the default command).

    REV reviews one commit, A..B every non-merge commit after A up to B
    (oldest first, each against its first parent); no argument reviews HEAD.
    `qlint COMMAND --help` tells about the other commands.

    Exit status: 0 no error findings, 1 error findings, 2 bad input.
    """
    repo = _repo(repo)
    from qlint.analyzer.tree import cache
    from qlint.analyzer.engine import review
    from qlint.analyzer.sources.gitsrc import review_range, review_staged

    if no_cache:
        os.environ["QLINT_NO_CACHE"] = "1"
        cache.reset()
    if fmt not in reporters.formats():
        _fail(f"unknown format {fmt!r} (choose from {', '.join(reporters.formats())})")
    if fix:
        if fmt not in ("text", "patch"):
            _fail(f"--fix prints a patch; it cannot be combined with --format {fmt}")
        fmt = "patch"
    if len(revs) > 1 or (staged and revs) or (patch_file and (revs or staged)):
        _fail("give one revision, one range A..B, --staged, or --patch FILE")
    if not os.path.isdir(repo):
        _fail(f"no such directory: {repo}")
    if patch_file:
        from qlint.analyzer.sources.mbox import based_on, read_input, review_patch

        data = read_input(patch_file)
        for ref in based_on(data):
            click.echo(f"qlint: the series says Based-on: {one_line(ref)}; it is reviewed on {one_line(base_rev)}",
                       err=True)
        series = review_patch(repo, data, base_rev, Path(patch_file).name if patch_file != "-" else "stdin")
        for note in series.notes:
            click.echo(f"qlint: {note}", err=True)
    elif staged:
        series = review_staged(repo)
        if not any(f.path.endswith((".c", ".h")) or f.old_path.endswith((".c", ".h")) for f in series.patches[0].files):
            sys.exit(EXIT_OK)  # nothing for qlint in this commit: stay quiet in a pre-commit hook
    else:
        series = review_range(repo, revs[0] if revs else "HEAD")
    from qlint.analyzer.config import (
        ConfigError,
        Trusted,
        apply,
        review_settings,
        rules_enabled,
        write_baseline,
    )
    from qlint.analyzer.rule import all_rules

    try:
        trusted = Trusted(_trusted_base(repo, revs, series), series, _work_tree(repo))
        cfg, baseline, notes = review_settings(trusted, Path(config_file) if config_file else None,
                                               Path(baseline_file) if baseline_file else None)
    except ConfigError as exc:
        _fail(str(exc))
    for note in notes:
        click.echo(f"qlint: {note}", err=True)
    enabled = rules_enabled(cfg)
    report = review(series, [r for r in all_rules() if r.name in enabled], progress=_progress(), jobs=jobs)
    try:
        if write_baseline_file:
            write_baseline(apply(report, cfg, None), Path(write_baseline_file))
    except ConfigError as exc:
        _fail(str(exc))
    report = apply(report, cfg, baseline)
    report.findings = [f for f in report.findings if CONFIDENCES.index(f.confidence) <= CONFIDENCES.index(min_confidence)]
    sys.exit(_emit(report, fmt))


@click.command("matrix", context_settings=CONTEXT, short_help="Which migrations between releases work, and the rescue.")
@_repo_option
@click.option("--rev", default="HEAD", metavar="REV", help="The tree whose history is read (default HEAD).")
@click.option("--release", "given", multiple=True, metavar="X.Y.Z=REV",
              help="Count REV as release X.Y.Z (a stable release this repository lacks); repeatable.")
@click.option("--since", metavar="X.Y", help="Show releases from X.Y on (default: from the last one before the change).")
@click.option("--format", "fmt", default="text", type=click.Choice(["text", "json", "html"]), help="Output format.")
@click.argument("spec", metavar="PROPERTY|DRIVER.PROPERTY|ENTRY|COMMIT")
def matrix_cmd(repo: str, rev: str, given: tuple[str, ...], since: str | None, fmt: str, spec: str) -> None:
    """The migration matrix of a compat property across the repository's releases.

    For each group of machine types: the value every release gives them, which
    migrations between releases work or fail (both directions), and for VMs
    started on a release that shipped the unguarded behaviour, the -global
    option each destination needs.  ENTRY is a compat entry as written,
    '{ TYPE_PCI_DEVICE, "x-pcie-err-unc-mask", "off" }'; COMMIT stands for
    the property of the first compat entry it adds.
    """
    import json

    from qlint.analyzer import matrix
    from qlint.analyzer.diff import matrix_text
    from qlint.analyzer.sources.history import parse_version

    repo = _repo(repo)
    if not os.path.isdir(repo):
        _fail(f"no such directory: {repo}")
    releases = {}
    for g in given:
        name, sep, r = g.partition("=")
        if not sep or not r or parse_version(name) is None:
            _fail(f"--release wants X.Y.Z=REV, not {g!r}")
        releases[name] = r
    since_v = None
    if since is not None:
        since_v = parse_version(since)
        if since_v is None:
            _fail(f"--since wants a version like 7.2, not {since!r}")
    tell = None
    if sys.stderr.isatty():
        def tell(name: str) -> None:
            _show_progress(f"reading release {name:12}")
    m = matrix.from_repo(repo, spec, rev, releases, since_v, tell)
    _end_progress()
    if fmt == "json":
        click.echo(json.dumps(m.to_dict(), indent=2))
    else:
        _write(inert(matrix_text.render_html(m) if fmt == "html" else matrix_text.render_text(m)))
    sys.exit(EXIT_OK)


def _trusted_base(repo: str, revs: tuple[str, ...], series):
    """The tree whose configuration a review trusts: A for a range A..B, otherwise the tree the
    series applies to (the parent of REV, the --base of --patch, HEAD for --staged)."""
    if revs and ".." in revs[0]:
        from qlint.analyzer.sources.gitsrc import snapshot_at

        return snapshot_at(repo, revs[0].split("..", 1)[0] or "HEAD")[0]
    return series.base


def _work_tree(repo: str) -> Path | None:
    """The reviewed repository's work tree, None for a bare repository."""
    from qlint.analyzer.sources.gitsrc import open_repo

    r = open_repo(repo)
    return Path(r.workdir) if r.workdir else None


def _progress():
    """Progress on stderr for long ranges, and only on a terminal (never in CI logs or pipes)."""
    if not sys.stderr.isatty():
        return None

    def tell(i: int, n: int, patch) -> None:
        if n >= 5:
            _show_progress(f"{i}/{n} {patch.short or ''} {patch.subject[:50]:50}")
            if i == n:
                _end_progress()

    return tell


_PROGRESS = {"width": 0}  # the width of the progress line on the terminal, 0 when none is shown


def _show_progress(text: str) -> None:
    line = f"qlint: {one_line(text)}"
    click.echo("\r" + line.ljust(_PROGRESS["width"]), err=True, nl=False)
    _PROGRESS["width"] = max(_PROGRESS["width"], len(line))


def _end_progress() -> None:
    """Clear the progress line, so that what follows on stderr starts a line of its own."""
    if _PROGRESS["width"]:
        click.echo("\r" + " " * _PROGRESS["width"] + "\r", err=True, nl=False)
        _PROGRESS["width"] = 0


@click.command("install-hook", context_settings=CONTEXT, short_help="Write a pre-commit hook running `qlint --staged`.")
@_repo_option
@click.option("--force", is_flag=True, help="Replace a pre-commit hook that is not qlint's.")
def install_hook_cmd(repo: str | None, force: bool) -> None:
    """Write a git pre-commit hook that runs `qlint --staged`, where git runs hooks (core.hooksPath,
    the main repository's hooks for a linked worktree); never over a hook that is not qlint's
    unless --force, never through a symbolic link."""
    sys.exit(install_hook(_repo(repo), force))


def install_hook(repo: str, force: bool) -> int:
    """Write the pre-commit hook where git runs hooks, only when asked, never over someone else's."""
    from qlint.analyzer.sources.gitsrc import open_repo
    from qlint.analyzer.hooks import install

    if open_repo(repo).is_bare:
        _fail("a bare repository has no commits to hook")
    click.echo(f"qlint: installed {one_line(str(install(repo, force)))}")
    return EXIT_OK


@click.command("demo", context_settings=CONTEXT, short_help="Review a bundled example (no QEMU checkout needed).")
@click.option("--format", "fmt", default="text", metavar="FORMAT",
              help="Output format: " + ", ".join(reporters.formats()) + ".")
@click.option("--fix", is_flag=True, help="Print the patch qlint writes in place of the series' hand-written fix.")
@click.option("--keep", metavar="DIR", help="Build the demo repository in DIR (new or empty) and keep it.")
def demo_cmd(fmt: str, fix: bool, keep: str | None) -> None:
    """Review a bundled example: a QEMU-style history in which a patch breaks migration, a release
    ships it and a later patch fixes it (no QEMU checkout needed)."""
    if fmt not in reporters.formats():
        _fail(f"unknown format {fmt!r}")
    sys.exit(demo("patch" if fix else fmt, keep))


@click.command("rules", context_settings=CONTEXT)
@click.option("--format", "fmt", default="text", type=click.Choice(["text", "markdown"]),
              help="text: one line a rule; markdown: the table README.md shows.")
def rules_cmd(fmt: str) -> None:
    """List the rules: name, severity, summary."""
    from qlint.analyzer.rule import all_rules, rules_table

    if fmt == "markdown":
        click.echo(rules_table(all_rules()), nl=False)
        sys.exit(EXIT_OK)
    for r in all_rules():
        click.echo(f"{r.name:34} {r.severity:8} {r.summary}")
    sys.exit(EXIT_OK)


@click.command("rule", context_settings=CONTEXT, short_help="One rule's documentation.")
@click.argument("name")
def rule_cmd(name: str) -> None:
    """Print the documentation of rule NAME and its tested examples."""
    from qlint.analyzer.rule import all_rules

    for r in all_rules():
        if r.name == name:
            click.echo(f"{r.name} ({' / '.join(r.severities())})\n\n{r.doc()}\n\n{_tested_examples(r.name)}", nl=False)
            sys.exit(EXIT_OK)
    _fail(f"no rule named {name!r} (see `qlint rules`)")


def demo(fmt: str = "text", keep: str | None = None) -> int:
    """Build the bundled AER example in a temporary repository (or in ``keep``) and review it."""
    from qlint.analyzer.engine import review
    from qlint.analyzer.sources.fixture_repo import build_demo
    from qlint.analyzer.sources.gitsrc import review_range

    if fmt == "patch":
        click.echo("qlint demo --fix: the demo series without patch 4 (the hand-written fix); the patch\n"
                   "below is what qlint writes instead.  Compare with fixtures/demo/0004-*.patch.", err=True)
    with tempfile.TemporaryDirectory(prefix="qlint-demo-") as tmp:
        dest = Path(keep) if keep else Path(tmp) / "qemu"
        if keep and dest.exists() and any(dest.iterdir()):
            _fail(f"{dest} exists and is not empty; give a new directory to --keep")
        _, base, ids = build_demo(dest)
        if fmt == "text":
            click.echo(
                "qlint demo: a small QEMU-style tree released as 7.2.0, then (VERSION 7.2.50)\n"
                "patch 1 makes pcie_aer_init() set a new AER register for every device, QEMU 8.0\n"
                "is released, and patch 4 adds the property, the guard and the hw_compat_7_2\n"
                "entry (also backported to a stable-8.0 branch released as 8.0.1).\n"
            )
        # --fix: the series without its last patch (the hand-written fix), what qlint writes in its place
        series = review_range(str(dest), f"{base}..{ids[-2] if fmt == 'patch' else ids[-1]}")
        report = review(series)
        if fmt == "patch":
            _make_fixes(report)
        _write(reporters.get(fmt).render(report))
        if keep and fmt == "text":
            click.echo(f"\nThe demo repository is kept in {dest}; try\n"
                       f"    qlint matrix -C {dest} x-pcie-err-unc-mask\n"
                       f"and `qlint demo --fix` for the patch qlint writes in place of patch 4.")
    # the demo succeeds when it shows the break and accepts the fix
    return EXIT_OK


@click.command("machines", context_settings=CONTEXT, short_help="The machine types each compat array reaches.")
@_repo_option
@click.option("--format", "fmt", default="text", help="Output format: text or json.")
@click.option("--holds", "holds", multiple=True, metavar="FILE|TYPE",
              help="Instead: which versioned machine types can hold this file or QOM type, and the "
                   "Kconfig and meson.build chain that says so (repeatable).")
@click.argument("rev", required=False, default="HEAD")
def machines_cmd(repo: str, fmt: str, rev: str, holds: tuple[str, ...]) -> None:
    """List, for each compat array of the tree at REV (default HEAD), the machine types it reaches.

    With --holds, say instead which versioned machine types can hold a file or a
    QOM type: the boards whose Kconfig closure turns on the symbol meson.build
    builds the file with, and the chain of select, imply and default that does it.
    """
    import json

    from qlint.analyzer.sources.gitsrc import snapshot_at
    from qlint.analyzer.tree.index import TreeIndex
    from qlint.analyzer.tree.machines import listing

    repo = _repo(repo)
    if fmt not in ("text", "json"):
        _fail(f"unknown format {fmt!r} (choose from text, json)")
    if not os.path.isdir(repo):
        _fail(f"no such directory: {repo}")
    snap, commit = snapshot_at(repo, rev)
    if holds:
        _holds(TreeIndex(snap), commit, holds, fmt)
    data = listing(TreeIndex(snap))
    if fmt == "json":
        click.echo(json.dumps({"version": 1, "commit": commit, **data}, indent=2))
        sys.exit(EXIT_OK)
    out: list[str] = []
    by_name = {t["name"] + "\0" + t["path"]: t for t in data["machine_types"]}
    for arr in data["arrays"]:
        where = f" ({arr['path']})" if arr["path"] else ""
        out.append(f"{arr['name']}{where}")
        groups: dict[tuple[str, str], list[str]] = {}
        for ref in arr["machine_types"]:
            t = by_name[ref["name"] + "\0" + ref["path"]]
            groups.setdefault((t["board"], t["path"]), []).append(t["name"])
        if not groups:
            out.append("    no machine type")
        for (_, path), names in groups.items():
            span = names[0] if len(names) == 1 else f"{names[0]} .. {names[-1]} ({len(names)})"
            out.append(f"    {span:50} {path}")
    for u in data["unresolved"]:
        out.append(f"not read: {u['path']} (its machine types could not be expanded; it adds {', '.join(u['arrays'])})")
    _write(inert("".join(line + "\n" for line in out)))
    sys.exit(EXIT_OK)


def _holds(index, commit: str, holds: tuple[str, ...], fmt: str) -> None:
    import json

    from qlint.analyzer.tree.kbuild import describe_chain, holders_listing

    answers = [holders_listing(index, what) for what in holds]
    if fmt == "json":
        click.echo(json.dumps({"version": 1, "commit": commit, "holds": answers}, indent=2))
        sys.exit(EXIT_OK)
    out: list[str] = []
    for a in answers:
        if "error" in a:
            out.append(f"{a['query']}: {a['error']}")
            continue
        for f in a["files"]:
            built = "; ".join(f"{' && '.join(b['when']) or 'always'} ({b['meson']})" for b in f["built"])
            out.append(f"{f['path']}: built when {built}" if built else f"{f['path']}:")
            if not f["known"]:
                out.append(f"    cannot tell: {f['why_unknown']}")
            elif not f["boards"]:
                out.append("    no versioned machine type can hold it")
            for b in f.get("boards", []):
                out.append(f"    {', '.join(b['machine_types'])} ({b['path']})")
                out.append(f"        {describe_chain(b['chain'])}")
    _write(inert("".join(line + "\n" for line in out)))
    sys.exit(EXIT_OK)


def _tested_examples(rule: str) -> str:
    """The rule's example series (each one a test case): what fires, what stays silent."""
    from qlint.analyzer.sources.fixture_repo import fixtures_root

    base = fixtures_root() / "examples" / rule
    out = ["## Tested examples", ""]
    for kind, verb in (("invalid", "fires"), ("valid", "stays silent")):
        for case in sorted(p for p in (base / kind).glob("*") if p.is_dir()):
            readme = (case / "README").read_text().strip() if (case / "README").exists() else ""
            out.append(f"- {kind}/{case.name} ({verb}): {readme}")
    first = sorted((base / "invalid").glob("*/[0-9]*.patch"))
    if first:
        text = first[0].read_text(errors="replace")
        diff = text[text.find("diff --git"):].split("\n-- \n")[0]
        out += ["", f"The first invalid example ({first[0].parent.name}):", "", diff.rstrip()]
    return "\n".join(out) + "\n"


class _Qlint(click.Group):
    """`qlint [OPTIONS] [REV]` reviews: when the first word after qlint's own options (-C DIR,
    --version, --help) names no command, it is the review's."""

    OWN_WITH_VALUE = ("-C",)
    OWN_FLAGS = ("--version", "-h", "--help")

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        args = list(args)
        i = 0
        while i < len(args):
            if args[i] in self.OWN_WITH_VALUE and i + 1 < len(args):
                i += 2
            elif args[i] in self.OWN_FLAGS or (args[i].startswith("-C") and len(args[i]) > 2):
                i += 1
            else:
                break
        if i == len(args) or args[i] not in self.commands:
            args.insert(i, "review")
        return super().parse_args(ctx, args)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The review's help (what `qlint` alone does), then the other commands."""
        self.commands["review"].format_help(ctx, formatter)
        self.format_commands(ctx, formatter)


@click.group(cls=_Qlint, context_settings=CONTEXT)
@_repo_option
@_version_option
def cli(repo: str | None) -> None:
    """Review QEMU patches for migration-compatibility breaks."""


for _cmd in (review_cmd, demo_cmd, rules_cmd, rule_cmd, matrix_cmd, machines_cmd, install_hook_cmd):
    cli.add_command(_cmd)


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        rc = cli.main(args=args, prog_name="qlint", standalone_mode=False)
        sys.exit(rc if isinstance(rc, int) else EXIT_OK)
    except InputError as exc:
        _fail(str(exc))
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        _fail(exc.format_message())
    except click.exceptions.Abort:
        _fail("aborted")
    except BrokenPipeError:
        sys.exit(EXIT_OK)
    except KeyboardInterrupt:
        _fail("interrupted")
    except SystemExit:
        raise
    except Exception as exc:  # never a traceback for the user; QLINT_DEBUG=1 shows it
        if os.environ.get("QLINT_DEBUG"):
            raise
        from qlint.analyzer.sources.gitsrc import as_missing

        missing = as_missing(exc)  # an object read somewhere that does not say so itself
        if missing is not None:
            _fail(str(missing))
        tb = exc.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        where = f" at {Path(tb.tb_frame.f_code.co_filename).name}:{tb.tb_lineno}" if tb else ""
        _fail(f"internal error: {type(exc).__name__}: {exc}{where} (QLINT_DEBUG=1 shows the traceback)")


if __name__ == "__main__":
    main()
