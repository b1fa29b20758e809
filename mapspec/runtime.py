"""What generated translators call at run time.

Every function here is self-contained (it uses only the standard library, `MISSING` and the other
helpers named in its `deps`), because `mapspec compile` copies the source of the helpers a translator
uses into the standalone module it writes. `mapspec.load` binds the same functions directly.

Conventions: a helper never raises on event data, whatever its size or depth; a value of the wrong kind
gives MISSING, which drops the field it would have filled. Arithmetic whose result is not finite gives
MISSING (JSON has no NaN or Infinity); integers stay exact at any size.
"""

from __future__ import annotations

import datetime
import decimal
import hashlib
import json
import math
import re
import urllib.parse

HELPER_IMPORTS = {"datetime": "import datetime", "decimal": "import decimal", "hashlib": "import hashlib",
                  "json": "import json", "math": "import math", "re": "import re",
                  "urllib.parse": "import urllib.parse"}


class _Missing:
    """A value that is not there (a path into the event that does not exist). JSON null is None."""

    __slots__ = ()

    def __repr__(self):
        return "MISSING"

    def __bool__(self):
        return False


MISSING = _Missing()


class Skipped(list):
    """What a translator returns for an event it skips: no requests (an empty list), and `reason`, why."""

    __slots__ = ("reason",)

    def __init__(self, reason=""):  # (a new list is empty already: list.__init__ has nothing to do)
        self.reason = reason

    def __repr__(self):
        return "Skipped(" + repr(self.reason) + ")"


def truthy(x):
    """JavaScript's truthiness, as Segment's integrations have it: [] and {} are true, NaN is false."""
    if x is MISSING or x is None or x is False:
        return False
    if x is True:
        return True
    if isinstance(x, (int, float)):
        return x == x and x != 0
    if isinstance(x, str):
        return x != ""
    return True


