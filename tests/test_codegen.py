"""The generated Python: pinned for the default mapping, deterministic, standalone, and safe from injection."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

import mapspec
from mapspec.compiler import compile_source, read_mapping
from mapspec.source import SourceFile
from tests.conftest import compile_text, run


def test_default_mapping_module(snapshot_py):
    source = compile_source(read_mapping("segment-braze")).module.source
    compile(source, "segment-braze.py", "exec")
    assert source == snapshot_py


def test_same_input_same_source():
    a = compile_source(read_mapping("segment-braze"), {"app_id": "x"}).module.source
    b = compile_source(read_mapping("segment-braze"), {"app_id": "x"}).module.source
    assert a == b


def test_settings_known_at_compile_time_remove_code_paths():
    off = compile_source(read_mapping("segment-braze")).module.source
    on = compile_source(read_mapping("segment-braze"), {"track_all_pages": True}).module.source
    assert "Loaded a " not in off and "Loaded a " in on
    assert "'revenue'" not in off
    assert "settings" not in off.split("def translate", 1)[1]


def test_each_event_path_is_read_once_per_rule():
    """No `.get()` of the same key from the same parent twice on one line of execution of a rule."""
    source = compile_source(read_mapping("segment-braze"), {"track_all_pages": True}).module.source
    body = source.split("def translate", 1)[1]
    reads = re.compile(r"^( *)(\w+) = (\w+)\.get\(('[^']*')")
    for block in body.split("    # rule ")[1:]:
        stack: list[tuple[int, set]] = []
        for line in block.splitlines():
            m = reads.match(line)
            if not m:
                continue
            depth = len(m.group(1))
            stack = [(d, seen) for d, seen in stack if d <= depth]
            if not stack or stack[-1][0] < depth:
                stack.append((depth, set()))
            read = (m.group(3).rstrip("_0123456789"), m.group(4))
            assert all(read not in seen for _, seen in stack), f"{read} read twice:\n{block}"
            stack[-1][1].add(read)


CLASSIC = {"appGroupId": "AG", "datacenter": "eu", "apiKey": "k", "updateExistingOnly": True, "trackNamedPages": True}


RUDDERSTACK = {"dataCenter": "eu-01", "enableNestedArrayOperations": True, "useEcommerceRecommendedEvents": True,
               "sendPurchaseEventWithExtraProperties": True}


def _python(version: str) -> str | None:
    """An interpreter of that version, if this machine has one (on PATH, or installed by pyenv)."""
    import glob
    import os
    import shutil

    if version == "current":
        return sys.executable
    candidates = sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python")))
    candidates.append(shutil.which(f"python{version}") or "")
    for candidate in candidates:  # (a pyenv shim on PATH may not run: try each)
        if candidate and subprocess.run([candidate, "-c", "pass"], capture_output=True).returncode == 0:
            return candidate
    return None


@pytest.mark.parametrize("python", ["current", "3.9"])
@pytest.mark.parametrize("mapping,settings", [("segment-braze", {"track_all_pages": True}),
                                              ("segment-classic", CLASSIC), ("rudderstack", RUDDERSTACK)])
def test_standalone_module_imports_only_the_standard_library(tmp_path, corpus, mapping, settings, python):
    """The module needs nothing but the standard library, of Python 3.9 or newer, and agrees with load()."""
    interpreter = _python(python)
    if interpreter is None:
        pytest.skip(f"no Python {python} on this machine")
    corpus = [e for e in corpus if "timestamp" in e or mapping == "segment-braze"]  # classic: now() otherwise
    path = tmp_path / "translator.py"
    path.write_text(compile_source(read_mapping(mapping), settings).module.source)
    script = (
        "import json, sys\n"
        "sys.modules['lark'] = sys.modules['yaml'] = sys.modules['jinja2'] = sys.modules['mapspec'] = None\n"
        "import translator\n"
        "out = []\n"
        "for line in sys.stdin:\n"
        "    try:\n"
        "        out.append({'requests': translator.translate(json.loads(line))})\n"
        "    except translator.Rejected as e:\n"
        "        out.append({'rejected': {'message': str(e)}})\n"
        "print(json.dumps(out))\n"
    )
    proc = subprocess.run([interpreter, "-I", "-c", f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n" + script],
                          input="".join(json.dumps(e) + "\n" for e in corpus), capture_output=True, text=True,
                          check=True, cwd=tmp_path)
    standalone = json.loads(proc.stdout)
    loaded = mapspec.load(mapping, settings)
    assert standalone == [run(loaded, e) for e in corpus]


def test_standalone_module_says_which_python_it_needs(monkeypatch):
    source = compile_source(read_mapping("segment-braze")).module.source
    assert "Python 3.9 or newer" in source.split('"""')[1]
    monkeypatch.setattr(sys, "version_info", (3, 8, 18, "final", 0))
    with pytest.raises(ImportError, match="this translator needs Python 3.9 or newer"):
        exec(compile(source, "translator.py", "exec"), {"__name__": "translator"})  # noqa: S102


