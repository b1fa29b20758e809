"""YAML with positions, checked before anything walks it; and YAML values as JSON data.

`compose` reads a file into YAML nodes (which keep their positions) and refuses, with a diagnostic at a
line and column, what would make later phases crash or hang: characters YAML does not allow (NUL), a
value that contains itself through an alias, aliases that expand beyond `limits.MAX_ALIAS_VALUES`
("billion laughs"), and nesting far beyond `limits.MAX_DEPTH`. Nothing here recurses on the file's depth.

`data` turns a node into JSON data (a setting's default, an example's event), refusing what JSON does not
have: timestamps, binary, sets, pairs, non-text keys, numbers beyond the limits.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from .. import limits
from ..diagnostics import DiagnosticBag
from ..source import SourceFile, Span

_TAG = "tag:yaml.org,2002:"
_SCALARS = {_TAG + t for t in ("str", "int", "float", "bool", "null")}
_KIND = {"timestamp": "a YAML timestamp", "binary": "YAML binary data", "set": "a YAML set",
         "omap": "a YAML ordered map", "pairs": "YAML pairs", "merge": "a YAML merge key", "value": "a YAML value key"}


class DataError(Exception):
    """A YAML value that is not JSON data; `node` is where."""

    def __init__(self, message: str, node: yaml.Node, code: str = "E003", hint: str = ""):
        super().__init__(message)
        self.message, self.node, self.code, self.hint = message, node, code, hint


def node_span(source: SourceFile, node: yaml.Node) -> Span:
    return Span(source, node.start_mark.index, max(node.end_mark.index, node.start_mark.index + 1))


def _mark_span(source: SourceFile, mark: yaml.Mark | None) -> Span | None:
    if mark is None:
        return None
    return Span(source, mark.index, mark.index + 1)


# ---------------------------------------------------------------- reading


#: YAML nesting refused before any value is read: the limit itself (on values, `limits.check_depth`) is
#: applied once the document is read; this only keeps the reader's recursion bounded
_GUARD = 2 * limits.MAX_DEPTH


class _TooDeep(Exception):
    def __init__(self, mark: yaml.Mark | None):
        self.mark = mark


def _compose(text: str) -> yaml.Node | None:
    """YAML nodes with positions: libyaml's loader when PyYAML has it (ten times faster), with the
    pure-Python loader's error messages either way."""
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None:
        try:
            return yaml.compose(text, Loader=fast)
        except yaml.YAMLError:
            pass
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:  # the pure-Python composer recurses once per level
        raise _TooDeep(_first_too_deep(text)) from None


def _first_too_deep(text: str) -> yaml.Mark | None:
    """Where the deepest nesting goes beyond the limit, from YAML's events (read without recursion)."""
    starts: list[yaml.Mark] = []
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                starts.append(event.start_mark)
                if len(starts) > _GUARD:
                    return starts[limits.MAX_DEPTH]
            elif isinstance(event, yaml.CollectionEndEvent):
                starts.pop()
    except yaml.YAMLError:
        pass
    return None


_SURROGATE = re.compile("[\ud800-\udfff]")


def compose(source: SourceFile, diags: DiagnosticBag) -> yaml.Node | None:
    """The file's root node; None (with diagnostics) when it cannot be read safely, or is empty."""
    half = _SURROGATE.search(source.text)  # no file decodes to one; text given to the library may hold one
    if half is not None:
        at = half.start()
        diags.error("E004", f"the text holds half of a surrogate pair (U+{ord(half.group()):04X}), not a character",
                    Span(source, at, at + 1), label="not a character")
        return None
    try:
        root = _compose(source.text)
    except yaml.reader.ReaderError as e:
        at = max(0, e.position)
        ch = e.character if isinstance(e.character, str) else chr(e.character)
        diags.error("E004", f"the file holds a character YAML does not allow: U+{ord(ch):04X}"
                    + (" (NUL)" if ch == "\0" else ""), Span(source, at, at + 1), label="not allowed",
                    hints=["remove it, or write it as an escape in a double-quoted string (\"\\x01\")"])
        return None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        offset = mark.index if mark is not None else 0
        problem = e.problem or e.context or "invalid YAML"
        diags.error("E002", f"YAML syntax error: {problem}", Span(source, offset, offset + 1), label=e.context or "")
        return None
    except yaml.YAMLError as e:
        diags.error("E002", f"YAML error: {e}", path=source.path)
        return None
    except _TooDeep as e:
        diags.error("E006", f"the file is {limits.too_deep()}", _mark_span(source, e.mark), path=source.path,
                    label="too deep here")
        return None
    if root is None:
        return None
    return root if check_graph(source, root, diags) else None


