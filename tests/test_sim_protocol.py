"""The simulator base: framing, serial settings, refusals and the log, in process and over real sockets."""

from __future__ import annotations

import pytest
import pyvisa

from instruments.sim.library import CoupledSimLibrary, Fault
from instruments.sim.protocol import SerialSettings, SimInstrument
from instruments.sim.transport import EmulatorServer


class EchoCR(SimInstrument):
    """A CR-framed serial instrument at 9600 8N2: ``PING`` -> ``PONG``; anything else is ignored."""

    model = "echo"
    terminations = (b"\r",)
    reply_termination = b"\r"
    serial = SerialSettings(9600, 8, 2, "none")

    def handle(self, message, conn):
        if message == "PING":
            return self.reply("PONG")
        if message == "HELLO":
            return self.reply(f"HI {conn.number}")
        return self.silence("unknown command: no reply")


def _open(resource: str, instrument: SimInstrument):
    lib = CoupledSimLibrary.create()
    device = lib.attach_instrument(resource, instrument)
    rm = pyvisa.ResourceManager(lib)
    return rm, rm.open_resource(resource), device


def _serial(res, *, baud=9600, stop=pyvisa.constants.StopBits.two, term="\r"):
    res.baud_rate, res.data_bits, res.stop_bits = baud, 8, stop
    res.parity = pyvisa.constants.Parity.none
    res.read_termination = res.write_termination = term
    res.timeout = 100
    res.encoding = "latin-1"


def test_right_framing_and_line_settings_get_a_reply():
    inst = EchoCR()
    rm, res, _ = _open("ASRL3::INSTR", inst)
    _serial(res)
    assert res.query("PING") == "PONG"
    assert inst.refusals() == []
    rm.close()


def test_lf_to_a_cr_instrument_is_never_a_message():
    inst = EchoCR()
    rm, res, _ = _open("ASRL3::INSTR", inst)
    _serial(res, term="\n")
    with pytest.raises(pyvisa.errors.VisaIOError):
        res.query("PING")
    assert inst.log == []  # the instrument never saw a complete line
    rm.close()


@pytest.mark.refusals_ok
def test_wrong_stop_bits_garble_the_line_and_the_log_says_why():
    inst = EchoCR()
    rm, res, _ = _open("ASRL3::INSTR", inst)
    _serial(res, stop=pyvisa.constants.StopBits.one)
    with pytest.raises(pyvisa.errors.VisaIOError):
        res.query("PING")
    (refusal,) = inst.refusals()
    assert "9600 baud 8N2" in refusal.why and "garbled" in refusal.why
    rm.close()


@pytest.mark.refusals_ok
def test_unknown_command_is_silence_and_a_logged_refusal():
    inst = EchoCR()
    rm, res, _ = _open("ASRL3::INSTR", inst)
    _serial(res)
    with pytest.raises(pyvisa.errors.VisaIOError):
        res.query("FOO")
    assert [e.message for e in inst.refusals()] == ["FOO"]
    inst.expect_refusal("FOO")
    assert inst.refusals() == []
    rm.close()


def test_injected_faults_are_not_the_drivers_refusals():
    inst = EchoCR()
    rm, res, device = _open("ASRL3::INSTR", inst)
    _serial(res)
    device.faults.append(Fault("garbage", "PING"))
    assert res.query("PING") != "PONG"
    device.faults[:] = [Fault("refused", "SET")]
    res.write("SET 1")
    assert inst.refusals() == [] and inst.refusals(include_injected=True)
    rm.close()


@pytest.mark.refusals_ok
def test_served_on_a_real_socket_each_client_is_its_own_connection():
    inst = EchoCR()
    lib = CoupledSimLibrary.create()
    device = lib.attach_instrument("ASRL3::INSTR", inst)
    with EmulatorServer(device, lifetime_s=20) as server:
        rm = pyvisa.ResourceManager("@py")
        a = rm.open_resource(server.tcp_resource, read_termination="\r", write_termination="\r", timeout=2000)
        b = rm.open_resource(server.tcp_resource, read_termination="\r", write_termination="\r", timeout=2000)
        assert a.query("PING") == "PONG"
        first, second = a.query("HELLO"), b.query("HELLO")
        assert first != second and first.startswith("HI ") and second.startswith("HI ")
        b.timeout = 200
        with pytest.raises(pyvisa.errors.VisaIOError):
            b.query("FOO")
        assert [e.message for e in inst.refusals()] == ["FOO"]
        rm.close()
