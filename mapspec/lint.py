"""Warnings for likely mistakes: a mapping that compiles but probably does not do what its author meant.

    W401  a rule that can never match
    W402  a field set twice in one object
    W403  a key the target reserves (Braze refuses `time` and `event_name` in event properties)
    W404  a setting that nothing reads
    W405  a `let` definition or a function that nothing uses
    W409  a path that no event of the mapping's source has (`type == identify`: a word meant as text)
"""

from __future__ import annotations

from . import runtime, sources
from .diagnostics import DiagnosticBag, did_you_mean
from .optimize.fold_constants import fold_expression
from .syntax import ast


def lint(doc: ast.Document, diags: DiagnosticBag) -> None:
    _rules(doc, diags)
    _fields(doc, diags)
    _unused(doc, diags)
    _event_paths(doc, diags)


def _event_paths(doc: ast.Document, diags: DiagnosticBag) -> None:
    """A path whose first step no event of the source has at its top level."""
    source = sources.get_source(doc.source)
    if source is None:
        return
    known = source.top_level
    for node in doc.walk():
        if not (isinstance(node, ast.Path) and not node.root and node.steps and isinstance(node.steps[0], str)):
            continue
        word = node.steps[0]
        if word in known:
            continue
        quote = _yaml_quotes(node)
        close = did_you_mean(word, sorted(known))
        if quote and not close:  # `name: "product_viewed"`: YAML took the quotes, and what is left reads the event
            written = node.span.source.text[node.span.start:node.span.end]  # type: ignore[union-attr]
            diags.warning("W409", f"YAML took the quotes of {quote}{written}{quote}: it reads the field "
                          f"`{word}` of the event, and no `{source.name}` event has one", node.span,
                          label="read from the event",
                          hints=[f"for the text, put a string's quotes inside YAML's: '\"{written}\"'",
                                 "every value of a mapping is an expression: YAML's own quotes are not part of it"])
            continue
        hints = close
        if quote:
            written = node.span.source.text[node.span.start:node.span.end]  # type: ignore[union-attr]
            hints.append(f"or, if it is meant as text, put a string's quotes inside YAML's: '\"{written}\"'")
        elif not hints:
            if len(node.steps) == 1 and word.isidentifier():
                hints.append(f'if it is meant as text, quote it: "{word}"')
            hints.append(f"`{source.name}` events have {', '.join(sorted(known))} at their top level")
        diags.warning("W409", f"no `{source.name}` event has a field `{word}`", node.span,
                      label="read from the event" if len(node.steps) == 1 else "not a field of the event",
                      hints=hints)


def _yaml_quotes(node: ast.Node) -> str:
    """The quote YAML wrote a value in when the value is this node alone (`"product_viewed"`), else ""."""
    span = node.span
    if span is None:
        return ""
    text = span.source.text
    before = text[span.start - 1] if span.start > 0 else ""
    after = text[span.end] if span.end < len(text) else ""
    if before in ("'", '"') and after == before:
        head = text[:span.start - 1].rstrip(" \t")
        if head.endswith((":", "-")) or head.endswith(("[", ",")):  # a YAML value, not a string inside one
            return before
    return ""


def _key(node: ast.Node | None) -> str:
    return repr(node)  # spans are left out of the repr, so equal conditions print alike


def _conjuncts(node: ast.Node) -> list[ast.Node]:
    if isinstance(node, ast.Binary) and node.op == "and":
        return _conjuncts(node.left) + _conjuncts(node.right)
    return [node]


def _contradiction(cond: ast.Node) -> str | None:
    """`x == "a" and x == "b"`: two different values required of one path."""
    wanted: dict[tuple, object] = {}
    for part in _conjuncts(cond):
        if isinstance(part, ast.Binary) and part.op == "==":
            for path, lit in ((part.left, part.right), (part.right, part.left)):
                if isinstance(path, ast.Path) and isinstance(lit, ast.Literal) and isinstance(lit.value, str):
                    key = (path.root, path.steps)
                    if key in wanted and wanted[key] != lit.value:
                        name = ".".join(str(s) for s in path.steps) or path.root
                        return f"`{name}` cannot be both {wanted[key]!r} and {lit.value!r}"
                    wanted[key] = lit.value
    return None


