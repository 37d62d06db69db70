"""Every simulated instrument's YAML opens in plain pyvisa-sim (no MeterBench code) and speaks its
command set there; the coupled library answers the same commands from the physics."""

from __future__ import annotations

from pathlib import Path

import pytest
import pyvisa

SIM = Path(__file__).resolve().parents[1] / "instruments" / "sim"
YAMLS = sorted(SIM.glob("*.yaml"))


def test_there_is_a_yaml_per_simulated_driver():
    from instruments.registry import drivers

    for spec in drivers().values():
        if spec.sim_instrument is not None:  # a protocol simulator (instruments/sim/protocol.py), no YAML
            continue
        assert spec.sim_yaml is not None and spec.sim_yaml.exists(), spec.name
    assert {p.name for p in YAMLS} >= {"fluke6100.yaml", "pulsecounter.yaml"}


@pytest.mark.parametrize("path", YAMLS, ids=[p.stem for p in YAMLS])
def test_yaml_opens_in_plain_pyvisa_sim(path):
    rm = pyvisa.ResourceManager(f"{path}@sim")
    try:
        names = rm.list_resources()
        assert names, f"{path.name} defines no INSTR resource"
        for name in names:
            res = rm.open_resource(name, read_termination="\n", write_termination="\n", timeout=500)
            assert res.query("*IDN?").count(",") == 3
            assert res.query("SYST:ERR?").startswith("0,")
            res.write("NOT:A:COMMAND 1")
            assert res.query("SYST:ERR?").startswith("-100,")
            res.close()
    finally:
        rm.close()


def test_fluke_yaml_remembers_settings_in_plain_pyvisa_sim():
    rm = pyvisa.ResourceManager(f"{SIM / 'fluke6100.yaml'}@sim")
    try:
        res = rm.open_resource("GPIB0::17::INSTR", read_termination="\n", write_termination="\n", timeout=500)
        res.write("SOUR:PHAS2:CURR:MHAR:HARM1 5,-60")
        assert res.query("SOUR:PHAS2:CURR:MHAR:HARM1?") == "5,-60"
        res.write("OUTP:STAT ON")
        assert res.query("OUTP:STAT?") == "ON"
        res.write("OUTP:STAT OFF")
    finally:
        rm.close()


def test_pulsecounter_yaml_has_48_positions():
    rm = pyvisa.ResourceManager(f"{SIM / 'pulsecounter.yaml'}@sim")
    try:
        (name,) = rm.list_resources()
        res = rm.open_resource(name, read_termination="\n", write_termination="\n", timeout=500)
        res.write("POS48:CONF 0.6,12")
        assert res.query("POS48:CONF?") == "0.6,12"
        assert res.query("POS48:STAT?") == "IDLE,0.000"
    finally:
        rm.close()
