"""Simulated instruments written from the instruments' documented protocols, not from our drivers.

A :class:`SimInstrument` is one simulated instrument: it receives whole messages (framed by *its own*
terminations, serial settings and connection rules), answers them the way the real unit does, and
refuses them the way the real unit does — silence with an error queued, a ``-100,Command error`` line, a
``…NAK`` line — citing the source of each behaviour beside the code. Every message it receives is logged as
an :class:`Exchange`, accepted or refused and why, so a test can fail when the driver sent something the
real instrument would have refused (see ``tests/conftest.py``).

The same instrument object is reached two ways:

- in process, through pyvisa and pyvisa-sim: :class:`ProtocolDevice` is a pyvisa-sim ``Device`` whose
  byte stream is framed by the instrument (a driver writing LF to a CR instrument gets no reply: the real
  failure) and whose serial sessions must match the instrument's baud rate, data bits, stop bits and
  parity (a mismatch garbles the line, as a real UART does);
- over real loopback sockets (:mod:`instruments.sim.transport`), one :class:`Connection` per client, for
  pyvisa-py and other people's tools (``meterbench simulate BENCH --serve``).

Subclass contract::

    class MySim(SimInstrument):
        terminations = (b"\\r",)         # what ends a received message (any of these)
        reply_termination = b"\\r"       # appended to every reply line
        serial = SerialSettings(9600, 8, 2, "none")   # or None for a LAN/GPIB-only instrument

        def handle(self, message: str, conn: Connection) -> Reply:
            ...  # return self.reply("line", ...) / self.silence(message, why) / self.refuse(message, why, "NAK")

Injected protocol faults (``Simulation.inject``: no_reply, slow_reply, garbage, refused) are applied here,
the same for every instrument; ``refused`` calls :meth:`SimInstrument.refuse_injected`, which an
instrument overrides to refuse the way it really does.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pyvisa import constants
from pyvisa_sim.devices import Device

GARBAGE = b"\x15#?\xfe@!"

#: every SimInstrument made in this process (tests look for refusals the driver did not mean)
LIVE: weakref.WeakSet[SimInstrument] = weakref.WeakSet()


@dataclass(frozen=True)
class SerialSettings:
    """A serial port's line settings; parity is ``none``, ``even``, ``odd``, ``mark`` or ``space``."""

    baud: int
    data_bits: int
    stop_bits: float
    parity: str = "none"

    def __str__(self) -> str:
        stop = f"{self.stop_bits:g}"
        return f"{self.baud} baud {self.data_bits}{self.parity[0].upper()}{stop}"


@dataclass(frozen=True)
class Exchange:
    """One message an instrument received: what it was, whether the instrument took it, and what it said."""

    connection: int
    message: str
    accepted: bool
    why: str = ""  # for a refusal: what the real instrument objects to, and how it shows it
    reply: str | None = None  # the reply text (None = silence)
    injected: bool = False  # the refusal was a fault injected by a test, not the driver's doing


@dataclass
class Reply:
    """What :meth:`SimInstrument.handle` returns: reply lines (none = silence) and the log verdict."""

    lines: tuple[str, ...] = ()
    accepted: bool = True
    why: str = ""
    injected: bool = False  # a fault the bench file or a test asked for (a dead port), not the driver's doing


@dataclass
class Connection:
    """One client's session with the instrument (a VISA session, or one TCP client of the server)."""

    number: int
    state: dict[str, Any] = field(default_factory=dict)  # per-connection instrument state (e.g. FETCH)


