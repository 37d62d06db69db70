"""ZERA COM5003 (and MT310s2) reference meter with its error calculator, over ZERA's SCPI (TCP port 6320,
or the serial port at 9600 8N2): the reference standard and the error calculator of ONE bench position.

Every command, its provenance and its source are in :data:`COMMANDS` (instruments.md, "ZERA COM5003").
Sources (GPL-3; facts and command strings only): ZS = ZeraGmbH/zera-scpi @618e973, ZC =
ZeraGmbH/zera-classes @618fe79, ZX = ZeraGmbH/zenux-services @0aae9f1.

What the unit's protocol demands, and what this driver does about it:

- A parameter counts only when a ``;`` follows it (ZS ``scpi/lib/scpicommand.cpp``): every setting is
  sent as ``<header> <value>;``. Without it the unit queues ``-100,Command error`` and sets nothing.
- Settings are not acknowledged and ``*OPC?`` does not block (ZS ``zscpi_specifics.txt``,
  ``doc/WinSAM-de-SCPI`` "Ablauf beim Setzen"): after a setting the driver polls ``*OPC?`` until ``+1``,
  reads the error queue, then queries the value back; a refusal or a different read-back is a
  :class:`CommandRefused` naming the setting.
- Unknown headers get no reply at all (ZC ``test_scpi_error_and_status.cpp``): a timeout on a query is
  reported with the command.
- Measurements answer ``MOD:CH:[unit]:value;`` (one item per channel for a module query):
  :func:`parse_measurement` turns any such reply into a dict and refuses anything else, showing the reply.
- ``FETCH:`` returns the answer stored by this connection's last READ/MEASURE, so on a fresh connection it
  is only ``;`` (ZC scpi dump). The driver therefore reads with ``MEASURE:`` (a fresh value each time)
  and never FETCH: a FETCH would hand back stale values of an earlier load point without saying so.
- DFT values are peak amplitudes, lagging angles positive ("technical", im x -1), turned so UL1 is at
  0 deg, as ``re,im`` (ZC ``dftmodulemeasprogram.cpp``; the real capture ZS
  ``doc/istwertabfrage-scpi-ac.txt``). MeterBench stores rms magnitudes and lagging-positive degrees
  (:mod:`instruments.interfaces`): magnitude / sqrt(2), lag = atan2(im, re).
- The reference constant is the unit's ``REFCONSTANT?`` (imp/kWh), never the bench file's: a bench-file
  ``kr_wh`` that disagrees by more than 1e-6 (relative) with 1000 / REFCONSTANT is refused at open.
  A gate's reference count is ENFINAL (kWh) x REFCONSTANT; its meter pulses are MRATE, cross-checked
  against PULSES (the DUT pulses counted, the opening edge included).
- STATUS is a bit mask (ZX ``secinterface.h``): 1 armed, 2 started, 4 ready, 8 aborted.
- The COM5003 has ONE meter-test error calculator, ``CALCULATE:EC01:0001`` (ZC
  ``modulemanager/sessions/com5003-meas-session.json``): it serves exactly one position.

Ranges: by default the unit's range automatic is switched on (``CONFIGURATION:RNG1:RNGAUTO 1;``). Why:
the reference role is not told a load point before it is read, so the driver cannot choose ranges per
point, and one fixed range either overloads at Imax or loses resolution at 1 % of Ib. A range change
aborts a running gate on the unit (ZC ``sec1modulemeasprogram.cpp``); the driver sees STATUS bit 8 and
reports it instead of returning a result. Shops that want fixed ranges set the options
``voltage_range`` and ``current_range`` (the unit's range names, e.g. ``"240V"``, ``"10A"``).
"""

from __future__ import annotations

import math
import re
from typing import Any

from instruments.drivers import DriverContext, Link, Transport, read_options
from instruments.errors import CommandRefused, InstrumentError, InstrumentFault, UnparseableReply
from instruments.interfaces import (
    PHASES,
    Calibration,
    Capabilities,
    GateResult,
    PhaseReading,
    ReferenceReading,
)
from instruments.registry import DriverSpec
from procedures.errors import InputError

