"""A careful hand-written translator for ../shared/spec/segment-braze.md: the bar the compiler must meet.

Written as a Python programmer would write it for this spec and its settings, without mapspec: the
settings decide at construction what each event type does, each event field is read once, the common
cases are tested first, and the rejections the default mapping makes (no identity, a track without a
name, no time Braze can read, a group without a groupId, an unknown type) are made here too.
Times are read as the default mapping reads them (ISO 8601, epoch milliseconds, and the dates people
write out: RFC 2822, `September 26, 1991`, `1991/09/26`), since the benchmark checks event by event
that both give the same output.
"""

from __future__ import annotations

import datetime
import email.utils
import json
import math
import re

UTC = datetime.UTC
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=UTC)


class Rejected(Exception):
    pass


class Skipped(list):
    """No requests, and why (as a mapspec translator says it skips an event)."""

    __slots__ = ("reason",)

    def __init__(self, reason):
        list.__init__(self)
        self.reason = reason


ALIAS = "alias calls are not sent to Braze, as in Segment cloud mode"
NOTHING = "rule {!r} sends nothing: the `when` of every request is false"
NO_PAGES = NOTHING.format("page and screen") + " (known when compiled)"
UNNAMED_PAGE = NOTHING.format("page and screen")
NO_PRODUCTS = NOTHING.format("Order Completed")


RESERVED = frozenset(("time", "quantity", "event_name", "price", "currency"))
PRODUCT_RESERVED = frozenset(("product_id", "quantity", "price", "currency", "time", "event_name"))
CONSUMED = frozenset(("firstName", "lastName", "first_name", "last_name", "birthday", "avatar", "address", "gender",
                      "external_id", "braze_id", "user_alias", "_update_existing_only", "app_id"))
GENDERS = {"f": "F", "female": "F", "woman": "F", "m": "M", "male": "M", "man": "M", "o": "O", "other": "O",
           "n": "N", "not applicable": "N", "p": "P", "prefer not to say": "P"}
ORDER = frozenset(("order completed", "order_completed", "completed order"))
TYPES = "expected identify, track, page, screen, group, alias or delete"
NO_IDENTITY = "userId or braze_id is required: send a non-empty userId, or integrations.Braze.braze_id"
NO_NAME = "a track call needs an event name (a non-empty `event`)"
NO_TIME = ("the event has no time Braze can read: `timestamp` or `receivedAt` must be ISO 8601 or epoch "
           "milliseconds")

# ISO 8601 forms that datetime.fromisoformat does not take (a space before the zone, `,` for the fraction)
ISO_LOOSE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?")
TWO_NUMBERS = re.compile(r"\d\D+\d")  # every written-out date has a day and a year
LETTER = re.compile(r"[^\W\d_]")
WRITTEN = ("%B %d, %Y", "%b %d, %Y", "%B %d %Y", "%b %d %Y", "%d %B %Y", "%d %b %Y", "%Y/%m/%d", "%m/%d/%Y",
           "%Y/%m/%d %H:%M:%S", "%m/%d/%Y %H:%M:%S")


def _written(s: str):
    """A date as people write it, or None; strptime only for the formats whose separators the text has."""
    if TWO_NUMBERS.search(s) is None:
        return None
    try:
        t = email.utils.parsedate_to_datetime(s)
    except (TypeError, ValueError, IndexError):
        t = None
    if t is not None:
        return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
    named = LETTER.search(s) is not None
    for fmt in WRITTEN:
        if ("%b" in fmt or "%B" in fmt) and not named:
            continue
        if ("/" in fmt and "/" not in s) or ("," in fmt and "," not in s) or (":" in fmt and ":" not in s):
            continue
        try:
            return datetime.datetime.strptime(s, fmt).replace(tzinfo=UTC)
        except ValueError:
            pass
    return None


def _time(value):
    """A time (UTC) from an event's value, or None."""
    if isinstance(value, str):
        try:
            t = datetime.datetime.fromisoformat(value)
        except ValueError:
            return _loose_time(value.strip())
        return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            return None
        try:
            return EPOCH + datetime.timedelta(milliseconds=value)
        except OverflowError:
            return None
    return None


