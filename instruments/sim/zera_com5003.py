"""A simulated ZERA COM5003 reference meter with its error calculator, written from ZERA's published
sources (GPL-3: facts and command strings only, no code), coupled to the bench physics.

Sources, cited beside each behaviour below:

- ZS = ``ZeraGmbH/zera-scpi`` @618e973: ``scpi/lib/scpicommand.cpp`` (``setCmdParamList``: a parameter
  counts only when a ``;`` follows it), ``scpi/lib/scpinode.cpp`` (``createShortHeader``: short forms),
  ``exec-scpicmds-python/doc/zscpi_specifics.txt`` (``|`` separates commands; ``SYSTEM:ERROR?`` without
  quotes; ``*OPC?`` non-blocking), ``doc/WinSAM-de-SCPI`` (set, poll ``*OPC?`` until ``+1``, query back),
  ``doc/istwertabfrage-scpi-ac.txt`` (a captured session of a real COM5003: reply formats, DFT re,im).
- ZC = ``ZeraGmbH/zera-classes`` @618fe79: ``modules/scpimodule/tests/test_scpi_error_and_status.cpp``
  (unknown header -> no reply, ``-100,Command error`` queued; per-client error queues; a command without
  ``;`` -> ``-100``; ``*CLS?`` -> ``-400``; a bad value -> ``-120,Numeric data error``),
  ``modules/scpimodule/lib/clients/scpiclient.cpp`` (``errval`` -> -120), ``.../scpiveincomponent
  sequencemeasure.cpp`` (``MOD:CH:[unit]:value`` with 8 significant digits; FETCH returns the answer of
  the last READ/MEASURE), ``modules/scpimodule/tests/test-data/scpi-dumps/dumped-all-queries-in-one-
  transaction-sorted`` (every node's reply; parameters answer bare values), ``modules/sec1module/lib/
  sec1modulemeasprogram.cpp`` (error calculator nodes, validators, TARGET, RESULT, STATUS handling),
  ``modules/sec1module/configs/com5003-sec1module.xml`` (defaults), ``modules/dftmodule/lib/
  dftmodulemeasprogram.cpp`` (im x -1, turned to the reference channel), ``modules/power1module/configs/
  com5003-power1module*.xml`` (measuring modes), ``modules/rangemodule/lib/rangeobsermatic.cpp`` (range
  nodes), ``modules/scpimodule/configs/com5003-scpimodule.xml`` (port 6320, serial 9600 8N2).
- ZX = ``ZeraGmbH/zenux-services`` @0aae9f1: ``zenux-service-interfaces/lib/secinterface.h`` (STATUS
  bits), ``com5003d/configs/com5003d.xml`` (DUT inputs SC1/HK1), ``com5003d/tests/test-data/scpi-dump.xml``
  (range names).

What is modelled and what is not: one error calculator ``CALCULATE:EC01:0001`` (meter test, ``mrate``
mode) serving ONE bench position; ``EC01:0002`` (energy comparison) is not modelled and gets the
unknown-header treatment. A gate counts the reference pulses REFSOURCE selects: P active, Q reactive,
S apparent energy (ZC sec1module: the reference input is the power module's frequency output fOUT1..3,
POW1 P, POW2 Q, POW3 S), REFCONSTANT then in imp/kWh, imp/kvarh or imp/kVAh.
Measuring modes other than 4LW are stored, not computed.
"""

from __future__ import annotations

import cmath
import math
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from instruments.sim.physics import PHASES, BenchPhysics
from instruments.sim.protocol import Connection, Reply, SerialSettings, SimInstrument

#: ZC ieee488-2.cpp error texts (no quotes: ZS zscpi_specifics.txt)
COMMAND_ERROR = "-100,Command error"
NUMERIC_ERROR = "-120,Numeric data error"
QUERY_ERROR = "-400,Query error"
NO_ERROR = "+0,No error"
QUEUE_OVERFLOW = "-350,Queue overflow"
ERROR_QUEUE_LEN = (
    10  # [U] length; the overflow entry itself is ZC test_scpi_error_and_status overflowErrorQueue
)