EC = "CALCULATE:EC01:0001"

#: LF both ways over TCP port 6320; the serial port at 9600 baud, 8 data bits, 2 stop bits
#: (ZC modules/scpimodule/configs/com5003-scpimodule.xml)
TRANSPORT = Transport("\n", "\n", 2000, baud_rate=9600, data_bits=8, stop_bits=2, parity="none")

_DUMP = "ZC modules/scpimodule/tests/test-data/scpi-dumps/dumped-all-queries-in-one-transaction-sorted"
_CAPTURE = "ZS doc/istwertabfrage-scpi-ac.txt (a real COM5003)"
_SEC1 = "ZC modules/sec1module/lib/sec1modulemeasprogram.cpp"

# name -> (template, provenance, source). [C] = in ZERA's published code, tests or a captured session.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "identify": ("*IDN?", "C", _DUMP),
    "opc?": ("*OPC?", "C", "ZS doc/WinSAM-de-SCPI 2.3; " + _DUMP),
    "clear": ("*CLS", "C", "ZC modules/scpimodule/tests/test_scpi_error_and_status.cpp"),
    "error?": ("SYSTEM:ERROR?", "C", "ZC test_scpi_error_and_status.cpp; " + _DUMP),
    "measure?": ("MEASURE:{module}?", "C", _CAPTURE + "; " + _DUMP),
    "frequency?": ("MEASURE:RNG1:F?", "C", _CAPTURE + "; ZC modules/rangemodule"),
    "range_auto": ("CONFIGURATION:RNG1:RNGAUTO {on:d};", "C", "ZC rangemodule/lib/rangeobsermatic.cpp"),
    "range_auto?": ("CONFIGURATION:RNG1:RNGAUTO?", "C", _DUMP),
    "range": ("SENSE:RNG1:{ch}:RANGE {name};", "C", "ZC rangeobsermatic.cpp; ZS doc/WinSAM-de-SCPI"),
    "range?": ("SENSE:RNG1:{ch}:RANGE?", "C", _DUMP),
    "mmode": ("CONFIGURATION:POW1:MMODE {mode};", "C", "ZC power1module; ZS doc/WinSAM-de-SCPI"),
    "mmode?": ("CONFIGURATION:POW1:MMODE?", "C", _DUMP),
    "dut_source": (EC + ":DUTSOURCE {name};", "C", _SEC1 + "; ZX com5003d/configs/com5003d.xml (SC1)"),
    "dut_source?": (EC + ":DUTSOURCE?", "C", _DUMP),
    "ref_source": (EC + ":REFSOURCE {name};", "C", _SEC1 + " (P, Q, S: the POW1/2/3 frequency outputs)"),
    "ref_source?": (EC + ":REFSOURCE?", "C", _DUMP),
    "ref_constant?": (EC + ":REFCONSTANT?", "C", _DUMP),
    "dut_unit": (EC + ":DCUNIT {unit};", "C", _SEC1 + " getDutConstUnitValidator"),
    "dut_unit?": (EC + ":DCUNIT?", "C", _DUMP),
    "dut_constant": (EC + ":DUTCONSTANT {value};", "C", _SEC1),
    "dut_constant?": (EC + ":DUTCONSTANT?", "C", _DUMP),
    "mrate": (EC + ":MRATE {n:d};", "C", _SEC1),
    "mrate?": (EC + ":MRATE?", "C", _DUMP),
    "continuous": (EC + ":CONTINUOUS 0;", "C", _SEC1),
    "continuous?": (EC + ":CONTINUOUS?", "C", _DUMP),
    "mcount": (EC + ":MCOUNT 1;", "C", _SEC1 + " (measurements per START, 1..400)"),
    "mcount?": (EC + ":MCOUNT?", "C", _DUMP),
    "target?": (EC + ":TARGET?", "C", _DUMP),
    "start": (EC + ":START 1;", "C", _SEC1),
    "stop": (EC + ":START 0;", "C", _SEC1),
    "status?": (EC + ":STATUS?", "C", _DUMP + "; ZX zenux-service-interfaces/lib/secinterface.h"),
    "progress?": (EC + ":PROGRESS?", "C", _DUMP),
    "pulses?": (EC + ":PULSES?", "C", _DUMP + "; " + _SEC1 + " updateProgress"),
    "enfinal?": (EC + ":ENFINAL?", "C", _DUMP + "; " + _SEC1 + " setECResult"),
    "result?": (EC + ":RESULT?", "C", _DUMP),
}
UNCONFIRMED = tuple(name for name, (_, prov, _) in COMMANDS.items() if prov == "U")

