"""IEC 62056-21 mode C optical heads: sign-on at 300 baud 7E1, baud change, a checked data readout, and
the IEC plan's register points reading the meters' own registers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import pyvisa

from bench.cli import main
from instruments.bench import open_bench
from instruments.errors import InstrumentTimeout, UnparseableReply
from instruments.protocols import iec62056_21 as p
from instruments.sim.iec62056_21 import SimIec62056Meter
from instruments.sim.library import CoupledSimLibrary

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "iec-optical-62056.toml"


def test_the_data_message_frame_and_its_block_check():
    msg = p.data_message(["1.8.0(000123.456*kWh)", "0.9.1(12:00:00)"])
    assert msg[0] == p.STX and msg[-2] == p.ETX
    assert p.bcc(msg[1:-1]) == msg[-1]
    assert p.parse_lines(msg[1:-2].decode()) == {"1.8.0": ("000123.456", "kWh"), "0.9.1": ("12:00:00", "")}
    with pytest.raises(ValueError, match="not a data line"):
        p.parse_lines("garbage\r\n")


def _raw(baud=300, bits=7, parity=pyvisa.constants.Parity.even):
    bench = open_bench(EXAMPLE)
    meter = SimIec62056Meter(bench.simulator.physics, 1)
    lib = CoupledSimLibrary.create()
    lib.attach_instrument("ASRL30::INSTR", meter)
    rm = pyvisa.ResourceManager(lib)
    res = rm.open_resource("ASRL30::INSTR", read_termination="\r\n", write_termination="\r\n", timeout=200)
    res.baud_rate, res.data_bits, res.parity = baud, bits, parity
    res.stop_bits = pyvisa.constants.StopBits.one
    return bench, rm, res, meter


def test_sign_on_at_300_7e1_gets_the_identification():
    bench, rm, res, meter = _raw()
    try:
        ident = res.query("/?!")
        assert ident.startswith("/MBS5") and "SIM-IEC1" in ident
    finally:
        rm.close()
        bench.close()


@pytest.mark.refusals_ok
def test_sign_on_at_8n1_or_9600_is_garbled():
    for kwargs in ({"bits": 8, "parity": pyvisa.constants.Parity.none}, {"baud": 9600}):
        bench, rm, res, meter = _raw(**kwargs)
        try:
            with pytest.raises(pyvisa.errors.VisaIOError):
                res.query("/?!")
            assert "garbled" in meter.refusals()[0].why
        finally:
            rm.close()
            bench.close()


def test_identity_registers_status_and_clock_through_the_head():
    with open_bench(EXAMPLE) as bench:
        port = bench.meter_ports[2]
        ident = port.identity()
        assert ident["serial"] == "SIMIEC-0002" and ident["manufacturer"] == "MBS"
        assert ident["protocol"] == "IEC 62056-21 mode C" and ident["firmware"] == "2.3"
        regs = port.registers()
        assert regs["kWh_delivered"] == 0.0 and regs["kWh_received"] == 0.0 and "kWh_tier1" in regs
        assert port.status() == []
        assert port.clock().year == 2026


def test_a_broken_block_check_is_read_again_then_refused():
    class Broken(SimIec62056Meter):
        def handle(self, message, conn):
            r = super().handle(message, conn)
            if r.lines and r.lines[0].startswith("\x02"):
                text = r.lines[0]
                r.lines = (text[:-1] + chr(ord(text[-1]) ^ 0x01),)
            return r

    import instruments.drivers.iec62056_21 as drv
    from instruments.drivers import DriverContext

    with open_bench(EXAMPLE) as bench:
        meter = Broken(bench.simulator.physics, 1)
        lib = CoupledSimLibrary.create()
        lib.attach_instrument("ASRL31::INSTR", meter)
        rm = pyvisa.ResourceManager(lib)
        port = drv.Iec62056Driver(DriverContext(rm.open_resource("ASRL31::INSTR"), "head 1", bench.clock, {}))
        with pytest.raises(UnparseableReply, match="block check"):
            port.meter_ports((1,))[1].registers()
        assert sum(1 for e in meter.log if e.message.startswith("2f 3f")) == drv.TRIES  # read again, 3 times
        rm.close()


def test_a_dead_head_times_out_naming_the_port(tmp_path):
    text = EXAMPLE.read_text().replace('model = "SIM-IEC1"', 'model = "SIM-IEC1"\nmeter_port = "dead"', 1)
    path = tmp_path / "bench.toml"
    path.write_text(text)
    with open_bench(path) as bench, pytest.raises(InstrumentTimeout, match="meter_ports"):
        bench.meter_ports[1].registers()


def test_the_iec_plans_register_points_read_the_meters_registers(tmp_path):
    db = f"sqlite:///{tmp_path / 'r.sqlite'}"
    out = tmp_path / "run.json"
    code = main(["run", "--bench", str(EXAMPLE), "--plan", "iec-62053-21-direct", "--db", db, "--json", str(out),
                 "--no-certificates"])  # fmt: skip
    doc = json.loads(out.read_text())
    regs = doc["register"]
    assert regs and all(r["status"] == "done" for r in regs)
    assert all(r["advance_kwh"] > 0.1 for r in regs)
    assert code == 0 and doc["run"]["outcome"] == "passed"
