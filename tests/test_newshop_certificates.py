"""Certificates a regulator reads: a real technician's name or "not recorded", one "Approved by", limit
provenance that cites the standard (never an internal file), the customer and the shop's record fields
from the manifest to the certificate, the DCC and the exports, and DCC refTypes without spaces."""

from __future__ import annotations

import json
from pathlib import Path

import pdfplumber
import pytest
from lxml import etree

from bench.certify import build_certificate_data, ephemeral_demo_signer, issue_for_run
from bench.cli import main
from bench.meters import load_manifest
from bench.people import operator_name, recorded_name
from bench.records import RecordStore
from procedures.catalog import citation, public_note, shipped_limit_tables
from procedures.errors import InputError
from reports.labconfig import load_laboratory

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
MANIFEST = """position,serial,form,accuracy_class,current_class,kh,kt,customer,customer_address,record.work_order,record.utility_asset_no
1,SIM2S-0001,2S,0.5,CL200,7.2,0.6,Springfield Electric Co-op,400 Substation Road; Springfield ST 00000,WO-1182,UA-5501
2,SIM2S-0002,2S,0.5,CL200,7.2,0.6,Springfield Electric Co-op,400 Substation Road; Springfield ST 00000,WO-1182,UA-5502
"""


@pytest.fixture(scope="module")
def issued(tmp_path_factory):
    """A simulated 2S run recorded under the login-style name 'operator', meters from a manifest with a
    customer and record fields, certified with the example laboratory's signatory."""
    tmp = tmp_path_factory.mktemp("newshop-certs")
    db = f"sqlite:///{tmp / 'records.sqlite'}"
    manifest = tmp / "manifest.csv"
    manifest.write_text(MANIFEST)
    # run refuses --operator operator now; a record from before that check still holds a login name
    from bench.service import RunService
    from bench.session import RunRequest

    service = RunService(db_url=db)
    out = service.run(RunRequest(bench_file=str(EXAMPLES / "2s-board.toml"), plan="ansi-c12.20-2s",
                                 manifest=str(manifest), operator="operator", db_url=db))  # fmt: skip
    service.store.close()
    assert out.outcome == "passed"
    store = RecordStore.open(db)
    signer, _cert = ephemeral_demo_signer(tmp / "signer")
    lab = load_laboratory(EXAMPLES / "lab" / "laboratory.toml")
    certs = issue_for_run(store, 1, tmp / "out", signer=signer, lab=lab)
    record = store.run_record(1)
    store.close()
    pdf = next(c for c in certs if c.certificate_number.endswith("P01"))
    with pdfplumber.open(pdf.pdf_path) as doc:
        text = "\n".join(page.extract_text() or "" for page in doc.pages)
    return db, record, lab, pdf, " ".join(text.split())


def test_a_login_name_is_never_printed_as_the_technician(issued):
    _db, record, lab, _pdf, text = issued
    assert record["run"]["operator"] == "operator"
    data = build_certificate_data(record, 1, lab=lab)
    assert data.tested_by.printed == "not recorded"
    assert "Tested by not recorded" in text and "operator, Technician" not in text


def test_one_approved_by_naming_the_signatory_and_role(issued):
    *_, text = issued
    assert "Approved (authorised) by A. Supervisor, Meter shop supervisor" in text
    assert text.count("Approved by") == 0


def test_limit_provenance_cites_the_standard_never_an_internal_file(issued):
    _db, record, lab, _pdf, text = issued
    sources = [lim.source for lim in build_certificate_data(record, 1, lab=lab).method.limits]
    assert sources and not any(".md" in s for s in sources)
    assert any(s.startswith("shop practice, not confirmed against ANSI C12.20") for s in sources)
    assert "standards.md" not in text and "shop practice, not confirmed against ANSI C12.20" in text