NASTY = "x'); import os; os.system('echo pwned') #\n\"\"\"\\"


def raw(text: str) -> str:
    """A mapping string literal ('...') holding exactly `text`."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def yq(text: str) -> str:
    """A YAML scalar holding exactly `text` (JSON strings are YAML double-quoted scalars)."""
    return json.dumps(text)


def test_mapping_text_never_becomes_code():
    text = (
        f"name: {yq(NASTY)}\n"
        "base_url: settings.url\n"
        "settings:\n"
        f"  url: {{type: string, default: {yq(NASTY)}}}\n"
        "let:\n"
        f"  nasty: {yq(raw(NASTY))}\n"
        "rules:\n"
        f"  - name: {yq(NASTY)}\n"
        f"    when: {yq('traits[' + raw(NASTY) + '] == $nasty')}\n"
        "    send:\n"
        "      endpoint: /users/track\n"
        "      body:\n"
        "        attributes:\n"
        f"          - {yq(NASTY)}: $nasty\n"
        "            external_id: '\"u1\"'\n"
        f"            {yq('pre{traits.k}post')}: 1\n"
        f"  - reject: {yq(raw(NASTY))}\n"
    )
    compiled = compile_source(SourceFile("nasty.yaml", text))
    compile(compiled.module.source, "nasty.py", "exec")
    t = compile_text(text)
    [req] = t({"traits": {NASTY: NASTY, "k": NASTY}})
    assert req["url"] == NASTY + "/users/track"
    assert req["body"]["attributes"][0] == {NASTY: NASTY, "external_id": "u1", "pre" + NASTY + "post": 1}
    with pytest.raises(mapspec.Rejected) as e:
        t({})
    assert str(e.value) == NASTY


def test_missing_drops_a_field_and_null_sends_null():
    t = compile_text(
        "name: t\nbase_url: '\"http://x\"'\nrules:\n  - send:\n      endpoint: /users/track\n      body:\n"
        "        attributes:\n          - external_id: '\"u1\"'\n            a: traits.a\n            b: traits.b else \"B\"\n"
        "            c: traits.c\n")
    [req] = t({"traits": {"a": None}})
    assert req["body"]["attributes"] == [{"external_id": "u1", "a": None, "b": "B"}]


def test_a_branch_reading_a_new_field_beside_one_read_before_compiles():
    """The reads of `context.ids[0].id` (its parent read before) once landed between the `if` that reads
    `context.flag` and its `else`: the generated module did not compile."""
    t = compile_text(
        "name: t\nbase_url: '\"http://x\"'\nrules:\n  - send:\n      endpoint: /users/track\n      body:\n"
        "        attributes:\n          - external_id: '\"u1\"'\n            a: context.ids\n"
        "            b: '[context.flag, context.ids[0].id, context.ids[1].id] if v else 1'\n")
    [req] = t({"v": 1, "context": {"flag": 2, "ids": [{"id": "x"}, 3]}})
    assert req["body"]["attributes"] == [{"external_id": "u1", "a": [{"id": "x"}, 3], "b": [2, "x"]}]
    [req] = t({"v": 1, "context": "not an object"})
    assert req["body"]["attributes"] == [{"external_id": "u1", "b": []}]


MANY_USES = """\
name: t
base_url: '"http://x"'
let:
  when_: iso_time(timestamp)
  who: >-
    (to_string(integrations.X.id) if is_number(integrations.X.id))
    else (to_string(context.integrations.X.id) if is_number(context.integrations.X.id))
