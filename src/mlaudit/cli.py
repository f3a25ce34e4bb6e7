"""Command line: parse, call the library, render, exit. Exit codes: 0 clean, 1 findings at or above
the failing severity, 2 usage or input error (one line on stderr, never a traceback), 3 the audit is
incomplete: some job failed (the report is written and lists it; --debug prints its traceback), 4 an
internal error: a defect in mlaudit, one line on stderr (--debug prints the traceback), never 1."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mlaudit.errors import MLAuditError

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR, EXIT_INCOMPLETE, EXIT_INTERNAL = 0, 1, 2, 3, 4


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_ERROR, f"mlaudit: error: {message}; see '{self.prog} --help'\n")


def _dp_and_compare(sub: Any) -> None:
    """The `dp epsilon` and `compare` commands."""
    d = sub.add_parser("dp", help="differential privacy: accounting of DP-SGD (Opacus's RDP and PRV accountants)")
    dsub = d.add_subparsers(dest="dp_command", required=True, parser_class=_Parser)
    de = dsub.add_parser(
        "epsilon", help="epsilon of DP-SGD steps, or with --epsilon the noise multiplier that reaches it"
    )
    de.add_argument("--sample-rate", type=float, required=True, help="batch size / dataset size (Poisson sampling)")
    de.add_argument("--steps", type=int, required=True, help="optimizer steps (epochs / sample rate)")
    given = de.add_mutually_exclusive_group(required=True)
    given.add_argument("--noise-multiplier", type=float, help="sigma: noise std / clipping norm")
    given.add_argument("--epsilon", type=float, help="the target epsilon: print the noise multiplier instead")
    de.add_argument("--delta", type=float, default=1e-5, help="delta (default: %(default)s)")
    de.add_argument("--accountant", choices=("prv", "rdp"), default="prv", help="default: %(default)s (tight)")
    de.add_argument("--format", choices=("text", "json"), default="text")
    c = sub.add_parser("compare", help="compare two report.json files: did any risk rise beyond its intervals?")
    c.add_argument("baseline", type=Path, metavar="BASELINE.json")
    c.add_argument("new", type=Path, metavar="NEW.json")
    c.add_argument("--fail-on", default="high", help="exit 1 on a regression at or above this (default: %(default)s)")
    c.add_argument("--output", type=Path, help="also write the Markdown summary here (e.g. $GITHUB_STEP_SUMMARY)")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="mlaudit", description="Audit a downloaded ML model: privacy, security, supply chain.")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress details to stderr")
    p.add_argument("--debug", action="store_true", help="print the traceback of a job that failed")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    a = sub.add_parser("audit", help="run the main audit and write report.html and report.json")
    a.add_argument(
        "--config", help="YAML audit config, or builtin:NAME for a built-in target (default: builtin:fashion-mnist)"
    )
    a.add_argument("--out", type=Path, default=Path("mlaudit-report"), help="output folder (default: %(default)s)")
    a.add_argument("--profile", choices=("quick", "full"), help="quick (minutes) or full; overrides the config")
    a.add_argument("--fail-on", help="exit 1 if a finding is at or above this severity (default: config's, high)")
    a.add_argument("--no-resume", action="store_true", help="ignore checkpoints of an earlier, interrupted run")
    a.add_argument(
        "--executor",
        choices=("local", "ray"),
        default="local",
        help="where reference models train: local (a vectorised ensemble or a process pool) or ray",
    )
    a.add_argument("--ray-address", help="the Ray cluster to join with --executor ray (default: start a local one)")
    a.add_argument(
        "--format",
        choices=("text", "markdown"),
        default="text",
        help="console output: text (a line per finding) or markdown (the summary, also written as OUT/report.md)",
    )
    _dp_and_compare(sub)
    sub.add_parser("list", help="list attacks, the access each requires, and the built-in datasets")
    i = sub.add_parser("init", help="inspect a model file or folder and write a commented audit.yaml for it")
    i.add_argument("path", type=Path, metavar="PATH", help="a .safetensors, .skops or .onnx file, or a model folder")
    i.add_argument("--out", type=Path, default=Path("audit.yaml"), help="config to write (default: %(default)s)")
    i.add_argument("--factory", help="your network for a torch state dict: path/to/file.py:make_net (imports it)")
    i.add_argument("--base", help="the public base model it was fine-tuned from (written as base.path)")
    i.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    v = sub.add_parser("serve", help="serve a model over the Open Inference Protocol v2 with keys, budgets, defences")
    v.add_argument("config", help="YAML with target: (as in an audit config) and serve: (keys, defence, port)")
    v.add_argument("--host", help="address to bind (default: the config's, 127.0.0.1)")
    v.add_argument("--port", type=int, help="port (default: the config's, 8080)")
    v.add_argument("--log-dir", type=Path, help="folder of the per-key query log (default: the current folder)")
    s = sub.add_parser("scan", help="scan model files for code-execution payloads; never loads them")
    s.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or folders")
    s.add_argument("--format", choices=("text", "json", "sarif"), default="text")
    s.add_argument("--fail-on", default="medium", help="exit 1 at or above this severity (default: %(default)s)")
    s.add_argument("--output", type=Path, help="write the JSON / SARIF report here instead of stdout")
    m = sub.add_parser("manifest", help="pin a model folder with sha256 hashes, or check it against the pin")
    m.add_argument("action", choices=("create", "verify"))
    m.add_argument("folder", type=Path)
    m.add_argument("--manifest", type=Path, help="manifest path (default: FOLDER/mlaudit-manifest.json)")
    m.add_argument("--update", action="store_true", help="create: re-pin a folder that no longer matches its manifest")
    b = sub.add_parser("backdoor", help="privacy backdoors (Feng & Tramer 2024): build, victim, reconstruct, detect")
    bsub = b.add_subparsers(dest="action", required=True, parser_class=_Parser)
    bb = bsub.add_parser("build", help="plant data traps in a clean pretrained model (MLP, ViT or all-MiniLM-L6-v2)")
    bb.add_argument("--out", type=Path, required=True)
    bb.add_argument(
        "--model",
        choices=("mlp", "vit", "minilm"),
        default="mlp",
        help="mlp / vit: pretrained here on public images; minilm: the installed all-MiniLM-L6-v2 (default: mlp)",
    )
    bb.add_argument("--traps", type=int, help="traps (MLP, default 64) or trap groups (ViT 20, MiniLM 48)")
    bb.add_argument("--dataset", choices=("fashion-mnist", "digits"), help="default: fashion-mnist if installed")
    bb.add_argument("--seed", type=int, default=0)
    bv = bsub.add_parser("victim", help="fine-tune the backdoored model as an unsuspecting victim would")
    bv.add_argument("folder", type=Path)
    bv.add_argument("--optimizer", choices=("sgd", "adam", "dp-sgd"), help="default: sgd")
    bv.add_argument("--lr", type=float, help="default: 0.05 (MLP), 1e-4 with head lr 0.05 (ViT) or 0.5 (MiniLM)")
    bv.add_argument("--momentum", type=float)
    bv.add_argument("--epochs", type=int, help="default: 2 (MLP, ViT), 3 (MiniLM)")
    bv.add_argument("--noise-multiplier", type=float, help="DP-SGD noise (default 1.0)")
    bv.add_argument("--seed", type=int, default=1)
    br = bsub.add_parser("reconstruct", help="read the trapped examples back from before/after weights")
    br.add_argument("folder", type=Path)
    br.add_argument("--after", type=Path, help="fine-tuned weights (default: FOLDER/finetuned.safetensors)")
    bd = bsub.add_parser("detect", help="inspect weights (and the diff against a base) for trap signatures")
    bd.add_argument("model", type=Path, help="a .safetensors / torch file or a Hugging Face folder")
    bd.add_argument("--base", type=Path, help="the checkpoint the model claims to derive from")
    bd.add_argument("--format", choices=("text", "json"), default="text")
    bd.add_argument("--fail-on", default="high", help="exit 1 at or above this severity (default: %(default)s)")
    return p


class RichProgress:
    """Draws the library's progress events as rich progress bars."""

    def __init__(self, progress: Any) -> None:
        self.progress = progress
        self.tasks: dict[str, Any] = {}

    def start(self, key: str, description: str, total: int) -> None:
        self.tasks[key] = self.progress.add_task(description, total=total)

    def update(self, key: str, completed: int) -> None:
        self.progress.update(self.tasks[key], completed=completed)

    def finish(self, key: str) -> None:
        self.progress.update(self.tasks[key], completed=self.progress.tasks[self.tasks[key]].total)


