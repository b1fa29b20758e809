"""A careful hand-written translator for ../shared/spec/segment-braze.md: the bar the compiler must meet.

Written as a Python programmer would write it for this spec with these settings, without mapspec.
"""

from __future__ import annotations

import datetime

UTC = datetime.UTC


class Rejected(Exception):
    pass


RESERVED = frozenset(("time", "quantity", "event_name", "price", "currency"))
PRODUCT_RESERVED = frozenset(("product_id", "quantity", "price", "currency", "time", "event_name"))
CONSUMED = frozenset(("firstName", "lastName", "first_name", "last_name", "birthday", "avatar", "address", "gender",
                      "external_id", "braze_id", "user_alias", "_update_existing_only", "app_id"))
GENDERS = {"f": "F", "female": "F", "woman": "F", "m": "M", "male": "M", "man": "M", "o": "O", "other": "O",
           "n": "N", "not applicable": "N", "p": "P", "prefer not to say": "P"}
ORDER = frozenset(("order completed", "order_completed", "completed order"))
TYPES = "expected identify, track, page, screen, group, alias or delete"


def _time(value):
    if isinstance(value, str):
        try:
            t = datetime.datetime.fromisoformat(value)
        except ValueError:
            return None
        if t.tzinfo is None:
            t = t.replace(tzinfo=UTC)
        elif t.tzinfo is not UTC:
            t = t.astimezone(UTC)
        return t
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.datetime.fromtimestamp(value / 1000, UTC)
    return None


