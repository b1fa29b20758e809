"""Importers: other tools' setups as mappings (`mapspec import KIND ...`)."""
