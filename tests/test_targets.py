"""Targets are descriptions: the bundled Braze one, a made-up second one, and what the checker, the code
generator and `translate` make of them."""

from __future__ import annotations

import json

import pytest

import mapspec
from mapspec.compiler import check_source
from mapspec.source import SourceFile
from mapspec.targets import bundled, load_target, read_target
from tests.conftest import ROOT, compile_text

BRAZE = bundled("braze")
CRM = ROOT / "tests" / "fixtures" / "targets" / "crm.yaml"

#: every endpoint the Segment integrations use (issue 9), as a mapping names it
ENDPOINTS = [
    "POST /users/track", "POST /users/delete", "POST /users/alias/new", "POST /users/identify", "POST /users/merge",
    "POST /subscription/status/set", "POST /v2/subscription/status/set", "POST /campaigns/trigger/send",
    "POST /canvas/trigger/send", "PUT /catalogs/{catalog_name}/items", "DELETE /catalogs/{catalog_name}/items",
    "POST /partners/segment/cohorts", "POST /partners/segment/cohorts/users",
]


def codes(text: str, path: str = "t.yaml") -> list[str]:
    _, diags = check_source(SourceFile(path, text))
    return [d.code for d in diags]


def mapping(endpoint: str, body: str, params: str = "", extra: str = "") -> str:
    return ("name: t\nbase_url: '\"https://rest.iad-01.braze.com\"'\n" + extra + "rules:\n  - name: r\n"
            "    when: type == \"track\"\n    send:\n" f"      endpoint: {endpoint}\n" + params +
            f"      body: {body}\n")


def test_braze_describes_every_endpoint_the_integrations_use():
    for key in ENDPOINTS:
        endpoint = BRAZE.endpoints[key]
        assert endpoint.doc and endpoint.credentials, key
        assert endpoint.body.is_object, key
    assert BRAZE.max_body_bytes == 4 * 1024 * 1024
    track = BRAZE.endpoints["POST /users/track"]
    assert track.batch.arrays == ("attributes", "events", "purchases") and track.batch.per_array == 75
    assert track.rate.requests == 3000 and track.rate.seconds == 3
    assert BRAZE.endpoints["POST /users/delete"].batch.total == 50
    cohorts = BRAZE.endpoints["POST /partners/segment/cohorts/users"].batch.groups["cohort_changes"]
    assert cohorts.latest_wins and cohorts.members == ("user_ids", "device_ids", "aliases")
    assert BRAZE.credentials["partner"].env == "BRAZE_PARTNER_API_KEY"


def test_an_endpoint_is_found_by_method_and_path_or_by_a_path_with_one_method():
    assert BRAZE.find("/users/track")[0] is BRAZE.endpoints["POST /users/track"]
    assert BRAZE.find("post /users/track")[0] is BRAZE.endpoints["POST /users/track"]
    found, hints = BRAZE.find("/catalogs/{catalog_name}/items")
    assert found is None and "write the method first" in hints[0]
    e, params = BRAZE.endpoint_for("PUT", "/prefix/catalogs/my%20cars/items/a1")
    assert e.key == "PUT /catalogs/{catalog_name}/items/{item_id}" and params == {"catalog_name": "my%20cars",
                                                                                  "item_id": "a1"}
    assert BRAZE.endpoint_for("PUT", "/catalogs/cars/items")[0].key == "PUT /catalogs/{catalog_name}/items"
    assert BRAZE.endpoint_for("GET", "/users/track") is None


@pytest.mark.parametrize("key", ENDPOINTS)
def test_each_endpoint_checks_unknown_and_required_fields(key):
    endpoint = BRAZE.endpoints[key]
    params = ("      params: {" + ", ".join(f"{p}: '\"x\"'" for p in endpoint.params) + "}\n") if endpoint.params \
        else ""
    if endpoint.body.required:  # an empty body misses every required field: an error, not a guess
        assert "E307" in codes(mapping(key, "{}", params)), key
    if endpoint.body.extra is None:
        assert "E301" in codes(mapping(key, "{zz_not_a_field: 1}", params)), key