def eq(a, b):
    """Equality without coercion: true is not 1, "1" is not 1; 1 and 1.0 are equal."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    try:
        return a == b
    except RecursionError:  # values nested too deep to compare are not equal
        return False


def lt(a, b):
    """`a < b` for two numbers, two texts or two times; false for anything else."""
    if (isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool)
            and not isinstance(b, bool)) or (isinstance(a, str) and isinstance(b, str)) \
            or (isinstance(a, datetime.datetime) and isinstance(b, datetime.datetime)):
        return a < b
    return False


def le(a, b):
    return eq(a, b) or lt(a, b)


def member(x, items):
    """`x in items` for a list (strict equality), a string (substring) or an object (key)."""
    if isinstance(items, list):
        for item in items:
            if eq(x, item):
                return True
        return False
    if isinstance(items, str):
        return isinstance(x, str) and x in items
    if isinstance(items, dict):
        return isinstance(x, str) and x in items
    return False


def getp(x, key):
    """One step of a path: an object's key or a list's index (from 0; a negative index is missing)."""
    if isinstance(x, dict):
        return x.get(key, MISSING) if isinstance(key, str) else MISSING
    if isinstance(x, list) and isinstance(key, int) and not isinstance(key, bool):
        if 0 <= key < len(x):
            return x[key]
    return MISSING


#: the classes whose values are never a list or an object and cannot be changed: a value of one of these
#: exact classes passes into the output as it is (one set lookup); any other goes through `fresh`
PLAIN = frozenset((str, int, float, bool, type(None)))


def fresh(value):
    """The value, with every list and object in it copied: what a translator returns never shares a list or
    an object with the event it was given (nor with another result). Without recursion, whatever the depth;
    a list or object that appears twice in the value is copied once, as it appears."""
    if isinstance(value, dict):
        top = dict(value)
    elif isinstance(value, list):
        top = list(value)
    else:
        return value
    copies = {id(value): top}
    todo = [top]
    while todo:
        container = todo.pop()
        for key, item in (container.items() if isinstance(container, dict) else enumerate(container)):
            if isinstance(item, (dict, list)):
                copy = copies.get(id(item))
                if copy is None:
                    copy = copies[id(item)] = dict(item) if isinstance(item, dict) else list(item)
                    todo.append(copy)
                container[key] = copy
    return top


def without(obj, keys):
    """Every field of an object except the given keys (a frozenset of strings)."""
    if not isinstance(obj, dict):
        return MISSING
    return {k: v for k, v in obj.items() if k not in keys}


def keyset(keys):
    """The keys named by a list value, for `without` with a computed list."""
    if isinstance(keys, str):
        return frozenset((keys,))
    if isinstance(keys, list):
        return frozenset(k for k in keys if isinstance(k, str))
    return frozenset()


def number_text(x):
    """A number as JavaScript's String(x) writes it: 1.0 is "1", 1e-7 is "1e-7", 1e21 is "1e+21".

    Both languages print the shortest digits that read back as the same double; only the notation differs
    (ECMAScript's Number::toString). Integers beyond 2**53 are written as the double JavaScript would hold."""
    if isinstance(x, int):
        if -9007199254740992 <= x <= 9007199254740992:
            return str(x)
        try:
            x = float(x)
        except OverflowError:
            return "Infinity" if x > 0 else "-Infinity"
    if x != x:
        return "NaN"
    if x in (math.inf, -math.inf):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "0"
    r = repr(x)
    sign = ""
    if r[0] == "-":
        sign, r = "-", r[1:]
    mantissa, _, exponent = r.partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + (int(exponent) if exponent else 0)  # the decimal point comes after this many digits
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    k, n = len(digits), point
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    e = n - 1
    return sign + digits[0] + ("." + digits[1:] if k > 1 else "") + ("e+" if e >= 0 else "e-") + str(abs(e))


_JSON_ESCAPE = re.compile(r'[\x00-\x1f"\\\ud800-\udfff]')
_JSON_ESCAPES = {"\"": '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _json_string(s):
    """A string as JSON.stringify writes it: control characters and lone surrogates escaped, the rest as is."""
    if _JSON_ESCAPE.search(s) is None:
        return '"' + s + '"'
    out = []
    for ch in s:
        if ch in _JSON_ESCAPES:
            out.append(_JSON_ESCAPES[ch])
        elif ch < " " or "\ud800" <= ch <= "\udfff":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _json_parts(x, out):
    if isinstance(x, str):
        out.append(_json_string(x))
    elif x is None:
        out.append("null")
    elif x is True:
        out.append("true")
    elif x is False:
        out.append("false")
    elif isinstance(x, (int, float)):
        t = number_text(x)
        out.append("null" if t in ("NaN", "Infinity", "-Infinity") else t)
    elif isinstance(x, list):
        out.append("[")
        for i, item in enumerate(x):
            if i:
                out.append(",")
            if item is MISSING:
                out.append("null")
            else:
                _json_parts(item, out)
        out.append("]")
    elif isinstance(x, dict):
        out.append("{")
        first = True
        for k, v in x.items():
            if v is MISSING or not isinstance(k, str):
                continue
            if not first:
                out.append(",")
            first = False
            out.append(_json_string(k))
            out.append(":")
            _json_parts(v, out)
        out.append("}")
    else:  # a time, as JSON.stringify writes a Date
        out.append('"' + x.replace(tzinfo=None).isoformat(timespec="milliseconds") + 'Z"')


def json_text(x):
    """A value as JavaScript's JSON.stringify writes it: keys in their order, no spaces, numbers as
    String(n) writes them, non-finite numbers as null. MISSING for missing, or for a value nested too deep."""
    if x is MISSING:
        return MISSING
    out = []
    try:
        _json_parts(x, out)
    except RecursionError:
        return MISSING
    return "".join(out)


def text(x):
    """A value as it appears inside a string template; missing and null give MISSING."""
    if isinstance(x, str):
        return x
    if x is MISSING or x is None:
        return MISSING
    if x is True:
        return "true"
    if x is False:
        return "false"
    if isinstance(x, (int, float)):
        return number_text(x)
    return json_text(x)


def template(literals, values):
    """Interleave literal text with values: MISSING if any value is missing or null."""
    out = [literals[0]]
    for i, value in enumerate(values):  # (zip's strict= needs Python 3.10; the standalone module runs on 3.9)
        lit = literals[i + 1]
        s = text(value)
        if s is MISSING:
            return MISSING
        out.append(s)
        out.append(lit)
    return "".join(out)


def finite(x):
    """The number, unless it is a float that is not finite (NaN or Infinity, which JSON has not): MISSING."""
    if isinstance(x, float) and x - x != 0:  # inf - inf and nan - nan are nan
        return MISSING
    return x


def add(a, b):
    if isinstance(a, str) and isinstance(b, str):
        return a + b
    if (isinstance(a, (int, float)) and isinstance(b, (int, float))
            and not isinstance(a, bool) and not isinstance(b, bool)):
        try:
            return finite(a + b)
        except OverflowError:  # an integer too large to become a float
            return MISSING
    return MISSING


def arith(op, a, b):
    """`- * / %` on two numbers; missing for anything else, on division by zero, and for a result that
    is not a finite number. `%` is JavaScript's remainder: its sign is the dividend's."""
    if not (isinstance(a, (int, float)) and isinstance(b, (int, float))) or isinstance(a, bool) \
            or isinstance(b, bool):
        return MISSING
    try:
        if op == "-":
            r = a - b
        elif op == "*":
            r = a * b
        elif b == 0:
            return MISSING
        elif op == "/":
            r = a / b
        elif isinstance(a, int) and isinstance(b, int):
            r = abs(a) % abs(b)
            r = -r if a < 0 else r
        else:
            r = math.fmod(a, b)
    except (OverflowError, ValueError):  # an integer too large to become a float
        return MISSING
    return finite(r)


def neg(a):
    if isinstance(a, (int, float)) and not isinstance(a, bool):
        return finite(-a)
    return MISSING


def url_param(x):
    """A path parameter of a request's URL: text or a number, URL-encoded; anything else is MISSING, and so
    are "", "." and "..", which would make another path (`/catalogs/../items` is `/items` to every client)."""
    if isinstance(x, bool) or not isinstance(x, (str, int, float)):
        return MISSING
    try:
        part = urllib.parse.quote(text(x), safe="")
    except UnicodeEncodeError:  # a lone surrogate is no character a URL can carry
        return MISSING
    return MISSING if part in ("", ".", "..") else part


# ------------------------------------------------------------------ strings


def lower(s):
    return s.lower() if isinstance(s, str) else MISSING


def upper(s):
    return s.upper() if isinstance(s, str) else MISSING


def trim(s):
    return s.strip() if isinstance(s, str) else MISSING


def split(s, sep, limit=MISSING):
    """Split on a separator, at most `limit` times when a limit is given."""
    if not isinstance(s, str) or not isinstance(sep, str) or sep == "":
        return MISSING
    if isinstance(limit, int) and not isinstance(limit, bool) and 0 <= limit < len(s):
        return s.split(sep, limit)
    return s.split(sep)


def join(items, sep):
    if not isinstance(items, list) or not isinstance(sep, str):
        return MISSING
    parts = [text(i) for i in items]
    return sep.join(p for p in parts if p is not MISSING)


def replace(s, old, new):
    if isinstance(s, str) and isinstance(old, str) and isinstance(new, str):
        return s.replace(old, new)
    return MISSING


def matches(s, pattern):
    """True when the compiled pattern matches the start of a string; false for anything else."""
    return isinstance(s, str) and pattern.match(s) is not None


def starts_with(s, prefix):
    return isinstance(s, str) and isinstance(prefix, str) and s.startswith(prefix)


def ends_with(s, suffix):
    return isinstance(s, str) and isinstance(suffix, str) and s.endswith(suffix)


def length(x):
    if isinstance(x, (str, list, dict)):
        return len(x)
    return MISSING


def non_empty(x):
    """The value when it is non-empty text, a non-empty list or a non-empty object; otherwise MISSING."""
    if isinstance(x, (str, list, dict)) and len(x) > 0:
        return x
    return MISSING


#: a value as text, as a template writes it
to_string = text


def to_number(x):
    """A number from a number or from numeric text ("12", "-1.5", "1e3"); anything else is missing."""
    if isinstance(x, bool):
        return MISSING
    if isinstance(x, (int, float)):
        return finite(x)
    if isinstance(x, str):
        m = _NUMBER_TEXT.match(x)
        if m is None:  # Python's int() and float() also take "1_000", "nan" and digits of other scripts
            return MISSING
        if not any(m.group(1, 2, 3)):  # no point, no exponent
            try:
                return int(x)
            except ValueError:  # beyond the digits Python converts: a double cannot hold it either
                return MISSING
        f = float(x)
        return f if math.isfinite(f) else MISSING
    return MISSING


#: numeric text: decimal ASCII digits, a sign, a point and an exponent; blanks around it
_NUMBER_TEXT = re.compile(r"\s*[+-]?(?:\d+(\.\d*)?|(\.)\d+)(?:([eE])[+-]?\d+)?\s*\Z", re.ASCII)


def to_json(x):
    """JavaScript's JSON.stringify(x) (see json_text)."""
    return json_text(x)


def json_decode(s):
    """The JSON value a text holds; MISSING when it is not valid JSON (non-finite numbers are not JSON)."""
    if not isinstance(s, str):
        return MISSING
    try:
        return json.loads(s, parse_constant=_no_constant, parse_float=_finite_float)
    except (ValueError, RecursionError):
        return MISSING


def _no_constant(name):
    raise ValueError(name)


def _finite_float(text):
    f = float(text)
    if f in (math.inf, -math.inf):
        raise ValueError(text)
    return f


_LOOSE = re.compile(r"[^a-zA-Z0-9.]+")


def loose_get(obj, key):
    """The value of the first key (in the object's order) that equals `key` once both are lower-cased
    and stripped of everything but letters, digits and dots: `first_name`, `First Name` and `FIRSTNAME`
    all find `firstName`. This is Segment's obj-case lookup."""
    if not isinstance(obj, dict) or not isinstance(key, str):
        return MISSING
    want = _LOOSE.sub("", key).lower()
    for k, v in obj.items():
        if _LOOSE.sub("", k).lower() == want:
            return v
    return MISSING


def index_of(s, search):
    """Where `search` first occurs in text (counting from 0), or -1."""
    if isinstance(s, str) and isinstance(search, str):
        return s.find(search)
    return MISSING


def slice(s, start, end=MISSING):
    """Text (or a list) from index `start` up to, not including, `end`; negative indexes count from the end."""
    if not isinstance(s, (str, list)) or not isinstance(start, int) or isinstance(start, bool):
        return MISSING
    if isinstance(end, int) and not isinstance(end, bool):
        return s[start:end]
    return s[start:]


def js_string(x):
    """A value as JavaScript's String() writes it: missing is "undefined", an object "[object Object]"."""
    if x is MISSING:
        return "undefined"
    if x is None:
        return "null"
    if isinstance(x, str):
        return x
    if x is True or x is False:
        return "true" if x else "false"
    if isinstance(x, (int, float)):
        return number_text(x)
    if isinstance(x, dict):
        return "[object Object]"
    if not isinstance(x, list):
        return str(x)
    # a list: its elements joined with commas, nested lists likewise; without recursion, for any depth
    stack = [(iter(x), [])]
    while True:
        items, parts = stack[-1]
        for v in items:
            if isinstance(v, list):
                stack.append((iter(v), []))
                break
            parts.append("" if v is None or v is MISSING else js_string(v))
        else:
            stack.pop()
            joined = ",".join(parts)
            if not stack:
                return joined
            stack[-1][1].append(joined)


#: the longest text a replacement may make (a few matches of a long replacement, or many of a short one, can
#: otherwise ask for gigabytes)
_MAX_TEXT = 10_000_000


class _TooLong(Exception):
    pass


def regex_replace(s, pattern, replacement, count=MISSING):
    """Text with the matches of a compiled pattern replaced (`\\1`, `\\g<name>` refer to groups); at most
    `count` of them when count is a positive integer, every one when it is 0 or not given. Missing when the
    result would be longer than ten million characters."""
    if not isinstance(s, str) or not isinstance(replacement, str):
        return MISSING
    if count is MISSING:
        count = 0
    elif not isinstance(count, int) or isinstance(count, bool) or count < 0:
        return MISSING
    size = [len(s)]

    def expand(m):
        out = m.expand(replacement)
        size[0] += len(out)
        if size[0] > _MAX_TEXT:
            raise _TooLong
        return out

    try:
        if len(s) + (len(s) + 1) * len(replacement) <= _MAX_TEXT and "\\" not in replacement:
            return pattern.sub(replacement, s, count)  # the common case, in C: it cannot grow too long
        return pattern.sub(expand, s, count)
    except (re.error, IndexError, _TooLong):  # a group the pattern does not have; a result too long
        return MISSING


def regex_capture(s, pattern):
    """The first match of a compiled pattern anywhere in the text: an object of its named groups (those
    that took part), else the list of its groups (null for one that did not), else the matched text."""
    if not isinstance(s, str):
        return MISSING
    m = pattern.search(s)
    if m is None:
        return MISSING
    if pattern.groupindex:
        return {k: v for k, v in m.groupdict().items() if v is not None}
    if pattern.groups:
        return list(m.groups())
    return m.group(0)


def ireplace(s, old, new):
    """Every occurrence of `old` replaced by `new`, ignoring case (literal text, not a pattern); missing when
    the result would be longer than ten million characters."""
    if not (isinstance(s, str) and isinstance(old, str) and isinstance(new, str)):
        return MISSING
    found = re.compile(re.escape(old), re.IGNORECASE)
    if len(new) > len(old) and len(s) + (len(s) + 1) * (len(new) - len(old)) > _MAX_TEXT \
            and len(s) + sum(1 for _ in found.finditer(s)) * (len(new) - len(old)) > _MAX_TEXT:
        return MISSING
    return found.sub(lambda m: new, s)


def _number(x):
    """A number a double holds: finite, and an integer no larger than the largest double."""
    if isinstance(x, float):
        return x - x == 0  # not inf or nan
    return isinstance(x, int) and not isinstance(x, bool) and -2 ** 1024 < x < 2 ** 1024


def round_number(x, digits=MISSING):
    """A number rounded to `digits` decimals (0 when not given; negative rounds to tens, hundreds...),
    half away from zero, on the number as it is written (2.675 rounds to 2.68)."""
    if not _number(x):
        return MISSING
    if digits is MISSING:
        digits = 0
    elif not isinstance(digits, int) or isinstance(digits, bool) or not -400 <= digits <= 400:
        return MISSING
    exact = decimal.Decimal(x) if isinstance(x, int) else decimal.Decimal(repr(x))
    context = decimal.Context(prec=1000, rounding=decimal.ROUND_HALF_UP)
    rounded = exact.quantize(decimal.Decimal(1).scaleb(-digits), context=context)
    if digits <= 0 and abs(rounded) <= 9007199254740992:
        return int(rounded)
    value = float(rounded)
    return value if value not in (math.inf, -math.inf) else MISSING


def floor_number(x):
    """The greatest integer not above a number."""
    if not _number(x):
        return MISSING
    r = math.floor(x)
    return r if abs(r) <= 9007199254740992 else float(r)


def ceil_number(x):
    """The least integer not below a number."""
    if not _number(x):
        return MISSING
    r = math.ceil(x)
    return r if abs(r) <= 9007199254740992 else float(r)


def abs_number(x):
    """A number without its sign."""
    return abs(x) if _number(x) else MISSING


def min_number(*xs):
    """The least of some numbers; missing if any is not a number."""
    for x in xs:
        if not _number(x):
            return MISSING
    return min(xs) if xs else MISSING


def max_number(*xs):
    """The greatest of some numbers; missing if any is not a number."""
    for x in xs:
        if not _number(x):
            return MISSING
    return max(xs) if xs else MISSING


def _utf8(s):
    """Text as UTF-8 bytes; a lone surrogate becomes U+FFFD, as JavaScript encodes it."""
    try:
        return s.encode("utf-8")
    except UnicodeEncodeError:
        return s.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode("utf-8")


def sha256(s):
    """The SHA-256 digest of text (UTF-8), in lower-case hex."""
    return hashlib.sha256(_utf8(s)).hexdigest() if isinstance(s, str) else MISSING


def sha1(s):
    """The SHA-1 digest of text (UTF-8), in lower-case hex."""
    return hashlib.sha1(_utf8(s)).hexdigest() if isinstance(s, str) else MISSING


def md5(s):
    """The MD5 digest of text (UTF-8), in lower-case hex."""
    return hashlib.md5(_utf8(s)).hexdigest() if isinstance(s, str) else MISSING


def keys(x):
    """The keys of an object, in order."""
    return list(x) if isinstance(x, dict) else MISSING


def values(x):
    """The values of an object, in order."""
    return list(x.values()) if isinstance(x, dict) else MISSING


def coalesce(*xs):
    """The first value that is neither missing nor null (a null when nothing else is there)."""
    found = MISSING
    for x in xs:
        if x is not MISSING:
            if x is not None:
                return x
            found = None
    return found


def _integer(x):
    if isinstance(x, bool):
        return None
    if isinstance(x, int):
        return x
    if isinstance(x, float) and x.is_integer():
        return int(x)
    return None


def range_list(a, b=MISSING):
    """`range(n)`: 0, 1, ... n-1; `range(start, end)`: start ... end-1. Missing past 100,000 elements."""
    if b is MISSING:
        start, end = 0, _integer(a)
    else:
        start, end = _integer(a), _integer(b)
    if start is None or end is None or end - start > 100000:
        return MISSING
    return list(range(start, end))


def flatten(x, separator, omit_arrays=False):
    """A nested object as a flat one whose keys are the paths joined by the separator; lists are
    flattened by index unless omit_arrays (Segment's mapping-kit @flatten). A value that is not an object
    or a list gives {"": value}."""
    if not isinstance(separator, str):
        return MISSING
    if x is MISSING:
        return {}
    out = {}
    keep_lists = omit_arrays is not MISSING and truthy(omit_arrays)
    try:
        _flatten_into(out, x, "", separator, keep_lists)
    except RecursionError:
        return MISSING
    return out


def _flatten_into(out, x, prefix, separator, keep_lists):
    if len(prefix) > 100_000:  # a key no one will read, or a separator long enough to make keys of gigabytes
        raise RecursionError
    if isinstance(x, dict):
        items = x.items()
    elif isinstance(x, list) and not keep_lists:
        items = ((str(i), v) for i, v in enumerate(x))
    else:
        out[prefix] = x
        return
    for k, v in items:
        _flatten_into(out, v, f"{prefix}{separator}{k}" if prefix else k, separator, keep_lists)


def now():
    """The current time."""
    return datetime.datetime.now(datetime.timezone.utc)


# ------------------------------------------------------------------ time

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_TIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$")


def parse_time(x):
    """A time from ISO 8601 text (a date, or a date-time with or without an offset, taken as UTC
    without one) or from epoch milliseconds. Anything unparseable is missing."""
    if isinstance(x, str):  # the common case first
        if not x.isascii():  # fromisoformat and strptime take digits of other scripts
            return MISSING
        try:  # in C: 2024-05-01T12:00:00.123Z, 2024-05-01, 2024-05-01T14:00:00+02:00
            t = datetime.datetime.fromisoformat(x)
        except ValueError:
            return _parse_text_time(x)
        if t.tzinfo is None:
            return t.replace(tzinfo=datetime.timezone.utc)
        try:
            return t.astimezone(datetime.timezone.utc)
        except OverflowError:  # an offset that moves it out of the years 1 to 9999
            return MISSING
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        try:  # beyond the years 1 to 9999, or not finite: OverflowError or ValueError
            return datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(
                milliseconds=x)
        except (OverflowError, ValueError):
            return MISSING
    return MISSING


def _parse_text_time(x):
    """Text that datetime.fromisoformat refused: ISO 8601 in the forms it does not take (a space before
    the offset, a comma before the fraction, white space around), else a date as people write it."""
    s = x.strip()
    try:
        if len(s) == 10 and _ISO_DATE.match(s):
            d = datetime.date.fromisoformat(s)
            return datetime.datetime(d.year, d.month, d.day, tzinfo=datetime.timezone.utc)
        m = _ISO_TIME.match(s)
        if not m:
            return _parse_written_time(s)
        year, month, day, hour, minute, second, frac, zone = m.groups()
        micro = int((frac or "0")[:6].ljust(6, "0"))
        tz = datetime.timezone.utc
        if zone and zone not in "Zz":
            sign = -1 if zone[0] == "-" else 1
            digits = zone[1:].replace(":", "")
            offset = datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
            tz = datetime.timezone(sign * offset)
        t = datetime.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0),
                              micro, tzinfo=tz)
        return t.astimezone(datetime.timezone.utc)
    except (ValueError, OverflowError):
        return MISSING


