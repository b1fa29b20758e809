"""The state a run keeps between runs (SQLite): the attribute values last sent per user (`--skip-unchanged`),
and the keys of requests sent at most once (`once:` in a mapping, such as creating a cohort)."""

from __future__ import annotations

import json
from typing import Any

from .. import jsonio


class AttributeStore:
    """What was sent, in SQLite, so that unchanged values and once-per-key requests are not sent again."""

    #: fields of an object that are never left out (they say whose the object is, or how to apply it)
    KEEP = ("external_id", "braze_id", "user_alias", "_update_existing_only", "app_id")

    def __init__(self, path: str):
        import sqlite3

        self.db = sqlite3.connect(path)
        self.db.execute("CREATE TABLE IF NOT EXISTS sent (user TEXT, name TEXT, value TEXT, PRIMARY KEY (user, name))")
        self.db.execute("CREATE TABLE IF NOT EXISTS once (key TEXT PRIMARY KEY)")

    # ---- requests sent once per key

    def was_sent(self, key: str) -> bool:
        return self.db.execute("SELECT 1 FROM once WHERE key = ?", (key,)).fetchone() is not None

    def sent(self, key: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO once VALUES (?)", (key,))
        self.db.commit()

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
        known = dict(self.db.execute("SELECT name, value FROM sent WHERE user = ?", (user,)).fetchall())
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
        self.db.executemany("INSERT OR REPLACE INTO sent VALUES (?, ?, ?)", rows)
        self.db.commit()

    def close(self) -> None:
        self.db.close()
