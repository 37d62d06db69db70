"""ANSI C12.18 (PSEM) optical-port driver with C12.19 tables: the meter-port role of a North-American
bench (one ANSI Type 2 optical probe per socket, each its own serial port).

What it reads: identity (ST1 manufacturer, model, firmware, serial; ST5 device id), status and tamper
flags (ST3), energy registers (ST21/ST22/ST12/ST23: summations by unit of measure and quadrants, so
``kWh_delivered`` is the summation of active energy in quadrants I+IV, and per TOU tier ``kWh_tier<n>``),
the demand (ST13 interval, ST23 maximum, ST25 previous reset), the clock (ST52, ST55 with the tier in
force), the TOU calendar (ST51/ST54) and the history log (ST71/ST74); procedures
demand reset (9) and set date/time (10) through ST7/ST8. Protocol facts and their sources are in
:mod:`instruments.protocols.c1218` / :mod:`instruments.protocols.c1219`; the table layouts marked [U] there
are the published standard's structure, not confirmed in a public implementation — reading them is safe
(a read changes nothing in a meter), so they are used without opt-in; the two procedures WRITE to the
meter and are [U], so they need ``allow_unconfirmed = true`` for the port in the bench file.

Each read is one whole session — identify, negotiate, logon, reads, logoff, terminate — because a meter
drops a session after 6 s without traffic, and a register test leaves the port idle for minutes. Every
packet is retried after a NAK or a missing ACK (3 tries) and a response with a bad CRC is NAKed and read
again; a meter that answers with an error code raises :class:`CommandRefused` naming the table and the
code in words, so nothing half-read reaches a result.
"""

from __future__ import annotations

import struct
from datetime import datetime

from instruments.drivers import DriverContext, Link, Transport, read_options
from instruments.drivers.optical import OpticalProbe
from instruments.errors import CommandRefused, InstrumentTimeout, UnparseableReply
from instruments.protocols import c1218, c1219
from instruments.registry import DriverSpec

TRANSPORT = Transport(read_termination="", write_termination="", timeout_ms=2000, baud_rate=9600,
                      data_bits=8, stop_bits=1, parity="none")  # fmt: skip
TRIES = 3  # [U] the standard's default retry count
OPTIONS = {
    "user": (str, "MeterBench", lambda v: len(v) <= 10, "up to 10 characters"),
    "user_id": (int, 0, lambda v: 0 <= v <= 0xFFFF, "0..65535"),
    "password_hex": (str, "", lambda v: len(v) <= 40 and all(c in "0123456789abcdefABCDEF" for c in v),
                     "up to 20 bytes as hexadecimal (empty: no security service)"),
    "packet_size": (int, 512, lambda v: 64 <= v <= 8191, "64..8191 bytes"),
}  # fmt: skip


class C1218Link:
    """PSEM packets over one serial port: toggle bit, ACK/NAK, retries, multi-packet responses."""

    def __init__(self, link: Link, name: str) -> None:
        self.link, self.name = link, name
        self.resource = link.resource
        self._toggle = False

    def _write(self, data: bytes, what: str) -> None:
        try:
            self.resource.write_raw(data)
        except Exception as exc:  # noqa: BLE001 - translated, never swallowed
            raise self.link._translate(exc, what) from exc  # noqa: SLF001 - Link's own translation

    def _read(self, n: int, what: str) -> bytes:
        try:
            return bytes(self.resource.read_bytes(n))
        except Exception as exc:  # noqa: BLE001 - translated, never swallowed
            raise self.link._translate(exc, what) from exc  # noqa: SLF001

    def _packet(self, what: str) -> bytes:
        """One whole packet from the meter, CRC checked: NAK and read again when it is broken."""
        for _ in range(TRIES):
            first = self._read(1, what)
            skipped = 0
            while first[0] != c1218.START:
                skipped += 1
                if skipped > 64:
                    raise UnparseableReply(self.name, what, first.hex(), "no packet start byte (0xEE)")
                first = self._read(1, what)
            head = first + self._read(5, what)
            length = struct.unpack(">H", head[4:6])[0]
            if length > c1218.MAX_DATA:
                self._write(bytes([c1218.NAK]), what)
                continue
            raw = head + self._read(length + 2, what)
            if c1218.crc_ok(raw):
                self._write(bytes([c1218.ACK]), what)
                return raw
            self._write(bytes([c1218.NAK]), what)
        raise UnparseableReply(self.name, what, None, f"no packet with a good CRC in {TRIES} tries")

    def request(self, data: bytes, what: str) -> bytes:
        """Send one request, return the response's data (code first), multi-packet responses joined."""
        control = c1218.TOGGLE if self._toggle else 0x00
        self._toggle = not self._toggle
        frame = c1218.packet(data, control=control)
        for attempt in range(TRIES):
            self._write(frame, what)
            try:
                answer = self._read(1, what)
            except InstrumentTimeout:
                if attempt == TRIES - 1:
                    raise
                continue
            if answer[0] == c1218.ACK:
                break
            if answer[0] != c1218.NAK:
                raise UnparseableReply(self.name, what, answer.hex(), "expected ACK (06) or NAK (15)")
        else:
            raise CommandRefused(self.name, what, "15", f"the meter NAKed the request {TRIES} times")
        raw = self._packet(what)
        body = c1218.packet_data(raw)
        while raw[2] & 0x80 and raw[3] > 0:  # multi-packet: the sequence counts the packets to come
            raw = self._packet(what)
            body += c1218.packet_data(raw)
        if not body:
            raise UnparseableReply(self.name, what, raw.hex(), "empty response")
        if body[0] != c1218.OK:
            words = c1218.RESPONSES.get(body[0], f"code {body[0]}")
            raise CommandRefused(self.name, what, f"{body[0]:02X}", f"the meter answered {words}")
        return body