_WRITTEN_FORMATS = ("%B %d, %Y", "%b %d, %Y", "%B %d %Y", "%b %d %Y", "%d %B %Y", "%d %b %Y", "%Y/%m/%d",
                    "%m/%d/%Y", "%Y/%m/%d %H:%M:%S", "%m/%d/%Y %H:%M:%S")
#: each format, whether it names the month, and the characters other than white space it needs the text to have
_WRITTEN = tuple((fmt, "%B" in fmt or "%b" in fmt, tuple(sorted(set(re.sub("%.", "", fmt)) - {" "})))
                 for fmt in _WRITTEN_FORMATS)
#: a day and a year, at least: two runs of digits (any Unicode digits, as int() and strptime take them)
_TWO_NUMBERS = re.compile(r"\d\D+\d")
_LETTER = re.compile(r"[^\W\d_]")


#: email.utils.parsedate_to_datetime, once a date is first read by it (an import statement run on every
#: call costs more than the rest of a failed parse)
_RFC2822: list = []


def _parse_written_time(s):
    """Dates as people and older systems write them: RFC 2822 (`Thu, 01 Jan 2015 00:00:00 GMT`),
    `September 26, 1991`, `26 Sep 1991`, `1991/09/26`, `09/26/1991` (no zone means UTC).

    Each of these has a day and a year, so text without two numbers in it ("not a date", "N/A") is
    missing at once; strptime, slow even when it fails, is tried only on the formats whose separators
    (and month name) the text has. What parses is what the formats alone would parse."""
    if _TWO_NUMBERS.search(s) is None:
        return MISSING
    if not _RFC2822:  # imported here, once: it imports sockets and MIME, a fifth of what a compile imports
        import email.utils

        _RFC2822.append(email.utils.parsedate_to_datetime)
    try:
        t = _RFC2822[0](s)
    except (TypeError, ValueError, IndexError):
        t = None
    if t is not None:
        try:
            return t.replace(tzinfo=datetime.timezone.utc) if t.tzinfo is None else t.astimezone(
                datetime.timezone.utc)
        except OverflowError:  # an offset that moves it out of the years 1 to 9999
            return MISSING
    named = _LETTER.search(s) is not None
    for fmt, needs_name, literals in _WRITTEN:
        if needs_name and not named:
            continue
        for c in literals:  # (a loop, not any() of a generator: one for each format costs more than the test)
            if c not in s:
                break
        else:
            try:
                return datetime.datetime.strptime(s, fmt).replace(tzinfo=datetime.timezone.utc)
            except ValueError:
                continue
    return MISSING