#: ZX com5003d/tests/test-data/scpi-dump.xml: the range names of the voltage (M0..M2) and current
#: (M3..M5) channels (the unit's upper-case SCPI aliases written as displayed, mA lower case)
VOLTAGE_RANGES = ("480V", "240V", "120V", "60V", "12V", "5V")
CURRENT_RANGES = (
    "200A", "100A", "50A", "25A", "10A", "5A", "2.5A", "1.0A",
    "500mA", "250mA", "100mA", "50mA", "25mA", "10mA", "5mA",
)  # fmt: skip
#: ZC modules/power1module/configs/com5003-power1module{,2,3}.xml <modes>
MMODES = {
    "POW1": ("4LW", "3LW", "2LW"),
    "POW2": ("4LB", "4LBK", "3LB", "2LB"),
    "POW3": ("4LS", "4LSg", "3LS", "3LSg", "2LS", "2LSg"),
}
#: ZX secinterface.h ECALCSTATUS
ARMED, STARTED, READY, ABORTED = 1, 2, 4, 8


def short_form(keyword: str) -> str:
    """ZS scpinode.cpp createShortHeader: the first 4 letters, or 3 when the 4th is a vowel."""
    k = keyword.upper()
    if len(k) < 4:
        return k
    return k[:3] if k[3] in "AEIOU" else k[:4]


def value_text(x: float | int | str) -> str:
    """A parameter's value as the unit prints it (Qt's shortest round-trip form): the dump shows
    ``10000``, ``5e+08``, ``0.001``, ``-10`` (ZC scpi dump ``CALCULATE:EC01:0001:*?``). The fixed form is
    used unless the exponent form is shorter, as Qt does; NaN is ``nan``."""
    if isinstance(x, str):
        return x
    if isinstance(x, int):
        return str(x)
    if math.isnan(x):
        return "nan"
    if x == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(abs(x))).normalize().as_tuple()
    d = "".join(map(str, digits))
    decpt = len(d) + int(exponent)  # position of the decimal point after the first digit string
    bias = 4  # 'e', the exponent's sign and two digits
    fixed = (1 - decpt <= bias) if decpt <= 0 else (decpt <= len(d) + bias)
    text = f"{abs(x):.{len(d)}g}" if not fixed else format(Decimal(repr(abs(x))).normalize(), "f")
    if fixed and "." not in text and len(text) < decpt:
        text = text + "0" * (decpt - len(text))
    return ("-" if x < 0 else "") + text


def measured_text(x: float) -> str:
    """ZC scpiveincomponentsequencemeasure.cpp convertVariantToString: 'g' with 8 significant digits."""
    return f"{x:.8g}"


@dataclass
class Node:
    """One SCPI node: full keyword, optional query and (parameter) command handlers, children."""

    name: str
    query: Callable[[Connection], str] | None = None
    command: Callable[[Connection, list[str]], str | None] | None = None  # returns an error or None
    takes_params: bool = True
    children: list[Node] = field(default_factory=list)

    def child(self, keyword: str) -> Node | None:
        """ZS scpinodestaticfunctions.cpp findNode: the full header first, then the short header."""
        k = keyword.upper()
        for c in self.children:
            if c.name.upper() == k:
                return c
        for c in self.children:
            if short_form(c.name) == k:
                return c
        return None