rules:
  - name: needs a time
    when: type == "track" and not exists($when_)
    reject: '"no time"'
  - name: alias
    when: type == "alias"
    skip: '"not sent"'
  - name: items
    when: type == "order"
    send:
      endpoint: /users/track
      body:
        purchases:
          - for: $p in properties.products
            yield: {product_id: $p.id, time: $when_, external_id: $who, currency: '"USD"', price: 1}
  - name: track
    when: type == "track"
    send:
      endpoint: /users/track
      body:
        events: [{name: event, time: $when_, external_id: $who if exists($who) else "anon"}]
  - name: other
    when: exists($who)
    send:
      endpoint: /users/track
      body: {attributes: [{external_id: $who}]}
"""


@pytest.mark.parametrize(("event", "times", "whos"), [
    ({"type": "alias", "timestamp": "2024-01-01T00:00:00Z"}, 0, 0),  # no rule taken needs either
    ({"type": "track", "event": "e", "timestamp": "2024-01-01T00:00:00Z", "integrations": {"X": {"id": 7}}}, 1, 1),
    # rejected first: no $who (a time that is there but does not parse: a missing one calls no helper)
    ({"type": "track", "event": "e", "timestamp": "soon", "integrations": {"X": {"id": 7}}}, 1, 0),
    ({"type": "order", "timestamp": 5, "integrations": {"X": {"id": 7}},
      "properties": {"products": [{"id": 1}, {"id": 2}, {"id": 3}]}}, 1, 1),  # in a loop: once
    ({"type": "order", "properties": {"products": []}}, 0, 0),  # the loop never runs: never needed
    ({"type": "page", "integrations": {"X": {"id": 7}}}, 0, 1),
])
def test_each_definition_is_computed_at_most_once_per_event_and_only_when_needed(monkeypatch, event, times, whos):
    """The schema says a definition is computed at most once per event: the generated module once computed
    one on every branch that needed it, and some for every event whether a rule needed them or not."""
    import mapspec.runtime as runtime

    counts = {"iso_time": 0, "to_string": 0}
    for name in counts:
        real = getattr(runtime, name)

        def counting(*args, _real=real, _name=name):
            counts[_name] += 1
            return _real(*args)

        monkeypatch.setattr(runtime, name, counting)
    t = compile_text(MANY_USES)
    run(t, event)
    assert counts["iso_time"] == times
    # (a number: to_string gives text back as it is, without a call)
    assert counts["to_string"] in ((1, 2) if whos else (0,))  # the first of two, or both
    if whos:  # the definition's code is written once, whatever the number of places that need it
        source = compile_source(SourceFile("t.yaml", MANY_USES), standalone=False).module.source
        assert source.count("'X'") == 2


def test_a_read_after_a_kind_test_in_an_and_is_safe_where_the_test_fails():
    """`is_object($a) and $a.b` read `$a.b` outside the test (`.get` on a text: AttributeError), when the
    right side was written inline: what the left side says holds only inside it."""
    from tests.conftest import compile_text
    t = compile_text(
        "name: t\nbase_url: '\"https://x.example\"'\nlet:\n  a: properties.p\nfunctions:\n"
        "  alias($x): '{\"name\": $x.name} if is_object($x) and $x.name'\nrules:\n  - name: r\n    when: true\n"
        "    send:\n      endpoint: /users/track\n      body: {attributes: [{external_id: userId, v: alias($a)}]}\n")
    for p in ["text", 7, None, [1], {"name": "n"}, {}]:
        [request] = t({"userId": "u", "properties": {"p": p}})
        assert request["body"]["attributes"][0].get("v") == ({"name": "n"} if p == {"name": "n"} else None), p


@pytest.mark.parametrize("name", ["segment-braze", "segment-classic", "rudderstack", "segment-actions"])
def test_a_translator_that_shares_gives_the_same_requests_without_copying(name):
    """`share=True` (what `run` and `translate` use: they own their events) leaves out the copies that keep a
    library caller's event apart from the requests; what it sends is the same."""
    import copy
    import json

    import mapspec
    from bench.events import realistic_mix

    settings = {"appGroupId": "g", "datacenter": "us"} if name == "segment-classic" else \
        {"dataCenter": "us-01"} if name == "rudderstack" else {}
    owned, kept = mapspec.load(name, settings, share=True), mapspec.load(name, settings)

    def result(translate, event):
        try:
            return json.dumps(translate(event))
        except mapspec.Rejected as e:
            return f"rejected: {e}"

    shared = 0
    for event in realistic_mix(1500, seed=3):
        event = dict(event, timestamp="2024-05-01T12:00:00Z")  # (classic stamps an event without one with now)
        for part in ("properties", "traits"):
            if isinstance(event.get(part), dict):
                event[part] = dict(event[part], nested={"list": [1, {"deep": True}]})
        assert result(owned, copy.deepcopy(event)) == result(kept, copy.deepcopy(event))
        try:
            requests = owned(event)
        except mapspec.Rejected:
            continue
        inside = {id(v) for v in _containers(event)}
        shared += any(id(v) in inside for v in _containers(requests))
        assert not any(id(v) in inside for v in _containers(kept(event)))
    if name == "segment-braze":
        assert shared > 100  # (properties and traits pass as they are)