#: range names: the COM5003's (ZX com5003d/tests/test-data/scpi-dump.xml), then the MT310s2's
#: (ZC scpi dump SENSE:RNG1:UL1:RANGE:CATALOG?, ...:IL1:RANGE:CATALOG?); the unit refuses a name it lacks
VOLTAGE_RANGES = ("480V", "240V", "120V", "60V", "12V", "5V", "250V", "8V", "100mV")
CURRENT_RANGES = ("200A", "100A", "50A", "25A", "10A", "5A", "2.5A", "1.0A",
                  "500mA", "250mA", "100mA", "50mA", "25mA", "10mA", "5mA")  # fmt: skip
MMODES = ("4LW", "3LW", "2LW")  # ZC modules/power1module/configs/com5003-power1module.xml
ARMED, STARTED, READY, ABORTED = 1, 2, 4, 8  # ZX secinterface.h ECALCSTATUS
MAX_COUNT = 4294967295  # ZC sec1modulemeasprogram.cpp: MRATE and TARGET validators cIntValidator(1, 2^32-1)

OPTIONS = {
    "timeout_ms": (int, 2000, lambda v: 50 <= v <= 60000, "50..60000 ms"),
    "count_gate_pulses": (int, 1_000_000, lambda v: 10 <= v <= 4294967295, "10..4294967295 meter pulses"),
    "voltage_range": (str, "auto", lambda v: v == "auto" or v in VOLTAGE_RANGES,
                      "auto or one of " + ", ".join(VOLTAGE_RANGES)),
    "current_range": (str, "auto", lambda v: v == "auto" or v in CURRENT_RANGES,
                      "auto or one of " + ", ".join(CURRENT_RANGES)),
    "measuring_mode": (str, "4LW", lambda v: v in MMODES, "4LW (4-wire), 3LW (3-wire, Aron), 2LW"),
    "opc_timeout_s": (float, 5.0, lambda v: 0.1 <= v <= 120.0, "0.1..120 s"),
}  # fmt: skip
#: a point's energy quantity -> (REFSOURCE: which power module's pulses the gate counts, DCUNIT of the
#: meter constant kt per pulse): P = POW1 active, Q = POW2 reactive, S = POW3 apparent; the DCUNIT must be
#: one of its REFSOURCE's (ZC sec1modulemeasprogram.cpp getDutConstUnitValidator, newRefInput)
QUANTITY_SETTINGS = {"active": ("P", "Wh/I"), "reactive": ("Q", "Varh/I"), "apparent": ("S", "VAh/I")}
KR_TOLERANCE = 1e-6  # relative: a bench-file kr_wh further from the unit's REFCONSTANT is refused

_ITEM = re.compile(r"([A-Za-z][A-Za-z0-9]*):([A-Za-z0-9_\-]+):\[([^\]]*)\]:([^;]*)")


def cmd(key: str, **values: Any) -> str:
    return COMMANDS[key][0].format(**values)


def unconfirmed(command: str) -> bool:
    """Whether ``command`` comes from a [U] entry of :data:`COMMANDS` (then it is sent only if the bench
    file opted in: ``Link(..., unconfirmed=True)``)."""
    for template, provenance, _ in COMMANDS.values():
        if provenance == "U" and command.startswith(re.split(r"[ {]", template, maxsplit=1)[0]):
            return True
    return False


