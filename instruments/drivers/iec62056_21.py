"""IEC 62056-21 mode C optical-port driver (the meter-port role of an IEC bench): sign-on at 300 baud
7E1, identification, baud change, data readout of OBIS-coded lines.

Protocol facts and their sources: :mod:`instruments.protocols.iec62056_21`. Every read is a whole
sign-on and readout (a meter falls back to its 300-baud sign-on state after a readout); the block check
character is verified and a broken readout is read again (3 tries), so a half-received register never
reaches a result. Reading changes nothing in a meter: no opt-in is needed. The package index's
``iec62056-21`` (BSD) is dormant and pyserial-bound; this driver speaks through pyvisa like every other.
"""

from __future__ import annotations

from datetime import datetime

from instruments.drivers import DriverContext, Link, Transport, read_options
from instruments.drivers.optical import OpticalProbe
from instruments.errors import InstrumentTimeout, UnparseableReply
from instruments.protocols import iec62056_21 as p
from instruments.registry import DriverSpec

TRANSPORT = Transport(read_termination="", write_termination="", timeout_ms=1500, baud_rate=300,
                      data_bits=7, stop_bits=1, parity="even")  # fmt: skip
TRIES = 3
OPTIONS = {
    "address": (str, "", lambda v: len(v) <= 32 and v.isprintable(), "the meter's address (empty: any meter)"),
    "max_baud": (int, 9600, lambda v: v in p.BAUD.values(), "one of " + ", ".join(map(str, p.BAUD.values()))),
}  # fmt: skip
UNITS_TO_KWH = {"kWh": 1.0, "Wh": 1e-3, "MWh": 1e3, "kvarh": 1.0, "varh": 1e-3, "kVAh": 1.0, "VAh": 1e-3}
REGISTERS = {"1.8.0": "kWh_delivered", "2.8.0": "kWh_received", "3.8.0": "kvarh_q1q2", "4.8.0": "kvarh_q3q4"}


