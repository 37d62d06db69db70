"""A simulated meter's optical port speaking IEC 62056-21 mode C (data readout), byte for byte.

Facts and sources in :mod:`instruments.protocols.iec62056_21`. What the simulated meter does:

- it listens at 300 baud 7E1; a sign-on ``/?!`` CR LF (or ``/?<its address>!``) is answered with its
  identification ``/MBS5<identification>`` CR LF (``5`` = 9600 baud offered) [C framing];
- ACK ``0 Z 0`` CR LF switches it to baud Z and it sends the data message; then it is back at 300 baud
  waiting for a sign-on [C]/[U]; mode ``1`` (programming) and ``2`` (binary) are not offered: it stays
  silent, as a meter does for a request it does not serve [U];
- anything at another line setting is garbled (no reply); anything else is silence;
- the data readout (OBIS codes, IEC 62056-61): ``0.0.0`` meter address, ``C.1.0`` serial, ``0.2.0``
  firmware, ``1.8.0`` active energy import (delivered) in kWh, ``1.8.1``/``1.8.2`` tariff registers,
  ``2.8.0`` export (received), ``0.9.1`` time ``hh:mm:ss``, ``0.9.2`` date ``YY-MM-DD``, ``F.F`` the error
  register, ``C.7.0`` power-failure count — the registers hold what the simulated meter registered (its
  error included) truncated to its display digit, never the reference's truth;
- demand, tiers, clock and counters from the meter's memory (:mod:`instruments.sim.meter_memory`):
  ``0.8.0`` the demand interval in minutes, ``1.5.0`` the last completed interval's demand and ``1.6.0``
  the maximum demand since the last reset with its time, in kW, ``0.1.0`` the demand-reset count,
  ``1.8.1``/``1.8.2`` the energy registered in each TOU tier, ``C.7.0`` the power failures and ``C.51.0``
  the tamper attempts in its history, ``F.F`` its status flags as a hexadecimal bit mask (the ST3 bit order
  of :data:`instruments.protocols.c1219.STATUS_BITS`; a real meter's F.F bits are the manufacturer's) [U:
  the OBIS value-group meanings (IEC 62056-61) are from public summaries, not confirmed here];
- faults from the bench file: ``meter_port = "dead"`` answers nothing; ``"no-registers"`` reads out
  identity lines only.
"""

from __future__ import annotations

from instruments.protocols import iec62056_21 as p
from instruments.protocols.c1219 import STATUS_BITS
from instruments.sim.meter_memory import memory_for, shown_kwh
from instruments.sim.meterport import registered_kwh
from instruments.sim.protocol import Connection, Reply, SerialSettings, SimInstrument

SIGN_ON = SerialSettings(300, 7, 1, "even")


class SimIec62056Meter(SimInstrument):
    model = "IEC 62056-21 meter port"
    binary = True
    terminations = (b"\r\n",)

    def __init__(self, physics, position: int) -> None:
        super().__init__()
        self.physics, self.position = physics, position
        self.serial = SIGN_ON
        self.memory = memory_for(physics, position) if position in physics.meters else None

    def split(self, buffer: bytearray) -> list[bytes]:
        out = []
        while (i := buffer.find(b"\r\n")) >= 0:
            out.append(bytes(buffer[:i]))
            del buffer[: i + 2]
        if len(buffer) > 256:
            buffer.clear()
        return out

    def on_connect(self, conn: Connection) -> None:
        conn.state["stage"] = "idle"
        self.serial = SIGN_ON

    @property
    def spec(self):
        return self.physics.meters[self.position].spec

    def handle(self, message: str, conn: Connection) -> Reply:
        if self.position not in self.physics.meters:
            return self.silence(f"no meter in socket {self.position}")
        if self.spec.meter_port == "dead":
            return self.fault("the meter's optical port is dead (bench-file fault)")
        st = conn.state
        if message.startswith("/?") and message.endswith("!"):
            address = message[2:-1]
            if address and address != self.spec.serial:
                return self.silence(f"sign-on for address {address!r}, not this meter")
            st["stage"] = "identified"
            return self.reply(f"/MBS5{self.spec.model[:16]}\r\n")
        if st.get("stage") == "identified" and len(message) == 4 and message[0] == chr(p.ACK):
            control, baud, mode = message[1], message[2], message[3]
            if control != "0" or baud not in p.BAUD:
                return self.silence(f"acknowledgement {message[1:]!r} not understood")
            if mode != "0":
                st["stage"] = "idle"
                return self.silence(f"mode {mode!r} (programming/binary) not offered by this meter")
            st["stage"] = "idle"
            self.serial = SerialSettings(p.BAUD[baud], 7, 1, "even")
            out = self.reply(p.data_message(self._lines()).decode("latin-1"))
            self.serial = SIGN_ON  # after the readout the meter waits for a sign-on at 300 baud again
            return out
        return self.silence(f"{message!r} is neither a sign-on nor an acknowledgement")

    def _lines(self) -> list[str]:
        spec, mem = self.spec, self.memory
        now = mem.now()
        flags = sum(1 << STATUS_BITS.index(name) for name in mem.status_flags)
        count = {name: sum(1 for _, e in mem.events if e == name) for name in
                 ("primary power down", "tamper attempt detected")}  # fmt: skip
        lines = [
            f"0.0.0({spec.serial})",
            f"C.1.0({spec.serial})",
            f"0.2.0({spec.firmware})",
            f"F.F({flags:08X})",
            f"0.9.1({now:%H:%M:%S})",
            f"0.9.2({now:%y-%m-%d})",
            f"C.7.0({count['primary power down']:04d})",
            f"C.51.0({count['tamper attempt detected']:04d})",
        ]
        if spec.meter_port != "no-registers":
            kwh = self._kwh()
            tiers = [shown_kwh(t, spec.register_resolution_kwh) for t in mem.tier_kwh()]
            at = f"({mem.max_at:%y-%m-%d %H:%M})" if mem.max_at else ""
            lines += [f"1.8.0({kwh:010.3f}*kWh)"]
            lines += [f"1.8.{k}({t:010.3f}*kWh)" for k, t in enumerate(tiers, start=1)]
            lines += ["2.8.0(000000.000*kWh)", f"0.8.0({mem.interval_s / 60:02.0f}*min)",
                      f"1.5.0({mem.last_kw:07.3f}*kW)", f"1.6.0({mem.max_kw:07.3f}*kW){at}",
                      f"0.1.0({mem.resets:02d})"]  # fmt: skip
        return lines

    def _kwh(self) -> float:
        return registered_kwh(self.physics, self.position)