class _AliasMarks(yaml.SafeLoader):
    """The pure-Python loader, noting where each alias is written (libyaml's composer cannot tell)."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self.aliases: dict[tuple[int, Any], yaml.Mark] = {}

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            node = super().compose_node(parent, index)
            self.aliases[(id(parent), index if isinstance(index, int) or index is None else id(index))] = mark
            return node
        return super().compose_node(parent, index)


def _edges(node: yaml.Node) -> list[tuple[Any, yaml.Node]]:
    """(edge, child): a sequence's items by index, a mapping's keys (edge None) and values (edge: id of
    the key node), as `_AliasMarks` records them."""
    if isinstance(node, yaml.SequenceNode):
        return list(enumerate(node.value))
    if isinstance(node, yaml.MappingNode):
        out: list[tuple[Any, yaml.Node]] = []
        for k, v in node.value:
            out.append((None, k))
            out.append((id(k), v))
        return out
    return []


def _problem(root: yaml.Node) -> tuple[str, yaml.Node, Any, int] | None:
    """The first of: a value that contains itself ("cycle"), aliases adding more than the limit
    ("aliases"), nesting beyond the limit ("depth"); with the parent node and edge where it is seen."""
    state: dict[int, int] = {}
    size: dict[int, int] = {}
    height: dict[int, int] = {}
    stack = [(root, iter(_edges(root)))]
    state[id(root)] = 1
    while stack:
        node, it = stack[-1]
        for edge, child in it:
            s = state.get(id(child))
            if s == 1:
                return "cycle", node, edge, 0
            if s is None:
                state[id(child)] = 1
                stack.append((child, iter(_edges(child))))
                break
        else:
            stack.pop()
            state[id(node)] = 2
            children = [c for _, c in _edges(node)]
            size[id(node)] = 1 + sum(size[id(c)] for c in children)
            height[id(node)] = 1 + max((height[id(c)] for c in children), default=0)
    if size[id(root)] - len(size) > limits.MAX_ALIAS_VALUES:
        # the alias (in document order) at which the values aliases add go beyond the limit
        added, seen = 0, {id(root)}
        todo: list[yaml.Node] = [root]
        while todo:
            node = todo.pop()
            edges = _edges(node)
            for edge, child in edges:
                if id(child) in seen:
                    added += size[id(child)]
                    if added > limits.MAX_ALIAS_VALUES:
                        return "aliases", node, edge, size[id(root)]
            fresh = [c for _, c in edges if id(c) not in seen]
            seen.update(id(c) for c in fresh)
            todo.extend(reversed(fresh))
    if height[id(root)] > _GUARD:
        node = root
        for _ in range(limits.MAX_DEPTH):  # down the deepest path, to where it goes beyond the limit
            node = max(_edges(node), key=lambda ec: height[id(ec[1])])[1]
        return "depth", node, None, 0
    return None


def check_graph(source: SourceFile, root: yaml.Node, diags: DiagnosticBag) -> bool:
    """Report aliases that loop or expand beyond the limit, and nesting beyond the limit; True when fine."""
    found = _problem(root)
    if found is None:
        return True
    kind, node, edge, total = found
    if kind == "depth":
        diags.error("E006", f"this value is {limits.too_deep()}", node_span(source, node), label="too deep here",
                    hints=["write it flatter"])
        return False
    # where is the alias? libyaml's nodes do not say: read the file again, noting where aliases are
    loader = _AliasMarks(source.text)
    try:
        again = loader.get_single_node()
    except (yaml.YAMLError, RecursionError):
        again = None
    finally:
        loader.dispose()
    span = node_span(source, node)
    if again is not None:
        found2 = _problem(again)
        if found2 is not None and found2[0] == kind:
            _, node2, edge2, _ = found2
            mark = loader.aliases.get((id(node2), edge2))
            span = _mark_span(source, mark) or node_span(source, node2)
    if kind == "cycle":
        diags.error("E005", "this alias refers to a value that contains it: the value would never end", span,
                    label="refers to itself", hints=["an alias (`*name`) may only repeat a value that is complete"])
    else:
        diags.error("E005", f"YAML aliases expand this file to {total:,} values: they may add at most "
                    f"{limits.MAX_ALIAS_VALUES:,}", span, label="the aliases go beyond the limit here",
                    hints=["write the value out, or use a `let` definition for it"])
    return False


# ---------------------------------------------------------------- JSON data


def data(node: yaml.Node) -> Any:
    """A YAML value as JSON data, or DataError at the node that is not JSON. The graph is checked first
    (`check_graph`), so this never meets a cycle or a value deeper than the limit."""
    stack = [node]
    while stack:
        n = stack.pop()
        tag = n.tag or ""
        if isinstance(n, yaml.ScalarNode):
            if tag not in _SCALARS:
                raise DataError(*_not_json(n))
            if tag == _TAG + "str":
                if problem := limits.text_problem(n.value):
                    raise DataError(f"{problem}", n, "E102")
            elif tag in (_TAG + "int", _TAG + "float"):
                digits = sum(c.isdigit() for c in n.value)
                value = _construct(n) if digits <= limits.MAX_NUMBER_DIGITS else None
                if problem := limits.number_problem(value, digits):
                    raise DataError(problem, n, "E007", "write a smaller number, or quote it to have text")
        elif isinstance(n, yaml.SequenceNode):
            if tag != _TAG + "seq":
                raise DataError(*_not_json(n))
            stack.extend(n.value)
        elif isinstance(n, yaml.MappingNode):
            if tag != _TAG + "map":
                raise DataError(*_not_json(n))
            seen: set[str] = set()
            for k, v in n.value:
                if not (isinstance(k, yaml.ScalarNode) and k.tag == _TAG + "str"):
                    raise DataError("a key must be text (JSON has no other keys)", k, "E003",
                                    "quote the key")
                if k.value in seen:  # YAML would keep the last one without a word
                    raise DataError(f"`{k.value}` appears twice in this object", k, "E003",
                                    "a key may appear once in an object")
                seen.add(k.value)
                stack.append(k)
                stack.append(v)
    return _construct(node)


def check_tag(node: yaml.Node) -> None:
    """DataError unless a list or object node is a plain YAML sequence or mapping (not a set, pairs...)."""
    expected = _TAG + ("seq" if isinstance(node, yaml.SequenceNode) else "map")
    if isinstance(node, yaml.CollectionNode) and node.tag != expected:
        raise DataError(*_not_json(node))


def _not_json(n: yaml.Node) -> tuple[str, yaml.Node, str, str]:
    tag = n.tag or ""
    what = _KIND.get(tag[len(_TAG):]) if tag.startswith(_TAG) else None
    if what is None:
        what = f"a value tagged `{tag}`"
    hint = "quote it to have text" if isinstance(n, yaml.ScalarNode) else "write it as a JSON object or list"
    return f"{what} is not JSON data", n, "E003", hint


def _construct(node: yaml.Node) -> Any:
    return yaml.constructor.SafeConstructor().construct_object(node, deep=True)


def data_diagnostic(source: SourceFile, e: DataError, diags: DiagnosticBag) -> None:
    diags.error(e.code, e.message, node_span(source, e.node), label="not JSON data" if e.code == "E003" else "",
                hints=[e.hint] if e.hint else [])
