"""Static checks of Jinja chat templates (GGUF metadata, tokenizer_config.json) for sandbox escapes:
private / dunder attribute access, attribute-by-name filters, and the Jinja globals that expose Python
internals (lipsum.__globals__, cycler.__init__.__globals__; CVE-2024-34359). The template is parsed,
never rendered."""

from __future__ import annotations

from typing import Any

from mlaudit.findings import Severity
from mlaudit.supplychain.scan.issues import FileResult, Issue

_DANGEROUS_NAMES = {
    "lipsum",
    "cycler",
    "joiner",
    "self",
    "config",
    "request",
    "url_for",
    "get_flashed_messages",
    "__builtins__",
    "globals",
}


MAX_LOOP = 100_000  # iterations of one range() a chat template may ask for


def _computed_names(tree: Any) -> list[tuple[Severity, str, str]]:
    """Item or attribute names built while rendering (x[a ~ b], x['_' * 2 ~ 'class'], x[y|join]):
    the parse tree cannot tell what they reach. An index from a loop variable (messages[i]) is data."""
    from jinja2 import nodes

    building = (nodes.Concat, nodes.Filter, nodes.Call, nodes.CondExpr, nodes.Mul, nodes.Add, nodes.Mod)
    out = []
    for node in tree.find_all(nodes.Getitem):
        if isinstance(node.arg, building):
            out.append((Severity.HIGH, "reads an item whose name is built while rendering", type(node.arg).__name__))
    return out


def _long_loops(tree: Any) -> list[tuple[Severity, str, str]]:
    """A for loop over range() of more than MAX_LOOP iterations, or of a computed power: rendering it
    burns the server's CPU (a chat template runs on every request)."""
    from jinja2 import nodes

    out = []
    for loop in tree.find_all(nodes.For):
        it = loop.iter
        if not (isinstance(it, nodes.Call) and isinstance(it.node, nodes.Name) and it.node.name == "range"):
            continue
        if any(isinstance(a, nodes.Pow) for a in it.args) or any(
            isinstance(a, nodes.Const) and isinstance(a.value, int) and abs(a.value) > MAX_LOOP for a in it.args
        ):
            out.append((Severity.MEDIUM, f"loops over a range beyond {MAX_LOOP} iterations", "range"))
    return out


def check_template(text: str, location: str, res: FileResult) -> None:
    from jinja2 import Environment, TemplateSyntaxError, nodes

    try:
        tree = Environment(extensions=["jinja2.ext.loopcontrols"]).parse(text)
    except TemplateSyntaxError as e:
        res.issues.append(
            Issue(Severity.MEDIUM, "template/unparsable", f"chat template does not parse ({e.message})", location)
        )
        return
    found: list[tuple[Severity, str, str]] = []
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Const, nodes.Filter, nodes.Name)):
        if isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
            found.append((Severity.CRITICAL, f"reads private attribute .{node.attr}", node.attr))
        elif (
            isinstance(node, nodes.Getitem)
            and isinstance(node.arg, nodes.Const)
            and str(node.arg.value).startswith("_")
        ):
            found.append((Severity.CRITICAL, f"reads private item [{node.arg.value!r}]", str(node.arg.value)))
        elif isinstance(node, nodes.Const) and isinstance(node.value, str) and "__" in node.value:
            found.append((Severity.HIGH, f"builds a dunder name from the string {node.value[:40]!r}", node.value[:40]))
        elif isinstance(node, nodes.Filter) and node.name == "attr":
            found.append((Severity.HIGH, "uses the attr filter (attribute access by computed name)", "attr"))
        elif isinstance(node, nodes.Name) and node.name in _DANGEROUS_NAMES:
            found.append(
                (Severity.HIGH, f"uses the Jinja global {node.name!r}, a known route to Python internals", node.name)
            )
    found += _computed_names(tree) + _long_loops(tree)
    for sev, msg, trig in found:
        res.issues.append(Issue(sev, "template/sandbox-escape", f"chat template {msg}", location, trigger=trig))
