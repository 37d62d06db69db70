"""Bench files: the examples load and check; mistakes name file, table and key; `meterbench bench check`
reports identities, leaves instruments safe and refuses an overdue reference."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.cli import main
from instruments import registry
from instruments.benchfile import load_bench_config
from instruments.registry import DriverSpec, get_driver
from procedures.errors import InputError

EXAMPLES = sorted(Path(__file__).resolve().parents[1].joinpath("examples").glob("*.toml"))
GOOD = Path(__file__).resolve().parents[1] / "examples" / "2s-board.toml"


def test_the_four_example_benches_are_there():
    assert {p.name for p in EXAMPLES} >= {"2s-board.toml", "9s-reversed-ct.toml", "16s-fluke6105a.toml",
                                          "12s-network.toml"}  # fmt: skip


REAL = sorted(Path(__file__).resolve().parents[1].joinpath("examples", "real").glob("*.toml"))


@pytest.mark.parametrize("path", REAL, ids=[p.stem for p in REAL])
def test_real_bench_examples_load_and_name_only_real_instruments(path):
    """The 'connect a real bench' files: no [simulation] table, only drivers a real product speaks, and
    their placeholders say REPLACE so nobody certifies with them unread."""
    from instruments.registry import get_driver

    cfg = load_bench_config(path)
    assert cfg.simulation is None
    for configs in cfg.instruments.values():
        for c in configs:
            assert not get_driver(c.driver).simulation_only, c.driver
    assert "REPLACE" in cfg.calibration.certificate


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_examples_load_and_check_clean(path, capsys):
    cfg = load_bench_config(path)
    assert cfg.simulated and cfg.calibration.due.year >= 2027
    assert main(["bench", "check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "safe" in out and "ERROR" not in out


def edited(tmp_path, old: str, new: str) -> Path:
    text = GOOD.read_text(encoding="utf-8")
    assert old in text, old
    p = tmp_path / "bench.toml"
    p.write_text(text.replace(old, new, 1), encoding="utf-8")
    return p


@pytest.mark.parametrize(
    "old,new,message",
    [
        ("kh = 7.2\nkt = 0.6\nerror_curve = [[1.0", "kh = -1\nkt = 0.6\nerror_curve = [[1.0",
         "simulation.meter[1].kh: must be > 0 (found -1)"),
        ("positions = 3\n", "positions = 49\n", "positions: must be <= 48 (found 49)"),
        ('form = "2S"', 'form = "7S"', "simulation.meter[0].form: unknown meter form (found '7S')"),
        ("due = 2027-04-12", 'due = "2027-04-12"', "instruments.reference.calibration.due: must be a date"),
        ("due = 2027-04-12", "due = 2026-01-01", "instruments.reference.calibration.due: must be after"),
        ("kr_wh = 1e-5", "kr_wh = 0", "instruments.reference.kr_wh: must be > 0"),
        ("kr_wh = 1e-5", "kr_wh = 1e-5\nkrwh = 2", "instruments.reference.krwh: unknown key"),
        ('driver = "sim_counter"', 'driver = "acme9000"', "instruments.calculators.driver: unknown instrument driver"),
        ("positions = [1, 2, 3]", "positions = [1, 2]", "every position needs an error calculator"),
        ("positions = [1, 2, 3]", "positions = [1, 2, 5]", "instruments.calculators.positions: must list"),
        ("creep_pulses_per_hour = 2.0", 'wiring = ["ct_reversed:C"]',
         "simulation.meter[2].wiring[0]: ct_reversed on form 2S has no phase 'C'"),
        ("noise_percent = 0.01\nmanufacturer", "noise_percent = true\nmanufacturer",
         "simulation.meter[0].noise_percent: must be a number"),
        ('rotation = "ABC"', 'rotation = "BAC"', "simulation.rotation: unknown phase rotation"),
        ('current_class = "CL200"           # TA 30 A', 'current_class = "CL250"',
         "simulation.meter[0].current_class: unknown ANSI current class"),
        ("error_curve = [[0.1, 0.0, 0.30]", "error_curve = [[0.1, 0.0]",
         "simulation.meter[0].error_curve[0]: must be [current_fraction, current_lag_deg, error_percent]"),
        ('resource = "GPIB0::17::INSTR"', 'resource = "17"', "instruments.source.resource: not a VISA resource"),
    ],
)  # fmt: skip
def test_bad_bench_files_name_file_table_and_key(tmp_path, capsys, old, new, message):
    path = edited(tmp_path, old, new)
    with pytest.raises(InputError) as err:
        from instruments.bench import open_bench

        open_bench(path).close()
    assert str(err.value).startswith(f"{path}: ")
    assert message in str(err.value)
    assert main(["bench", "check", str(path)]) == 2  # the CLI says the same and exits 2
    assert message in capsys.readouterr().err


def test_not_toml_and_missing_file(tmp_path):
    bad = tmp_path / "x.toml"
    bad.write_text("name = [", encoding="utf-8")
    with pytest.raises(InputError, match="is not valid TOML"):
        load_bench_config(bad)
    with pytest.raises(InputError, match="cannot be read"):
        load_bench_config(tmp_path / "missing.toml")


def test_overdue_reference_is_an_error_unless_allowed(capsys):
    assert main(["bench", "check", str(GOOD), "--today", "2027-04-13"]) == 1
    assert "OVERDUE: do not test with it" in capsys.readouterr().out
    assert main(["bench", "check", str(GOOD), "--today", "2027-04-13", "--allow-overdue", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["calibration"]["overdue"] is True and report["calibration"]["due"] == "2027-04-12"
    assert [r["state"] for r in report["instruments"]] == ["safe", "safe"]


def test_check_reports_a_mute_instrument_as_exit_3(tmp_path, capsys):
    text = GOOD.read_text(encoding="utf-8") + (
        '\n[[simulation.fault]]\ninstrument = "calculators"\nkind = "no_reply"\ncommand = "*IDN?"\n'
    )
    text = text.replace("positions = [1, 2, 3]", "positions = [1, 2, 3]\noptions = { timeout_ms = 100 }")
    p = tmp_path / "mute.toml"
    p.write_text(text, encoding="utf-8")
    assert main(["bench", "check", str(p)]) == 3
    assert "no reply within 100 ms" in capsys.readouterr().out


def test_third_party_driver_from_entry_point(monkeypatch):
    from instruments.drivers import fluke6100

    acme = DriverSpec(name="acme9000", roles=frozenset({"source"}), open=fluke6100.Fluke6100)

    class EP:
        name = "acme9000"

        def load(self):
            return acme

    monkeypatch.setattr(
        registry, "entry_points", lambda group: [EP()] if group == "meterbench.drivers" else []
    )
    registry.drivers.cache_clear()
    try:
        assert get_driver("ACME9000") is acme
        assert get_driver("fluke6105a").name == "fluke6100"
    finally:
        monkeypatch.undo()
        registry.drivers.cache_clear()
    with pytest.raises(InputError, match="allowed: .*fluke6100"):
        get_driver("acme9000")


def test_an_unknown_driver_lists_each_driver_with_the_aliases_a_bench_file_may_use():
    from instruments.registry import get_driver

    with pytest.raises(InputError) as exc:
        get_driver("fluke6150a")
    assert "fluke6100 (or fluke6105a, fluke6100b)" in str(exc.value)  # examples/16s-fluke6105a.toml's name
