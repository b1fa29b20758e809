"""--skip-unchanged: the attribute values last sent per user."""

from __future__ import annotations

import json
from typing import Any

from .. import jsonio


class AttributeStore:
    """The last attribute values sent per user, in SQLite, so unchanged ones can be left out."""

    ID_KEYS = ("external_id", "braze_id")
    KEEP = ("external_id", "braze_id", "user_alias", "_update_existing_only", "app_id")

    def __init__(self, path: str):
        import sqlite3

        self.db = sqlite3.connect(path)
        self.db.execute("CREATE TABLE IF NOT EXISTS sent (user TEXT, name TEXT, value TEXT, PRIMARY KEY (user, name))")

    @classmethod
    def user(cls, obj: dict) -> str | None:
        for k in cls.ID_KEYS:
            if isinstance(obj.get(k), str):
                return f"{k}:{obj[k]}"
        return None

    def trim(self, obj: dict) -> dict | None:
        """The object without attributes sent before with the same value; None when nothing new is left."""
        user = self.user(obj)
        if user is None:
            return obj
        known = dict(self.db.execute("SELECT name, value FROM sent WHERE user = ?", (user,)).fetchall())
        out = {k: v for k, v in obj.items()
               if k in self.KEEP or known.get(k) != json.dumps(v, sort_keys=True, ensure_ascii=False)}
        return out if set(out) - set(self.KEEP) else None

    def trim_prepared(self, prepared: tuple, account: Any) -> tuple:
        """A prepared request (see Batcher.prepare) with its attributes objects trimmed; counts what is left out."""
        url, method, env, kind, objects = prepared
        out = []
        for name, obj, data in objects:
            if name == "attributes" and isinstance(obj, dict):
                trimmed = self.trim(obj)
                if trimmed is None:
                    account.unchanged += 1
                    continue
                if len(trimmed) != len(obj):
                    obj, data = trimmed, jsonio.dumps(trimmed)
            out.append((name, obj, data))
        return url, method, env, kind, out

    def remember(self, objects: list[dict]) -> None:
        rows = []
        for obj in objects:
            user = self.user(obj)
            if user is not None:
                rows.extend((user, k, json.dumps(v, sort_keys=True, ensure_ascii=False))
                            for k, v in obj.items() if k not in self.KEEP)
        self.db.executemany("INSERT OR REPLACE INTO sent VALUES (?, ?, ?)", rows)
        self.db.commit()

    def close(self) -> None:
        self.db.close()