@pytest.mark.parametrize("body,code", [
    ('{events: [{external_id: userId, name: 1, time: \'"2024-01-01"\'}]}', "E205"),  # wrong kind
    ('{events: [{external_id: userId, nmae: event, time: \'"2024-01-01"\'}]}', "E301"),  # unknown field
    ('{events: [{external_id: userId, time: \'"2024-01-01"\'}]}', "E307"),  # required, never given
    ('{events: [{external_id: userId, name: event, time: \'"2024-01-01"\'}]}', "W406"),  # may be missing
    ('{attributes: [{external_id: userId, gender: \'"U"\'}]}', "E306"),  # not an allowed value
    ('{attributes: [{gender: \'"F"\'}]}', "E307"),  # no identifier at all
])
def test_users_track_bodies(body, code):
    assert code in codes(mapping("/users/track", body))


def test_a_required_field_guarded_by_an_earlier_rule_is_not_a_warning():
    text = ("name: t\nbase_url: '\"http://x\"'\nrules:\n"
            "  - name: no event\n    when: type == \"track\" and not is_string(event)\n    reject: '\"no event\"'\n"
            "  - name: track\n    when: type == \"track\" and is_string(userId)\n    send:\n"
            "      endpoint: /users/track\n      body: {events: [{external_id: userId, name: event, "
            "time: '\"2024-01-01\"'}]}\n")
    assert codes(text) == []


def test_the_warning_names_the_event_shape():
    _, diags = check_source(SourceFile("t.yaml", mapping(
        "/users/track", '{events: [{external_id: userId, name: event, time: \'"2024-01-01"\'}]}')))
    [w] = [d for d in diags if d.code == "W406" and "`name`" in d.message]
    assert "when `event` is missing" in w.message and '`type` is "track"' in w.message


def test_path_parameters_are_checked():
    key = "PUT /catalogs/{catalog_name}/items/{item_id}"
    assert "E305" in codes(mapping(key, "{items: [{a: 1}]}", "      params: {catalog_name: '\"c\"'}\n"))
    assert "E305" in codes(mapping(key, "{items: [{a: 1}]}",
                                   "      params: {catalog_name: '\"c\"', item_id: '\"i\"', extra: 1}\n"))
    assert "E205" in codes(mapping(key, "{items: [{a: 1}]}",
                                   "      params: {catalog_name: '[1]', item_id: '\"i\"'}\n"))
    assert "E302" in codes(mapping("/catalogs/{catalog_name}/items", "{items: []}",
                                   "      params: {catalog_name: '\"c\"'}\n"))


def test_translate_fills_and_encodes_path_parameters_and_rejects_a_missing_one():
    t = compile_text(mapping("PUT /catalogs/{catalog_name}/items/{item_id}", "{items: [{name: properties.name}]}",
                             "      params: {catalog_name: '\"my cars\"', item_id: properties.id}\n"))
    [req] = t({"type": "track", "properties": {"id": "a/b?c", "name": "N"}})
    assert req == {"method": "PUT", "url": "https://rest.iad-01.braze.com/catalogs/my%20cars/items/a%2Fb%3Fc",
                   "body": {"items": [{"name": "N"}]}}
    assert t({"type": "track", "properties": {"id": 12}})[0]["url"].endswith("/items/12")
    for bad in ({}, {"id": None}, {"id": {"x": 1}}, {"id": True}):
        with pytest.raises(mapspec.Rejected, match="path parameter `item_id`"):
            t({"type": "track", "properties": bad})


def test_once_and_time_travel_with_the_request():
    t = compile_text(
        "name: t\nbase_url: '\"https://rest.iad-01.braze.com\"'\nrules:\n  - send:\n"
        "      - endpoint: /partners/segment/cohorts\n        once: properties.cohort\n"
        "        body: {client_secret: '\"s\"', cohort_id: properties.cohort, name: '\"n\"'}\n"
        "      - endpoint: /partners/segment/cohorts/users\n        time: timestamp\n"
        "        body: {client_secret: '\"s\"', cohort_id: properties.cohort, cohort_changes: [{user_ids: [userId]}]}\n")
    create, change = t({"userId": "u", "properties": {"cohort": 7}, "timestamp": "2024-01-01T00:00:00Z"})
    assert create["once"] == "7" and "time" not in create
    assert change["time"] == "2024-01-01T00:00:00Z" and "once" not in change
    create, change = t({"userId": "u", "properties": {"cohort": "c"}})
    assert create["once"] == "c" and "time" not in change  # a missing time is left out


