"""Meter types and vendor shipment files: a scanned serial or a manifest row refers to a type for its
nameplate, and the CSV a vendor ships with a batch becomes manifests a board is loaded from."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli import main
from bench.meters import load_manifest, make_meter
from bench.shipment import load_map, manifests, read_shipment
from procedures.errors import InputError
from procedures.metertypes import load_meter_types, meter_type, shipped_meter_types, type_for_serial

ROOT = Path(__file__).resolve().parents[1]
SHIP = ROOT / "examples" / "shipment"
SHOP_TYPE = """
[types.acme-2s]
source = "Acme data sheet AC-2S rev B (test fixture)"
manufacturer = "Acme"
model = "AC-2S"
form = "2S"
accuracy_class = "0.2"
current_class = "CL320"
voltage = 240.0
kh = 12.0
kt = 1.0
register_digits = 5
register_decimals = 2
optical_protocol = "ANSI C12.18"
serial_pattern = "^AC[0-9]{8}$"
"""


def test_shipped_types_are_marked_examples_and_say_where_figures_come_from():
    types = shipped_meter_types()
    assert {"example-2s-cl200", "example-9s-cl20", "example-12s-cl200", "example-16s-cl200"} <= set(types)
    for mt in types.values():
        assert mt.example, mt.id
        assert mt.source.startswith(("EXAMPLE, not a real product", "the simulated")), mt.id
    t = types["example-9s-cl20"]
    assert (t.form, t.current_class, t.ta_a, t.kh, t.kt) == ("9S", "CL20", 2.5, 1.8, 0.15)
    assert t.register_resolution_kwh == pytest.approx(0.001) and t.optical_protocol == "ANSI C12.18"


def test_manifest_row_refers_to_a_type_and_keeps_a_correction():
    text = "position,serial,meter_type,kh\n1,AB1234,example-2s-cl200,\n2,AB1235,example-2s-cl200,7.0\n"
    m1, m2 = load_manifest("m.csv", text=text)
    assert (m1.form, m1.accuracy_class, m1.current_class, m1.ta_a, m1.kh, m1.kt) == (
        "2S",
        "0.5",
        "CL200",
        30.0,
        7.2,
        0.6,
    )
    assert (m1.manufacturer, m1.model, m1.meter_type) == (
        "Example Meter Co.",
        "EX-2S-200",
        "example-2s-cl200",
    )
    assert m1.corrections == () and m2.kh == 7.0 and m2.corrections == (("kh", "7.2", "7.0"),)
    assert m1.to_dict()["meter_type"] == "example-2s-cl200"  # kept in the run's snapshot of the meter


def test_a_scanned_serial_finds_its_type_by_pattern():
    m = make_meter({"position": 4, "serial": "EX16S000042\r\n"}, source="scan")
    assert (m.serial, m.form, m.meter_type, m.kh) == ("EX16S000042", "16S", "example-16s-cl200", 21.6)
    assert type_for_serial("NOPE-123") is None
    with pytest.raises(InputError, match=r"scan: form"):
        make_meter({"position": 4, "serial": "NOPE-123"}, source="scan")  # no type, no form: asks for it


def test_unknown_type_names_the_nearest(tmp_path):
    with pytest.raises(
        InputError, match=r"line 2: meter_type: is not a known meter type \(nearest: example-2s-cl200"
    ):
        load_manifest("m.csv", text="position,serial,meter_type\n1,AB1234,example-2s-cl20\n")


def test_shop_types_from_a_folder_and_their_errors(tmp_path, monkeypatch):
    (tmp_path / "acme.toml").write_text(SHOP_TYPE)
    lib = load_meter_types([tmp_path])
    assert lib["acme-2s"].register_resolution_kwh == pytest.approx(0.01) and not lib["acme-2s"].example
    monkeypatch.setenv("MB_METER_TYPES", str(tmp_path))
    assert make_meter({"position": 1, "serial": "AC00001234"}).meter_type == "acme-2s"
    (tmp_path / "again.toml").write_text(SHOP_TYPE)
    with pytest.raises(InputError, match="types.acme-2s: is defined twice"):
        load_meter_types([tmp_path])
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "t.toml").write_text(SHOP_TYPE.replace("kt = 1.0", "kt = 1.0\nkt_wh = 2").replace("acme-2s", "x"))
    with pytest.raises(InputError, match=r"types.x.kt_wh: is not a meter-type key \(did you mean 'kt'\?\)"):
        load_meter_types([bad])
    (bad / "t.toml").write_text(
        SHOP_TYPE.replace('current_class = "CL320"', 'current_class = "CL320"\nta = 30')
    )
    with pytest.raises(InputError, match="ta: does not belong to current class CL320"):
        load_meter_types([bad])
    assert meter_type("acme-2s", lib).model == "AC-2S"


def test_shipment_import_writes_manifests_a_board_loads(tmp_path, capsys):
    out = tmp_path / "manifest.csv"
    assert main(["meters", "import", str(SHIP / "example-meter-co.csv"), "--map", str(SHIP / "example-meter-co.toml"),
                 "--out", str(out), "--positions", "24"]) == 0  # fmt: skip
    said = capsys.readouterr().out
    boards = sorted(tmp_path.glob("manifest-board*.csv"))
    assert len(boards) == 2 and "4 meter(s)" in said  # a 2S board and a 12S board: one form a board
    two_s = load_manifest(boards[0])
    assert [m.serial for m in two_s] == ["EX2S000101", "EX2S000102", "EX2S000103"]
    assert [m.position for m in two_s] == [1, 2, 3] and {m.form for m in two_s} == {"2S"}
    m = two_s[0]
    assert (m.customer, m.firmware, m.condition) == (
        "Springfield Electric Co-op",
        "3.1.0",
        "new, in vendor packaging",
    )
    assert m.record_fields == (("purchase_order", "PO-7781"), ("utility_asset_no", "UA-5501"))
    assert load_manifest(boards[1])[0].form == "12S"
    assert main(["meters", "check", str(boards[0])]) == 0
    assert "3 meter(s), manifest OK" in capsys.readouterr().out
    # run again: the manifests are never overwritten
    assert main(["meters", "import", str(SHIP / "example-meter-co.csv"), "--map", str(SHIP / "example-meter-co.toml"),
                 "--out", str(out)]) == 2  # fmt: skip
    assert "would overwrite an existing file" in capsys.readouterr().err


def test_bad_shipment_rows_each_get_one_line_naming_row_and_column(tmp_path, capsys):
    bad = tmp_path / "ship.csv"
    bad.write_text(
        "Example Meter Co. shipment\n\nMeter Serial No,Catalog No,FW Rev,PO Number,Customer Asset ID\n"
        "EX2S000101,EX2S-200-A,3.1.0,PO-7781,UA-5501\n"
        "EX2S 00102,EX2S-200-A,3.1.0,PO-7781,UA-5502\n"
        "EX2S000103,EX9S-BAD,3.1.0,PO-7781,UA-5503\n"
        "EX2S000101,EX2S-200-A,3.1.0,PO-7781,UA-5504\n"
    )
    out = tmp_path / "m.csv"
    assert (
        main(["meters", "import", str(bad), "--map", str(SHIP / "example-meter-co.toml"), "--out", str(out)])
        == 2
    )
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 4 and not list(tmp_path.glob("m*.csv"))  # nothing written
    assert f"{bad} row 5: column 'Meter Serial No': is not a meter serial" in err[0]
    assert f"{bad} row 6: column 'Catalog No': is not a known meter type" in err[1] and "EX2S-200-A" in err[1]
    assert f"{bad} row 7: column 'Meter Serial No': repeats the serial of row 4" in err[2]
    assert err[3].endswith("3 bad row(s); nothing written")


def test_map_errors_name_the_key(tmp_path):
    text = (SHIP / "example-meter-co.toml").read_text()
    (tmp_path / "a.toml").write_text(text.replace("header_row = 3", "header_rows = 3"))
    with pytest.raises(
        InputError, match=r"map.header_rows: is not a shipment-map key \(did you mean 'header_row'\?\)"
    ):
        load_map(tmp_path / "a.toml")
    (tmp_path / "b.toml").write_text(text.replace("firmware =", "firmwar ="))
    with pytest.raises(
        InputError, match=r"columns.firmwar: is not a manifest field \(did you mean 'firmware'\?\)"
    ):
        load_map(tmp_path / "b.toml")
    mapping = load_map(SHIP / "example-meter-co.toml")
    with pytest.raises(InputError, match="lacks columns the shipment map names"):
        read_shipment("s.csv", mapping, text="a\nb\nSerial,Type\nX1234,EX2S-200-A\n")
    ship = read_shipment(SHIP / "example-meter-co.csv", mapping)
    assert not ship.errors and len(manifests(ship.rows, 2)) == 3  # 3 x 2S in boards of 2, and the 12S


def test_example_manifest_loads_the_simulated_board_by_type():
    meters = load_manifest(ROOT / "examples" / "manifest-2s.csv")
    assert [m.meter_type for m in meters] == ["sim-2s"] * 3
    assert meters[0].kt == 0.6 and meters[0].customer == "Springfield Electric Co-op"
    assert dict(meters[2].record_fields) == {"work_order": "WO-1182", "utility_asset_no": "UA-5503"}
