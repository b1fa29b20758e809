"""The one printer of the tree: parse -> unparse -> parse gives the same tree, for expressions and for whole
mapping files (`for` items with `if:` included); diff and explain print through it."""

from __future__ import annotations

import keyword

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mapspec.compiler import bundled_names, check_source, read_mapping
from mapspec.diagnostics import DiagnosticBag
from mapspec.source import SourceFile, Span
from mapspec.syntax import ast
from mapspec.syntax.document import parse_document
from mapspec.syntax.expressions import parse_expression
from mapspec.syntax.unparse import unparse, unparse_document
from tests.conftest import fuzz

KEYWORDS = {"and", "or", "not", "in", "if", "else", "for", "without", "true", "false", "null", "missing", "settings"}

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True).filter(lambda s: s not in KEYWORDS)
fields = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True)  # after a dot, keywords are names too
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=8)  # any characters but lone surrogates
variables = names.map(lambda n: "$" + n)
steps = st.one_of(fields, text, st.integers(-3, 99))

literals = st.builds(lambda v: ast.Literal(None, v), st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12), text, st.just(ast.MISSING),
    st.floats(allow_nan=False, allow_infinity=False)))
paths = st.one_of(
    st.builds(lambda first, rest: ast.Path(None, "", (first,) + tuple(rest)), names, st.lists(steps, max_size=3)),
    st.builds(lambda var, rest: ast.Path(None, var, tuple(rest)), variables, st.lists(steps, max_size=3)),
    # `$event` and what only `$event` can reach: a keyword, any text or an index at the top
    st.builds(lambda rest: ast.Path(None, "", tuple(rest)), st.lists(steps, max_size=3)))
simple = st.one_of(paths, st.builds(lambda n: ast.Setting(None, n), fields))


def _not_number(node: ast.Node) -> bool:
    return not (isinstance(node, ast.Literal) and type(node.value) in (int, float))


def _template(parts: list) -> ast.Node:
    """A template as the parser makes it: no empty or adjacent text, at least one expression."""
    out: list = []
    for p in parts:
        if isinstance(p, str):
            if not p:
                continue
            if out and isinstance(out[-1], str):
                out[-1] += p
                continue
        out.append(p)
    if not any(isinstance(p, ast.Node) for p in out):
        return ast.Literal(None, "".join(out))
    return ast.Template(None, tuple(out))


templates = st.lists(st.one_of(text, simple), min_size=1, max_size=4).map(_template)
loop_names = st.lists(variables.filter(lambda v: v != "$event"), min_size=1, max_size=2, unique=True)
keys = st.one_of(text.filter(lambda k: not k.startswith("...")).map(lambda k: ast.Literal(None, k)),
                 templates.filter(lambda t: isinstance(t, ast.Template)))


def _extend(children: st.SearchStrategy) -> st.SearchStrategy:
    ops = ["and", "or", "==", "!=", "<", "<=", ">", ">=", "in", "not in", "+", "-", "*", "/", "%", "without"]
    non_coalesce = children.filter(lambda n: not isinstance(n, ast.Coalesce))
    return st.one_of(
        st.builds(lambda op, a, b: ast.Binary(None, op, a, b), st.sampled_from(ops), children, children),
        st.builds(lambda a: ast.Unary(None, "not", a), children),
        st.builds(lambda a: ast.Unary(None, "-", a), children.filter(_not_number)),
        st.builds(lambda items: ast.Coalesce(None, tuple(items)), st.lists(non_coalesce, min_size=2, max_size=3)),
        st.builds(lambda v, c: ast.Guard(None, v, c), children, children),
        st.builds(lambda t, c, o: ast.Conditional(None, t, c, o), children, children, children),
        st.builds(lambda n, args: ast.Call(None, n, tuple(args)), names, st.lists(children, max_size=3)),
        # a path indexed by a text or an integer is a longer path, not an index
        st.builds(lambda b, k: ast.Index(None, b, k), children,
                  children.filter(lambda k: not (isinstance(k, ast.Literal) and type(k.value) in (str, int))))
        | st.builds(lambda b, k: ast.Index(None, b, k), children.filter(lambda b: not isinstance(b, ast.Path)),
                    children),
        st.builds(lambda items: ast.List(None, tuple(items)), st.lists(children, max_size=3)),
        # comprehensions, with one variable or two, with a condition or without
        st.builds(lambda v, names_, it, c: ast.ListComp(None, v, names_[-1], it, c, names_[0] if len(names_) > 1
                                                         else None), children, loop_names, children,
                  st.none() | children),
        st.builds(lambda k, v, names_, it, c: ast.ObjectComp(None, k, v, names_[-1], it, c,
                                                              names_[0] if len(names_) > 1 else None),
                  children, children, loop_names, children, st.none() | children),
        st.builds(lambda entries: ast.Object(None, tuple(entries)), st.lists(st.one_of(
            st.builds(lambda k, v: ast.Field(None, k, v), keys, children),
            st.builds(lambda v: ast.Spread(None, v), children)), max_size=3)),
    )


expressions = st.recursive(st.one_of(literals, simple, templates), _extend, max_leaves=12)


def parse(text_: str) -> ast.Node | None:
    source = SourceFile("e", text_)
    diags = DiagnosticBag()
    node = parse_expression(text_, lambda a, b: Span(source, a, b), diags)
    assert not diags.items, [d.render() for d in diags.items]
    return node


