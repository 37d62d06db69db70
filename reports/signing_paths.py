"""Where signing material lives and how its passphrase is asked for: no cryptography imported, so
``meterbench keys --help`` (and every command's parser) stays light. :mod:`reports.signing` re-exports these."""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path

from procedures.errors import InputError

ENV_PASSPHRASE = "MB_SIGNING_PASSPHRASE"


def default_signing_dir() -> Path:
    """The user's config directory for signing material, e.g. ``~/.config/meterbench/signing``."""
    import platformdirs

    return platformdirs.user_config_path("meterbench") / "signing"


def get_passphrase(*, confirm: bool = False, source: str = "signing identity") -> bytes:
    """The passphrase from ``MB_SIGNING_PASSPHRASE``, else a terminal prompt; never stored."""
    env = os.environ.get(ENV_PASSPHRASE)
    if env:
        return env.encode("utf-8")
    if not sys.stdin.isatty():
        raise InputError(
            ENV_PASSPHRASE,
            "is not set and there is no terminal to ask for the passphrase",
            allowed=f"set {ENV_PASSPHRASE} or run interactively",
            source=source,
        )
    first = getpass.getpass(f"Passphrase for {source}: ")
    if confirm and getpass.getpass("Repeat passphrase: ") != first:
        raise InputError("passphrase", "the two entries differ", source=source)
    if not first:
        raise InputError("passphrase", "must not be empty", source=source)
    return first.encode("utf-8")
