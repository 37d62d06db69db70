"""Plausibility bounds and clean text for every value that reaches a source, a wait or a certificate.

A value outside these bounds is not a test a meter shop runs; it is a typo (``voltage = 100`` for 1.00 x
nominal, ``--warmup 1e12``) that would otherwise energise a meter at 100 times its rating or keep a bench
energised without end. The bounds are deliberately wide — they refuse nonsense, not unusual practice —
and each is stated in its error message:

- durations: a point's settle time at most 1 h; a creep/starting window, a warm-up at most 24 h;
- the simulation speed factor: 0 (virtual time) or 0.01 ... 10 000 x real time;
- a meter's test-output constant Kt: 1e-6 ... 1e4 Wh per pulse; a reference's Kr: 1e-9 ... 1e3 Wh per
  pulse (beyond them one gate would count more than 10^12 pulses, or fewer than one);
- a point voltage at most 1.5 x the meter's nominal; a point current at most 1.5 x its Imax;
- a calibration date not in the future;
- free text (operator, manufacturer, model, owner, names, titles) without control characters (ESC,
  NUL, ...) or bidirectional overrides (U+202E, ...), which garble or spoof a PDF/A certificate and make
  it uncertifiable, and at most :data:`TEXT_MAX` characters (:data:`NOTE_MAX` for notes).

NaN and +/-inf are refused everywhere. Every refusal is an :class:`InputError` naming the field.
"""

from __future__ import annotations

import math
import unicodedata
from datetime import date

from procedures.errors import InputError

MAX_SETTLE_S = 3600.0
MAX_WINDOW_S = 86400.0
MAX_WARMUP_S = 86400.0
SPEED_RANGE = (0.01, 10000.0)
KT_RANGE_WH = (1e-6, 1e4)
KR_RANGE_WH = (1e-9, 1e3)
MAX_VOLTAGE_MULTIPLE = 1.5
MAX_CURRENT_OF_IMAX = 1.5
MAX_READINGS = 1000
TEXT_MAX = 200
NOTE_MAX = 4000
#: Unicode format characters that reorder or hide text (bidi embeddings, overrides, isolates, marks).
_BIDI = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u061c")


def number(
    field: str,
    value: object,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    unit: str = "",
    source: str | None = None,
) -> float:
    """``value`` as a finite float within [low, high] (``low_open``: above ``low``), else InputError."""
    kw = {"source": source} if source else {}
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(field, "must be a number", found=value, **kw)
    try:
        val = float(value)
    except OverflowError:
        raise InputError(field, "is far too large", found=str(value)[:40], **kw) from None
    u = f" {unit}" if unit else ""
    if not math.isfinite(val):
        raise InputError(field, "must be a finite number (not NaN or infinity)", found=val, **kw)
    if low is not None and (val < low or (low_open and val == low)):
        rule = f"above {low:g}{u}" if low_open else f"at least {low:g}{u}"
        raise InputError(field, f"must be {rule}", found=val, allowed=_range(low, high, u, low_open), **kw)
    if high is not None and val > high:
        raise InputError(
            field, f"must be at most {high:g}{u}", found=val, allowed=_range(low, high, u, low_open), **kw
        )
    return val


def _range(low, high, unit: str, low_open: bool) -> str:
    lo = "" if low is None else (f"> {low:g}{unit}" if low_open else f">= {low:g}{unit}")
    hi = "" if high is None else f"<= {high:g}{unit}"
    return " and ".join(x for x in (lo, hi) if x)


def speed(value: object, field: str = "--speed") -> float:
    """A simulation speed: 0 = virtual time, else a factor of real time."""
    val = number(field, value, low=0.0, high=SPEED_RANGE[1])
    if 0 < val < SPEED_RANGE[0]:
        raise InputError(field, f"must be 0 (virtual time) or at least {SPEED_RANGE[0]:g}", found=val,
                         allowed=f"0, or {SPEED_RANGE[0]:g} ... {SPEED_RANGE[1]:g} x real time")  # fmt: skip
    return val


def warmup_s(value: object, field: str = "--warmup") -> float:
    return number(field, value, low=0.0, high=MAX_WARMUP_S, unit="s")


def window_s(value: object, field: str = "duration_s", source: str | None = None) -> float:
    """A creep or starting window (or any timed test)."""
    return number(field, value, low=0.0, low_open=True, high=MAX_WINDOW_S, unit="s", source=source)


