"""The DCC XML validates against the PTB 3.3.0 schema offline and carries every point with its U."""

import base64

import pytest
from lxml import etree

from reports.dcc import DCC_NS, SI_NS, build_dcc
from reports.issue import issue_certificate
from reports.model import content_hash
from reports.samples import sample_certificate_data

NS = {"dcc": DCC_NS, "si": SI_NS}


@pytest.fixture(scope="module")
def schema(dcc_schema):
    return dcc_schema


@pytest.mark.parametrize("form", ["2S", "9S"])
def test_dcc_validates_against_schema(schema, form):
    data = sample_certificate_data(form)
    xml = build_dcc(data, content_hash(data), pdf_bytes=b"%PDF-1.7\n")
    errors = list(schema.iter_errors(etree.fromstring(xml)))
    assert not errors, str(errors[0])


def test_schema_check_really_rejects_a_broken_dcc(schema):
    data = sample_certificate_data("2S")
    root = etree.fromstring(build_dcc(data, content_hash(data)))
    uid = root.find(".//dcc:coreData/dcc:uniqueIdentifier", NS)
    uid.getparent().remove(uid)
    assert list(schema.iter_errors(root))


def test_every_point_is_a_dsi_percent_with_expanded_uncertainty():
    data = sample_certificate_data("9S")
    root = etree.fromstring(build_dcc(data, content_hash(data)))
    assert root.findtext(".//dcc:coreData/dcc:uniqueIdentifier", namespaces=NS) == data.certificate_number
    assert (
        root.findtext(".//dcc:items/dcc:item/dcc:identifications/dcc:identification/dcc:value", namespaces=NS)
        == data.meter.serial
    )
    errors = root.findall(".//dcc:result[@refType='meterbench_accuracyPoint']//si:real[si:label='error']", NS)
    assert len(errors) == len(data.points)
    for real, p in zip(errors, data.points, strict=True):
        assert real.findtext("si:unit", namespaces=NS) == "\\percent"
        assert float(real.findtext("si:value", namespaces=NS)) == pytest.approx(p.error_pct)
        mu = real.find("si:measurementUncertaintyUnivariate/si:expandedMU", NS)
        assert float(mu.findtext("si:valueExpandedMU", namespaces=NS)) == pytest.approx(p.expanded_u_pct)
        assert float(mu.findtext("si:coverageFactor", namespaces=NS)) == p.k
        assert mu.findtext("si:coverageProbability", namespaces=NS) == "0.95"
    assert root.findtext(".//dcc:statement/dcc:conformity", namespaces=NS) == "pass"


def test_issued_dcc_embeds_the_issued_pdf(schema, tmp_path):
    cert = issue_certificate(sample_certificate_data("2S"), tmp_path)
    assert cert.dcc_path == tmp_path / f"{cert.certificate_number}.xml"
    root = etree.parse(str(cert.dcc_path)).getroot()
    assert not list(schema.iter_errors(root))
    b64 = root.findtext("dcc:document/dcc:dataBase64", namespaces=NS)
    assert base64.b64decode(b64) == cert.pdf_path.read_bytes()
    ids = [e.text for e in root.findall(".//dcc:coreData//dcc:identification/dcc:value", NS)]
    assert f"sha256:{cert.content_hash}" in ids