@contextmanager
def _progress() -> Iterator[RichProgress]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
        disable=not console.is_terminal,
    ) as p:
        yield RichProgress(p)


def cmd_audit(args: argparse.Namespace) -> int:
    from mlaudit import config as config_mod
    from mlaudit.findings import Severity

    cfg = config_mod.load(args.config, profile=args.profile)  # before the heavy imports: a bad config fails fast
    fail_on = Severity.parse(args.fail_on or cfg.fail_on)
    if cfg.target.kind != "default":  # the user's data too: read and cross-checked before torch is imported
        from mlaudit.data.sources import is_language_model, preflight

        preflight(cfg.data, cfg.seed, documents=is_language_model(cfg.target))

    from mlaudit.report.html import write_html
    from mlaudit.report.json import write_json
    from mlaudit.report.markdown import write_markdown
    from mlaudit.runner.audit import exclusive, run_audit

    out: Path = args.out
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / ".mlaudit").mkdir(exist_ok=True)
    except OSError as e:
        raise MLAuditError(f"cannot create output folder {str(out)!r}: {e.strerror}; choose another --out") from None
    with exclusive(out):
        with _progress() as progress:
            report = run_audit(
                cfg,
                out,
                progress=progress,
                resume=not args.no_resume,
                executor=args.executor,
                ray_address=args.ray_address,
            )
        json_path = write_json(report, out / "report.json")
        html_path = write_html(report, out / "report.html")
        md_path = write_markdown(json_path, out / "report.md")
    if args.format == "markdown":
        print(md_path.read_text(), end="")
    else:
        for f in report.findings:
            print(f"  [{f.severity.name.lower():>8}] {f.id}: {f.summary}")
    print(f"report: {html_path.resolve()}\njson:   {json_path.resolve()}")
    for s in report.skipped:
        print(f"  [ skipped] {s['attack']}: {s['reason']}; {s['fix']}")
    for err in report.errors:
        print(f"  [  FAILED] {err.job}: {err.type}: {err.message}; {err.fix}")
        if args.debug:
            print(err.traceback, file=sys.stderr)
    worst = report.worst()
    if report.errors:
        print(f"incomplete: {len(report.errors)} job(s) failed; the report lists them (exit 3)")
        return EXIT_INCOMPLETE
    if worst >= fail_on:
        print(f"findings at or above {fail_on.name.lower()}: worst is {worst.name.lower()} (exit 1)")
        return EXIT_FINDINGS
    return EXIT_CLEAN