class SimInstrument:
    """Base of every simulated instrument: framing, the command log, refusals and injected faults."""

    #: a human name for messages and the log ("ZERA COM5003")
    model = "instrument"
    #: what ends a received message (any one of these byte strings)
    terminations: tuple[bytes, ...] = (b"\n",)
    #: appended to each reply line
    reply_termination = b"\n"
    #: the serial line settings of the real unit, or None where it has no serial port
    serial: SerialSettings | None = None
    #: received messages longer than this are a broken line, not a command
    max_message = 65536
    #: a binary protocol (C12.18 packets): messages are bytes, framed by :meth:`split`, replies bytes;
    #: ``handle`` receives ``message.decode('latin-1')`` and returns ``Reply`` whose lines are latin-1 text
    #: of the raw bytes, written as they are (no reply termination)
    binary = False

    def __init__(self) -> None:
        self.log: list[Exchange] = []
        self.lock = threading.RLock()
        self._connections = 0
        self.expected_refusals: list[str] = []  # message prefixes a test sends wrong on purpose
        LIVE.add(self)

    # ---- what subclasses implement ------------------------------------------------------------
    def handle(self, message: str, conn: Connection) -> Reply:  # pragma: no cover - abstract
        raise NotImplementedError

    def on_connect(self, conn: Connection) -> None:
        """A new client connected (a fresh VISA session or TCP connection)."""

    def refuse_injected(self, message: str, conn: Connection) -> Reply:
        """A test injected a refusal for this message: refuse it as the real unit refuses settings."""
        return self.silence("refused (injected fault)")

    # ---- helpers for handle() -------------------------------------------------------------------
    @staticmethod
    def reply(*lines: str) -> Reply:
        return Reply(tuple(lines))

    @staticmethod
    def ok() -> Reply:
        """Accepted, nothing to say (a setting)."""
        return Reply(())

    @staticmethod
    def silence(why: str) -> Reply:
        """Refused with no reply at all (the driver will time out)."""
        return Reply((), accepted=False, why=why)

    @staticmethod
    def fault(why: str) -> Reply:
        """Silence because a fault was asked for (bench file or test), e.g. a dead optical port."""
        return Reply((), accepted=False, why=why, injected=True)

    @staticmethod
    def refuse(why: str, *lines: str) -> Reply:
        """Refused with a reply the driver can see (an error line, a NAK)."""
        return Reply(tuple(lines), accepted=False, why=why)

    # ---- the log -----------------------------------------------------------------------------------
    def refusals(self, *, include_injected: bool = False) -> list[Exchange]:
        """Refused messages, excluding injected faults and prefixes a test declared on purpose."""
        out = []
        for e in self.log:
            if e.accepted or (e.injected and not include_injected):
                continue
            if any(e.message.upper().startswith(p.upper()) for p in self.expected_refusals):
                continue
            out.append(e)
        return out

    def expect_refusal(self, prefix: str) -> None:
        """A test is about to send something wrong on purpose (refusals starting so are not a failure)."""
        self.expected_refusals.append(prefix)

    def log_text(self, limit: int = 50) -> str:
        """The last ``limit`` exchanges as lines: ``[accepted|REFUSED why] message -> reply``."""
        rows = []
        for e in self.log[-limit:]:
            verdict = "accepted" if e.accepted else f"REFUSED ({e.why})"
            rows.append(f"#{e.connection} {e.message!r} {verdict} -> {e.reply!r}")
        return "\n".join(rows)

    # ---- connections and framing --------------------------------------------------------------------
    def connect(self) -> Connection:
        with self.lock:
            self._connections += 1
            conn = Connection(self._connections)
            self.on_connect(conn)
            return conn

    def receive(self, message: bytes, conn: Connection, *, fault: Any = None) -> bytes | None:
        """One whole message (terminator stripped) in; the reply bytes out, or None for silence."""
        text = message.decode("latin-1")
        with self.lock:
            if fault is not None and fault.kind == "no_reply":
                self.log.append(Exchange(conn.number, text, True, "no reply (injected fault)", None, True))
                return None
            if fault is not None and fault.kind == "refused" and not text.rstrip().endswith("?"):
                r = self.refuse_injected(text, conn)
                injected = True
            elif len(message) > self.max_message or (
                not self.binary and any(b > 0x7E or (b < 0x20 and b != 9) for b in message)
            ):
                r = self.silence("not a printable ASCII command (a garbled line is ignored)")
                injected = False
            else:
                r = self.handle(text, conn)
                injected = False
            injected = injected or r.injected
            end = b"" if self.binary else self.reply_termination
            reply_text = end.decode("latin-1").join(r.lines) if r.lines else None
            shown = message.hex(" ") if self.binary else text
            shown_reply = reply_text.encode("latin-1").hex(" ") if self.binary and reply_text else reply_text
            self.log.append(Exchange(conn.number, shown, r.accepted, r.why, shown_reply, injected))
            if not r.lines:
                return None
            if fault is not None and fault.kind == "garbage":
                return GARBAGE + end
            return b"".join(line.encode("latin-1") + end for line in r.lines)

    def split(self, buffer: bytearray) -> list[bytes]:
        """Take every complete message out of ``buffer`` (framed by this instrument's terminations)."""
        out = []
        while True:
            cut = [(buffer.find(t), t) for t in self.terminations]
            cut = [(i, t) for i, t in cut if i >= 0]
            if not cut:
                if len(buffer) > self.max_message:  # a runaway line without terminator: the unit drops it
                    buffer.clear()
                return out
            i, t = min(cut)
            msg = bytes(buffer[:i])
            del buffer[: i + len(t)]
            # a CR LF pair where only one of them frames: the other is line noise the unit ignores
            msg = msg.strip(b"\r\n")
            if msg:
                out.append(msg)

    def serial_mismatch(self, used: SerialSettings) -> str | None:
        """Why a serial line set to ``used`` cannot talk to this unit, or None."""
        want = self.serial
        if want is None:
            return None
        if (used.baud, used.data_bits, used.stop_bits, used.parity) == (
            want.baud,
            want.data_bits,
            want.stop_bits,
            want.parity,
        ):
            return None
        return f"serial line at {used}, the instrument talks {want}: the line is garbled"