def parse_measurement(instrument: str, command: str, reply: str) -> dict[str, tuple[str, list[float]]]:
    """A ZERA measurement reply ``MOD:CH:[unit]:v[,v...];MOD:CH:...;`` as ``{"MOD:CH": (unit, [values])}``.

    Anything else (garbage, a bare number, a fresh FETCH's ``;``) is an :class:`UnparseableReply`
    showing the reply.
    """
    text = reply.strip()
    if text and set(text) == {";"}:
        raise UnparseableReply(
            instrument, command, reply,
            "no value measured yet: a FETCH answers ';' until a READ/MEASURE on this connection stored one",
        )  # fmt: skip
    if not text.endswith(";"):
        raise UnparseableReply(instrument, command, reply, "a ZERA measurement reply ends with ';'")
    out: dict[str, tuple[str, list[float]]] = {}
    for item in text[:-1].split(";"):
        m = _ITEM.fullmatch(item.strip())
        if m is None:
            raise UnparseableReply(instrument, command, reply, f"item {item!r} is not MOD:CH:[unit]:value")
        module, channel, unit, values = m.groups()
        try:
            numbers = [float(v) for v in values.split(",")]
        except ValueError:
            raise UnparseableReply(
                instrument, command, reply, f"item {item!r}: value is not a number"
            ) from None
        out[f"{module.upper()}:{channel.upper()}"] = (unit, numbers)
    return out


def dft_to_meterbench(re_peak: float, im_peak: float) -> tuple[float, float]:
    """A ZERA DFT value (peak, lagging-positive "technical" re,im) as (rms magnitude, lag in degrees 0..360)."""
    magnitude = math.hypot(re_peak, im_peak) / math.sqrt(2.0)
    lag = math.degrees(math.atan2(im_peak, re_peak)) % 360.0 if magnitude > 0 else 0.0
    return magnitude, lag


