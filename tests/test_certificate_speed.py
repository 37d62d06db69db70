"""The shortcuts that make a batch of certificates fast give the same bytes as the long way."""

from __future__ import annotations

import dataclasses

import pytest

from reports.dcc import build_dcc, dcc_data_hash, read_dcc, with_document
from reports.issue import exclusive_c14n_hash, issued_dcc_hash
from reports.model import Customer, content_hash
from reports.samples import sample_certificate_data


@pytest.mark.parametrize("form", ["2S", "9S"])
@pytest.mark.parametrize(
    "customer",
    [
        "Riverside Electric Cooperative",
        "  A & B <Utilities> \"quoted\" 'single'  ",
        "Stadtwerke M\u00fcnchen\u00a0GmbH \u2014 Z\u00e4hlerwerkstatt\r\nline two\t",
    ],
)
def test_the_issued_dcc_hash_is_the_hash_verify_recomputes(form, customer):
    data = dataclasses.replace(sample_certificate_data(form), customer=Customer(customer, ("  1 Main St ",)))
    sha = content_hash(data)
    for pdf in (None, b"%PDF-1.7 not really"):
        xml = build_dcc(data, sha, pdf_bytes=pdf, audit_head="12:" + "ab" * 32)
        assert exclusive_c14n_hash(xml) == dcc_data_hash(xml) == issued_dcc_hash(xml)


@pytest.mark.parametrize("number", ["MB-2026-0001", "x.y_Z-9"])
def test_embedding_the_pdf_in_the_dcc_built_once_gives_the_bytes_of_building_it_with_the_pdf(number):
    data = dataclasses.replace(sample_certificate_data("9S"), certificate_number=number)
    sha = content_hash(data)
    pdf = bytes(range(256)) * 40
    bare = build_dcc(data, sha, audit_head="3:" + "cd" * 32)
    full = build_dcc(data, sha, pdf_bytes=pdf, audit_head="3:" + "cd" * 32)
    assert with_document(bare, number, pdf) == full
    # a DCC not laid out as build_dcc lays it out is parsed and the document appended to its tree
    from lxml import etree

    other = etree.tostring(etree.fromstring(bare))
    root = etree.fromstring(with_document(other, number, pdf))
    assert read_dcc(etree.tostring(root))["pdf"] == pdf
    assert dcc_data_hash(with_document(other, number, pdf)) == dcc_data_hash(full)


def _font_files(pdf_bytes: bytes) -> list[tuple[bytes, bytes]]:
    import io

    import pikepdf

    with pikepdf.open(io.BytesIO(pdf_bytes)) as pdf:
        return sorted(
            (obj.read_raw_bytes(), obj.read_bytes())
            for obj in pdf.objects
            if isinstance(obj, pikepdf.Dictionary) and "/FontFile2" in obj
            for obj in [obj.FontFile2]
        )


def test_font_subsets_made_once_per_process_embed_the_bytes_made_afresh():
    from reports.certificate import render_certificate
    from reports.fonts import forget_subsets

    first, second = (
        sample_certificate_data("2S", certificate_number=f"F-{k}", serial=f"S{k}") for k in (1, 2)
    )
    render_certificate(first, sha256=content_hash(first), signed=True)
    warm = render_certificate(second, sha256=content_hash(second), signed=True)
    forget_subsets()
    cold = render_certificate(second, sha256=content_hash(second), signed=True)
    assert _font_files(warm) == _font_files(cold) and len(_font_files(cold)) >= 2