def _rules(doc: ast.Document, diags: DiagnosticBag) -> None:
    seen: dict[str, ast.Rule] = {}
    catch_all: ast.Rule | None = None
    for rule in doc.rules:
        span = rule.condition.span if rule.condition is not None else rule.span
        if catch_all is not None:
            diags.warning("W401", f"rule `{rule.name}` can never match: rule `{catch_all.name}` before it "
                          "matches every event", rule.span, label="unreachable",
                          hints=[f"rule `{catch_all.name}` is at line {catch_all.span.line}" if catch_all.span else ""])
            continue
        if rule.condition is None:
            catch_all = rule
            continue
        has_settings = any(isinstance(n, ast.Setting) for n in rule.condition.walk())
        folded = fold_expression(rule.condition)
        if not has_settings and isinstance(folded, ast.Literal):
            if not runtime.truthy(folded.value):
                diags.warning("W401", f"rule `{rule.name}` can never match: its condition is always false", span,
                              label="always false")
                continue
            catch_all = rule
        why = _contradiction(rule.condition)
        if why:
            diags.warning("W401", f"rule `{rule.name}` can never match: {why}", span, label="never true")
        key = _key(rule.condition)
        if key in seen:
            first = seen[key]
            diags.warning("W401", f"rule `{rule.name}` can never match: rule `{first.name}` has the same "
                          "condition and comes first", span, label="same condition",
                          hints=[f"rule `{first.name}` is at line {first.span.line}" if first.span else ""])
        seen.setdefault(key, rule)


def _object_keys(node: ast.Node, lets: dict[str, ast.Node]) -> list[str]:
    """The literal keys an object-valued expression certainly provides (for a spread)."""
    if isinstance(node, ast.Path) and node.root in lets and not node.steps:
        return _object_keys(lets[node.root], lets)
    if isinstance(node, ast.Object):
        return [e.key.value for e in node.entries if isinstance(e, ast.Field) and isinstance(e.key, ast.Literal)]
    if isinstance(node, ast.Literal) and isinstance(node.value, dict):
        return list(node.value)
    return []


def _fields(doc: ast.Document, diags: DiagnosticBag) -> None:
    lets = {"$" + let.name: let.value for let in doc.lets}
    for node in doc.walk():
        if not isinstance(node, ast.Object):
            continue
        given: dict[str, ast.Node] = {}
        for entry in node.entries:
            if isinstance(entry, ast.Spread):
                for key in _object_keys(entry.value, lets):
                    given.setdefault(key, entry)
                continue
            if not isinstance(entry.key, ast.Literal):
                continue
            key = entry.key.value
            if key in given:
                earlier = given[key]
                where = f"line {earlier.span.line}" if earlier.span else "above"
                by = "a spread" if isinstance(earlier, ast.Spread) else "a field"
                diags.warning("W402", f"`{key}` is set twice in this object: here, and by {by} at {where}",
                              entry.key.span, label="this value wins" if by == "a spread" else "set again",
                              hints=["remove one, or leave the key out of the spread with `without`"])
            given[key] = entry


def _unused(doc: ast.Document, diags: DiagnosticBag) -> None:
    used_settings = {n.name for n in doc.walk() if isinstance(n, ast.Setting)}
    for s in doc.settings:
        if s.name not in used_settings and not s.ignored:
            diags.warning("W404", f"setting `{s.name}` is never used", s.span, label="declared here",
                          hints=["remove it, or mark it `ignored: true` if it is accepted only for compatibility"])
    used_vars = {n.root for n in doc.walk() if isinstance(n, ast.Path) and n.root}
    for let in doc.lets:
        if "$" + let.name not in used_vars:
            diags.warning("W405", f"`${let.name}` is defined but never used", let.span, label="defined here")
    callers: dict[str, set[int]] = {}  # function name -> what calls it (the id of a function, or 0)
    for part in (doc.base_url, *doc.lets, *doc.rules, *doc.functions):
        if part is not None:
            for n in part.walk():
                if isinstance(n, ast.Call):
                    callers.setdefault(n.name, set()).add(id(part) if isinstance(part, ast.FunctionDef) else 0)
    for f in doc.functions:
        if not callers.get(f.name, set()) - {id(f)}:  # nothing but itself calls it
            diags.warning("W405", f"function `{f.name}` is defined but never used", f.name_span or f.span,
                          label="defined here")