class Iec62056Port:
    def __init__(self, link: Link, name: str, position: int, opts: dict) -> None:
        self.link, self.position, self.opts = link, position, opts
        self.name = f"{name} (meter port {position})"

    def _set_line(self, baud: int) -> None:
        self.link.transport.merged({"baud_rate": baud}).apply(self.link.resource)

    def _write(self, data: bytes, what: str) -> None:
        try:
            self.link.resource.write_raw(data)
        except Exception as exc:  # noqa: BLE001 - translated, never swallowed
            raise self.link._translate(exc, what) from exc  # noqa: SLF001 - Link's own translation

    def _read_until(self, end: bytes, what: str, limit: int = 4096) -> bytes:
        out = bytearray()
        try:
            while not out.endswith(end):
                out += self.link.resource.read_bytes(1)
                if len(out) > limit:
                    raise UnparseableReply(self.name, what, bytes(out[:40]).hex(), "reply too long")
        except UnparseableReply:
            raise
        except Exception as exc:  # noqa: BLE001 - translated, never swallowed
            raise self.link._translate(exc, what) from exc  # noqa: SLF001
        return bytes(out)

    def readout(self) -> tuple[str, dict[str, tuple[str, str]]]:
        """(identification, {OBIS address: (value, unit)}) from one sign-on and data readout."""
        last: Exception | None = None
        for _ in range(TRIES):
            try:
                return self._readout_once()
            except (UnparseableReply, InstrumentTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    def _readout_once(self) -> tuple[str, dict[str, tuple[str, str]]]:
        self._set_line(p.SIGN_ON_BAUD)
        self._write(f"/?{self.opts['address']}!\r\n".encode("ascii"), "sign-on /?!")
        ident = self._read_until(b"\r\n", "sign-on /?!").decode("ascii", "replace").strip()
        if not ident.startswith("/") or len(ident) < 5:
            raise UnparseableReply(self.name, "sign-on /?!", ident, "not an identification /XXXZ…")
        offered = ident[4]
        if offered not in p.BAUD:
            raise UnparseableReply(
                self.name, "sign-on /?!", ident, f"unknown baud-rate character {offered!r}"
            )
        # the fastest rate both sides can do: the meter's offer or the shop's cap
        z = max(
            (c for c, b in p.BAUD.items() if b <= min(p.BAUD[offered], self.opts["max_baud"])), default="0"
        )
        self._write(bytes([p.ACK]) + f"0{z}0\r\n".encode("ascii"), f"acknowledge 0{z}0")
        self._set_line(p.BAUD[z])
        block = self._read_until(b"!\r\n" + bytes([p.ETX]), "data readout")
        check = self.link.resource.read_bytes(1)[0]
        start = block.find(bytes([p.STX]))
        if start < 0:
            raise UnparseableReply(self.name, "data readout", block[:40].hex(), "no STX")
        body = block[start + 1 :]
        if p.bcc(body) != check & 0x7F:
            raise UnparseableReply(self.name, "data readout", None, "block check character wrong")
        try:
            lines = p.parse_lines(body[:-1].decode("ascii"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise UnparseableReply(self.name, "data readout", None, str(exc)) from None
        return ident, lines

    def identify(self) -> str:
        """One line for ``bench check``: who answers at this socket's optical port."""
        i = self.identity()
        return f"{i['manufacturer']} {i['model']} serial {i['serial']} fw {i['firmware']}"

    def safe_state(self) -> None:
        """A meter port drives nothing; each read ends its own session."""

    # ---- MeterPort ------------------------------------------------------------------------------------
    def identity(self) -> dict[str, str]:
        ident, lines = self.readout()
        return {
            "manufacturer": ident[1:4],
            "model": ident[5:],
            "serial": lines.get("C.1.0", lines.get("0.0.0", ("", "")))[0],
            "firmware": lines.get("0.2.0", ("", ""))[0],
            "protocol": "IEC 62056-21 mode C",
        }

    def registers(self) -> dict[str, float]:
        _ident, lines = self.readout()
        out: dict[str, float] = {}
        for address, (value, unit) in lines.items():
            name = REGISTERS.get(address)
            tier = address.startswith("1.8.") and address != "1.8.0"
            if not (name or tier):
                continue
            scale = UNITS_TO_KWH.get(unit)
            if scale is None:
                raise UnparseableReply(
                    self.name, "data readout", f"{address}({value}*{unit})", "unknown unit"
                )
            try:
                number = float(value)
            except ValueError:
                raise UnparseableReply(
                    self.name, "data readout", f"{address}({value})", "not a number"
                ) from None
            out[name or f"kWh_tier{address.split('.')[2]}"] = number * scale
        return out

    def status(self) -> list[str]:
        _ident, lines = self.readout()
        err = lines.get("F.F", ("0", ""))[0]
        return [] if set(err) <= {"0"} else [f"error register F.F = {err}"]

    def _number(self, lines, address: str, units: dict[str, float]) -> float:
        if address not in lines:
            raise UnparseableReply(self.name, f"data readout, OBIS {address}", None,
                                   f"the meter's readout has no {address} line")  # fmt: skip
        value, unit = lines[address]
        if unit not in units:
            raise UnparseableReply(self.name, f"data readout, OBIS {address}", f"{address}({value}*{unit})",
                                   f"unit {unit!r}, expected one of {', '.join(units)}")  # fmt: skip
        try:
            return float(value) * units[unit]
        except ValueError:
            raise UnparseableReply(self.name, f"data readout, OBIS {address}", f"{address}({value})",
                                   "not a number") from None  # fmt: skip

    def demand(self) -> dict:
        """The demand lines [U OBIS meanings]: 0.8.0 interval, 1.5.0 last interval's demand, 1.6.0 the
        maximum since the last reset, 0.1.0 the reset count. Over mode C's data readout a demand reset is
        not possible (it needs the meter's programming mode): the demand test judges 1.5.0."""
        _ident, lines = self.readout()
        kw = {"kW": 1.0, "W": 1e-3, "MW": 1e3}
        out = {
            "interval_s": self._number(lines, "0.8.0", {"min": 60.0, "s": 1.0}),
            "last_kw": self._number(lines, "1.5.0", kw),
            "max_kw": self._number(lines, "1.6.0", kw),
            "subintervals": None,
            "demand_type": "block or sliding (not in the readout)",
            "resets": int(self._number(lines, "0.1.0", {"": 1.0})) if "0.1.0" in lines else None,
            "tables": "OBIS 0.8.0, 1.5.0, 1.6.0",
        }
        return out

    def events(self) -> list[str]:
        """The event counters of the readout, in words [U OBIS meanings]."""
        _ident, lines = self.readout()
        names = {"C.7.0": "power failures", "C.51.0": "tamper attempts", "0.1.0": "demand resets"}
        return [
            f"{names[a]}: {int(lines[a][0])} ({a})" for a in names if a in lines and lines[a][0].isdigit()
        ]

    def clock(self) -> datetime:
        _ident, lines = self.readout()
        try:
            return datetime.strptime(f"{lines['0.9.2'][0]} {lines['0.9.1'][0]}", "%y-%m-%d %H:%M:%S")
        except (KeyError, ValueError):
            raise UnparseableReply(self.name, "data readout", None, "no date 0.9.2 and time 0.9.1") from None


class Iec62056Driver(OpticalProbe):
    def __init__(self, ctx: DriverContext) -> None:
        self.opts = read_options(ctx, OPTIONS)
        self.name = ctx.name
        self.link = Link.from_context(ctx, TRANSPORT)

    def port(self, position: int) -> Iec62056Port:
        return Iec62056Port(self.link, self.name, position, self.opts)


def _sim(physics, positions: tuple[int, ...], options) -> object:
    from instruments.sim.iec62056_21 import SimIec62056Meter

    return SimIec62056Meter(physics, positions[0])


DRIVER = DriverSpec(
    name="iec62056_21",
    aliases=("iec-62056-21", "iec61107", "mode-c"),
    roles=frozenset({"meter_ports"}),
    open=Iec62056Driver,
    description="IEC 62056-21 mode C optical probe: identification and OBIS data readout",
    max_positions=1,
    sim_instrument=_sim,
    transport=TRANSPORT,
)