def format_time(t, fmt):
    """A time as UTC text, in strftime's format (`%Y-%m-%d`); `%L` gives milliseconds."""
    if not isinstance(t, datetime.datetime) or not isinstance(fmt, str):
        return MISSING
    if "%L" in fmt:
        fmt = fmt.replace("%L", f"{t.microsecond // 1000:03d}")
    try:
        return t.strftime(fmt)
    except ValueError:  # a format strftime refuses (a lone surrogate, on some systems a NUL)
        return MISSING


def iso8601(t):
    """A time as `YYYY-MM-DDTHH:MM:SS.sssZ` (UTC, milliseconds), or MISSING."""
    if not isinstance(t, datetime.datetime):
        return MISSING
    return t.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def iso_time(x):
    """`iso8601(parse_time(x))` in one step (with the common ISO 8601 text done in C)."""
    if isinstance(x, str):
        if not x.isascii():  # as parse_time; isascii() is a flag CPython keeps, it costs nothing
            return MISSING
        try:
            t = datetime.datetime.fromisoformat(x)
        except ValueError:
            t = _parse_text_time(x)
            return MISSING if t is MISSING else t.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
        if len(x) == 24 and x[23] == "Z" and x[4:20:3] == "--T::.":
            # already YYYY-MM-DDTHH:MM:SS.sssZ (and a real time: it was read): what formatting would give
            # back, without formatting it (isoformat costs more than everything else here together)
            return x
        if t.tzinfo is None:
            return t.isoformat(timespec="milliseconds") + "Z"
        if t.tzinfo is not datetime.timezone.utc:
            try:
                t = t.astimezone(datetime.timezone.utc)
            except OverflowError:  # an offset that moves it out of the years 1 to 9999
                return MISSING
        return t.isoformat(timespec="milliseconds")[:-6] + "Z"  # without its "+00:00"
    if isinstance(x, (int, float)) and not isinstance(x, bool):  # epoch milliseconds
        t = parse_time(x)
        return MISSING if t is MISSING else t.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
    return MISSING  # (missing, null, or what is never a time)