MATCH_ALL = """
name: several subscriptions
base_url: '"https://rest.iad-01.braze.com"'
match: all
rules:
  - name: events
    when: type == "track"
    send:
      endpoint: /users/track
      body: {events: [{external_id: userId, name: event, time: timestamp}]}
  - name: purchases need products
    when: type == "track" and event == "Order Completed" and not is_list(properties.products)
    reject: '"Order Completed needs products"'
  - name: aliases
    when: type == "track" and exists(properties.alias)
    send:
      endpoint: /users/alias/new
      body: {user_aliases: [{external_id: userId, alias_name: properties.alias, alias_label: '"x"'}]}
  - name: pages are skipped
    when: type == "page"
    skip: '"not subscribed"'
"""


def test_match_all_runs_every_rule_that_holds():
    t = compile_text(MATCH_ALL)
    track = {"type": "track", "userId": "u", "event": "E", "timestamp": "t", "properties": {"alias": "a"}}
    reqs = t(track)
    assert [r["url"].rsplit("/", 2)[-2:] for r in reqs] == [["users", "track"], ["alias", "new"]]
    assert t({"type": "page"}) == [] and t({"type": "identify"}) == []
    with pytest.raises(mapspec.Rejected) as e:
        t({"type": "track", "userId": "u", "event": "Order Completed", "timestamp": "t"})
    assert str(e.value) == "Order Completed needs products"
    assert [r["body"] for r in e.value.requests] == [{"events": [{"external_id": "u", "name": "Order Completed",
                                                                  "time": "t"}]}]


def test_match_all_with_a_rule_whose_requests_are_all_compiled_out():
    t = compile_text(MATCH_ALL.replace("    send:\n      endpoint: /users/alias/new\n",
                                       "    send:\n      endpoint: /users/alias/new\n      when: length([]) > 0\n"))
    assert len(t({"type": "track", "userId": "u", "event": "E", "timestamp": "t", "properties": {"alias": "a"}})) == 1


def test_match_all_in_a_standalone_module(tmp_path):
    from mapspec.compiler import compile_source

    source = compile_source(SourceFile("m.yaml", MATCH_ALL)).module.source
    namespace: dict = {}
    exec(compile(source, "m.py", "exec"), namespace)  # noqa: S102 - our own generated module
    with pytest.raises(namespace["Rejected"]) as e:
        namespace["translate"]({"type": "track", "userId": "u", "event": "Order Completed", "timestamp": "t"})
    assert len(e.value.requests) == 1


def test_a_second_target_is_a_description_and_nothing_else():
    text = (f"name: crm sync\ntarget: {CRM}\nbase_url: '\"https://crm.example\"'\nrules:\n"
            "  - name: contact\n    when: type == \"identify\" and is_string(traits.email)\n    send:\n"
            "      - endpoint: /contacts/batch\n        body: {contacts: [{email: traits.email, "
            "stage: '\"lead\"', tags: [userId]}]}\n"
            "      - endpoint: /lists/{list}/members\n        params: {list: '\"newsletter\"'}\n"
            "        body: {emails: [traits.email]}\n")
    assert codes(text) == []
    t = compile_text(text)
    reqs = t({"type": "identify", "userId": "u", "traits": {"email": "a@b.c"}})
    assert reqs == [
        {"method": "POST", "url": "https://crm.example/contacts/batch",
         "body": {"contacts": [{"email": "a@b.c", "stage": "lead", "tags": ["u"]}]}},
        {"method": "PUT", "url": "https://crm.example/lists/newsletter/members", "body": {"emails": ["a@b.c"]}},
    ]
    assert "E306" in codes(text.replace('\'"lead"\'', '\'"prospect"\''))
    assert "E302" in codes(text.replace("/contacts/batch", "/users/track"))


def test_a_target_path_is_relative_to_the_mapping(tmp_path):
    (tmp_path / "api.yaml").write_text(CRM.read_text())
    text = ("name: t\ntarget: ./api.yaml\nbase_url: '\"http://x\"'\nrules:\n  - send:\n"
            "      endpoint: /contacts/batch\n      body: {contacts: [{email: '\"a\"'}]}\n")
    (tmp_path / "m.yaml").write_text(text)
    assert codes(text, str(tmp_path / "m.yaml")) == []
    assert codes(text.replace("./api.yaml", "./nope.yaml"), str(tmp_path / "m.yaml")) == ["E303"]
    assert codes(text.replace("./api.yaml", "brazee"), str(tmp_path / "m.yaml")) == ["E303"]


SECRET = "sekrit-0a1b2c3d"


