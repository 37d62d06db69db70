"""ANSI C12.18 (PSEM over the optical port): the facts of the protocol, shared by the driver and the
simulated meter. No I/O here.

Sources. The standard itself (ANSI C12.18-2006, "Protocol Specification for ANSI Type 2 Optical Port") is
paywalled; every fact below is from termineter (BSD-3-Clause, github.com/rsmusllp/termineter @ a802f94),
``lib/c1218/data.py``, ``lib/c1218/utilities.py`` and ``lib/c1218/connection.py``, which implements the
protocol against real meters, unless marked [U] (from the standard's public summaries, not confirmed in a
public implementation):

- a packet is ``EE <identity> <control> <sequence> <length: 2 bytes big-endian> <data> <crc: 2 bytes>``;
  the length never exceeds 8183 (``C1218Packet``) [C];
- the CRC is CRC-16/X-25 ("CRC_HDLC": polynomial 0x1021 reflected, start 0xFFFF, complemented), over every
  byte before it, sent low byte first (``packet_checksum``: ``struct.pack('<H', …)``) [C];
- every packet is answered by one byte, ACK 0x06 or NAK 0x15; the sender retries after a NAK
  (``connection.send``) [C]; 3 retries and a 2 s response timeout [U: the standard's defaults];
- bit 5 (0x20) of the control byte toggles from one packet to the next (``toggle_control``) [C]; a receiver
  that sees the same toggle twice has a duplicate (it ACKs and drops it) [U];
- requests: identify 0x20, terminate 0x21, full read 0x30 ``<table:2>``, partial read 0x3F
  ``<table:2><offset:3><count:2>``, full write 0x40 ``<table:2><count:2><data><cksum>``, partial write
  0x4F, logon 0x50 ``<user id:2><user:10>``, security 0x51 ``<password:20>``, logoff 0x52, negotiate
  0x60 ``<packet size:2><packets:1>`` or 0x61…0x6B with one baud-rate byte, wait 0x70 ``<seconds>`` [C];
- responses start with a code: 0 ok, 1 err, 2 sns (service not supported), 3 isc (insufficient security
  clearance), 4 onp (operation not possible), 5 iar (inappropriate action requested), 6 bsy, 7 dnr (data
  not ready), 8 dlk (data locked), 9 rno (renegotiate), 10 isss (invalid service sequence state) [C];
- a read answers ``00 <count:2> <data> <cksum>``, the checksum being the two's complement of the data's
  byte sum (``data_checksum``) [C];
- baud-rate codes 1..10 = 300, 600, 1200, 2400, 4800, 9600, 14400, 19200, 28800, 57600 [C].
"""

from __future__ import annotations

import struct

START = 0xEE
ACK, NAK = 0x06, 0x15
TOGGLE = 0x20
MAX_DATA = 8183

IDENT, TERMINATE, READ, READ_PARTIAL, WRITE, WRITE_PARTIAL = 0x20, 0x21, 0x30, 0x3F, 0x40, 0x4F
LOGON, SECURITY, LOGOFF, NEGOTIATE, WAIT = 0x50, 0x51, 0x52, 0x60, 0x70

RESPONSES = {
    0: "ok",
    1: "err (error)",
    2: "sns (service not supported)",
    3: "isc (insufficient security clearance)",
    4: "onp (operation not possible)",
    5: "iar (inappropriate action requested)",
    6: "bsy (device busy)",
    7: "dnr (data not ready)",
    8: "dlk (data locked)",
    9: "rno (renegotiate request)",
    10: "isss (invalid service sequence state)",
}
OK, ERR, SNS, ISC, ONP, IAR, BSY, DNR, DLK, RNO, ISSS = range(11)
BAUD_CODES = {1: 300, 2: 600, 3: 1200, 4: 2400, 5: 4800, 6: 9600, 7: 14400, 8: 19200, 9: 28800, 10: 57600}


def crc16(data: bytes) -> int:
    """CRC-16/X-25 (HDLC): reflected 0x1021, start 0xFFFF, complemented."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc ^ 0xFFFF


def data_checksum(data: bytes) -> int:
    """The one-byte checksum after a table's data: the two's complement of the byte sum."""
    return (-sum(data)) & 0xFF


def packet(data: bytes, *, control: int = 0x00, identity: int = 0x00, sequence: int = 0x00) -> bytes:
    if len(data) > MAX_DATA:
        raise ValueError(f"a C12.18 packet carries at most {MAX_DATA} bytes")
    head = bytes([START, identity, control, sequence]) + struct.pack(">H", len(data)) + data
    return head + struct.pack("<H", crc16(head))


def take_packet(buffer: bytearray) -> tuple[str, bytes] | None:
    """The next whole unit from a byte stream: ("ack"|"nak", b"") for a one-byte answer, ("packet", raw)
    for a packet, ("noise", bytes) for bytes before a start byte; None until more bytes arrive."""
    if not buffer:
        return None
    first = buffer[0]
    if first in (ACK, NAK):
        del buffer[0]
        return ("ack" if first == ACK else "nak"), b""
    if first != START:
        cut = next((i for i, b in enumerate(buffer) if b in (START, ACK, NAK)), len(buffer))
        noise = bytes(buffer[:cut])
        del buffer[:cut]
        return "noise", noise
    if len(buffer) < 6:
        return None
    length = struct.unpack(">H", bytes(buffer[4:6]))[0]
    if length > MAX_DATA:
        del buffer[0]
        return "noise", bytes([START])
    total = 6 + length + 2
    if len(buffer) < total:
        return None
    raw = bytes(buffer[:total])
    del buffer[:total]
    return "packet", raw


def crc_ok(raw: bytes) -> bool:
    return len(raw) >= 8 and struct.unpack("<H", raw[-2:])[0] == crc16(raw[:-2])


def packet_data(raw: bytes) -> bytes:
    return raw[6:-2]
