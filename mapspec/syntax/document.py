"""A mapping file (YAML) -> `ast.Document`, with every expression's span in file coordinates.

The file is read with `yaml.compose`, which keeps the position of every node; expressions inside
scalars are parsed with a `locate` function that maps offsets in the scalar's value back to the file,
whether the scalar is plain, quoted (escapes, doubled quotes) or a block (`|`, `>`).
"""

from __future__ import annotations

from typing import Any

import yaml

from .. import limits
from ..diagnostics import DiagnosticBag, did_you_mean
from ..source import SourceFile, Span
from . import ast, yamldata
from .expressions import ExpressionError, Locate, _template_parts, parse_expression, parse_for_head
from .yamldata import node_span

TOP_KEYS = ("name", "description", "source", "target", "base_url", "match", "settings", "let", "functions", "rules",
            "examples")
MATCH_MODES = ("first", "all")
DEFAULT_TARGET = "braze"  # what a mapping without `target:` sends to
SETTING_KEYS = ("type", "default", "description", "required", "ignored")
SETTING_TYPES = ("string", "bool", "number", "integer", "object", "list", "any")
RULE_KEYS = ("name", "when", "send", "reject", "skip", "description")
REQUEST_KEYS = ("endpoint", "params", "when", "once", "time", "body")
FOREACH_KEYS = ("for", "yield", "if")

_STR = "tag:yaml.org,2002:str"


def scalar_locator(source: SourceFile, node: yaml.ScalarNode) -> Locate:
    """Map offsets in a scalar's value to spans of the file."""
    raw_start, raw_end = node.start_mark.index, node.end_mark.index
    raw = source.text[raw_start:raw_end]
    value: str = node.value
    style = node.style
    j = 0
    if style in ("'", '"'):
        j = 1
    elif style in ("|", ">"):
        j = raw.find("\n") + 1 if "\n" in raw else len(raw)
    offsets: list[int] = []
    for ch in value:
        k = j
        found = -1
        while k < len(raw) and k - j < 400:
            r = raw[k]
            if r == ch or (ch in " \n" and r == "\n"):
                found, step = k, 1
                break
            if style == '"' and r == "\\" and k + 1 < len(raw):
                nxt = raw[k + 1]
                step = {"x": 4, "u": 6, "U": 10}.get(nxt, 2)
                if nxt != "\n":
                    found = k
                    break
            k += 1
        if found < 0:
            offsets.append(raw_start + min(j, len(raw)))
            continue
        offsets.append(raw_start + found)
        j = found + step
    end_default = raw_start + (len(raw) if not offsets else offsets[-1] - raw_start + 1)

    def locate(start: int, end: int) -> Span:
        def at(i: int) -> int:
            if i < len(offsets):
                return offsets[i]
            return end_default + (i - len(offsets))
        s = at(start)
        e = at(end - 1) + 1 if end > start else s + 1
        return Span(source, s, max(e, s + 1))

    return locate