def cmd_init(args: argparse.Namespace) -> int:
    from mlaudit.errors import InputError
    from mlaudit.runner.init import inspect_model, render_config

    if args.out.exists() and not args.force:
        raise InputError(f"{str(args.out)!r} exists; choose another --out or pass --force")
    found = inspect_model(args.path, factory=args.factory)
    args.out.write_text(render_config(found, base=args.base))
    todo = ", ".join(found.edits) or "none besides the data paths"
    what = "a language model" if found.modality == "language" else f"{found.num_classes} classes"
    print(f"wrote {args.out} for a {found.kind} model ({what}); to fill in: {todo}")
    return EXIT_CLEAN


def cmd_serve(args: argparse.Namespace) -> int:
    from mlaudit.config import load_serve
    from mlaudit.serve import serve

    cfg = load_serve(args.config)
    serve(cfg, host=args.host, port=args.port, out_dir=args.log_dir)
    return EXIT_CLEAN


def cmd_list(args: argparse.Namespace) -> int:
    from mlaudit.config import BUILTIN_CONFIGS
    from mlaudit.data import BUILTIN
    from mlaudit.registry import describe

    print("attacks (name, family, access, knowledge, needs; `attacks:` takes names, families or all):")
    for row in describe():
        know = ", ".join(row["knowledge"]) or "-"
        needs = ", ".join(row["needs"] + ([f"profile {row['profile']}"] if row["profile"] != "quick" else [])) or "-"
        who = "auditor" if row["auditor"] else row["access"]
        print(f"  {row['name']:<28} {row['category']:<16} {who:<13} {know:<40} {needs:<24} {row['summary']}")
        if row["runs"]:
            print(f"  {'':<28} runs: {', '.join(row['runs'])}")
    print("built-in targets (--config builtin:NAME): " + ", ".join(BUILTIN_CONFIGS))
    print("built-in datasets: " + ", ".join(BUILTIN))
    return EXIT_CLEAN