def _loose_time(s: str):
    try:
        if len(s) == 10 and s[4:5] == "-" and s[7:8] == "-" and s.replace("-", "").isdigit() and s.isascii():
            return datetime.datetime.combine(datetime.date.fromisoformat(s), datetime.time(), UTC)
        m = ISO_LOOSE.fullmatch(s)
        if m is None:
            return _written(s)
        year, month, day, hour, minute, second, frac, zone = m.groups()
        tz = UTC
        if zone and zone not in "Zz":
            digits = zone[1:].replace(":", "")
            offset = datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
            tz = datetime.timezone(-offset if zone[0] == "-" else offset)
        micro = int((frac or "0")[:6].ljust(6, "0"))
        return datetime.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro,
                                 tzinfo=tz).astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _iso(value):
    """Braze's time text, YYYY-MM-DDTHH:MM:SS.sssZ, or None."""
    if isinstance(value, str):  # the common case first, all in C
        try:
            t = datetime.datetime.fromisoformat(value)
        except ValueError:
            t = _loose_time(value.strip())
            if t is None:
                return None
        else:
            if t.tzinfo is not None:
                t = t.astimezone(UTC)
        return t.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
    t = _time(value)
    return None if t is None else t.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def _number_text(x):
    """A number as JavaScript's String(x) writes it (the shortest digits, in its notation)."""
    if isinstance(x, int) and abs(x) <= 2 ** 53:
        return str(x)
    x = float(x)
    if x != x:
        return "NaN"
    if x in (math.inf, -math.inf):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "0"
    sign, r = ("-", repr(-x)) if x < 0 else ("", repr(x))
    mantissa, _, exponent = r.partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    point = len(whole) + int(exponent or 0) - (len(whole + fraction) - len(digits))
    digits = digits.rstrip("0")
    if len(digits) <= point <= 21:
        return sign + digits + "0" * (point - len(digits))
    if 0 < point <= 21:
        return sign + digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return sign + "0." + "0" * -point + digits
    e = point - 1
    return sign + digits[0] + ("." + digits[1:] if len(digits) > 1 else "") + f"e{'+' if e >= 0 else '-'}{abs(e)}"


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _to_json(x):
    """JSON.stringify: keys in their order, numbers as JavaScript writes them, lone surrogates escaped."""
    if isinstance(x, str):
        return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(x, ensure_ascii=False))
    if x is None or isinstance(x, bool):
        return json.dumps(x)
    if isinstance(x, (int, float)):
        text = _number_text(x)
        return "null" if text in ("NaN", "Infinity", "-Infinity") else text
    if isinstance(x, list):
        return "[" + ",".join(_to_json(v) for v in x) + "]"
    return "{" + ",".join(_to_json(k) + ":" + _to_json(v) for k, v in x.items()) + "}"


def _group_key(gid):
    """groupId as text, as Segment writes it into `ab_segment_group_<groupId>`; None when there is none."""
    if isinstance(gid, str):
        return gid or None
    if gid is None:
        return None
    if isinstance(gid, bool):
        return "true" if gid else "false"
    if isinstance(gid, (int, float)):
        return _number_text(gid)
    return _to_json(gid)


def _braze_id(event):
    for holder in (event.get("integrations"), event["context"].get("integrations")
                   if isinstance(event.get("context"), dict) else None):
        if isinstance(holder, dict):
            braze = holder.get("Braze")
            if isinstance(braze, dict):
                bid = braze.get("braze_id")
                if isinstance(bid, str) and bid:
                    return bid
    return None


def _first(obj, key, other):
    """`obj[key]`, or `obj[other]` when the first is absent or null; None for a null with no other; the
    object has neither key: _ABSENT."""
    value = obj.get(key)
    if value is not None:
        return value
    if other in obj:
        return obj[other]
    return None if key in obj else _ABSENT


_ABSENT = object()


