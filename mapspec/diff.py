"""`mapspec diff OLD NEW`: what a change to a mapping changes.

The structural diff compares the two mappings as written: settings, definitions, rules and every output
field with its expression. The behavioural diff runs both compiled translators on the same events and
counts, per Braze field, the events whose value is added, removed or changed, and the events newly
rejected or newly skipped, with a few examples of each.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import jsonio
from .compiler import Compiled, read_mapping, source_from_bytes
from .diagnostics import Diagnostic
from .errors import CompileError, Rejected
from .events import ID_FIELD, describe, label_of
from .source import SourceFile
from .syntax import ast
from .syntax.unparse import unparse
from .terminal import printable, printable_line

#: events shown per kind of difference, unless `--examples` says otherwise
EXAMPLES = 3


# ------------------------------------------------------------------ loading


def read_side(spec: str) -> SourceFile:
    """A bundled name, a path, or `REV:path` (a file at a git revision, read with `git cat-file`)."""
    m = re.fullmatch(r"([^:\s]+):(.+)", spec)
    if m and not Path(spec).exists() and not re.fullmatch(r"[A-Za-z]", m.group(1)):
        rev, path = m.groups()
        if rev.startswith("-") or not rev.isprintable():
            # nothing from the command line may become an option of git (`--output=...` writes files)
            raise CompileError([Diagnostic(
                "E001", f"cannot read {spec!r}: {rev!r} is not a git revision", path=spec,
                hints=("a revision names a commit: HEAD~1, a branch, a tag or a hash",))])
        proc = subprocess.run(["git", "cat-file", "blob", "--end-of-options", f"{rev}:{path}"], capture_output=True,
                              stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            reason = (proc.stderr.decode("utf-8", "replace").strip().splitlines() or ["git cat-file failed"])[-1]
            raise CompileError([Diagnostic("E001", f"cannot read {spec} from git: {reason}", path=spec)])
        return source_from_bytes(spec, proc.stdout)
    return read_mapping(spec)


# ------------------------------------------------------------------ structure


def text_of(node: ast.Node | None) -> str:
    """An expression, or a value built from YAML, on one line: the one printer of the tree (`unparse`)."""
    return "" if node is None else unparse(node)


def shape_fields(node: ast.Node, path: str) -> Iterator[tuple[str, str]]:
    """(field path, expression) for every output field of a body."""
    if isinstance(node, ast.Object):
        for entry in node.entries:
            if isinstance(entry, ast.Spread):
                yield f"{path}{{...{text_of(entry.value)}}}" if path else f"{{...{text_of(entry.value)}}}", \
                    text_of(entry.value)
                continue
            key = entry.key.value if isinstance(entry.key, ast.Literal) else text_of(entry.key)
            sub = f"{path}.{key}" if path else str(key)
            if isinstance(entry.value, ast.Object | ast.List):
                yield from shape_fields(entry.value, sub)
            else:
                yield sub, text_of(entry.value)
    elif isinstance(node, ast.List):
        for i, item in enumerate(node.items):
            if isinstance(item, ast.ForEach):
                yield f"{path}[] (for {item.var} in)", text_of(item.iterable)
                if item.condition is not None:
                    yield f"{path}[] (if)", text_of(item.condition)
                yield from shape_fields(item.body, f"{path}[]")
            else:
                yield from shape_fields(item, f"{path}[{i}]")
    else:
        yield path, text_of(node)


def rule_fields(rule: ast.Rule) -> dict[str, str]:
    out = {"when": text_of(rule.condition) if rule.condition is not None else "(always)"}
    if rule.action != "send":
        out[rule.action] = text_of(rule.message)
        return out
    for req in rule.requests:
        if req.condition is not None:
            out[f"{req.endpoint} when"] = text_of(req.condition)
        for path, expr in shape_fields(req.body, ""):
            out[f"{req.endpoint} {path}"] = expr
    return out


@dataclass
class Change:
    kind: str  # "added" "removed" "changed"
    what: str
    old: str = ""
    new: str = ""


def structural(old: ast.Document, new: ast.Document) -> list[Change]:
    changes: list[Change] = []

    def compare(kind: str, a: dict[str, str], b: dict[str, str]) -> None:
        for name in a:
            if name not in b:
                changes.append(Change("removed", f"{kind} {name}", a[name]))
            elif a[name] != b[name]:
                changes.append(Change("changed", f"{kind} {name}", a[name], b[name]))
        for name in b:
            if name not in a:
                changes.append(Change("added", f"{kind} {name}", new=b[name]))

    def setting(s: ast.SettingDecl) -> str:
        default = "" if s.default is ast.MISSING else f", default {json.dumps(s.default)}"
        return f"{s.type}{default}"

    if text_of(old.base_url) != text_of(new.base_url):
        changes.append(Change("changed", "base_url", text_of(old.base_url), text_of(new.base_url)))
    compare("setting", {s.name: setting(s) for s in old.settings}, {s.name: setting(s) for s in new.settings})
    compare("let", {f"${x.name}": text_of(x.value) for x in old.lets}, {f"${x.name}": text_of(x.value) for x in new.lets})
    old_rules = {r.name: r for r in old.rules}
    new_rules = {r.name: r for r in new.rules}
    common_old = [r for r in old_rules if r in new_rules]
    common_new = [r for r in new_rules if r in old_rules]
    if common_old != common_new:
        changes.append(Change("changed", "rule order", ", ".join(common_old), ", ".join(common_new)))
    for name, rule in old_rules.items():
        if name not in new_rules:
            changes.append(Change("removed", f"rule `{name}`", rule_summary(rule)))
    for name, rule in new_rules.items():
        if name not in old_rules:
            changes.append(Change("added", f"rule `{name}`", new=rule_summary(rule)))
            continue
        compare(f"rule `{name}`:", rule_fields(old_rules[name]), rule_fields(rule))
    return changes


def rule_summary(rule: ast.Rule) -> str:
    when = f"when {text_of(rule.condition)}" if rule.condition is not None else "always"
    if rule.action == "send":
        return f"{when}: sends to {', '.join(r.endpoint for r in rule.requests) or 'nothing'}"
    return f"{when}: {rule.action} {text_of(rule.message)}"


# ------------------------------------------------------------------ behaviour


def flatten(requests: list[dict]) -> dict[str, Any]:
    """Every leaf of every request, keyed `/users/track events[0].name`; lists of objects are indexed."""
    out: dict[str, Any] = {}
    for request in requests:
        endpoint = urlsplit(request["url"]).path
        out[f"{endpoint} (url)"] = request["url"]

        def walk(value: Any, path: str, endpoint: str = endpoint, depth: int = 0) -> None:
            if depth < MAX_DEPTH and isinstance(value, dict) and value:  # deeper values are compared whole
                for k, v in value.items():
                    walk(v, f"{path}.{k}" if path else k, depth=depth + 1)
            elif depth < MAX_DEPTH and isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                for i, v in enumerate(value):
                    walk(v, f"{path}[{i}]", depth=depth + 1)
            else:
                key = f"{endpoint} {path}"
                while key in out:  # two requests to one endpoint: keep both
                    key += "'"
                out[key] = value

        walk(request["body"], "")
    return out


def general(path: str) -> str:
    return re.sub(r"\[\d+\]", "[]", path)


@dataclass
class FieldStats:
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # kind -> events
    examples: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))


@dataclass
class Behaviour:
    events: int = 0
    differing: int = 0
    unreadable: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # newly rejected, ...
    outcome_examples: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))
    fields: dict[str, FieldStats] = field(default_factory=lambda: defaultdict(FieldStats))


MAX_DEPTH = 64  # fields nested deeper are compared as one value


def _run(translate, event: dict) -> dict:
    try:
        return {"requests": translate(event)}
    except Rejected as e:
        return {"rejected": str(e)}
    except Exception as e:  # noqa: BLE001 - a translator failing on an event is a difference to show, not a crash
        return {"error": f"{type(e).__name__}: {e}"}


def equal(a: Any, b: Any) -> bool:
    """JSON values equal (as ==), at any depth, without recursion."""
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if isinstance(x, dict) and isinstance(y, dict):
            if x.keys() != y.keys():
                return False
            stack.extend((x[k], y[k]) for k in x)
        elif isinstance(x, list) and isinstance(y, list):
            if len(x) != len(y):
                return False
            stack.extend(zip(x, y, strict=True))
        elif isinstance(x, dict | list) or isinstance(y, dict | list) or x != y:
            return False
    return True


def _copy(event: dict) -> dict:
    """A copy of an event for one translator, so that neither sees what the other did to it."""
    try:
        return jsonio.loads(jsonio.dumps(event))
    except (jsonio.Unencodable, jsonio.BadJSON):
        return event  # beyond what JSON writes back: the translators are pure functions of it


def behaviour(old_t, new_t, events: Iterable[tuple[int, Any]], examples: int = EXAMPLES) -> Behaviour:
    """Run both translators on each (line, event) and count what differs, keeping `examples` events of each
    kind of difference, named by line, message id and event (`line 29, messageId "m-29", track "Signed Up"`)."""
    b = Behaviour()
    for line, event in events:
        if not isinstance(event, dict):
            b.unreadable += 1
            continue
        b.events += 1
        old = _run(old_t, _copy(event))
        new = _run(new_t, _copy(event))
        if equal(old, new):
            continue
        b.differing += 1
        outcome = None
        if "error" in new or "error" in old:
            outcome = ("newly failing" if "error" not in old else "no longer failing" if "error" not in new
                       else "failing differently")
        elif "rejected" in new and "rejected" not in old:
            outcome = "newly rejected"
        elif "rejected" in old and "rejected" not in new:
            outcome = "no longer rejected"
        elif "rejected" in old:
            outcome = "rejected with another message"
        elif old["requests"] and not new["requests"]:
            outcome = "newly skipped (nothing sent)"
        elif new["requests"] and not old["requests"]:
            outcome = "newly sent"
        if outcome is not None:
            b.outcomes[outcome] += 1
            if len(b.outcome_examples[outcome]) < examples:
                b.outcome_examples[outcome].append({**_name(event, line), "old": _summary(old), "new": _summary(new)})
            if "requests" not in old or "requests" not in new or not old["requests"] or not new["requests"]:
                continue
        a, c = flatten(old["requests"]), flatten(new["requests"])
        seen: dict[tuple[str, str], bool] = {}
        for key in list(a) + [k for k in c if k not in a]:
            if key in a and key in c:
                if equal(a[key], c[key]):
                    continue
                kind = "changed"
            else:
                kind = "removed" if key in a else "added"
            name = general(key)
            stats = b.fields[name]
            if (name, kind) not in seen:
                seen[(name, kind)] = True
                stats.counts[kind] += 1
            if len(stats.examples[kind]) < examples and not any(x["line"] == line for x in stats.examples[kind]):
                stats.examples[kind].append({**_name(event, line), "old": a.get(key, ast.MISSING),
                                             "new": c.get(key, ast.MISSING)})
    return b


def _name(event: dict, line: int) -> dict[str, Any]:
    """How an example names its event: its line, message id and label, and all three as text."""
    out: dict[str, Any] = {"line": line}
    ident = event.get(ID_FIELD)
    if ident is not None:
        out[ID_FIELD] = ident
    label = label_of(event)
    if label:
        out["label"] = label
    out["event"] = describe(event, line)
    return out


def _summary(result: dict) -> str:
    if "error" in result:
        return f"the translator failed: {result['error']}"
    if "rejected" in result:
        return f"rejected: {result['rejected']}"
    if not result["requests"]:
        reason = getattr(result["requests"], "reason", None)
        return f"skipped ({reason})" if isinstance(reason, str) else "nothing sent"
    return "sends " + ", ".join(f"{r['method']} {urlsplit(r['url']).path}" for r in result["requests"])


# ------------------------------------------------------------------ reports


def _show(value: Any) -> str:
    if value is ast.MISSING:
        return "(absent)"
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (RecursionError, ValueError, TypeError):
        return "(a value nested too deep to show)"
    return text if len(text) <= 60 else text[:57] + "..."


def render_text(old: Compiled, new: Compiled, changes: list[Change], b: Behaviour | None, events_label: str) -> str:
    """The report for people; what comes from the mappings or the events has its control characters escaped
    (`mapspec.terminal`), so a rule name or an event value cannot drive the terminal or fake a line."""
    line_of = printable_line
    out = [line_of(f"--- {old.source.path}"), line_of(f"+++ {new.source.path}"), ""]
    if changes:
        out.append(f"structure: {len(changes)} change{'s' * (len(changes) != 1)}")
        sign = {"added": "+", "removed": "-", "changed": "~"}
        for c in changes:
            if c.kind == "changed":
                out.append(f"  ~ {line_of(c.what)}\n      - {line_of(c.old)}\n      + {line_of(c.new)}")
            else:
                out.append(f"  {sign[c.kind]} {line_of(c.what)}: {line_of(c.old or c.new)}")
    else:
        out.append("structure: no change")
    if b is None:
        return printable("\n".join(out) + "\n")
    out.append("")
    head = f"behaviour on {b.events} event{'s' * (b.events != 1)} ({line_of(events_label)}): "
    out.append(head + (f"{b.differing} differ" if b.differing else "no difference"))
    if b.unreadable:
        out.append("  (1 line is not a JSON object and was left out)" if b.unreadable == 1 else
                   f"  ({b.unreadable} lines are not JSON objects and were left out)")
    def more(count: int, shown: int, kind: str = "") -> None:
        if count > shown and shown:
            out.append(f"      and {count - shown} more" + (f" {kind}" if kind else ""))

    for outcome, count in sorted(b.outcomes.items(), key=lambda kv: -kv[1]):
        out.append(f"  {outcome}: {count} event{'s' * (count != 1)}")
        for ex in b.outcome_examples[outcome]:
            out.append(f"      {line_of(ex['event'])}: {line_of(ex['old'])}  ->  {line_of(ex['new'])}")
        more(count, len(b.outcome_examples[outcome]))
    for name in sorted(b.fields, key=lambda n: (-sum(b.fields[n].counts.values()), n)):
        stats = b.fields[name]
        parts = [f"{kind} in {stats.counts[kind]}" for kind in ("changed", "added", "removed") if stats.counts[kind]]
        out.append(f"  {line_of(name)}: {', '.join(parts)} event{'s' * (max(stats.counts.values()) != 1)}")
        for kind in ("changed", "added", "removed"):
            for ex in stats.examples.get(kind, []):
                out.append(f"      {line_of(ex['event'])}: {line_of(_show(ex['old']))} -> {line_of(_show(ex['new']))}")
            several = sum(1 for k in stats.counts if stats.counts[k]) > 1
            more(stats.counts[kind], len(stats.examples.get(kind, [])), kind if several else "")
    return printable("\n".join(out) + "\n")


def render_json(old: Compiled, new: Compiled, changes: list[Change], b: Behaviour | None) -> str:
    def plain(v):
        if v is ast.MISSING:
            return None
        try:
            json.dumps(v)
        except (RecursionError, ValueError, TypeError):
            return "(a value nested too deep to show)"
        return v

    doc: dict[str, Any] = {
        "old": old.source.path, "new": new.source.path,
        "structure": [{"kind": c.kind, "what": c.what, "old": c.old or None, "new": c.new or None} for c in changes],
    }
    if b is not None:
        doc["behaviour"] = {
            "events": b.events, "differing": b.differing, "unreadable": b.unreadable,
            "outcomes": {k: {"events": v, "examples": [{x: e[x] for x in e if x != "event"}
                                                       for e in b.outcome_examples[k]],
                             "more": v - len(b.outcome_examples[k])} for k, v in b.outcomes.items()},
            "fields": {name: {kind: {"events": stats.counts[kind],
                                     "examples": [{**{x: e[x] for x in ("line", ID_FIELD, "label") if x in e},
                                                   "old": plain(e["old"]), "new": plain(e["new"]),
                                                   "old_present": e["old"] is not ast.MISSING,
                                                   "new_present": e["new"] is not ast.MISSING}
                                                  for e in stats.examples.get(kind, [])],
                                     "more": stats.counts[kind] - len(stats.examples.get(kind, []))}
                              for kind in stats.counts}
                       for name, stats in sorted(b.fields.items())},
        }
        doc["equivalent"] = b.differing == 0
    else:
        doc["equivalent"] = not changes
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
