"""A .git folder in a downloaded model folder: git itself runs code named in its config (core.fsmonitor,
core.hooksPath, core.sshCommand, filter drivers, diff textconv, "!" aliases and credential helpers) and
in its hooks, the moment the user runs git there (status, pull, checkout). Read as text, never run."""

from __future__ import annotations

import re
from pathlib import Path

from mlaudit.findings import Severity
from mlaudit.supplychain.scan.issues import FileResult, Issue

# keys whose value git executes (section.key, or section.subsection.key with the subsection wildcarded)
_RUNS = re.compile(
    r"^(core\.(fsmonitor|hookspath|sshcommand|editor|pager|askpass|gitproxy)|"
    r"filter\.[^.]*\.(clean|smudge|process)|diff\.[^.]*\.(textconv|command)|merge\.[^.]*\.driver|"
    r"sequence\.editor|gpg\.program|gpg\.[^.]*\.program|uploadpack\.packobjectshook|"
    r"credential(\.[^.]*)?\.helper|alias\.[^.]*|remote\.[^.]*\.(uploadpack|receivepack))$"
)
# values git treats as data, not a command, for keys of _RUNS that also take a boolean or a builtin
_HARMLESS = {"core.fsmonitor": {"false", "true", ""}, "credential.helper": {"cache", "store", ""}}
_SECTION = re.compile(r'^\s*\[\s*([A-Za-z0-9.-]+)(?:\s+"((?:[^"\\]|\\.)*)")?\s*\]')
_ENTRY = re.compile(r"^\s*([A-Za-z][A-Za-z0-9-]*)\s*(?:=\s*(.*))?$")


def check_git_config(data: bytes, loc: str, res: FileResult) -> None:
    """Flag every key of .git/config whose value git would run as a command."""
    section = ""
    for n, raw in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
        line = raw.split("#", 1)[0].split(";", 1)[0] if not raw.lstrip().startswith(("[",)) else raw
        m = _SECTION.match(line)
        if m:
            section = m.group(1).lower() + (f".{m.group(2)}" if m.group(2) is not None else "")
            line = line[m.end() :]
        e = _ENTRY.match(line)
        if not e or not section:
            continue
        sub = section.split(".", 1)
        key = f"{sub[0]}.{e.group(1).lower()}" if len(sub) == 1 else f"{sub[0]}.{sub[1]}.{e.group(1).lower()}"
        value = (e.group(2) or "").strip().strip('"')
        generic = re.sub(r"^(\w+)\.(.+)\.(\w+)$", r"\1.\3", key) if key.count(".") >= 2 else key
        if not _RUNS.match(key):
            continue
        if value.lower() in _HARMLESS.get(generic, set()) or (key.startswith("alias.") and not value.startswith("!")):
            continue
        res.issues.append(
            Issue(
                Severity.HIGH,
                "git/runs-command",
                f"{key} = {value[:80]!r}: git runs this command when you use git in this folder",
                f"{loc}:{n}",
            )
        )


def check_hooks(hooks: Path, res: FileResult) -> None:
    """Any hook git would run: a file in .git/hooks not named *.sample."""
    for p in sorted(hooks.iterdir()):
        if p.is_file() and not p.name.endswith(".sample"):
            res.issues.append(
                Issue(
                    Severity.HIGH,
                    "git/hook",
                    f"git hook {p.name!r}: git runs it on the matching git command in this folder",
                    str(p),
                )
            )