def settle_s(value: object, field: str = "settle_s", source: str | None = None) -> float:
    return number(field, value, low=0.0, high=MAX_SETTLE_S, unit="s", source=source)


def kt_wh(value: object, field: str = "kt", source: str | None = None) -> float:
    """A meter's test-output constant in Wh per pulse."""
    return number(field, value, low=KT_RANGE_WH[0], high=KT_RANGE_WH[1], unit="Wh/pulse", source=source)


def kr_wh(value: object, field: str = "kr_wh", source: str | None = None) -> float:
    """A reference standard's pulse constant in Wh per pulse."""
    return number(field, value, low=KR_RANGE_WH[0], high=KR_RANGE_WH[1], unit="Wh/pulse", source=source)


def point_voltage(field: str, volts: float, nominal_v: float, source: str | None = None) -> float:
    """A point's voltage against the meter's nominal voltage (its nameplate)."""
    return number(field, volts, low=0.0, high=MAX_VOLTAGE_MULTIPLE * nominal_v, unit="V", source=source)


def point_current(field: str, amps: float, imax_a: float, source: str | None = None) -> float:
    """A point's current against the meter's Imax (its nameplate)."""
    return number(field, amps, low=0.0, high=MAX_CURRENT_OF_IMAX * imax_a, unit="A", source=source)


def past_date(field: str, value: date, *, today: date | None = None, source: str | None = None) -> date:
    """A calibration (or other) date that has already happened."""
    today = today or date.today()
    if value > today:
        kw = {"source": source} if source else {}
        raise InputError(field, "is in the future", found=str(value), allowed=f"a date up to {today}", **kw)
    return value


def text(
    field: str,
    value: object,
    *,
    max_len: int = TEXT_MAX,
    multiline: bool = False,
    source: str | None = None,
) -> str:
    """``value`` as clean text: refused when it holds a control character (tabs and newlines allowed
    only when ``multiline``), a bidirectional override or an unassigned code point, or exceeds
    ``max_len`` characters. Leading and trailing spaces are stripped."""
    kw = {"source": source} if source else {}
    if not isinstance(value, str):
        raise InputError(field, "must be text", found=value, **kw)
    if len(value) > max_len:
        raise InputError(field, f"is {len(value)} characters long", allowed=f"at most {max_len} characters",
                         found=value[:40] + "...", **kw)  # fmt: skip
    for ch in value:
        if multiline and ch in "\n\t":
            continue
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Cs", "Cn", "Co") or ch in _BIDI or cat in ("Zl", "Zp"):
            name = unicodedata.name(ch, "control character")
            raise InputError(field, f"contains U+{ord(ch):04X} ({name}), which garbles or disguises printed text",
                             allowed="printable text", found=value.encode("unicode_escape").decode()[:60], **kw)  # fmt: skip
    return value.strip()


#: nameplate limits no revenue meter exceeds (self-contained meters stop at CL320; 600 V services)
MAX_NAMEPLATE_V = 1000.0
MAX_NAMEPLATE_A = 1000.0
_NAMEPLATE_TEXT = ("manufacturer", "model", "firmware", "owner", "condition")


def nameplate(meter: dict, *, source: str | None = None, prefix: str = "") -> None:
    """A meter's nameplate as ``bench.meters.make_meter`` builds it (``LoadedMeter.to_dict()``): Kh and Kt
    within :data:`KT_RANGE_WH`, voltage and currents plausible, free text clean and bounded. For the lead
    to call from ``make_meter`` (manifests, bench files, the GUI): it is where those values enter."""
    kt_wh(meter.get("kh"), f"{prefix}kh", source)
    kt_wh(meter.get("kt"), f"{prefix}kt", source)
    number(f"{prefix}voltage", meter.get("voltage_v"), low=0.0, low_open=True, high=MAX_NAMEPLATE_V, unit="V",
           source=source)  # fmt: skip
    for key, name in (("ta_a", "ta"), ("ib_a", "ib"), ("in_a", "in"), ("imax_a", "imax")):
        if meter.get(key) is not None:
            number(f"{prefix}{name}", meter[key], low=0.0, low_open=True, high=MAX_NAMEPLATE_A, unit="A",
                   source=source)  # fmt: skip
    for key in _NAMEPLATE_TEXT:
        if meter.get(key):
            text(f"{prefix}{key}", meter[key], source=source)
