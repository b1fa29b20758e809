"""The checker's satisfiability search (mapspec.logic), against brute force, and on mappings with many rules."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from mapspec import logic
from mapspec.compiler import check_source
from mapspec.source import SourceFile

NAMES = "abcde"


def evaluate(f, values: dict) -> bool:
    if f is True or f is False:
        return f
    kind = f[0]
    if kind == "atom":
        return values[f[1]]
    if kind == "not":
        return not evaluate(f[1], values)
    if kind == "amo":
        return sum(values[p[1]] for p in f[1]) <= 1
    parts = [evaluate(p, values) for p in f[1]]
    return all(parts) if kind == "and" else any(parts)


formulas = st.recursive(
    st.sampled_from(NAMES).map(logic.atom),
    lambda inner: st.one_of(
        inner.map(logic.neg),
        st.lists(inner, min_size=1, max_size=4).map(lambda fs: logic.conj(*fs)),
        st.lists(inner, min_size=1, max_size=4).map(lambda fs: logic.disj(*fs)),
        st.lists(st.sampled_from(NAMES), min_size=0, max_size=5).map(lambda ns: logic.at_most_one(*ns)),
    ),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(formulas)
def test_satisfy_agrees_with_trying_every_assignment(f):
    models = [dict(zip(NAMES, bits, strict=True)) for bits in itertools.product([False, True], repeat=len(NAMES))]
    possible = any(evaluate(f, m) for m in models)
    found = logic.satisfy(f)
    assert (found is not None) == possible
    if found:
        assert evaluate(f, {n: found.get(n, False) for n in NAMES})  # the assignment it gives is a model


def _many_rules(n: int) -> str:
    rules = "".join(
        f"  - name: r{i}\n    when: type == \"track\" and event == \"e{i}\"\n    send:\n      endpoint: /users/track\n"
        "      body: {events: [{external_id: userId, name: event, time: iso_time(timestamp)}]}\n" for i in range(n))
    return f"name: m\nbase_url: '\"https://x.example\"'\nrules:\n{rules}"


def test_a_path_compared_with_many_texts_is_one_clause_and_each_rule_still_gets_its_witness():
    """A mapping of 120 rules (`event == "eN"` each) took minutes: a path equal to one text was n*(n-1)/2
    pairwise exclusions, searched anew for every question."""
    _, diagnostics = check_source(SourceFile("m.yaml", _many_rules(120)))
    may = [d for d in diagnostics if d.code == "W406" and "`time`" in d.message]
    assert len(may) == 120 and 'and `event` is "e119"' in may[-1].message


def test_deep_searches_end_in_diagnostics_not_a_recursion_error():
    skips = "".join(
        f"  - name: s{i}\n    when: {' and '.join(f'exists(traits.y{i}_{j})' for j in range(40))} or type == \"x{i}\"\n"
        "    skip: '\"no\"'\n" for i in range(60))
    text = (f"name: m\nbase_url: '\"https://x.example\"'\nrules:\n{skips}  - name: send\n    when: true\n    send:\n"
            "      endpoint: /users/track\n      body: {events: [{external_id: userId, name: event, time: timestamp}]}\n")
    _, diagnostics = check_source(SourceFile("m.yaml", text))
    assert {d.code for d in diagnostics} <= {"W406"} and diagnostics
