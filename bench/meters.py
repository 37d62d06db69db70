"""The meters loaded on a board: nameplate data, validated on entry, from a scan, a manifest or a bench file.

A technician scans a serial (keyboard-wedge barcode), picks or confirms the nameplate, and the meter is
checked here before it can be tested: known form, class and current class, a TA that belongs to the
current class, Kh and Kt positive and finite. Every problem is an :class:`InputError` naming the field.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from procedures.errors import InputError
from procedures.forms import MeterForm, get_form

# Serials printed on meter nameplates and barcodes: letters, digits and - . / _, 3 to 32 long.
SERIAL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-./_]{2,31}$")
MANIFEST_FIELDS = (
    "position",
    "serial",
    "form",
    "accuracy_class",
    "current_class",
    "voltage",
    "ta",
    "kh",
    "kt",
    "manufacturer",
    "model",
    "firmware",
    "ib",
    "in",
    "imax",
    "owner",
    "condition",
    "customer",
    "customer_address",
    "meter_type",
)
#: Nameplate fields a meter type supplies (a manifest row's own value wins, and is kept as a correction).
TYPE_FIELDS = (
    "manufacturer",
    "model",
    "form",
    "accuracy_class",
    "current_class",
    "voltage",
    "ta",
    "ib",
    "in",
    "imax",
    "kh",
    "kt",
)
#: A manifest column ``record.<name>`` is a shop-defined record field (work order, utility asset number):
#: kept with the meter's record and printed on its certificate and in exports as "<Name>".
RECORD_PREFIX = "record."
RECORD_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
RECORD_VALUE_MAX = 200


def record_field_label(name: str) -> str:
    """How a record field is titled on a certificate: ``work_order`` -> "Work order"."""
    text = name.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


@dataclass(frozen=True)
class LoadedMeter:
    """A meter on a position, with the nameplate data a certificate states."""

    position: int
    serial: str
    form: str
    accuracy_class: str
    kh: float
    kt: float
    voltage_v: float
    current_class: str | None = None
    ta_a: float | None = None
    ib_a: float | None = None
    in_a: float | None = None
    imax_a: float | None = None
    manufacturer: str = ""
    model: str = ""
    firmware: str = ""
    owner: str = ""
    condition: str = "as received, no visible damage"
    # the customer (ISO/IEC 17025 §7.8.2.1 b) and its address, one line per "; "-separated part
    customer: str = ""
    customer_address: str = ""
    # shop-defined record fields, (name, value) in manifest order, e.g. (("work_order", "WO-1182"),)
    record_fields: tuple[tuple[str, str], ...] = ()
    # the meter type the nameplate came from (procedures/metertypes.py), what it adds, and the fields the
    # manifest or the technician set differently from the type: (field, type's value, value used)
    meter_type: str = ""
    register_resolution_kwh: float | None = None
    optical_protocol: str = ""
    corrections: tuple[tuple[str, str, str], ...] = ()
    # nameplate fields a person corrected on the bench before the run, each (field, old value, new
    # value, who, when as ISO 8601 UTC): the run's record keeps them with the meter
    nameplate_changes: tuple[tuple[str, str, str, str, str], ...] = ()

    def __post_init__(self) -> None:  # a record read back from JSON carries lists
        object.__setattr__(self, "record_fields", tuple((str(k), str(v)) for k, v in self.record_fields))
        object.__setattr__(self, "corrections", tuple(tuple(map(str, c)) for c in self.corrections))
        object.__setattr__(
            self, "nameplate_changes", tuple(tuple(map(str, c)) for c in self.nameplate_changes)
        )

    @property
    def meter_form(self) -> MeterForm:
        return get_form(self.form)

    def to_dict(self) -> dict:
        return asdict(self)


def check_serial(serial: object, field: str = "serial", source: str | None = None) -> str:
    """A scanned or typed serial, stripped of the scanner's CR/LF; InputError when it is not one."""
    if not isinstance(serial, str):
        raise InputError(field, "must be text", source=source, found=serial)
    s = serial.strip()
    if not SERIAL_RE.match(s):
        raise InputError(
            field,
            "is not a meter serial",
            allowed="3-32 characters: letters, digits and - . / _, starting with a letter or digit",
            source=source,
            found=serial,
        )
    return s


def _positive(value: object, field: str, source: str | None, *, optional: bool = False) -> float | None:
    if value in (None, "") and optional:
        return None
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(
            field, "must be a number", allowed="a finite number > 0", source=source, found=value
        ) from None
    if not math.isfinite(x) or x <= 0:
        raise InputError(field, "must be a finite number > 0", source=source, found=value)
    return x