_PARITY = {
    constants.Parity.none: "none",
    constants.Parity.even: "even",
    constants.Parity.odd: "odd",
    constants.Parity.mark: "mark",
    constants.Parity.space: "space",
}
_STOP = {constants.StopBits.one: 1, constants.StopBits.one_and_a_half: 1.5, constants.StopBits.two: 2}


class ProtocolDevice(Device):
    """A pyvisa-sim device that hands whole messages to a :class:`SimInstrument`.

    Framing is the instrument's, not pyvisa-sim's: pyvisa-sim's end-of-message table is not used. On a
    serial (ASRL) session the line settings the driver chose are compared with the instrument's.
    """

    def __init__(self, instrument: SimInstrument, name: str = "sim") -> None:
        super().__init__(name, None)
        self.instrument = instrument
        self.faults: list[Any] = []  # instruments.sim.library.Fault
        self.log: list[str] = []  # every message received, as text (compatibility with older tests)
        self._release_at = 0.0
        self._lock = threading.RLock()
        self.connection = instrument.connect()
        self.session: Any = None  # the pyvisa-sim session that opened this device (for serial settings)
        self._end_checked_for: Any = object()  # the session _no_end was worked out for
        self._no_end = False
        self._rx = bytearray()

    # pyvisa-sim's resource_name setter looks up an end-of-message pair; framing is the instrument's here
    @property
    def resource_name(self):  # type: ignore[override]
        return self._resource_name

    @resource_name.setter
    def resource_name(self, value: str) -> None:
        self._resource_name = value

    def new_connection(self) -> Connection:
        """A fresh VISA session (or TCP client): a new connection to the instrument."""
        with self._lock:
            self.connection = self.instrument.connect()
            self._rx.clear()
            self._output_buffers.clear()
            return self.connection

    def _fault(self, message: bytes) -> Any:
        for f in self.faults:
            if f.applies(message):
                return f
        return None

    def _serial_problem(self) -> str | None:
        s = self.session
        if s is None or getattr(s, "parsed", None) is None:
            return None
        if s.parsed.interface_type_const != constants.InterfaceType.asrl:
            return None
        attr = constants.ResourceAttribute
        baud, _ = s.get_attribute(attr.asrl_baud_rate)
        bits, _ = s.get_attribute(attr.asrl_data_bits)
        stop, _ = s.get_attribute(attr.asrl_stop_bits)
        parity, _ = s.get_attribute(attr.asrl_parity)
        used = SerialSettings(int(baud), int(bits), _STOP.get(stop, stop), _PARITY.get(parity, str(parity)))
        return self.instrument.serial_mismatch(used)

    def write(self, data: bytes) -> None:
        with self._lock:
            self._rx.extend(data)
            for message in self.instrument.split(self._rx):
                self.feed(message, self.connection)

    def feed(self, message: bytes, conn: Connection) -> None:
        """One framed message from ``conn``: log it, apply faults, queue the reply."""
        self.log.append(message.decode("latin-1"))
        problem = self._serial_problem()
        if problem:
            with self.instrument.lock:
                self.instrument.log.append(
                    Exchange(conn.number, message.decode("latin-1"), False, problem, None)
                )
            return
        fault = self._fault(message)
        reply = self.instrument.receive(message, conn, fault=fault)
        if fault is not None and fault.kind == "slow_reply":
            self._release_at = time.monotonic() + fault.delay_s
        if reply:
            self._output_buffers.append(bytearray(reply))

    def read(self):
        if time.monotonic() < self._release_at:
            return b"", False
        byte, end = super().read()
        if self.session is not self._end_checked_for:  # once per session, not once per byte read
            self._end_checked_for = self.session
            parsed = getattr(self.session, "parsed", None)
            # a socket or a serial line has no END indicator (GPIB's EOI): a reader must find the terminator
            self._no_end = parsed is not None and (
                parsed.interface_type_const == constants.InterfaceType.asrl
                or getattr(parsed, "resource_class", "") == "SOCKET"
            )
        return byte, end and not self._no_end

    def reset_buffers(self) -> None:
        self._output_buffers.clear()
        self._rx.clear()

    def serve_bytes(self, data: bytes, conn: Connection, rx: bytearray) -> bytes:
        """A TCP client's bytes in (framed with its own buffer ``rx``), that client's reply bytes out."""
        with self._lock:
            rx.extend(data)
            saved, self.connection = self.connection, conn
            session, self.session = self.session, None  # a socket client has no VISA serial settings
            try:
                for message in self.instrument.split(rx):
                    self.feed(message, conn)
            finally:
                self.connection, self.session = saved, session
            out = b"".join(bytes(b) for b in self._output_buffers)
            self._output_buffers.clear()
            return out


def refusals(instruments: Iterable[SimInstrument] | None = None) -> list[tuple[SimInstrument, Exchange]]:
    """Refusals the driver did not mean, over ``instruments`` (default: every live one)."""
    pool = list(LIVE) if instruments is None else list(instruments)
    return [(inst, e) for inst in pool for e in inst.refusals()]
