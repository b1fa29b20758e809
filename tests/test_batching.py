"""Bodies of many events merged into requests as the target description says (mapspec/delivery/batching.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from mapspec.delivery import Options
from mapspec.delivery.batching import Batch, Batcher
from mapspec.targets import bundled

BRAZE = bundled("braze")
BASE = "https://rest.iad-01.braze.com"


@dataclass
class Owner:
    name: str
    objects: int = 0
    waiting: int = 0


class Merged:
    """A batch as a test reads it."""

    def __init__(self, batch: Batch):
        self.batch = batch
        self.url, self.method, self.whole = batch.url, batch.method, batch.alone

    def body(self):
        return json.loads(self.batch.body())

    def count(self):
        return self.batch.count

    def positions(self):
        return sorted(((name, i, item) for (name, i), item in self.batch.indexed().items()),
                      key=lambda x: (x[0], x[1]))

    def split(self):
        items = self.batch.items()
        middle = len(items) // 2
        return [Merged(self.batch.part(part)) for part in (items[:middle], items[middle:])]


class Superseded:
    def __init__(self, batcher: Batcher):
        self.superseded = batcher.superseded


def merge(requests, batch_size=None, max_objects=None):
    """Every batch the requests make (the full ones, then the rest), and what was superseded."""
    b = Batcher(Options(batch_size=batch_size, max_objects=max_objects), BRAZE)
    out = []
    for i, r in enumerate(requests):
        out += b.add(b.prepare(r), Owner(f"line {i + 1}"))
    return [Merged(x) for x in out + b.drain()], Superseded(b)


def track(i, **arrays):
    return {"method": "POST", "url": f"{BASE}/users/track", "body": arrays}


def test_users_track_merges_up_to_75_per_array():
    batches, _ = merge([track(i, attributes=[{"external_id": f"u{i}"}], events=[{"external_id": f"u{i}"}])
                        for i in range(80)])
    assert [len(b.body()["attributes"]) for b in batches] == [75, 5]
    assert [len(b.body()["events"]) for b in batches] == [75, 5]
    batches, _ = merge([track(i, attributes=[{"external_id": f"u{i}"}], events=[{"external_id": f"u{i}"}])
                        for i in range(80)], max_objects=50)
    assert [b.count() for b in batches] == [50, 50, 50, 10]


def test_other_fields_must_be_equal_to_share_a_request():
    a = track(0, attributes=[{"external_id": "a"}])
    b = dict(track(1, attributes=[{"external_id": "b"}]))
    b["body"] = dict(b["body"], app_group_id="g2")
    batches, _ = merge([a, b])
    assert [b.body() for b in batches] == [{"attributes": [{"external_id": "a"}]},
                                           {"app_group_id": "g2", "attributes": [{"external_id": "b"}]}]


def test_an_index_in_errors_names_the_object_as_sent():
    batches, _ = merge([track(0, events=[{"n": 0}], purchases=[{"n": 1}]), track(1, events=[{"n": 2}])])
    [batch] = batches
    assert [(a, i, item.owner.name) for a, i, item in batch.positions()] == [
        ("events", 0, "line 1"), ("events", 1, "line 2"), ("purchases", 0, "line 1")]


def test_deletes_go_50_ids_and_one_kind_per_request():
    reqs = [{"method": "POST", "url": f"{BASE}/users/delete", "body": {"external_ids": [f"u{i}"]}} for i in range(60)]
    reqs.append({"method": "POST", "url": f"{BASE}/users/delete", "body": {"braze_ids": ["b1"]}})
    batches, _ = merge(reqs)
    assert sorted((list(b.body()), b.count()) for b in batches) == [
        (["braze_ids"], 1), (["external_ids"], 10), (["external_ids"], 50)]


def cohort_change(user, remove, time):
    change = {"user_ids": [user], "device_ids": [], "aliases": []}
    if remove:
        change["should_remove"] = True
    return {"method": "POST", "url": f"{BASE}/partners/segment/cohorts/users", "time": time,
            "body": {"client_secret": "s", "cohort_id": "c1", "cohort_changes": [change]}}


def test_cohort_changes_keep_each_users_latest_state_in_a_batch():
    # enters at 00:02, leaves at 00:01 (sent later): the entry is the latest state
    batches, m = merge([cohort_change("u1", False, "2030-01-01T00:00:02.000Z"),
                        cohort_change("u1", True, "2030-01-01T00:00:01.000Z"),
                        cohort_change("u2", True, "2030-01-01T00:00:01.000Z"),
                        cohort_change("u3", False, None), cohort_change("u3", False, None)])
    [batch] = batches
    assert batch.body() == {"client_secret": "s", "cohort_id": "c1", "cohort_changes": [
        {"user_ids": ["u1", "u3"], "device_ids": [], "aliases": []},
        {"user_ids": ["u2"], "device_ids": [], "aliases": [], "should_remove": True}]}
    assert sorted(i.owner.name for i in m.superseded) == ["line 2", "line 4"]  # line 4: an equal time, earlier
    # every object is accounted for: in the batch, or superseded
    assert batch.count() + len(m.superseded) == 5


def test_a_change_with_no_one_in_it_sends_nothing():
    empty = cohort_change("u1", False, None)
    empty["body"]["cohort_changes"][0]["user_ids"] = []
    batches, _ = merge([empty])
    assert batches == []


def test_cohorts_of_different_ids_go_apart():
    a, b = cohort_change("u1", False, None), cohort_change("u1", False, None)
    b["body"]["cohort_id"] = "c2"
    batches, m = merge([a, b])
    assert sorted(x.body()["cohort_id"] for x in batches) == ["c1", "c2"] and not m.superseded


def test_a_cohort_is_created_in_a_request_of_its_own():
    create = {"method": "POST", "url": f"{BASE}/partners/segment/cohorts", "once": "c1",
              "body": {"client_secret": "s", "cohort_id": "c1", "name": "n"}}
    batches, _ = merge([create, dict(create)])
    assert [b.body() for b in batches] == [create["body"]] * 2 and all(b.whole for b in batches)
    assert all(b.batch.once == "c1" for b in batches)


def test_single_catalog_items_merge_into_a_collection_request():
    reqs = [{"method": "PUT", "url": f"{BASE}/catalogs/my%20cars/items/car%2F{i}", "body": {"items": [{"n": i}]}}
            for i in range(52)]
    batches, _ = merge(reqs)
    assert [b.url for b in batches] == [f"{BASE}/catalogs/my%20cars/items/"] * 2
    assert [b.count() for b in batches] == [50, 2]
    assert batches[1].body() == {"items": [{"id": "car/50", "n": 50}, {"id": "car/51", "n": 51}]}
    assert batches[0].method == "PUT"


def test_a_catalog_item_twice_waits_for_the_next_request_in_order():
    """Braze's bulk item endpoints take an id once per request (Segment's batches refuse the second): the
    second write of an item goes into the next request, after the first, and nothing is dropped."""
    reqs = [{"method": "PUT", "url": f"{BASE}/catalogs/cars/items/{sku}", "body": {"items": [{"n": i}]}}
            for i, sku in enumerate(["a", "b", "a", "c"])]
    batches, _ = merge(reqs)
    assert [b.body() for b in batches] == [{"items": [{"id": "a", "n": 0}, {"id": "b", "n": 1}]},
                                           {"items": [{"id": "a", "n": 2}, {"id": "c", "n": 3}]}]


def test_the_emulator_refuses_a_catalog_request_with_an_id_twice():
    from mapspec.delivery.validation import answer

    status, reply, accepted = answer(BRAZE, "PUT", "/catalogs/cars/items", {"items": [{"id": "a"}, {"id": "a"}]})
    assert (status, accepted) == (400, {}) and reply["errors"] == ['two items with the id "a" in one request']
    assert answer(BRAZE, "PUT", "/catalogs/cars/items", {"items": [{"id": "a"}, {"id": "b"}]})[0] == 202


def test_subscription_groups_merge_by_group_and_state():
    def sub(group, state, user):
        return {"method": "POST", "url": f"{BASE}/v2/subscription/status/set", "body": {"subscription_groups": [
            {"subscription_group_id": group, "subscription_state": state, "external_ids": [user]}]}}

    batches, _ = merge([sub("g1", "subscribed", "a"), sub("g1", "subscribed", "b"), sub("g1", "unsubscribed", "c"),
                        sub("g2", "subscribed", "d")])
    [batch] = batches
    assert batch.body() == {"subscription_groups": [
        {"subscription_group_id": "g1", "subscription_state": "subscribed", "external_ids": ["a", "b"]},
        {"subscription_group_id": "g1", "subscription_state": "unsubscribed", "external_ids": ["c"]},
        {"subscription_group_id": "g2", "subscription_state": "subscribed", "external_ids": ["d"]}]}


def test_an_unknown_url_is_sent_as_it_is_and_a_body_that_is_not_an_object_not_at_all():
    import pytest

    from mapspec.delivery.batching import Unsendable

    batches, _ = merge([{"method": "POST", "url": "https://elsewhere.example/hook", "body": {"a": 1}}])
    assert [b.body() for b in batches] == [{"a": 1}]
    with pytest.raises(Unsendable):
        merge([{"method": "POST", "url": f"{BASE}/users/track", "body": ["not", "an", "object"]}])


def test_split_halves_keep_every_object_once():
    batches, _ = merge([track(i, events=[{"n": i}]) for i in range(7)])
    halves = batches[0].split()
    assert [len(h.body()["events"]) for h in halves] == [3, 4]
    assert sorted(e["n"] for h in halves for e in h.body()["events"]) == list(range(7))