class ZeraCOM5003:
    """The COM5003 as reference standard; :meth:`calculators` gives its one error calculator."""

    def __init__(self, ctx: DriverContext) -> None:
        self.opts = read_options(ctx, OPTIONS)
        if (self.opts["voltage_range"] == "auto") != (self.opts["current_range"] == "auto"):
            raise InputError(
                f"{ctx.where}.options.voltage_range",
                "the range automatic is one switch for all channels: give both voltage_range and "
                "current_range, or neither",
                found=[self.opts["voltage_range"], self.opts["current_range"]],
                source=ctx.source_file or None,
            )
        self.name = ctx.name
        self.clock = ctx.clock
        self.where = ctx.where
        self.source_file = ctx.source_file
        overrides = {"timeout_ms": self.opts["timeout_ms"]} if "timeout_ms" in ctx.options else {}
        self.link = Link.from_context(ctx, TRANSPORT, **overrides)
        self.kr_wh = 0.0  # Wh per reference pulse: 1000 / REFCONSTANT once read from the unit
        self.calibration: Calibration | None = None
        self.position: int | None = None
        self.calculator: ECPosition | None = None
        self._prepared = False

    # ---- protocol helpers ----------------------------------------------------------------------
    def write(self, command: str) -> None:
        self.link.write(command, unconfirmed=unconfirmed(command))

    def query(self, command: str) -> str:
        return self.link.query(command, unconfirmed=unconfirmed(command))

    def identify(self) -> str:
        return self.query(cmd("identify"))

    def capabilities(self) -> Capabilities:
        return Capabilities(
            phases=3,
            quantities=frozenset({"active", "reactive", "apparent"}),  # POW1 W, POW2 var, POW3 VA
            energy_test=True,  # REFSOURCE P|Q|S with DCUNIT Wh/I|Varh/I|VAh/I (QUANTITY_SETTINGS)
            positions=1,
            continuous_gating=False,  # CONTINUOUS keeps only the last result: readings could be lost
            pulse_count=True,  # a gate of count_gate_pulses; PULSES counts the meter's pulses
            unconfirmed=UNCONFIRMED,
        )

    def errors(self) -> list[str]:
        """Empty the error queue: every entry other than ``+0,No error``."""
        found = []
        for _ in range(20):
            reply = self.query(cmd("error?"))
            m = re.fullmatch(r"([+-]?\d+),(.*)", reply)
            if m is None:
                raise UnparseableReply(self.name, cmd("error?"), reply, "expected <code>,<text>")
            if int(m.group(1)) == 0:
                break
            found.append(reply)
        return found

    def wait_complete(self, after: str) -> None:
        """ZS WinSAM-de-SCPI 2.3: poll ``*OPC?`` until ``+1`` (it does not block on the unit)."""
        deadline = self.clock.now() + self.opts["opc_timeout_s"]
        while True:
            reply = self.query(cmd("opc?"))
            if reply.strip() in ("+1", "1"):
                return
            if reply.strip() not in ("+0", "0"):
                raise UnparseableReply(self.name, cmd("opc?"), reply, "expected +1 or +0")
            if self.clock.now() >= deadline:
                raise CommandRefused(
                    self.name, after, reply, f"*OPC? still +0 after {self.opts['opc_timeout_s']:g} s"
                )
            self.clock.sleep(0.02)

    def setting(self, what: str, command: str, query: str, expected: str | float) -> None:
        """Send ``command``, wait for ``*OPC? +1``, read the error queue, query the value back."""
        self.write(command)
        self.wait_complete(command)
        errs = self.errors()
        if errs:
            raise CommandRefused(self.name, command, "; ".join(errs), f"the COM5003 refused the {what}")
        back = self.query(query).strip()
        if isinstance(expected, str):
            same = back.upper() == expected.upper()
        else:
            try:
                value = float(back)
            except ValueError:
                raise UnparseableReply(
                    self.name, query, back, f"the {what} read back is not a number"
                ) from None
            same = math.isclose(value, expected, rel_tol=1e-9, abs_tol=1e-12)
        if not same:
            raise CommandRefused(
                self.name, query, back, f"the {what} reads back {back!r}, not {expected!r}: not set"
            )

    def number(self, query: str) -> float:
        reply = self.query(query)
        try:
            return float(reply)
        except ValueError:
            raise UnparseableReply(self.name, query, reply, "expected a number") from None

    def measure(self, query: str) -> dict[str, tuple[str, list[float]]]:
        return parse_measurement(self.name, query, self.query(query))

    def prepare(self) -> None:
        """Before the first reading or gate: measuring mode and ranges set explicitly and confirmed."""
        if self._prepared:
            return
        mode = self.opts["measuring_mode"]
        self.setting("measuring mode", cmd("mmode", mode=mode), cmd("mmode?"), mode)
        if self.opts["voltage_range"] == "auto":
            self.setting("range automatic", cmd("range_auto", on=1), cmd("range_auto?"), 1.0)
        else:
            self.setting("range automatic", cmd("range_auto", on=0), cmd("range_auto?"), 0.0)
            for n in (1, 2, 3):
                for ch, key in ((f"UL{n}", "voltage_range"), (f"IL{n}", "current_range")):
                    name = self.opts[key]
                    self.setting(f"{ch} range", cmd("range", ch=ch, name=name), cmd("range?", ch=ch), name)
        self._prepared = True

    def ref_constant(self) -> float:
        """REFCONSTANT? in imp/kWh (the unit's own reference pulse constant)."""
        value = self.number(cmd("ref_constant?"))
        if not (math.isfinite(value) and value > 0):
            raise UnparseableReply(self.name, cmd("ref_constant?"), f"{value!r}", "REFCONSTANT must be > 0")
        return value

    def _adopt_ref_constant(self, bench_kr_wh: float | None, field: str) -> None:
        constant = self.ref_constant()
        unit_kr = 1000.0 / constant
        if bench_kr_wh and abs(bench_kr_wh - unit_kr) > KR_TOLERANCE * unit_kr:
            raise InputError(
                field,
                f"disagrees with the COM5003's own reference constant (REFCONSTANT? = {constant:g} imp/kWh, "
                f"i.e. {unit_kr:.9g} Wh per pulse): the unit counts its own pulses, set kr_wh to that",
                found=bench_kr_wh,
                allowed=f"{unit_kr:.9g}",
                source=self.source_file or None,
            )
        self.kr_wh = unit_kr

    # ---- role views ------------------------------------------------------------------------------
    def as_reference(self, kr_wh: float, calibration: Calibration) -> ZeraCOM5003:
        self.calibration = calibration
        self._adopt_ref_constant(kr_wh, "instruments.reference.kr_wh")
        return self

    def calculators(self, positions: tuple[int, ...]) -> dict[int, ECPosition]:
        if len(positions) != 1:
            raise InputError(
                "positions",
                "a COM5003 has one meter-test error calculator (CALCULATE:EC01:0001): give exactly one position",
                found=list(positions),
            )
        # the bench file's kr_wh is this unit's only when it is also the reference standard
        self._adopt_ref_constant(self.kr_wh if self.calibration is not None else None,
                                 "instruments.reference.kr_wh")  # fmt: skip
        self.position = positions[0]
        self.calculator = ECPosition(self, self.position)
        return {self.position: self.calculator}

    def safe_state(self) -> None:
        """Stop the error calculator (a reference meter has no output to switch off)."""
        self.write(cmd("stop"))

    def confirm_safe(self) -> list[str]:
        """Ask the unit whether the safe state took: the calculator not started, the error queue empty."""
        problems = []
        try:
            status = self.number(cmd("status?"))
            if int(status) & (ARMED | STARTED):
                problems.append(f"the error calculator EC01:0001 is still started (STATUS {int(status)})")
        except InstrumentError as exc:
            problems.append(f"cannot read the error calculator's STATUS: {exc}")
        try:
            errs = self.errors()
            if errs:
                problems.append("the COM5003 error queue holds: " + "; ".join(errs))
        except InstrumentError as exc:
            problems.append(f"cannot read the COM5003 error queue: {exc}")
        return problems

    def close(self) -> None:
        self.link.close()

    # ---- ReferenceStandard -----------------------------------------------------------------------
    def read(self) -> ReferenceReading:
        self.prepare()
        values: dict[str, tuple[str, list[float]]] = {}
        for module in ("RMS1", "DFT1", "POW1", "POW2", "POW3"):
            q = cmd("measure?", module=module)
            values |= self.measure(q)
        values |= self.measure(cmd("frequency?"))

        def one(key: str, count: int = 1) -> list[float]:
            if key not in values or len(values[key][1]) != count:
                raise UnparseableReply(
                    self.name, cmd("measure?", module=key.split(":")[0]), None, f"no {count}-value item {key}"
                )
            return values[key][1]

        phases = {}
        for n, p in enumerate(PHASES, start=1):
            v_rms = one(f"RMS1:UL{n}")[0]
            i_rms = one(f"RMS1:IL{n}")[0]
            _, v_lag = dft_to_meterbench(*one(f"DFT1:UL{n}", 2))
            _, i_lag = dft_to_meterbench(*one(f"DFT1:IL{n}", 2))
            watts, var, va = one(f"POW1:P{n}")[0], one(f"POW2:Q{n}")[0], one(f"POW3:S{n}")[0]
            phases[p] = PhaseReading(
                v_rms, v_lag if v_rms > 0 else 0.0, i_rms, i_lag if i_rms > 0 else 0.0,
                watts, var, va, watts / va if va > 0 else 0.0,
            )  # fmt: skip
        return ReferenceReading(
            phases=phases,
            watts=one("POW1:PS")[0],
            vars=one("POW2:QS")[0],
            va=one("POW3:SS")[0],
            frequency_hz=one("RNG1:F")[0],
        )


