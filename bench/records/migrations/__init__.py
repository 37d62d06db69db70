"""Alembic environment for the records schema, shipped inside the package (no alembic.ini needed)."""
