"""A simulated ZERA MT786 (MT7xx family): three-phase source, reference meter and the error calculator
of one position, over its CR-terminated ASCII line protocol, coupled to the bench physics.

Written from the instrument's behaviour as ZERA's own published client and device mock show it, not from
MeterBench's driver. Sources (public GitHub, ``ZeraGmbH/SourceMock`` @ f03c43a, abbreviated **SM**; facts
and command strings only, no code carried over):

- **Framing** — lines end in CR both ways; 9600 baud, 8 data bits, no parity, 2 stop bits
  (SM ``SerialPortProxy/Library/PhysicalPortProxy.cs``: NewLine "\\r", 9600, 8, Parity.None,
  StopBits.Two, "as required in ... MT3101_RS232_EXT_GB.pdf"; ``TcpPortProxy.cs`` writes
  ``command + "\\r"`` and splits replies at byte 13). An LF-terminated command is never a complete line;
  a serial port at other settings garbles the line (both enforced by :mod:`instruments.sim.protocol`).
- **Refusals** — a command the MT does not recognise gets *no reply at all*; invalid arguments get a
  line ending in ``NAK`` (SM ``SerialPortProxy/Library/SerialPortConnection.Request.cs``: "If a device
  response ends with NAK there are invalid arguments" / "In case the device does not recognize the
  command it will not respond anything"). The spelling is the three command letters + ``NAK``
  (``AVRNAK``, ``ACRNAK``, ``AWRNAK`` in SM ``SourceApi/Server/Actions/SerialPort/MT768/SerialPortMTMock.cs``
  and ``SourceApi/Tests/Actions/SerialPort/MTSourceTests.cs``; ``AAVNAK`` in SM
  ``MeterTestSystemApi/Tests/VersionTests.cs``). For the source commands (``SUP``…) no NAK line is
  shown anywhere; ``SUPNAK`` follows the same pattern [U spelling]. NB: ZERA's *mock* stays silent on
  some malformed arguments (``AWR6``, ``AAMCBG`` in MTSourceTests; a SUP that does not match its
  pattern); this simulator answers every invalid argument of a known command with a NAK, as the client's
  comment says the real unit does — a driver must treat silence and NAK both as a refusal.
- Commands and replies: see each handler below (SM file named beside it).

Angles on the wire are DIN: the negated IEC/lagging angle, referred to the first switched-on voltage,
written ``AAA.AA`` in 0..359.99 (SM ``LoadpointTranslator.cs`` ``ConvertFromIECtoDin``;
``MTSourceTests.cs``: L2 at 120 deg goes out as ``240.00``). ``AME`` angles use the same convention
(SM ``RefMeterApi/Server/Actions/Device/Utils.cs`` negates them back).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from instruments.sim.physics import PHASES, BenchPhysics
from instruments.sim.protocol import Connection, Reply, SerialSettings, SimInstrument
from procedures.phasors import lag_deg

_FIELD = r"(\d{3}\.\d{3})(\d{3}\.\d{2})"
# SM SerialPortMTMock.cs SupCommand / SipCommand / SfrCommand / SuiCommand / AepCommand / AtiCommand
SUP = re.compile(rf"^SUP([EA])([EA])R{_FIELD}S{_FIELD}T{_FIELD}$")
SIP = re.compile(rf"^SIP([EA])([AM])R{_FIELD}S{_FIELD}T{_FIELD}$")
SFR = re.compile(r"^SFR(\d{2}\.\d{2})$")
SUI = re.compile(r"^SUI([AE])([AE])([AE])([AP])([AP])([AP])([AE])([AE])([AE])$")
AEP = re.compile(r"^AEP(\d{1,6});(0\d|10);(\d{1,6});([0-5])$")
ATI = re.compile(r"^ATI(0[1-9]|[1-9]\d)$")
AAM = re.compile(r"^AAM([AM])([AM])([AM])$")  # voltage, current, PLL (SM SerialPortMTRefMeter.cs)
AWR = re.compile(r"^AWR([0-5])$")
AME_SUBSET = re.compile(r"^AME(\d{1,2}(?:;\d{1,2})*)$")  # SM SerialPortMTRefMeter.ActualValues.cs

VERSION = "MT786V05.52"  # <model>V<version> (SM SerialPortMTRefMeter.cs _versionReg; MT793V05.52 in the mock)
# SM SerialPortMTMock.cs _voltageRanges / _currentRanges, as the MT lists them for AVI / ACI
VOLTAGE_RANGES = ("420", "250", "125", "60", "5", "0.25")
CURRENT_RANGES = ("100", "50", "20", "10", "5", "2", "1", "0.5", "0.2", "0.1", "0.05", "0.02")
# SM SerialPortMTMock.cs "AML" reply: <n>;<english>;<german> measuring modes
MODES = (
    ("4WA", "4LW"), ("4WR", "4LBE"), ("4WRC", "4LBK"), ("4WAP", "4LS"), ("4WAb", "4LWb"), ("4WRb", "4LBb"),
    ("4WAPb", "4LSb"), ("3WA", "3LW"), ("3WR", "3LBE"), ("3WRCA", "3LBKA"), ("3WRCB", "3LBKB"),
    ("3WAP", "3LS"), ("2WA", "2LW"), ("2WR", "2LB"), ("2WAP", "2LS"), ("MQRef", "MQRef"), ("MQBase", "MQBase"),
)  # fmt: skip
MAINS_HZ = 60.0  # SFR00.00 = synchronous with the mains (SM LoadpointTranslator.cs); the simulated mains
STATE_DIGIT = {"idle": "0", "armed": "1", "running": "2", "finished": "3"}


def phases_of_mode(mode: str) -> int:
    """Measuring systems of a mode: 4-wire 3, 3-wire 2, 2-wire 1 (SM SerialPortMTRefMeter.cs)."""
    return {"4": 3, "3": 2, "2": 1}.get(mode[:1], 3)


def meter_constant(mode: str, u_range: float, i_range: float) -> float:
    """The MT's reference meter constant in imp/kWh at these ranges: 1000·3600·60000 / (phases·U·I)
    (SM SerialPortMTRefMeter.cs GetMeterConstantAsync, citing the MT78x manual section 5.6)."""
    return 1000.0 * 3600.0 * 60000.0 / (phases_of_mode(mode) * u_range * i_range)


class ZeraMT7xxSim(SimInstrument):
    """The MT786 as ZERA's client talks to it; one error calculator (position ``position``)."""

    model = "ZERA MT786"
    terminations = (b"\r",)
    reply_termination = b"\r"
    serial = SerialSettings(9600, 8, 2, "none")

    def __init__(self, physics: BenchPhysics, position: int | None = 1) -> None:
        super().__init__()
        self.physics = physics
        self.position = position
        # reference meter state (SM SerialPortMTMock.cs: auto ranges, the largest range, PLL U1)
        self.auto = {"voltage": True, "current": True, "pll": True}
        self.u_range, self.i_range, self.pll = VOLTAGE_RANGES[0], CURRENT_RANGES[0], "U1"
        self.mode = "4WA"
        self.integration_s: int | None = None  # ATI: None = the unit's own setting (front panel)
        # error calculator state
        self.kc_imp_kwh = 0.0  # the meter constant AEP gave
        self.pulses = 0
        self.active = False  # AEB0/AEB1 started it, AEE stopped it
        self.continuous = False
        self.handlers: dict[str, Callable[[str], Reply]] = {
            "AAV": self._aav,
            "AST": self._ast,
            "AML": self._aml,
            "AMT": self._amt,
            "ATI": self._ati,
            "AME": self._ame,
            "AVI": lambda m: self._list(m, VOLTAGE_RANGES),
            "ACI": lambda m: self._list(m, CURRENT_RANGES),
            "AVR": lambda m: self._set_range(m, "voltage"),
            "ACR": lambda m: self._set_range(m, "current"),
            "AAM": self._aam,
            "AWR": self._awr,
            "SUP": self._sup,
            "SIP": self._sip,
            "SFR": self._sfr,
            "SUI": self._sui,
            "AEP": self._aep,
            "AEB": self._aeb,
            "AES": self._aes,
            "AEE": self._aee,
        }

    # ---- dispatch --------------------------------------------------------------------------------
    def handle(self, message: str, conn: Connection) -> Reply:
        handler = self.handlers.get(message[:3])
        if handler is None:
            # SM SerialPortConnection.Request.cs: an unrecognised command gets no reply at all
            return self.silence("unknown command: the MT does not answer it")
        self.physics.advance()
        return handler(message)

    def nak(self, message: str, why: str) -> Reply:
        """Invalid arguments: ``<command>NAK`` (SM SerialPortConnection.Request.cs; AVRNAK in the mock)."""
        return self.refuse(why, f"{message[:3]}NAK")

    def refuse_injected(self, message: str, conn: Connection) -> Reply:
        return self.refuse("refused (injected fault)", f"{message[:3]}NAK")

    # ---- identity and status ----------------------------------------------------------------------
    def _aav(self, m: str) -> Reply:
        # SM SerialPortMTMock.cs "AAV": the version line, then AAVACK
        return self.reply(VERSION, "AAVACK") if m == "AAV" else self.nak(m, "AAV takes no argument")

    def _ast(self, m: str) -> Reply:
        if m != "AST":
            return self.nak(m, "AST takes no argument")
        # SM SerialPortMTMock.cs "AST": ranges, measuring mode, PLL channel and three status lines
        return self.reply(
            f"UB={self.u_range}", f"IB={self.i_range}", f"M={self.mode}", f"PLL={self.pll}",
            "UEB=--", "NIB=0", "RDY=11-", "ASTACK",
        )  # fmt: skip

    def _aml(self, m: str) -> Reply:
        if m != "AML":
            return self.nak(m, "AML takes no argument")
        lines = [f"{n:02d};{en};{de}" for n, (en, de) in enumerate(MODES, start=1)]
        return self.reply(*lines, "AMLACK")  # SM SerialPortMTMock.cs "AML"

    def _amt(self, m: str) -> Reply:
        mode = m[3:]
        if mode not in {en for en, _ in MODES}:
            return self.nak(m, f"measuring mode {mode!r} is not one the MT lists (AML)")
        self.mode = mode  # SM SerialPortMTRefMeter.MeasureMode.cs: AMT<mode> -> AMTACK
        return self.reply("AMTACK")

    # ---- reference meter --------------------------------------------------------------------------
    def _ati(self, m: str) -> Reply:
        match = ATI.match(m)
        if not match:
            return self.nak(m, "integration time must be two digits 01..99 s")
        # SM commit 5a86caf3 "Prefix AME with ATI to set interval to one second": ATI01 -> ATIACK
        self.integration_s = int(match[1])
        return self.reply("ATIACK")

    def _ame(self, m: str) -> Reply:
        """Actual values ``<index>;<value>`` for 0..28, then ``AMEACK``.

        Before any ``ATI`` the MT still answers: ZERA's client sent a bare ``AME`` until SM commit
        5a86caf3 (Nov 2023) added ``ATI01`` "to set interval to one second", i.e. the values are then
        integrated over the unit's own interval (front panel) instead of 1 s. A driver that wants known
        1 s values sends ``ATI01`` first. ``AME<i;j;…>`` asks for a subset (SM ActualValues.cs).
        """
        values = self._actual_values()
        if m == "AME":
            wanted = list(values)
        else:
            match = AME_SUBSET.match(m)
            wanted = [int(x) for x in match[1].split(";")] if match else []
            if not wanted or any(k not in values for k in wanted):
                return self.nak(m, "actual-value indices are 0..28")
        return self.reply(*(f"{k};{_ame_text(k, values[k])}" for k in wanted), "AMEACK")

    def _actual_values(self) -> dict[int, float | str]:
        """Indices per SM SerialPortMTRefMeter.ActualValues.cs: U1-3, I1-3, U angles, I angles, PF1-3,
        P1-3, Q1-3, S1-3, sum P, Q, S, phase order (27, text), frequency (28); DIN angles referred to the
        first voltage present."""
        seen = self.physics.reference_phasors()
        pairs = [seen.get(ph, (0j, 0j)) for ph in PHASES]
        first_v = next((v for v, _ in pairs if abs(v) > 0), None)
        offset = lag_deg(first_v) if first_v is not None else 0.0
        values: dict[int, float | str] = {}
        for n, (v, i) in enumerate(pairs):
            s = v * i.conjugate()
            values[n], values[3 + n] = abs(v), abs(i)
            values[6 + n] = wire_angle(lag_deg(v) - offset) if abs(v) > 0 else 0.0
            values[9 + n] = wire_angle(lag_deg(i) - offset) if abs(i) > 0 else 0.0
            values[12 + n] = s.real / abs(s) if abs(s) > 0 else 0.0
            values[15 + n], values[18 + n], values[21 + n] = s.real, s.imag, abs(s)
        for k, first in ((24, 15), (25, 18), (26, 21)):  # sums of P, Q, S
            values[k] = sum(float(values[first + n]) for n in range(3))
        values[27] = _phase_order([v for v, _ in pairs])
        values[28] = self.physics.frequency_hz
        return dict(sorted(values.items()))

    def _list(self, m: str, ranges: tuple[str, ...]) -> Reply:
        if len(m) != 3:
            return self.nak(m, f"{m[:3]} takes no argument")
        return self.reply(*ranges, f"{m[:3]}ACK")  # SM SerialPortMTMock.cs "AVI" / "ACI"

    def _set_range(self, m: str, which: str) -> Reply:
        # SM SerialPortMTMock.cs AVR/ACR and MTSourceTests Not_Process_Wrong_Avr/Acr_Command: NAK while the
        # range is automatic, or for a value the MT does not list (AVR210, AVRX60, ACR50..01)
        ranges = VOLTAGE_RANGES if which == "voltage" else CURRENT_RANGES
        value = m[3:]
        if self.auto[which]:
            return self.nak(m, f"the {which} range is automatic (AAM): a manual range is refused")
        if value not in ranges:
            return self.nak(m, f"{value!r} is not a {which} range the MT lists ({', '.join(ranges)})")
        if which == "voltage":
            self.u_range = value
        else:
            self.i_range = value
        return self.reply(f"{m[:3]}ACK")

    def _aam(self, m: str) -> Reply:
        match = AAM.match(m)
        if not match:
            return self.nak(m, "AAM takes three flags A (automatic) or M (manual): voltage, current, PLL")
        for key, flag in zip(("voltage", "current", "pll"), match.groups(), strict=True):
            self.auto[key] = flag == "A"
        # SM SerialPortMTMock.cs: going automatic returns to the first (largest) range and to PLL U1
        if self.auto["voltage"]:
            self.u_range = VOLTAGE_RANGES[0]
        if self.auto["current"]:
            self.i_range = CURRENT_RANGES[0]
        if self.auto["pll"]:
            self.pll = "U1"
        return self.reply("AAMACK")

    def _awr(self, m: str) -> Reply:
        match = AWR.match(m)
        if not match or self.auto["pll"]:  # SM SerialPortMTMock.cs: AWRNAK while the PLL is automatic
            return self.nak(m, "PLL channel 0..5, and only with a manual PLL (AAM..M)")
        n = int(match[1])
        self.pll = f"U{n + 1}" if n < 3 else f"I{n - 2}"
        return self.reply("AWRACK")

    def constant(self) -> float:
        """The reference meter constant now (imp/kWh), from the ranges AST reports."""
        return meter_constant(self.mode, float(self.u_range), float(self.i_range))

    # ---- source ---------------------------------------------------------------------------------
    def _amounts(self, m: str, pattern: re.Pattern) -> list[tuple[float, float]] | None:
        match = pattern.match(m)
        if not match:
            return None
        nums = [float(x) for x in match.groups()[2:]]
        pairs = [(nums[2 * n], nums[2 * n + 1]) for n in range(3)]
        if any(angle >= 360.0 for _, angle in pairs):
            return None
        return pairs

    def _sup(self, m: str) -> Reply:
        # SM LoadpointTranslator.cs CreateVoltageRequests: SUP + U-Absch + U-Dos + R/S/T RRR.RRRAAA.AA
        pairs = self._amounts(m, SUP)
        if pairs is None:
            return self.nak(m, "expected SUP[EA][EA]R<RRR.RRR><AAA.AA>S…T… with angles 0..359.99")
        for phase, (amount, angle) in zip(PHASES, pairs, strict=True):
            self.physics.set_phase(phase, voltage_v=amount, voltage_lag_deg=lag_from_wire(angle))
        return self.reply("SOKUP")

    def _sip(self, m: str) -> Reply:
        # SM LoadpointTranslator.cs CreateCurrentRequests: SIP + I-Off + Dimens (A) + R/S/T fields
        pairs = self._amounts(m, SIP)
        if pairs is None:
            return self.nak(m, "expected SIP[EA][AM]R<RRR.RRR><AAA.AA>S…T… with angles 0..359.99")
        scale = 1e-3 if m[4] == "M" else 1.0  # [U] 'M' taken as milliamperes (the mock accepts it)
        for phase, (amount, angle) in zip(PHASES, pairs, strict=True):
            self.physics.set_phase(phase, current_a=amount * scale, current_lag_deg=lag_from_wire(angle))
        return self.reply("SOKIP")

    def _sfr(self, m: str) -> Reply:
        match = SFR.match(m)
        if not match:
            return self.nak(m, "expected SFR<NN.NN>")
        hz = float(match[1])
        # SM LoadpointTranslator.cs: 00.00 synchronous with the mains, 00.16 a third of it; SM
        # CapabilitiesMap.cs MT786: synthetic 45..65 Hz
        if m == "SFR00.00":
            hz = MAINS_HZ
        elif m == "SFR00.16":
            hz = MAINS_HZ / 3.0
        elif not 45.0 <= hz <= 65.0:
            return self.nak(m, "the MT786 synthesises 45..65 Hz (or 00.00 mains-synchronous)")
        self.physics.set_frequency(hz)
        return self.reply("SOKFR")

    def _sui(self, m: str) -> Reply:
        # SM LoadpointTranslator.cs CreatePhaseRequests: U1-3 E/A, I1-3 P/A, then H1, H2, R
        match = SUI.match(m)
        if not match:
            return self.nak(m, "expected SUI + U1-3 [EA] + I1-3 [PA] + H1 H2 R [EA]")
        flags = match.groups()
        for n, phase in enumerate(PHASES):
            self.physics.set_phase(
                phase, voltage_enabled=flags[n] == "E", current_enabled=flags[3 + n] == "P"
            )
        self.physics.set_output(any(f != "A" for f in flags[:6]))
        return self.reply("SOKUI")

    # ---- error calculator -----------------------------------------------------------------------------
    def _aep(self, m: str) -> Reply:
        # SM SerialPortMTErrorCalculator.ErrorMeasurement.cs SetErrorMeasurementParametersAsync: meter
        # constant x 1e5 and pulses, each <mantissa of <= 6 digits>;<power of ten>
        match = AEP.match(m)
        if not match or int(match[1]) == 0 or int(match[3]) == 0:
            return self.nak(m, "expected AEP<constant x 1e5>;<00..10>;<pulses>;<0..5>, both > 0")
        self.kc_imp_kwh = int(match[1]) * 10 ** int(match[2]) / 1e5
        self.pulses = int(match[3]) * 10 ** int(match[4])
        return self.reply("AEPACK")

    def _aeb(self, m: str) -> Reply:
        # SM ...ErrorMeasurement.cs StartErrorMeasurementAsync: AEB0 single, AEB1 continuous -> AEBACK
        if m not in ("AEB0", "AEB1"):
            return self.nak(m, "AEB0 (single) or AEB1 (continuous)")
        if self.kc_imp_kwh <= 0 or self.pulses < 1:
            return self.nak(m, "no meter constant and pulse count set (AEP) yet")
        self.active, self.continuous = True, m == "AEB1"
        if self.position:
            self.physics.gate_configure(self.position, 1000.0 / self.kc_imp_kwh, self.pulses)
            # continuous: gates back to back, each closing pulse opening the next
            self.physics.gate_start(self.position, series=10**6 if self.continuous else 1)
        return self.reply("AEBACK")

    def _aes(self, m: str) -> Reply:
        """State, error, ``progress;energy``, ``AESACK`` (SM ...ErrorMeasurement.cs GetErrorStatusAsync and
        SerialPortMTMock.cs "AES1"): ``00`` + ``oo.oo`` inactive, ``01``/``02`` + ``--.--`` armed /
        running, ``03`` + the error in % (two decimals, as the mock's ``1.23`` and the ``oo.oo``/``--.--``
        placeholders show) once finished; the mock's finished progress is ``0.000000``."""
        if m != "AES1":
            return self.nak(m, "AES1 is the error-calculator status")
        idle = ("00", "oo.oo", "0.000000;0.000000", "AESACK")
        if not self.active or not self.position:
            return self.reply(*idle)
        gate = self.physics.gates[self.position]
        if gate.state == "idle":
            return self.reply(*idle)
        last = gate.results[-1] if gate.results else None
        error = self._mt_error(last[0], last[1]) if last else None
        if gate.state == "finished" and last is not None:
            state, progress = "03", 0.0
            energy = last[1] * self.physics.kr_wh / 1000.0
        else:  # armed (01) or running (02); in continuous mode the last finished gate's error stays shown
            state = "0" + STATE_DIGIT[gate.state]
            progress = 100.0 * gate.edges / gate.pulses if gate.pulses else 0.0
            energy = 0.0
            if gate.state == "running":
                energy = max(self.physics.ref_energy_wh - gate.ref_start, 0.0) / 1000.0
        text = "--.--" if error is None else f"{error:.2f}"
        # the energy field's meaning and unit are [U] (no source says); here the reference kWh in the gate
        return self.reply(state, text, f"{progress:.6f};{energy:.6f}", "AESACK")

    def _mt_error(self, meter_pulses: int, ref_pulses_physics: int) -> float | None:
        """The MT's own error: the gate's reference energy counted in pulses of *its* constant (set by its
        ranges), against the meter pulses times the constant AEP gave: (meter - reference) / reference."""
        energy_wh = ref_pulses_physics * self.physics.kr_wh
        kr_wh = 1000.0 / self.constant()
        counts = math.floor(energy_wh / kr_wh + 1e-9)
        if counts <= 0:
            return None
        kt_wh = 1000.0 / self.kc_imp_kwh
        return 100.0 * (meter_pulses * kt_wh / (counts * kr_wh) - 1.0)

    def _aee(self, m: str) -> Reply:
        if m != "AEE":
            return self.nak(m, "AEE takes no argument")
        # SM SerialPortMTMock.cs "AEE": the measurement is no longer active (AES1 answers 00 again)
        self.active = False
        if self.position:
            self.physics.gate_abort(self.position)
        return self.reply("AEEACK")


