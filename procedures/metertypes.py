"""Meter types: the nameplate a scanned serial or a manifest row refers to, as editable data.

A shop scans 24 serials; the form, class, TA, Kh and Kt come from the meter's TYPE, not from typing. A type
lives in ``procedures/data/meter-types/*.toml`` (shipped: documented EXAMPLES, not vendor data) or in the
shop's own folder (``MB_METER_TYPES``, several folders separated by ``:``), one ``[types.<id>]`` table each:

    [types.example-2s-cl200]
    manufacturer = "Example Meter Co."     # as on the nameplate
    model = "EX-2S-200"
    form = "2S"                            # an ANSI form (procedures/data/forms.toml)
    accuracy_class = "0.5"                 # a class in procedures/data/classes.toml
    current_class = "CL200"                # ANSI current class; or ib / in / imax in A (IEC meters)
    voltage = 240.0                        # V
    kh = 7.2                               # Wh per revolution / pulse
    kt = 0.6                               # Wh per test-output pulse
    register_digits = 6                    # digits the register displays
    register_decimals = 3                  # of which after the decimal point (0.001 kWh least digit)
    optical_protocol = "ANSI C12.18"       # optical port: ANSI C12.18, IEC 62056-21, none
    serial_pattern = "^EX2S[0-9]{6}$"      # optional: a scanned serial matching it is this type
    example = true                         # true: a documented example, never a real product's data
    source = "where these figures come from (data sheet and revision)"

Every value is checked when the library loads; a bad one is an :class:`InputError` naming the file, the
type and the key (an unknown key names the nearest valid one).
"""

from __future__ import annotations

import difflib
import math
import os
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from procedures.catalog import Fields, accuracy_class, current_class, read_toml, ta_for
from procedures.errors import InputError
from procedures.forms import get_form

PROTOCOLS = ("ANSI C12.18", "IEC 62056-21", "none")
KEYS = (
    "manufacturer", "model", "form", "accuracy_class", "current_class", "voltage", "ta", "ib", "in", "imax",
    "kh", "kt", "register_digits", "register_decimals", "optical_protocol", "serial_pattern", "example",
    "source",
)  # fmt: skip
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
ENV = "MB_METER_TYPES"


@dataclass(frozen=True)
class MeterType:
    """One meter type's nameplate, with where its figures come from."""

    id: str
    manufacturer: str
    model: str
    form: str
    accuracy_class: str
    voltage_v: float
    kh: float
    kt: float
    register_digits: int
    register_decimals: int
    optical_protocol: str
    source: str
    example: bool
    current_class: str | None = None
    ta_a: float | None = None
    ib_a: float | None = None
    in_a: float | None = None
    imax_a: float | None = None
    serial_pattern: str | None = None
    origin: str = ""  # the file it was read from

    @property
    def register_resolution_kwh(self) -> float:
        """The register's least significant digit in kWh."""
        return 10.0**-self.register_decimals

    def nameplate(self) -> dict:
        """The type as the raw fields of a manifest row (``bench.meters.make_meter`` keys)."""
        raw = {"manufacturer": self.manufacturer, "model": self.model, "form": self.form,
               "accuracy_class": self.accuracy_class, "current_class": self.current_class or "",
               "voltage": self.voltage_v, "kh": self.kh, "kt": self.kt}  # fmt: skip
        for key, value in (("ta", self.ta_a), ("ib", self.ib_a), ("in", self.in_a), ("imax", self.imax_a)):
            if value is not None:
                raw[key] = value
        return raw

    def matches(self, serial: str) -> bool:
        return bool(self.serial_pattern) and re.fullmatch(self.serial_pattern, serial) is not None


def _number(f: Fields, key: str, *, optional: bool = False) -> float | None:
    if optional and key not in f.raw:
        return None
    x = f.get(key, (int, float), what="a number")
    if not math.isfinite(x) or x <= 0:
        raise f.error(key, "must be a finite number > 0", found=x)
    return float(x)


