"""Built-in test plans (TOML), one per file; a shop copies and edits them. See procedures/plans.py."""