class ZeraCOM5003Sim(SimInstrument):
    model = "ZERA COM5003"
    # ZS scpi parser and the COM5003 TCP server take LF or CR as the end of a message; replies end in LF
    terminations = (b"\n", b"\r")
    reply_termination = b"\n"
    # ZC com5003-scpimodule.xml <serialdevice>: 9600 baud, 8 data bits, 2 stop bits
    serial = SerialSettings(9600, 8, 2, "none")

    def __init__(
        self, physics: BenchPhysics, positions: tuple[int, ...], serial_number: str = "SIM0053"
    ) -> None:
        super().__init__()
        self.physics = physics
        # the COM5003 has one meter-test error calculator: it serves one bench position
        self.position = positions[0] if positions else None
        self.serial_number = serial_number
        self.release = "sim-release"
        self.ranges = {ch: "480V" for ch in ("UL1", "UL2", "UL3")} | {
            ch: "200A" for ch in ("IL1", "IL2", "IL3")
        }
        self.range_auto = 0  # ZC scpi dump CONFIGURATION:RNG1:RNGAUTO? -> 0
        self.mmode = {m: modes[0] for m, modes in MMODES.items()}
        # ZC com5003-sec1module.xml <parameter> defaults; DCUNIT: the first unit of the validator
        self.ec = {
            "DUTSOURCE": "SC1",
            "REFSOURCE": "P",
            "DUTCONSTANT": 10000.0,
            "DCUNIT": "I/kWh",
            "MRATE": 10,
            "CONTINUOUS": 0,
            "MCOUNT": 1,  # measurements per START; > 1 is stored, the restarts it makes are not modelled
            "UPLIMIT": 10.0,
            "LOLIMIT": -10.0,
            "RESULTUNIT": "%",
            "REFCONSTANT": 1000.0 / physics.kr_wh,  # imp/kWh of the reference's frequency output
        }
        self.aborted = False
        self.series = False  # a continuous measurement is running
        self.root = self._tree()

    # ---- connections ---------------------------------------------------------------------------
    def on_connect(self, conn: Connection) -> None:
        conn.state["errors"] = deque()  # ZC noErrorCrossTalkOnMultipleClients: one queue per client
        conn.state["answers"] = {}  # last READ/MEASURE answer per (module, channel): what FETCH returns
        conn.state["opc_pending"] = False

    def _queue(self, conn: Connection, error: str) -> None:
        q = conn.state["errors"]
        if len(q) >= ERROR_QUEUE_LEN:
            q[-1] = QUEUE_OVERFLOW
        else:
            q.append(error)

    # ---- framing and parsing ---------------------------------------------------------------------
    def handle(self, message: str, conn: Connection) -> Reply:
        lines: list[str] = []
        refused: list[str] = []
        # ZS zscpi_specifics.txt / ZC scpiclient.cpp execCmd: '|' separates the commands of a message
        for part in message.split("|"):
            if not part.strip():
                continue
            reply, why = self._one(part.strip(), conn)
            if reply is not None:
                lines.append(reply)
            if why:
                refused.append(f"{part.strip()!r}: {why}")
        if refused:
            return Reply(tuple(lines), accepted=False, why="; ".join(refused))
        return Reply(tuple(lines))

    def _one(self, text: str, conn: Connection) -> tuple[str | None, str | None]:
        # ZS scpicommand.cpp setCmdParamList: the header runs to the first blank or ';'; then every
        # parameter counts only when a ';' follows it ("MRATE 10" has no parameter at all)
        m = re.match(r"([^ ;]*)(.*)$", text, re.S)
        assert m is not None
        header, rest = m.group(1), m.group(2)
        tokens = rest.split(";")
        params = [t.strip() for t in tokens[:-1]]
        trailing = tokens[-1].strip()
        is_query = header.endswith("?")
        node = self._find(header.rstrip("?"))
        if node is None:
            # ZC sendBullshitQueryStb: an unknown header gets no reply; -100 is queued
            self._queue(conn, COMMAND_ERROR)
            return None, "unknown header: no reply, -100,Command error queued"
        if is_query:
            if node.query is None or params or trailing:
                # ZC causeQueryErrorCls: a query of a command-only node is a query error
                err = QUERY_ERROR if node.query is None else COMMAND_ERROR
                self._queue(conn, err)
                return None, f"not a query of this node: {err} queued"
            return node.query(conn), None
        if node.command is None:
            self._queue(conn, COMMAND_ERROR)
            return None, "this node takes no command (query only): -100,Command error queued"
        if node.takes_params and not params:
            # ZC sendValidCommandWithoutSemicolonQueryStb: without ';' the parameter does not count
            self._queue(conn, COMMAND_ERROR)
            why = "parameter without ';' does not count" if trailing else "parameter missing"
            return None, f"{why}: nothing set, -100,Command error queued"
        if not node.takes_params and (params or trailing):
            # ZC causeCommandErrorCls: '*CLS 1;' is a command error
            self._queue(conn, COMMAND_ERROR)
            return None, "this command takes no parameter: -100,Command error queued"
        err = node.command(conn, params)
        if err:
            self._queue(conn, err)
            return None, f"value refused: {err} queued"
        conn.state["opc_pending"] = True
        return None, None

    def _find(self, header: str) -> Node | None:
        node = self.root
        keywords = header.lstrip(":").split(":")
        if not keywords or any(not k for k in keywords):
            return None
        for k in keywords:
            node = node.child(k)
            if node is None:
                return None
        return node

    # ---- the SCPI tree --------------------------------------------------------------------------
    def _tree(self) -> Node:
        root = Node("")

        def add(path: str, query=None, command=None, takes_params: bool = True) -> None:
            node = root
            for k in path.split(":"):
                nxt = next((c for c in node.children if c.name.upper() == k.upper()), None)
                if nxt is None:
                    nxt = Node(k)
                    node.children.append(nxt)
                node = nxt
            node.query, node.command, node.takes_params = query, command, takes_params

        # IEEE 488.2 common commands (ZS doc/WinSAM-de-SCPI 2.1; ZC scpi dump *IDN? *OPC?)
        add("*IDN", query=lambda c: f"ZERA GmbH Koenigswinter, COM5003, {self.serial_number}, {self.release}")
        add("*OPC", query=self._opc)
        add("*CLS", command=self._cls, takes_params=False)
        add("*STB", query=lambda c: "+4" if c.state["errors"] else "+0")  # ZC: 1<<STBeeQueueNotEmpty
        # ZC test_scpi_error_and_status: SYSTEM:ERROR? pops one entry; COUNT?, ALL?
        add("SYSTEM:ERROR", query=self._error)
        add("SYSTEM:ERROR:COUNT", query=lambda c: str(len(c.state["errors"])))
        add("SYSTEM:ERROR:ALL", query=self._error_all)

        # measurements: MEASURE / READ / FETCH of a module or one channel (ZC scpi dump; ZS capture)
        for verb in ("MEASURE", "READ", "FETCH"):
            for module, channels in self._modules().items():
                add(f"{verb}:{module}", query=self._measure_q(verb, module, None))
                for ch in channels:
                    add(f"{verb}:{module}:{ch}", query=self._measure_q(verb, module, ch))

        # ranges (ZC rangeobsermatic.cpp: SENSE:RNG1:<ch>:RANGE, CONFIGURATION:RNG1:RNGAUTO)
        for ch in self.ranges:
            allowed = VOLTAGE_RANGES if ch.startswith("U") else CURRENT_RANGES
            add(f"SENSE:RNG1:{ch}:RANGE", query=self._range_q(ch), command=self._range_set(ch, allowed))
            add(f"SENSE:RNG1:{ch}:RANGE:CATALOG", query=lambda c, a=allowed: ";".join(a))
        add("CONFIGURATION:RNG1:RNGAUTO", query=lambda c: str(self.range_auto), command=self._rng_auto)
        # measuring modes (ZC power1module: CONFIGURATION:POWn:MMODE, ...:MMODE:CATALOG)
        for module, modes in MMODES.items():
            add(f"CONFIGURATION:{module}:MMODE", query=lambda c, m=module: self.mmode[m],
                command=self._mmode_set(module, modes))  # fmt: skip
            add(f"CONFIGURATION:{module}:MMODE:CATALOG", query=lambda c, m=modes: ";".join(m))
        add("CONFIGURATION:DFT1:REFCHANNEL", query=lambda c: "UL1")

        # the error calculator (ZC sec1modulemeasprogram.cpp generateVeinInterface), EC01 only, its
        # nodes in ZERA's order: where two share a short form (RESULT, RESULTUNIT: RES) the first wins
        ec = "CALCULATE:EC01:0001"
        measured = {
            "TARGET": self._target,
            "STATUS": self._status,
            "PROGRESS": self._progress,
            "PULSES": self._pulses,
            "ENERGY": self._energy,
            "ENFINAL": self._enfinal,
            "RESULT": self._result,
            "RATING": self._rating,
            "MEASNUM": lambda: len(self._gate().results),
        }
        settable = {"DUTSOURCE", "REFSOURCE", "REFCONSTANT", "DUTCONSTANT", "DCUNIT", "MRATE", "TARGET",
                    "START", "CONTINUOUS", "MCOUNT", "UPLIMIT", "LOLIMIT", "RESULTUNIT"}  # fmt: skip
        for name in ("DUTSOURCE", "REFSOURCE", "REFCONSTANT", "DUTCONSTANT", "DCUNIT", "MRATE", "TARGET",
                     "START", "CONTINUOUS", "MCOUNT", "STATUS", "PROGRESS", "PULSES", "ENERGY", "ENFINAL",
                     "RESULT", "UPLIMIT", "LOLIMIT", "RESULTUNIT", "RATING", "MEASNUM"):  # fmt: skip
            if name == "START":
                query = lambda c: "1" if self._running() else "0"  # noqa: E731
            elif name in measured:
                query = lambda c, f=measured[name]: value_text(f())  # noqa: E731
            else:
                query = lambda c, n=name: value_text(self.ec[n])  # noqa: E731
            add(f"{ec}:{name}", query=query, command=self._ec_set(name) if name in settable else None)
        return root

    # ---- common commands ---------------------------------------------------------------------------
    def _opc(self, conn: Connection) -> str:
        # ZS zscpi_specifics.txt: *OPC? does not block; a controller polls it until +1. Modelled as: the
        # first *OPC? after a setting finds the setting still being applied (+0), the next one +1.
        if conn.state["opc_pending"]:
            conn.state["opc_pending"] = False
            return "+0"
        return "+1"

    def _cls(self, conn: Connection, params: list[str]) -> None:
        conn.state["errors"].clear()  # ZC causeErrorAndClearIt

    def _error(self, conn: Connection) -> str:
        q = conn.state["errors"]
        return q.popleft() if q else NO_ERROR

    def _error_all(self, conn: Connection) -> str:
        q = conn.state["errors"]
        out = ";".join(q) if q else NO_ERROR
        q.clear()
        return out

    # ---- measurements ----------------------------------------------------------------------------
    @staticmethod
    def _modules() -> dict[str, tuple[str, ...]]:
        # channel lists of the real COM5003 capture (ZS doc/istwertabfrage-scpi-ac.txt)
        u = ("UL1", "UL2", "UL3", "UL1-UL2", "UL3-UL2", "UL3-UL1")
        i = ("IL1", "IL2", "IL3")
        return {
            "RMS1": u + i,
            "DFT1": (*u, *i, "RFIELD"),
            "POW1": ("P1", "P2", "P3", "PS"),
            "POW2": ("Q1", "Q2", "Q3", "QS"),
            "POW3": ("S1", "S2", "S3", "SS"),
            "LAM1": ("Lambda1", "Lambda2", "Lambda3", "Lambda4"),
            "RNG1": ("UL1", "UL2", "UL3", "IL1", "IL2", "IL3", "F"),
        }

    def _values(self, module: str) -> dict[str, tuple[str, str]]:
        """channel -> (unit, value text) of one module, from the bench physics."""
        p = self.physics
        p.advance()
        ref = p.reference_phasors()
        v = [ref.get(ph, (0j, 0j))[0] for ph in PHASES]
        i = [ref.get(ph, (0j, 0j))[1] for ph in PHASES]
        ll = {"UL1-UL2": v[0] - v[1], "UL3-UL2": v[2] - v[1], "UL3-UL1": v[2] - v[0]}
        if module == "RMS1":
            # the capture: phase voltages [V], line-to-line [] (no unit), currents [A]
            out = {f"UL{n + 1}": ("V", measured_text(abs(v[n]))) for n in range(3)}
            out |= {k: ("", measured_text(abs(z))) for k, z in ll.items()}
            return out | {f"IL{n + 1}": ("A", measured_text(abs(i[n]))) for n in range(3)}
        if module == "DFT1":
            # ZC dftmodulemeasprogram.cpp: peak amplitudes, im x -1 (lagging positive), turned so the
            # reference channel UL1 is at 0 deg; reply re,im (the capture: UL1 324.83,0 vs RMS 229.69)
            turn = cmath.exp(1j * cmath.phase(v[0])) if abs(v[0]) > 0 else 1.0

            # MeterBench phasors are mag*exp(-j*lag): conj() is the technical (lag-positive) form
            def tech(z: complex) -> str:
                t = (z / turn).conjugate() * math.sqrt(2.0)
                return f"{measured_text(t.real)},{measured_text(t.imag)}"

            out = {f"UL{n + 1}": ("V", tech(v[n])) for n in range(3)}
            out |= {k: ("V", tech(z)) for k, z in ll.items()}
            out |= {f"IL{n + 1}": ("A", tech(i[n])) for n in range(3)}
            # rotating field: 123 when UL2 lags UL1 by 120 deg (the capture's ABC shows 123)
            lag2 = -math.degrees(cmath.phase(v[1] / v[0])) % 360 if abs(v[0]) and abs(v[1]) else 120.0
            return out | {"RFIELD": ("", "123" if 60 <= lag2 <= 180 else "132")}
        s = [v[n] * i[n].conjugate() for n in range(3)]
        if module == "POW1":  # ZS capture: POW1 P [W], POW2 Q [Var], POW3 S [VA], sums PS/QS/SS
            out = {f"P{n + 1}": ("W", measured_text(s[n].real)) for n in range(3)}
            return out | {"PS": ("W", measured_text(sum(x.real for x in s)))}
        if module == "POW2":
            out = {f"Q{n + 1}": ("Var", measured_text(s[n].imag)) for n in range(3)}
            return out | {"QS": ("Var", measured_text(sum(x.imag for x in s)))}
        if module == "POW3":
            out = {f"S{n + 1}": ("VA", measured_text(abs(s[n]))) for n in range(3)}
            return out | {"SS": ("VA", measured_text(sum(abs(x) for x in s)))}
        if module == "LAM1":
            lam = [x.real / abs(x) if abs(x) > 0 else 0.0 for x in s]
            total = sum(abs(x) for x in s)
            out = {f"Lambda{n + 1}": ("", measured_text(lam[n])) for n in range(3)}
            return out | {"Lambda4": ("", measured_text(sum(x.real for x in s) / total if total else 0.0))}
        if module == "RNG1":  # ZC scpi dump: RNG1 channels are peak values, RNG1:F the frequency
            out = {f"UL{n + 1}": ("V", measured_text(abs(v[n]) * math.sqrt(2))) for n in range(3)}
            out |= {f"IL{n + 1}": ("A", measured_text(abs(i[n]) * math.sqrt(2))) for n in range(3)}
            return out | {"F": ("Hz", measured_text(p.frequency_hz))}
        raise KeyError(module)

    def _measure_q(self, verb: str, module: str, channel: str | None) -> Callable[[Connection], str]:
        channels = self._modules()[module]

        def query(conn: Connection) -> str:
            answers = conn.state["answers"]
            wanted = channels if channel is None else (channel,)
            if verb == "FETCH":
                # ZC scpi dump FETCH:RMS1? -> ';' per channel: FETCH returns the answer stored by this
                # client's last READ/MEASURE, and nothing on a fresh connection
                return "".join(answers.get((module, ch), "") + ";" for ch in wanted)
            values = self._values(module)
            texts = []
            for ch in wanted:
                unit, value = values[ch]
                text = f"{module}:{ch}:[{unit}]:{value}"
                answers[(module, ch)] = text
                texts.append(text + ";")
            return "".join(texts)

        return query

    # ---- ranges and modes ------------------------------------------------------------------------
    def _range_q(self, ch: str) -> Callable[[Connection], str]:
        return lambda conn: self.ranges[ch]

    def _range_set(self, ch: str, allowed: tuple[str, ...]):
        def command(conn: Connection, params: list[str]) -> str | None:
            name = next((r for r in allowed if r.upper() == params[0].upper()), None)
            if name is None or len(params) != 1:
                return NUMERIC_ERROR  # ZC scpiclient.cpp: a validator's refusal (errval) is -120
            if name != self.ranges[ch]:
                self.ranges[ch] = name
                self.range_auto = 0
                # ZC sec1modulemeasprogram.cpp (setECResultAndResetInt note): a change of ranges aborts
                # a running error measurement
                if self._running():
                    self._abort()
            return None

        return command

    def _rng_auto(self, conn: Connection, params: list[str]) -> str | None:
        if params not in (["0"], ["1"]):
            return NUMERIC_ERROR
        self.range_auto = int(params[0])
        return None

    def _mmode_set(self, module: str, modes: tuple[str, ...]):
        def command(conn: Connection, params: list[str]) -> str | None:
            if len(params) != 1 or params[0] not in modes:
                return NUMERIC_ERROR
            self.mmode[module] = params[0]
            return None

        return command

    # ---- the error calculator ---------------------------------------------------------------------
    def _gate(self):
        if self.position is None:
            from instruments.sim.physics import Gate

            return Gate()
        self.physics.advance()
        return self.physics.gates[self.position]

    def _dut_i_per_kunit(self) -> float:
        """DUTCONSTANT in I/k<unit> (ZC computeDependencies: xxx/I is turned into I/kxxx)."""
        c = float(self.ec["DUTCONSTANT"])
        return 1000.0 / c if "/I" in str(self.ec["DCUNIT"]) else c

    def _target(self) -> int:
        # ZC computeDependencies (mode mrate): TARGET = floor(MRATE * REFCONSTANT / DUTCONSTANT)
        return math.floor(int(self.ec["MRATE"]) * float(self.ec["REFCONSTANT"]) / self._dut_i_per_kunit())

    def _running(self) -> bool:
        g = self._gate()
        return g.state in ("armed", "running")

    def _abort(self) -> None:
        if self.position is not None:
            self.physics.gate_abort(self.position)
        self.aborted, self.series = True, False

    def _ec_set(self, name: str):
        def command(conn: Connection, params: list[str]) -> str | None:
            if len(params) != 1:
                return COMMAND_ERROR  # ZC scpiclient.cpp: nak (too many parameters) -> -100
            raw = params[0]
            try:
                value = self._validate(name, raw)
            except ValueError:
                return NUMERIC_ERROR  # ZC scpiclient.cpp errval: the validator refused the value
            if name == "START":
                self._start_stop(value)
            elif name == "TARGET":
                pass  # ZC computeDependencies: in mode mrate TARGET is recomputed from MRATE at once
            else:
                self.ec[name] = value
                if name == "REFSOURCE" and self.ec["DCUNIT"] not in self._dc_units():
                    self.ec["DCUNIT"] = self._dc_units()[0]  # ZC newRefInput -> initDutConstantUnit
            return None

        return command

    def _dc_units(self) -> tuple[str, ...]:
        # ZC getDutConstUnitValidator: the units follow the reference's power type
        return {"P": ("I/kWh", "Wh/I"), "Q": ("I/kVarh", "Varh/I"), "S": ("I/kVAh", "VAh/I")}[
            str(self.ec["REFSOURCE"])
        ]

    def _validate(self, name: str, raw: str):
        """ZC sec1modulemeasprogram.cpp validators; ValueError = refused."""
        ints = {"MRATE": (1, 4294967295), "TARGET": (1, 4294967295), "START": (0, 1), "CONTINUOUS": (0, 1),
                "MCOUNT": (1, 400)}  # fmt: skip
        doubles = {"DUTCONSTANT": (1e-6, 1e20), "UPLIMIT": (-100.0, 100.0), "LOLIMIT": (-100.0, 100.0)}
        if name in ints:
            if not re.fullmatch(r"[+-]?\d+", raw):
                raise ValueError(raw)
            lo, hi = ints[name]
            value = int(raw)
            if not lo <= value <= hi:
                raise ValueError(raw)
            return value
        if name in doubles:
            value = float(raw)
            lo, hi = doubles[name]
            if not (math.isfinite(value) and lo <= value <= hi):
                raise ValueError(raw)
            return value
        if name == "REFCONSTANT":  # isCmdwP without a validator of its own
            value = float(raw)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(raw)
            return value
        allowed = {
            "DUTSOURCE": ("SC1", "HK1"),  # ZX com5003d.xml: sh0 alias SC1, hk0 alias HK1
            "REFSOURCE": ("P", "Q", "S"),  # ZC scpi dump REFSOURCE? -> P (power modules 1..3)
            "DCUNIT": self._dc_units(),
            "RESULTUNIT": ("%", "ppm"),
        }[name]
        if raw not in allowed:
            raise ValueError(raw)
        return raw

    def _start_stop(self, value: int) -> None:
        pos = self.position
        if pos is None:
            return
        if value == 1:
            # ZC setMeaspulses / startMeasurement: MRATE DUT pulses after the first, STATUS armed
            kt_wh = 1000.0 / self._dut_i_per_kunit()
            quantity = {"P": "active", "Q": "reactive", "S": "apparent"}[str(self.ec["REFSOURCE"])]
            self.physics.gate_configure(pos, kt_wh, int(self.ec["MRATE"]), quantity)
            continuous = int(self.ec["CONTINUOUS"]) == 1 and self.ec["DUTSOURCE"] != "HK1"
            self.physics.gate_start(pos, series=10**9 if continuous else 1)
            self.aborted, self.series = False, continuous
        elif self._running():
            self._abort()
        else:
            self.series = False

    def _last(self) -> tuple[int, int, float, float | None] | None:
        g = self._gate()
        if g.results:
            return g.results[-1]
        return g.result if g.state == "finished" else None

    def _status(self) -> int:
        g = self._gate()
        if self.aborted:
            return ABORTED
        if g.state == "armed":
            return ARMED | (READY if g.results else 0)
        if g.state == "running":
            # ZC setECResultAndResetInt: continuous mode keeps READY once a result is in
            return STARTED | (READY if g.results else 0)
        if g.state == "finished":
            return READY
        return 0

    def _progress(self) -> float:
        # ZC updateProgress: (MRATE - remaining) / MRATE x 100, clamped
        g = self._gate()
        if g.state == "finished":
            return 100.0
        if g.state == "running" and g.pulses:
            return min(100.0, 100.0 * g.edges / g.pulses)
        return 100.0 if (g.results and g.state == "armed") else 0.0

    def _pulses(self) -> int:
        # ZC updateProgress: PULSES = MRATE + 1 - remaining: the opening edge counts as the first
        g = self._gate()
        if g.state == "running":
            return g.edges + 1
        if g.state == "finished":
            return g.pulses + 1
        return 0

    def _ref_counts_running(self) -> int:
        g = self._gate()
        kr = self.physics.kr_wh
        if g.state != "running":
            return 0
        return math.floor(self.physics.ref_energy(g.quantity) / kr) - math.floor(g.ref_start / kr)

    def _energy(self) -> float:
        # ZC actualizeenergy: counts / REFCONSTANT (imp/kWh) = kWh since the gate opened
        g = self._gate()
        last = self._last()
        if g.state == "running" and not g.results:
            return self._ref_counts_running() / float(self.ec["REFCONSTANT"])
        return 0.0 if last is None else last[1] / float(self.ec["REFCONSTANT"])

    def _enfinal(self) -> float:
        last = self._last()
        if last is None:
            return self._energy()
        return last[1] / float(self.ec["REFCONSTANT"])

    def _result(self) -> float:
        # ZC setECResult: (TARGET - counts) x 100 / counts in %, NaN without counts
        last = self._last()
        if last is None or last[1] <= 0:
            return math.nan
        factor = 1e6 if self.ec["RESULTUNIT"] == "ppm" else 100.0
        return (self._target() - last[1]) * factor / last[1]

    def _rating(self) -> int:
        # ZC setRating: -1 unfinished, 1 within LOLIMIT..UPLIMIT, 0 outside
        r = self._result()
        if math.isnan(r) or not (self._status() & READY):
            return -1
        return 1 if float(self.ec["LOLIMIT"]) <= r <= float(self.ec["UPLIMIT"]) else 0

    def refuse_injected(self, message: str, conn: Connection) -> Reply:
        """An injected refusal: as the unit refuses a bad value (nothing set, -120 queued, no reply)."""
        self._queue(conn, NUMERIC_ERROR)
        return self.silence("refused (injected fault): -120,Numeric data error queued")
