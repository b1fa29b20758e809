"""`mapspec explain`: for one event, which rule decided and why the others did not, and for every field
sent, the expression and the mapping line that produced it.

Which rules were tested and which one decided comes from running the compiled translator under a line
tracer, through the compiler's map from generated lines to rules (`mapspec.trace`). Fields are attributed
by walking the compiled mapping's shapes beside the output the translator gave: nothing is evaluated twice.
"""

from __future__ import annotations

import json
from typing import Any

from .compiler import Compiled, load_compiled
from .syntax import ast
from .syntax.unparse import unparse
from .terminal import printable, printable_line
from .trace import traced_run


def source_text(node: ast.Node | None, limit: int = 70) -> str:
    """A node on one line, as the one printer of the tree writes it (`unparse`), cut at `limit`."""
    if node is None:
        return ""
    text = unparse(node)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def show(value: Any, limit: int = 60) -> str:
    if value is ast.MISSING:
        return "missing"
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    except (RecursionError, ValueError, TypeError):
        return "(a value nested too deep to show)"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _reads(node: ast.Node | None) -> list[str]:
    """The paths and definitions a condition reads, as the mapping writes them."""
    out: list[str] = []
    for n in node.walk() if node is not None else ():
        if isinstance(n, ast.Path):
            name = unparse(n)
            if name not in out:
                out.append(name)
    return out


def explain(compiled: Compiled, event: dict) -> str:
    """The report, safe for a terminal: names and values from the mapping and the event have their control
    characters escaped (`mapspec.terminal`)."""
    return explain_report(compiled, event)[0]


def explain_report(compiled: Compiled, event: dict) -> tuple[str, bool]:
    """The explanation (safe for a terminal), and whether the translator failed on the event (a bug, which the
    text shows)."""
    text, failed = _explain(compiled, event)
    return printable(text), failed


def _explain(compiled: Compiled, event: dict) -> tuple[str, bool]:
    translate = load_compiled(compiled)
    trace = traced_run(compiled, translate, event)
    # passes keep spans, so a rule of the mapping and its compiled form share one span object
    kept = {id(r.span) for r in compiled.optimized.rules}
    tested = {id(rule.span): values for rule, values in trace.tested}
    fired_span = trace.fired.span if trace.fired else None
    source = compiled.source
    lines: list[str] = []
    fired_rule = None
    width = max((len(printable_line(r.name)) for r in compiled.document.rules), default=4)
    for rule in compiled.document.rules:
        where = f"line {rule.span.line}" if rule.span else ""
        head = f"  {printable_line(rule.name):<{width}}  {where:<9}"
        when = f"when {source_text(rule.condition)}" if rule.condition is not None else "(no condition)"
        if fired_rule is not None:
            lines.append(f"{head}  not tried   an earlier rule decided")
        elif rule.span is fired_span:
            fired_rule = rule
            lines.append(f"{head}  DECIDED     {when}" + _why(rule, tested.get(id(rule.span), {})))
        elif id(rule.span) not in kept:
            lines.append(f"{head}  compiled out: with these settings it never matches ({when})")
        else:
            lines.append(f"{head}  no          {when}" + _why(rule, tested.get(id(rule.span), {})))
    result = trace.result
    if "error" in result:
        head = f"the translator failed on this event: {result['error']}"
    else:
        head = f"rule `{fired_rule.name}` decided" if fired_rule else "no rule decided"
    out = [printable_line(f"{source.path}: {head}"), "", "rules, in order:", *lines, ""]
    if "error" in result:
        out.append("this is a bug of mapspec or of the mapping's functions: please report it with the event")
        return "\n".join(out) + "\n", True
    if "rejected" in result:
        out.append(f"rejected: {printable_line(result['rejected']['message'])}")
        if fired_rule is not None and fired_rule.message is not None:
            out.append(f"  message   {source_text(fired_rule.message)}  (line {fired_rule.message.span.line})")
        return "\n".join(out) + "\n", False
    requests = result["requests"]
    if not requests:
        reason = ""
        if fired_rule is not None and fired_rule.action == "skip" and fired_rule.message is not None:
            reason = f": {source_text(fired_rule.message)}"
        elif fired_rule is not None and fired_rule.requests:
            reason = ": the condition of each request was false" + "".join(
                f"\n  when {source_text(r.condition)}  (line {r.condition.span.line})"
                for r in fired_rule.requests if r.condition is not None)
        out.append("nothing sent" + reason)
        return "\n".join(out) + "\n", False
    shapes = list(fired_rule.requests) if fired_rule is not None else []
    lets = {"$" + let.name: let.value for let in compiled.document.lets}
    for request in requests:
        shape = _match_request(shapes, request["url"])
        out.append(f"sends {request['method']} {request['url']}")
        if shape is None:
            out.append("  " + show(request["body"], 200))
            continue
        _walk(shape.body, request["body"], "", out, "  ", lets)
    return "\n".join(out) + "\n", False