#: helper -> the helpers (and modules) its source refers to
DEPS: dict[str, tuple[str, ...]] = {
    "truthy": (), "eq": (), "lt": ("datetime",), "le": ("eq", "lt"), "member": ("eq",), "getp": (),
    "without": (), "keyset": (), "fresh": (), "PLAIN": (), "url_param": ("text", "urllib.parse"), "number_text": ("math",),
    "text": ("number_text", "json_text"),
    "_JSON_ESCAPE": ("re",), "_JSON_ESCAPES": (), "_json_string": ("_JSON_ESCAPE", "_JSON_ESCAPES"),
    "_json_parts": ("_json_string", "number_text", "datetime"), "json_text": ("_json_parts",),
    "json_decode": ("json", "_no_constant", "_finite_float"), "_no_constant": (), "_finite_float": ("math",),
    "_MAX_TEXT": (), "_TooLong": (), "regex_replace": ("re", "_MAX_TEXT", "_TooLong"), "regex_capture": (),
    "ireplace": ("re", "_MAX_TEXT"), "_number": (),
    "round_number": ("_number", "decimal", "math"), "floor_number": ("_number", "math"),
    "ceil_number": ("_number", "math"), "abs_number": ("_number",), "min_number": ("_number",),
    "max_number": ("_number",), "_utf8": (), "sha256": ("hashlib", "_utf8"), "sha1": ("hashlib", "_utf8"),
    "md5": ("hashlib", "_utf8"), "keys": (), "values": (), "coalesce": (), "_integer": (),
    "range_list": ("_integer",), "flatten": ("truthy", "_flatten_into"), "_flatten_into": (),
    "template": ("text",), "finite": (), "add": ("finite",), "arith": ("math", "finite"),
    "neg": ("finite",), "lower": (), "upper": (), "trim": (),
    "split": (), "join": ("text",), "replace": (), "matches": (), "starts_with": (), "ends_with": (),
    "length": (), "non_empty": (), "to_string": ("text",), "to_number": ("math", "finite", "_NUMBER_TEXT"), "_NUMBER_TEXT": ("re",), "to_json": ("json_text",),
    "loose_get": ("re", "_LOOSE"), "_LOOSE": ("re",), "index_of": (), "slice": (),
    "js_string": ("number_text",), "now": ("datetime",), "parse_time": ("datetime", "_parse_text_time"),
    "_parse_text_time": ("datetime", "_ISO_DATE", "_ISO_TIME", "_parse_written_time"),
    "_parse_written_time": ("datetime", "_WRITTEN", "_TWO_NUMBERS", "_LETTER", "_RFC2822"), "_RFC2822": (),
    "_WRITTEN_FORMATS": (), "_WRITTEN": ("re", "_WRITTEN_FORMATS"), "_TWO_NUMBERS": ("re",), "_LETTER": ("re",),
    "format_time": ("datetime",), "iso8601": ("datetime",), "iso_time": ("datetime", "parse_time", "_parse_text_time"),
    "_ISO_DATE": ("re",), "_ISO_TIME": ("re",),
}
