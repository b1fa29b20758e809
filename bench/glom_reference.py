"""The same translation as a user would write it with glom, an interpretive data-transformation library:
one declarative spec per output object, interpreted on every event. The benchmark's interpretive reference."""

from __future__ import annotations

from glom import SKIP, Coalesce, T, glom
from handwritten import CONSUMED, GENDERS, ORDER, PRODUCT_RESERVED, RESERVED, Rejected, _iso, _time  # noqa: I001


def _nonempty(v):
    return v if isinstance(v, str) and v else SKIP


def make_translator(app_id=None, track_all_pages=False, update_existing_only=False):
    url = "https://rest.iad-01.braze.com/users/track"
    identity_spec = Coalesce(
        ({"external_id": ("userId", _nonempty)}),
        ({"braze_id": ("integrations.Braze.braze_id", _nonempty)}),
        ({"braze_id": ("context.integrations.Braze.braze_id", _nonempty)}),
        default=None)
    time_spec = Coalesce(("timestamp", _iso, lambda t: t or SKIP), ("receivedAt", _iso, lambda t: t or SKIP),
                         default=SKIP)
    common = {"app_id": lambda _: app_id if app_id is not None else SKIP, "time": time_spec}
    identify_spec = {
        "custom": Coalesce(("traits", lambda t: {k: v for k, v in t.items() if k not in CONSUMED}), default={}),
        "first_name": Coalesce("traits.firstName", "traits.first_name", default=SKIP),
        "last_name": Coalesce("traits.lastName", "traits.last_name", default=SKIP),
        "dob": Coalesce(("traits.birthday", _time, lambda t: t.strftime("%Y-%m-%d") if t else SKIP), default=SKIP),
        "image_url": Coalesce("traits.avatar", default=SKIP),
        "home_city": Coalesce("traits.address.city", default=SKIP),
        "country": Coalesce("traits.address.country", default=SKIP),
        "gender": Coalesce(("traits.gender", lambda g: GENDERS.get(g.lower()) if isinstance(g, str) else None),
                           default=None),
    }
    track_spec = {
        **common,
        "name": Coalesce("event", default=SKIP),
        "properties": Coalesce(("properties", lambda p: {k: v for k, v in p.items() if k not in RESERVED}),
                               default={}),
    }
    product_spec = {
        "app_id": common["app_id"],
        "product_id": Coalesce("product_id", "id", "sku", default=SKIP),
        "price": Coalesce("price", default=SKIP),
        "quantity": Coalesce("quantity", default=1),
        "properties": (lambda p: {k: v for k, v in p.items() if k not in PRODUCT_RESERVED} or SKIP),
    }
    page_spec = {
        **common,
        "name": (T, lambda e: _page_name(e)),
        "properties": (T, lambda e: {**(e.get("properties") or {}),
                                     **({"name": e["name"]} if "name" in e else {}),
                                     **({"category": e["category"]} if "category" in e else {})}),
    }

    def translate(event):
        kind = event.get("type")
        if kind == "alias":
            return []
        ident = glom(event, identity_spec)
        if ident is None:
            raise Rejected("userId or braze_id is required: send a non-empty userId, or integrations.Braze.braze_id")
        if kind == "identify":
            out = {k: v for k, v in glom(event, identify_spec).items()
                   if v is not SKIP and not (k == "gender" and v is None)}
            obj = {**ident, **out.pop("custom"), **out, "_update_existing_only": update_existing_only}
            return [{"method": "POST", "url": url, "body": {"attributes": [obj]}}]
        if kind == "track":
            name = event.get("event")
            if isinstance(name, str) and name.lower() in ORDER:
                products = glom(event, Coalesce("properties.products", default=None))
                if not isinstance(products, list) or not products:
                    return []
                time = glom(event, time_spec)
                currency = glom(event, Coalesce("properties.currency", default="USD"))
                purchases = []
                for p in products:
                    obj = {**ident, **glom(p, product_spec)}
                    obj = {**ident, "app_id": obj.get("app_id", SKIP), "product_id": obj.get("product_id", SKIP),
                           "currency": p.get("currency") or currency, "price": obj.get("price", SKIP),
                           "quantity": obj["quantity"], "time": time, "properties": obj.get("properties", SKIP),
                           "_update_existing_only": update_existing_only}
                    purchases.append({k: v for k, v in obj.items() if v is not SKIP})
                return [{"method": "POST", "url": url, "body": {"purchases": purchases}}]
            obj = {**ident, **glom(event, track_spec), "_update_existing_only": update_existing_only}
            return [{"method": "POST", "url": url, "body": {"events": [obj]}}]
        if kind in ("page", "screen"):
            if not track_all_pages:
                return []
            obj = {**ident, **glom(event, page_spec), "_update_existing_only": update_existing_only}
            order = ["external_id", "braze_id", "app_id", "name", "time", "properties", "_update_existing_only"]
            return [{"method": "POST", "url": url, "body": {"events": [{k: obj[k] for k in order if k in obj}]}}]
        if kind == "group":
            gid = event.get("groupId")
            return [{"method": "POST", "url": url, "body": {"attributes": [
                {**ident, f"ab_segment_group_{gid}": True, "_update_existing_only": update_existing_only}]}}]
        raise Rejected(f"unsupported event type {kind!r}")

    return translate


def _page_name(e):
    word = "Screen" if e.get("type") == "screen" else "Page"
    name, category = e.get("name"), e.get("category")
    if name and category:
        return f"Viewed {category} {name} {word}"
    if name:
        return f"Viewed {name} {word}"
    return f"Loaded a {word}"
