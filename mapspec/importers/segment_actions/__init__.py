"""`mapspec import segment-actions`: a Segment Actions destination's setup (its subscriptions) as a mapping.

An export is the destination, its settings and its subscriptions:

    {"destination": "braze" | "braze-cohorts", "settings": {...},
     "subscriptions": [{"name": "Track Calls", "action": "trackEvent", "trigger": "type = \\"track\\"",
                        "mapping": {...} | null, "enabled": true}, ...]}

Each enabled subscription becomes a rule that rejects its invalid payloads with Segment's message and a
rule that sends what the action sends, under `match: all`, so an event that several subscriptions take
causes each of their requests, in subscription order. What a subscription does is spelt out in mapspec:
the trigger (Segment's filter language) as the rules' condition, the field mapping (mapping-kit) as the
payload's definition, the payload's cleaning, coercion and validation as Segment does them, and the
action's requests from the action catalog (`catalog/`). Nothing is dropped silently: what cannot be
translated is an `ImportFailed` naming the subscription and the field.
"""

from __future__ import annotations

from .importer import DEFAULT_NAMES, ImportFailed, default_export, generate, import_file, read_export

__all__ = ["DEFAULT_NAMES", "ImportFailed", "default_export", "generate", "import_file", "read_export"]
