"""A simulated meter's optical port speaking ANSI C12.18 (PSEM) with C12.19 tables, byte for byte.

It stands in for a North-American meter (forms 2S, 9S, 12S, 16S …) on an ANSI Type 2 optical probe, one
serial port per socket, and holds what the simulated meter *registered* (its error included), never the
reference's truth. The protocol facts and their sources are in :mod:`instruments.protocols.c1218` and
:mod:`instruments.protocols.c1219`; the behaviours the simulator adds, and where they come from:

- line 9600 baud 8N1 until a negotiate changes the baud rate (termineter opens the port with pyserial's
  defaults, 9600 8N1, and negotiates 9600) [C: termineter connection.py]; after a negotiate with a baud
  code the meter talks at that rate;
- every packet is answered ACK (CRC good) or NAK (CRC bad, and then nothing else) [C]; a packet whose
  toggle bit equals the previous one's is a repeat: ACKed and answered again, not executed twice [U];
- a response longer than the negotiated packet size is split into packets with control bit 0x80
  (multi-packet), 0x40 on the first, and the sequence number counting the packets still to come; the
  next packet goes out when the host ACKs the previous one [U: the standard's segmentation];
- service sequence: identify first, then negotiate, logon, security, reads and writes, logoff,
  terminate; a request out of sequence answers ``isss`` [U]; an unknown request ``sns`` [C codes];
  writes (ST7 procedures) need security (a matching 20-byte password) or answer ``isc`` [U]; a table the
  meter does not have answers ``onp`` [U];
- 6 s without traffic drops the session back to the start (channel traffic timeout) [U];
- faults from the bench file: ``meter_port = "dead"`` answers nothing at all; ``"no-registers"`` has no
  ST21–ST23 (nor ST25).

What the tables hold (issue 15; layouts in :mod:`instruments.protocols.c1219`, marked there): ST13 the
demand interval (subinterval x multiplier), ST21/ST22/ST23 two summations (delivered, received), one
maximum demand with its time, one tier block per TOU tier; ST25 the registers at the last demand reset
with its time; ST51/ST54 the daily tier switches; ST52/ST55 the clock (ST55 with the tier in force);
ST3 the bench file's ``status_flags``; ST71/ST74 a 32-entry circular history log with time and
sequence number. The demand, tier and clock values come from the meter's memory
(:mod:`instruments.sim.meter_memory`), i.e. from what it registered.
"""

from __future__ import annotations

import math
import struct

from instruments.protocols import c1218, c1219
from instruments.sim.meter_memory import EPOCH, memory_for, shown_kwh
from instruments.sim.meterport import registered_kwh
from instruments.sim.protocol import Connection, Reply, SerialSettings, SimInstrument

PASSWORD = b"\x00" * 20  # the factory default of a simulated meter
CHANNEL_TIMEOUT_S = 6.0
ALL_TABLES = (0, 1, 3, 5, 7, 8, 12, 13, 21, 22, 23, 25, 51, 52, 54, 55, 71, 74)
LOG_ENTRIES = 32