class C1218Port:
    """One socket's optical port (the MeterPort role)."""

    def __init__(self, link: C1218Link, position: int, opts: dict, allow_unconfirmed: bool) -> None:
        self.c, self.position, self.opts = link, position, opts
        self.name = f"{link.name} (meter port {position})"
        self.allow_unconfirmed = allow_unconfirmed
        self._cfg: c1219.GeneralConfig | None = None

    # ---- session --------------------------------------------------------------------------------------
    def _session(self, work):
        c = self.c
        c.request(bytes([c1218.IDENT]), "identify")
        c.request(bytes([0x61]) + struct.pack(">H", self.opts["packet_size"]) + bytes([1, 6]), "negotiate")
        user = self.opts["user"].encode("ascii", "replace").ljust(10)
        c.request(bytes([c1218.LOGON]) + struct.pack(">H", self.opts["user_id"]) + user, "logon")
        try:
            if self.opts["password_hex"]:
                pw = bytes.fromhex(self.opts["password_hex"]).ljust(20, b"\x00")
                c.request(bytes([c1218.SECURITY]) + pw, "security")
            if self._cfg is None:
                self._cfg = c1219.decode_st0(self._table(c1219.GEN_CONFIG))
            return work()
        finally:
            for code, what in ((c1218.LOGOFF, "logoff"), (c1218.TERMINATE, "terminate")):
                try:
                    c.request(bytes([code]), what)
                except Exception:  # noqa: BLE001 - ending a session is best effort; the error before matters
                    break

    def _table(self, table: int) -> bytes:
        what = f"read {c1219.TABLE_NAMES.get(table, f'table {table}')}"
        body = self.c.request(bytes([c1218.READ]) + struct.pack(">H", table), what)
        if len(body) < 4:
            raise UnparseableReply(self.c.name, what, body.hex(), "read response shorter than its header")
        count = struct.unpack(">H", body[1:3])[0]
        data, cksum = body[3 : 3 + count], body[3 + count : 4 + count]
        if len(data) != count or not cksum or cksum[0] != c1218.data_checksum(data):
            raise UnparseableReply(self.c.name, what, body.hex(), "table data length or checksum wrong")
        return data

    def _decode(self, fn, *args):
        try:
            return fn(*args)
        except c1219.TableFormatError as err:
            raise UnparseableReply(self.name, f"read {TABLE_LABEL(err.table)}", None, str(err)) from None

    def identify(self) -> str:
        """One line for ``bench check``: who answers at this socket's optical port."""
        i = self.identity()
        return f"{i['manufacturer']} {i['model']} serial {i['serial']} fw {i['firmware']}"

    def safe_state(self) -> None:
        """A meter port drives nothing; each read ends its own session."""

    # ---- MeterPort ------------------------------------------------------------------------------------
    def identity(self) -> dict[str, str]:
        def work():
            cfg = self._cfg
            ident = self._decode(c1219.decode_st1, self._table(c1219.GENERAL_MFG_ID), cfg)
            ident["device_id"] = self._decode(c1219.decode_st5, self._table(c1219.DEVICE_IDENT), cfg)
            ident["protocol"] = f"ANSI C12.18 / C12.19 version {cfg.std_version}.{cfg.std_revision}"
            return ident

        return self._session(work)

    def status(self) -> list[str]:
        """ST3's flags that are set, in words (empty: none)."""
        return self._session(
            lambda: self._decode(c1219.decode_st3, self._table(c1219.ED_MODE_STATUS), self._cfg)
        )

    def registers(self) -> dict[str, float]:
        """Energy summations in kWh by what they measure: ``kWh_delivered`` (Q1+Q4), ``kWh_received``
        (Q2+Q3), ``kvarh_…``, ``kVAh_…``; an unrecognised summation is ``summation_<n>``."""

        def work():
            cfg = self._cfg
            layout = self._decode(c1219.decode_st21, self._table(c1219.ACT_REGS))
            select = self._table(c1219.DATA_SELECTION)[: layout.summations]
            uoms = self._decode(c1219.decode_st12, self._table(c1219.UOM_ENTRY), cfg)
            data = self._decode(c1219.decode_st23, self._table(c1219.CURRENT_REG_DATA), cfg, layout)
            out: dict[str, float] = {}
            for k, value in enumerate(data.summations):
                src = select[k] if k < len(select) else 0xFF
                uom = uoms[src] if src < len(uoms) else None
                if uom is None or uom.quantity not in c1219.UOM_ID.values():
                    out[f"summation_{k}"] = value
                    continue
                unit = {"W": "kWh", "var": "kvarh", "VA": "kVAh"}[uom.quantity]
                way = "delivered" if uom.delivered else "received" if uom.received else "net"
                out[f"{unit}_{way}"] = value * uom.multiplier / 1000.0
            if data.demand_resets is not None:
                out["demand_resets"] = float(data.demand_resets)
            for t, (sums, _demands) in enumerate(data.tiers, start=1):
                for k, value in enumerate(sums):
                    uom = uoms[select[k]] if k < len(select) and select[k] < len(uoms) else None
                    if uom is not None and uom.quantity == "W" and uom.delivered:
                        out[f"kWh_tier{t}"] = value * uom.multiplier / 1000.0
            return out

        return self._session(work)

    def _demand_layout(self):
        cfg = self._cfg
        layout = self._decode(c1219.decode_st21, self._table(c1219.ACT_REGS))
        if layout.demands < 1:
            raise UnparseableReply(self.name, f"read {TABLE_LABEL(c1219.ACT_REGS)}", None,
                                   "the meter keeps no demand register (ST21 NBR_DEMANDS = 0)")  # fmt: skip
        select = self._table(c1219.DATA_SELECTION)
        uoms = self._decode(c1219.decode_st12, self._table(c1219.UOM_ENTRY), cfg)
        src = select[layout.summations] if len(select) > layout.summations else 0xFF
        uom = uoms[src] if src < len(uoms) else None
        if uom is None or uom.quantity != "W":
            raise UnparseableReply(self.name, f"read {TABLE_LABEL(c1219.DATA_SELECTION)}", None,
                                   "the first demand is not an active-power demand")  # fmt: skip
        return layout, uom.multiplier / 1000.0

    def demand(self) -> dict:
        """The first demand register (ST13 interval, ST23 maximum in kW, ST25 the last reset)."""

        def work():
            cfg = self._cfg
            layout, to_kw = self._demand_layout()
            ctl = self._decode(c1219.decode_st13, self._table(c1219.DEMAND_CONTROL))[0]
            data = self._decode(c1219.decode_st23, self._table(c1219.CURRENT_REG_DATA), cfg, layout)
            when, prev = self._decode(
                c1219.decode_st25, self._table(c1219.PREVIOUS_DEMAND_RESET_DATA), cfg, layout
            )
            return {
                "max_kw": data.demands[0][0] * to_kw,
                "interval_s": ctl.interval_s,
                "subintervals": ctl.multiplier,
                "demand_type": ctl.kind,
                "resets": data.demand_resets,
                "previous_reset": when.isoformat(sep=" ") if when else None,
                "previous_max_kw": prev.demands[0][0] * to_kw if prev.demands else None,
                "tables": "ST13, ST23, ST25",
            }

        return self._session(work)

    def clock_state(self):
        """ST55: the meter's time, day of week, DST and the TOU tier in force (1-based in ``tier``)."""
        return self._session(
            lambda: self._decode(c1219.decode_st55, self._table(c1219.CLOCK_STATE), self._cfg)
        )

    def tou_calendar(self) -> list[tuple[str, int]]:
        """The daily tier switches (ST51, ST54) as ("hh:mm", tier 1-based)."""

        def work():
            act = self._decode(c1219.decode_st51, self._table(c1219.ACT_TIME_TOU))
            switches = self._decode(c1219.decode_st54, self._table(c1219.CALENDAR), act)
            return [(f"{s.hour:02d}:{s.minute:02d}", s.tier + 1) for s in switches]

        return self._session(work)

    def events(self) -> list[str]:
        """The history log (ST71, ST74), oldest first, in words with their meter time."""

        def work():
            layout = self._decode(c1219.decode_st71, self._table(c1219.ACT_LOG))
            log = self._decode(c1219.decode_st74, self._table(c1219.HISTORY_LOG_DATA), self._cfg, layout)
            return [f"{e.when:%Y-%m-%d %H:%M:%S} {e.words}" if e.when else e.words for e in log]

        return self._session(work)

    def clock(self) -> datetime:
        return self._session(lambda: self._decode(c1219.decode_st52, self._table(c1219.CLOCK), self._cfg))

    def _procedure(self, number: int, params: bytes, what: str) -> None:
        if not self.allow_unconfirmed:
            from instruments.errors import UnconfirmedCommand

            raise UnconfirmedCommand(self.name, what, None, "procedure layouts are [U]: writing to a meter "
                                     "needs allow_unconfirmed = true for this meter port in the bench file")  # fmt: skip

        def work():
            data = c1219.procedure_request(number, 1, params)
            payload = bytes([c1218.WRITE]) + struct.pack(">HH", c1219.PROC_INITIATE, len(data)) + data
            self.c.request(payload + bytes([c1218.data_checksum(data)]), what)
            proc, _seq, result, _resp = self._decode(
                c1219.decode_st8, self._table(c1219.PROC_RESPONSE), self._cfg
            )
            if proc != number or result != 0:
                words = c1219.PROC_RESULTS.get(result, f"result {result}")
                raise CommandRefused(self.name, what, f"{result}", f"procedure {number}: {words}")

        self._session(work)

    def demand_reset(self) -> None:
        self._procedure(c1219.PROC_REMOTE_RESET, b"\x01", "demand reset (procedure 9)")

    def set_clock(self, when: datetime) -> None:
        self._procedure(
            c1219.PROC_SET_DATE_TIME, b"\x07" + c1219.encode_st52(when), "set clock (procedure 10)"
        )