def _containers(value):
    todo = [value]
    while todo:
        v = todo.pop()
        if isinstance(v, dict):
            todo.extend(v.values())
            yield v
        elif isinstance(v, list):
            todo.extend(v)
            yield v


def test_translate_keeps_none_of_a_loops_locals():
    """A rule whose requests loop is a function of its own, which the call passes what translate() knows:
    translate() does not hold the loop's locals, which Python would clear on every call, for every event."""
    import mapspec

    translate = mapspec.load("segment-braze", {"track_all_pages": True})
    assert not {"i_product", "v_product_price", "e_properties_products"} & set(translate.__code__.co_varnames)
    order = {"type": "track", "event": "Order Completed", "timestamp": "2024-05-01T12:00:00Z",
             "integrations": {"Braze": {"braze_id": "b1"}}, "properties": {"products": [{"id": 1}, {"id": 2}]}}
    purchases = translate(order)[0]["body"]["purchases"]
    assert [p["braze_id"] for p in purchases] == ["b1", "b1"] and [p["product_id"] for p in purchases] == [1, 2]


DEEP_GUARDS = """\
name: deep guards
base_url: '"http://x"'
let:
  id: >-
    (non_empty(a.b.c) if is_string(a.b.c)) else (non_empty(x.y.z.w) if is_string(x.y.z.w))
    else (a.b.n + 1 if is_number(a.b.n))
  obj: a.b if is_object(a.b)
  there: '"yes" if exists(x.y.z)'
  user: userId if is_string(userId) and userId != ""
rules:
  - name: needs one
    when: not exists($id) and not exists($user)
    reject: '"no id"'
  - name: send
    send:
      endpoint: /users/track
      body:
        attributes:
          - external_id: $user
            braze_id: $id if not exists($user)
            app: '"app"'
            obj: $obj
            there: $there
            again: a.b.c
            list: '[x.y.z.w] if is_string(x.y.z.w)'
"""


def _shapes():
    """Every way an object on the path may be: there, not there, null, text, a list, a number."""
    leaves = [MISSING_KEY := object(), None, "", "v", 5, [], {"c": "deep"}]
    for a_kind in ("obj", "missing", None, "a", [1], 3):
        for leaf in leaves:
            for x_leaf in ("w", "", 7, MISSING_KEY):
                event: dict = {"type": "identify"}
                if a_kind == "obj":
                    b = {"n": 4} if leaf is None else {}
                    if leaf is not MISSING_KEY:
                        b["c"] = leaf
                    event["a"] = {"b": b}
                elif a_kind != "missing":
                    event["a"] = a_kind
                if x_leaf is not MISSING_KEY:
                    event["x"] = {"y": {"z": {"w": x_leaf}}}
                yield event
                yield {**event, "userId": "u"}
                yield {**event, "x": {"y": "z"}}
                yield {**event, "x": {"y": {"z": []}}}


