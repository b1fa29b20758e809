"""The one printer of the syntax tree: expressions on one line, and whole mapping files.

`unparse(node)` writes an expression, or a value built from YAML, on one line as the expression language
writes it; parsing that text gives the same tree. A `for` item, which only YAML can write, prints as
`[for $x in xs if cond: body]`, for reading; a call the optimizer wrote in place (`With`) prints as the call. `unparse_document(doc)` writes a whole mapping file; reading
it gives the same document, `for` items with `if:` included. `diff`, `explain`, the optimizer's fixtures
and messages all print through here, so what they show is what the tree holds.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from . import ast

# binding strength: a child looser than its parent is put in parentheses
_PREC = {"cond": 0, "else": 1, "or": 2, "and": 3, "not": 4, "cmp": 5, "without": 6, "+": 7, "*": 8, "neg": 9,
         "atom": 10}
_COMPARISONS = ("==", "!=", "<", "<=", ">", ">=", "in", "not in")
_KEYWORDS = {"and", "or", "not", "in", "if", "else", "for", "without", "true", "false", "null", "missing", "settings"}
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _binary_prec(op: str) -> int:
    if op in ("or", "and"):
        return _PREC[op]
    if op in _COMPARISONS:
        return _PREC["cmp"]
    if op == "without":
        return _PREC["without"]
    return _PREC["+"] if op in ("+", "-") else _PREC["*"]


def string(value: str) -> str:
    """A string literal: 'as written' when it has backslashes (regexes read better so), else "JSON"."""
    if "\\" in value and not _CONTROL.search(value):
        out = []
        for i, ch in enumerate(value):
            if ch == "'":
                out.append("\\'")
            elif ch == "\\" and (i + 1 == len(value) or value[i + 1] in "\\'"):
                out.append("\\\\")
            else:
                out.append(ch)
        return "'" + "".join(out) + "'"
    return _template_text(value, quote=True)


def _template_text(text: str, quote: bool = False) -> str:
    body = json.dumps(text, ensure_ascii=False)[1:-1].replace("{", "{{").replace("}", "}}")
    return f'"{body}"' if quote else body


def _literal(value: Any) -> tuple[str, int]:
    if value is ast.MISSING:
        return "missing", _PREC["atom"]
    if isinstance(value, str):
        return string(value), _PREC["atom"]
    if isinstance(value, list):  # folded by the optimizer; reads back as a list
        return "[" + ", ".join(_literal(v)[0] for v in value) + "]", _PREC["atom"]
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)}: {_literal(v)[0]}" for k, v in value.items()) + "}", _PREC["atom"]
    text = json.dumps(value)
    return text, _PREC["neg"] if text.startswith("-") else _PREC["atom"]


def _key(key: str) -> str:
    return key if _FIELD.fullmatch(key) else string(key)


def unparse(node: ast.Node) -> str:
    """An expression on one line; parsing it gives the same tree (but for `for` items, which only YAML has)."""
    text, _ = _unparse(node)
    return text


def _wrap(node: ast.Node, at_least: int) -> str:
    text, prec = _unparse(node)
    return f"({text})" if prec < at_least else text


def _wrap_and(node: ast.Node, at_least: int) -> str:
    if isinstance(node, ast.Binary) and node.op == "and":
        return f"({unparse(node)})"
    return _wrap(node, at_least)


def _unparse(n: ast.Node) -> tuple[str, int]:  # noqa: C901 - one case per node type
    atom = _PREC["atom"]
    if isinstance(n, ast.Literal):
        return _literal(n.value)
    if isinstance(n, ast.Path):
        out = n.root
        if not n.root and (not n.steps or not isinstance(n.steps[0], str) or not _FIELD.fullmatch(n.steps[0])
                           or n.steps[0] in _KEYWORDS):
            out = "$event"  # the whole event, or a top-level field that a bare name cannot write
        for step in n.steps:
            if isinstance(step, int):
                out += f"[{step}]"
            elif _FIELD.fullmatch(step) and (out or step not in _KEYWORDS):
                out += f".{step}" if out else step
            else:
                out += f"[{string(step)}]"
        return out, atom
    if isinstance(n, ast.Setting):
        return f"settings.{n.name}", atom
    if isinstance(n, ast.Index):
        return f"{_wrap(n.base, atom)}[{unparse(n.key)}]", atom
    if isinstance(n, ast.Call):
        return f"{n.name}({', '.join(unparse(a) for a in n.args)})", atom
    if isinstance(n, ast.Unary):
        if n.op == "not":
            return f"not {_wrap(n.operand, _PREC['not'])}", _PREC["not"]
        return f"-{_wrap(n.operand, _PREC['neg'])}", _PREC["neg"]
    if isinstance(n, ast.Binary):
        p = _binary_prec(n.op)
        left = p + 1 if n.op in _COMPARISONS else p  # comparisons do not chain
        if n.op == "or":  # `a or (b and c)`: parentheses people write, though `and` binds tighter
            return f"{_wrap_and(n.left, left)} or {_wrap_and(n.right, p + 1)}", p
        return f"{_wrap(n.left, left)} {n.op} {_wrap(n.right, p + 1)}", p
    if isinstance(n, ast.Coalesce):
        return " else ".join(_wrap(i, _PREC["or"]) for i in n.items), _PREC["else"]
    if isinstance(n, ast.Guard):
        return f"{_wrap(n.value, _PREC['else'])} if {_wrap(n.condition, _PREC['or'])}", _PREC["cond"]
    if isinstance(n, ast.Conditional):
        return (f"{_wrap(n.then, _PREC['else'])} if {_wrap(n.condition, _PREC['or'])} else "
                f"{_wrap(n.otherwise, _PREC['cond'])}"), _PREC["cond"]
    if isinstance(n, ast.Template):
        return '"' + "".join(_template_text(p) if isinstance(p, str) else "{" + unparse(p) + "}"
                             for p in n.parts) + '"', atom
    if isinstance(n, ast.Object):
        entries = [f"...{_wrap(e.value, atom)}" if isinstance(e, ast.Spread) else f"{_object_key(e.key)}: {unparse(e.value)}"
                   for e in n.entries]
        return "{" + ", ".join(entries) + "}", atom
    if isinstance(n, ast.List):
        return "[" + ", ".join(unparse(i) for i in n.items) + "]", atom
    if isinstance(n, ast.ForEach):
        return f"{_loop(n)}: {unparse(n.body)}", _PREC["cond"]
    if isinstance(n, ast.ListComp):
        return f"[{unparse(n.value)} {_loop(n)}]", atom
    if isinstance(n, ast.ObjectComp):
        return f"{{{unparse(n.key)}: {unparse(n.value)} {_loop(n)}}}", atom
    if isinstance(n, ast.With):  # an inlined call: as it was written, when that is known
        return _unparse(n.origin) if n.origin is not None else _unparse(n.body)
    raise TypeError(f"cannot unparse {type(n).__name__}")


def _names(n: ast.ForEach | ast.ListComp | ast.ObjectComp) -> str:
    return f"{n.index_var}, {n.var}" if n.index_var else n.var


def _loop(n: ast.ForEach | ast.ListComp | ast.ObjectComp) -> str:
    """`for $i, $x in ITER if COND`, as comprehensions and (for reading) `for` items write it."""
    cond = f" if {_wrap(n.condition, _PREC['or'])}" if n.condition is not None else ""
    return f"for {_names(n)} in {_wrap(n.iterable, _PREC['else'])}{cond}"


def _object_key(key: ast.Node) -> str:
    if isinstance(key, ast.Literal) and isinstance(key.value, str):
        return _key(key.value)
    return unparse(key)


# ---------------------------------------------------------------- whole mapping files


def _scalar(text: str) -> str:
    """YAML for a text scalar, quoted only when YAML needs it (`yes`, `1`, `a: b` are quoted)."""
    import yaml  # only whole files need it: expressions print without it

    out = yaml.safe_dump(text, allow_unicode=True, width=1 << 30)
    if out.endswith("\n...\n"):
        out = out[:-5]
    out = out.rstrip("\n")
    if "\n" in out or any(c in out for c in "\x85\u2028\u2029"):  # YAML breaks lines there: escape them
        out = yaml.safe_dump(text, allow_unicode=True, width=1 << 30, default_style='"').rstrip("\n")
    return out


@functools.cache
def _yaml_unsafe() -> re.Pattern:
    """What YAML does not allow raw in a file (its reader refuses it), or breaks lines at (compiled when first
    needed: a pattern of that many ranges takes milliseconds, and a compile seldom writes YAML)."""
    return re.compile("[^\x09\x0a\x0d\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _quoted(text: str) -> str:
    """A YAML double-quoted scalar (JSON's escapes, and YAML's for what JSON writes raw)."""
    body = json.dumps(text, ensure_ascii=False)
    return _yaml_unsafe().sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                            else f"\\u{ord(m.group()):04x}", body)


def _data(value: Any) -> str:
    """YAML flow for JSON data (a setting's default), which reads back as the same data."""
    if isinstance(value, str):
        return _quoted(value)
    if isinstance(value, list):
        return "[" + ", ".join(_data(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_quoted(k)}: {_data(v)}" for k, v in value.items()) + "}"
    import yaml

    return yaml.safe_dump(value).split("\n")[0]  # null, true, 1, 1.0e+16: as YAML reads them back


def _yaml_key(entry: ast.Field) -> str | None:
    """The YAML key that reads back as this field's key, or None when only an expression can write it."""
    key = entry.key
    if isinstance(key, ast.Literal) and isinstance(key.value, str):
        if key.value.startswith("..."):
            return None
        return _scalar(key.value.replace("{", "{{").replace("}", "}}"))
    if isinstance(key, ast.Template):
        parts = []
        for p in key.parts:
            if isinstance(p, str):
                parts.append(p.replace("{", "{{").replace("}", "}}"))
            else:
                text = unparse(p)
                if any(c in text for c in "\"'\\{}"):  # a key is read with its quotes and backslashes escaped
                    return None
                parts.append("{" + text + "}")
        return _scalar("".join(parts))
    return None


def _as_yaml(node: ast.Node) -> bool:
    """Whether a value is written as YAML keys and items (else as one expression): objects that YAML keys can
    write, and lists with a `for` item or an item written so."""
    if isinstance(node, ast.List):
        return any(isinstance(i, ast.ForEach) or _as_yaml(i) for i in node.items)
    if isinstance(node, ast.Object):
        keys = [_yaml_key(e) for e in node.entries if isinstance(e, ast.Field)]
        return None not in keys and len(set(keys)) == len(keys) and "for" not in keys
    return False


def _value(node: ast.Node, indent: str, out: list[str], head: str) -> None:
    """`head` (a key at `indent`) followed by the value: on the same line when it is one expression, else
    as keys and items below it."""
    if isinstance(node, ast.List) and not node.items:
        out.append(f"{head} []")
        return
    if isinstance(node, ast.Object) and not node.entries:
        out.append(f"{head} {{}}")
        return
    if isinstance(node, ast.Literal) and (node.value is None or type(node.value) in (bool, int, float)):
        out.append(f"{head} {_data(node.value)}")  # YAML reads `1`, `true`, `null` as these literals
        return
    if not _as_yaml(node):
        out.append(f"{head} {_scalar(unparse(node))}")
        return
    out.append(head)
    _block(node, indent + "  ", out)


def _block(node: ast.Node, indent: str, out: list[str]) -> None:
    if isinstance(node, ast.Object):
        spreads = 0
        for e in node.entries:
            if isinstance(e, ast.Spread):
                spreads += 1
                _value(e.value, indent, out, f"{indent}...{spreads if spreads > 1 else ''}:")
            else:
                _value(e.value, indent, out, f"{indent}{_yaml_key(e)}:")
        return
    assert isinstance(node, ast.List)
    for item in node.items:
        if isinstance(item, ast.ForEach):
            head = f"{_names(item)} in {_wrap(item.iterable, _PREC['else'])}"
            out.append(f"{indent}- for: {_scalar(head)}")
            if item.condition is not None:
                out.append(f"{indent}  if: {_scalar(unparse(item.condition))}")
            _value(item.body, indent + "  ", out, f"{indent}  yield:")
        elif _as_yaml(item) and (item.items if isinstance(item, ast.List) else item.entries):  # type: ignore[attr-defined]
            inner: list[str] = []
            _block(item, indent + "  ", inner)
            inner[0] = f"{indent}- " + inner[0][len(indent) + 2:]  # `- key: value`, the rest below it
            out.extend(inner)
        else:
            _value(item, indent, out, f"{indent}-")


def unparse_document(doc: ast.Document) -> str:
    """A mapping file that reads back as this document."""
    out = [f"name: {_scalar(doc.name)}"]
    if doc.description:
        out.append(f"description: {_scalar(doc.description)}")
    if doc.source != "segment":
        out.append(f"source: {_scalar(doc.source)}")
    out.append(f"target: {_scalar(doc.target)}")
    if doc.match != "first":
        out.append(f"match: {_scalar(doc.match)}")
    if doc.base_url is not None:
        _value(doc.base_url, "", out, "base_url:")
    if doc.settings:
        out.append("settings:")
        for s in doc.settings:
            out.append(f"  {s.name}:")
            out.append(f"    type: {s.type}")
            if s.default is not ast.MISSING:
                out.append(f"    default: {_data(s.default)}")
            if s.description:
                out.append(f"    description: {_scalar(s.description)}")
            if s.required:
                out.append("    required: true")
            if s.ignored:
                out.append("    ignored: true")
    if doc.lets:
        out.append("let:")
        for let in doc.lets:
            _value(let.value, "  ", out, f"  {let.name}:")
    if doc.functions:
        out.append("functions:")
        for f in doc.functions:
            _value(f.body, "  ", out, f"  {_scalar(f.name + '(' + ', '.join(f.params) + ')')}:")
    out.append("rules:" if doc.rules else "rules: []")
    for rule in doc.rules:
        out.append(f"  - name: {_scalar(rule.name)}")
        if rule.condition is not None:
            out.append(f"    when: {_scalar(unparse(rule.condition))}")
        if rule.action != "send":
            _value(rule.message if rule.message is not None else ast.Literal(None, ast.MISSING), "    ", out,
                   f"    {rule.action}:")
            continue
        out.append("    send:" if rule.requests else "    send: []")
        for req in rule.requests:
            out.append(f"      - endpoint: {_scalar(req.endpoint)}")
            if req.params:
                out.append("        params:")
                for param in req.params:
                    _value(param.value, "          ", out, f"          {_yaml_key(param)}:")
            for name, value in (("when", req.condition), ("once", req.once), ("time", req.time)):
                if value is not None:
                    out.append(f"        {name}: {_scalar(unparse(value))}")
            _value(req.body, "        ", out, "        body:")
    return "\n".join(out) + "\n"
