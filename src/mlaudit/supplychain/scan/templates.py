"""Static checks of Jinja chat templates (GGUF metadata, tokenizer_config.json) for sandbox escapes:
private / dunder attribute access, attribute-by-name filters, and the Jinja globals that expose Python
internals (lipsum.__globals__, cycler.__init__.__globals__; CVE-2024-34359). The template is parsed,
never rendered."""

from __future__ import annotations

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
    for sev, msg, trig in found:
        res.issues.append(Issue(sev, "template/sandbox-escape", f"chat template {msg}", location, trigger=trig))
