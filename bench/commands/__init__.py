"""One module per ``meterbench`` subcommand; each exposes ``register(subparsers)`` (see bench/cli.py)."""