@pytest.mark.parametrize("name,file", [
    (".env", f"BRAZE_REST_API_KEY={SECRET}\n"), ("../keys/.env", f"BRAZE_REST_API_KEY={SECRET}\n"),
    ("./api-key", f"{SECRET}\n"), ("/dev/zero", None), ("./keys", None)])
def test_a_target_that_is_not_a_description_file_is_an_error_at_the_value_and_is_never_read(tmp_path, name, file):
    """A hostile mapping in a pull request must not make `mapspec check` print a key file into CI's logs."""
    from tests.test_cli import mapspec as cli

    (tmp_path / "m").mkdir()
    (tmp_path / "keys").mkdir()
    if file is not None:
        path = tmp_path / "m" / name if not name.startswith("..") else tmp_path / "keys" / ".env"
        path.write_text(file)
    (tmp_path / "m" / "map.yaml").write_text(f"name: t\ntarget: {name}\nbase_url: '\"http://x\"'\nrules: []\n")
    proc = cli("check", str(tmp_path / "m" / "map.yaml"))
    err = proc.stderr.decode()
    assert proc.returncode == 1 and SECRET not in err and "Traceback" not in err, err
    assert "map.yaml:2:9: error:" in err and "[E303]" in err, err


@pytest.mark.parametrize("text", [f"BRAZE_REST_API_KEY={SECRET}\n", f"rest: {SECRET}\n",
                                  f"- {SECRET}\n", f"key: a: {SECRET}\n"])
def test_a_yaml_file_that_is_no_description_at_all_is_not_shown(tmp_path, text):
    (tmp_path / "keys.yaml").write_text(text)
    target, diags = load_target("./keys.yaml", str(tmp_path / "m.yaml"))
    [d] = diags
    assert target is None and d.code == "E304" and SECRET not in d.render(), d.render()


def test_a_target_path_with_a_nul_is_a_diagnostic_at_the_value(tmp_path):
    (tmp_path / "m.yaml").write_text('name: t\ntarget: "./x\\u0000.yaml"\nbase_url: \'"http://x"\'\nrules: []\n')
    from tests.test_cli import mapspec as cli

    proc = cli("check", str(tmp_path / "m.yaml"))
    err = proc.stderr.decode()
    assert proc.returncode == 1 and "m.yaml:2:9: error: a target's name or path cannot hold a NUL" in err, err


def test_a_json_target_description_is_read(tmp_path):
    import yaml

    (tmp_path / "api.json").write_text(json.dumps(yaml.safe_load(CRM.read_text())))
    target, diags = load_target("api.json", str(tmp_path / "m.yaml"))
    assert diags == [] and target is not None and target.name


@pytest.mark.parametrize("text,where", [
    ("name: x\nendpoints: []\n", "2:12"),
    ("name: x\nendpoints:\n  /users/track: {}\n", "3:3"),
    ("name: x\nendpoints:\n  POST /a:\n    body: {fields: {a: strng}}\n", "4:24"),
    ("name: x\nendpoints:\n  POST /a:\n    body: {fields: {a: string}, required: [b]}\n", "4:11"),
    ("name: x\nendpoints:\n  POST /a:\n    rate: fast\n", "4:11"),
    ("name: x\ntypes:\n  a: b\n  b: a\nendpoints: {}\n", "4:6"),
    ("name: x\nendpoints:\n  POST /a:\n    body: {fields: {a: string}}\n    batch: {arrays: [a]}\n", "5:22"),
    ("name: x\nendpoints:\n  POST /a:\n    body: {fields: {a: {pattern: '('}}}\n", "4:34"),
    ("name: x\nendpoints: {POST /a: {bdy: 1}}\n", "2:23"),
    ("name: [x\n", "2:1"),
    # header text a request could not carry: run took each failure for "no answer" and retried for minutes
    ("name: x\ncredentials:\n  k: {header: \"X Api\\nToken\"}\nendpoints: {}\n", "3:15"),
    ("name: x\ncredentials:\n  k: {header: A, format: \"a\\r\\nX-Evil: {key}\"}\nendpoints: {}\n", "3:26"),
    ("name: x\nbatch_headers: {X-Batch: \"a\\nb\"}\nendpoints: {}\n", "2:26"),
    ("name: x\nbatch_headers: {X Batch: b}\nendpoints: {}\n", "2:17"),
    # limits that allow nothing, and a path parameter named twice
    ("name: x\nmax_body_bytes: 0\nendpoints: {}\n", "2:17"),
    ("name: x\nendpoints:\n  POST /a:\n    body: {fields: {a: 'string[]'}}\n    batch: {arrays: [a], per_array: 0}\n",
     "5:37"),
    ("name: x\nendpoints:\n  POST /a:\n    body: {fields: {a: 'string[]'}}\n    batch: {arrays: [a], total: 0}\n",
     "5:33"),
    ("name: x\nendpoints:\n  POST /contacts/{x}/{x}: {}\n", "3:3"),
])
def test_a_broken_description_is_a_diagnostic_with_its_position(text, where):
    target, diags = read_target(SourceFile("api.yaml", text))
    assert target is None
    [d] = diags
    assert d.code == "E304" and d.location() == f"api.yaml:{where}", d.render()