@pytest.mark.parametrize("share", [False, True])
def test_a_guard_on_a_deep_field_reads_each_object_under_the_test_of_the_one_before(share):
    """`f(a.b.c) if is_string(a.b.c)`: no `a.b.c` is read, and nothing is set to missing, where `a` or
    `a.b` is not an object; the translator still gives what the explanation's own walk gives, copying or
    sharing, on events where each object on the way is there, missing, null or of another kind."""
    from mapspec.compiler import load_compiled
    from mapspec.explain import _Facts

    compiled = compile_source(SourceFile("deep.yaml", DEEP_GUARDS), {}, standalone=False, share=share)
    source = compiled.module.source
    body = source.split("def let_id", 1)[1].split("\ndef ", 1)[0]
    assert "isinstance(e_x_y, dict)" in body and "= MISSING\n" in body
    assert not re.search(r"e_a_b_c = .*MISSING$", body, re.M), body  # (read only where `a.b` is an object)
    translate = load_compiled(compiled)
    n = 0
    for event in _shapes():
        facts = _Facts(compiled, json.loads(json.dumps(event)))
        assert not facts.disagreement, (event, facts.disagreement)
        try:
            got = translate(json.loads(json.dumps(event)))
        except Exception as e:  # noqa: BLE001 - Rejected: the explanation says so too
            assert facts.result.get("rejected"), (event, e)
            continue
        assert [r["body"] for r in got] == [r.body for _, r, _ in facts.sent], event
        n += 1
    assert n > 100


@pytest.mark.parametrize(("name", "settings"), [("segment-braze", {"track_all_pages": True}),
                                                ("segment-classic", {"appGroupId": "AG", "datacenter": "eu"}),
                                                ("rudderstack", {"dataCenter": "us-01"})])
def test_subclasses_of_dict_list_and_str_are_what_their_classes_are(name, settings):
    """The generated code tests a value's exact class first (cheaper than isinstance where it holds), then
    isinstance: a library caller's OrderedDict, list or str subclass is still an object, a list, a text."""
    from collections import OrderedDict

    from mapspec.compiler import load_compiled
    from tests.conftest import CORPUS

    class Text(str):
        pass

    class Items(list):
        pass

    def odd(x):
        if isinstance(x, dict):
            return OrderedDict((k, odd(v)) for k, v in x.items())
        if isinstance(x, list):
            return Items(odd(v) for v in x)
        return Text(x) if isinstance(x, str) else x

    translate = load_compiled(compile_source(read_mapping(name), settings, standalone=False))
    events = [json.loads(line) for line in CORPUS.read_text().splitlines()]
    assert len(events) > 50
    for event in events:
        outcomes = []
        for e in (event, odd(event)):
            try:
                outcomes.append(("sent", json.dumps(translate(e), sort_keys=True)))
            except Exception as error:  # noqa: BLE001 - Rejected, with its reason
                outcomes.append((type(error).__name__, str(error)))
        assert outcomes[0] == outcomes[1], event


@pytest.mark.parametrize("fmt", ["%Y-%m-%d", "%H:%M:%S.%f", "%%Y", "", "day %j of %Y", "%Y-%m-%dT%H:%M:%S.%LZ"])
def test_a_constant_format_is_the_times_own_strftime_and_gives_what_format_time_gives(fmt):
    """`format_time(parse_time(x), "%Y-%m-%d")` is written as the time's strftime (no call of format_time);
    what it gives is the helper's, for times that parse and values that do not."""
    from mapspec import runtime

    text = ("name: t\nbase_url: '\"http://x\"'\nrules:\n  - name: r\n    send:\n      endpoint: /users/track\n"
            f"      body: {{attributes: [{{external_id: '\"u\"', v: {json.dumps('format_time(parse_time(t), ' + json.dumps(fmt) + ')')}}}]}}\n")
    source = compile_source(SourceFile("t.yaml", text), {}, standalone=False).module.source
    assert ("format_time(" in source.split("def translate", 1)[1]) == ("%L" in fmt)
    translate = compile_text(text)
    for t in ["2024-02-29T23:59:59.999Z", "1990-05-17", "0001-01-01", 631152000000, -62135596800000, "May 1990",
              "not a date", None, True, [], "9999-12-31T23:59:59+01:00", "2015-01-01T00:00:00-14:00"]:
        [request] = translate({"t": t})
        expected = runtime.format_time(runtime.parse_time(t), fmt)
        assert request["body"]["attributes"][0].get("v", runtime.MISSING) == expected, t


