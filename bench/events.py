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