def test_the_bundled_description_has_no_problem():
    target, diags = load_target("braze")
    assert target is not None and diags == []


def test_the_editor_schema_knows_each_endpoint_and_its_fields():
    import jsonschema

    from mapspec.schema import mapping_schema

    schema = mapping_schema()

    def validate(request):
        jsonschema.validate({"name": "x", "rules": [{"send": request}]}, schema)

    validate({"endpoint": "PUT /catalogs/{catalog_name}/items", "params": {"catalog_name": "x"},
              "body": {"items": [{"id": "properties.id"}]}})
    validate({"endpoint": "/users/merge", "body": {"merge_updates": []}})
    for bad in ({"endpoint": "/users/track", "body": {"events": [{"nmae": "event"}]}},
                {"endpoint": "PUT /catalogs/{catalog_name}/items", "body": {"items": []}},
                {"endpoint": "/catalogs/{catalog_name}/items", "params": {"catalog_name": "x"}, "body": {}}):
        with pytest.raises(jsonschema.ValidationError):
            validate(bad)
    text = json.dumps(schema)
    assert "ecommerce" not in text and "/partners/segment/cohorts/users" in text


def test_run_speaks_of_a_second_target_by_its_own_name(tmp_path):
    """Messages come from the description (its title, its key's variable): nothing in run says Braze to a CRM."""
    from mapspec.delivery import Fatal, Job, Options, run
    from mapspec.delivery.emulator import Emulator
    from mapspec.targets import load_target

    text = (f"name: crm sync\ntarget: {CRM}\nbase_url: '\"https://crm.example\"'\nrules:\n"
            "  - name: contact\n    when: type == \"identify\"\n    send:\n"
            "      - endpoint: /contacts/batch\n        body: {contacts: [{email: traits.email}]}\n")
    events = tmp_path / "e.ndjson"
    events.write_text('{"type": "identify", "traits": {"email": "a@b.c"}}\n')
    crm, _ = load_target(str(CRM))
    with Emulator(api_key="right", target=crm) as emu:
        with pytest.raises(Fatal) as stopped:
            run(Job(compile_text(text), [str(events)], "wrong", Options(), endpoint=emu.url))
    message = str(stopped.value)
    assert message.startswith("crm answered 401") and "CRM_TOKEN" in message and "Braze" not in message


def test_a_field_given_as_false_is_not_given_beside_its_exclusive_one():
    """Braze takes `broadcast: false` beside `recipients` (Segment's trigger actions send it so): only a true
    broadcast excludes the recipients."""
    from mapspec.targets.validate import problems

    body = bundled("braze").endpoint_for("POST", "/campaigns/trigger/send")[0].body
    recipients = [{"external_user_id": "u1"}]
    assert problems(body, {"campaign_id": "c", "broadcast": False, "recipients": recipients}) == []
    assert problems(body, {"campaign_id": "c", "broadcast": True, "recipients": recipients}) == [
        "'broadcast' and 'recipients' cannot be given together"]


@pytest.mark.parametrize("text", ["", f"BRAZE_REST_API_KEY={SECRET}\n", f"key: a: {SECRET}\n"])
def test_a_problem_with_a_target_file_as_a_whole_is_reported_at_the_target_value(tmp_path, text):
    from tests.test_cli import mapspec as cli

    (tmp_path / "keys.yaml").write_text(text)
    (tmp_path / "m.yaml").write_text("name: t\ntarget: ./keys.yaml\nbase_url: '\"http://x\"'\nrules: []\n")
    proc = cli("check", str(tmp_path / "m.yaml"))
    out = proc.stdout.decode() + proc.stderr.decode()
    assert proc.returncode == 1 and "m.yaml:2:9: error:" in out and "[E304]" in out and SECRET not in out, out