@settings(max_examples=fuzz(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions)
def test_unparse_then_parse_gives_the_same_expression(tree):
    printed = unparse(tree)
    assert parse(printed) == tree, printed


# ---------------------------------------------------------------- whole files


def _unique(items: list, key) -> list:
    seen, out = set(), []
    for item in items:
        if key(item) not in seen:
            seen.add(key(item))
            out.append(item)
    return out


yaml_keys = text.filter(lambda k: not k.startswith("...") and k != "for")


def _shapes(children: st.SearchStrategy) -> st.SearchStrategy:
    """Values as YAML builds them: objects of keys, lists with `for` items (with and without `if:`)."""
    for_items = st.builds(lambda names_, it, body, cond: ast.ForEach(None, names_[-1], it, body, cond,
                                                                      names_[0] if len(names_) > 1 else None),
                          loop_names, expressions, children, st.none() | expressions)
    return st.one_of(
        st.builds(lambda entries: ast.Object(None, tuple(_unique(entries, _yaml_key))), st.lists(st.one_of(
            st.builds(lambda k, v: ast.Field(None, ast.Literal(None, k), v), yaml_keys, children),
            st.builds(lambda v: ast.Spread(None, v), expressions)), max_size=4)),
        st.builds(lambda items: ast.List(None, tuple(items)), st.lists(st.one_of(children, for_items), max_size=3)),
    )


def _yaml_key(entry):
    """YAML keys are unique in a mapping (spreads are `...`, `...2`...)."""
    return entry.key.value if isinstance(entry, ast.Field) else id(entry)


values = st.recursive(st.recursive(st.one_of(literals, simple, templates), _extend, max_leaves=4), _shapes,
                      max_leaves=6)
identifiers = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True).filter(lambda s: not keyword.iskeyword(s))


requests = st.builds(
    lambda endpoint, body, cond, once, time, params: ast.Request(
        None, endpoint, body, cond, None, tuple(ast.Field(None, ast.Literal(None, k), v) for k, v in params), once,
        time),
    st.sampled_from(["/users/track", "POST /catalogs/{catalog_name}/items", "/users/delete"]), values,
    st.none() | expressions, st.none() | expressions, st.none() | expressions,
    st.lists(st.tuples(identifiers, expressions), max_size=2, unique_by=lambda kv: kv[0]))
rules = st.one_of(
    st.builds(lambda n, c, reqs: ast.Rule(None, n, c, "send", tuple(reqs)), text.filter(bool),
              st.none() | expressions, st.lists(requests, max_size=2)),
    st.builds(lambda n, c, action, m: ast.Rule(None, n, c, action, (), m), text.filter(bool), st.none() | expressions,
              st.sampled_from(["reject", "skip"]), values))
setting_decls = st.builds(
    lambda n, t, d, desc, req, ign: ast.SettingDecl(None, n, t, d, desc, req, ign), identifiers,
    st.sampled_from(["string", "bool", "number", "integer", "object", "list", "any"]),
    st.just(ast.MISSING) | st.recursive(st.none() | st.booleans() | st.integers(-99, 99) | text
                                        | st.floats(allow_nan=False, allow_infinity=False),
                                        lambda c: st.lists(c, max_size=3) | st.dictionaries(text, c, max_size=3),
                                        max_leaves=6),
    text, st.booleans(), st.booleans())
functions = st.builds(lambda n, params, body: ast.FunctionDef(None, n, tuple(params), body), names,
                      st.lists(variables.filter(lambda v: v != "$event"), max_size=3, unique=True), values)
documents = st.builds(
    lambda name, desc, target, base, match, sets, lets, rs, fns, source: ast.Document(
        None, name, desc, target, base, tuple(_unique(sets, lambda s: s.name)),
        tuple(_unique(lets, lambda let: let.name)), tuple(rs), None, match,
        tuple(_unique(fns, lambda f: (f.name, f.params))), source),
    text, text, text.filter(bool), st.none() | expressions, st.sampled_from(["first", "all"]),
    st.lists(setting_decls, max_size=3),
    st.lists(st.builds(lambda n, v: ast.Let(None, n, v), identifiers.filter(lambda n: n != "event"), values),
             max_size=3),
    st.lists(rules, max_size=3), st.lists(functions, max_size=2), st.sampled_from(["segment", "rudderstack"]) | text)


def read(text_: str) -> ast.Document:
    diags = DiagnosticBag()
    doc = parse_document(SourceFile("m.yaml", text_), diags)
    assert not diags.errors, "\n".join(d.render() for d in diags.errors) + "\n\n" + text_
    assert doc is not None
    return doc


@settings(max_examples=fuzz(100), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_unparse_then_read_gives_the_same_document(doc):
    printed = unparse_document(doc)
    assert read(printed) == doc, printed


def test_bundled_mappings_print_and_read_back():
    for name in bundled_names():
        doc, _ = check_source(read_mapping(name))
        assert doc is not None
        printed = unparse_document(doc)
        assert read(printed) == doc
        assert unparse_document(read(printed)) == printed


def test_a_for_item_prints_with_its_condition():
    doc = read("name: m\nrules:\n  - name: r\n    send:\n      - endpoint: /users/track\n        body:\n"
               "          purchases:\n            - for: $p in properties.products\n              if: is_object($p)\n"
               "              yield: {product_id: $p.id}\n")
    [item] = doc.rules[0].requests[0].body.entries[0].value.items
    assert unparse(item) == "for $p in properties.products if is_object($p): {product_id: $p.id}"
    assert "              if: is_object($p)\n" in unparse_document(doc)
