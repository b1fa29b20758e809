"""Examples carried by a mapping, run by `mapspec test`.

A mapping's examples live in a sibling file (`x.test.yaml` beside `x.yaml`) or under `examples:` in the
mapping itself. Each is an event, optional settings, and what it must give:

    - name: identify with standard traits
      settings: {app_id: my-app}          # optional
      event: {type: identify, userId: u1, traits: {firstName: Jane}}
      rule: identify                      # optional: the rule that must decide
      requests:                           # what it must send (`requests: []`: nothing)
        - url: https://rest.iad-01.braze.com/users/track
          body: {attributes: [{external_id: u1, first_name: Jane, _update_existing_only: false}]}

    Instead of `requests`, `rejected: <part of the message>` expects a rejection and `skipped: <part of the
    reason>` a skip (`true` for any message or reason; `reject:` and `skip:`, as rules write them, are read
    the same). With `match: all`, `requests` and `rejected` together expect both.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import limits
from .compiler import Compiled, check_source, compile_source, load_compiled, source_from_bytes
from .diagnostics import DiagnosticBag
from .errors import CompileError
from .source import SourceFile
from .syntax import yamldata
from .syntax.document import parse_document
from .trace import traced_run

EXAMPLE_KEYS = {"name", "event", "settings", "rule", "requests", "rejected", "skipped"}
#: the expectations as rules write their actions: read as the others
ALIASES = {"reject": "rejected", "skip": "skipped"}


@dataclass
class Example:
    name: str
    location: str
    event: Any
    settings: dict[str, Any]
    expect: dict[str, Any]
    rule: str | None = None


@dataclass
class Outcome:
    example: Example
    ok: bool
    fired: str | None
    problem: str = ""


@dataclass
class Report:
    mapping: str
    outcomes: list[Outcome] = field(default_factory=list)
    uncovered: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: with `coverage=True`: what the examples reach (`mapspec test --coverage`)
    coverage: Any = None

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]


class ExampleError(Exception):
    pass


def example_files(source: SourceFile) -> list[tuple[str, str]]:
    """(path, text) of every file that holds examples for this mapping."""
    out = []
    path = Path(source.path)
    sibling = path.with_name(path.name[:-5] + ".test.yaml") if path.name.endswith(".yaml") else None
    if sibling is not None:
        for candidate in [sibling]:
            if candidate.is_file():
                try:
                    example = source_from_bytes(str(sibling), limits.read_bytes(candidate))
                except CompileError as e:  # not UTF-8: where
                    raise ExampleError("\n".join(d.render() for d in e.diagnostics)) from None
                except OSError as e:
                    raise ExampleError(f"{sibling}: cannot read it: {e.strerror}") from None
                out.append((example.path, example.text))
                break
    return out


def _examples_from_node(node: yaml.Node, source: SourceFile) -> list[Example]:
    def at(n: yaml.Node) -> str:
        return yamldata.node_span(source, n).location()

    if not isinstance(node, yaml.SequenceNode):
        raise ExampleError(f"{at(node)}: examples must be a list")
    out = []
    for item in node.value:
        where = at(item)
        keys = {k.value: (k, v) for k, v in item.value if isinstance(k, yaml.ScalarNode)} \
            if isinstance(item, yaml.MappingNode) else {}
        try:
            data = yamldata.data(item)
        except yamldata.DataError as e:
            span = yamldata.node_span(source, e.node)
            raise ExampleError(f"{span.location()}: {e.message}" + (f" ({e.hint})" if e.hint else "")) from None
        if not isinstance(data, dict) or "event" not in data:
            raise ExampleError(f"{where}: an example needs an `event`")
        for alias, key in ALIASES.items():
            if alias in data:
                if key in data:
                    raise ExampleError(f"{where}: give `{key}` or `{alias}`, not both")
                data[key] = data.pop(alias)
        unknown = sorted(set(data) - EXAMPLE_KEYS)
        if unknown:
            first = keys[unknown[0]][0] if unknown[0] in keys else item
            raise ExampleError(f"{at(first)}: unknown key(s) {', '.join(unknown)}; "
                               f"an example has {', '.join(sorted(EXAMPLE_KEYS))}")
        expect = {k: data[k] for k in ("requests", "rejected", "skipped") if k in data}
        if not expect or ("skipped" in expect and len(expect) > 1):
            raise ExampleError(f"{where}: an example expects `requests`, `rejected` (or both, with `match: all`) "
                               "or `skipped`")
        names = {key: key for key in keys} | {alias: key for alias, key in ALIASES.items() if alias in keys}
        value_at = {key: where for key in EXAMPLE_KEYS} | {names[k]: at(v) for k, (_, v) in keys.items()}
        if not isinstance(data.get("settings") or {}, dict):
            raise ExampleError(f"{value_at['settings']}: an example's `settings` must be an object of setting "
                               "names to values")
        if "requests" in expect and not (isinstance(expect["requests"], list)
                                         and all(isinstance(r, dict) for r in expect["requests"])):
            raise ExampleError(f"{value_at['requests']}: `requests` must be a list of requests (objects with "
                               "`url` and `body`), not " + _kind(expect["requests"]))
        for key in ("rejected", "skipped"):
            if key in expect and not (expect[key] is True or isinstance(expect[key], str)):
                raise ExampleError(f"{value_at[key]}: `{key}` must be true, or text its message contains, not "
                                   + _kind(expect[key]))
        out.append(Example(str(data.get("name") or f"example at line {item.start_mark.line + 1}"), where,
                           data["event"], dict(data.get("settings") or {}), expect, data.get("rule")))
    return out


def _kind(value: Any) -> str:
    from .jsonio import kind

    return kind(value) if not isinstance(value, list) else "a list of " + ", ".join(sorted({kind(v) for v in value}))


def _compose(source: SourceFile) -> yaml.Node | None:
    """An example file's root, read with the same checks as a mapping (aliases, depth, characters)."""
    diags = DiagnosticBag()
    node = yamldata.compose(source, diags)
    if diags.errors:
        raise ExampleError("\n".join(d.render() for d in diags.errors))
    return node