def cmd_scan(args: argparse.Namespace) -> int:
    import json

    from mlaudit.findings import Severity
    from mlaudit.supplychain.scan import scan_paths

    fail_on = Severity.parse(args.fail_on)
    missing = [str(p) for p in args.paths if not p.exists() and not p.is_symlink()]
    if missing:
        raise MLAuditError(f"no such file or folder: {missing[0]!r}; check the path")
    if args.output is not None and not args.output.parent.is_dir():
        raise MLAuditError(f"--output folder {str(args.output.parent)!r} does not exist; create it or choose another")
    results = scan_paths(args.paths)
    if not results:
        raise MLAuditError(f"no files found under {', '.join(map(str, args.paths))!r}; point scan at model files")
    if args.format == "text":
        _print_scan(results, fail_on)
    else:
        from mlaudit.report.sarif import to_sarif

        doc = (
            to_sarif(results)
            if args.format == "sarif"
            else {"mlaudit_scan": 1, "fail_on": fail_on.name.lower(), "files": [r.to_dict() for r in results]}
        )
        text = json.dumps(doc, indent=1)
        if args.output:
            try:
                args.output.write_text(text)
            except OSError as e:
                raise MLAuditError(
                    f"cannot write --output {str(args.output)!r}: {e.strerror}; choose another path"
                ) from None
        else:
            print(text)
    if any(r.error for r in results):
        return EXIT_ERROR
    return EXIT_FINDINGS if any(r.worst >= fail_on and r.issues for r in results) else EXIT_CLEAN


def _print_scan(results: list[Any], fail_on: Any) -> None:
    if not sys.stdout.isatty():  # plain lines for pipes and CI logs (and no rich import to pay for)
        for r in results:
            for i in sorted(r.issues, key=lambda i: -i.severity):
                print(f"{i.severity.name.lower()}\t{i.rule}\t{i.location}\t{i.message}")
        for r in results:
            state = f"NOT SCANNED ({r.error})" if r.error else r.worst.name if r.issues else "clean" + _pickle_note(r)
            print(f"{r.path} [{r.format}]: {state}")
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(highlight=False, soft_wrap=True)
    table = Table("severity", "rule", "where", "what", show_lines=False)
    for r in results:
        for i in sorted(r.issues, key=lambda i: -i.severity):
            table.add_row(i.severity.name.lower(), escape(i.rule), escape(i.location), escape(i.message))
    if table.row_count:
        console.print(table)
    for r in results:
        if r.error:
            status = f"[red]NOT SCANNED[/red] ({escape(r.error)})"
        elif r.issues and r.worst >= fail_on:
            status = f"[red]{r.worst.name}[/red]"
        elif r.issues:
            status = f"below {fail_on.name.lower()} ({r.worst.name.lower()})"
        else:
            status = "[green]clean[/green]" + escape(_pickle_note(r))
        console.print(f"{escape(r.path)} {escape(f'[{r.format}]')}: {status}")


def _pickle_note(r: Any) -> str:
    """A clean pickle is clean of known payloads, not safe to load: `mlaudit audit` still refuses it."""
    if r.format != "pickle":
        return ""
    return " (no payload found; still a pickle: loading it trusts the file; mlaudit audit loads skops / safetensors)"


def cmd_manifest(args: argparse.Namespace) -> int:
    from mlaudit.supplychain import manifest

    if args.action == "create":
        print(f"wrote {manifest.create(args.folder, args.manifest, update=args.update)}")
        return EXIT_CLEAN
    v = manifest.verify(args.folder, args.manifest)
    for kind in ("changed", "missing", "extra"):
        for rel in getattr(v, kind):
            print(f"{kind}: {rel}")
    print("manifest verified: every file matches" if v.ok else "manifest verification FAILED")
    return EXIT_CLEAN if v.ok else EXIT_FINDINGS