def with_meter_type(
    raw: dict, *, types=None, source: str | None = None, prefix: str = ""
) -> tuple[dict, object]:
    """``raw`` with the nameplate of its meter type filled in: the ``meter_type`` named, else the one type
    whose serial pattern the serial matches (when the row gives no form). Returns (raw, type or None)."""
    from procedures.metertypes import load_meter_types, meter_type, type_for_serial

    tid = str(raw.get("meter_type") or "").strip()
    if not tid and str(raw.get("form") or "").strip():
        return raw, None
    library = load_meter_types() if types is None else types
    if tid:
        mt = meter_type(tid, library, field=f"{prefix}meter_type", source=source)
    else:
        serial = str(raw.get("serial") or "").strip()
        try:
            mt = type_for_serial(serial, library) if serial else None
        except InputError as exc:
            raise InputError(
                f"{prefix}meter_type", exc.problem, source=source, found=serial, allowed=exc.allowed
            ) from None
        if mt is None:
            return raw, None
    merged = {**raw, "meter_type": mt.id}
    plate = mt.nameplate()
    for key in TYPE_FIELDS:
        if raw.get(key) in (None, "") and key in plate:
            merged[key] = plate[key]
    return merged, mt


def make_meter(raw: dict, *, source: str | None = None, prefix: str = "", types=None) -> LoadedMeter:
    """Validate a meter's nameplate data (from a manifest row, a bench file, the GUI) into a LoadedMeter.

    A ``meter_type`` (or a serial matching a type's pattern, when no form is given) supplies the nameplate
    fields the row leaves empty; a field the row sets differently is kept and listed as a correction.
    """
    from procedures import catalog

    def f(name: str) -> str:
        return f"{prefix}{name}"

    given = raw
    raw, mtype = with_meter_type(raw, types=types, source=source, prefix=prefix)

    try:
        position = int(raw.get("position"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(
            f("position"), "must be a whole number", allowed="1..48", source=source, found=raw.get("position")
        ) from None
    if not 1 <= position <= 48:
        raise InputError(f("position"), "is out of range", allowed="1..48", source=source, found=position)
    serial = check_serial(raw.get("serial"), f("serial"), source)
    try:
        form = get_form(str(raw.get("form", "")))
    except InputError as exc:
        raise InputError(
            f("form"), exc.problem, allowed=exc.allowed, source=source, found=raw.get("form")
        ) from None
    acc = str(raw.get("accuracy_class", "")).strip()
    try:
        catalog.accuracy_class(acc)
    except InputError as exc:
        raise InputError(
            f("accuracy_class"),
            exc.problem,
            allowed=exc.allowed,
            source=source,
            found=raw.get("accuracy_class"),
        ) from None
    kh = _positive(raw.get("kh"), f("kh"), source)
    kt = _positive(raw.get("kt") or raw.get("kh"), f("kt"), source)
    voltage = _positive(raw.get("voltage") or form.nominal_voltages[0], f("voltage"), source)
    current_class = (raw.get("current_class") or "").strip() or None
    ta = _positive(raw.get("ta"), f("ta"), source, optional=True)
    ib = _positive(raw.get("ib"), f("ib"), source, optional=True)
    in_ = _positive(raw.get("in"), f("in"), source, optional=True)
    imax = _positive(raw.get("imax"), f("imax"), source, optional=True)
    if current_class:
        try:
            cc = catalog.current_class(current_class)
        except InputError as exc:
            raise InputError(
                f("current_class"), exc.problem, allowed=exc.allowed, source=source, found=current_class
            ) from None
        if ta is None:
            ta = catalog.ta_for(current_class)
        elif not math.isclose(ta, catalog.ta_for(current_class), rel_tol=1e-9):
            raise InputError(
                f("ta"),
                f"does not belong to current class {current_class}",
                allowed=f"{catalog.ta_for(current_class):g} A",
                source=source,
                found=ta,
            )
        if imax is None:
            imax = cc.max_a
    elif ta is None and ib is None and in_ is None:
        raise InputError(
            f("current_class"),
            "is missing (and no TA, Ib or In given)",
            allowed="an ANSI current class (CL2..CL320), or ta / ib / in in amperes",
            source=source,
        )
    meter = LoadedMeter(
        position=position,
        serial=serial,
        form=form.name,
        accuracy_class=acc,
        kh=kh,
        kt=kt,  # type: ignore[arg-type]
        voltage_v=voltage,
        current_class=current_class,
        ta_a=ta,
        ib_a=ib,
        in_a=in_,
        imax_a=imax,  # type: ignore[arg-type]
        manufacturer=str(raw.get("manufacturer", "") or ""),
        model=str(raw.get("model", "") or ""),
        firmware=str(raw.get("firmware", "") or ""),
        owner=str(raw.get("owner", "") or ""),
        condition=str(raw.get("condition", "") or "as received, no visible damage"),
        customer=_text(raw, "customer", f("customer"), source),
        customer_address=_text(raw, "customer_address", f("customer_address"), source),
        record_fields=record_fields(raw, source=source, prefix=prefix),
        meter_type=mtype.id if mtype else "",
        optical_protocol=mtype.optical_protocol if mtype else "",
        register_resolution_kwh=mtype.register_resolution_kwh if mtype else None,
        corrections=_corrections(given, mtype),
    )
    from procedures import bounds

    # plausible Kt/Kh, voltage and currents, clean bounded text: where every nameplate enters
    bounds.nameplate(meter.to_dict(), source=source, prefix=prefix)
    return meter


def _corrections(given: dict, mtype) -> tuple[tuple[str, str, str], ...]:
    """Fields a row sets differently from its meter type's nameplate: (field, type's value, row's value)."""
    if mtype is None:
        return ()
    plate, out = mtype.nameplate(), []
    for key in TYPE_FIELDS:
        mine, theirs = given.get(key), plate.get(key)
        if mine in (None, "") or theirs in (None, ""):
            continue
        try:
            same = math.isclose(float(mine), float(theirs), rel_tol=1e-9)
        except (TypeError, ValueError):
            same = str(mine).strip().casefold() == str(theirs).strip().casefold()
        if not same:
            out.append((key, f"{theirs:g}" if isinstance(theirs, float) else str(theirs), str(mine).strip()))
    return tuple(out)


def _text(raw: dict, key: str, field: str, source: str | None, limit: int = RECORD_VALUE_MAX) -> str:
    value = raw.get(key)
    text = " ".join(str(value).split()) if value not in (None, "") else ""
    if len(text) > limit:
        raise InputError(field, f"is longer than {limit} characters", source=source, found=text[:40] + "...")
    return text


def record_fields(raw: dict, *, source: str | None = None, prefix: str = "") -> tuple[tuple[str, str], ...]:
    """The shop-defined record fields of a manifest row or meter table: keys ``record.<name>`` (or a
    ``record`` table), names lower-case letters, digits and _, values text up to 200 characters."""
    items = [(k[len(RECORD_PREFIX) :], v) for k, v in raw.items() if str(k).startswith(RECORD_PREFIX)]
    table = raw.get("record")
    if isinstance(table, dict):
        items += list(table.items())
    elif isinstance(table, list | tuple):
        items += [tuple(kv) for kv in table]
    out = []
    for name, value in items:
        where = f"{prefix}{RECORD_PREFIX}{name}"
        if not RECORD_NAME_RE.match(str(name)):
            raise InputError(
                where,
                "is not a record field name",
                source=source,
                found=name,
                allowed="record.<name>: lower-case letters, digits and _, e.g. record.work_order",
            )
        if isinstance(value, bool | dict | list):
            raise InputError(where, "must be text or a number", source=source, found=value)
        text = _text({"v": value}, "v", where, source)
        if text:
            out.append((str(name), text))
    return tuple(out)


def load_manifest(path: str | Path, text: str | None = None, *, types=None) -> list[LoadedMeter]:
    """Meters from a manifest CSV (header row with MANIFEST_FIELDS names; position and serial required).

    All rows are checked before any is accepted, so a bad manifest loads nothing.
    """
    src = str(path)
    if text is None:
        try:
            text = Path(path).read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise InputError("manifest", f"cannot be read: {exc.strerror}", source=src) from exc
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or not {"position", "serial"} <= {h.strip() for h in reader.fieldnames}:
        raise InputError(
            "header",
            "needs at least the columns position and serial",
            allowed=", ".join(MANIFEST_FIELDS),
            source=src,
            found=reader.fieldnames,
        )
    unknown = [
        h
        for h in reader.fieldnames
        if h.strip() not in MANIFEST_FIELDS and not h.strip().startswith(RECORD_PREFIX)
    ]
    if unknown:
        raise InputError(
            "header",
            "has unknown columns",
            source=src,
            found=unknown,
            allowed=", ".join(MANIFEST_FIELDS) + f", or {RECORD_PREFIX}<name> for a shop record field",
        )
    meters: list[LoadedMeter] = []
    for line, row in enumerate(reader, start=2):
        clean = {k.strip(): (v or "").strip() for k, v in row.items() if k}
        meters.append(make_meter(clean, source=f"{src} line {line}", types=types))
    check_board(meters, src)
    return meters


def check_board(meters: list[LoadedMeter], source: str | None = None) -> None:
    """One meter per position and per serial."""
    if not meters:
        raise InputError("meters", "no meters are loaded", allowed="at least one meter", source=source)
    seen_pos: dict[int, str] = {}
    seen_serial: dict[str, int] = {}
    for m in meters:
        if m.position in seen_pos:
            raise InputError(
                f"position {m.position}",
                "has two meters",
                source=source,
                found=[seen_pos[m.position], m.serial],
            )
        if m.serial in seen_serial:
            raise InputError(
                f"serial {m.serial}",
                "is loaded twice",
                source=source,
                found=[seen_serial[m.serial], m.position],
            )
        seen_pos[m.position] = m.serial
        seen_serial[m.serial] = m.position