def TABLE_LABEL(table: int) -> str:  # noqa: N802 - reads as a table lookup
    return c1219.TABLE_NAMES.get(table, f"table {table}")


class C1218Driver(OpticalProbe):
    """One optical probe (serial port) = one socket's port."""

    def __init__(self, ctx: DriverContext) -> None:
        self.opts = read_options(ctx, OPTIONS)
        self.name = ctx.name
        self.link = Link.from_context(ctx, TRANSPORT)
        self.c = C1218Link(self.link, ctx.name)
        self.allow_unconfirmed = ctx.allow_unconfirmed

    def port(self, position: int) -> C1218Port:
        return C1218Port(self.c, position, self.opts, self.allow_unconfirmed)


def _sim(physics, positions: tuple[int, ...], options) -> object:
    from instruments.sim.ansi_c1218 import SimC1218Meter

    return SimC1218Meter(physics, positions[0])


DRIVER = DriverSpec(
    name="ansi_c1218",
    aliases=("c1218", "ansi-c12.18", "psem"),
    roles=frozenset({"meter_ports"}),
    open=C1218Driver,
    description="ANSI C12.18 (PSEM) optical probe reading C12.19 tables: identity, status, registers, clock",
    max_positions=1,
    sim_instrument=_sim,
    transport=TRANSPORT,
)