def _ame_text(index: int, value: float | str) -> str:
    """As the mock's AME lines: ``1.9996199E+01``; phase order as text; frequency ``50.01``."""
    if isinstance(value, str):
        return value
    return f"{value:.2f}" if index == 28 else f"{value:.7E}"


def wire_angle(lag: float) -> float:
    """Lagging degrees -> the DIN wire angle in [0, 360)."""
    a = round((-lag) % 360.0, 2)
    return 0.0 if a >= 360.0 else a


def lag_from_wire(angle: float) -> float:
    return (-angle) % 360.0


def _phase_order(volts: list[complex]) -> str:
    """``123`` for a positive sequence, ``132`` for a negative one (SM mock: ``27;123``)."""
    live = [v for v in volts if abs(v) > 0]
    if len(live) < 3:
        return "123"
    behind = (lag_deg(volts[1]) - lag_deg(volts[0])) % 360.0
    return "123" if 60.0 < behind < 180.0 else "132"


def build(physics: BenchPhysics, positions: tuple[int, ...], options) -> ZeraMT7xxSim:
    """``DriverSpec.sim_instrument``: the MT at the bench's (one) calculator position."""
    physics.max_current_a = float(options.get("max_current_a", 120.0))
    if positions:
        # the MT's calculator counts the reference in pulses of its *own* constant (set by its ranges, see
        # ZeraMT7xxSim._mt_error), not the bench file's kr_wh: the physics keeps the gate's reference energy
        # in 1 nWh steps, far finer than any MT constant, and the MT re-counts it
        physics.kr_wh = 1e-9
    return ZeraMT7xxSim(physics, positions[0] if positions else None)
