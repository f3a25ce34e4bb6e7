"""Command line: parse, call the library, render, exit. Exit codes: 0 clean, 1 findings at or above
the failing severity, 2 usage or input error (one line on stderr, never a traceback)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mlaudit.errors import MLAuditError

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_ERROR, f"mlaudit: error: {message}; see '{self.prog} --help'\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="mlaudit", description="Audit a downloaded ML model: privacy, security, supply chain.")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress details to stderr")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    a = sub.add_parser("audit", help="run the main audit and write report.html and report.json")
    a.add_argument("--config", type=Path, help="YAML audit config (default: the built-in default audit)")
    a.add_argument("--out", type=Path, default=Path("mlaudit-report"), help="output folder (default: %(default)s)")
    a.add_argument("--profile", choices=("quick", "full"), help="quick (minutes) or full; overrides the config")
    a.add_argument("--fail-on", help="exit 1 if a finding is at or above this severity (default: config's, high)")
    a.add_argument("--no-resume", action="store_true", help="ignore checkpoints of an earlier, interrupted run")
    sub.add_parser("list", help="list attacks, the access each requires, and the built-in datasets")
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
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=False, disable=not console.is_terminal) as p:
        yield RichProgress(p)


def cmd_audit(args: argparse.Namespace) -> int:
    from mlaudit import config as config_mod
    from mlaudit.findings import Severity
    from mlaudit.report import write_html, write_json
    from mlaudit.runner.audit import run_audit

    cfg = config_mod.load(args.config, profile=args.profile)
    fail_on = Severity.parse(args.fail_on or cfg.fail_on)
    out: Path = args.out
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise MLAuditError(f"cannot create output folder {str(out)!r}: {e.strerror}; choose another --out") from None
    with _progress() as progress:
        report = run_audit(cfg, out, progress=progress, resume=not args.no_resume)
    json_path = write_json(report, out / "report.json")
    html_path = write_html(report, out / "report.html")
    for f in report.findings:
        print(f"  [{f.severity.name.lower():>8}] {f.id}: {f.summary}")
    print(f"report: {html_path.resolve()}\njson:   {json_path.resolve()}")
    worst = report.worst()
    if worst >= fail_on:
        print(f"findings at or above {fail_on.name.lower()}: worst is {worst.name.lower()} (exit 1)")
        return EXIT_FINDINGS
    return EXIT_CLEAN


def cmd_list(args: argparse.Namespace) -> int:
    from mlaudit.attacks import describe
    from mlaudit.data import BUILTIN

    print("attacks (name, category, access required, knowledge required):")
    for row in describe():
        know = ", ".join(row["knowledge"]) or "-"
        print(f"  {row['name']:<12} {row['category']:<12} {row['access']:<14} {know:<16} {row['paper']}")
    print("built-in datasets: " + ", ".join(BUILTIN))
    return EXIT_CLEAN


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return {"audit": cmd_audit, "list": cmd_list}[args.command](args)
    except MLAuditError as e:
        print(f"mlaudit: error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("mlaudit: interrupted; finished steps are checkpointed and a rerun resumes", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