class ECPosition:
    """The COM5003's error calculator ``CALCULATE:EC01:0001`` counting one position's meter pulses."""

    def __init__(self, meter: ZeraCOM5003, position: int) -> None:
        self.meter, self.position = meter, position
        self.rack = meter  # the physical instrument (what `bench check` identifies)
        self.name = f"{meter.name} EC01:0001"
        self._pulses = 0
        self._t_start = 0.0
        self._t_done: float | None = None
        self._counting = False
        self._configured: dict[str, object] = {}

    def _set(self, what: str, key: str, value: object, command: str, query: str, expected) -> None:
        if self._configured.get(key) == value:
            return
        self.meter.setting(what, command, query, expected)
        self._configured[key] = value

    def configure(self, kt_wh: float, meter_pulses: int, quantity: str = "active") -> None:
        """A gate of ``meter_pulses`` of ``kt_wh`` Wh (varh, VAh for a reactive, apparent ``quantity``) each,
        against the reference's pulses of the same quantity (REFSOURCE P|Q|S; REFCONSTANT is then in
        imp/kWh, imp/kvarh, imp/kVAh)."""
        if quantity not in QUANTITY_SETTINGS:
            raise InputError(
                "quantity", "is not an energy quantity", allowed=tuple(QUANTITY_SETTINGS), found=quantity
            )
        if not (kt_wh > 0 and math.isfinite(kt_wh)):
            raise InputError("kt_wh", "must be > 0 Wh per pulse", found=kt_wh)
        if not 1 <= meter_pulses <= MAX_COUNT:
            raise InputError("meter_pulses", f"must be 1..{MAX_COUNT}", found=meter_pulses)
        m = self.meter
        m.prepare()
        value = f"{kt_wh:.10g}"
        constant = m.ref_constant()
        expect = meter_pulses * constant * float(value) / 1000.0  # reference counts the gate should take
        if expect > MAX_COUNT:
            raise InputError(
                "meter_pulses",
                f"a gate of {meter_pulses} pulses at {value} Wh is {expect:.4g} reference counts; the COM5003's "
                f"TARGET holds at most {MAX_COUNT} (REFCONSTANT {constant:g} imp/kWh): use fewer pulses",
                found=meter_pulses,
            )
        self._set("DUT input", "dut", "SC1", cmd("dut_source", name="SC1"), cmd("dut_source?"), "SC1")
        source, unit = QUANTITY_SETTINGS[quantity]
        if self._configured.get("ref") != source:
            self._configured.pop("unit", None)  # a new REFSOURCE resets DCUNIT on the unit (ZC newRefInput)
        self._set("reference pulses (REFSOURCE)", "ref", source, cmd("ref_source", name=source),
                  cmd("ref_source?"), source)  # fmt: skip
        self._set("DUT constant unit", "unit", unit, cmd("dut_unit", unit=unit), cmd("dut_unit?"), unit)
        self._set("DUT constant", "kt", value, cmd("dut_constant", value=value), cmd("dut_constant?"),
                  float(value))  # fmt: skip
        self._set("meter pulses (MRATE)", "mrate", meter_pulses, cmd("mrate", n=meter_pulses), cmd("mrate?"),
                  float(meter_pulses))  # fmt: skip
        self._set("single gate (CONTINUOUS 0)", "cont", 0, cmd("continuous"), cmd("continuous?"), 0.0)
        # MCOUNT > 1 would restart the gate by itself after each result and overwrite ENFINAL
        self._set("one measurement per start (MCOUNT 1)", "mcount", 1, cmd("mcount"), cmd("mcount?"), 1.0)
        # cross-check the unit's own arithmetic: TARGET = floor(MRATE x REFCONSTANT / (1000 / kt))
        target = m.number(cmd("target?"))
        if abs(target - math.floor(expect + 1e-9)) > 1.0:
            raise InstrumentFault(
                self.name, cmd("target?"), f"{target:g}",
                f"TARGET should be {math.floor(expect):d} reference counts for MRATE {meter_pulses}, "
                f"{value} Wh/I and REFCONSTANT {constant:g}: the unit did not take the gate as sent",
            )  # fmt: skip
        self._pulses = meter_pulses

    def status(self) -> int:
        q = cmd("status?")
        reply = self.meter.query(q)
        if not re.fullmatch(r"\+?\d+", reply.strip()):
            raise UnparseableReply(
                self.name, q, reply, "STATUS is a bit mask: 1 armed, 2 started, 4 ready, 8 aborted"
            )
        return int(reply)

    def start(self) -> None:
        self.meter.write(cmd("start"))
        self.meter.wait_complete(cmd("start"))
        errs = self.meter.errors()
        if errs:
            raise CommandRefused(
                self.name, cmd("start"), "; ".join(errs), "the COM5003 refused the gate start"
            )
        status = self.status()
        if status & ABORTED or not status & (ARMED | STARTED | READY):
            raise CommandRefused(self.name, cmd("status?"), str(status), "the gate did not start (START 1)")
        self._t_start, self._t_done = self.meter.clock.now(), None

    def _check_aborted(self, status: int) -> None:
        if status & ABORTED:
            raise InstrumentFault(
                self.name, cmd("status?"), str(status),
                "the gate was aborted on the unit (STATUS bit 8): a range change or another client stopped it",
            )  # fmt: skip

    def poll(self) -> tuple[str, float]:
        status = self.status()
        self._check_aborted(status)
        if status & READY:
            if self._t_done is None:
                self._t_done = self.meter.clock.now()
            return "finished", 1.0
        if status & STARTED:
            progress = self.meter.number(cmd("progress?"))
            return "running", min(max(progress / 100.0, 0.0), 1.0)
        if status & ARMED:
            return "running", 0.0
        return "idle", 0.0

    def result(self) -> GateResult:
        status = self.status()
        self._check_aborted(status)
        if not status & READY or self._pulses < 1:
            raise UnparseableReply(
                self.name, cmd("status?"), str(status), "no finished gate (STATUS not ready)"
            )
        m = self.meter
        enfinal = m.number(cmd("enfinal?"))
        constant = m.ref_constant()
        counts = enfinal * constant
        ref = round(counts)
        if ref < 0 or abs(counts - ref) > 1e-6 * max(1.0, counts):
            raise UnparseableReply(
                self.name, cmd("enfinal?"), f"{enfinal!r}",
                f"ENFINAL x REFCONSTANT = {counts!r} is not a whole count of reference pulses",
            )  # fmt: skip
        pulses = m.number(cmd("pulses?"))
        if pulses not in (self._pulses, self._pulses + 1):
            raise InstrumentFault(
                self.name, cmd("pulses?"), f"{pulses:g}",
                f"the unit counted {pulses:g} meter pulses for a gate of MRATE {self._pulses}",
            )  # fmt: skip
        reply = m.query(cmd("result?"))
        try:
            err = float(reply)
        except ValueError:
            raise UnparseableReply(self.name, cmd("result?"), reply, "expected a number or nan") from None
        done = self._t_done if self._t_done is not None else m.clock.now()
        return GateResult(
            self._pulses, float(ref), 1000.0 / constant, max(done - self._t_start, 0.0),
            None if math.isnan(err) else err,
        )  # fmt: skip

    def count_start(self) -> None:
        """Creep / starting: a gate of ``count_gate_pulses`` meter pulses that does not end during the
        test; PULSES counts them. Its DUT constant only has to keep TARGET within the unit's 32 bits."""
        pulses = self.meter.opts["count_gate_pulses"]
        kt = min(1.0, 0.5 * MAX_COUNT * 1000.0 / (pulses * self.meter.ref_constant()))
        self.configure(float(f"{kt:.3g}"), pulses)
        self.start()
        self._counting = True

    def count_read(self) -> tuple[int, float]:
        seconds = self.meter.clock.now() - self._t_start
        if not self._counting:
            return 0, seconds
        status = self.status()
        self._check_aborted(status)
        if not status & (STARTED | READY):
            return 0, seconds  # armed: no meter pulse yet
        # PULSES = MRATE + 1 - remaining (ZC updateProgress): the pulses seen, the opening one included
        return int(self.meter.number(cmd("pulses?"))), seconds

    def stop(self) -> None:
        self._counting = False
        self.meter.write(cmd("stop"))

    def safe_state(self) -> None:
        self.stop()

    def confirm_safe(self) -> list[str]:
        return self.meter.confirm_safe()


def _sim_instrument(physics, positions: tuple[int, ...], options) -> object:
    from instruments.sim.zera_com5003 import ZeraCOM5003Sim

    return ZeraCOM5003Sim(physics, positions)


DRIVER = DriverSpec(
    name="zera_com5003",
    aliases=("zera-com5003", "com5003", "mt310s2"),
    roles=frozenset({"reference", "calculators"}),
    open=ZeraCOM5003,
    description="ZERA COM5003 / MT310s2 reference meter with one error calculator (SCPI, TCP port 6320)",
    max_positions=1,
    sim_instrument=_sim_instrument,
    transport=TRANSPORT,
)