class _Reader:
    def __init__(self, source: SourceFile, diags: DiagnosticBag):
        self.source, self.diags = source, diags

    def span(self, node: yaml.Node) -> Span:
        return node_span(self.source, node)

    def structure(self, node: yaml.Node, message: str, label: str = "", hints=()) -> None:
        self.diags.error("E003", message, self.span(node), label=label, hints=hints)

    # ---- plain YAML values (settings defaults, names)
    def plain(self, node: yaml.Node) -> Any:
        """A YAML value as JSON data (a setting's default, a literal number); MISSING when it is not."""
        try:
            return yamldata.data(node)
        except yamldata.DataError as e:
            yamldata.data_diagnostic(self.source, e, self.diags)
        except (yaml.YAMLError, TypeError, ValueError) as e:
            self.structure(node, f"this value cannot be read: {getattr(e, 'problem', None) or e}")
        return ast.MISSING

    def text(self, node: yaml.Node, what: str) -> str | None:
        if isinstance(node, yaml.ScalarNode) and node.tag == _STR:
            return node.value
        self.structure(node, f"{what} must be text")
        return None

    def mapping(self, node: yaml.Node, what: str, allowed: tuple[str, ...] | None = None
                ) -> list[tuple[str, yaml.Node, yaml.Node]]:
        """The (key, key node, value node) pairs of a YAML mapping, with duplicate and unknown keys reported."""
        if not isinstance(node, yaml.MappingNode):
            self.structure(node, f"{what} must be a mapping of keys to values")
            return []
        out, seen = [], set()
        for knode, vnode in node.value:
            if not isinstance(knode, yaml.ScalarNode):
                self.structure(knode, f"a key in {what} must be text")
                continue
            key = knode.value
            if key in seen:
                self.structure(knode, f"`{key}` appears twice in {what}", "duplicate key")
                continue
            seen.add(key)
            if allowed is not None and key not in allowed:
                self.structure(knode, f"unknown key `{key}` in {what}", "not allowed here",
                               did_you_mean(key, allowed) or [f"allowed keys: {', '.join(allowed)}"])
                continue
            out.append((key, knode, vnode))
        return out

    # ---- expressions and shapes
    def expr(self, node: yaml.Node) -> ast.Node | None:
        """A YAML value as an expression: scalars are parsed, mappings and lists build values."""
        span = self.span(node)
        if isinstance(node, yaml.ScalarNode):
            if node.tag != _STR:
                return ast.Literal(span, self.plain(node))
            quotes = node.style if node.style in ("'", '"') else ""
            return parse_expression(node.value, scalar_locator(self.source, node), self.diags, quotes)
        try:
            yamldata.check_tag(node)  # a `!!set` or `!!pairs` is not a JSON object or list
        except yamldata.DataError as e:
            yamldata.data_diagnostic(self.source, e, self.diags)
            return None
        if isinstance(node, yaml.SequenceNode):
            items = []
            for item in node.value:
                built = self.list_item(item)
                if built is not None:
                    items.append(built)
            return ast.List(span, tuple(items))
        if isinstance(node, yaml.MappingNode):
            entries: list[ast.Field | ast.Spread] = []
            for key, knode, vnode in self.mapping(node, "an object"):
                value = self.expr(vnode)
                if value is None:
                    continue
                if key.startswith("..."):
                    entries.append(ast.Spread(self.span(knode), value))
                    continue
                k = self.key(knode)
                if k is not None:
                    entries.append(ast.Field(Span(self.source, knode.start_mark.index, vnode.end_mark.index),
                                             k, value))
            return ast.Object(span, tuple(entries))
        self.structure(node, "unsupported YAML value")
        return None

    def key(self, knode: yaml.ScalarNode) -> ast.Node | None:
        key = knode.value
        span = self.span(knode)
        if "{" not in key and "}" not in key:
            return ast.Literal(span, key)
        locate = scalar_locator(self.source, knode)
        token = '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'
        try:
            parts = _template_parts(token, -1, locate)
        except ExpressionError as e:
            self.diags.error(e.code, e.message, e.span or locate(max(e.start, 0), max(e.end, e.start + 1)),
                             label=e.label)
            return None
        if all(isinstance(p, str) for p in parts):
            return ast.Literal(span, "".join(parts))  # type: ignore[arg-type]
        return ast.Template(span, tuple(parts))

    def list_item(self, node: yaml.Node) -> ast.Node | None:
        if isinstance(node, yaml.MappingNode) and any(
                isinstance(k, yaml.ScalarNode) and k.value == "for" for k, _ in node.value):
            return self.for_each(node)
        return self.expr(node)

    def for_each(self, node: yaml.MappingNode) -> ast.Node | None:
        parts = {k: (kn, vn) for k, kn, vn in self.mapping(node, "a `for` item", FOREACH_KEYS)}
        if "yield" not in parts:
            self.structure(node, "a `for` item needs `yield`: the value to produce for each element")
            return None
        head_node = parts["for"][1]
        head = None
        if isinstance(head_node, yaml.ScalarNode) and head_node.tag == _STR:
            head = parse_for_head(head_node.value, scalar_locator(self.source, head_node), self.diags)
        else:
            self.diags.error("E101", "a `for` needs the form `$name in list`", self.span(head_node),
                             label="for example `$product in properties.products`")
        body = self.expr(parts["yield"][1])
        cond = self.expr(parts["if"][1]) if "if" in parts else None
        if head is None or body is None:
            return None
        names, iterable = head
        return ast.ForEach(self.span(node), names[-1], iterable, body, cond, names[0] if len(names) == 2 else None)

    # ---- the document
    def document(self, root: yaml.Node) -> ast.Document | None:
        if not isinstance(root, yaml.MappingNode):
            self.structure(root, "a mapping file must be a YAML mapping with `name`, `settings` and `rules`")
            return None
        top = {k: (kn, vn) for k, kn, vn in self.mapping(root, "a mapping file", TOP_KEYS)}
        name = self.text(top["name"][1], "`name`") if "name" in top else None
        if "name" not in top:
            self.structure(root, "a mapping file needs a `name`")
        description = self.text(top["description"][1], "`description`") if "description" in top else ""
        target = DEFAULT_TARGET
        target_span = None
        if "target" in top:
            target = self.text(top["target"][1], "`target`") or target
            target_span = self.span(top["target"][1])
        source, source_span = "segment", None
        if "source" in top:
            named = self.text(top["source"][1], "`source`")
            source = named if named is not None else source
            source_span = self.span(top["source"][1])
        base_url = self.expr(top["base_url"][1]) if "base_url" in top else None
        settings = self.settings(top["settings"][1]) if "settings" in top else ()
        lets = self.lets(top["let"][1]) if "let" in top else ()
        functions = self.functions(top["functions"][1]) if "functions" in top else ()
        rules = self.rules(top["rules"][1]) if "rules" in top else ()
        if "rules" not in top:
            self.structure(root, "a mapping file needs `rules`")
        match = "first"
        if "match" in top:
            match = self.text(top["match"][1], "`match`") or "first"
            if match not in MATCH_MODES:
                self.structure(top["match"][1], f"`match` is `first` or `all`, not `{match}`", "unknown mode",
                               ["first: the first rule whose `when` holds decides (the default); "
                                "all: every rule whose `when` holds contributes, in order"])
                match = "first"
        return ast.Document(self.span(root), name or "", description or "", target, base_url,
                            settings, lets, rules, target_span, match, functions, source, source_span)

    def functions(self, node: yaml.Node) -> tuple[ast.FunctionDef, ...]:
        """`name($a, $b): body` entries; the head is read as a call whose arguments are the parameters."""
        out = []
        for key, knode, vnode in self.mapping(node, "`functions`"):
            head = parse_expression(key, scalar_locator(self.source, knode), self.diags) if key.strip() else None
            body = self.expr(vnode)
            if not isinstance(head, ast.Call):
                if head is not None or not key.strip():
                    self.diags.error("E211", f"`{key}` is not a function head", self.span(knode),
                                     label="a name and its parameters",
                                     hints=["for example `present($x)`, `full_name($first, $last)`"])
                continue
            params: list[str] = []
            for arg in head.args:
                if not (isinstance(arg, ast.Path) and arg.root.startswith("$") and not arg.steps):
                    label = "the whole event" if isinstance(arg, ast.Path) and arg.root == "" and not arg.steps \
                        else "not a `$name`"
                    self.diags.error("E211", f"a parameter of `{head.name}` must be a `$name`", arg.span,
                                     label=label, hints=[f"for example `{head.name}($x)`"])
                elif arg.root in params:
                    self.diags.error("E211", f"`{arg.root}` is a parameter of `{head.name}` twice", arg.span,
                                     label="named twice")
                else:
                    params.append(arg.root)
            if body is not None and len(params) == len(head.args):
                out.append(ast.FunctionDef(self.span(knode), head.name, tuple(params), body, head.name_span))
        return tuple(out)

    def settings(self, node: yaml.Node) -> tuple[ast.SettingDecl, ...]:
        out = []
        for key, knode, vnode in self.mapping(node, "`settings`"):
            if not key.isidentifier():
                self.structure(knode, f"setting name `{key}` must be a name (letters, digits, `_`)")
                continue
            fields = {k: vn for k, _, vn in self.mapping(vnode, f"setting `{key}`", SETTING_KEYS)}
            type_ = "any"
            if "type" in fields:
                type_ = self.text(fields["type"], "a setting's `type`") or "any"
                if type_ not in SETTING_TYPES:
                    self.structure(fields["type"], f"unknown setting type `{type_}`", "not a type",
                                   did_you_mean(type_, SETTING_TYPES)
                                   or [f"types: {', '.join(SETTING_TYPES)}"])
                    type_ = "any"
            default = self.plain(fields["default"]) if "default" in fields else ast.MISSING
            desc = self.plain(fields["description"]) if "description" in fields else ""
            required = bool(self.plain(fields["required"])) if "required" in fields else False
            ignored = bool(self.plain(fields["ignored"])) if "ignored" in fields else False
            out.append(ast.SettingDecl(self.span(knode), key, type_, default, str(desc or ""), required, ignored))
        return tuple(out)

    def lets(self, node: yaml.Node) -> tuple[ast.Let, ...]:
        out = []
        for key, knode, vnode in self.mapping(node, "`let`"):
            if not key.isidentifier():
                self.structure(knode, f"`{key}` is not a name (letters, digits, `_`)", "used as `$name`")
                continue
            if key == "event":
                self.structure(knode, "`event` cannot be defined: `$event` is the whole event", "reserved",
                               ["choose another name"])
                continue
            value = self.expr(vnode)
            if value is not None:
                out.append(ast.Let(self.span(knode), key, value))
        return tuple(out)

    def rules(self, node: yaml.Node) -> tuple[ast.Rule, ...]:
        if not isinstance(node, yaml.SequenceNode):
            self.structure(node, "`rules` must be a list of rules, tried in order")
            return ()
        out = []
        for i, rnode in enumerate(node.value):
            rule = self.rule(rnode, i)
            if rule is not None:
                out.append(rule)
        return tuple(out)

    def rule(self, node: yaml.Node, index: int) -> ast.Rule | None:
        parts = {k: (kn, vn) for k, kn, vn in self.mapping(node, "a rule", RULE_KEYS)}
        if not isinstance(node, yaml.MappingNode):
            return None
        name = (self.text(parts["name"][1], "a rule's `name`") if "name" in parts else None) or f"rule {index + 1}"
        actions = [a for a in ("send", "reject", "skip") if a in parts]
        if len(actions) != 1:
            self.structure(node, f"rule `{name}` needs exactly one of `send`, `reject` or `skip`",
                           "in this rule", [f"it has {', '.join(actions)}" if actions else
                                            "`send` lists requests; `reject` and `skip` give a reason"])
            return None
        condition = self.expr(parts["when"][1]) if "when" in parts else None
        action = actions[0]
        if action == "send":
            requests = self.requests(parts["send"][1])
            return ast.Rule(self.span(node), name, condition, "send", requests)
        message = self.expr(parts[action][1])
        return ast.Rule(self.span(node), name, condition, action, (), message)

    def requests(self, node: yaml.Node) -> tuple[ast.Request, ...]:
        items = node.value if isinstance(node, yaml.SequenceNode) else [node]
        out = []
        for item in items:
            parts = {k: (kn, vn) for k, kn, vn in self.mapping(item, "a request", REQUEST_KEYS)}
            if not isinstance(item, yaml.MappingNode):
                continue
            if "endpoint" not in parts or "body" not in parts:
                self.structure(item, "a request needs an `endpoint` (such as /users/track) and a `body`")
                continue
            endpoint = self.text(parts["endpoint"][1], "`endpoint`")
            body = self.expr(parts["body"][1])
            cond = self.expr(parts["when"][1]) if "when" in parts else None
            once = self.expr(parts["once"][1]) if "once" in parts else None
            time = self.expr(parts["time"][1]) if "time" in parts else None
            params: list[ast.Field] = []
            for key, knode, vnode in (self.mapping(parts["params"][1], "`params`") if "params" in parts else ()):
                value = self.expr(vnode)
                if value is not None:
                    params.append(ast.Field(Span(self.source, knode.start_mark.index, vnode.end_mark.index),
                                            ast.Literal(self.span(knode), key), value))
            if endpoint is None or body is None:
                continue
            out.append(ast.Request(self.span(item), endpoint, body, cond, self.span(parts["endpoint"][1]),
                                   tuple(params), once, time))
        return tuple(out)


def parse_document(source: SourceFile, diags: DiagnosticBag) -> ast.Document | None:
    """Parse a mapping file. Problems become diagnostics; the result is None when nothing usable is left."""
    before = len(diags.items)
    root = yamldata.compose(source, diags)
    if root is None:
        if len(diags.items) == before:
            diags.error("E003", "the mapping file is empty", path=source.path)
        return None
    doc = _Reader(source, diags).document(root)
    if doc is not None and not limits.check_depth(doc, diags):
        return None  # later phases walk values: one too deep is reported, and nothing walks it
    return doc