def cmd_backdoor(args: argparse.Namespace) -> int:
    import json

    if args.action == "build":  # before the heavy imports: a bad flag fails at once
        if args.traps is not None and args.traps < 1:
            raise MLAuditError(f"--traps must be at least 1, got {args.traps}")
        if args.out.exists() and not args.out.is_dir():
            raise MLAuditError(
                f"--out {str(args.out)!r} is a file; give a folder (new or empty) for the backdoored model"
            )
    from mlaudit.findings import Severity
    from mlaudit.supplychain.privacy_backdoor import workflow

    if args.action == "build":
        out = workflow.build_to_dir(
            args.out,
            dataset_name=args.dataset or workflow.default_dataset(),
            n_traps=args.traps,
            seed=args.seed,
            model=args.model,
        )
        print("\n".join(f"{k}: {v}" for k, v in out.items()))
        return EXIT_CLEAN
    if args.action == "victim":
        given = {
            "optimizer": args.optimizer,
            "lr": args.lr,
            "momentum": args.momentum,
            "epochs": args.epochs,
            "noise_multiplier": args.noise_multiplier,
        }
        ft = {k: v for k, v in given.items() if v is not None}  # the rest from the model's default recipe
        print("\n".join(f"{k}: {v}" for k, v in workflow.victim_in_dir(args.folder, ft, seed=args.seed).items()))
        return EXIT_CLEAN
    if args.action == "reconstruct":
        print("\n".join(f"{k}: {v}" for k, v in workflow.reconstruct_in_dir(args.folder, after=args.after).items()))
        return EXIT_CLEAN
    fail_on = Severity.parse(args.fail_on)
    found = workflow.detect_path(args.model, args.base)
    if args.format == "json":
        print(
            json.dumps(
                [
                    {
                        "severity": f.severity.name.lower(),
                        "check": f.check,
                        "layer": f.layer,
                        "units": list(f.units),
                        "message": f.message,
                    }
                    for f in found
                ],
                indent=1,
            )
        )
    else:
        for f in sorted(found, key=lambda f: -f.severity):
            units = f" units {list(f.units[:8])}{'...' if len(f.units) > 8 else ''}" if f.units else ""
            print(f"{f.severity.name.lower():>8}  {f.check:<22} {f.layer}{units}: {f.message}")
        print(
            f"{args.model}: "
            + (
                f"{len(found)} signatures, worst {max(f.severity for f in found).name}"
                if found
                else "no trap signatures found"
            )
        )
    return EXIT_FINDINGS if any(f.severity >= fail_on for f in found) else EXIT_CLEAN


def cmd_dp(args: argparse.Namespace) -> int:
    from mlaudit.defenses.dp import accounting

    kw = {"sample_rate": args.sample_rate, "steps": args.steps, "delta": args.delta, "accountant": args.accountant}
    if args.epsilon is not None:
        sigma = accounting.noise_multiplier(epsilon=args.epsilon, **kw)
        eps = accounting.epsilon(noise_multiplier=sigma, **kw)  # what that noise gives (<= the target)
    else:
        sigma = args.noise_multiplier
        eps = accounting.epsilon(noise_multiplier=sigma, **kw)
    record = {**kw, "noise_multiplier": sigma, "epsilon": eps}
    if args.format == "json":
        print(json.dumps(record))
    else:
        print(
            f"epsilon {eps:.4g} at delta {args.delta:g} ({args.accountant}): noise multiplier {sigma:.4g}, "
            f"sample rate {args.sample_rate:g}, {args.steps} steps"
        )
    return EXIT_CLEAN


def cmd_compare(args: argparse.Namespace) -> int:
    """Exit 1 when a finding at or above --fail-on rose beyond its intervals (or appeared), else 0."""
    from mlaudit.findings import Severity
    from mlaudit.report.markdown import compare, compare_markdown, load_report

    fail_on = Severity.parse(args.fail_on)
    before, after = load_report(args.baseline), load_report(args.new)
    changes = compare(before, after, fail_on)
    text = compare_markdown(changes, fail_on, (str(args.baseline), str(args.new)))
    print(text, end="")
    if args.output is not None:
        args.output.write_text(text, encoding="utf-8")
    return EXIT_FINDINGS if any(c.regression for c in changes) else EXIT_CLEAN


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.verbose or args.command == "audit":
        import logging

        logging.basicConfig(
            level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
        )
    try:
        commands = {
            "audit": cmd_audit,
            "list": cmd_list,
            "init": cmd_init,
            "scan": cmd_scan,
            "serve": cmd_serve,
            "manifest": cmd_manifest,
            "backdoor": cmd_backdoor,
            "compare": cmd_compare,
            "dp": cmd_dp,
        }
        return commands[args.command](args)
    except MLAuditError as e:
        print(f"mlaudit: error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:  # output piped into a command that stopped reading (head, less)
        return EXIT_CLEAN
    except KeyboardInterrupt:
        print("mlaudit: interrupted; finished steps are checkpointed and a rerun resumes", file=sys.stderr)
        return 130
    except Exception as e:  # a defect of mlaudit, not a finding: never exit 1, never a bare traceback
        if args.debug:
            import traceback

            traceback.print_exc()
        where = f" in {args.command}"
        print(
            f"mlaudit: internal error{where}: {type(e).__name__}: {e}; this is a defect in mlaudit, please report it "
            "with the output of 'mlaudit --debug ...' (exit 4)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
