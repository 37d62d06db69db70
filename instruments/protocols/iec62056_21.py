"""IEC 62056-21 (formerly IEC 61107) mode C: the facts of the optical-port data readout, shared by the
driver and the simulated meter. No I/O here.

Sources. [C] j62056 (openmuc / Fraunhofer ISE, LGPL-2.1, github.com/beulenbilly/j62056 @ 5ad0bab),
``impl/AbstractConnection.java`` and ``impl/ModeCConnection.java``, which read real meters:

- the sign-on is ``/?!`` CR LF at 300 baud, 7 data bits, even parity, 1 stop bit (``REQUEST_MESSAGE``,
  ``setSerialPortParams(300, DATABITS_7, STOPBITS_1, PARITY_EVEN)``) [C];
- the meter identifies itself with ``/XXXZ<identification>`` CR LF: a 3-letter manufacturer code, the
  baud-rate character Z, then up to 16 characters (``convert``) [C];
- the host acknowledges with ACK ``0 Z 0`` CR LF (protocol control 0, the baud character, mode 0 = data
  readout) (``ACKNOWLEDGE``) and both sides switch to the baud rate Z [C];
- the data message is STX, data lines ``<address>(<value>[*<unit>])`` each ending CR LF, ``!`` CR LF, ETX
  and one block check character (``MESSAGE_COMPLETION_CHARACTERS``, ``readDataSets``) [C];
- baud characters ``0``…``6`` = 300, 600, 1200, 2400, 4800, 9600, 19200 (``BaudRate``) [C].

[U], from the standard's published description, not confirmed in that implementation (it skips the
BCC): the BCC is the XOR of every byte after STX up to and including ETX; a meter returns to its
300-baud sign-on state after the data message or after 1.5 s without traffic; ``/?<address>!`` addresses
one meter of several.
"""

from __future__ import annotations

import re

STX, ETX, ACK, NAK, SOH = 0x02, 0x03, 0x06, 0x15, 0x01
BAUD = {"0": 300, "1": 600, "2": 1200, "3": 2400, "4": 4800, "5": 9600, "6": 19200}
SIGN_ON_BAUD = 300
LINE = re.compile(r"^(?P<address>[^()]*)\((?P<value>[^()*]*)(?:\*(?P<unit>[^()]*))?\)")


def bcc(data: bytes) -> int:
    """XOR of the bytes after STX up to and including ETX."""
    out = 0
    for b in data:
        out ^= b
    return out & 0x7F


def data_message(lines: list[str]) -> bytes:
    body = "".join(line + "\r\n" for line in lines) + "!\r\n"
    block = body.encode("ascii") + bytes([ETX])
    return bytes([STX]) + block + bytes([bcc(block)])


def parse_lines(text: str) -> dict[str, tuple[str, str]]:
    """``address -> (value, unit)`` from a data block's lines; lines that are not data sets raise."""
    out: dict[str, tuple[str, str]] = {}
    for raw in text.split("\r\n"):
        if not raw or raw == "!":
            continue
        m = LINE.match(raw)
        if not m:
            raise ValueError(f"not a data line: {raw!r}")
        out[m["address"]] = (m["value"], m["unit"] or "")
    return out