def _parse(tid: str, raw: object, src: str) -> MeterType:
    where = f"types.{tid}"
    if not _ID.match(tid):
        raise InputError(where, "is not a meter type id", source=src, found=tid,
                         allowed="1-64 lower-case letters, digits, '.', '_' or '-'")  # fmt: skip
    f = Fields(raw, where, src)
    for key in f.raw:
        if key not in KEYS:
            near = difflib.get_close_matches(str(key), KEYS, 1, 0.5)
            raise f.error(str(key), "is not a meter-type key" + (f" (did you mean {near[0]!r}?)" if near else ""),
                          allowed=", ".join(KEYS))  # fmt: skip
    form = f.text("form")
    try:
        form = get_form(form).name
    except InputError as exc:
        raise f.error("form", exc.problem, allowed=exc.allowed, found=form) from None
    acc = f.text("accuracy_class")
    try:
        accuracy_class(acc)
    except InputError as exc:
        raise f.error("accuracy_class", exc.problem, allowed=exc.allowed, found=acc) from None
    cc = f.text("current_class", "") or None
    ta = _number(f, "ta", optional=True)
    if cc:
        try:
            cc = current_class(cc).name
        except InputError as exc:
            raise f.error("current_class", exc.problem, allowed=exc.allowed, found=cc) from None
        if ta is not None and not math.isclose(ta, ta_for(cc)):
            raise f.error(
                "ta", f"does not belong to current class {cc}", allowed=f"{ta_for(cc):g} A", found=ta
            )
    ib, in_, imax = (_number(f, k, optional=True) for k in ("ib", "in", "imax"))
    if not cc and ta is None and ib is None and in_ is None:
        raise f.error("current_class", "is missing (and no ta, ib or in given)",
                      allowed="an ANSI current class (CL2..CL320), or ta / ib / in in amperes")  # fmt: skip
    digits = f.get("register_digits", int, what="a whole number")
    decimals = f.get("register_decimals", int, what="a whole number")
    if not 1 <= digits <= 12:
        raise f.error("register_digits", "is out of range", allowed="1..12", found=digits)
    if not 0 <= decimals <= min(6, digits):
        raise f.error("register_decimals", "is out of range", allowed=f"0..{min(6, digits)}", found=decimals)
    protocol = f.choice("optical_protocol", PROTOCOLS)
    pattern = f.text("serial_pattern", "") or None
    if pattern:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise f.error("serial_pattern", f"is not a regular expression: {exc}", found=pattern) from None
    example = f.get("example", bool, False, what="true or false")
    source = f.text("source")
    if not source.strip():
        raise f.error(
            "source", "must say where the figures come from (a data sheet, or that it is an example)"
        )
    return MeterType(
        id=tid, manufacturer=f.text("manufacturer"), model=f.text("model"), form=form, accuracy_class=acc,
        voltage_v=_number(f, "voltage"), kh=_number(f, "kh"), kt=_number(f, "kt"), register_digits=digits,
        register_decimals=decimals, optical_protocol=protocol, source=source, example=example,
        current_class=cc, ta_a=ta if ta is not None else (ta_for(cc) if cc else None), ib_a=ib, in_a=in_,
        imax_a=imax, serial_pattern=pattern, origin=src,
    )  # fmt: skip


def load_meter_type_file(path: str | Path | None = None, *, _name: str | None = None) -> dict[str, MeterType]:
    """The types of one file (a shipped one by ``_name`` when ``path`` is None)."""
    data, src, _ = read_toml(path, "procedures.data", f"meter-types/{_name}", "meter types")
    f = Fields(data, "file", src)
    for key in f.raw:
        if key not in ("version", "types"):
            raise f.error(str(key), "is not a top-level key of a meter-type file", allowed="version, types")
    types = f.get("types", dict, what="a table of [types.<id>] tables")
    return {tid: _parse(tid, raw, src) for tid, raw in types.items()}


@cache
def shipped_meter_types() -> dict[str, MeterType]:
    folder = resources.files("procedures.data").joinpath("meter-types")
    out: dict[str, MeterType] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            _merge(out, load_meter_type_file(_name=entry.name))
    return out


def _merge(into: dict[str, MeterType], more: dict[str, MeterType]) -> None:
    for tid, mt in more.items():
        if tid in into:
            raise InputError(
                f"types.{tid}", f"is defined twice (also in {into[tid].origin})", source=mt.origin
            )
        into[tid] = mt


def load_meter_types(folders: list[str | Path] | None = None) -> dict[str, MeterType]:
    """The shipped examples plus the shop's types: ``folders`` (or ``$MB_METER_TYPES``, ':'-separated)
    of ``*.toml`` files, or single files. An id defined twice is an error naming both files."""
    if folders is None:
        folders = [p for p in os.environ.get(ENV, "").split(os.pathsep) if p]
    out = dict(shipped_meter_types())
    for folder in folders:
        path = Path(folder)
        files = sorted(path.glob("*.toml")) if path.is_dir() else [path]
        if not path.exists():
            raise InputError("meter types", "folder or file does not exist", source=str(path))
        for file in files:
            _merge(out, load_meter_type_file(file))
    return out


def meter_type(tid: str, library: dict[str, MeterType] | None = None, *, field: str = "meter_type",
               source: str | None = None) -> MeterType:  # fmt: skip
    """A type by id, or an InputError naming the nearest known ids."""
    library = load_meter_types() if library is None else library
    key = str(tid or "").strip()
    if key in library:
        return library[key]
    near = difflib.get_close_matches(key.lower(), list(library), 3, 0.5)
    raise InputError(field, "is not a known meter type" + (f" (nearest: {', '.join(near)})" if near else ""),
                     source=source, found=tid, allowed=", ".join(sorted(library)) or "none defined")  # fmt: skip


def type_for_serial(serial: str, library: dict[str, MeterType] | None = None) -> MeterType | None:
    """The one type whose serial pattern a scanned serial matches; None when none does; InputError when
    several do (the patterns must be made distinct, or the type chosen by hand)."""
    library = load_meter_types() if library is None else library
    hits = [mt for mt in library.values() if mt.matches(serial)]
    if len(hits) > 1:
        raise InputError("serial", "matches the serial pattern of several meter types", found=serial,
                         allowed=", ".join(mt.id for mt in hits) + " (choose one)")  # fmt: skip
    return hits[0] if hits else None
