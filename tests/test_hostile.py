"""Hostile or broken mapping files, settings and example files: each gives a clear diagnostic with its
file:line:column, or the right result; never a traceback, a hang, or control of the terminal."""

from __future__ import annotations

import io
import json
import re

import pytest

from mapspec import limits
from tests.test_cli import mapspec

# ---------------------------------------------------------------- what is printed


EVIL_NAMES = r'''name: "evil\e[2J"
base_url: '"http://x"'
rules:
  - name: "first\e]0;owned\a"
    when: type == "identify"
    send:
      endpoint: /users/track
      body:
        attributes:
          - external_id: userId
            ...: traits
  - name: "identify \u202egnp.exe"
    when: type == "identify"
    skip: "'x\e[31m'"
'''

_RAW_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def test_control_characters_from_a_mapping_or_an_event_are_escaped_when_printed(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text(EVIL_NAMES, encoding="utf-8")
    check = mapspec("check", str(path))
    err = check.stderr.decode()
    assert check.returncode == 0 and "W401" in err, err
    assert not _RAW_CONTROLS.search(err), err
    assert "rule `identify \\u202egnp.exe` can never match: rule `first\\x1b]0;owned\\x07` has the same" in err
    event = tmp_path / "e.json"
    event.write_text(json.dumps({"type": "identify", "userId": "u\x1b[1m",
                                 "traits": {"k\x1b[2J\nfake line": "v\x9b\u202e"}}))
    explain = mapspec("explain", str(path), "--event", str(event))
    out = explain.stdout.decode()
    assert explain.returncode == 0, explain.stderr
    assert not _RAW_CONTROLS.search(out), out
    assert "first\\x1b]0;owned\\x07" in out and "k\\x1b[2J\\nfake line" in out
    assert not any(line.startswith("fake line") for line in out.splitlines())
    other = tmp_path / "other.yaml"
    other.write_text(EVIL_NAMES.replace("...: traits", "...: traits\n            x: 1"), encoding="utf-8")
    events = tmp_path / "e.ndjson"
    events.write_text(event.read_text() + "\n")
    diff = mapspec("diff", str(path), str(other), "--events", str(events))
    assert diff.returncode == 1, diff.stderr
    assert not _RAW_CONTROLS.search(diff.stdout.decode()), diff.stdout.decode()


# ---------------------------------------------------------------- limits: depth


def mapping(value: str, *, let: str = "", settings: str = "", when: str = "") -> str:
    """A mapping whose one rule sends `value` (YAML, as written under the key) as a custom attribute."""
    return ("name: t\nbase_url: '\"http://x\"'\n"
            + (f"settings:\n{settings}" if settings else "")
            + (f"let:\n{let}" if let else "")
            + "rules:\n  - name: r\n" + (f"    when: {when}\n" if when else "")
            + "    send:\n      endpoint: /users/track\n      body:\n        attributes:\n"
            "          - external_id: userId\n            custom: " + value + "\n")


def outcome(text: str, settings: dict | None = None):
    """The translator's output on one event, or the diagnostics (code and line:column) that stop it."""
    from mapspec.compiler import compile_source, load_compiled
    from mapspec.errors import CompileError
    from mapspec.source import SourceFile

    try:
        translate = load_compiled(compile_source(SourceFile("m.yaml", text), settings, standalone=True))
    except CompileError as e:
        return [(d.code, d.span.line if d.span else None, d.span.column if d.span else None) for d in e.diagnostics]
    event = {"type": "identify", "userId": "u", "traits": {"a": {"a": "deep"}}, "properties": {"l": [[["x"]]]}}
    return translate(event)[0]["body"]["attributes"][0].get("custom", "(missing)")


#: around a custom attribute, the body is an object, a list and an object: three levels
AROUND = 3


def _block(expr: str) -> str:
    return ">-\n              " + expr


DEEP = {
    "not": lambda k: _block("not " * k + "userId"),
    "minus": lambda k: _block("-" * k + "userId"),
    "call": lambda k: _block("lower(" * k + "userId" + ")" * k),
    "plus": lambda k: _block("userId" + " + userId" * k),
    "conditional": lambda k: _block('"a" if userId else ' * k + '"b"'),
    "guard": lambda k: _block("(" * k + "userId" + " if userId)" * k),
    "path": lambda k: _block("traits" + ".a" * k),
    "index": lambda k: _block("traits[" * k + '"a"' + "]" * k),
    "list": lambda k: _block("[" * k + "]" * k),
}


def _levels(construct: str, k: int) -> int:
    """Levels of the value the construct makes with k repetitions (as `limits.check_depth` counts)."""
    return {"not": k + 1, "minus": k + 1, "call": k + 1, "plus": k + 1, "conditional": k + 1, "guard": k + 1,
            "path": k + 1, "index": k + 1, "list": k}[construct]


@pytest.mark.parametrize("construct", sorted(DEEP))
def test_nesting_up_to_the_limit_compiles_and_runs_and_one_more_is_an_error(construct):
    make = DEEP[construct]
    k = next(k for k in range(200) if AROUND + _levels(construct, k) == limits.MAX_DEPTH)
    result = outcome(mapping(make(k)))
    assert not (isinstance(result, list) and result and isinstance(result[0], tuple)), result
    beyond = outcome(mapping(make(k + 1)))
    assert isinstance(beyond, list) and beyond[0][0] == "E006" and beyond[0][1] == 11, beyond


@pytest.mark.parametrize("construct, k", [("not", 800), ("minus", 800), ("path", 800), ("index", 2000),
                                          ("list", 400), ("call", 3000), ("plus", 5000)])
def test_far_too_deep_is_one_diagnostic_with_a_position(construct, k):
    diags = outcome(mapping(DEEP[construct](k)))
    assert isinstance(diags, list) and diags[0][0] == "E006" and diags[0][1] == 11, diags


def test_deep_yaml_is_a_diagnostic_with_a_position():
    flow = outcome(mapping("[" * 5000 + "]" * 5000))
    assert flow[0][:2] == ("E006", 10), flow
    block = mapping("\n" + "".join("  " * (i + 7) + "a:\n" for i in range(80)) + "  " * 87 + "b: 1")
    # custom's object is level 4, on line 11: the object beyond the limit (level 65) is on line 72
    assert outcome(block)[0][:2] == ("E006", 72)
    n = limits.MAX_DEPTH - AROUND - 2  # n objects `a`, the object {b: 1}, the number 1
    at_limit = mapping("\n" + "".join("  " * (i + 7) + "a:\n" for i in range(n)) + "  " * (n + 7) + "b: 1")
    value = outcome(at_limit)
    for _ in range(n):
        value = value["a"]
    assert value == {"b": 1}
    beyond = mapping("\n" + "".join("  " * (i + 7) + "a:\n" for i in range(n + 1)) + "  " * (n + 8) + "b: 1")
    assert outcome(beyond)[0][0] == "E006"


def test_a_long_chain_of_definitions_is_a_diagnostic_at_the_one_beyond_the_limit():
    lets = "  a0: userId\n" + "".join(f"  a{i}: $a{i - 1}\n" for i in range(1, 1601))
    diags = outcome(mapping("$a1600", let=lets))
    assert diags == [("E006", 4 + limits.MAX_DEPTH, 8)], diags  # `a64: $a63`, and only it
    lets = "  a0: userId\n" + "".join(f"  a{i}: $a{i - 1}\n" for i in range(1, limits.MAX_DEPTH - AROUND - 1))
    assert outcome(mapping(f"$a{limits.MAX_DEPTH - AROUND - 2}", let=lets)) == "u"


def test_for_items_nest_up_to_their_limit():
    def nested(k: int) -> str:
        text, var = "", "properties.l"
        for i in range(k):
            pad = "  " * (6 + 2 * i)
            text += f"\n{pad}- for: $x{i} in {var}\n{pad}  yield:"
            var = f"$x{i}"
        return text + f" {var}"

    assert outcome(mapping(nested(3))) == [[["x"]]]
    at_limit = outcome(mapping(nested(limits.MAX_FOR_DEPTH)))
    assert not (isinstance(at_limit, list) and at_limit and isinstance(at_limit[0], tuple)), at_limit
    beyond = outcome(mapping(nested(limits.MAX_FOR_DEPTH + 1)))
    assert isinstance(beyond, list) and beyond[0][0] == "E006", beyond


# ---------------------------------------------------------------- limits: YAML aliases


LAUGHS = "".join(f"  {chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(8))


def test_billion_laughs_in_a_definition_is_an_error_at_the_alias(tmp_path):
    lets = '  a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + LAUGHS
    diags = outcome(mapping("userId", let=lets))
    # the aliases of `e` are where the values added pass 10,000: `*d` is 7,381 values
    assert diags == [("E005", 8, 10)], diags
    path = tmp_path / "laughs.yaml"
    path.write_text(mapping("userId", let=lets))
    proc = mapspec("check", str(path))  # a subprocess: no hang, no memory blow-up, one line:column
    assert proc.returncode == 1 and "laughs.yaml:8:10: error: YAML aliases expand this file to" in proc.stderr.decode()


def test_billion_laughs_in_a_setting_default_does_not_hang_compile():
    settings = "  s:\n    type: any\n    default:\n      - &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + \
        "".join("      - " + line.strip()[3:] + "\n" for line in LAUGHS.splitlines())
    diags = outcome(mapping("settings.s", settings=settings))
    assert diags and diags[0][0] == "E005", diags


def test_a_recursive_alias_is_an_error_at_the_alias():
    settings = "  s: {type: any, default: &r ['1', *r]}\n"
    assert outcome(mapping("settings.s", settings=settings)) == [("E005", 4, 36)]
    assert outcome(mapping("&r [userId, *r]")) == [("E005", 10, 33)]


def test_aliases_within_the_limit_are_fine():
    lets = '  a: &a {x: \'"1"\', y: [1, 2]}\n  b: [*a, *a, *a]\n'
    assert outcome(mapping("$b", let=lets)) == [{"x": "1", "y": [1, 2]}] * 3


# ---------------------------------------------------------------- limits: numbers, text, YAML types


@pytest.mark.parametrize("value, code, column", [
    ("9" * 5000, "E007", 21), ("9" * 4000 + " * " + "9" * 4000, "E007", 21), ("1e999999", "E007", 21),
    ("9" * 41, "E007", 21), ("'\"\\ud800\"'", "E102", 23), ("1.0e+999999", "E007", 21), (".inf", "E007", 21),
    ("-.inf", "E007", 21), ("2024-01-01", "E003", 21), ("!!binary aGVsbG8=", "E003", 21),
    ("!!set {a}", "E003", 21), ("!!pairs [a: 1]", "E003", 21), ("!foo x", "E003", 21),
])
def test_literals_beyond_the_limits_are_errors_with_a_position(value, code, column):
    assert outcome(mapping(value)) == [(code, 10, column)]


def test_numbers_and_text_at_the_limits_are_fine():
    assert outcome(mapping("9" * 40)) == int("9" * 40)
    assert outcome(mapping("1.7e308")) == 1.7e308
    assert outcome(mapping("'\"\\ud83d\\ude00 {userId}\"'")) == "\U0001f600 u"  # a pair is one character
    assert outcome(mapping("9" * 40 + " * " + "9" * 40)) == int("9" * 40) ** 2


def test_arithmetic_beyond_a_double_is_left_for_run_time_not_folded():
    from mapspec.compiler import compile_source
    from mapspec.source import SourceFile

    compiled = compile_source(SourceFile("m.yaml", mapping("1.7e308 * 10")), standalone=True)
    assert "float('inf')" not in compiled.module.source  # not folded into a literal that is not JSON


@pytest.mark.parametrize("default, code", [("!!pairs [a: 1, b: 2]", "E003"), ("2024-01-01", "E003"),
                                           ("{1: a}", "E003"), (".nan", "E007"), ("!!binary aGVsbG8=", "E003")])
def test_a_setting_default_that_is_not_json_is_an_error_with_a_position(default, code):
    settings = f"  s: {{type: any, default: {default}}}\n"
    diags = outcome(mapping("settings.s", settings=settings))
    assert diags and diags[0][:2] == (code, 4), diags


def test_a_nul_byte_or_a_control_character_is_an_error_with_a_position(tmp_path):
    text = mapping("userId").replace("name: r", "name: r\0x")
    assert outcome(text) == [("E004", 4, 12)]
    assert outcome(mapping("userId").replace("external_id: userId", "external_id: user\x01Id")) == [("E004", 9, 30)]
    path = tmp_path / "nul.yaml"
    path.write_text(text)
    proc = mapspec("check", str(path))
    err = proc.stderr.decode()
    assert proc.returncode == 1 and "nul.yaml:4:12: error: the file holds a character YAML does not allow: U+0000" in err
    assert "\0" not in err


def test_invalid_utf8_is_an_error_with_a_position(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(mapping("userId").replace("name: r", "name: caf\xe9").encode("latin-1"))
    for command in ("check", "compile", "test"):
        proc = mapspec(command, str(path))
        assert proc.returncode != 0
        assert "latin1.yaml:4:14: error: the file is not UTF-8 text: byte 0xe9" in proc.stderr.decode(), command


# ---------------------------------------------------------------- regular expressions


@pytest.mark.parametrize("pattern, code", [("a{4294967296}", "E207"), ("a{1001}", "E207"), ("(", "E207"),
                                           ("(" * 2000 + ")" * 2000, "E207")])
def test_bad_regular_expressions_are_errors_with_a_position(pattern, code):
    assert outcome(mapping(_block(f"\"a\" if matches(userId, '{pattern}') else \"b\""))) == [(code, 11, 38)]


def test_nested_quantifiers_are_a_warning_at_check_time():
    from mapspec.compiler import check_source
    from mapspec.source import SourceFile

    text = mapping(_block("\"a\" if matches(userId, '(a+)+$') else \"b\""))
    _, diags = check_source(SourceFile("m.yaml", text))
    assert [(d.code, d.severity, d.span.line, d.span.column) for d in diags if d.code == "W408"] == \
        [("W408", "warning", 11, 38)]
    for safe in ("(a++)+$", "(?>a+)+$", "(ab)+c+", "^[ _]?order[ _]?completed$", "a{1000}"):
        _, diags = check_source(SourceFile("m.yaml", text.replace("(a+)+$", safe)))
        assert [d for d in diags if d.code == "W408"] == [], safe


def test_a_regular_expression_given_as_a_setting_is_checked_with_the_settings(tmp_path):
    settings = "  pattern: {type: string, default: '^a'}\n"
    text = mapping(_block("\"a\" if matches(userId, settings.pattern) else \"b\""), settings=settings)
    assert outcome(text) == "b"
    assert outcome(text, {"pattern": "a{4294967296}"}) == [("E207", None, None)]
    assert outcome(text, {"pattern": "("}) == [("E207", None, None)]
    path, bad = tmp_path / "m.yaml", tmp_path / "s.json"
    path.write_text(text)
    bad.write_text('{"pattern": "("}')
    check = mapspec("check", str(path), "--settings", str(bad))
    assert check.returncode == 1 and "s.json: error: setting `pattern`: invalid regular expression" in \
        check.stderr.decode()


# ---------------------------------------------------------------- settings


def test_settings_beyond_the_limits_are_errors_not_tracebacks(tmp_path):
    settings = "  s: {type: any}\n"
    text = mapping("settings.s", settings=settings)
    deep: list = []
    for _ in range(10_000):
        deep = [deep]
    assert outcome(text, {"s": deep}) == [("E006", None, None)]
    assert outcome(text, {"s": {"k": "\ud800"}}) == [("E208", None, None)]
    assert outcome(text, {"s": float("inf")}) == [("E007", None, None)]
    assert outcome(text, {"s": 10 ** 50}) == [("E007", None, None)]
    path = tmp_path / "m.yaml"
    path.write_text(text)
    for content in ('{"s": ' + "[" * 10_000 + "]" * 10_000 + "}", '{"s": ' + "[" * 900 + "]" * 900 + "}",
                    '{"s": "\\ud800"}', '{"s": 1e999}'):
        (tmp_path / "s.json").write_text(content)
        for command in ("check", "compile", "translate"):
            proc = mapspec(command, str(path) if command != "translate" else "-", "--settings",
                           str(tmp_path / "s.json"), *(["--mapping", str(path)] if command == "translate" else []),
                           stdin='{"type": "identify", "userId": "u"}\n')
            err = proc.stderr.decode()
            assert proc.returncode != 0 and "Traceback" not in err and "error" in err, (command, content[:20], err)


# ---------------------------------------------------------------- validity does not depend on the optimizer


def test_a_mapping_that_sends_without_a_base_url_fails_check_as_it_fails_compile(tmp_path):
    text = mapping("userId").replace("base_url: '\"http://x\"'\n", "")
    from mapspec.compiler import check_source
    from mapspec.source import SourceFile

    _, diags = check_source(SourceFile("m.yaml", text))
    assert [(d.code, d.span.line) for d in diags] == [("E210", 3)]
    assert outcome(text) == [("E210", 3, 5)]


def test_a_base_url_that_reads_the_event_is_an_error_at_check():
    text = mapping("userId").replace("base_url: '\"http://x\"'", "base_url: $host\nlet:\n  host: context.host")
    assert outcome(text) == [("E210", 4, 9)]


def test_check_with_settings_finds_what_compile_would(tmp_path):
    text = mapping("userId", settings="  endpoint: {type: string, default: 'http://x'}\n").replace(
        "base_url: '\"http://x\"'", "base_url: settings.endpoint")
    path, settings = tmp_path / "m.yaml", tmp_path / "s.json"
    path.write_text(text)
    settings.write_text('{"endpoint": null}')
    check = mapspec("check", str(path), "--settings", str(settings))
    compile_ = mapspec("compile", str(path), "--settings", str(settings))
    expected = f"{path}:2:11: error: with the settings in {settings}, `base_url` is null, not text [E210]"
    for proc in (check, compile_):
        err = proc.stderr.decode()
        assert proc.returncode != 0 and expected in err, err
        assert f"setting `endpoint` is null in {settings}" in err
    assert mapspec("check", str(path)).returncode == 0  # the default is fine


@pytest.mark.parametrize("name", ["segment-braze", "segment-classic"])
def test_which_passes_run_changes_nothing_but_speed(name, corpus, monkeypatch):
    """Every prefix of the optimizer's passes compiles the bundled mappings to translators that agree."""
    import datetime

    from mapspec import optimize, runtime

    monkeypatch.setattr(runtime, "now", lambda: datetime.datetime(2024, 5, 1, tzinfo=datetime.UTC))
    from mapspec.compiler import compile_source, load_compiled, read_mapping
    from tests.conftest import ROOT, run

    settings = json.loads((ROOT / "mappings/examples/segment-classic.settings.json").read_text()) \
        if name == "segment-classic" else {}
    source = read_mapping(name)
    results = []
    for n in range(1, len(optimize.RULES) + 1):
        translate = load_compiled(compile_source(source, settings, standalone=False, passes=optimize.RULES[:n]))
        results.append([run(translate, dict(e)) for e in corpus])
    assert all(r == results[-1] for r in results)


# ---------------------------------------------------------------- outputs never alias inputs


def _mutate_everything(value) -> None:
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            stack.extend(v.values())
            v["__mutated__"] = True
        elif isinstance(v, list):
            stack.extend(v)
            v.append("__mutated__")


ALIASING = """name: aliasing
base_url: '"http://x"'
let:
  address: traits.address
  fallback: {}
rules:
  - name: r
    send:
      - endpoint: /users/track
        body:
          attributes:
            - external_id: userId
              address: $address
              again: $address
              spread_nested:
                ...: traits
              rest: traits without ["address"]
              listed: [traits.tags, properties.products]
              first_product: properties.products[0] else $fallback
          purchases:
            - for: $p in properties.products
              yield: $p
"""


@pytest.mark.parametrize("standalone", [False, True])
def test_changing_the_output_never_changes_the_event(standalone):
    from copy import deepcopy

    import mapspec
    from mapspec.compiler import compile_source, load_compiled
    from mapspec.source import SourceFile

    event = {"type": "identify", "userId": "u", "timestamp": "2024-05-01T12:00:00Z",
             "traits": {"address": {"city": "Paris", "lines": ["1 rue"]}, "tags": ["a", {"b": [1]}], "n": 1},
             "properties": {"products": [{"id": "p1", "nested": {"k": [1, 2]}}]}}
    before = deepcopy(event)
    if standalone:
        namespace: dict = {"__name__": "translator"}
        exec(compile_source(SourceFile("a.yaml", ALIASING)).module.source, namespace)  # noqa: S102
        translate = namespace["translate"]
    else:
        translate = load_compiled(compile_source(SourceFile("a.yaml", ALIASING), standalone=False))
    first = translate(event)
    _mutate_everything(first)
    assert event == before
    assert translate(event) == translate(before), "a result shares nothing with the next one either"
    for name in ("segment-braze", "segment-classic"):
        mapping = mapspec.load(name, {"appGroupId": "g", "datacenter": "us"} if name == "segment-classic" else {})
        for kind in ("identify", "track"):
            e = dict(deepcopy(before), type=kind, event="Order Completed")
            e_before = deepcopy(e)
            try:
                out = mapping(e)
            except mapspec.Rejected:
                continue
            _mutate_everything(out)
            assert e == e_before, (name, kind)


def test_every_value_of_a_request_is_held_to_the_depth_limit():
    deep = "not " * 70 + "userId"  # beyond the limit, not so far that the parser refuses it first
    for key in ("when", "once", "time"):
        text = mapping("userId").replace("      endpoint: /users/track\n",
                                         f"      endpoint: /users/track\n      {key}: {deep}\n")
        diags = outcome(text)
        assert isinstance(diags, list) and diags and diags[0][0] == "E006", (key, diags)


def test_a_target_name_that_cannot_be_a_file_is_an_unknown_target():
    for name in ("x" * 5000, "not " * 200 + "braze"):
        text = mapping("userId").replace("name: t\n", f"name: t\ntarget: {name}\n")
        diags = outcome(text)
        assert isinstance(diags, list) and diags and diags[0][0] == "E303", diags


# ---------------------------------------------------------------- files without end


@pytest.mark.skipif(not __import__("os").path.exists("/dev/zero"), reason="needs /dev/zero")
@pytest.mark.parametrize("args", [("check", "/dev/zero"), ("test", "/dev/zero"),
                                  ("translate", "--settings", "/dev/zero"),
                                  ("explain", "segment-braze", "--event", "/dev/zero"),
                                  ("check", "{mapping}")])
def test_a_file_without_end_is_one_error_with_the_limit_not_all_of_memory(tmp_path, args):
    mapping_ = tmp_path / "m.yaml"  # a mapping whose target is /dev/zero, behind a name that looks right
    (tmp_path / "zero.yaml").symlink_to("/dev/zero")
    mapping_.write_text("name: t\ntarget: ./zero.yaml\nbase_url: '\"http://x\"'\nrules: []\n")
    proc = mapspec(*(a.replace("{mapping}", str(mapping_)) for a in args), stdin=b"{}")
    err = proc.stderr.decode() + proc.stdout.decode()
    assert proc.returncode in (1, 2) and "Traceback" not in err, err
    assert "is not a file" in err if args[-1] == "{mapping}" else f"{limits.MAX_FILE_BYTES:,} bytes" in err, err


def test_a_file_just_beyond_the_limit_is_refused_and_one_at_it_is_read(tmp_path, monkeypatch):
    from tests.conftest import inproc

    settings = tmp_path / "s.json"
    limit = 100_000  # above the bundled mapping's and target's sizes
    settings.write_text("{}" + " " * (limit - 2))
    events = tmp_path / "e.ndjson"
    events.write_text('{"type": "identify", "userId": "u"}\n')
    monkeypatch.setattr(limits, "MAX_FILE_BYTES", limit)
    assert inproc("translate", "--settings", str(settings), str(events)).returncode == 0
    settings.write_text("{}" + " " * (limit - 1))
    proc = inproc("translate", "--settings", str(settings), str(events))
    assert proc.returncode == 2 and b"larger than 100,000 bytes" in proc.stderr, proc.stderr


@pytest.mark.parametrize("command", ["translate", "coverage", "diff", "explain"])
def test_a_line_of_events_beyond_the_limit_is_an_error_on_it_and_the_stream_goes_on(tmp_path, command):
    from tests.conftest import inproc

    events = tmp_path / "e.ndjson"
    good = json.dumps({"type": "identify", "userId": "u1", "messageId": "m1", "traits": {"plan": "pro"}})
    events.write_text('{"type": "identify", "userId": "' + "x" * 5000 + '"}\n' + good + "\n")
    args = {"translate": ("translate", str(events)),
            "coverage": ("coverage", "segment-braze", str(events), "--format", "json"),
            "diff": ("diff", "segment-braze", "segment-braze", "--events", str(events), "--format", "json"),
            "explain": ("explain", "segment-braze", "--event", str(events), "--message-id", "m1")}[command]
    proc = inproc(*args, "--max-line-bytes", "1000")
    out = proc.stdout.decode()
    assert proc.returncode == 0, proc.stderr
    if command == "translate":
        first, second = out.splitlines()
        assert json.loads(first)["error"] == {"line": 1, "message": "the line is longer than 1,000 bytes, the "
                                                                   "limit for one event (--max-line-bytes)"}
        assert json.loads(second)["requests"]
    elif command == "explain":
        assert "line 2 of" in out and '"m1"' in out
    else:  # the long line is left out as not an event, and the next one is read
        report = json.loads(out)
        counts = report["behaviour"] if command == "diff" else report
        assert (counts["events"], counts["unreadable"]) == (1, 1), out
    if command == "explain":
        proc = inproc("explain", "segment-braze", "--event", str(events), "--line", "1", "--max-line-bytes", "1000")
        assert proc.returncode == 2 and b"line 1 of" in proc.stderr and b"longer than 1,000 bytes" in proc.stderr


@pytest.mark.parametrize("value,what", [(b"x", "a Python bytes"), (("a",), "a Python tuple"),
                                        ({"a"}, "a Python set"), (object(), "a Python object"),
                                        ([b"x"], "a Python bytes"), ({1: "a"}, "a key that is not text")])
def test_a_setting_given_from_python_that_is_not_json_says_what_it_is(value, what):
    import mapspec
    from mapspec.errors import CompileError

    with pytest.raises(CompileError) as e:
        mapspec.load("segment-braze", settings={"app_id": value})
    assert what in str(e.value) and "not time" not in str(e.value), str(e.value)


@pytest.mark.parametrize("command", ["translate", "run", "explain", "explain --line"])
def test_a_byte_order_mark_at_the_start_of_a_file_of_events_is_taken_away(tmp_path, command):
    from tests.conftest import inproc

    events = tmp_path / "e.ndjson"
    lines = [json.dumps({"type": "identify", "userId": f"u{i}", "messageId": f"m{i}"}) for i in range(2)]
    events.write_bytes(b"\xef\xbb\xbf" + ("\n".join(lines if command != "explain" else lines[:1]) + "\n").encode())
    args = {"translate": ("translate", str(events)), "run": ("run", "--dry-run", str(events)),
            "explain": ("explain", "segment-braze", "--event", str(events)),
            "explain --line": ("explain", "segment-braze", "--event", str(events), "--line", "1")}[command]
    proc = inproc(*args)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode()
    if command == "translate":
        assert all("requests" in json.loads(line) for line in out.splitlines()), out
    elif command == "run":
        assert out.count('"external_id":"u') == 2 and b"0 not events" in proc.stderr, proc.stderr
    else:
        assert 'messageId "m0"' in out, out


def test_a_byte_order_mark_after_the_start_is_not_json(tmp_path):
    from tests.conftest import inproc

    events = tmp_path / "e.ndjson"
    events.write_bytes(b'{"type": "identify", "userId": "u0"}\n\xef\xbb\xbf{"type": "identify", "userId": "u1"}\n')
    first, second = inproc("translate", str(events)).stdout.decode().splitlines()
    assert "requests" in json.loads(first) and json.loads(second)["error"]["line"] == 2


def _lines_one_at_a_time(fh, limit):
    """ndjson_lines as it was, a readline at a time: the reference its block reader must agree with (the byte
    order mark taken away first: it is not part of the line whose length the limit holds)."""
    number = 0
    if fh.read(3) != b"\xef\xbb\xbf":
        fh.seek(0)
    while True:
        line = fh.readline(limit + 1)
        if not line:
            return
        number += 1
        if len(line) > limit and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):
                line = fh.readline(1 << 16)
            yield number, None
            continue
        yield number, line[:-1] if line.endswith(b"\n") else line


class _Trickle(io.RawIOBase):
    """A stream that hands out a few bytes per read, as a pipe may."""

    def __init__(self, data: bytes, sizes: list[int]):
        self.data, self.sizes, self.at = data, sizes, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.sizes[self.at % len(self.sizes)] if self.sizes else len(buffer),
                len(self.data))
        buffer[:n] = self.data[:n]
        self.data = self.data[n:]
        self.at += 1
        return n


def test_lines_read_in_blocks_are_the_lines_read_one_at_a_time():
    """The NDJSON reader of translate, explain and coverage cuts blocks into lines: every cut, limit and way the
    bytes arrive gives the lines (and the lines too long, by number) that reading a line at a time gives."""
    import random

    from mapspec.limits import ndjson_lines

    rng = random.Random(11)
    pieces = [b"", b"{}", b'{"a": 1}', b"x" * 7, b"y" * 20, b"\r", b"\xef\xbb\xbf", b"\xef", b"\n", b"\n\n"]
    for _ in range(3000):
        data = b"".join(rng.choice(pieces) + (b"\n" if rng.random() < 0.6 else b"") for _ in range(rng.randrange(8)))
        limit = rng.randrange(1, 25)
        block = rng.choice([1, 2, 3, 5, 8, 64])
        sizes = [rng.randrange(1, 9) for _ in range(3)]
        want = list(_lines_one_at_a_time(io.BytesIO(data), limit))
        got = list(ndjson_lines(io.BufferedReader(_Trickle(data, sizes)), limit, block=block))
        assert got == want, (data, limit, block, sizes)


def test_a_block_with_a_long_digit_run_in_any_line_is_never_called_plain():
    """translate lets orjson read a block's lines straight only when none of them holds 19 digits in a row
    (orjson would round such an integer): the test looks at the bytes the block was cut from, not at its lines
    joined again, and a run split between two reads, or at a block's first or last line, is still seen."""
    import random

    from mapspec.jsonio import plain_numbers
    from mapspec.limits import ndjson_blocks

    rng = random.Random(5)
    for _ in range(3000):
        parts = [b'{"a": ' + b"7" * rng.choice([1, 18, 19, 25]) + b"}" if rng.random() < 0.3 else b'{"b": "x"}'
                 for _ in range(rng.randrange(1, 8))]
        data = b"\n".join(parts) + (b"\n" if rng.random() < 0.5 else b"")
        block = rng.choice([3, 5, 8, 13, 64, 1 << 16])
        sizes = [rng.randrange(1, 30) for _ in range(3)]
        for lines in ndjson_blocks(io.BufferedReader(_Trickle(data, sizes)), 1 << 20, block=block):
            long_run = any(line is not None and b"7" * 19 in line for line in lines)
            if long_run:
                assert not plain_numbers(lines), (data, block, sizes, lines)


def test_a_line_with_null_is_written_fast_but_never_with_a_number_that_is_not_finite():
    """orjson writes NaN and infinities as null: a line with a null is written by orjson only when no float in
    it is one (else refused, as the standard library's writer refuses it), however deep, beside real nulls."""
    from collections import OrderedDict

    from mapspec.jsonio import Unencodable, dumps_line

    assert dumps_line({"a": [None, 1.5, {"b": None}]}) == b'{"a":[null,1.5,{"b":null}]}\n'
    for bad in (float("nan"), float("inf"), -float("inf")):
        for value in ({"a": [None, bad]}, {"a": None, "b": OrderedDict(c=(1, bad))}, [None, [[{"d": bad}]]]):
            with pytest.raises(Unencodable):
                dumps_line(value)
