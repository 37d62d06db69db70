"""The issuing laboratory's identity, from a TOML file or the built-in demonstration default.

A shop describes itself once::

    [laboratory]
    name = "Riverside Electric Meter Shop"
    address = ["410 Grid Avenue"]
    city = "Springfield, IL 62701"
    country_code = "US"
    accreditation = "A2LA 1234.01 (ISO/IEC 17025:2017)"   # optional: only if the shop is accredited
    place_of_test = "Meter shop, 410 Grid Avenue, Springfield IL"
    logo = "logo.png"            # optional, relative to this file
    email = "metershop@example.org"  # optional
    phone = "+1 217 555 0100"        # optional

    [[signatories]]
    name = "Morgan Reyes"
    role = "Meter shop supervisor"

The default is plainly a demonstration so a demo certificate can never be mistaken for a real one.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from procedures.errors import InputError
from reports.model import Laboratory, Person

DEMO_ACCREDITATION = "none - demonstration only, not a valid certificate"

_REQUIRED = ("name", "address", "city", "country_code", "place_of_test")
# accreditation is stated on a certificate only when the laboratory file gives one: an unaccredited shop
# leaves it out, and nothing is printed in its place
_OPTIONAL = ("accreditation", "logo", "email", "phone")
#: What the example laboratory file once said in place of an accreditation; a copy that still says it is
#: read as "no accreditation given", so the placeholder never reaches a certificate.
TEMPLATE_ACCREDITATION = "Not accredited (state the scope and the accreditation body's number if you are)"


def default_laboratory() -> Laboratory:
    """The built-in demonstration shop."""
    return Laboratory(
        name="MeterBench Demonstration Meter Shop",
        address=("1 Example Street (demonstration address)",),
        city="Anytown, ST 00000",
        country_code="US",
        accreditation=DEMO_ACCREDITATION,
        # never "simulated instruments": a real bench may be run without a laboratory file too
        place_of_test="not stated (built-in demonstration laboratory: no laboratory file given)",
        signatories=(Person("Demo Supervisor", "Meter shop supervisor (demonstration)"),),
    )


def load_laboratory(path: str | Path) -> Laboratory:
    """Read a laboratory TOML file; every problem is an :class:`InputError` naming the key."""
    path = Path(path)
    src = str(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError("laboratory file", "does not exist", source=src) from exc
    except tomllib.TOMLDecodeError as exc:
        raise InputError("laboratory file", f"is not valid TOML: {exc}", source=src) from exc
    lab = raw.get("laboratory")
    if not isinstance(lab, dict):
        raise InputError("laboratory", "table [laboratory] is missing", source=src)
    unknown = set(lab) - set(_REQUIRED) - set(_OPTIONAL)
    if unknown:
        raise InputError(
            "laboratory", "unknown keys", allowed=_REQUIRED + _OPTIONAL, source=src, found=sorted(unknown)
        )
    for key in _REQUIRED:
        if key not in lab:
            raise InputError(f"laboratory.{key}", "is missing", source=src)
    address = lab["address"]
    if isinstance(address, str):
        address = [address]
    if not isinstance(address, list) or not all(isinstance(a, str) for a in address):
        raise InputError("laboratory.address", "must be a list of lines", source=src, found=address)
    for key in ("name", "city", "country_code", "place_of_test", *_OPTIONAL):
        if key in lab and not (isinstance(lab[key], str) and lab[key].strip()):
            raise InputError(f"laboratory.{key}", "must be a non-empty string", source=src, found=lab[key])
    logo = None
    if "logo" in lab:
        logo_path = (path.parent / lab["logo"]).resolve()
        if not logo_path.is_file():
            raise InputError("laboratory.logo", "file not found", source=src, found=str(logo_path))
        if logo_path.suffix.lower() not in (".png", ".jpg", ".jpeg"):
            raise InputError(
                "laboratory.logo",
                "unsupported image type",
                allowed=".png, .jpg",
                source=src,
                found=logo_path.name,
            )
        logo = str(logo_path)
    signatories = []
    for k, s in enumerate(raw.get("signatories", [])):
        if not isinstance(s, dict) or not isinstance(s.get("name"), str) or not s["name"].strip():
            raise InputError(f"signatories[{k}].name", "is missing", source=src, found=s)
        signatories.append(Person(s["name"], str(s.get("role", ""))))
    try:
        return Laboratory(
            name=lab["name"],
            address=tuple(address),
            city=lab["city"],
            country_code=lab["country_code"],
            accreditation=""
            if lab.get("accreditation") == TEMPLATE_ACCREDITATION
            else lab.get("accreditation", ""),
            place_of_test=lab["place_of_test"],
            logo_path=logo,
            signatories=tuple(signatories),
            email=lab.get("email", ""),
            phone=lab.get("phone", ""),
        )
    except InputError as err:
        raise err.within(src) from None
