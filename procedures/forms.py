"""ANSI meter forms as data: which coils of which element connect to which service phase.

The forms live in ``procedures/data/forms.toml`` (with provenance); this module loads and validates them
and turns a service (line-to-neutral voltages, line currents) into what each element sees. Both the
wiring analysis and the bench simulator use :func:`element_phasors`, so a fault injected in the simulator
and one diagnosed from measured phasors obey the same wiring.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from procedures.errors import InputError
from procedures.phasors import phase_lag, phasor

TERMINALS = ("A", "B", "C", "N")
CONNECTIONS = ("self-contained", "transformer-rated")


@dataclass(frozen=True)
class Coil:
    """One current coil of an element: the line it carries, its polarity and its share of the element."""

    phase: str
    polarity: int
    share: float


@dataclass(frozen=True)
class Element:
    """A measuring element, named by its socket position (A left, B centre, C right)."""

    name: str
    voltage: tuple[str, str]
    coils: tuple[Coil, ...]

    @property
    def current_phases(self) -> tuple[str, ...]:
        return tuple(c.phase for c in self.coils)


@dataclass(frozen=True)
class MeterForm:
    name: str
    title: str
    service: str
    connection: str
    nominal_voltages: tuple[float, ...]
    current_classes: tuple[str, ...]
    typical_class: str
    blondel: bool
    elements: tuple[Element, ...]
    notes: str = ""
    provenance: str = ""
    status: str = "confirmed"

    @property
    def n_elements(self) -> int:
        return len(self.elements)

    @property
    def polyphase(self) -> bool:
        return self.n_elements > 1

    @property
    def element_names(self) -> tuple[str, ...]:
        return tuple(e.name for e in self.elements)

    @property
    def voltage_phases(self) -> tuple[str, ...]:
        """Service phases whose voltage the meter uses (neutral excluded), in A, B, C order."""
        used = {t for e in self.elements for t in e.voltage if t != "N"}
        return tuple(p for p in "ABC" if p in used)

    @property
    def current_phases(self) -> tuple[str, ...]:
        used = {c.phase for e in self.elements for c in e.coils}
        return tuple(p for p in "ABC" if p in used)

    @property
    def transformer_rated(self) -> bool:
        return self.connection == "transformer-rated"

    def element(self, name: str) -> Element:
        for e in self.elements:
            if e.name == name:
                return e
        raise InputError("element", f"form {self.name} has no element {name!r}", allowed=self.element_names)

    def line_to_neutral(self, element_voltage: float) -> float:
        """The line-to-neutral voltage that puts ``element_voltage`` across each potential coil."""
        ratio = abs(_terminal_voltage(self.elements[0].voltage, _unit_service(self)))
        return element_voltage / ratio


def _unit_service(form: MeterForm, rotation: str = "ABC") -> dict[str, complex]:
    if form.service.startswith("1-phase 3-wire"):
        return {"A": phasor(1.0, 0.0), "B": phasor(1.0, 180.0), "C": 0j, "N": 0j}
    volts = {p: phasor(1.0, phase_lag(p, rotation)) for p in "ABC"}
    volts["N"] = 0j
    return volts


def _terminal_voltage(pair: tuple[str, str], v: dict[str, complex]) -> complex:
    return v.get(pair[0], 0j) - v.get(pair[1], 0j)


def element_phasors(
    form: MeterForm, voltages: dict[str, complex], currents: dict[str, complex]
) -> list[tuple[Element, complex, complex]]:
    """What each element sees: (element, voltage across its potential coil, its effective current).

    ``voltages`` are line-to-neutral phasors by phase, ``currents`` line currents by phase; a missing
    phase counts as zero.
    """
    v = {**voltages, "N": voltages.get("N", 0j)}
    out = []
    for e in form.elements:
        ve = _terminal_voltage(e.voltage, v)
        ie = sum((c.polarity * c.share * currents.get(c.phase, 0j) for c in e.coils), 0j)
        out.append((e, ve, ie))
    return out


def correct_service(
    form: MeterForm, element_voltage: float, current: float, lag: float, rotation: str = "ABC"
) -> tuple[dict[str, complex], dict[str, complex]]:
    """Line-to-neutral voltages and line currents of a balanced, correctly wired service.

    ``element_voltage`` is the nameplate voltage across each potential coil, ``current`` the line current
    and ``lag`` the load's current lag behind its own phase voltage, in degrees.
    """
    unit = _unit_service(form, rotation)
    vln = form.line_to_neutral(element_voltage)
    volts = {p: unit[p] * vln for p in form.voltage_phases}
    amps = {}
    # every service line carries load current, also one the meter does not measure (B of a delta)
    for p in sorted(set(form.voltage_phases) | set(form.current_phases)):
        amps[p] = unit[p] / abs(unit[p]) * phasor(current, lag) if unit[p] else 0j
    return volts, amps


def _parse_form(name: str, raw: dict, src: str, provenance: str, status: str) -> MeterForm:
    where = f"forms.{name}"

    def need(key: str, kind: type | tuple[type, ...]):
        if key not in raw:
            raise InputError(f"{where}.{key}", "is missing", source=src)
        val = raw[key]
        if not isinstance(val, kind):
            raise InputError(f"{where}.{key}", f"must be {kind}", source=src, found=val)
        return val

    connection = need("connection", str)
    if connection not in CONNECTIONS:
        raise InputError(
            f"{where}.connection", "unknown connection", allowed=CONNECTIONS, source=src, found=connection
        )
    elements = []
    for k, er in enumerate(need("elements", list)):
        ew = f"{where}.elements[{k}]"
        if not isinstance(er, dict) or not {"name", "voltage", "coils"} <= er.keys():
            raise InputError(ew, "needs name, voltage and coils", source=src, found=er)
        if er["name"] not in ("A", "B", "C"):
            raise InputError(
                f"{ew}.name", "must be a socket position", allowed="A, B, C", source=src, found=er["name"]
            )
        vt = er["voltage"]
        if not (isinstance(vt, list) and len(vt) == 2 and all(t in TERMINALS for t in vt) and vt[0] != vt[1]):
            raise InputError(
                f"{ew}.voltage", "must be two different terminals", allowed=TERMINALS, source=src, found=vt
            )
        coils = []
        for j, cr in enumerate(er["coils"]):
            cw = f"{ew}.coils[{j}]"
            if cr.get("phase") not in ("A", "B", "C"):
                raise InputError(
                    f"{cw}.phase", "unknown phase", allowed="A, B, C", source=src, found=cr.get("phase")
                )
            if cr.get("polarity") not in (1, -1):
                raise InputError(f"{cw}.polarity", "must be 1 or -1", source=src, found=cr.get("polarity"))
            share = cr.get("share", 1.0)
            if not isinstance(share, int | float) or not 0 < share <= 1:
                raise InputError(f"{cw}.share", "must be in (0, 1]", source=src, found=share)
            coils.append(Coil(cr["phase"], cr["polarity"], float(share)))
        if not coils:
            raise InputError(f"{ew}.coils", "an element needs at least one current coil", source=src)
        elements.append(Element(er["name"], (vt[0], vt[1]), tuple(coils)))
    volts = need("nominal_voltages", list)
    if not volts or not all(isinstance(v, int | float) and v > 0 for v in volts):
        raise InputError(f"{where}.nominal_voltages", "must be positive volts", source=src, found=volts)
    return MeterForm(
        name=name,
        title=need("title", str),
        service=need("service", str),
        connection=connection,
        nominal_voltages=tuple(float(v) for v in volts),
        current_classes=tuple(need("current_classes", list)),
        typical_class=need("typical_class", str),
        blondel=bool(need("blondel", bool)),
        elements=tuple(elements),
        notes=raw.get("notes", ""),
        provenance=provenance,
        status=raw.get("status", status),
    )


def load_forms(path: str | Path | None = None) -> dict[str, MeterForm]:
    """Load and validate a forms file (the shipped one when ``path`` is None)."""
    if path is None:
        text = resources.files("procedures.data").joinpath("forms.toml").read_text(encoding="utf-8")
        src = "procedures/data/forms.toml"
    else:
        src = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError("forms file", f"cannot be read: {exc.strerror}", source=src) from exc
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError("forms file", f"is not valid TOML: {exc}", source=src) from exc
    prov = raw.get("provenance", {})
    provenance = prov.get("source", "")
    status = prov.get("status", "unconfirmed")
    forms = raw.get("forms")
    if not isinstance(forms, dict) or not forms:
        raise InputError("forms", "no [forms.<name>] tables", source=src)
    return {name: _parse_form(name, body, src, provenance, status) for name, body in forms.items()}


@cache
def shipped_forms() -> dict[str, MeterForm]:
    return load_forms()


def get_form(name: str) -> MeterForm:
    """A shipped form by name ("2S", "9s" ...), or an :class:`InputError` listing the known ones."""
    forms = shipped_forms()
    key = name.strip().upper() if isinstance(name, str) else None
    if key not in forms:
        raise InputError("form", "unknown meter form", allowed=sorted(forms, key=_form_order), found=name)
    return forms[key]


def _form_order(name: str) -> tuple[int, str]:
    digits = "".join(ch for ch in name if ch.isdigit())
    return (int(digits) if digits else math.inf, name)  # type: ignore[return-value]
