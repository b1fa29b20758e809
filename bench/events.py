"""A seeded, realistic mix of Segment events for the benchmarks."""

from __future__ import annotations

import random

PLANS = ["free", "pro", "team", "enterprise"]
EVENTS = ["Signed Up", "Product Viewed", "Added to Cart", "Checkout Started", "Video Played", "Search"]


def event_mix(n: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        user = f"user-{rng.randrange(5000)}"
        ts = f"2024-0{rng.randrange(1, 10)}-1{rng.randrange(10)}T1{rng.randrange(10)}:{rng.randrange(10, 60)}:" \
             f"{rng.randrange(10, 60)}.{rng.randrange(100, 1000)}Z"
        base = {"messageId": f"m-{i}", "userId": user, "timestamp": ts, "receivedAt": ts,
                "context": {"ip": "10.0.0.1", "library": {"name": "analytics.js", "version": "4.1.0"}}}
        r = rng.random()
        if r < 0.45:
            props = {"plan": rng.choice(PLANS), "value": rng.randrange(100), "path": "/p/" + str(rng.randrange(50))}
            if rng.random() < 0.3:
                props["price"] = 9.99
                props["currency"] = "EUR"
            base.update(type="track", event=rng.choice(EVENTS), properties=props)
        elif r < 0.65:
            traits = {"email": f"{user}@example.com", "firstName": "Jane", "lastName": "Doe",
                      "plan": rng.choice(PLANS), "logins": rng.randrange(100)}
            if rng.random() < 0.5:
                traits.update(gender=rng.choice(["female", "M", "other", "x"]), birthday="1990-05-17",
                              address={"city": "Oslo", "country": "NO"})
            base.update(type="identify", traits=traits)
        elif r < 0.80:
            base.update(type="page", name=rng.choice(["Home", "Pricing", None]), category=rng.choice(["Docs", None]),
                        properties={"url": "https://example.com/", "title": "Example"})
            base = {k: v for k, v in base.items() if v is not None}
        elif r < 0.88:
            base.update(type="group", groupId=f"g-{rng.randrange(100)}", traits={"name": "Acme"})
        else:
            products = [{"product_id": f"p-{rng.randrange(500)}", "sku": f"s-{j}", "name": "Thing",
                         "price": round(rng.random() * 100, 2), "quantity": rng.randrange(1, 4)}
                        for j in range(rng.randrange(1, 6))]
            base.update(type="track", event="Order Completed",
                        properties={"order_id": f"o-{i}", "currency": "USD", "products": products})
        if rng.random() < 0.02:
            base.pop("userId")
            base["anonymousId"] = "anon"
        out.append(base)
    return out


# ---------------------------------------------------------------------------------------------------------------
# The benchmark's mix: every event type, and the invalid values real streams carry.

#: what `birthday`, `timestamp` and `receivedAt` hold in real streams, valid or not (weights: valid first)
BIRTHDAYS = (["1990-05-17"] * 6 + ["1985-11-02T00:00:00.000Z", "1979-01-30T23:30:00-05:00", 631152000000,
                                   "September 26, 1991", "Thu, 01 Jan 2015 00:00:00 GMT", "1991/09/26"]
             + ["not a date", "not a date", "", "N/A", "unknown", None, "1990-13-45", "17/05/1990", "0000-00-00",
                "  ", True, {"year": 1990}, "19900517", "May 1990"])
BAD_TIMES = ["not a date", "", None, "yesterday", "2024-13-45T99:00:00Z", 1e20, "1714560000"]
GENDERS = ["female", "M", "other", "x", "Woman", "prefer not to say", "", None, 1, ["f"]]
TYPES_UNKNOWN = ["Identify", "batch", "", None, 5, "TRACK", ["track"]]


def realistic_mix(n: int, seed: int = 7) -> list[dict]:
    """Every Segment event type (identify, track, Order Completed, page, screen, group, alias, delete, unknown)
    with the invalid values real streams carry: unparseable dates, values of the wrong kind, missing identities,
    empty strings and nulls. About one event in ten is invalid in some way, one in twenty is rejected."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        user = f"user-{rng.randrange(5000)}"
        ts = f"2024-0{rng.randrange(1, 10)}-1{rng.randrange(10)}T1{rng.randrange(10)}:{rng.randrange(10, 60)}:" \
             f"{rng.randrange(10, 60)}.{rng.randrange(100, 1000)}Z"
        base: dict = {"messageId": f"m-{i}", "userId": user, "timestamp": ts, "receivedAt": ts,
                      "context": {"ip": "10.0.0.1", "library": {"name": "analytics.js", "version": "4.1.0"}}}
        if rng.random() < 0.03:  # a timestamp that does not parse; receivedAt usually does
            base["timestamp"] = rng.choice(BAD_TIMES)
        if rng.random() < 0.05:
            base["timestamp"] = 1714560000000 + rng.randrange(10**9)  # epoch milliseconds
        r = rng.random()
        if r < 0.34:
            props = {"plan": rng.choice(PLANS), "value": rng.randrange(100), "path": "/p/" + str(rng.randrange(50))}
            if rng.random() < 0.3:
                props["price"] = 9.99
                props["currency"] = "EUR"
            base.update(type="track", event=rng.choice(EVENTS), properties=props)
            if rng.random() < 0.05:
                base["properties"] = rng.choice([None, "a string", [1, 2], {}])
        elif r < 0.54:
            traits: dict = {"email": f"{user}@example.com", "firstName": "Jane", "lastName": "Doe",
                            "plan": rng.choice(PLANS), "logins": rng.randrange(100)}
            if rng.random() < 0.6:
                traits.update(gender=rng.choice(GENDERS), birthday=rng.choice(BIRTHDAYS),
                              address=rng.choice([{"city": "Oslo", "country": "NO"}, {"city": "Lyon"}, "Oslo", None]))
            if rng.random() < 0.1:
                traits.update(firstName=None, first_name=rng.choice(["Jane", None, ""]), email="")
            if rng.random() < 0.03:
                traits = rng.choice([None, [], "traits"])
            base.update(type="identify", traits=traits)
        elif r < 0.64:
            base.update(type="page", name=rng.choice(["Home", "Pricing", None, ""]),
                        category=rng.choice(["Docs", None, 7]),
                        properties={"url": "https://example.com/", "title": "Example"})
            base = {k: v for k, v in base.items() if v is not None or rng.random() < 0.2}
        elif r < 0.69:
            base.update(type="screen", name=rng.choice(["Home", "Settings", None]),
                        properties={"variation": rng.choice(["A", "B"])})
        elif r < 0.75:
            base.update(type="group", groupId=rng.choice([f"g-{rng.randrange(100)}"] * 6 + [42, 3.0, True, ""]),
                        traits={"name": "Acme"})
        elif r < 0.77:
            base.update(type="alias", previousId="anon-1")
        elif r < 0.79:
            base.update(type="delete")
        elif r < 0.81:
            base.update(type=rng.choice(TYPES_UNKNOWN))
            if base["type"] is None and rng.random() < 0.5:
                del base["type"]
        elif r < 0.83:  # rejected by the mapping: no name, no usable time, no groupId
            kind = rng.randrange(3)
            if kind == 0:
                base.update(type="track", event=rng.choice([None, "", 42]), properties={})
            elif kind == 1:
                base.update(type="track", event="Signed Up", timestamp=rng.choice(BAD_TIMES[:4]))
                del base["receivedAt"]
            else:
                base.update(type="group", groupId=rng.choice([None, ""]))
        else:
            products: list = [{"product_id": f"p-{rng.randrange(500)}", "sku": f"s-{j}", "name": "Thing",
                               "price": round(rng.random() * 100, 2), "quantity": rng.randrange(1, 4)}
                              for j in range(rng.randrange(1, 6))]
            if rng.random() < 0.1:
                products.append(rng.choice([None, "p-1", {"id": "p-2"}, {"sku": "s-9", "currency": "EUR"}]))
            if rng.random() < 0.03:
                products = rng.choice([[], None, "products"])
            base.update(type="track", event=rng.choice(["Order Completed"] * 8 + ["order_completed", "Completed Order"]),
                        properties={"order_id": f"o-{i}", "currency": rng.choice(["USD", "USD", None]),
                                    "products": products})
        u = rng.random()
        if u < 0.04:  # no usable identity: anonymous, an empty or non-string userId, sometimes a braze_id instead
            base["userId"] = rng.choice([None, "", 12345])
            if base["userId"] is None and rng.random() < 0.5:
                del base["userId"]
            base["anonymousId"] = "anon"
            if rng.random() < 0.5:
                where = base if rng.random() < 0.5 else base["context"]
                where["integrations"] = {"Braze": {"braze_id": f"b-{rng.randrange(1000)}"}}
        out.append(base)
    return out


def write_ndjson(stream, n: int, seed: int = 7, chunk: int = 10_000) -> None:
    """`n` events of the realistic mix as NDJSON bytes, generated a chunk at a time (constant memory)."""
    import json

    for start in range(0, n, chunk):
        stream.write("".join(json.dumps(e) + "\n" for e in realistic_mix(min(chunk, n - start), seed + start))
                     .encode())


if __name__ == "__main__":  # python bench/events.py N: N events of the realistic mix on stdout
    import sys

    write_ndjson(sys.stdout.buffer, int(sys.argv[1]))