def load_examples(source: SourceFile) -> list[Example]:
    examples: list[Example] = []
    try:
        root = _compose(source)
    except ExampleError:
        root = None  # the mapping's own errors are reported by checking it
    if isinstance(root, yaml.MappingNode):
        for k, v in root.value:
            if isinstance(k, yaml.ScalarNode) and k.value == "examples":
                examples.extend(_examples_from_node(v, source))
    for path, text in example_files(source):
        node = _compose(SourceFile(path, text))
        if node is not None:
            examples.extend(_examples_from_node(node, SourceFile(path, text)))
    return examples


def _normalise(requests: Any) -> Any:
    if not isinstance(requests, list):
        return requests
    return [dict({"method": "POST"}, **r) if isinstance(r, dict) else r for r in requests]


def _diff(expected: Any, actual: Any) -> str:
    a = json.dumps(expected, indent=2, sort_keys=True, ensure_ascii=False).splitlines()
    b = json.dumps(actual, indent=2, sort_keys=True, ensure_ascii=False).splitlines()
    return "\n".join(difflib.unified_diff(a, b, "expected", "actual", lineterm="", n=2))


def _got(result: dict[str, Any]) -> str:
    """What an event gave, in a few words, for a failure."""
    if "error" in result:
        return f"the translator failed: {result['error']}"
    if "rejected" in result:
        return f"rejected with {result['rejected']['message']!r}"
    requests = result["requests"]
    if not requests:
        reason = getattr(requests, "reason", None)
        return f"skipped ({reason!r})" if isinstance(reason, str) else "nothing sent"
    return f"{len(requests)} request{'s' * (len(requests) != 1)}:\n" + _diff(None, requests)


def _compare(expect: dict[str, Any], result: dict[str, Any]) -> str:
    """Why a result is not what an example expects, or "" when it is."""
    if "error" in result:
        return _got(result)
    if "skipped" in expect:
        want = expect["skipped"]
        requests = result.get("requests")
        if "rejected" in result or requests:
            return f"expected a skip, got {_got(result)}"
        reason = getattr(requests, "reason", None)
        if want is not True and (not isinstance(reason, str) or str(want) not in reason):
            return f"skipped with {reason!r}, which does not contain {str(want)!r}"
        return ""
    if "rejected" in expect:
        want = expect["rejected"]
        got = result.get("rejected")
        if got is None:
            return f"expected a rejection, got {_got(result)}"
        if want is not True and str(want) not in got["message"]:
            return f"rejected with {got['message']!r}, which does not contain {str(want)!r}"
    if "requests" in expect:
        want = _normalise(expect["requests"])
        if "rejected" in result and "rejected" not in expect:
            return f"expected requests, got {_got(result)}"
        if list(result.get("requests") or []) != want:
            return _diff(want, list(result.get("requests") or []))
    return ""


def run_examples(source: SourceFile, coverage: bool = False) -> Report:
    """Run a mapping's examples; with `coverage`, also count what they reach (`mapspec.coverage`)."""
    report = Report(source.path)
    _, diagnostics = check_source(source)
    errors = [d for d in diagnostics if d.severity == "error"]
    if errors:  # not a mapping (a test file named alone, `[]`), or a broken one: nothing can run
        report.errors.extend(d.render() for d in errors)
        if source.path.endswith(".test.yaml"):
            report.errors.append(f"{source.path} is a file of examples: name the mapping it tests "
                                 f"({source.path[:-len('.test.yaml')]}.yaml)")
        return report
    try:
        examples = load_examples(source)
    except ExampleError as e:
        report.errors.append(str(e))
        return report
    compiled: dict[str, tuple[Compiled, Any]] = {}
    counters: dict[str, Any] = {}
    fired_names: set[str] = set()
    for ex in examples:
        key = json.dumps(ex.settings, sort_keys=True)
        if key not in compiled:
            try:
                c = compile_source(source, ex.settings, settings_origin=ex.location, standalone=False)
            except CompileError as e:
                report.outcomes.append(Outcome(ex, False, None, "\n".join(d.render() for d in e.diagnostics)))
                continue
            compiled[key] = (c, load_compiled(c))
        c, translate = compiled[key]
        if not isinstance(ex.event, dict):
            report.outcomes.append(Outcome(ex, False, None, "the event must be an object"))
            continue
        trace = traced_run(c, translate, json.loads(json.dumps(ex.event)))
        if coverage:
            from .coverage import Counter

            if key not in counters:
                counters[key] = Counter(c)
            counters[key].add(json.loads(json.dumps(ex.event)))
        fired = trace.fired.name if trace.fired else None
        if fired:
            fired_names.add(fired)
        problem = ""
        if ex.rule is not None and ex.rule != fired:
            problem = f"rule `{fired}` decided, not `{ex.rule}`"
        else:
            problem = _compare(ex.expect, trace.result)
        report.outcomes.append(Outcome(ex, not problem, fired, problem))
    if counters:
        from .coverage import merge

        report.coverage = merge([c.report for c in counters.values()])
    doc = parse_document(source, DiagnosticBag())
    if doc is not None and examples:
        report.uncovered = [r.name for r in doc.rules if r.name not in fired_names]
    return report
