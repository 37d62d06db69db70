"""Limit tables (TOML), each versioned, every limit with provenance. See procedures/catalog.py."""