def test_customer_and_record_fields_reach_certificate_dcc_and_exports(issued, tmp_path, capsys):
    db, record, lab, pdf, text = issued
    data = build_certificate_data(record, 1, lab=lab)
    assert data.customer.name == "Springfield Electric Co-op"
    assert data.customer.address == ("400 Substation Road", "Springfield ST 00000")
    assert data.record_fields == (("Work order", "WO-1182"),) and data.meter.asset_id == "UA-5501"
    assert "Customer Springfield Electric Co-op" in text and "400 Substation Road" in text
    assert "Work order WO-1182" in text and "Utility asset no. UA-5501" in text
    dcc = etree.parse(str(pdf.dcc_path))
    values = dcc.xpath(
        "//*[local-name()='item']//*[local-name()='identification']/*[local-name()='value']/text()"
    )
    assert {"WO-1182", "UA-5501"} <= set(values)
    assert "Springfield Electric Co-op" in dcc.xpath("string(//*[local-name()='customer'])")
    assert main(["export", "--format", "json", "--db", db]) == 0
    rows = json.loads(capsys.readouterr().out)
    pos2 = [r for r in rows if r["position"] == 2]
    assert pos2 and all(r["customer"] == "Springfield Electric Co-op" for r in pos2)
    assert json.loads(pos2[0]["record_fields"]) == {"work_order": "WO-1182", "utility_asset_no": "UA-5502"}
    out = tmp_path / "points.xlsx"
    assert main(["export", "--format", "xlsx", "--out", str(out), "--db", db]) == 0
    import pandas as pd

    assert set(pd.read_excel(out)["customer"]) == {"Springfield Electric Co-op"}


def test_dcc_reftypes_are_single_tokens_and_the_dcc_validates(issued, dcc_schema):
    *_, pdf, _text = issued
    doc = etree.parse(str(pdf.dcc_path))
    ref_types = doc.xpath("//@refType")
    assert "meterbench_noLoadCreep" in ref_types and "meterbench_startingLoad" in ref_types
    assert all(" " not in r and "(" not in r for r in ref_types)
    dcc_schema.validate(doc)


def test_every_shipped_limit_cites_a_standard_or_says_shop_practice():
    checked = 0
    for table in shipped_limit_tables().values():
        provenances = [v.provenance for e in table.entries.values() for v in e.values]
        for prov in provenances + [r.provenance for r in table.average_rules.values()]:
            checked += 1
            text = prov.certificate_text()
            assert ".md" not in text, (table.id, text)
            if prov.standard.lower().startswith("shop"):
                assert text.startswith("shop practice, not a figure from a standard"), text
            elif prov.status == "unconfirmed":
                assert text.startswith("shop practice, not confirmed against "), text
            elif any(c.isdigit() for c in prov.standard):
                assert text.startswith(f"{prov.standard}") and ", clause " in text, text
    assert checked > 50
    for path in (ROOT / "procedures" / "data" / "limits").glob("*.toml"):
        assert "standards.md" not in path.read_text(), path.name


def test_citation_wording():
    assert citation("IEC 62053-21", "2003", "8.1", "confirmed") == "IEC 62053-21 (2003), clause 8.1"
    assert citation("ANSI C12.20", status="C") == "ANSI C12.20, clause not identified"
    assert citation("ANSI C12.20", status="unconfirmed", note="usual practice (standards.md §2.3)") == (
        "shop practice, not confirmed against ANSI C12.20; usual practice"
    )
    assert public_note("numbers confirmed, row assignment unconfirmed (standards.md §3.5)") == (
        "numbers confirmed, row assignment unconfirmed"
    )


def test_operator_names(monkeypatch):
    assert recorded_name("operator") == "not recorded" and recorded_name(" J.  Rivera ") == "J. Rivera"
    assert recorded_name("") == "not recorded" and recorded_name(None) == "not recorded"
    assert operator_name("Dana Whitfield") == "Dana Whitfield"
    with pytest.raises(InputError, match="--operator: is not a person's name"):
        operator_name("root")
    monkeypatch.setattr("bench.people.account_full_name", lambda login=None: None)
    monkeypatch.delenv("MB_OPERATOR", raising=False)
    with pytest.raises(InputError, match="--operator: is required: the login account 'pi' records no person"):
        operator_name("", login="pi")
    monkeypatch.setattr("bench.people.account_full_name", lambda login=None: "Morgan Reyes")
    assert operator_name("", login="mreyes") == "Morgan Reyes"
    monkeypatch.setenv("MB_OPERATOR", "Jo Bench")  # the bench PC's technician, set in their profile
    assert operator_name("", login="pi") == "Jo Bench"


def test_manifest_record_fields_are_checked(tmp_path):
    bad = "position,serial,form,accuracy_class,current_class,kh,record.Work Order\n1,AB123,2S,0.5,CL200,7.2,W1\n"
    with pytest.raises(InputError, match=r"line 2: record\.Work Order: is not a record field name"):
        load_manifest("m.csv", text=bad)
    with pytest.raises(InputError, match="unknown columns.*record.<name>"):
        load_manifest("m.csv", text="position,serial,client\n1,AB123,x\n")
