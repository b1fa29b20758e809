"""The state a run keeps between runs (SQLite): the attribute values last sent per user (`--skip-unchanged`),
and the keys of requests sent at most once (`once:` in a mapping, such as creating a cohort)."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .. import jsonio
from .common import Fatal

#: the tables of a state file, and the columns each must have
TABLES = {"sent": ("user", "name", "value"), "once": ("key",)}


class StateError(Fatal):
    """A state file (--state) that cannot be used: not an SQLite database, not one of mapspec's, unwritable."""


def _reason(e: sqlite3.Error) -> str:
    text = str(e)
    if "not a database" in text:
        return "it is not an SQLite database"
    if "unable to open" in text:
        return "it cannot be opened (is its folder there, and writable?)"
    return text


class AttributeStore:
    """What was sent, in SQLite, so that unchanged values and once-per-key requests are not sent again."""

    #: fields of an object that are never left out (they say whose the object is, or how to apply it)
    KEEP = ("external_id", "braze_id", "user_alias", "_update_existing_only", "app_id")

    def __init__(self, path: str):
        """Opens (or creates) the state file; StateError, naming it, when it is not a state file mapspec can use."""
        self.path = path
        self.db: sqlite3.Connection | None = None
        if os.path.isdir(path):
            raise StateError(f"the state file {path} cannot be used: it is a folder")
        with self.guard():
            self.db = sqlite3.connect(path)
            for table, columns in TABLES.items():
                found = tuple(row[1] for row in self.db.execute(f"PRAGMA table_info({table})"))
                if found and found != columns:
                    raise StateError(f"the state file {path} cannot be used: its table `{table}` has the columns "
                                     f"{', '.join(found)}, not {', '.join(columns)} (it is not mapspec's)")
            self.db.execute("CREATE TABLE IF NOT EXISTS sent (user TEXT, name TEXT, value TEXT, PRIMARY KEY (user, name))")
            self.db.execute("CREATE TABLE IF NOT EXISTS once (key TEXT PRIMARY KEY)")
            self.db.commit()

    @contextmanager
    def guard(self) -> Iterator[None]:
        """SQLite's errors as a StateError naming the file: a state file that cannot be read or written stops the
        run with one clear line, not a traceback."""
        try:
            yield
        except (sqlite3.Error, StateError) as e:
            if self.db is not None:
                self.db.close()
                self.db = None
            if isinstance(e, StateError):
                raise
            raise StateError(f"the state file {self.path} cannot be used: {_reason(e)}") from None

    # ---- requests sent once per key

    def was_sent(self, key: str) -> bool:
        with self.guard():
            return self._db().execute("SELECT 1 FROM once WHERE key = ?", (key,)).fetchone() is not None

    def sent(self, key: str) -> None:
        with self.guard():
            self._db().execute("INSERT OR IGNORE INTO once VALUES (?)", (key,))
            self._db().commit()

    def _db(self) -> sqlite3.Connection:
        if self.db is None:
            raise StateError(f"the state file {self.path} cannot be used: it failed before")
        return self.db

    # ---- --skip-unchanged

    @staticmethod
    def identify(obj: dict, ids: tuple[str, ...]) -> tuple[str, str] | None:
        """(the field that identifies the object's user, the user as a key), the first of `ids` it has."""
        for k in ids:
            value = obj.get(k)
            if isinstance(value, str) and value:
                return k, f"{k}:{value}"
            if isinstance(value, dict) and value:
                return k, f"{k}:{json.dumps(value, sort_keys=True, ensure_ascii=False)}"
        return None

    @classmethod
    def user(cls, obj: dict, ids: tuple[str, ...]) -> str | None:
        found = cls.identify(obj, ids)
        return found[1] if found else None

    def trim(self, obj: dict, ids: tuple[str, ...]) -> dict | None:
        """The object without values sent before for the same user; None when nothing new is left."""
        found = self.identify(obj, ids)
        if found is None:
            return obj
        field, user = found
        with self.guard():
            known = dict(self._db().execute("SELECT name, value FROM sent WHERE user = ?", (user,)).fetchall())
        keep = set(self.KEEP) | {field}
        out = {k: v for k, v in obj.items()
               if k in keep or known.get(k) != json.dumps(v, sort_keys=True, ensure_ascii=False)}
        return out if set(out) - keep else None

    def trim_prepared(self, prepared: Any, account: Any) -> Any:
        """A prepared request (see Batcher.prepare) with the objects its endpoint identifies by user trimmed;
        counts what is left out."""
        endpoint = prepared.endpoint
        identity = endpoint.batch.identity if endpoint is not None else {}
        if not identity:
            return prepared
        out = []
        for name, obj, data, group, member in prepared.objects:
            ids = identity.get(name)
            if ids and isinstance(obj, dict):
                trimmed = self.trim(obj, ids)
                if trimmed is None:
                    account.unchanged += 1
                    continue
                if len(trimmed) != len(obj):
                    obj, data = trimmed, jsonio.dumps(trimmed)
            out.append((name, obj, data, group, member))
        prepared.objects = out
        return prepared

    def remember(self, objects: list[dict], ids: tuple[str, ...]) -> None:
        rows = []
        for obj in objects:
            found = self.identify(obj, ids) if isinstance(obj, dict) else None
            if found is not None:
                keep = set(self.KEEP) | {found[0]}
                rows.extend((found[1], k, json.dumps(v, sort_keys=True, ensure_ascii=False))
                            for k, v in obj.items() if k not in keep)
        with self.guard():
            self._db().executemany("INSERT OR REPLACE INTO sent VALUES (?, ?, ?)", rows)
            self._db().commit()

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None