COMPUTED_WHEN = """\
name: computed when
base_url: '"http://x"'
let:
  a: userId if is_string(userId)
  b: to_string(integrations.X.id) if is_number(integrations.X.id)
rules:
  - name: needs one
    when: not exists($a) and not exists($b)
    reject: '"none"'
  - name: either
    when: type == "x"
    send: {endpoint: /users/track, body: {attributes: [{external_id: $a, braze_id: $b if not exists($a)}]}}
  - name: both
    when: type == "y"
    send: {endpoint: /users/track, body: {attributes: [{external_id: '"e"', a: $a, b: $b}]}}
  - name: loop
    when: type == "z"
    send:
      endpoint: /users/track
      body:
        purchases:
          - for: $p in products
            yield: {external_id: $a, braze_id: $b if not exists($a), product_id: $p, currency: '"USD"', price: 1, time: '"2024-01-01T00:00:00.000Z"'}
"""


def test_a_definition_computed_where_a_test_held_is_known_computed_where_that_is_known(monkeypatch):
    """`$b` is computed in `if not exists($a)`: where the code knows $a is missing it uses $b as it is (no
    "not computed yet" mark, no test of it); where it does not (rule `both`) it computes it if it was not; a
    rule whose requests loop is passed $b where it was computed. Each event: what the explanation gives,
    and $b computed at most once."""
    import mapspec.runtime as runtime
    from mapspec.compiler import load_compiled
    from mapspec.explain import _Facts

    calls = []
    real = runtime.to_string
    monkeypatch.setattr(runtime, "to_string", lambda x: calls.append(x) or real(x))
    compiled = compile_source(SourceFile("cw.yaml", COMPUTED_WHEN), {}, standalone=False)
    source = compiled.module.source
    translate = load_compiled(compiled)
    either = source.split("'x'", 1)[1].split("elif", 1)[0]
    assert "d_b is ..." not in either and "if (d_a is MISSING) else MISSING" in source
    n = 0
    for kind in ("x", "y", "z", "w"):
        for user in ("u", None, 5, "missing"):
            for bid in (7, "7", None, "missing"):
                event: dict = {"type": kind, "products": ["p1", "p2"]}
                if user != "missing":
                    event["userId"] = user
                if bid != "missing":
                    event["integrations"] = {"X": {"id": bid}}
                calls.clear()
                facts = _Facts(compiled, json.loads(json.dumps(event)))
                calls.clear()
                try:
                    got = [r["body"] for r in translate(json.loads(json.dumps(event)))]
                except Exception as e:  # noqa: BLE001 - Rejected: the explanation says so too
                    assert facts.result.get("rejected"), (event, e)
                    got = None
                assert len(calls) <= 1, event
                if got is not None:
                    assert got == [r.body for _, r, _ in facts.sent], event
                    n += 1
    assert n > 20


FALLBACKS = """\
name: fallbacks
base_url: '"http://x"'
rules:
  - name: r
    send:
      endpoint: /users/track
      body:
        attributes:
          - external_id: '"u"'
            a: x else y
            b: x else y else z
            c: p.x else p.y
            d: p.x else "d"
            e: is_string(x) else y
            f: upper(x) else p.y
"""


@pytest.mark.parametrize("share", [False, True])
def test_a_field_of_fallbacks_is_the_first_there_and_a_null_first_stays_when_none_is(share):
    """`key: a else b` is written as statements (the first value stored where it is there, the field of the
    rest where it is not, `"k" in object` for a field of an object known there): on every mix of missing,
    null and other values it gives what the explanation's own walk gives, copying or sharing."""
    import itertools

    from mapspec.compiler import load_compiled
    from mapspec.explain import _Facts

    compiled = compile_source(SourceFile("f.yaml", FALLBACKS), {}, standalone=False, share=share)
    assert "elif e_x is None:" in compiled.module.source  # (statements, with the null kept last)
    translate = load_compiled(compiled)
    absent = object()
    values, few = [absent, None, "", "v", [1]], [absent, None, "v"]
    n = 0
    for x, y, z, px, py in itertools.product(values, values, few, few, few):
        event: dict = {}
        for k, v in (("x", x), ("y", y), ("z", z)):
            if v is not absent:
                event[k] = v
        p = {k: v for k, v in (("x", px), ("y", py)) if v is not absent}
        for shape in (p, "text", None, absent):
            if shape is not absent:
                event["p"] = shape
            facts = _Facts(compiled, json.loads(json.dumps(event)))
            [request] = translate(json.loads(json.dumps(event)))
            assert [request["body"]] == [r.body for _, r, _ in facts.sent], event
            n += 1
    assert n > 2000
