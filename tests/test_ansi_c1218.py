"""ANSI C12.18 / C12.19 optical port: the packet rules, the simulated meter's refusals, the driver's
retries, and the register test reading a meter's own register through the port (in process and over a
real socket)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
import pyvisa

from bench.cli import main
from instruments.bench import open_bench
from instruments.benchfile import load_bench_config
from instruments.clock import VirtualClock
from instruments.errors import CommandRefused, InstrumentTimeout, UnconfirmedCommand
from instruments.protocols import c1218, c1219
from instruments.sim.ansi_c1218 import SimC1218Meter
from instruments.sim.library import CoupledSimLibrary
from instruments.sim.serve import serve_bench

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "2s-optical-c1218.toml"


def test_crc_is_x25_with_the_catalogue_check_value():
    # CRC-16/X-25 check value over "123456789" (the CRC catalogue's test vector)
    assert c1218.crc16(b"123456789") == 0x906E
    frame = c1218.packet(b"\x20")
    assert frame[:6] == bytes([0xEE, 0, 0, 0, 0, 1]) and c1218.crc_ok(frame)
    assert not c1218.crc_ok(frame[:-1] + bytes([frame[-1] ^ 1]))


def _raw_meter():
    """The simulated meter of socket 1 on a raw serial session (bytes in, bytes out)."""
    bench = open_bench(EXAMPLE)
    meter = SimC1218Meter(bench.simulator.physics, 1)
    lib = CoupledSimLibrary.create()
    lib.attach_instrument("ASRL20::INSTR", meter)
    rm = pyvisa.ResourceManager(lib)
    res = rm.open_resource("ASRL20::INSTR", read_termination="", write_termination="", timeout=200)
    res.baud_rate, res.data_bits, res.stop_bits = 9600, 8, pyvisa.constants.StopBits.one
    res.parity = pyvisa.constants.Parity.none
    return bench, rm, res, meter


def _ask(res, data: bytes, toggle: int) -> tuple[int, bytes]:
    res.write_raw(c1218.packet(data, control=0x20 if toggle else 0))
    ack = res.read_bytes(1)[0]
    head = res.read_bytes(6)
    body = res.read_bytes(struct.unpack(">H", head[4:6])[0] + 2)
    res.write_raw(b"\x06")
    return ack, (head + body)[6:-2]


@pytest.mark.refusals_ok
def test_the_simulated_meter_refuses_as_the_protocol_says():
    bench, rm, res, meter = _raw_meter()
    try:
        # a read before identify is out of sequence
        ack, body = _ask(res, bytes([c1218.READ, 0, 23]), 0)
        assert ack == c1218.ACK and body[0] == c1218.ISSS
        # a packet with a broken CRC is NAKed and nothing else comes back
        bad = bytearray(c1218.packet(bytes([c1218.IDENT])))
        bad[-1] ^= 0xFF
        res.write_raw(bytes(bad))
        assert res.read_bytes(1) == b"\x15"
        with pytest.raises(pyvisa.errors.VisaIOError):
            res.read_bytes(1)
        assert _ask(res, bytes([c1218.IDENT]), 1)[1][0] == c1218.OK
        assert _ask(res, bytes([c1218.LOGON, 0, 0]) + b"x".ljust(10), 0)[1][0] == c1218.OK
        # a table the meter does not have, and an unknown service
        assert _ask(res, bytes([c1218.READ, 0x07, 0xD0]), 1)[1][0] == c1218.ONP
        assert _ask(res, bytes([0x99]), 0)[1][0] == c1218.SNS
        # the same toggle bit twice is a repeat: answered again, not executed again
        ack1, first = _ask(res, bytes([c1218.READ, 0, 1]), 1)
        ack2, again = _ask(res, bytes([c1218.READ, 0, 5]), 1)
        assert first == again
        why = [e.why for e in meter.log if not e.accepted]
        assert any("CRC" in w for w in why) and any("isss" in w for w in why)
    finally:
        rm.close()
        bench.close()


@pytest.mark.refusals_ok
def test_wrong_serial_settings_get_no_answer_and_the_driver_says_so(tmp_path):
    text = EXAMPLE.read_text().replace(
        "positions = [1]\n",
        "positions = [1]\n[instruments.meter_ports.transport]\nbaud_rate = 300\ntimeout_ms = 100\n",
        1,
    )
    path = tmp_path / "bench.toml"
    path.write_text(text)
    with open_bench(path) as bench:
        with pytest.raises(InstrumentTimeout, match="meter_ports"):
            bench.meter_ports[1].identity()
        assert bench.meter_ports[2].identity()["serial"] == "SIM2S-0002"


def test_identity_status_clock_and_registers_through_the_port():
    with open_bench(EXAMPLE) as bench:
        port = bench.meter_ports[1]
        ident = port.identity()
        assert ident["serial"] == "SIM2S-0001" and ident["model"] == "SIM-2S"
        assert "C12.18" in ident["protocol"]
        assert port.status() == []
        assert port.clock().year == 2026
        regs = port.registers()
        assert regs["kWh_delivered"] == 0.0 and regs["kWh_received"] == 0.0
        with pytest.raises(UnconfirmedCommand, match="allow_unconfirmed"):
            port.demand_reset()


@pytest.mark.refusals_ok
def test_procedures_need_the_shops_opt_in_and_the_password(tmp_path):
    text = EXAMPLE.read_text().replace("positions = [1]\n", "positions = [1]\nallow_unconfirmed = true\n", 1)
    path = tmp_path / "bench.toml"
    path.write_text(text)
    with open_bench(path) as bench:
        port = bench.meter_ports[1]
        with pytest.raises(CommandRefused, match="insufficient security"):
            port.demand_reset()  # no password configured: the meter refuses a write without security
    text = text.replace(
        "allow_unconfirmed = true\n",
        'allow_unconfirmed = true\n[instruments.meter_ports.options]\npassword_hex = "00"\n',
        1,
    )
    path.write_text(text)
    with open_bench(path) as bench:
        port = bench.meter_ports[1]
        port.demand_reset()
        assert port.registers()["demand_resets"] == 1.0
        from datetime import datetime

        port.set_clock(datetime(2026, 12, 1, 8, 30, 0))
        assert port.clock().replace(second=0) == datetime(2026, 12, 1, 8, 30)


@pytest.mark.refusals_ok
def test_a_crc_error_on_the_way_back_is_nakked_and_read_again():
    class OnceBroken(SimC1218Meter):
        broken = False

        def handle(self, message, conn):
            reply = super().handle(message, conn)
            if not self.broken and len(reply.lines) == 2:
                self.broken = True
                pkt = bytearray(reply.lines[1].encode("latin-1"))
                pkt[-1] ^= 0xFF
                conn.state["last"] = bytes(pkt[:-1]) + bytes([pkt[-1] ^ 0xFF])  # the good copy on NAK
                return type(reply)((reply.lines[0], bytes(pkt).decode("latin-1")), reply.accepted, reply.why)
            return reply

    import instruments.drivers.ansi_c1218 as drv

    with open_bench(EXAMPLE) as bench:
        meter = OnceBroken(bench.simulator.physics, 1)
        lib = CoupledSimLibrary.create()
        lib.attach_instrument("ASRL21::INSTR", meter)
        rm = pyvisa.ResourceManager(lib)
        from instruments.drivers import DriverContext

        res = rm.open_resource("ASRL21::INSTR")
        port = drv.C1218Driver(DriverContext(res, "probe 1", bench.clock, {})).meter_ports((1,))[1]
        assert port.identity()["serial"] == "SIM2S-0001"
        assert meter.broken
        rm.close()


def test_register_points_read_the_meters_register_through_c1218(tmp_path):
    db = f"sqlite:///{tmp_path / 'r.sqlite'}"
    out = tmp_path / "run.json"
    code = main(["run", "--bench", str(EXAMPLE), "--plan", "ansi-c12.20-2s-register", "--db", db,
                 "--json", str(out), "--no-certificates"])  # fmt: skip
    doc = json.loads(out.read_text())
    regs = doc["register"]
    assert regs and all(r["status"] == "done" for r in regs)
    for r in regs:
        # the register advanced by what the meter registered; its error is measured, within U of FL truth
        assert r["advance_kwh"] > 1.0
        assert abs(r["error_percent"]) <= r["expanded_uncertainty_percent"] + 0.15
    assert code in (0, 1)


def test_the_port_over_a_real_socket_as_a_shop_connects_it(tmp_path):
    mad = (ROOT / "examples" / "2s-fluke-mad.toml").read_text()
    calcs = mad[mad.index("[[instruments.calculators]]") : mad.index("[simulation]")]
    text = EXAMPLE.read_text()
    text = text[: text.index("[instruments.calculators]")] + calcs + text[text.index("# One ANSI Type 2") :]
    (tmp_path / "sim.toml").write_text(text)
    clock = VirtualClock()
    with serve_bench(load_bench_config(tmp_path / "sim.toml"), clock, lifetime_s=60) as served:
        path = tmp_path / "served.toml"
        path.write_text(served.bench_toml())
        assert "[[instruments.meter_ports]]" in path.read_text()
        with open_bench(path, clock=clock) as bench:
            assert bench.simulator is None
            assert bench.meter_ports[3].identity()["serial"] == "SIM2S-0003"
            assert bench.meter_ports[3].registers()["kWh_delivered"] == 0.0


def test_table_decoding_refuses_formats_it_does_not_know():
    cfg = c1219.GeneralConfig(True, 1, 3, 0, 5, 5, "electric", 2, 0)
    with pytest.raises(c1219.TableFormatError, match="ST23"):
        c1219.decode_st23(b"\x00" * 20, cfg, c1219.RegisterLayout(0, 1, 0, 0, 1, 0))
    with pytest.raises(c1219.TableFormatError, match="ST52"):
        c1219.decode_st52(b"\x00" * 6, cfg)
