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


MAX_WORK = 10_000_000  # loop iterations all nested loops of a template may ask for together
MAX_REPEAT = 1_000_000  # times a string or list may be repeated by `*`


def _long_loops(tree: Any) -> list[tuple[Severity, str, str]]:
    """Loops that burn the server's CPU (a chat template runs on every request; jinja2's sandbox caps
    one range() at 100,000 but not loops inside loops): a range() over more than MAX_LOOP iterations or
    of a computed power, nested ranges whose bounds (constants, or names set once to a constant) multiply
    past MAX_WORK, and a value repeated by `*` more than MAX_REPEAT times (memory)."""
    from jinja2 import nodes

    consts = _constant_names(tree)
    out = []
    for loop in tree.find_all(nodes.For):
        bound = _range_bound(loop.iter, consts)
        if (
            bound is not None
            and bound > MAX_LOOP
            or _is_range(loop.iter)
            and any(isinstance(a, nodes.Pow) for a in loop.iter.args)
        ):
            out.append((Severity.MEDIUM, f"loops over a range beyond {MAX_LOOP} iterations", "range"))
    work = _nested_work(tree, consts)
    if work > MAX_WORK:
        out.append((Severity.MEDIUM, f"nests loops of {work:.3g} iterations together (over {MAX_WORK:.0e})", "range"))
    for mul in tree.find_all(nodes.Mul):
        n = max(abs(_int(side, consts) or 0) for side in (mul.left, mul.right))
        if n > MAX_REPEAT or isinstance(mul.left, nodes.Pow) or isinstance(mul.right, nodes.Pow):
            out.append((Severity.MEDIUM, f"repeats a value {n or 'a computed number of'} times", "*"))
    return out


def _is_range(it: Any) -> bool:
    from jinja2 import nodes

    return isinstance(it, nodes.Call) and isinstance(it.node, nodes.Name) and it.node.name == "range"


def _constant_names(tree: Any) -> dict[str, int]:
    """Names set exactly once, to an integer constant ({% set n = 99999 %})."""
    from jinja2 import nodes

    seen: dict[str, list[Any]] = {}
    for a in tree.find_all(nodes.Assign):
        if isinstance(a.target, nodes.Name):
            seen.setdefault(a.target.name, []).append(a.node)
    return {k: v[0].value for k, v in seen.items() if len(v) == 1 and isinstance(v[0], nodes.Const)
            and type(v[0].value) is int}  # fmt: skip


def _int(node: Any, consts: dict[str, int]) -> int | None:
    from jinja2 import nodes

    if isinstance(node, nodes.Const) and type(node.value) is int:
        return int(node.value)
    if isinstance(node, nodes.Name) and node.name in consts:
        return consts[node.name]
    if isinstance(node, nodes.Neg):  # -5 parses as Neg(Const(5))
        inner = _int(node.node, consts)
        return None if inner is None else -inner
    return None


def _range_bound(it: Any, consts: dict[str, int]) -> int | None:
    """Iterations of range(...) when its arguments are known, else None (data: messages, their length)."""
    if not _is_range(it):
        return None
    known = [_int(a, consts) for a in it.args]
    args = [a for a in known if a is not None]
    if not args or len(args) < len(known):
        return None
    if len(args) > 3 or (len(args) == 3 and args[2] == 0):
        return None  # range() refuses these: nothing runs
    return len(range(*args))


def _nested_work(node: Any, consts: dict[str, int], factor: int = 1) -> int:
    """The largest product of known range bounds along any chain of loops nested in one another."""
    from jinja2 import nodes

    if isinstance(node, nodes.For):
        factor *= _range_bound(node.iter, consts) or 1
    return max([factor, *(_nested_work(c, consts, factor) for c in node.iter_child_nodes())])


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
