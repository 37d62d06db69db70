"""Who tested a meter: a person's name for the records and the certificate, never an invented one.

A login name ("operator", "root", "pi") is not a person's name, so a certificate must not print it as the
technician. :func:`operator_name` is what a run command calls before energising: the ``--operator`` given,
else the full name the operating system records for the login account (its GECOS field), else an
:class:`InputError` asking for ``--operator``. :func:`recorded_name` is what a certificate prints for a name
already in the records: the name, or "not recorded".
"""

from __future__ import annotations

import getpass
import re

from procedures.errors import InputError

NOT_RECORDED = "not recorded"
#: the technician's name for a bench PC's account (e.g. in the login profile), used when none is given
OPERATOR_ENV = "MB_OPERATOR"
#: Account names that name a role or a machine, not a person (compared case-insensitively).
GENERIC_ACCOUNTS = frozenset(
    {
        "operator",
        "root",
        "admin",
        "administrator",
        "user",
        "users",
        "guest",
        "pi",
        "ubuntu",
        "debian",
        "ec2-user",
        "tech",
        "technician",
        "bench",
        "test",
        "tester",
        "meterbench",
        "shop",
        "lab",
        "default",
        "nobody",
        "unknown",
    }
)


def is_person_name(name: object) -> bool:
    """True for text that can be a person's name: has a letter and is not a generic account name."""
    if not isinstance(name, str):
        return False
    text = " ".join(name.split())
    return bool(re.search(r"[^\W\d_]", text)) and text.casefold() not in GENERIC_ACCOUNTS


def recorded_name(name: object) -> str:
    """A name from the records as a certificate prints it: the name, or "not recorded" (never a login)."""
    return " ".join(name.split()) if is_person_name(name) else NOT_RECORDED


def account_full_name(login: str | None = None) -> str | None:
    """The full name the system records for a login account (GECOS, before the first comma), if any."""
    try:
        import pwd

        entry = pwd.getpwnam(login or getpass.getuser())
    except (ImportError, KeyError, OSError):
        return None
    full = entry.pw_gecos.split(",")[0].strip()
    return full if is_person_name(full) and full != entry.pw_name else None


def operator_name(given: str | None, *, field: str = "--operator", login: str | None = None) -> str:
    """The technician's name for a run, checked before anything is energised.

    ``given`` (the ``--operator`` option or the GUI field) wins; empty, the login account's full name is
    used; when the account records none, the name is required.
    """
    text = " ".join((given or "").split())
    if text:
        if not is_person_name(text):
            raise InputError(
                field,
                "is not a person's name",
                found=given,
                allowed="the technician's name as the certificate should print it, e.g. 'J. Rivera'",
            )
        return text
    import os

    configured = " ".join(os.environ.get(OPERATOR_ENV, "").split())
    if configured and is_person_name(configured):  # the bench PC's technician, set in their profile
        return configured
    full = account_full_name(login)
    if full:
        return full
    try:
        account = login or getpass.getuser()
    except (KeyError, OSError):
        account = "unknown"
    raise InputError(
        field,
        f"is required: the login account {account!r} records no person's name",
        allowed="the technician's name, e.g. --operator 'J. Rivera'",
    )