def _iso(value):
    t = _time(value)
    if t is None:
        return None
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def make_translator(endpoint="https://rest.iad-01.braze.com", app_id=None, update_existing_only=False,
                    track_all_pages=False, track_named_pages=False, log_purchase_when_revenue_present=False):
    track_url = endpoint + "/users/track"
    delete_url = endpoint + "/users/delete"

    def identity(event):
        uid = event.get("userId")
        if isinstance(uid, str) and uid:
            return {"external_id": uid}
        for holder in (event.get("integrations"), (event.get("context") or {}).get("integrations")
                       if isinstance(event.get("context"), dict) else None):
            if isinstance(holder, dict):
                braze = holder.get("Braze")
                if isinstance(braze, dict):
                    bid = braze.get("braze_id")
                    if isinstance(bid, str) and bid:
                        return {"braze_id": bid}
        return None

    def stamp(event):
        t = _iso(event.get("timestamp"))
        return t if t is not None else _iso(event.get("receivedAt"))

    def translate(event):
        kind = event.get("type")
        if kind == "alias":
            return []
        ident = identity(event)
        if ident is None:
            raise Rejected("userId or braze_id is required: send a non-empty userId, or integrations.Braze.braze_id")
        if kind == "identify":
            obj = dict(ident)
            traits = event.get("traits")
            if isinstance(traits, dict):
                for k, v in traits.items():
                    if k not in CONSUMED:
                        obj[k] = v
                first = traits.get("firstName", traits.get("first_name"))
                if "firstName" in traits and traits["firstName"] is None and "first_name" in traits:
                    first = traits["first_name"]
                if first is not None or "firstName" in traits or "first_name" in traits:
                    obj["first_name"] = first
                last = traits.get("lastName", traits.get("last_name"))
                if "lastName" in traits and traits["lastName"] is None and "last_name" in traits:
                    last = traits["last_name"]
                if last is not None or "lastName" in traits or "last_name" in traits:
                    obj["last_name"] = last
                t = _time(traits.get("birthday"))
                if t is not None:
                    obj["dob"] = t.strftime("%Y-%m-%d")
                if "avatar" in traits:
                    obj["image_url"] = traits["avatar"]
                address = traits.get("address")
                if isinstance(address, dict):
                    if "city" in address:
                        obj["home_city"] = address["city"]
                    if "country" in address:
                        obj["country"] = address["country"]
                gender = traits.get("gender")
                if isinstance(gender, str):
                    code = GENDERS.get(gender.lower())
                    if code is not None:
                        obj["gender"] = code
            obj["_update_existing_only"] = update_existing_only
            return [{"method": "POST", "url": track_url, "body": {"attributes": [obj]}}]
        if kind == "track":
            name = event.get("event")
            props = event.get("properties")
            if isinstance(name, str) and name.lower() in ORDER:
                products = props.get("products") if isinstance(props, dict) else None
                if not isinstance(products, list) or not products:
                    return []
                time = stamp(event)
                order_currency = props.get("currency")
                purchases = []
                for p in products:
                    if not isinstance(p, dict):
                        continue
                    obj = dict(ident)
                    if app_id is not None:
                        obj["app_id"] = app_id
                    pid = p.get("product_id")
                    if pid is None:
                        pid = p.get("id")
                    if pid is None:
                        pid = p.get("sku")
                    if pid is not None or "product_id" in p or "id" in p or "sku" in p:
                        obj["product_id"] = pid
                    currency = p.get("currency")
                    if currency is None:
                        currency = order_currency if order_currency is not None else "USD"
                    obj["currency"] = currency
                    if "price" in p:
                        obj["price"] = p["price"]
                    quantity = p.get("quantity")
                    obj["quantity"] = quantity if quantity is not None else 1
                    if time is not None:
                        obj["time"] = time
                    rest = {k: v for k, v in p.items() if k not in PRODUCT_RESERVED}
                    if rest:
                        obj["properties"] = rest
                    obj["_update_existing_only"] = update_existing_only
                    purchases.append(obj)
                return [{"method": "POST", "url": track_url, "body": {"purchases": purchases}}]
            obj = dict(ident)
            if app_id is not None:
                obj["app_id"] = app_id
            if "event" in event:
                obj["name"] = name
            time = stamp(event)
            if time is not None:
                obj["time"] = time
            obj["properties"] = {k: v for k, v in props.items() if k not in RESERVED} if isinstance(props, dict) else {}
            obj["_update_existing_only"] = update_existing_only
            return [{"method": "POST", "url": track_url, "body": {"events": [obj]}}]
        if kind == "page" or kind == "screen":
            name = event.get("name")
            named = isinstance(name, str) and name != ""
            if not (track_all_pages or (track_named_pages and named)):
                return []
            word = "Screen" if kind == "screen" else "Page"
            category = event.get("category")
            if named and isinstance(category, str) and category:
                title = f"Viewed {category} {name} {word}"
            elif named:
                title = f"Viewed {name} {word}"
            else:
                title = f"Loaded a {word}"
            obj = dict(ident)
            if app_id is not None:
                obj["app_id"] = app_id
            obj["name"] = title
            time = stamp(event)
            if time is not None:
                obj["time"] = time
            props = event.get("properties")
            out = dict(props) if isinstance(props, dict) else {}
            if "name" in event:
                out["name"] = name
            if "category" in event:
                out["category"] = category
            obj["properties"] = out
            obj["_update_existing_only"] = update_existing_only
            return [{"method": "POST", "url": track_url, "body": {"events": [obj]}}]
        if kind == "group":
            gid = event.get("groupId")
            if isinstance(gid, bool):
                gid = "true" if gid else "false"
            elif isinstance(gid, float) and gid.is_integer():
                gid = str(int(gid))
            elif isinstance(gid, (int, float)):
                gid = str(gid)
            if not isinstance(gid, str) or not gid:
                raise Rejected("a group call needs a groupId")
            obj = dict(ident)
            obj["ab_segment_group_" + gid] = True
            obj["_update_existing_only"] = update_existing_only
            return [{"method": "POST", "url": track_url, "body": {"attributes": [obj]}}]
        if kind == "delete":
            key = "external_ids" if "external_id" in ident else "braze_ids"
            return [{"method": "POST", "url": delete_url, "body": {key: list(ident.values())}}]
        if "type" in event:
            import json

            raise Rejected(f"unsupported event type {json.dumps(kind, separators=(',', ':'))}: {TYPES}")
        raise Rejected(f"the event has no type: {TYPES}")

    return translate