def _why(rule: ast.Rule, values: dict[str, Any]) -> str:
    shown = [f"{name} = {show(values[name], 30)}" for name in _reads(rule.condition) if name in values]
    return f"   [{', '.join(shown)}]" if shown else ""


def _match_request(shapes: list[ast.Request], url: str) -> ast.Request | None:
    for shape in shapes:
        if url.endswith(shape.endpoint):
            shapes.remove(shape)
            return shape
    return None


def _walk(shape: ast.Node, value: Any, path: str, out: list[str], indent: str, lets: dict[str, ast.Node]) -> None:
    """Print every field of `value`, in its order, with the part of `shape` that produced it."""
    if isinstance(shape, ast.Object) and isinstance(value, dict):
        fields: dict[str, ast.Field] = {}
        others: list[ast.Field | ast.Spread] = []
        for entry in shape.entries:
            if isinstance(entry, ast.Field) and isinstance(entry.key, ast.Literal):
                fields[entry.key.value] = entry
            else:
                others.append(entry)
        for key, item in value.items():
            name = f"{path}.{printable_line(key)}" if path else printable_line(key)
            entry = fields.get(key)
            if entry is not None:
                if isinstance(entry.value, ast.Object | ast.List) and isinstance(item, dict | list):
                    _walk(entry.value, item, name, out, indent, lets)
                    continue
                out.append(f"{indent}{name} = {show(item)}  <- {source_text(entry.value)}  (line {entry.value.span.line})")
                continue
            origin = _origin(others, key, lets)
            if isinstance(origin, ast.Field):
                text = f"{source_text(origin.key)}: {source_text(origin.value)}"
            elif isinstance(origin, ast.Spread):
                text = f"...: {source_text(origin.value)}"
            else:
                text = "?"
            line = origin.span.line if origin is not None and origin.span else 0
            out.append(f"{indent}{name} = {show(item)}  <- {text}  (line {line})")
        for key, entry in fields.items():
            if key not in value:
                name = f"{path}.{printable_line(key)}" if path else printable_line(key)
                out.append(f"{indent}{name}: left out (missing)  <- {source_text(entry.value)}"
                           f"  (line {entry.value.span.line})")
        return
    if isinstance(shape, ast.List) and isinstance(value, list):
        plain = [i for i in shape.items if not isinstance(i, ast.ForEach)]
        loops = [i for i in shape.items if isinstance(i, ast.ForEach)]
        for index, item in enumerate(value):
            name = f"{path}[{index}]"
            if index < len(plain) and not loops:
                _walk(plain[index], item, name, out, indent, lets)
            elif loops:
                loop = loops[0]
                out.append(f"{indent}{name}: one per element of {source_text(loop.iterable)}  (line {loop.span.line})")
                _walk(loop.body, item, name, out, indent + "  ", lets)
            else:
                out.append(f"{indent}{name} = {show(item)}")
        return
    out.append(f"{indent}{path} = {show(value)}  <- {source_text(shape)}  (line {shape.span.line if shape.span else 0})")


def _origin(entries: list, key: str, lets: dict[str, ast.Node]):
    """The entry that gave a key no literal field names: a computed key, or the spread that holds it."""
    for entry in reversed(entries):  # a later entry wins
        if isinstance(entry, ast.Field) and _template_matches(entry.key, key):
            return entry
        if isinstance(entry, ast.Spread) and key in _known_keys(entry.value, lets):
            return entry
    spreads = [e for e in entries if isinstance(e, ast.Spread) and not _known_keys(e.value, lets)]
    return spreads[-1] if spreads else None


def _known_keys(node: ast.Node, lets: dict[str, ast.Node]) -> set[str]:
    if isinstance(node, ast.Path) and node.root in lets and not node.steps:
        return _known_keys(lets[node.root], lets)
    if isinstance(node, ast.Object):
        return {e.key.value for e in node.entries if isinstance(e, ast.Field) and isinstance(e.key, ast.Literal)}
    return set()


def _template_matches(key_node: ast.Node, key: str) -> bool:
    if not isinstance(key_node, ast.Template):
        return False
    first = key_node.parts[0]
    return isinstance(first, str) and key.startswith(first)