class SimC1218Meter(SimInstrument):
    model = "ANSI C12.18 meter port"
    binary = True

    def __init__(self, physics, position: int, *, password: bytes = PASSWORD) -> None:
        super().__init__()
        self.physics, self.position, self.password = physics, position, password
        self.serial = SerialSettings(9600, 8, 1, "none")
        self.status_flags = 0  # extra ST3 ED_STD_STATUS1 bits a test sets (c1219.STATUS_BITS)
        self.proc_response = b""
        self._last = -math.inf
        self.memory = memory_for(physics, position) if position in physics.meters else None

    # ---- framing -------------------------------------------------------------------------------------
    def split(self, buffer: bytearray) -> list[bytes]:
        out = []
        while (unit := c1218.take_packet(buffer)) is not None:
            kind, raw = unit
            out.append({"ack": b"\x06", "nak": b"\x15"}.get(kind, raw))
        return out

    def on_connect(self, conn: Connection) -> None:
        conn.state.update(stage="base", toggle=None, pending=[], last=b"", secure=False, size=64)

    @property
    def spec(self):
        return self.physics.meters[self.position].spec

    def handle(self, message: str, conn: Connection) -> Reply:
        raw = message.encode("latin-1")
        st = conn.state
        if self.position not in self.physics.meters:
            return self.silence(f"no meter in socket {self.position}: nothing answers the probe")
        if self.spec.meter_port == "dead":
            return self.fault("the meter's optical port is dead (bench-file fault)")
        now = self.physics.clock.now()
        if now - self._last > CHANNEL_TIMEOUT_S and st["stage"] != "base":
            st.update(stage="base", toggle=None, pending=[], secure=False)  # channel traffic timeout
        self._last = now
        if raw == b"\x06":  # the host took our packet: send the next of a multi-packet response
            if st["pending"]:
                return self.reply(st["pending"].pop(0).decode("latin-1"))
            return self.ok()
        if raw == b"\x15":  # the host wants our last packet again
            return self.reply(st["last"].decode("latin-1")) if st["last"] else self.ok()
        if not raw or raw[0] != c1218.START:
            return self.silence("line noise before a start byte (ignored)")
        if not c1218.crc_ok(raw):
            return self.refuse("packet CRC wrong: NAK", "\x15")
        control = raw[2]
        toggle = bool(control & c1218.TOGGLE)
        if st["toggle"] is not None and toggle == st["toggle"] and st["last"]:
            return Reply(
                ("\x06", st["last"].decode("latin-1")), True, "repeat (same toggle bit): answered again"
            )
        st["toggle"] = toggle
        body, accepted, why = self._service(c1218.packet_data(raw), st)
        packets = self._packets(body, st["size"])
        st["last"], st["pending"] = packets[0], packets[1:]
        return Reply(("\x06", packets[0].decode("latin-1")), accepted, why)

    def _packets(self, body: bytes, size: int) -> list[bytes]:
        room = max(size - 8, 1)
        chunks = [body[k : k + room] for k in range(0, len(body), room)] or [b""]
        if len(chunks) == 1:
            return [c1218.packet(body)]
        n = len(chunks)
        return [
            c1218.packet(c, control=0x80 | (0x40 if k == 0 else 0), sequence=n - 1 - k)
            for k, c in enumerate(chunks)
        ]

    # ---- services ---------------------------------------------------------------------------------------
    def _service(self, data: bytes, st: dict) -> tuple[bytes, bool, str]:
        if not data:
            return bytes([c1218.ERR]), False, "empty request"
        code, stage = data[0], st["stage"]
        if code == c1218.IDENT:
            st["stage"] = "id"
            return bytes([c1218.OK, 0x00, 0x02, 0x00, 0x00]), True, ""  # C12.18, version 2.0, no features
        if code == c1218.TERMINATE:
            st.update(stage="base", secure=False)
            return bytes([c1218.OK]), True, ""
        if stage == "base":
            return bytes([c1218.ISSS]), False, "request before identify (isss)"
        if 0x60 <= code <= 0x6B:
            if stage != "id":
                return bytes([c1218.ISSS]), False, "negotiate outside the ID state (isss)"
            if len(data) < 4:
                return bytes([c1218.ERR]), False, "negotiate too short"
            size, count = struct.unpack(">H", data[1:3])[0], data[3]
            st["size"] = max(64, min(size, 1024))
            baud = data[4] if code > 0x60 and len(data) > 4 else 6
            if baud not in c1218.BAUD_CODES:
                return bytes([c1218.IAR]), False, f"unknown baud code {baud} (iar)"
            self.serial = SerialSettings(c1218.BAUD_CODES[baud], 8, 1, "none")
            return bytes([c1218.OK]) + struct.pack(">H", st["size"]) + bytes([min(count, 4), baud]), True, ""
        if code == c1218.LOGON:
            if stage != "id" or len(data) != 13:
                return bytes([c1218.ISSS if stage != "id" else c1218.ERR]), False, "logon out of sequence"
            st["stage"] = "session"
            return bytes([c1218.OK]), True, ""
        if stage != "session":
            return bytes([c1218.ISSS]), False, f"request 0x{code:02X} before logon (isss)"
        if code == c1218.SECURITY:
            if data[1:21] != self.password:
                return bytes([c1218.ISC]), False, "wrong password (isc)"
            st["secure"] = True
            return bytes([c1218.OK]), True, ""
        if code == c1218.LOGOFF:
            st.update(stage="id", secure=False)
            return bytes([c1218.OK]), True, ""
        if code == c1218.WAIT:
            return bytes([c1218.OK]), True, ""
        if code in (c1218.READ, c1218.READ_PARTIAL):
            return self._read(data)
        if code in (c1218.WRITE, c1218.WRITE_PARTIAL):
            return self._write(data, st)
        return bytes([c1218.SNS]), False, f"service 0x{code:02X} not supported (sns)"

    def _read(self, data: bytes) -> tuple[bytes, bool, str]:
        if len(data) < 3:
            return bytes([c1218.ERR]), False, "read request too short"
        table = struct.unpack(">H", data[1:3])[0]
        content = self._table(table)
        if content is None:
            return bytes([c1218.ONP]), False, f"table {table} not in this meter (onp)"
        if data[0] == c1218.READ_PARTIAL:
            if len(data) != 8:
                return bytes([c1218.ERR]), False, "partial read request is 8 bytes"
            offset = struct.unpack(">I", b"\x00" + data[3:6])[0]
            count = struct.unpack(">H", data[6:8])[0]
            if offset + count > len(content):
                return bytes([c1218.IAR]), False, "partial read beyond the table (iar)"
            content = content[offset : offset + count]
        return (
            bytes([c1218.OK])
            + struct.pack(">H", len(content))
            + content
            + bytes([c1218.data_checksum(content)]),
            True,
            "",
        )

    def _write(self, data: bytes, st: dict) -> tuple[bytes, bool, str]:
        if len(data) < 6:
            return bytes([c1218.ERR]), False, "write request too short"
        table = struct.unpack(">H", data[1:3])[0]
        count = struct.unpack(">H", data[3:5])[0]
        payload, cksum = data[5 : 5 + count], data[5 + count : 6 + count]
        if len(payload) != count or not cksum or cksum[0] != c1218.data_checksum(payload):
            return bytes([c1218.ERR]), False, "write data checksum wrong (err)"
        if table != c1219.PROC_INITIATE:
            return bytes([c1218.ONP]), False, f"table {table} is not writable here (onp)"
        if not st["secure"]:
            return bytes([c1218.ISC]), False, "procedure without security (isc)"
        return self._procedure(payload)

    def _procedure(self, payload: bytes) -> tuple[bytes, bool, str]:
        if len(payload) < 3:
            return bytes([c1218.ERR]), False, "procedure request too short"
        number = struct.unpack("<H", payload[:2])[0] & 0x7FF
        seq, params = payload[2], payload[3:]
        result = 0
        if number == c1219.PROC_REMOTE_RESET:
            if params[:1] and params[0] & 1:
                self.memory.demand_reset()
        elif number == c1219.PROC_SET_DATE_TIME:
            if len(params) < 7:
                result = 2
            else:
                try:
                    self.memory.set_clock(c1219.decode_st52(params[1:7], _CFG))
                except ValueError:
                    result = 2
        else:
            result = 6
        self.proc_response = struct.pack("<H", number) + bytes([seq, result])
        return bytes([c1218.OK]), True, ""

    # ---- tables ----------------------------------------------------------------------------------------
    def _table(self, table: int) -> bytes | None:
        spec = self.spec
        if table == c1219.GEN_CONFIG:
            used = bytearray(10)  # DIM_STD_TBLS_USED bytes: tables 0..79
            for t in ALL_TABLES:
                used[t // 8] |= 1 << (t % 8)
            # little-endian, ISO 646 characters (1 << 1), time format 2, NI formats FLOAT64 / FLOAT64
            head = bytes([0x02, 0x02, 0x00]) + b"EMTR" + bytes([2, 0, 10, 64, 2, 0, 10, 0, 2, 0, 0, 0])
            return head + bytes(used) + bytes([0x00, 0x06])  # standard procedures 9 and 10
        if table == c1219.GENERAL_MFG_ID:
            fw = (spec.firmware.split(".") + ["0"])[:2]
            major, minor = (int(x) if x.isdigit() else 0 for x in fw)
            return (
                spec.manufacturer[:4].ljust(4).encode("ascii", "replace")
                + spec.model[:8].ljust(8).encode("ascii", "replace")
                + bytes([1, 0, major % 256, minor % 256])
                + spec.serial[:16].ljust(16).encode("ascii", "replace")
            )
        mem = self.memory
        if table == c1219.ED_MODE_STATUS:
            bits = self.status_flags
            for name in mem.status_flags:
                bits |= 1 << c1219.STATUS_BITS.index(name)
            return bytes([0x01]) + struct.pack("<H", bits) + b"\x00\x00"
        if table == c1219.DEVICE_IDENT:
            return spec.serial[:20].ljust(20).encode("ascii", "replace")
        if table == c1219.PROC_RESPONSE:
            return self.proc_response or struct.pack("<H", 0) + b"\x00\x00"
        if table == c1219.CLOCK:
            now = mem.now()
            return c1219.encode_st52(now) + bytes([now.isoweekday() % 7])
        if table == c1219.CLOCK_STATE:
            now = mem.now()
            tier = mem.tier_at((now - EPOCH).total_seconds()) - 1
            return c1219.encode_st55(now, tier, tier)
        if table == c1219.DEMAND_CONTROL:
            return c1219.encode_st13(int(mem.sub_s // 60), mem.subintervals)
        if table == c1219.ACT_TIME_TOU:
            return bytes([0, 0, 0, 0, 0]) + struct.pack("<HH", len(mem.calendar), 3 * len(mem.calendar))
        if table == c1219.CALENDAR:
            return c1219.encode_st54(
                [c1219.TierSwitch(m // 60, m % 60, tier - 1) for m, tier in mem.calendar]
            )
        if table == c1219.ACT_LOG:  # time and sequence number per entry, no argument [C layout]
            return bytes([0x06, 0, 0, 0, 0]) + struct.pack("<HH", LOG_ENTRIES, 0) + b"\x00\x00\x00"
        if table == c1219.HISTORY_LOG_DATA:
            return self._history()
        if spec.meter_port == "no-registers":
            return None
        if table == c1219.UOM_ENTRY:
            kilo = 2 << 11
            delivered = 0 | kilo | (1 << 14) | (1 << 17)
            received = 0 | kilo | (1 << 15) | (1 << 16)
            return struct.pack("<II", delivered, received)
        if table == c1219.ACT_REGS:
            # reset counter and date-time flags; 2 summations, 1 demand, 1 occurrence, one block per tier
            return bytes([0x06, 0x00, 0, 2, 1, 0, 1, mem.tiers, 0, 0])
        if table == c1219.DATA_SELECTION:
            return bytes([0, 1, 0, 0x01])  # summations: UOM 0, 1; demand: UOM 0; it is a maximum
        if table == c1219.CURRENT_REG_DATA:
            return bytes([mem.resets]) + self._register_data(
                self._kwh(), mem.tier_kwh(), mem.max_kw, mem.max_at
            )
        if table == c1219.PREVIOUS_DEMAND_RESET_DATA:
            prev = mem.previous
            if prev is None:
                return bytes(6) + bytes([mem.resets]) + self._register_data(0.0, [0.0] * mem.tiers, 0.0, None)
            digit = spec.register_resolution_kwh
            return (
                c1219.encode_st52(prev.when)
                + bytes([mem.resets])
                + self._register_data(
                    shown_kwh(prev.total_wh / 1000.0, digit),
                    [w / 1000.0 for w in prev.tier_wh],
                    prev.max_kw,
                    prev.max_at,
                )  # fmt: skip
            )
        return None

    def _register_data(self, total_kwh: float, tiers: list[float], max_kw: float, max_at) -> bytes:
        """A REGISTER_DATA_RCD (ST23 after its reset counter; ST25): summations in Wh (UOM multiplier kilo
        in ST12 makes them kWh), then the demand's time (STIME_DATE) and value in kW; tier blocks with the
        tier's energy and no tier demand (this simulated meter keeps none: 0)."""
        stime = c1219.encode_st52(max_at)[:5] if max_at else bytes(5)
        digit = self.spec.register_resolution_kwh
        out = struct.pack("<dd", total_kwh, 0.0) + stime + struct.pack("<d", max_kw)
        for kwh in tiers:
            out += struct.pack("<dd", shown_kwh(kwh, digit), 0.0) + bytes(5) + struct.pack("<d", 0.0)
        return out

    def _history(self) -> bytes:
        """ST74: the newest LOG_ENTRIES entries in a circular list [C layout: termineter log.py]."""
        events = self.memory.events
        slots = [bytes(12)] * LOG_ENTRIES
        for seq, (when, name) in enumerate(events, start=1):
            code = c1219.HISTORY_CODE_BY_NAME[name]
            slots[(seq - 1) % LOG_ENTRIES] = c1219.encode_st52(when) + struct.pack(
                "<HHH", seq & 0xFFFF, 0, code
            )
        valid = min(len(events), LOG_ENTRIES)
        last = (len(events) - 1) % LOG_ENTRIES if events else 0
        head = bytes([0x00]) + struct.pack("<HHIH", valid, last, len(events), valid)
        return head + b"".join(slots)

    def _kwh(self) -> float:
        return registered_kwh(self.physics, self.position)


_CFG = c1219.GeneralConfig(True, 1, 2, 0, 0, 0, "electric", 2, 0)
