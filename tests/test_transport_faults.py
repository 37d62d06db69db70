"""Faults on the real I/O path: simulated instruments served over a real TCP socket (pyvisa-py's
``TCPIP::…::SOCKET`` and pyserial's ``ASRLsocket://`` serial transport). Timeouts of 0.5 s keep each test
fast; every test asserts how long the failure took to surface and that the source ends up off."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from instruments.bench import open_bench
from instruments.errors import ConnectionLost, InstrumentError, InstrumentTimeout, UnparseableReply
from instruments.interfaces import PhaseSetting
from instruments.sim.transport import EmulatorServer, attach_real_transport

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 0.5


def _energise(bench, volts: float, amps: float) -> None:
    lags = (0.0, 120.0, 240.0)
    bench.source.apply(
        {p: PhaseSetting(volts, lag, amps, lag) for p, lag in zip("ABC", lags, strict=True)}, 60.0
    )
    bench.source.output_on()


@pytest.fixture
def com_bench():
    """Fluke source on its (simulated GPIB) link; the COM5003 reference + calculators over real TCP."""
    with open_bench(ROOT / "examples/zera-com5003.toml") as bench:
        server = attach_real_transport(bench, "reference", kind="tcp", timeout_ms=int(TIMEOUT_S * 1000))
        yield bench, server


@pytest.fixture
def mt_bench():
    """The MT7xx (source, reference, calculator in one box) over a serial link through a socket."""
    with open_bench(ROOT / "examples/zera-mt7xx.toml") as bench:
        server = attach_real_transport(bench, "source", kind="serial", timeout_ms=int(TIMEOUT_S * 1000))
        yield bench, server


def test_the_real_tcp_path_answers_like_the_simulated_link(com_bench):
    bench, server = com_bench
    assert server.tcp_resource in bench.reference.name
    assert bench.reference.identify() == "ZERA GmbH Koenigswinter, COM5003, SIM0053, sim-release"
    _energise(bench, 120.0, 2.5)
    assert bench.reference.read().watts == pytest.approx(900.0, rel=1e-3)


def test_no_reply_over_tcp_is_a_timeout_within_the_timeout(com_bench):
    bench, _ = com_bench
    bench.simulator.inject("reference", "no_reply", "MEASURE:RNG1:F?")
    t0 = time.monotonic()
    with pytest.raises(InstrumentTimeout) as exc:
        bench.reference.read()
    assert time.monotonic() - t0 < TIMEOUT_S + 0.5
    assert exc.value.command == "MEASURE:RNG1:F?"


def test_garbage_over_tcp_is_an_unparseable_reply(com_bench):
    bench, _ = com_bench
    bench.simulator.inject("reference", "garbage", "*IDN?")
    with pytest.raises(UnparseableReply) as exc:
        bench.reference.identify()
    assert exc.value.command == "*IDN?"


def test_dropped_tcp_connection_mid_gate_fails_fast_and_the_other_links_source_goes_off(com_bench):
    bench, server = com_bench
    _energise(bench, 120.0, 2.5)
    calc = bench.calculators[1]
    calc.configure(0.15, 40)
    calc.start()
    assert calc.poll()[0] == "running"
    server.drop()
    t0 = time.monotonic()
    with pytest.raises(InstrumentError):
        calc.poll()
    assert time.monotonic() - t0 < TIMEOUT_S + 0.5
    errors = bench.safe_state()  # the COM5003 is unreachable; the Fluke source is not
    assert not bench.simulator.physics.output_on
    assert all(isinstance(e, InstrumentError) for e in errors)


def test_serial_link_drop_mid_gate_then_safe_state_reconnects_and_switches_the_mt_off(mt_bench):
    bench, server = mt_bench
    assert bench.source.identify() == "MT786V05.52"
    _energise(bench, 277.0, 30.0)
    assert bench.simulator.physics.output_on
    calc = bench.calculators[1]
    calc.configure(1.8, 40)
    calc.start()
    server.drop_on = "AES1"  # the link dies when the gate status is asked
    t0 = time.monotonic()
    with pytest.raises((ConnectionLost, InstrumentTimeout)):
        calc.poll()
    assert time.monotonic() - t0 < TIMEOUT_S + 0.5
    server.drop_on = None
    assert bench.safe_state() == []  # reconnected: all phases off, gate aborted
    assert not bench.simulator.physics.output_on
    assert server.connections_served == 2


def test_mt_safe_state_raises_when_the_link_stays_down(mt_bench):
    bench, server = mt_bench
    _energise(bench, 277.0, 30.0)
    server.refuse = True
    server.drop()
    errors = bench.safe_state()
    assert errors and isinstance(errors[0], InstrumentError)  # reported, never silently "safe"
    assert bench.simulator.physics.output_on  # truly still on: the technician must use the E-stop


def test_the_emulator_stops_by_itself_after_its_lifetime(com_bench):
    bench, _ = com_bench
    server = EmulatorServer(bench.simulator.devices["reference"], lifetime_s=0.2)
    port = server.port
    time.sleep(0.5)
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
        s.sendall(b"*IDN?\n")
        if not s.recv(64):
            raise ConnectionResetError("closed")
    server.stop()


def test_engine_run_on_the_serial_mt_survives_a_drop_mid_gate_with_the_output_off(tmp_path):
    """The whole engine on the real serial path: the link dies at the first gate-status query; the run
    ends in error, and the MT (source on that very link) is off before the run's end is recorded."""
    from bench.kernel import KernelSettings, RunKernel
    from bench.records import RecordStore
    from bench.session import meters_from_bench
    from procedures.plans import load_plan

    store = RecordStore.open(f"sqlite:///{tmp_path / 'records.sqlite'}")
    with open_bench(ROOT / "examples/zera-mt7xx.toml") as bench:
        server = attach_real_transport(bench, "source", kind="serial", timeout_ms=int(TIMEOUT_S * 1000))
        physics = bench.simulator.physics
        at_finish = []
        finish_run = store.finish_run

        def spy_finish(*a, **kw):
            at_finish.append(physics.output_on)
            return finish_run(*a, **kw)

        store.finish_run = spy_finish

        def listener(ev):
            if ev.kind == "stabilised" and server.drop_on is None:
                assert physics.output_on
                server.drop_on = "AES1"

        engine = RunKernel(bench, store, load_plan("ansi-c12.20-16s"), meters_from_bench(bench.config),
                        operator="test", settings=KernelSettings(), listeners=[listener])  # fmt: skip
        t0 = time.monotonic()
        out = engine.run()
        assert time.monotonic() - t0 < 10
        assert out.outcome == "error" and "AES1" in out.message
        assert physics.output_on is False and at_finish == [False]
        assert server.connections_served >= 2  # the safe state reconnected to switch the MT off
    store.close()