def make_translator(endpoint="https://rest.iad-01.braze.com", app_id=None, update_existing_only=False,
                    track_all_pages=False, track_named_pages=False, log_purchase_when_revenue_present=False):
    track_url = endpoint + "/users/track"
    delete_url = endpoint + "/users/delete"
    pages_on = track_all_pages or track_named_pages

    def translate(event):
        if not isinstance(event, dict):
            raise Rejected("an event must be a JSON object")
        kind = event.get("type")
        if kind == "alias":
            return Skipped(ALIAS)
        uid = event.get("userId")
        if uid.__class__ is str and uid:
            ident = {"external_id": uid}
        else:
            bid = _braze_id(event)
            if bid is None:
                raise Rejected(NO_IDENTITY)
            ident = {"braze_id": bid}
        if kind == "track":
            name = event.get("event")
            if not (isinstance(name, str) and name):
                raise Rejected(NO_NAME)
            time = _iso(event.get("timestamp"))
            if time is None:
                time = _iso(event.get("receivedAt"))
                if time is None:
                    raise Rejected(NO_TIME)
            props = event.get("properties")
            if name.lower() in ORDER:
                return order_completed(ident, props, time)
            if log_purchase_when_revenue_present and isinstance(props, dict):
                revenue = props.get("revenue")
                if isinstance(revenue, (int, float)) and not isinstance(revenue, bool):
                    return purchase_from_revenue(ident, name, props, revenue, time)
            obj = ident
            if app_id is not None:
                obj["app_id"] = app_id
            obj["name"] = name
            obj["time"] = time
            obj["properties"] = {k: v for k, v in props.items() if k not in RESERVED} \
                if isinstance(props, dict) else {}
            obj["_update_existing_only"] = update_existing_only
            return [{"method": "POST", "url": track_url, "body": {"events": [obj]}}]
        if kind == "identify":
            return [{"method": "POST", "url": track_url, "body": {"attributes": [identify(ident, event)]}}]
        if kind == "page" or kind == "screen":
            if not pages_on:
                return Skipped(NO_PAGES)
            name = event.get("name", _ABSENT)
            named = name.__class__ is str and name != ""
            if not (track_all_pages or named):
                return Skipped(UNNAMED_PAGE)
            time = _iso(event.get("timestamp"))
            if time is None:
                time = _iso(event.get("receivedAt"))
                if time is None:
                    raise Rejected(NO_TIME)
            word = "Screen" if kind == "screen" else "Page"
            category = event.get("category", _ABSENT)
            if named:
                if category.__class__ is str and category:
                    title = f"Viewed {category} {name} {word}"
                else:
                    title = f"Viewed {name} {word}"
            else:
                title = "Loaded a " + word
            obj = ident
            if app_id is not None:
                obj["app_id"] = app_id
            obj["name"] = title
            obj["time"] = time
            props = event.get("properties")
            out = dict(props) if isinstance(props, dict) else {}
            if name is not _ABSENT:
                out["name"] = name
            if category is not _ABSENT:
                out["category"] = category
            obj["properties"] = out
            obj["_update_existing_only"] = update_existing_only
            return [{"method": "POST", "url": track_url, "body": {"events": [obj]}}]
        if kind == "group":
            gid = _group_key(event.get("groupId"))
            if gid is None:
                raise Rejected("a group call needs a groupId")
            obj = ident
            obj["ab_segment_group_" + gid] = True
            obj["_update_existing_only"] = update_existing_only
            return [{"method": "POST", "url": track_url, "body": {"attributes": [obj]}}]
        if kind == "delete":
            if "external_id" in ident:
                return [{"method": "POST", "url": delete_url, "body": {"external_ids": [ident["external_id"]]}}]
            return [{"method": "POST", "url": delete_url, "body": {"braze_ids": [ident["braze_id"]]}}]
        if "type" in event:
            shown = _to_json(kind)
            raise Rejected(f"unsupported event type {shown}: {TYPES}")
        raise Rejected(f"the event has no type: {TYPES}")

    def identify(obj, event):
        traits = event.get("traits")
        if isinstance(traits, dict):
            for k, v in traits.items():
                if k not in CONSUMED:
                    obj[k] = v
            first = _first(traits, "firstName", "first_name")
            if first is not _ABSENT:
                obj["first_name"] = first
            last = _first(traits, "lastName", "last_name")
            if last is not _ABSENT:
                obj["last_name"] = last
            if "birthday" in traits:
                t = _time(traits["birthday"])
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
        return obj

    def order_completed(ident, props, time):
        products = props.get("products") if isinstance(props, dict) else None
        if not isinstance(products, list) or not products:
            return Skipped(NO_PRODUCTS)
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
                currency = "USD" if order_currency is None else order_currency
            obj["currency"] = currency
            if "price" in p:
                obj["price"] = p["price"]
            quantity = p.get("quantity")
            obj["quantity"] = 1 if quantity is None else quantity
            obj["time"] = time
            rest = {k: v for k, v in p.items() if k not in PRODUCT_RESERVED}
            if rest:
                obj["properties"] = rest
            obj["_update_existing_only"] = update_existing_only
            purchases.append(obj)
        return [{"method": "POST", "url": track_url, "body": {"purchases": purchases}}]

    def purchase_from_revenue(ident, name, props, revenue, time):
        obj = ident
        if app_id is not None:
            obj["app_id"] = app_id
        obj["product_id"] = name
        currency = props.get("currency")
        obj["currency"] = "USD" if currency is None else currency
        obj["price"] = revenue
        obj["quantity"] = 1
        obj["time"] = time
        rest = {k: v for k, v in props.items() if k not in RESERVED and k != "revenue"}
        if rest:
            obj["properties"] = rest
        obj["_update_existing_only"] = update_existing_only
        return [{"method": "POST", "url": track_url, "body": {"purchases": [obj]}}]

    return translate
