"""Every simulated instrument's YAML opens in plain pyvisa-sim (no MeterBench code) and speaks its
command set there; the coupled library answers the same commands from the physics."""

from __future__ import annotations

from pathlib import Path

import pytest
import pyvisa

SIM = Path(__file__).resolve().parents[1] / "instruments" / "sim"
YAMLS = sorted(SIM.glob("*.yaml"))


def test_every_driver_has_a_simulation():
    """A YAML definition, or a simulator written from the instrument's protocol (``sim_instrument``)."""
    from instruments.registry import drivers

    for spec in drivers().values():
        has_yaml = spec.sim_yaml is not None and spec.sim_yaml.exists()
        assert has_yaml or spec.sim_instrument is not None, spec.name


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


def test_sim_counter_yaml_has_48_positions():
    rm = pyvisa.ResourceManager(f"{SIM / 'sim_counter.yaml'}@sim")
    try:
        (name,) = rm.list_resources()
        res = rm.open_resource(name, read_termination="\n", write_termination="\n", timeout=500)
        res.write("POS48:CONF 0.6,12")
        assert res.query("POS48:CONF?") == "0.6,12"
        assert res.query("POS48:STAT?") == "IDLE,0.000,-1"  # -1: no gate opened
    finally:
        rm.close()
